# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)
"""A connection to the metadata DB for the modules that read it directly (the fernet check, the
schema check and the status). They run on the Airflow virtualenv's Python, whose SQLAlchemy and DB driver
this uses; SQLAlchemy is imported on first use, so importing this needs neither."""

import glob
import os
import re

from contextlib import contextmanager


@contextmanager
def db_connection(db_url, connect_timeout):
    """One connection, no pool; the engine is disposed of when the block ends."""
    import sqlalchemy

    args = {"connect_timeout": connect_timeout} if db_url.startswith("postgresql") else {}
    engine = sqlalchemy.create_engine(db_url, connect_args=args, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


REVISION = re.compile(r"""^revision\s*(?::[^=]*)?=\s*["']([^"']+)["']""", re.MULTILINE)
DOWN_REVISION = re.compile(r"""^down_revision\s*(?::[^=]*)?=\s*(.+)$""", re.MULTILINE)
QUOTED = re.compile(r"""["']([^"']+)["']""")


def migration_heads(texts):
    """The revisions no other migration names as its down revision."""
    revisions, downs = set(), set()
    for text in texts:
        found = REVISION.search(text)
        if found:
            revisions.add(found.group(1))
        down = DOWN_REVISION.search(text)
        if down:
            downs.update(QUOTED.findall(down.group(1)))
    return sorted(revisions - downs)


def migration_texts():
    import importlib.util

    spec = importlib.util.find_spec("airflow")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("no airflow package")
    versions = os.path.join(list(spec.submodule_search_locations)[0], "migrations", "versions")
    texts = []
    for path in sorted(glob.glob(os.path.join(versions, "*.py"))):
        with open(path, encoding="utf-8") as handle:
            texts.append(handle.read())
    return texts


def schema_revisions(conn):
    """The revisions the DB's schema is at (alembic_version); empty without Airflow's tables."""
    import sqlalchemy

    if "alembic_version" not in sqlalchemy.inspect(conn).get_table_names():
        return []
    return sorted(row[0] for row in conn.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")))


def db_revisions(db_url, connect_timeout):
    with db_connection(db_url, connect_timeout) as conn:
        return schema_revisions(conn)

# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)
"""A connection to the metadata DB for the modules that read it directly (the fernet check and
the schema check). They run on the Airflow virtualenv's Python, whose SQLAlchemy and DB driver
this uses; SQLAlchemy is imported on first use, so importing this needs neither."""

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

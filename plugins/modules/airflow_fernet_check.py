#!/usr/bin/python
# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)

DOCUMENTATION = r"""
module: airflow_fernet_check
short_description: Check that a fernet key decrypts what the metadata DB holds encrypted
description:
  - Reads the encrypted fields of the metadata DB (connection passwords and extras, variable values) and tries to
    decrypt each with I(fernet_key), the way Airflow does (C(cryptography)'s C(MultiFernet) over the comma-separated
    keys, the first one new, the others old ones still accepted).
  - Reports which connections and variables the key cannot decrypt; it fails only when it cannot run. A fleet given
    a key that is not the one its DB was written with would start, and then fail every task that reads a connection.
  - A DB that cannot be reached yet (a fleet being set up), or that has no Airflow tables, has nothing to check, and
    I(checked) is then false, with the reason.
  - B(Must run with the Python of the Airflow virtualenv) (set C(ansible_python_interpreter) to it), which has
    SQLAlchemy, the DB driver and C(cryptography). Both options are secrets; they reach the module in its arguments,
    never on a command line.
version_added: 0.1.0
author: Fleetworks engineers (@fleetworks)
extends_documentation_fragment:
  - fleetworks.airflow.db
  - fleetworks.airflow.read_only
options:
  fernet_key:
    description: The fleet's fernet key, or several comma-separated (new first, then the old ones a rotation keeps).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Check the fernet key decrypts the DB's connections and variables
  fleetworks.airflow.airflow_fernet_check:
    db_url: "{{ airflow_db_url }}"
    fernet_key: "{{ airflow_fernet_key }}"
  vars:
    ansible_python_interpreter: /opt/airflow/venv/bin/python
  register: fernet

- name: Refuse a key that cannot read them
  ansible.builtin.assert:
    that: fernet.undecryptable.connections == [] and fernet.undecryptable.variables == []
"""

RETURN = r"""
checked:
  description: Whether the DB was read; false when it could not be reached or has no Airflow tables yet.
  returned: always
  type: bool
reason:
  description: Why nothing was checked.
  returned: when checked is false
  type: str
encrypted:
  description: How many connections and variables hold encrypted fields.
  returned: when checked is true
  type: dict
  sample: {connections: 3, variables: 12}
undecryptable:
  description: The connection ids and variable keys whose encrypted fields the key cannot decrypt.
  returned: always
  type: dict
  sample: {connections: [aws_default], variables: []}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_db import db_connection

# (table, id column, [(encrypted-flag column, value column)]) as Airflow 3 stores them.
ENCRYPTED_FIELDS = [
    ("connection", "conn_id", [("is_encrypted", "password"), ("is_extra_encrypted", "extra")]),
    ("variable", "key", [("is_encrypted", "val")]),
]


def undecryptable_ids(rows, decrypt):
    """Ids of the rows with an encrypted value that decrypt() refuses. rows: (id, [(flag, value)])."""
    bad = []
    for row_id, fields in rows:
        for flag, value in fields:
            if not flag or value is None:
                continue
            try:
                decrypt(value.encode("utf-8"))
            except Exception:  # cryptography's InvalidToken, or a value that is no token at all
                bad.append(row_id)
                break
    return sorted(bad)


def make_decrypt(fernet_key):
    from cryptography.fernet import Fernet, MultiFernet

    keys = [key.strip() for key in fernet_key.split(",") if key.strip()]
    return MultiFernet([Fernet(key.encode("utf-8")) for key in keys]).decrypt


def read_rows(db_url, connect_timeout):
    """{table: [(id, [(flag, value)])]}, or a string saying why the DB could not be read."""
    import sqlalchemy

    try:
        with db_connection(db_url, connect_timeout) as conn:
            tables = set(sqlalchemy.inspect(conn).get_table_names())
            if not {table for table, _id, _fields in ENCRYPTED_FIELDS} <= tables:
                return "the DB has no Airflow tables yet"
            found = {}
            for table, id_column, fields in ENCRYPTED_FIELDS:
                columns = [id_column] + [column for pair in fields for column in pair]
                query = sqlalchemy.text("SELECT %s FROM %s" % (", ".join('"%s"' % c for c in columns), table))
                found[table] = [(row[0], [(row[1 + 2 * i], row[2 + 2 * i]) for i in range(len(fields))])
                                for row in conn.execute(query)]
            return found
    except sqlalchemy.exc.OperationalError as error:
        return "the DB cannot be reached (%s)" % str(error.orig).strip().splitlines()[0]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            db_url=dict(type="str", required=True, no_log=True),
            fernet_key=dict(type="str", required=True, no_log=True),
            connect_timeout=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    try:
        decrypt = make_decrypt(module.params["fernet_key"])
    except (ValueError, TypeError) as error:
        module.fail_json(msg="the fernet key is not a valid key (or list of keys): %s" % error)
    try:
        rows = read_rows(module.params["db_url"], module.params["connect_timeout"])
    except ImportError as error:
        module.fail_json(msg="run this module with the Airflow virtualenv's Python: %s" % error)
    empty = {"connections": [], "variables": []}
    if isinstance(rows, str):
        module.exit_json(changed=False, checked=False, reason=rows, undecryptable=empty)
    module.exit_json(
        changed=False,
        checked=True,
        encrypted={"connections": sum(1 for _id, fields in rows["connection"] if any(flag for flag, _v in fields)),
                   "variables": sum(1 for _id, fields in rows["variable"] if any(flag for flag, _v in fields))},
        undecryptable={"connections": undecryptable_ids(rows["connection"], decrypt),
                       "variables": undecryptable_ids(rows["variable"], decrypt)},
    )


if __name__ == "__main__":
    main()

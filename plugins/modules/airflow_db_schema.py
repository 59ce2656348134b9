#!/usr/bin/python
# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)

DOCUMENTATION = r"""
module: airflow_db_schema
short_description: Compare the metadata DB's schema revision with the one the installed Airflow needs
description:
  - Reads the schema revisions the installed Airflow's migrations end in (the heads of C(airflow/migrations/versions),
    found without importing Airflow) and the revisions the metadata DB is at (C(alembic_version)), and reports whether
    the DB needs migrating. It is what C(airflow db check-migrations --migration-wait-timeout 0) answers, in a fraction
    of the time, as Airflow itself never starts.
  - A DB without Airflow's tables (a fleet being set up) needs migrating. A DB that cannot be reached fails the module.
  - B(Must run with the Python of the Airflow virtualenv) (set C(ansible_python_interpreter) to it), which has
    Airflow, SQLAlchemy and the DB driver. I(db_url) is a secret; it reaches the module in its arguments, never on a
    command line.
version_added: 0.2.0
author: Fleetworks engineers (@fleetworks)
extends_documentation_fragment:
  - fleetworks.airflow.db
  - fleetworks.airflow.read_only
"""

EXAMPLES = r"""
- name: Find out whether the metadata DB needs migrating
  fleetworks.airflow.airflow_db_schema:
    db_url: "{{ airflow_db_url }}"
  vars:
    ansible_python_interpreter: /opt/airflow/venv/bin/python
  register: schema

- name: Migrate
  ansible.builtin.command: /opt/airflow/bin/airflow db migrate
  when: schema.pending
"""

RETURN = r"""
pending:
  description: Whether the DB's revisions differ from the installed Airflow's heads (C(airflow db migrate) is due).
  returned: always
  type: bool
heads:
  description: The revisions the installed Airflow's migrations end in.
  returned: always
  type: list
  elements: str
  sample: [d2f4e1b3c5a7]
db_revisions:
  description: The revisions the DB is at; empty for a DB without Airflow's tables.
  returned: always
  type: list
  elements: str
  sample: [d2f4e1b3c5a7]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_db import db_revisions, migration_heads, migration_texts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            db_url=dict(type="str", required=True, no_log=True),
            connect_timeout=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    try:
        heads = migration_heads(migration_texts())
        import sqlalchemy
    except ImportError as error:
        module.fail_json(msg="run this module with the Airflow virtualenv's Python: %s" % error)
    if not heads:
        module.fail_json(msg="the installed Airflow has no migrations to read")
    try:
        revisions = db_revisions(module.params["db_url"], module.params["connect_timeout"])
    except sqlalchemy.exc.SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        module.fail_json(msg="the metadata DB cannot be read: %s" % reason)
    module.exit_json(changed=False, pending=revisions != heads, heads=heads, db_revisions=revisions)


if __name__ == "__main__":
    main()

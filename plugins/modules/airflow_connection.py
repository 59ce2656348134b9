#!/usr/bin/python
# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)

DOCUMENTATION = r"""
module: airflow_connection
short_description: Make an Airflow connection present or absent, through the REST API
description:
  - Creates, updates or deletes one Airflow connection through an API server's REST API
    (C(/api/v2/connections)). Airflow stores it in the metadata DB, encrypted with the fleet's fernet key.
  - Changes only what differs. Airflow never returns a connection's password (or secret C(extra) fields) in
    clear, so the module keeps a keyed digest of the declared fields at the end of the description
    (after C([managed by fleetworks.airflow)) and a changed password is noticed without reading it back.
  - The password travels inside the module's arguments only (never a command line or the environment) and is
    never logged.
version_added: 0.1.0
author: Fleetworks engineers (@fleetworks)
extends_documentation_fragment:
  - fleetworks.airflow.api
options:
  conn_id:
    description: The connection's id.
    type: str
    required: true
    aliases: [connection_id]
  conn_type:
    description: The connection type (C(aws), C(postgres), C(http), ...). Required when I(state=present).
    type: str
  host:
    description: Host name or URL.
    type: str
  login:
    description: Login.
    type: str
  password:
    description: Password (never logged).
    type: str
  schema:
    description: Schema or database.
    type: str
  port:
    description: Port.
    type: int
  extra:
    description: The connection's extra fields (they may hold secrets, so they are never logged either).
    type: dict
  description:
    description: Free text shown in the UI (the digest mark is appended to it).
    type: str
  digest_key:
    description:
      - Key of the digest kept in the description. Defaults to I(api_password); set a value that does not change
        (the collection's roles use the fleet's fernet key) so a password rotation does not rewrite every connection.
    type: str
  state:
    description: Whether the connection exists.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
  diff_mode:
    description: Reports the object before and after the change.
    support: full
    details: The password is shown masked.
"""

EXAMPLES = r"""
- name: Let DAGs reach the warehouse
  fleetworks.airflow.airflow_connection:
    api_url: https://airflow.example.com
    api_password: "{{ vault_airflow_admin_password }}"
    conn_id: warehouse
    conn_type: postgres
    host: warehouse.internal
    login: etl
    password: "{{ vault_warehouse_password }}"
    schema: analytics
    port: 5432

- name: Remove a connection
  fleetworks.airflow.airflow_connection:
    api_password: "{{ vault_airflow_admin_password }}"
    conn_id: old_bucket
    state: absent
"""

RETURN = r"""
differing:
  description: The fields that differed (C(description) stands for the digest of all declared fields).
  returned: always
  type: list
  elements: str
connection:
  description: The connection as stored after the run, password masked.
  returned: when I(state=present)
  type: dict
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_api import API_ARGUMENT_SPEC
from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_resources import (
    Resource, marked, run_resource_module)

FIELDS = ("conn_type", "host", "login", "password", "schema", "port")


def wanted_connection(params, key):
    """The REST body for the declared connection; its description carries the digest of every field."""
    fields = {name: params.get(name) for name in FIELDS}
    fields["extra"] = json.dumps(params.get("extra") or {}, sort_keys=True)
    description = marked(params.get("description") or params["conn_id"], key, fields)
    return dict(fields, connection_id=params["conn_id"], description=description)


def main():
    spec = dict(
        API_ARGUMENT_SPEC,
        conn_id=dict(type="str", required=True, aliases=["connection_id"]),
        conn_type=dict(type="str"),
        host=dict(type="str"),
        login=dict(type="str"),
        password=dict(type="str", no_log=True),
        schema=dict(type="str"),
        port=dict(type="int"),
        extra=dict(type="dict", no_log=True),
        description=dict(type="str"),
        digest_key=dict(type="str", no_log=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_if=[("state", "present", ["conn_type"])])
    params = module.params

    def build(api):
        # Non-secret fields are compared as stored; the description's digest covers the rest.
        resource = Resource(api, "/api/v2/connections",
                            compared=("conn_type", "host", "login", "schema", "port", "description"),
                            hidden=("password", "extra"))
        return resource, params["conn_id"], wanted_connection(params, params["digest_key"] or params["api_password"])

    run_resource_module(module, build, "connection")


if __name__ == "__main__":
    main()

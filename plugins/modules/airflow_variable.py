#!/usr/bin/python
# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)

DOCUMENTATION = r"""
module: airflow_variable
short_description: Make an Airflow variable present or absent, through the REST API
description:
  - Creates, updates or deletes one Airflow variable (C(/api/v2/variables)).
  - Changes only what differs. Airflow masks the value of variables whose key looks secret (C(password),
    C(secret), C(api_key), ...), so the module compares values through a keyed digest kept at the end of the
    description (after C([managed by fleetworks.airflow)).
version_added: 0.1.0
author: Fleetworks engineers (@fleetworks)
extends_documentation_fragment:
  - fleetworks.airflow.api
options:
  key:
    description: The variable's key.
    type: str
    required: true
  value:
    description:
      - The value. A string is stored as it is; anything else (a number, list or mapping) as its JSON text,
        which DAGs read with C(Variable.get(key, deserialize_json=True)). Required when I(state=present).
    type: raw
  description:
    description: Free text shown in the UI (the digest mark is appended to it).
    type: str
  digest_key:
    description: Key of the digest kept in the description. Defaults to I(api_password).
    type: str
  state:
    description: Whether the variable exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Mark the task C(no_log) when the value is a secret; the module cannot know.
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
  diff_mode:
    description: Reports the object before and after the change.
    support: full
"""

EXAMPLES = r"""
- name: Tell the DAGs which bucket holds the input
  fleetworks.airflow.airflow_variable:
    api_password: "{{ vault_airflow_admin_password }}"
    key: input_bucket
    value: s3://example-input

- name: A structured variable
  fleetworks.airflow.airflow_variable:
    api_password: "{{ vault_airflow_admin_password }}"
    key: pipeline_limits
    value: {rows: 10000, retries: 3}
"""

RETURN = r"""
differing:
  description: The fields that differed.
  returned: always
  type: list
  elements: str
variable:
  description: The variable as stored after the run.
  returned: when I(state=present)
  type: dict
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_api import API_ARGUMENT_SPEC
from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_resources import (
    Resource, marked, run_resource_module)


def stored_value(value):
    """The text Airflow stores for a declared value."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def main():
    spec = dict(
        API_ARGUMENT_SPEC,
        key=dict(type="str", required=True, no_log=False),
        value=dict(type="raw"),
        description=dict(type="str"),
        digest_key=dict(type="str", no_log=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, required_if=[("state", "present", ["value"])])
    params = module.params

    def build(api):
        value = stored_value(params["value"]) if params["value"] is not None else None
        key = params["digest_key"] or params["api_password"]
        wanted = dict(key=params["key"], value=value,
                      description=marked(params.get("description") or "", key, {"value": value}))
        return Resource(api, "/api/v2/variables", compared=("description",)), params["key"], wanted

    run_resource_module(module, build, "variable")


if __name__ == "__main__":
    main()

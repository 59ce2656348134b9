#!/usr/bin/python
# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)

DOCUMENTATION = r"""
module: airflow_pool
short_description: Make an Airflow pool present or absent, through the REST API
description:
  - Creates, updates or deletes one Airflow pool (C(/api/v2/pools)), which limits how many task instances that name the pool
    may run at once across the whole fleet. Changes only what differs.
version_added: 0.1.0
author: Fleetworks engineers (@fleetworks)
extends_documentation_fragment:
  - fleetworks.airflow.api
options:
  name:
    description: The pool's name. C(default_pool) can be resized but not removed.
    type: str
    required: true
  slots:
    description: Number of slots (C(-1) for unlimited). Required when I(state=present).
    type: int
  description:
    description: Free text shown in the UI.
    type: str
  include_deferred:
    description: Whether deferred tasks take a slot.
    type: bool
    default: false
  state:
    description: Whether the pool exists.
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
"""

EXAMPLES = r"""
- name: At most four tasks at once against the warehouse
  fleetworks.airflow.airflow_pool:
    api_password: "{{ vault_airflow_admin_password }}"
    name: warehouse
    slots: 4
    description: Connections the warehouse allows us
"""

RETURN = r"""
differing:
  description: The fields that differed.
  returned: always
  type: list
  elements: str
pool:
  description: The pool as stored after the run.
  returned: when I(state=present)
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_api import API_ARGUMENT_SPEC
from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_resources import Resource, run_resource_module


def main():
    spec = dict(
        API_ARGUMENT_SPEC,
        name=dict(type="str", required=True),
        slots=dict(type="int"),
        description=dict(type="str"),
        include_deferred=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, required_if=[("state", "present", ["slots"])])
    params = module.params
    if params["state"] == "absent" and params["name"] == "default_pool":
        module.fail_json(msg="default_pool cannot be removed; give it the slots you want instead")

    def build(api):
        wanted = dict(name=params["name"], slots=params["slots"], description=params["description"],
                      include_deferred=params["include_deferred"])
        resource = Resource(api, "/api/v2/pools", compared=("slots", "description", "include_deferred"))
        return resource, params["name"], wanted

    run_resource_module(module, build, "pool")


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)

DOCUMENTATION = r"""
module: airflow_releases_in_use
short_description: Name the DAG releases that DAG runs in flight still need, through the REST API
description:
  - Lists the DAG runs in the given states (queued and running by default) of every DAG and returns the bundle versions
    they started with (on a fleet of this collection, the names of the DAG releases their tasks run on). The DAG rollout
    keeps those releases on every host, however old.
  - Reads only, changes nothing.
version_added: 0.1.0
author: Fleetworks engineers (@fleetworks)
extends_documentation_fragment:
  - fleetworks.airflow.api
options:
  states:
    description: The DAG run states whose releases count as needed.
    type: list
    elements: str
    default: [queued, running]
attributes:
  check_mode:
    description: Reads only, in check mode too.
    support: full
  diff_mode:
    description: Nothing to report.
    support: none
"""

EXAMPLES = r"""
- name: Read which releases runs in flight need
  fleetworks.airflow.airflow_releases_in_use:
    api_password: "{{ vault_airflow_admin_password }}"
  register: in_use
"""

RETURN = r"""
releases:
  description: The releases (bundle versions) the runs in flight started with, sorted, each once.
  returned: always
  type: list
  elements: str
runs:
  description: How many runs in flight named each release.
  returned: always
  type: dict
unversioned:
  description: Runs in flight that recorded no release (created before the fleet's bundle had versions).
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_api import (
    API_ARGUMENT_SPEC, AirflowApi, AirflowApiError)


def releases_in_use(api, states):
    """(sorted releases, runs per release, runs with none) of the DAG runs in these states."""
    runs = api.collect("/api/v2/dags/~/dagRuns", "dag_runs", params={"state": list(states)})
    counts = {}
    unversioned = 0
    for run in runs:
        version = run.get("bundle_version")
        if version:
            counts[version] = counts.get(version, 0) + 1
        else:
            unversioned += 1
    return sorted(counts), counts, unversioned


def main():
    spec = dict(API_ARGUMENT_SPEC, states=dict(type="list", elements="str", default=["queued", "running"]))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    api = AirflowApi.from_module(module)
    try:
        releases, counts, unversioned = releases_in_use(api, module.params["states"])
    except AirflowApiError as exc:
        module.fail_json(msg="Could not list the DAG runs in flight: %s" % exc)
    module.exit_json(changed=False, releases=releases, runs=counts, unversioned=unversioned)


if __name__ == "__main__":
    main()

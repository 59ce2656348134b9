#!/usr/bin/python
# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)

DOCUMENTATION = r"""
module: airflow_dags_sync
short_description: Make Airflow offer a just-switched DAG release now, and wait until it does
description:
  - After the DAG folder of every DAG processor switched to a new release, asks the API server to re-parse the
    files the release changed (C(PUT /api/v2/parseDagFile/<file_token>)), which queues them first and makes the
    DAG processor refresh the folder (new files found, removed files retired). With only new or removed files it
    asks for one unchanged file, to force that refresh. When the API knows no DAG yet (a new fleet) it runs
    I(reserialize_command) instead. The DAG processors parse the new release at the same time; when the command fails
    (for one, on the rows a processor inserted first), the wait goes on and the command's error is reported only if
    the DAGs do not appear in time.
  - Then waits until the REST API offers exactly I(dag_ids), each changed one freshly parsed, and until DAGs the
    release dropped are no longer offered.
version_added: 0.1.0
author: Fleetworks engineers (@fleetworks)
extends_documentation_fragment:
  - fleetworks.airflow.api
options:
  dag_ids:
    description: The DAG ids the release defines (what M(fleetworks.airflow.airflow_dags_check) returned).
    type: list
    elements: str
    required: true
  changed_files:
    description: The release's Python files (relative paths) added, changed or removed.
    type: list
    elements: str
    default: []
  switched_at:
    description: When the switch happened (seconds since the epoch), for the reported times.
    type: float
  timeout:
    description: Seconds to wait until the release is fully offered.
    type: float
    default: 300
  reserialize_command:
    description:
      - Command (argv) that parses the DAG folder into the metadata DB, run when no DAG is known yet
        (the roles pass C(airflow-env airflow dags reserialize)).
    type: list
    elements: str
  poll_interval:
    description: Seconds between two looks at the API.
    type: float
    default: 0.25
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: none
  diff_mode:
    description: Reports the object before and after the change.
    support: none
"""

EXAMPLES = r"""
- name: Wait until the API offers the new release
  fleetworks.airflow.airflow_dags_sync:
    api_password: "{{ airflow_admin_password }}"
    dag_ids: [fleet_smoke, s3_csv_to_dynamodb]
    changed_files: [fleet_smoke.py]
    timeout: 120
"""

RETURN = r"""
visible_after_switch_seconds:
  description: Seconds from I(switched_at) until every DAG of the release was offered, freshly parsed.
  returned: success
  type: float
retired_after_switch_seconds:
  description: Seconds until DAGs the release dropped stopped being offered (null when it dropped none).
  returned: success
  type: float
reparse_requests:
  description: How many re-parse requests were made.
  returned: always
  type: int
missing:
  description: DAGs of the release not offered at the timeout.
  returned: failure
  type: list
reserialize_error:
  description: What I(reserialize_command) reported when it failed (the DAG processors may have delivered the DAGs anyway).
  returned: when the command ran and failed
  type: str
import_errors:
  description:
    - The import errors the DAG processors recorded since I(switched_at), each C(file) and C(error) (the last line
      of its traceback), on a timeout. They say why a DAG was not offered.
  returned: failure
  type: list
  elements: dict
"""

import time
from datetime import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_api import (
    API_ARGUMENT_SPEC, AirflowApi, AirflowApiError)


def reparse_tokens(before, changed_files):
    """(file tokens to ask a re-parse of, DAG ids whose file changed)."""
    changed = set(changed_files)
    changed_dags = {dag_id for dag_id, info in before.items() if info.get("relative_fileloc") in changed}
    tokens = {before[dag_id]["file_token"] for dag_id in changed_dags}
    if not tokens and changed and before:
        # Only new or removed files: one re-parse request still makes the processor refresh the folder.
        tokens = {before[sorted(before)[0]]["file_token"]}
    return sorted(tokens), changed_dags


def progress(want, before, now, changed_dags):
    """(missing, still offered, not yet re-parsed) DAG ids."""
    missing = sorted(want - set(now))
    retired = sorted(set(now) - want)
    unparsed = sorted(dag_id for dag_id in want & set(now) & changed_dags
                      if now[dag_id].get("last_parsed_time") == before[dag_id].get("last_parsed_time"))
    return missing, retired, unparsed


def sync(api, want, changed_files, switched_at, timeout, reserialize, poll=0.25, clock=time.time, sleep=time.sleep):
    """(ok, result) of one sync; ``reserialize`` is a callable run when no DAG is known yet, which
    returns None or what went wrong (the DAG processors may still deliver the DAGs)."""
    before = api.dags()
    tokens, changed_dags = reparse_tokens(before, changed_files)
    requested = 0
    for token in tokens:
        try:
            api.put("/api/v2/parseDagFile/%s" % token)
            requested += 1
        except AirflowApiError as error:
            if error.status != 404:  # 404: the file no longer holds a DAG
                raise
    extra = {}
    if not before and want and reserialize is not None:
        failure = reserialize()  # a new fleet: no file to ask a re-parse of
        if failure:
            extra["reserialize_error"] = failure
    deadline = clock() + timeout
    visible_at = None
    while True:
        now = api.dags()
        missing, retired, unparsed = progress(want, before, now, changed_dags)
        since_switch = round(clock() - switched_at, 2)
        if visible_at is None and not (missing or unparsed):
            visible_at = since_switch
        # A DAG whose file is gone is retired at once; one dropped from a file that stays is
        # retired by the processor's stale check ([dag_processor] stale_dag_threshold).
        if visible_at is not None and not retired:
            return True, dict(visible_after_switch_seconds=visible_at, reparse_requests=requested,
                              retired_after_switch_seconds=since_switch if set(before) - want else None,
                              dag_ids=sorted(want), **extra)
        if clock() > deadline:
            return False, dict(missing=missing, still_offered=retired, not_reparsed=unparsed,
                               visible_after_switch_seconds=visible_at, seconds=since_switch,
                               reparse_requests=requested, **extra)
        sleep(poll)


def import_errors_since(api, since):
    """[{file, error}] of the import errors recorded at or after `since` (epoch seconds), the error
    being its traceback's last line: what the DAG processors made of the release's files."""
    found = []
    for entry in api.collect("/api/v2/importErrors", "import_errors"):
        try:
            stamp = datetime.fromisoformat(str(entry.get("timestamp", "")).replace("Z", "+00:00")).timestamp()
        except ValueError:
            stamp = since  # no readable time: report it rather than hide it
        if stamp >= since - 1:
            lines = [line.strip() for line in str(entry.get("stack_trace") or "").splitlines() if line.strip()]
            found.append({"file": entry.get("filename"), "error": lines[-1] if lines else ""})
    return found


def main():
    spec = dict(
        API_ARGUMENT_SPEC,
        dag_ids=dict(type="list", elements="str", required=True),
        changed_files=dict(type="list", elements="str", default=[]),
        switched_at=dict(type="float"),
        timeout=dict(type="float", default=300),
        reserialize_command=dict(type="list", elements="str"),
        poll_interval=dict(type="float", default=0.25),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=False)
    params = module.params
    command = params["reserialize_command"]

    def reserialize():
        rc, out, err = module.run_command(command)
        return "parsing the DAG folder failed (rc %s): %s" % (rc, (err or out)[-2000:]) if rc != 0 else None

    api = AirflowApi.from_module(module)
    try:
        ok, result = sync(api, set(params["dag_ids"]), params["changed_files"],
                          params["switched_at"] or time.time(), params["timeout"],
                          reserialize if command else None, params["poll_interval"])
    except AirflowApiError as error:
        module.fail_json(msg=str(error), status=error.status)
    if not ok:
        try:
            result["import_errors"] = import_errors_since(api, params["switched_at"] or 0)
        except AirflowApiError as error:
            result["import_errors"] = [{"file": None, "error": "the import errors could not be read: %s" % error}]
        module.fail_json(msg="the API did not offer exactly the release's DAGs within %ss" % params["timeout"], **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Run the fleet_smoke DAG once through the REST API and say which worker ran it.

    PYTHONPATH=tests scripts/demo/smoke.py http://CONTROL:8080 PATH_TO_ADMIN_PASSWORD_FILE
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from fleetapi import Api


def main() -> int:
    base_url, password_file = sys.argv[1], Path(sys.argv[2])
    api = Api(base_url, password_file.read_text().strip())
    waited = api.wait_dag("fleet_smoke")
    start = time.monotonic()
    run_id = api.trigger("fleet_smoke")
    state = api.wait_run("fleet_smoke", run_id)
    [ti] = api.task_instances("fleet_smoke", run_id)
    print(
        f"fleet_smoke {run_id}: {state} in {time.monotonic() - start:.1f}s on worker {ti['hostname']}"
        f" (DAG visible after {waited:.1f}s)"
    )
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())

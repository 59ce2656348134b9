"""The collection's own Airflow REST client (plugins/module_utils/airflow_api.py), with
the steps the tests, the demo and the benchmarks take: wait for a DAG, trigger it,
follow its run. One client for modules and tests: login, retries and error reading
are the same code the fleet's modules run."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location(
    "fleetworks_airflow_api", Path(__file__).resolve().parents[1] / "plugins/module_utils/airflow_api.py")
airflow_api = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(airflow_api)
AirflowApiError = airflow_api.AirflowApiError


class Api(airflow_api.AirflowApi):
    """A client of one API server's REST API, logged in as the admin user."""

    def __init__(self, base_url: str, password: str, username: str = "admin", ca_path: str | None = None):
        super().__init__(base_url, username, password, timeout=30, retries=3, ca_path=ca_path)
        self.login()

    @property
    def token(self) -> str:
        return self._token

    def get(self, path: str, params: dict | None = None, missing_ok: bool = False, **query):
        """GET with the query given as a dict and/or as keywords (api.get(path, limit=50))."""
        return super().get(path, params={**(params or {}), **query} or None, missing_ok=missing_ok)

    def wait_dag(self, dag_id: str, timeout: float = 180) -> float:
        """Wait until the DAG is parsed and offered; unpause it; return the seconds waited."""
        start = time.monotonic()
        path = f"/api/v2/dags/{airflow_api.quote_id(dag_id)}"
        while self.get(path, missing_ok=True) is None:
            assert time.monotonic() - start < timeout, f"DAG {dag_id} not visible after {timeout}s"
            time.sleep(2)
        self.patch(path, {"is_paused": False})
        return time.monotonic() - start

    def trigger(self, dag_id: str, conf: dict | None = None, logical_date: str | None = None,
                run_id: str | None = None) -> str:
        body = {"logical_date": logical_date, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.post(f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        start = time.monotonic()
        while True:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            assert time.monotonic() - start < timeout, f"{dag_id}/{run_id} still {state} after {timeout}s"
            time.sleep(2)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})["task_instances"]

    def wait_task_state(self, dag_id: str, run_id: str, task_id: str, state: str, timeout: float = 120) -> dict:
        start = time.monotonic()
        while True:
            for ti in self.task_instances(dag_id, run_id):
                if ti["task_id"] == task_id and ti["state"] == state:
                    return ti
            assert time.monotonic() - start < timeout, f"{task_id} never reached {state}"
            time.sleep(1)

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1):
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.get(path, params={"map_index": map_index})["value"]

    def log_tail(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, lines: int = 3) -> str:
        """The last lines of one try's log, for a failure message: a report, never a check."""
        try:
            log = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                           full_content="true")
        except Exception as error:  # noqa: BLE001 - its failure must not hide the result it explains
            return f"(its log could not be read: {error})"
        content = log.get("content", "")
        # Airflow 3 returns the log as structured entries; older formats as text.
        entries = ([str(entry.get("event", entry)) if isinstance(entry, dict) else str(entry) for entry in content]
                   if isinstance(content, list) else str(content).splitlines())
        return " | ".join(entries[-lines:])[-600:]

"""A small client of the Airflow 3 REST API, as the tests, the demo and the
benchmarks use it: log in, wait for a DAG, trigger it, follow its run."""

from __future__ import annotations

import time

import requests


class Api:
    """A client of one API server's REST API, logged in as the admin user."""

    def __init__(self, base_url: str, password: str, username: str = "admin"):
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        token = self.token(username, password)
        self.session.headers["Authorization"] = f"Bearer {token}"

    def token(self, username: str, password: str) -> str:
        resp = requests.post(f"{self.base}/auth/token", json={"username": username, "password": password}, timeout=30)
        assert resp.status_code in (200, 201), f"login failed: {resp.status_code} {resp.text[:200]}"
        return resp.json()["access_token"]

    def get(self, path: str, **params):
        resp = self.session.get(f"{self.base}{path}", params=params, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def wait_dag(self, dag_id: str, timeout: float = 180) -> float:
        """Wait until the DAG is parsed and offered; unpause it; return the seconds waited."""
        start = time.monotonic()
        while True:
            resp = self.session.get(f"{self.base}/api/v2/dags/{dag_id}", timeout=30)
            if resp.status_code == 200:
                break
            assert time.monotonic() - start < timeout, f"DAG {dag_id} not visible after {timeout}s"
            time.sleep(2)
        resp = self.session.patch(f"{self.base}/api/v2/dags/{dag_id}", json={"is_paused": False}, timeout=30)
        resp.raise_for_status()
        return time.monotonic() - start

    def trigger(self, dag_id: str, conf: dict | None = None, logical_date: str | None = None,
                run_id: str | None = None) -> str:
        body = {"logical_date": logical_date, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        resp = self.session.post(f"{self.base}/api/v2/dags/{dag_id}/dagRuns", json=body, timeout=30)
        assert resp.status_code in (200, 201), f"trigger failed: {resp.status_code} {resp.text[:300]}"
        return resp.json()["dag_run_id"]

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
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]

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
        return self.get(path, map_index=map_index)["value"]

"""No single control host is needed: with every Airflow unit of either control host stopped,
or a whole control host stopped, a DAG triggered through the other API server runs on a
worker (whose Execution API goes through the fleet's endpoint on its own host), and the
stopped host rejoins when it starts again without any manual step."""

from __future__ import annotations

import subprocess
import time

import pytest
import requests

import fleetlib

CONTROL = ["af-ctl1", "af-ctl2"]
WORKERS = {"af-wk1", "af-wk2"}
CONTROL_UNITS = ["airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"]
UNITS = {"af-ctl1": CONTROL_UNITS + ["airflow-flower"], "af-ctl2": CONTROL_UNITS}
ENDPOINT_HEALTH = ("import urllib.request; "
                   "print(urllib.request.urlopen('http://127.0.0.1:8079/api/v2/monitor/health', timeout=10).status)")


def api_of(name: str) -> fleetlib.Api:
    return fleetlib.Api(f"http://{fleetlib.container_ip(name)}:8080", fleetlib.secret("admin_password"))


def wait_healthy(name: str, timeout: float = 240) -> None:
    """Until the host's API server answers healthy and its scheduler heartbeats."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            health = requests.get(f"http://{fleetlib.container_ip(name)}:8080/api/v2/monitor/health", timeout=5).json()
            if health["metadatabase"]["status"] == "healthy" and health["scheduler"]["status"] == "healthy":
                return
        except (requests.RequestException, ValueError, KeyError, subprocess.CalledProcessError):
            pass
        assert time.monotonic() < deadline, f"{name} did not come back within {timeout}s"
        time.sleep(3)


def smoke_runs_on_a_worker(through: str) -> str:
    api = api_of(through)
    run_id = api.trigger("fleet_smoke")
    assert api.wait_run("fleet_smoke", run_id, timeout=300) == "success", api.task_instances("fleet_smoke", run_id)
    worker = api.xcom("fleet_smoke", run_id, "report_worker")
    assert worker in WORKERS
    return worker


@pytest.mark.parametrize("down", CONTROL)
def test_a_dag_runs_while_every_airflow_unit_of_one_control_host_is_stopped(down):
    up = next(name for name in CONTROL if name != down)
    subprocess.run(["docker", "exec", down, "systemctl", "stop", *UNITS[down]], check=True)
    try:
        smoke_runs_on_a_worker(through=up)
        # The fleet's endpoint on each worker marked the stopped API server down and answers.
        for worker in sorted(WORKERS):
            out = subprocess.run(["docker", "exec", worker, "python3", "-c", ENDPOINT_HEALTH],
                                 capture_output=True, text=True, check=True)
            assert out.stdout.strip() == "200", (worker, out.stdout, out.stderr)
    finally:
        subprocess.run(["docker", "exec", down, "systemctl", "start", *UNITS[down]], check=True)
    wait_healthy(down)
    smoke_runs_on_a_worker(through=down)


def test_a_dag_runs_while_a_whole_control_host_is_down_and_it_rejoins_on_its_own():
    subprocess.run(["docker", "stop", "af-ctl1"], check=True, capture_output=True)
    try:
        smoke_runs_on_a_worker(through="af-ctl2")
    finally:
        subprocess.run(["docker", "start", "af-ctl1"], check=True, capture_output=True)
    wait_healthy("af-ctl1")
    smoke_runs_on_a_worker(through="af-ctl1")

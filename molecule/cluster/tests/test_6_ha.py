"""No single control host is needed: with every Airflow unit of one control host stopped (af-ctl2),
or the other whole control host stopped (af-ctl1), a DAG triggered through the other API server runs on a
worker (whose Execution API goes through the fleet's endpoint on its own host), and the
stopped host rejoins when it starts again without any manual step. While af-ctl2's units and one
worker's are stopped, playbooks/status.yml exits non-zero naming exactly those units, each with the
journal command on its host, and reports the rest healthy.

A worker host lost under a running task (killed, no shutdown: a power cut) costs the task one
try: it runs again on the other worker within the bound; the host boots again, its units come
back without a failure and it takes tasks again. The faults' outcomes and times go into the
cluster section of docs/faults.md."""

from __future__ import annotations

import re
import subprocess
import time

import pytest
import requests

import fleetlib

CONTROL = ["af-ctl1", "af-ctl2"]
WORKERS = {"af-wk1", "af-wk2"}
RECOVERY_BOUND = 120  # seconds from a lost worker to its task running again
INTRO = ("## Several hosts (`cluster` scenario)\n\n"
         "Faults injected into the converged five-host fleet of the `cluster` scenario (a DB/broker host, two\n"
         "control hosts, two workers) with DAG runs in flight; every affected run ended in `success`.")
CONTROL_UNITS = ["airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"]
UNITS = {"af-ctl1": CONTROL_UNITS + ["airflow-flower"], "af-ctl2": CONTROL_UNITS}
ENDPOINT_HEALTH = ("import urllib.request; "
                   "print(urllib.request.urlopen('http://127.0.0.1:8079/api/v2/monitor/health', timeout=10).status)")


def api_of(name: str) -> fleetlib.Api:
    return fleetlib.api(name)


def wait_healthy(name: str, timeout: float = 240) -> None:
    """Until the host's API server answers healthy and its scheduler heartbeats."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            health = requests.get(fleetlib.api_url(name) + "/api/v2/monitor/health", timeout=5, verify=fleetlib.tls_ca() or True).json()
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


def status_names_exactly_what_is_stopped(down: str, stopped_worker: str) -> None:
    """playbooks/status.yml on the fleet with `down`'s units and one worker stopped: non-zero, each
    stopped unit named with the journal command on its host, the rest reported healthy."""
    run, text = fleetlib.status()
    assert run.rc != 0, run.output[-3000:]
    assert run.changed() == 0, run.changed_tasks()
    expected = {f"{unit} on {host} is inactive/dead: journalctl -u {unit} -n 50 --no-pager (on {host})"
                for host, units in ((down, UNITS[down]), (stopped_worker, ["airflow-worker"])) for unit in units}
    for problem in expected:
        assert problem in text, (problem, text[-4000:])
    # Nothing else is a problem but the stopped scheduler's heartbeat, once it is older than the threshold.
    stale = f"The scheduler on {down} has no heartbeat" in text
    assert f"{len(expected) + stale} problem(s), each named below" in text, text[-4000:]
    (online,) = WORKERS - {stopped_worker}
    assert re.search(rf"{online} airflow-worker active/running \d+ online \(default\)", text), text[-4000:]
    assert re.search(r"af-ctl1 airflow-scheduler active/running \d+ healthy", text), text[-4000:]


# af-ctl2's units; af-ctl1 is stopped whole by the next test, which covers its units too. With them,
# one worker's unit is stopped while the status is taken (then the smoke run has one worker).
@pytest.mark.parametrize("down", ["af-ctl2"])
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
        subprocess.run(["docker", "exec", "af-wk2", "systemctl", "stop", "airflow-worker"], check=True)
        status_names_exactly_what_is_stopped(down, "af-wk2")
    finally:
        subprocess.run(["docker", "exec", "af-wk2", "systemctl", "start", "airflow-worker"], check=True)
        subprocess.run(["docker", "exec", down, "systemctl", "start", *UNITS[down]], check=True)
    wait_healthy(down)
    smoke_runs_on_a_worker(through=down)


def test_a_dag_runs_while_a_whole_control_host_is_down_and_it_rejoins_on_its_own():
    subprocess.run(["docker", "stop", "af-ctl1"], check=True, capture_output=True)
    fault = time.monotonic()
    try:
        smoke_runs_on_a_worker(through="af-ctl2")
        served = time.monotonic() - fault
    finally:
        subprocess.run(["docker", "start", "af-ctl1"], check=True, capture_output=True)
    booted = time.monotonic()
    wait_healthy("af-ctl1")
    smoke_runs_on_a_worker(through="af-ctl1")
    fleetlib.record_faults("cluster", {
        "control-host-down": (f"af-ctl1 stopped: a run triggered through af-ctl2 succeeded on a worker in {served:.0f} s; "
                              "started again, it served runs with no manual step",
                              "boot to its API healthy and a run through it succeeded", time.monotonic() - booted),
    }, intro=INTRO)


def units_failed(name: str) -> list[str]:
    out = subprocess.run(["docker", "exec", name, "systemctl", "list-units", "--failed", "--plain", "--no-legend"],
                         capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def test_a_task_on_a_lost_worker_host_runs_again_on_the_other_and_the_host_rejoins_after_booting():
    api = api_of("af-ctl1")
    run_id = api.trigger("fleet_smoke", conf={"sleep_seconds": 45})
    api.wait_task_state("fleet_smoke", run_id, "report_worker", "running", timeout=180)
    (task,) = api.task_instances("fleet_smoke", run_id)
    lost = task["hostname"]
    assert lost in WORKERS, task
    (other,) = WORKERS - {lost}
    subprocess.run(["docker", "kill", lost], check=True, capture_output=True)
    fault = time.monotonic()
    try:
        deadline = fault + RECOVERY_BOUND + 60
        while True:
            (task,) = api.task_instances("fleet_smoke", run_id)
            if task["try_number"] >= 2 and task["state"] in ("running", "success"):
                break
            assert time.monotonic() < deadline, f"no second try within {RECOVERY_BOUND + 60}s: {task}"
            time.sleep(2)
        recovered = time.monotonic() - fault
        assert api.wait_run("fleet_smoke", run_id, timeout=300) == "success", api.task_instances("fleet_smoke", run_id)
        (task,) = api.task_instances("fleet_smoke", run_id)
        assert task["try_number"] == 2 and api.xcom("fleet_smoke", run_id, "report_worker") == other, task
        assert recovered < RECOVERY_BOUND, f"the task ran again {recovered:.0f}s after its worker host was lost"
    finally:
        subprocess.run(["docker", "start", lost], check=True, capture_output=True)
    booted = time.monotonic()

    # Booted again, every unit came up in order (none failed, the worker did not crash-loop
    # waiting for the endpoint or the broker) and the worker takes tasks: a fan-out lands on both.
    def worker_up() -> bool:
        state = subprocess.run(["docker", "exec", lost, "systemctl", "show", "airflow-worker", "--property",
                                "ActiveState,NRestarts"], capture_output=True, text=True, check=False).stdout
        return "ActiveState=active" in state
    while not worker_up():
        assert time.monotonic() - booted < 180, f"airflow-worker on {lost} not active 180 s after boot"
        time.sleep(2)
    deadline = time.monotonic() + 300
    while True:
        fan = api.trigger("fleet_fanout")
        assert api.wait_run("fleet_fanout", fan, timeout=600) == "success"
        hosts = {ti["hostname"] for ti in api.task_instances("fleet_fanout", fan) if ti["task_id"] == "work"}
        if hosts == WORKERS:
            break
        assert time.monotonic() < deadline, f"{lost} took no task for 300 s after booting: {hosts}"
    rejoined = time.monotonic() - booted
    restarts = subprocess.run(["docker", "exec", lost, "systemctl", "show", "airflow-worker", "--property", "NRestarts",
                               "--value"], capture_output=True, text=True, check=True).stdout.strip()
    assert restarts == "0", f"airflow-worker on {lost} crash-looped after booting ({restarts} restarts)"
    assert units_failed(lost) == []
    fleetlib.record_faults("cluster", {
        "worker-host-lost": (f"{lost} killed (no shutdown) under a running task: the task ran again on {other} on its "
                             f"second try and succeeded; booted again, {lost} took tasks {rejoined:.0f} s later with no "
                             "unit failed", "fault to second try running", recovered),
    }, intro=INTRO)

"""Faults survived on the converged single-host fleet, each while a DAG run is in flight, with
the time from the fault to recovery. The table of outcomes is written to docs/faults.md (its
single-host section).

- kill -9 of the scheduler and of the DAG processor: systemd brings each back, runs complete.
- kill -9 of the triggerer with a task deferred to it: the restarted triggerer takes the trigger
  over, the task resumes and the run completes.
- Redis restarted with tasks queued and no worker consuming: nothing queued is lost (append-only
  persistence), the worker reconnects by itself and runs them.
- PostgreSQL restarted: every component recovers without a manual step.
- A triggerer that cannot log in to the DB fails site.yml with its logs (and stays broken).
- PostgreSQL's data directory deleted: playbooks/restore.yml (after refusing a backup that does
  not exist, with nothing changed) brings back the run history, a connection and a variable from
  the pgBackRest backup, repairs the broken triggerer, and a new run succeeds.
And the housekeeping that keeps disks from filling: old logs and metadata rows go, recent ones stay.
A task whose worker is lost runs again within 2 minutes: the cluster's tests/test_6_ha.py proves it
with a whole worker host lost (the same heartbeat timeout and retry settings as here)."""

from __future__ import annotations

import json
import secrets
import time

import pytest

import fleetlib

HOST = "af-solo"
testinfra_hosts = [f"docker://{HOST}"]
COMPONENTS = ["airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
              "airflow-worker", "airflow-flower"]
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"
FAULTS = ["scheduler-kill", "dag-processor-kill", "triggerer-kill", "redis-restart", "postgresql-restart",
          "postgresql-data-lost"]


@pytest.fixture(scope="module")
def api():
    client = fleetlib.Api(f"http://{fleetlib.container_ip(HOST)}:8080", fleetlib.secret("admin_password"))
    client.wait_dag("fleet_smoke")
    return client


@pytest.fixture(scope="module")
def outcomes():
    """Collects each fault's outcome; when every fault ran, writes docs/faults.md from them."""
    seen: dict[str, tuple[str, str, float]] = {}
    yield seen
    if len(seen) == len(FAULTS):
        fleetlib.record_faults("default", {fault: seen[fault] for fault in FAULTS}, intro=(
            "## One host (`default` scenario)\n\n"
            "Each row is a fault injected into the converged single-host fleet of the `default` scenario\n"
            "(Airflow's components, PostgreSQL and Redis under systemd) while a DAG run was in flight.\n"
            "Every affected run ended in `success` with the task's output. With the collection's settings\n"
            "(`airflow_task_heartbeat_timeout` 60 s, `airflow_default_task_retry_delay` 15 s) a task whose\n"
            "worker is lost runs again within about 60 + 10 + 15 s (Airflow's defaults make it about 610 s):\n"
            "the cluster's section below measures it with a whole worker host lost."))


def main_pid(host, unit: str) -> int:
    return int(host.check_output(f"systemctl show --property MainPID --value {unit}"))


def restarts(host, unit: str) -> int:
    return int(host.check_output(f"systemctl show --property NRestarts --value {unit}"))


def wait_until(what: str, check, timeout: float = 180, every: float = 1) -> float:
    """Seconds until check() is true."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"{what} not within {timeout}s"
        time.sleep(every)
    return time.monotonic() - start


def kill_and_wait_back(host, unit: str) -> float:
    """kill -9 of the unit's main process; seconds until systemd runs it again."""
    before, pid = restarts(host, unit), main_pid(host, unit)
    host.run_expect([0], f"kill -9 {pid}")
    return wait_until(f"{unit} back", lambda: restarts(host, unit) > before and host.service(unit).is_running)


def succeeded(api, run_id: str, timeout: float = 300) -> dict:
    assert api.wait_run("fleet_smoke", run_id, timeout=timeout) == "success", api.task_instances("fleet_smoke", run_id)
    (task,) = api.task_instances("fleet_smoke", run_id)
    assert api.xcom("fleet_smoke", run_id, "report_worker") == HOST
    return task


@pytest.mark.parametrize(("fault", "unit"), [("scheduler-kill", "airflow-scheduler"),
                                             ("dag-processor-kill", "airflow-dag-processor")])
def test_a_killed_control_component_comes_back_and_runs_complete(host, api, outcomes, fault, unit):
    run_id = api.trigger("fleet_smoke", conf={"sleep_seconds": 10})
    fault_at = time.monotonic()
    back = kill_and_wait_back(host, unit)
    task = succeeded(api, run_id)
    assert task["try_number"] == 1, task
    # The component is healthy again, not only running: its job heartbeats after the fault.
    key = {"airflow-scheduler": "scheduler", "airflow-dag-processor": "dag_processor"}[unit]
    wait_until(f"{unit} healthy", lambda: api.get("/api/v2/monitor/health")[key]["status"] == "healthy", every=2)
    outcomes[fault] = (f"systemd ran it again after {back:.0f} s; the run in flight succeeded on its first try",
                       "fault to run success", time.monotonic() - fault_at)


def test_a_deferred_task_survives_a_killed_triggerer(host, api, outcomes):
    api.wait_dag("fleet_deferred")
    run_id = api.trigger("fleet_deferred", conf={"wait_seconds": 15})
    api.wait_task_state("fleet_deferred", run_id, "wait", "deferred", timeout=120)
    fault = time.monotonic()
    back = kill_and_wait_back(host, "airflow-triggerer")
    assert api.wait_run("fleet_deferred", run_id, timeout=300) == "success", api.task_instances("fleet_deferred", run_id)
    assert api.xcom("fleet_deferred", run_id, "report_worker") == HOST
    outcomes["triggerer-kill"] = (f"systemd ran it again after {back:.0f} s; the deferred task was taken over, "
                                  "resumed on the worker and the run succeeded", "fault to run success",
                                  time.monotonic() - fault)


def consumes(host, worker: str) -> bool:
    """The worker answers over the broker and consumes from the default queue."""
    out = host.run(f"airflow-env celery --app {CELERY_APP} inspect active_queues --json --timeout 5 --destination {worker}")
    replies = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return out.rc == 0 and bool(replies) and any(q["name"] == "default" for q in json.loads(replies[-1]).get(worker, []))


def add_queue_and_check(host, worker: str) -> bool:
    host.run(f"airflow celery add-queue -q default -H {worker}")
    return consumes(host, worker)


def test_tasks_queued_across_a_redis_restart_are_not_lost(host, api, outcomes):
    worker = f"celery@{HOST}"
    host.run_expect([0], f"airflow celery remove-all-queues -H {worker}")
    try:
        runs = [api.trigger("fleet_smoke"), api.trigger("fleet_smoke")]
        for run_id in runs:
            api.wait_task_state("fleet_smoke", run_id, "report_worker", "queued", timeout=120)
        fault = time.monotonic()
        host.run_expect([0], "systemctl restart redis-server")
    finally:
        # Once the worker has reconnected by itself (a control message sent before would be lost).
        wait_until("the worker consuming again", lambda: add_queue_and_check(host, worker), timeout=120, every=3)
    for run_id in runs:
        task = succeeded(api, run_id)
        assert task["try_number"] == 1, task
    assert host.service("airflow-worker").is_running
    outcomes["redis-restart"] = ("2 tasks queued, no worker consuming; after the restart the same worker "
                                 "(reconnected by itself) ran both on their first try", "fault to both runs success",
                                 time.monotonic() - fault)


def test_every_component_recovers_from_a_postgresql_restart(host, api, outcomes):
    run_id = api.trigger("fleet_smoke", conf={"sleep_seconds": 10})
    api.wait_task_state("fleet_smoke", run_id, "report_worker", "running")
    starts = {unit: host.check_output(f"systemctl show --property ActiveEnterTimestampMonotonic --value {unit}")
              for unit in COMPONENTS}
    fault = time.monotonic()
    host.run_expect([0], "systemctl restart postgresql")
    succeeded(api, run_id)
    after = fleetlib.Api(f"http://{fleetlib.container_ip(HOST)}:8080", fleetlib.secret("admin_password"))
    assert succeeded(after, after.trigger("fleet_smoke"))["try_number"] == 1
    health = after.get("/api/v2/monitor/health")
    assert {part: health[part]["status"] for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")} == {
        "metadatabase": "healthy", "scheduler": "healthy", "triggerer": "healthy", "dag_processor": "healthy"}
    for unit in COMPONENTS:
        assert host.service(unit).is_running, unit
    restarted = [u for u in COMPONENTS
                 if host.check_output(f"systemctl show --property ActiveEnterTimestampMonotonic --value {u}") != starts[u]]
    outcomes["postgresql-restart"] = (
        "the run in flight and a new one succeeded; " +
        (f"restarted by systemd: {', '.join(restarted)}" if restarted else "no component needed a restart"),
        "fault to both runs success", time.monotonic() - fault)


def test_old_logs_and_metadata_go_and_recent_ones_stay(host, api):
    """The housekeeping timers' jobs, run now: a log file not written for 40 days goes, a fresh
    one stays; a DAG run aged 200 days in the DB goes (airflow db clean), a recent one stays."""
    logs = "/var/log/airflow/dag_id=fleet_smoke/run_id=housekeeping_probe/task_id=report_worker"
    host.run_expect([0], f"install -d -o airflow -g airflow {logs} && "
                         f"runuser -u airflow -- touch -d '40 days ago' {logs}/attempt=1.log && "
                         f"runuser -u airflow -- touch {logs}/attempt=2.log")
    aged, recent = api.trigger("fleet_smoke"), api.trigger("fleet_smoke")
    for run_id in (aged, recent):
        succeeded(api, run_id)
    host.run_expect([0], "runuser -u postgres -- psql -d airflow -v ON_ERROR_STOP=1 -c "
                         f"\"UPDATE dag_run SET start_date = start_date - interval '200 days' WHERE run_id = '{aged}'\"")
    for timer in ("airflow-log-cleanup", "airflow-db-clean"):
        assert host.service(f"{timer}.timer").is_enabled and host.service(f"{timer}.timer").is_running, timer
        host.run_expect([0], f"systemctl start {timer}.service")  # a oneshot: returns when the job is done
    assert not host.file(f"{logs}/attempt=1.log").exists
    assert host.file(f"{logs}/attempt=2.log").exists
    assert api.get(f"/api/v2/dags/fleet_smoke/dagRuns/{aged}", missing_ok=True) is None
    assert api.get(f"/api/v2/dags/fleet_smoke/dagRuns/{recent}")["state"] == "success"
    # The journal is bounded: journald reads the collection's limit.
    assert "SystemMaxUse=1G" in host.check_output("systemd-analyze cat-config systemd/journald.conf")
    # PostgreSQL's own log file is rotated (logrotate's dry run lists it) by a daily timer.
    assert "/var/log/postgresql/" in host.run_expect([0], "logrotate --debug /etc/logrotate.conf 2>&1").stdout
    assert host.service("logrotate.timer").is_enabled


def start_times(host, units: list[str]) -> dict[str, str]:
    return {unit: host.check_output(f"systemctl show --property ActiveEnterTimestampMonotonic --value {unit}")
            for unit in units}


def test_a_crashing_component_fails_the_run_with_its_logs(host):
    """A green run means a working fleet: a triggerer that cannot log in to the DB fails
    site.yml, naming host and component and showing its log lines, and prints no secret at
    -vvv. It stays broken for the next test, whose restore.yml (a correct site.yml at its end)
    must repair it."""
    broken_url = "postgresql+psycopg2://airflow:wrong-password@af-solo:5432/airflow"
    with fleetlib.CommandLineSampler([HOST]) as ps:
        run = fleetlib.run_playbook(
            "site.yml", "-vvv",
            extra_vars={"airflow_triggerer_environment": {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": broken_url}})
    assert ps.ansible_seen > 0 and ps.leaked == set(), f"secrets on command lines during the run: {ps.leaked}"
    assert run.rc != 0
    assert f"airflow-triggerer on {HOST} is not healthy" in run.output, run.output[-3000:]
    assert "password authentication failed" in run.output
    assert fleetlib.leaked_secrets(run.output) == []


def test_a_lost_metadata_db_is_restored_from_its_backup(host, api, outcomes):
    """The backups are real only if they restore: state the fleet must not lose is written, the
    backup timers' own service takes a differential backup, the DB's data directory is deleted,
    and restore.yml (at -vvv, printing no secret) brings it back - and, as a correct run, repairs
    the triggerer the test before broke."""
    for timer in ("pgbackrest-backup-full", "pgbackrest-backup-diff"):
        assert host.service(f"{timer}.timer").is_enabled and host.service(f"{timer}.timer").is_running, timer
    succeeded(api, api.trigger("fleet_smoke"))
    history = {run["dag_run_id"] for run in api.collect("/api/v2/dags/~/dagRuns", "dag_runs")}
    token = secrets.token_hex(8)
    probe = f"restore_probe_{token}"
    api.post("/api/v2/connections", {"connection_id": probe, "conn_type": "http", "host": "restore.example",
                                     "login": f"probe-{token}", "password": secrets.token_hex(8)})
    api.post("/api/v2/variables", {"key": probe, "value": token})
    host.run_expect([0], "systemctl start pgbackrest-backup@diff.service")  # a oneshot: returns when done
    info = json.loads(host.check_output("runuser -u postgres -- pgbackrest --stanza=airflow --output=json info"))
    assert [b["type"] for b in info[0]["backup"]][-1] == "diff", info

    # A backup that does not exist is refused before anything stops.
    # (The triggerer the test before broke restarts on its own, over and over.)
    units = [unit for unit in COMPONENTS if unit != "airflow-triggerer"] + ["postgresql@15-main"]
    before = start_times(host, units)
    refused = fleetlib.run_playbook("restore.yml", extra_vars={"postgresql_restore_set": "20990101-000000F"})
    assert refused.rc != 0 and "is not one of its backups" in refused.output, refused.output[-3000:]
    assert "No host was changed" in refused.output
    assert start_times(host, units) == before

    fault = time.monotonic()
    host.run_expect([0], "systemctl stop postgresql@15-main && rm -rf /var/lib/postgresql/15/main")
    with fleetlib.CommandLineSampler([HOST]) as ps:
        run = fleetlib.run_playbook("restore.yml", "-vvv", timeout=1200)
    assert run.rc == 0, run.output[-5000:]
    assert ps.ansible_seen > 0 and ps.leaked == set(), f"secrets on command lines during the restore: {ps.leaked}"
    assert fleetlib.leaked_secrets(run.output) == []
    assert host.service("airflow-triggerer").is_running
    after = fleetlib.Api(f"http://{fleetlib.container_ip(HOST)}:8080", fleetlib.secret("admin_password"))
    assert history <= {r["dag_run_id"] for r in after.collect("/api/v2/dags/~/dagRuns", "dag_runs")}
    assert after.get(f"/api/v2/connections/{probe}")["login"] == f"probe-{token}"
    # Variables are stored encrypted with the fleet's fernet key: this one decrypts again. (Its value
    # is not the connection's password, which the API would mask wherever it appears.)
    assert after.get(f"/api/v2/variables/{probe}")["value"] == token
    run_id = after.trigger("fleet_smoke")
    task = succeeded(after, run_id)
    # Its first try: the restore restarted the API server, whose Execution API initializes on its
    # first request (seconds on a busy host); the health wait pays that before the task's start call.
    assert task["try_number"] == 1, "the first task after the restore took try {}; try 1 ended: {}".format(
        task["try_number"], after.log_tail("fleet_smoke", run_id, "report_worker"))
    assert after.get("/api/v2/monitor/health")["triggerer"]["status"] == "healthy"
    restored = time.monotonic() - fault
    outcomes["postgresql-data-lost"] = (
        "data directory deleted; playbooks/restore.yml restored the last pgBackRest backup and the archived WAL, "
        "converged the fleet; run history, a connection and a variable came back and a new run succeeded",
        "fault to a new run's success, restore.yml included", restored)

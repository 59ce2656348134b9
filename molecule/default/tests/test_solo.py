"""One host running everything, deployed the way real fleets are (the collection
installed from its tarball, over SSH as a sudo user, Ansible's defaults): the
whole stack works, gives tasks Airflow's toolchain, is locked down, keeps its
secrets to itself, stops workers warmly and refuses bad input before touching
anything."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests

import fleetlib

HOST = "af-solo"
# The checks read the host as root through the container engine; the playbooks
# reach it over SSH as admin (the scenario's inventory).
testinfra_hosts = [f"docker://{HOST}"]

UNITS = [
    "postgresql",
    "redis-server",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-flower",
]
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"


@pytest.fixture(scope="module")
def ip():
    return fleetlib.container_ip(HOST)


@pytest.fixture(scope="module")
def api(ip):
    return fleetlib.Api(f"http://{ip}:8080", fleetlib.secret("admin_password"))


@pytest.mark.parametrize("unit", UNITS)
def test_every_service_runs_and_starts_at_boot(host, unit):
    service = host.service(unit)
    assert service.is_running, host.run(f"journalctl -u {unit} -n 20 --no-pager").stdout
    assert service.is_enabled


def test_api_refuses_anonymous_and_wrong_password(ip):
    assert requests.get(f"http://{ip}:8080/api/v2/dags", timeout=30).status_code == 401
    resp = requests.post(f"http://{ip}:8080/auth/token", json={"username": "admin", "password": "wrong"}, timeout=30)
    assert resp.status_code in (401, 403)


def test_api_answers_with_authentication(api):
    health = api.get("/api/v2/monitor/health")
    assert health["metadatabase"]["status"] == "healthy"
    assert health["scheduler"]["status"] == "healthy"
    assert health["triggerer"]["status"] == "healthy"
    assert health["dag_processor"]["status"] == "healthy"


def test_flower_refuses_anonymous_and_lists_the_worker(ip):
    base = f"http://{ip}:5555"
    assert fleetlib.flower_workers(base, None).status_code == 401
    resp = fleetlib.flower_workers(base, ("flower", fleetlib.secret("flower_password")))
    assert resp.status_code == 200
    assert f"celery@{HOST}" in resp.json()


def celery_tasks_done(host) -> int:
    """Tasks the Celery worker has executed since it started (celery inspect stats)."""
    out = host.check_output(
        f"airflow-env celery --app {CELERY_APP} inspect stats --json --timeout 10 --destination celery@{HOST}"
    )
    # Airflow's own log lines come first on stdout; the reply is the JSON line.
    reply = [line for line in out.splitlines() if line.startswith("{")][-1]
    stats = json.loads(reply)[f"celery@{HOST}"]
    return sum(stats["total"].values())


def test_smoke_dag_runs_through_celery_on_the_worker(host, api):
    api.wait_dag("fleet_smoke")
    before = celery_tasks_done(host)
    run_id = api.trigger("fleet_smoke")
    assert api.wait_run("fleet_smoke", run_id) == "success"
    [ti] = api.task_instances("fleet_smoke", run_id)
    assert ti["hostname"] == HOST
    assert ti["queue"] == "default"
    assert api.xcom("fleet_smoke", run_id, "report_worker") == HOST
    assert celery_tasks_done(host) == before + 1, "the task did not go through the Celery worker"


def test_worker_restart_lets_a_running_task_finish(host, api):
    """Warm shutdown: a restart waits for the running task instead of killing it."""
    api.wait_dag("fleet_smoke")
    run_id = api.trigger("fleet_smoke", conf={"sleep_seconds": 20})
    api.wait_task_state("fleet_smoke", run_id, "report_worker", "running")
    started = time.monotonic()
    restart = host.run("systemctl restart airflow-worker")
    waited = time.monotonic() - started
    assert restart.rc == 0, restart.stderr
    assert api.wait_run("fleet_smoke", run_id) == "success"
    [ti] = api.task_instances("fleet_smoke", run_id)
    assert ti["state"] == "success"
    assert ti["try_number"] == 1, "the task was killed and retried instead of finishing"
    assert waited > 5, f"restart returned after {waited:.1f}s: it did not wait for the task"
    assert host.service("airflow-worker").is_running


def test_the_playbooks_reached_the_host_over_ssh_as_a_sudo_user(host):
    """Every change was made through sudo by admin, with the collection's own playbooks."""
    sudo = host.run("journalctl --no-pager -o cat _COMM=sudo").stdout
    assert re.search(r"admin : .*USER=root ; COMMAND=/bin/sh -c '?echo BECOME-SUCCESS-", sudo), sudo[-2000:]
    # No pipelining: modules were copied to admin's temporary directory, then run as root.
    assert "/home/admin/.ansible/tmp/" in sudo
    # The postgres user's steps needed setfacl, which the host lacked before the run.
    assert re.search(r"admin : .*USER=postgres ; COMMAND=/bin/sh -c '?echo BECOME-SUCCESS-", sudo)


def test_tasks_get_the_toolchain_of_airflows_images(host, api):
    """@task.virtualenv (with requirements, from the index with the proxy CA and the
    Airflow lock), @task.external_python and a BashOperator finding python, pip and
    airflow by name all run on the worker."""
    lock = (fleetlib.PROJECT / "roles/airflow/files/constraints-3.3.2.txt").read_text()
    locked_celery = re.search(r"^celery==(\S+)", lock, re.MULTILINE).group(1)
    active_venv = host.check_output("readlink -f /opt/airflow/venv")
    api.wait_dag("fleet_toolchain")
    run_id = api.trigger("fleet_toolchain")
    state = api.wait_run("fleet_toolchain", run_id, timeout=420)
    tis = {ti["task_id"]: ti for ti in api.task_instances("fleet_toolchain", run_id)}
    assert state == "success", {t: ti["state"] for t, ti in tis.items()}
    assert {ti["hostname"] for ti in tis.values()} == {HOST}

    venv = api.xcom("fleet_toolchain", run_id, "in_a_virtualenv")
    assert venv["host"] == HOST
    assert venv["celery"] == locked_celery, "the task's virtualenv ignored the Airflow lock"
    assert venv["prefix"].startswith("/tmp/venv"), venv
    external = api.xcom("fleet_toolchain", run_id, "in_an_external_python")
    assert external["executable"] == "/usr/bin/python3"
    python, pip, airflow, version = api.xcom("fleet_toolchain", run_id, "python_and_airflow_on_path").split()
    assert (python, pip, airflow) == (f"{active_venv}/bin/python", f"{active_venv}/bin/pip", f"{active_venv}/bin/airflow")
    assert version == "3.3.2"


def test_secret_files_are_private(host):
    for component in ["api_server", "scheduler", "dag_processor", "triggerer", "worker", "flower"]:
        env = host.file(f"/etc/airflow/env/{component}.env")
        assert (env.user, env.group, env.mode) == ("root", "airflow", 0o640)
    cfg = host.file("/etc/airflow/airflow.cfg").content_string
    assert "executor = CeleryExecutor" in cfg
    assert fleetlib.leaked_secrets(cfg) == []


def test_workers_hold_no_database_credentials(host):
    worker_env = host.file("/etc/airflow/env/worker.env").content_string
    assert "SQL_ALCHEMY_CONN" not in worker_env
    assert "FERNET_KEY" not in worker_env
    assert "JWT_SECRET" not in worker_env
    assert fleetlib.secret("db_password") not in worker_env


def test_no_secret_on_any_command_line_or_in_the_journal(host):
    """The journal holds sudo's line for every command Ansible ran as root or postgres."""
    cmdlines = host.run("cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout
    journal = host.run("journalctl --no-pager -o cat").stdout
    assert "airflow-worker" in journal or "celery" in cmdlines  # the sources really hold something
    assert "BECOME-SUCCESS" in journal  # sudo's command lines are among them
    assert fleetlib.leaked_secrets(cmdlines) == [], "a secret appears on a process command line"
    assert fleetlib.leaked_secrets(journal) == [], "a secret appears in the journal"


def test_check_mode_on_the_converged_host_changes_nothing():
    """--check --diff changes nothing, and even at -vvv its output holds no secret."""
    run = fleetlib.run_playbook("site.yml", "--check", "--diff", "-vvv")
    assert run.rc == 0, run.output[-3000:]
    assert run.changed() == 0, run.changed_tasks()
    assert "<127.0.0.1> SSH: EXEC" in run.output  # really -vvv, really over SSH
    assert fleetlib.leaked_secrets(run.output) == []


def unit_starts(host) -> str:
    """When each unit last started, and the checksums of what the fleet renders: any restart or rewrite shows."""
    starts = host.check_output("systemctl show --property=Id,ActiveEnterTimestampMonotonic " + " ".join(UNITS))
    files = host.check_output("sha256sum /etc/airflow/airflow.cfg /etc/airflow/env/*.env /etc/systemd/system/airflow-*.service")
    return starts + files


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        ({"airflow_version": "2.10.5"}, "airflow_version=2.10.5"),
        ({"airflow_db_url": "sqlite:////var/lib/airflow/airflow.db"}, "SQLite cannot serve several"),
        ({"airflow_generate_secrets": False, "airflow_fernet_key": ""}, "airflow_fernet_key is empty"),
        ({"airflow_redis_password": ""}, "airflow_redis_password is empty"),
        ({"airflow_worker_queues": []}, "airflow_worker_queues must be a non-empty list"),
        ({"airflow_api_base_url": f"http://{HOST}:9"}, f"Worker {HOST} cannot reach the API server"),
        ({"airflow_config_overrides": {"schedulr": {"parsing_processes": 2}}},
         'Airflow 3.3.2 has no section [schedulr] (did you mean "scheduler"?)'),
        ({"airflow_config_overrides": {"scheduler": {"task_instance_heartbeat_timout": 60}}},
         'no key task_instance_heartbeat_timout in [scheduler] (did you mean "task_instance_heartbeat_timeout"?)'),
        ({"airflow_config_overrides": {"core": {"parallelism": 8}}}, "core.parallelism is set by the collection: use airflow_parallelism"),
        ({"airflow_worker_concurrency": -3}, f"airflow_worker_concurrency on {HOST} must be a whole number"),
    ],
    ids=["airflow-2", "sqlite", "missing-fernet-key", "missing-redis-password", "no-queues", "unreachable-api",
         "config-section-typo", "config-key-typo", "config-managed-key", "negative-concurrency"],
)
def test_bad_input_is_refused_before_anything_changes(host, extra_vars, expected):
    before = unit_starts(host)
    # -vvv: a refused run prints its failing items and results in full; none may hold a secret.
    run = fleetlib.run_playbook("site.yml", "-vvv", extra_vars=extra_vars, timeout=300)
    assert run.rc != 0
    assert expected in run.output, run.output[-2000:]
    assert run.changed() == 0, run.changed_tasks()
    assert unit_starts(host) == before, "a refused run restarted a unit or rewrote a file"
    assert fleetlib.leaked_secrets(run.output) == []


def test_workers_without_an_api_server_are_refused(tmp_path):
    """An inventory with workers but no API server (and no URL) is refused."""
    groups = ["postgresql", "redis", "schedulers", "dag_processors", "triggerers", "workers", "flower"]
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  vars:\n    ansible_connection: community.docker.docker\n"
        f"    airflow_secrets_dir: {fleetlib.SECRETS}\n  children:\n"
        + "".join(f"    airflow_{g}:\n      hosts:\n        {HOST}:\n" for g in groups)
        + "    airflow_api_servers:\n      hosts: {}\n"
    )
    run = fleetlib.run_playbook("site.yml", inventory=inventory, timeout=300)
    assert run.rc != 0
    assert "airflow_api_servers has 0" in run.output, run.output[-2000:]
    assert run.changed() == 0, run.changed_tasks()


def test_a_crashing_component_fails_the_run_with_its_logs(host, api):
    """A green run means a working fleet: a triggerer that cannot log in to the
    DB fails site.yml, naming host and component and showing its log lines;
    a correct run afterwards repairs it. Both runs are at -vvv (one failing, one
    that renders and restarts): neither prints a secret."""
    broken_url = "postgresql+psycopg2://airflow:wrong-password@af-solo:5432/airflow"
    run = fleetlib.run_playbook(
        "site.yml",
        "-vvv",
        extra_vars={"airflow_triggerer_environment": {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": broken_url}},
    )
    assert run.rc != 0
    assert f"airflow-triggerer on {HOST} is not healthy" in run.output, run.output[-3000:]
    assert "password authentication failed" in run.output
    assert fleetlib.leaked_secrets(run.output) == []

    repaired = fleetlib.run_playbook("site.yml", "-vvv")
    assert repaired.rc == 0, repaired.output[-3000:]
    assert repaired.changed() > 0  # it really rendered and restarted something
    assert fleetlib.leaked_secrets(repaired.output) == []
    assert host.service("airflow-triggerer").is_running
    assert api.get("/api/v2/monitor/health")["triggerer"]["status"] == "healthy"

"""One host running everything, deployed the way real fleets are (the collection
installed from its tarball, over SSH as a sudo user, Ansible's defaults): the
whole stack works, gives tasks Airflow's toolchain, is locked down, keeps its
secrets to itself, stops workers warmly and refuses bad input before touching
anything."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pytest
import requests

import bad_inputs
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
    since = int(host.check_output("date +%s"))
    run_id = api.trigger("fleet_smoke")
    assert api.wait_run("fleet_smoke", run_id) == "success"
    # Every call of the task to the Execution API was answered in time: none was asked again.
    asked_again = host.run(f"journalctl --no-pager -o cat -u airflow-worker --since @{since} "
                           "| grep -F 'airflow.sdk.api.client.Client.request'").stdout
    assert asked_again == "", f"the task asked the Execution API again: {asked_again[-600:]}"
    [ti] = api.task_instances("fleet_smoke", run_id)
    assert ti["hostname"] == HOST
    assert ti["queue"] == "default"
    assert api.xcom("fleet_smoke", run_id, "report_worker") == HOST
    # The first task on a new fleet: its try 1 fails when a call to the Execution API times out.
    assert ti["try_number"] == 1, "the task took try {}; try 1 ended: {}".format(
        ti["try_number"], api.log_tail("fleet_smoke", run_id, "report_worker"))
    done = celery_tasks_done(host) - before
    # More than one on a single try: the scheduler published the task again (a publish timed out).
    republished = host.run("journalctl --no-pager -o cat -u airflow-scheduler | grep 'Celery Task Timeout'").stdout
    assert done == 1, f"the worker ran {done} Celery tasks for one task instance; scheduler: {republished}"


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
    """@task.virtualenv (with requirements, offline from the wheelhouse, with the Airflow
    lock), @task.external_python and a BashOperator finding python, pip and
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


def test_airflow_came_offline_from_the_wheelhouse(host):
    """airflow_wheelhouse: the host cannot reach the package index (prepare.yml points its names
    at loopback), yet Airflow and uv installed, and every distribution in their virtualenvs is a
    wheel of the one wheelhouse the controller built for this host's Python and pushed."""
    assert host.run("getent hosts pypi.org").stdout.split()[0] == "127.0.0.1"
    probe = host.run("/opt/airflow/venv/bin/python -c \"import urllib.request; "
                     "urllib.request.urlopen('https://pypi.org/simple/', timeout=5)\"")
    assert probe.rc != 0 and "Connection refused" in probe.stderr, probe.stderr
    names = host.check_output("ls /opt/airflow/wheelhouse").split()
    python = host.check_output("/usr/bin/python3 -c 'import platform; print(platform.python_version())'")
    assert len(names) == 1 and names[0].startswith("airflow-3.3.2-") and f"-cp{python}-" in names[0], names
    assert (fleetlib.EPHEMERAL / "wheelhouses" / f"{names[0]}.tar").is_file(), "the controller built no such wheelhouse"
    wheels = host.check_output(f"ls /opt/airflow/wheelhouse/{names[0]}").split()
    wheel_keys = {re.sub(r"[-_.]+", "_", "-".join(w.split("-")[:2]).lower()) for w in wheels if w.endswith(".whl")}
    listing = "import importlib.metadata as m, json; print(json.dumps([[d.name, d.version] for d in m.distributions()]))"
    for venv in (host.check_output("readlink -f /opt/airflow/venv"), "/opt/airflow/uv-0.13.9"):
        dists = json.loads(host.check_output(f"{venv}/bin/python -c '{listing}'"))
        # pip and setuptools come with the Python (ensurepip), not from an index.
        installed = {re.sub(r"[-_.]+", "_", f"{name}-{version}".lower()) for name, version in dists
                     if name.lower() not in ("pip", "setuptools")}
        assert len(installed) > (100 if "venvs" in venv else 0), (venv, sorted(installed))
        assert installed <= wheel_keys, (venv, sorted(installed - wheel_keys))
    packages_env = host.file("/etc/airflow/env/packages.env").content_string
    assert "PIP_NO_INDEX='1'" in packages_env and "UV_OFFLINE='1'" in packages_env


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


def test_no_secret_in_any_world_readable_file():
    """Configs, units, virtualenvs, logs, /tmp, /run: no world-readable file holds a secret
    (the fleet's seven, the connection's password, the package index's credentials)."""
    assert {"index_token", "connection_password", "fernet_key"} <= set(fleetlib.fleet_secrets())
    # The search finds a secret where there is one...
    fleetlib.put_file(HOST, "/tmp/leak-probe", fleetlib.fleet_secrets()["index_token"], "0644")
    try:
        assert "/tmp/leak-probe" in fleetlib.world_readable_files_with_secrets(HOST)
    finally:
        subprocess.run(["docker", "exec", HOST, "rm", "-f", "/tmp/leak-probe"], check=True)
    # ...and finds none anywhere else.
    assert fleetlib.world_readable_files_with_secrets(HOST) == []


# What a fleet run writes on the host; a refused run must leave all of it untouched.
WRITTEN_PATHS = "/etc/airflow /etc/systemd/system /opt/airflow /srv/airflow /etc/postgresql /etc/redis /etc/sudoers.d"


def unit_starts(host) -> str:
    """When each unit last started, and the checksums of what the fleet renders: any restart or rewrite shows."""
    starts = host.check_output("systemctl show --property=Id,ActiveEnterTimestampMonotonic " + " ".join(UNITS))
    files = host.check_output("sha256sum /etc/airflow/airflow.cfg /etc/airflow/env/*.env /etc/systemd/system/airflow-*.service")
    return starts + files


def variant_inventory(tmp_path, change: dict):
    """The scenario's inventory with a host dropped from groups, or with a second name for af-solo
    (same SSH address, its own host_vars) in some groups: a fleet of several hosts on one machine.
    Preflight must refuse these without contacting any host; if it did not, the run would reach
    af-solo and the unchanged-host checks would fail."""
    inventory = tmp_path / "inventory"
    for part in ("group_vars", "host_vars"):
        shutil.copytree(fleetlib.INVENTORY / part, inventory / part)
    groups, alias_vars = bad_inputs.variant_groups({g: [HOST] for g in bad_inputs.SOLO_GROUPS}, change)
    if alias_vars is not None and any(bad_inputs.ALIAS in hosts for hosts in groups.values()):
        solo_vars = (inventory / "host_vars" / HOST).read_text()
        (inventory / "host_vars" / bad_inputs.ALIAS).write_text(
            solo_vars + "".join(f"{k}: {json.dumps(v)}\n" for k, v in alias_vars.items()))
    (inventory / "hosts.yml").write_text(json.dumps(
        {"all": {"children": {g: {"hosts": {h: None for h in hosts}} for g, hosts in groups.items()}}}))
    return inventory


@pytest.fixture(scope="module")
def refusals():
    """Collects each case's refusal and, when every case ran, writes its section of docs/bad-inputs.md."""
    seen: dict[str, dict] = {}
    yield seen
    if len(seen) == len(bad_inputs.ON_A_HOST):
        bad_inputs.write_section("host", seen, {str(fleetlib.EPHEMERAL): "<scenario>"})


@pytest.mark.parametrize(("case_id", "extra_vars", "change", "expected"), bad_inputs.ON_A_HOST,
                         ids=[c[0] for c in bad_inputs.ON_A_HOST])
def test_bad_input_is_refused_before_anything_changes(host, tmp_path, refusals, case_id, extra_vars, change, expected):
    inventory = variant_inventory(tmp_path, change) if change else None
    before = unit_starts(host)
    host.check_output("touch /run/fleet-preflight-marker")
    started = time.monotonic()
    # -vvv: a refused run prints its failing items and results in full; none may hold a secret.
    run = fleetlib.run_playbook("site.yml", "-vvv", extra_vars=extra_vars, inventory=inventory, timeout=300)
    seconds = time.monotonic() - started
    assert run.rc != 0
    message = bad_inputs.failure_message(run.output, expected)
    assert message, run.output[-3000:]
    assert run.changed() == 0, run.changed_tasks()
    assert unit_starts(host) == before, "a refused run restarted a unit or rewrote a file"
    written = host.check_output(f"find {WRITTEN_PATHS} -newer /run/fleet-preflight-marker -not -path '*/logs/*' 2>/dev/null || true")
    assert written == "", f"a refused run wrote: {written}"
    assert fleetlib.leaked_secrets(run.output) == []
    refusals[case_id] = {"message": message, "seconds": seconds}

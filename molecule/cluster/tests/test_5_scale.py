"""Scale out and in by inventory, on the running fleet.

A host in no fleet group (af-wk3) becomes a worker with `site.yml --limit af-wk3`: it serves
the DAG release the user rolled out (not a default source) and runs that release's task on
its own queue, and no unit on any other host restarts. A full `site.yml` afterwards, with
Flower taken out of af-wk3's groups, stops, disables and removes that unit and leaves its
worker running, and switches no DAG release. That run is also the scenario's second run (it has no
Molecule idempotence step): on the five hosts converged first, after the rollouts and pipeline runs
of the tests before, it changes and restarts nothing, at -vvv, while every host's command lines are
sampled for the fleet's secrets. Retiring the worker lets the task it runs finish, then leaves no
Airflow unit on the host."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

import fleetlib

NEW = "af-wk3"
OTHERS = ["af-data", "af-ctl1", "af-ctl2", "af-wk1", "af-wk2"]
DAG_HOSTS = ["af-ctl1", "af-ctl2", "af-wk1", "af-wk2"]
USER_DAG = '''"""A DAG only the user's release has: its task runs on the new worker's own queue."""

import socket
import time

import pendulum
from airflow.sdk import dag, task


@dag(dag_id="user_scale_probe", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
def user_scale_probe():
    @task(queue="scale_probe")
    def where(**context) -> str:
        time.sleep(int((context["dag_run"].conf or {}).get("sleep_seconds", 0)))
        return socket.gethostname()

    where()


user_scale_probe()
'''


def unit_starts(name: str) -> dict[str, str]:
    """When each Airflow, PostgreSQL and Redis unit on a host last entered the active state."""
    script = ("units=$(systemctl list-units --all --plain --no-legend 'airflow-*' 'postgresql*' 'redis*' | awk '{print $1}'); "
              "[ -z \"$units\" ] || systemctl show --property=Id,ActiveEnterTimestampMonotonic,ActiveState $units")
    out = subprocess.run(["docker", "exec", name, "sh", "-c", script], capture_output=True, text=True, check=True).stdout
    units = {}
    for block in out.strip().split("\n\n") if out.strip() else []:
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        units[fields["Id"]] = f"{fields['ActiveState']}@{fields['ActiveEnterTimestampMonotonic']}"
    return units


def served_release(name: str) -> str:
    return subprocess.run(["docker", "exec", name, "readlink", "/srv/airflow/dags/current"], capture_output=True,
                          text=True, check=True).stdout.strip().rsplit("/", 1)[-1]


def inventory_with(tmp_path, groups: dict[str, list[str]]):
    """The scenario's inventory with the new host added to some groups (its own queue as host_vars)."""
    inventory = tmp_path / "inventory"
    shutil.copytree(fleetlib.INVENTORY / "group_vars", inventory / "group_vars")
    data = yaml.safe_load((fleetlib.INVENTORY / "ansible_inventory.yml").read_text())
    for group in groups.get(NEW, []):
        data.setdefault(group, {"hosts": {}}).setdefault("hosts", {})[NEW] = {"ansible_connection": "community.docker.docker"}
    (inventory / "hosts.yml").write_text(yaml.safe_dump(data))
    (inventory / "host_vars").mkdir()
    (inventory / "host_vars" / f"{NEW}.yml").write_text("airflow_worker_queues: [default, scale_probe]\n")
    return inventory


@pytest.fixture(scope="module")
def api():
    return fleetlib.api('af-ctl1')


@pytest.fixture(scope="module")
def user_release(tmp_path_factory):
    """The user rolls out their own DAGs (the repository's plus one) with dags.yml -e."""
    source = tmp_path_factory.mktemp("user") / "dags"
    shutil.copytree(fleetlib.PROJECT / "dags", source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (source / "user_scale_probe.py").write_text(USER_DAG)
    run = fleetlib.run_playbook("dags.yml", extra_vars={"airflow_dags_source": str(source)}, timeout=900)
    assert run.rc == 0, run.output[-3000:]
    releases = {name: served_release(name) for name in DAG_HOSTS}
    assert len(set(releases.values())) == 1, releases
    return releases["af-ctl1"]


@pytest.fixture(scope="module")
def joined(tmp_path_factory, user_release):
    """af-wk3 brought into service as a worker (and a second Flower) with --limit: neither uses the DB,
    so the DB host's access rules need no change and it stays out of the run."""
    before = {name: unit_starts(name) for name in OTHERS}
    inventory = inventory_with(tmp_path_factory.mktemp("join"), {NEW: ["airflow_workers", "airflow_flower"]})
    run = fleetlib.run_playbook("site.yml", "--limit", NEW, inventory=inventory, timeout=1800)
    assert run.rc == 0, run.output[-4000:]
    return inventory, before, run


def test_a_limited_run_brings_a_new_worker_into_service_and_restarts_nothing_else(joined, user_release, api):
    inventory, before, run = joined
    assert set(run.recap()) == {NEW}, run.recap()  # no other host was even in the run's recap
    assert {name: unit_starts(name) for name in OTHERS} == before
    assert served_release(NEW) == user_release
    # The task of a DAG only the user's release has, on the queue only the new worker consumes.
    api.wait_dag("user_scale_probe")
    run_id = api.trigger("user_scale_probe")
    assert api.wait_run("user_scale_probe", run_id) == "success"
    assert api.xcom("user_scale_probe", run_id, "where") == NEW


def test_a_full_run_afterwards_is_a_second_run_elsewhere_and_stops_a_component_taken_away(tmp_path, joined, user_release):
    """The next full site.yml, with Flower taken out of af-wk3's groups: it stops, disables and
    removes that unit there, leaves af-wk3's worker running, changes nothing on any other host and
    switches no DAG release. The fleet's second run: at -vvv, every host's command lines sampled."""
    _inventory, before, _run = joined
    assert unit_starts(NEW)["airflow-flower.service"].startswith("active@")
    worker_before = unit_starts(NEW)["airflow-worker.service"]
    with fleetlib.CommandLineSampler(OTHERS + [NEW]) as ps:
        run = fleetlib.run_playbook("site.yml", "-vvv", inventory=inventory_with(tmp_path, {NEW: ["airflow_workers"]}),
                                    timeout=1800)
    assert run.rc == 0, run.output[-4000:]
    assert "ESTABLISH DOCKER CONNECTION" in run.output  # really -vvv
    assert ps.ansible_seen > 0, f"{ps.samples} samples never saw Ansible at work"
    assert ps.leaked == set(), "a secret appeared on a command line during the run"
    recap = run.recap()
    assert set(recap) == set(OTHERS + [NEW]), recap
    changed = {host: counters.get("changed", 0) for host, counters in recap.items() if counters.get("changed")}
    assert set(changed) <= {NEW}, (changed, run.changed_tasks())
    assert {name: unit_starts(name) for name in OTHERS} == before
    assert {name: served_release(name) for name in DAG_HOSTS + [NEW]} == {name: user_release for name in DAG_HOSTS + [NEW]}
    state = subprocess.run(["docker", "exec", NEW, "systemctl", "show", "--property=LoadState,ActiveState,UnitFileState",
                            "airflow-flower"], capture_output=True, text=True, check=True).stdout.split()
    assert sorted(state) == ["ActiveState=inactive", "LoadState=not-found", "UnitFileState="], state
    left = subprocess.run(["docker", "exec", NEW, "sh", "-c", "ls /etc/systemd/system/airflow-flower.service "
                           "/etc/airflow/env/flower.env /etc/airflow/stamps/airflow-flower 2>/dev/null"],
                          capture_output=True, text=True, check=False).stdout
    assert left == "", left
    assert unit_starts(NEW)["airflow-worker.service"] == worker_before


def test_retire_without_naming_the_workers_is_refused_in_seconds(tmp_path, joined):
    before = {name: unit_starts(name) for name in OTHERS + [NEW]}
    run = fleetlib.run_playbook("retire.yml", inventory=inventory_with(tmp_path, {NEW: ["airflow_workers"]}), timeout=300)
    assert run.rc != 0
    assert "Name the workers to retire with --limit" in run.output, run.output[-2000:]
    assert {name: unit_starts(name) for name in OTHERS + [NEW]} == before


def test_retiring_a_worker_lets_its_running_task_finish_then_removes_it(tmp_path, joined, api):
    run_id = api.trigger("user_scale_probe", conf={"sleep_seconds": 45})
    api.wait_task_state("user_scale_probe", run_id, "where", "running", timeout=180)
    before = {name: unit_starts(name) for name in OTHERS}
    inventory = inventory_with(tmp_path, {NEW: ["airflow_workers"]})
    run = fleetlib.run_playbook("retire.yml", "--limit", NEW, inventory=inventory, timeout=900)
    assert run.rc == 0, run.output[-4000:]
    # The retire waited for the task: it had finished, on the retired worker, when the run ended.
    assert api.run_state("user_scale_probe", run_id) == "success"
    assert api.xcom("user_scale_probe", run_id, "where") == NEW
    assert not [unit for unit in unit_starts(NEW) if unit.startswith("airflow-")], unit_starts(NEW)
    left = subprocess.run(["docker", "exec", NEW, "sh", "-c", "ls /etc/systemd/system/airflow-* /etc/airflow/env 2>/dev/null"],
                          capture_output=True, text=True, check=False).stdout
    assert left == "", left
    assert {name: unit_starts(name) for name in OTHERS} == before

"""DAG rollouts across the fleet: a broken release is refused with file and
line while every host keeps serving the current one; a new release (from
git) is switched on all hosts at once and offered by the API right away; an
unchanged rollout changes nothing; a rollback retires what the release added."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid

import pytest
import testinfra

import fleetlib

DAG_HOSTS = ["af-ctl1", "af-ctl2", "af-wk1", "af-wk2"]
DAGS = fleetlib.PROJECT / "dags"


def current_releases() -> dict[str, str]:
    out = {}
    for name in DAG_HOSTS:
        host = testinfra.get_host(f"ansible://{name}", ansible_inventory=str(fleetlib.INVENTORY))
        out[name] = host.check_output("readlink /srv/airflow/dags/current")
    return out


@pytest.fixture(scope="module")
def api():
    return fleetlib.api('af-ctl1')


@pytest.fixture(scope="module")
def baseline():
    releases = current_releases()
    assert len(set(releases.values())) == 1, releases
    return releases


def importable(name: str, module: str) -> bool:
    """Whether a new process of the fleet's Airflow virtualenv on host `name` imports `module`
    (what every task and DAG parse on that host sees)."""
    probe = subprocess.run(["docker", "exec", name, "runuser", "-u", "airflow", "--", "/opt/airflow/venv/bin/python",
                            "-c", f"import {module}"], capture_output=True, text=True, check=False)
    return probe.returncode == 0


def copy_dags(tmp_path):
    source = tmp_path / "dags"
    shutil.copytree(DAGS, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return source


def visible_seconds(output: str) -> float:
    match = re.search(r"DAGs\s+offered\s+by\s+the\s+REST\s+API\s+([0-9.]+)s\s+after\s+the\s+switch", output)
    assert match, output[-3000:]
    return float(match.group(1))


def test_a_broken_release_is_refused_and_nothing_switches(tmp_path, api, baseline):
    source = copy_dags(tmp_path)
    (source / "fleet_broken.py").write_text("from airflow.sdk import dag\n\ndef broken(:\n    pass\n")
    # Its requirements are installed (into the release) before it is checked and refused.
    (source / "requirements.txt").write_text("pyjokes==0.8.3\n")
    # -vvv, failing: the refusal and everything before it prints no secret.
    run = fleetlib.run_playbook("dags.yml", "-vvv", extra_vars={"airflow_dags_source": str(source)}, timeout=600)
    assert run.rc != 0
    assert fleetlib.leaked_secrets(run.output) == []
    assert "fleet_broken.py:3" in run.output, run.output[-3000:]
    assert "no host switched" in run.output
    assert current_releases() == baseline
    # The refused release's packages were installed (into it, for its check)...
    refused = re.search(r"DAG release (r-[0-9a-f]{12}) from .* was refused", run.output).group(1)
    kept = subprocess.run(["docker", "exec", "af-ctl1", "test", "-f", f"/srv/airflow/dags/releases/{refused}/.python/pyjokes/__init__.py"],
                          check=False)
    assert kept.returncode == 0
    # ...and are nowhere a task or a DAG parse could import them.
    assert [name for name in DAG_HOSTS if importable(name, "pyjokes")] == []
    # and the running release still works
    api.wait_dag("fleet_smoke")
    run_id = api.trigger("fleet_smoke")
    assert api.wait_run("fleet_smoke", run_id) == "success"


def test_a_release_from_git_is_offered_on_every_host_at_once(tmp_path, api, baseline):
    repo = tmp_path / "repo"
    source = copy_dags(tmp_path)
    shutil.copytree(source, repo)
    dag_id = f"fleet_probe_{uuid.uuid4().hex[:8]}"
    # The new DAG imports a package only its release's requirements.txt brings.
    (repo / "requirements.txt").write_text("pyfiglet==1.0.4\n")
    (repo / "fleet_probe.py").write_text(
        "import pendulum\nimport pyfiglet\nfrom airflow.sdk import dag, task\n\n\n"
        f"@dag(dag_id='{dag_id}', schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz='UTC'))\n"
        "def probe():\n    @task\n    def hello():\n        return pyfiglet.__version__\n\n    hello()\n\n\nprobe()\n"
    )
    git = ["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "probe release"], check=True)

    extra = {"airflow_dags_git_url": f"file://{repo}", "airflow_dags_git_version": "main",
             "airflow_dags_git_cache": str(tmp_path / "clone")}
    run = fleetlib.run_playbook("dags.yml", "-vvv", extra_vars=extra, timeout=600)
    assert run.rc == 0, run.output[-3000:]
    assert fleetlib.leaked_secrets(run.output) == []  # -vvv, switching and syncing through the API
    seconds = visible_seconds(run.output)
    print(f"release visible {seconds}s after the switch")
    releases = current_releases()
    assert len(set(releases.values())) == 1, releases
    assert releases != baseline
    assert api.get(f"/api/v2/dags/{dag_id}")["is_stale"] is False
    api.wait_dag(dag_id)
    run_id = api.trigger(dag_id)
    assert api.wait_run(dag_id, run_id) == "success"
    assert api.xcom(dag_id, run_id, "hello") == "1.0.4"
    assert all(importable(name, "pyfiglet") for name in DAG_HOSTS)  # the release's packages, on every host

    again = fleetlib.run_playbook("dags.yml", extra_vars=extra, timeout=600)
    assert again.rc == 0, again.output[-3000:]
    assert again.changed() == 0, again.changed_tasks()

    rollback = fleetlib.run_playbook("dags.yml", extra_vars={"airflow_dags_rollback_to": "previous"}, timeout=600)
    assert rollback.rc == 0, rollback.output[-3000:]
    assert current_releases() == baseline
    assert [name for name in DAG_HOSTS if importable(name, "pyfiglet")] == []  # gone with the release
    deadline = time.monotonic() + 60
    while api.get("/api/v2/dags", params={"dag_id_pattern": dag_id})["total_entries"]:
        assert time.monotonic() < deadline, f"{dag_id} still offered after the rollback"
        time.sleep(1)


def test_rolling_out_the_repository_again_changes_nothing(baseline):
    run = fleetlib.run_playbook("dags.yml", timeout=600)
    assert run.rc == 0, run.output[-3000:]
    assert run.changed() == 0, run.changed_tasks()
    assert current_releases() == baseline

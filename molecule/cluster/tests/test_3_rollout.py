"""DAG rollouts across the fleet: a broken release (a file that does not import, a DAG the
serializer refuses) is refused with file and line while every host keeps serving the current
one; a release the API does not offer in time fails the run and every host is switched back; a
new release (from git, with its .airflowignore and without its other hidden files) is switched
on all hosts at once and offered by the API right away, while a DAG run that started on the
release before runs its later tasks on that release's code; an unchanged rollout changes nothing; a
rollback brings back the release served before and retires what the new one added."""

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
    # This one imports, but the DAG processor could not store it: its task's priority weight
    # strategy is a class no plugin registers, so the serializer refuses the DAG.
    (source / "fleet_unserializable.py").write_text(
        "import pendulum\nfrom airflow.sdk import dag, task\nfrom airflow.task.priority_strategy import PriorityWeightStrategy\n\n\n"
        "class NotRegistered(PriorityWeightStrategy):\n    def get_weight(self, ti):\n        return 1\n\n\n"
        "@dag(dag_id='fleet_unserializable', schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz='UTC'))\n"
        "def unserializable():\n    @task(weight_rule=NotRegistered())\n    def hello():\n        return 1\n\n    hello()\n\n\n"
        "unserializable()\n"
    )
    # Its requirements are installed (into the release) before it is checked and refused.
    (source / "requirements.txt").write_text("pyjokes==0.8.3\n")
    # -vvv, failing: the refusal and everything before it prints no secret.
    run = fleetlib.run_playbook("dags.yml", "-vvv", extra_vars={"airflow_dags_source": str(source)}, timeout=600)
    assert run.rc != 0
    assert fleetlib.leaked_secrets(run.output) == []
    assert "fleet_broken.py:3" in run.output, run.output[-3000:]
    flat = " ".join(run.output.split())  # the YAML result format folds long messages
    assert "fleet_unserializable.py:?: DAG fleet_unserializable cannot be serialized" in flat, run.output[-3000:]
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


def test_a_release_the_api_does_not_offer_in_time_fails_and_is_switched_back(tmp_path, api, baseline):
    """The release passes its check and every host switches, but with the DAG processors stopped
    nothing parses it: the run fails naming the missing DAG and switches every host back."""
    source = copy_dags(tmp_path)
    dag_id = f"fleet_unseen_{uuid.uuid4().hex[:8]}"
    (source / "fleet_unseen.py").write_text(
        "import pendulum\nfrom airflow.sdk import dag, task\n\n\n"
        f"@dag(dag_id='{dag_id}', schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz='UTC'))\n"
        "def unseen():\n    @task\n    def hello():\n        return 1\n\n    hello()\n\n\nunseen()\n"
    )
    processors = ["af-ctl1", "af-ctl2"]
    for name in processors:
        subprocess.run(["docker", "exec", name, "systemctl", "stop", "airflow-dag-processor"], check=True)
    try:
        run = fleetlib.run_playbook("dags.yml", extra_vars={"airflow_dags_source": str(source),
                                                            "airflow_dags_visible_timeout": 20}, timeout=600)
    finally:
        for name in processors:
            subprocess.run(["docker", "exec", name, "systemctl", "start", "airflow-dag-processor"], check=True)
    assert run.rc != 0
    flat = " ".join(run.output.split())  # the YAML result format folds long messages
    assert re.search(rf"did not offer exactly its DAGs within 20s: .* \(missing \[.{{1,2}}{dag_id}.{{1,2}}\]", flat), run.output[-3000:]
    assert "recorded no import error since the switch" in flat
    before = next(iter(baseline.values())).rsplit("/", 1)[-1]
    assert f"Every host was switched back to {before}" in flat, run.output[-3000:]
    assert "DAGs offered by the REST API" not in flat  # no success line
    assert current_releases() == baseline
    api.wait_dag("fleet_smoke")
    run_id = api.trigger("fleet_smoke")
    assert api.wait_run("fleet_smoke", run_id) == "success"


def test_a_release_from_git_is_offered_on_every_host_at_once(tmp_path, api, baseline):
    """Also: a run that spans the switch keeps its release. fleet_release's `hold` waits on a
    worker until that host's `current` leaves the release the task's own file came from (it
    would wait in vain, and fail, if tasks ran from `current`); its `report`, which starts
    after the switch, runs the code of the run's release, not the new one's."""
    repo = tmp_path / "repo"
    source = copy_dags(tmp_path)
    shutil.copytree(source, repo)
    old_release = next(iter(baseline.values())).rsplit("/", 1)[-1]
    api.wait_dag("fleet_release")
    # It stays in flight a minute after the switch: through the rest of the rollout.
    spanning = api.trigger("fleet_release", conf={"hold_until_switched": "/srv/airflow/dags/current",
                                                  "then_wait_seconds": 60})
    api.wait_task_state("fleet_release", spanning, "hold", "running", timeout=180)
    release_py = repo / "fleet_release.py"
    release_py.write_text(release_py.read_text().replace('RELEASE_MARK = "repository"', 'RELEASE_MARK = "from-git"'))
    dag_id = f"fleet_probe_{uuid.uuid4().hex[:8]}"
    # The new DAG imports a package only its release's requirements.txt brings.
    (repo / "requirements.txt").write_text("pyfiglet==1.0.4\n")
    (repo / "fleet_probe.py").write_text(
        "import pendulum\nimport pyfiglet\nfrom airflow.sdk import dag, task\n\n\n"
        f"@dag(dag_id='{dag_id}', schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz='UTC'))\n"
        "def probe():\n    @task\n    def hello():\n        return pyfiglet.__version__\n\n    hello()\n\n\nprobe()\n"
    )
    # Airflow's own ignore file ships with the release and keeps a file that cannot import out of
    # every parse (the pre-switch check's too); another hidden file stays on the controller.
    (repo / "scratch").mkdir()
    (repo / "scratch" / "half_written.py").write_text("from airflow.sdk import dag\n\ndef broken(:\n")
    (repo / ".airflowignore").write_text("scratch/\n")
    (repo / ".env.local").write_text("NOT_FOR_HOSTS=1\n")
    git = ["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "probe release"], check=True)

    # Keeping 2 releases, the rollout removes the three earlier ones (the empty release and the
    # two the tests before left), having asked which ones the runs in flight need.
    extra = {"airflow_dags_git_url": f"file://{repo}", "airflow_dags_git_version": "main",
             "airflow_dags_git_cache": str(tmp_path / "clone"), "airflow_dags_keep_releases": 2}
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
    # The run that spanned the switch ran every task on its own release, and says which.
    new_release = next(iter(releases.values())).rsplit("/", 1)[-1]
    assert api.wait_run("fleet_release", spanning, timeout=300) == "success", api.task_instances("fleet_release", spanning)
    assert api.get(f"/api/v2/dags/fleet_release/dagRuns/{spanning}")["bundle_version"] == old_release
    for task_id in ("first", "hold", "report"):
        ran = api.xcom("fleet_release", spanning, task_id)
        assert ran["mark"] == "repository" and ran["file"].startswith(f"/srv/airflow/dags/releases/{old_release}/"), (task_id, ran)
    flat = " ".join(run.output.split())  # the YAML result format folds long messages
    assert re.search(rf"DAG runs in flight need [^:]*{old_release}[^:]*: kept", flat), run.output[-3000:]
    for name in DAG_HOSTS:
        kept = subprocess.run(["docker", "exec", name, "ls", "/srv/airflow/dags/releases"], capture_output=True, text=True,
                              check=True).stdout.split()
        assert sorted(kept) == sorted([old_release, new_release]), (name, kept)
    # A new run takes the new release.
    fresh = api.trigger("fleet_release")
    assert api.wait_run("fleet_release", fresh) == "success", api.task_instances("fleet_release", fresh)
    assert api.get(f"/api/v2/dags/fleet_release/dagRuns/{fresh}")["bundle_version"] == new_release
    ran = api.xcom("fleet_release", fresh, "report")
    assert ran["mark"] == "from-git" and ran["file"].startswith(f"/srv/airflow/dags/releases/{new_release}/"), ran
    for name in DAG_HOSTS:
        shipped = subprocess.run(["docker", "exec", name, "find", "/srv/airflow/dags/current/", "-maxdepth", "1",
                                  "-name", ".*", "-printf", "%f\\n"], capture_output=True, text=True, check=True).stdout
        assert ".airflowignore" in shipped.split() and not {".env.local", ".git"} & set(shipped.split()), (name, shipped)
        assert subprocess.run(["docker", "exec", name, "test", "-f", "/srv/airflow/dags/current/scratch/half_written.py"],
                              check=False).returncode == 0, f"{name} lacks the ignored file: the test proves nothing"
    errors = api.get("/api/v2/importErrors")["import_errors"]
    assert [e["filename"] for e in errors if "half_written" in e["filename"]] == [], errors

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

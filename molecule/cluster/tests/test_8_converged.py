"""Last, on the fleet every other test left (scaled out and back, a host lost and back, a
rolling change, an upgrade): --check --diff changes nothing and playbooks/status.yml reports every unit healthy. (The scenario's second run, at -vvv
with every host's command lines sampled, is the full run of tests/test_5_scale.py, after the
rollouts, the pipeline runs and a scale-out; it has no Molecule idempotence step.) Then no secret
(the fleet's own, the TLS keys, the connections' passwords) is in any host's journal, on any
command line or in any world-readable file, and the generated secrets are private on the
controller. Every run the tests made had its output searched for them too (tests/fleetlib.py:
run_playbook)."""

from __future__ import annotations

import re
import stat
import subprocess

import pytest

import fleetlib
from test_7_rolling import CHANGE, NEW_VERSION

HOSTS = ["af-data", "af-ctl1", "af-ctl2", "af-wk1", "af-wk2"]
# What the inventory says now, with what the day-2 tests gave on the command line.
END_STATE = {**CHANGE, "airflow_version": NEW_VERSION}


def test_check_mode_on_the_converged_fleet_changes_nothing():
    # At the default verbosity: test_5_scale.py's second run is the one at -vvv (this one's output
    # is searched for secrets too, as every run's).
    run = fleetlib.run_playbook("site.yml", "--check", "--diff", extra_vars=END_STATE)
    assert run.rc == 0, run.output[-3000:]
    assert run.changed() == 0, run.changed_tasks()


def test_the_status_of_the_healthy_fleet_is_one_table_with_no_problem():
    run, text = fleetlib.status()
    assert run.rc == 0, run.output[-4000:]
    assert run.changed() == 0, run.changed_tasks()
    for host, units in {"af-data": ["postgresql@17-main", "redis-server"],
                        "af-ctl1": ["airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                                    "airflow-triggerer", "airflow-flower", "haproxy"],
                        "af-ctl2": ["airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                                    "airflow-triggerer", "haproxy"],
                        "af-wk1": ["airflow-worker", "haproxy"], "af-wk2": ["airflow-worker", "haproxy"]}.items():
        for unit in units:
            assert re.search(rf"{host} {re.escape(unit)} active/running \d+ ", text), (host, unit)
    for worker in ("af-wk1", "af-wk2"):
        assert re.search(rf"{worker} airflow-worker active/running \d+ online \(default\)", text), worker
        # Every Airflow host runs the upgraded release and has a clock offset measured.
        assert re.search(rf"{worker} {re.escape(NEW_VERSION)} r-\S+ \S+ [+-]\d+\.\d+s via Redis - ok", text), worker
    for control in ("af-ctl1", "af-ctl2"):
        assert re.search(rf"{control} {re.escape(NEW_VERSION)} r-\S+ \S+ [+-]\d+\.\d+s vs DB ok ok", text), control
    assert "af-data - - - +0.000s DB host - -" in text
    assert "Metadata DB schema up to date" in text and "DAG import errors 0" in text and "No problem." in text
    assert re.search(r"Scheduler heartbeats af-ctl1\S* \d+s ago, af-ctl2\S* \d+s ago", text), text[-3000:]


@pytest.mark.parametrize("name", HOSTS)
def test_no_secret_in_the_journal_on_a_command_line_or_in_a_world_readable_file(name):
    assert any(key.startswith("connection_password:") for key in fleetlib.fleet_secrets())  # they are looked for too
    journal = subprocess.run(["docker", "exec", name, "journalctl", "--no-pager", "-o", "cat"],
                             capture_output=True, text=True, check=True).stdout
    cmdlines = fleetlib.command_lines(name)
    assert "BECOME-SUCCESS" in journal or "Started" in journal  # the journal really holds something
    assert fleetlib.leaked_secrets(journal) == [], "a secret appears in the journal"
    assert fleetlib.leaked_secrets(cmdlines) == [], "a secret appears on a command line"
    assert fleetlib.world_readable_files_with_secrets(name) == []


def test_the_generated_secrets_are_private_on_the_controller():
    """Every secret the runs generated on the controller (the TLS keys included) is the controller
    user's alone (certificates are public), and the services' passwords are long random strings."""
    paths = [fleetlib.SECRETS, *sorted(fleetlib.SECRETS.rglob("*"))]
    assert {"db_password", "redis_password", "admin_password"} <= {path.name for path in paths}, paths
    assert any(path.suffix == ".key" for path in paths), paths  # the TLS keys are looked at too
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.suffix == ".crt":
            assert mode & 0o022 == 0, path
        else:
            assert mode == (0o700 if path.is_dir() else 0o600), path
    for name in ("db_password", "redis_password"):
        assert len((fleetlib.SECRETS / name).read_text().strip()) >= 32, name

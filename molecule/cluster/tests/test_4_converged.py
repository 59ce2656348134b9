"""Last, after every other test put the fleet back: a converged fleet is left
alone by a second run, in check mode too; and no secret (the fleet's seven, the
connections' passwords) is in any run's output at -vvv, a refused one included,
on any command line during a run, in any host's journal or in any world-readable
file of any host."""

from __future__ import annotations

import subprocess

import pytest

import fleetlib

HOSTS = ["af-data", "af-ctl1", "af-ctl2", "af-wk1", "af-wk2"]


def test_check_mode_on_the_converged_fleet_changes_nothing():
    with fleetlib.CommandLineSampler(HOSTS) as ps:
        run = fleetlib.run_playbook("site.yml", "--check", "--diff", "-vvv")
    assert run.rc == 0, run.output[-3000:]
    assert run.changed() == 0, run.changed_tasks()
    assert "ESTABLISH" in run.output  # really -vvv
    assert fleetlib.leaked_secrets(run.output) == []
    assert ps.ansible_seen > 0, f"{ps.samples} samples never saw Ansible at work"
    assert ps.leaked == set(), "a secret appeared on a command line during the run"


def test_a_refused_run_changes_nothing_and_prints_no_secret():
    """Bad input for the workers only: both are refused, and the hosts that passed stop too."""
    run = fleetlib.run_playbook("site.yml", "-vvv", extra_vars={"airflow_worker_queues": ["high priority"]})
    assert run.rc != 0
    for worker in ("af-wk1", "af-wk2"):
        assert f"airflow_worker_queues on {worker} must be a non-empty list" in run.output, run.output[-3000:]
    assert "Refused: af-wk1, af-wk2 failed the checks above. No host was changed." in run.output
    assert "PLAY [Shared services]" not in run.output and "PLAY [Run the PostgreSQL metadata DB]" not in run.output
    assert run.changed() == 0, run.changed_tasks()
    assert fleetlib.leaked_secrets(run.output) == []


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

"""The verifiers' reading of ansible-playbook output."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2] / "scripts")]

import fleetlib  # noqa: E402

OUTPUT = """
PLAY [Install] *****************************************************************

TASK [airflow : Render airflow.cfg] ********************************************
changed: [wk1]
ok: [wk2]

TASK [airflow : Install the airflow, airflow-env and airflow-health commands] ***
ok: [wk1]

PLAY RECAP *********************************************************************
wk1                        : ok=12   changed=1    unreachable=0    failed=0    skipped=3    rescued=0    ignored=0
wk2                        : ok=11   changed=0    unreachable=0    failed=1    skipped=3    rescued=0    ignored=0
"""


def test_recap_counts_per_host():
    run = fleetlib.PlaybookRun(2, OUTPUT)
    assert run.recap()["wk1"]["changed"] == 1
    assert run.recap()["wk2"]["failed"] == 1
    assert run.changed() == 1


def test_changed_tasks_are_named():
    assert fleetlib.PlaybookRun(0, OUTPUT).changed_tasks() == ["airflow : Render airflow.cfg"]


def test_a_run_without_recap_counts_no_change():
    assert fleetlib.PlaybookRun(250, "[ERROR]: boom").changed() == 0

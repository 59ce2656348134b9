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


def test_fleet_secrets_holds_every_generated_secret_and_literal_connection_passwords(tmp_path, monkeypatch):
    secrets, inventory = tmp_path / "secrets", tmp_path / "inventory"
    secrets.mkdir()
    (inventory / "group_vars").mkdir(parents=True)
    for name in fleetlib.GENERATED_SECRETS + ["fernet_key_seed", "index_token"]:
        (secrets / name).write_text(f"value-of-{name}\n")
    (inventory / "group_vars" / "all").write_text(
        "airflow_connections:\n"
        "  - {conn_id: literal, conn_type: aws, password: hunter2-literal}\n"
        "  - {conn_id: templated, conn_type: aws, password: \"{{ lookup('file', 'x') }}\"}\n"
    )
    monkeypatch.setattr(fleetlib, "SECRETS", secrets)
    monkeypatch.setattr(fleetlib, "INVENTORY", inventory)
    values = fleetlib.fleet_secrets()
    assert values["fernet_key"] == "dmFsdWUtb2YtZmVybmV0X2tleV9zZWVk"  # base64 of the seed, as hosts hold it
    assert values["index_token"] == "value-of-index_token"
    assert values["connection_password:literal"] == "hunter2-literal"
    assert not any("templated" in key for key in values)
    assert fleetlib.leaked_secrets("... hunter2-literal ...") == ["connection_password:literal"]


def test_each_scenario_writes_its_own_section_of_the_fault_table(tmp_path, monkeypatch):
    monkeypatch.setattr(fleetlib, "FAULT_DOC", tmp_path / "faults.md")
    fleetlib.record_faults("cluster", {"worker-host-lost": ("retried on wk2", "fault to retry", 71.4)},
                           intro="## Cluster")
    fleetlib.record_faults("default", {"worker-kill": ("retried", "fault to retry", 82)}, intro="## One host")
    fleetlib.record_faults("cluster", {"site-run-killed": ("converged", "re-run", 120)})
    fleetlib.record_faults("cluster", {"worker-host-lost": ("retried on wk1", "fault to retry", 65)})
    text = (tmp_path / "faults.md").read_text()
    assert text.index("## One host") < text.index("## Cluster"), "the single-host section comes first"
    cluster = text.split("<!-- cluster:begin -->")[1].split("<!-- cluster:end -->")[0]
    assert "| worker-host-lost | retried on wk1 | 65 (fault to retry) |" in cluster
    assert "retried on wk2" not in cluster and "| site-run-killed | converged | 120 (re-run) |" in cluster
    assert text.count("| worker-kill |") == 1 and text.count("## Cluster") == 1

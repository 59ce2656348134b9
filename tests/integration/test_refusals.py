"""Bad input is refused on the controller before any host is contacted.

site.yml runs at -vvv against inventories whose hosts cannot be reached (an address of
TEST-NET-1, which routes nowhere): every case of tests/bad_inputs.py that the first preflight
play can tell is refused with its message, and the output shows no attempt to connect to a
host (-vvv prints one for every connection; the positive control below sees it), no change and
no secret. The same for a five-host fleet whose two workers have bad input: both are named, and
the hosts that passed stop too. Needs no fleet: run beside the first scenario by scripts/test.sh.
The cases only a host can tell run in molecule/default/tests/test_solo.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

import bad_inputs

ROOT = Path(__file__).resolve().parents[2]
NOWHERE = "192.0.2.10"  # TEST-NET-1 (RFC 5737): never routed
CONNECTION_ATTEMPT = "ESTABLISH SSH CONNECTION"
CONNECTION_PASSWORD = "refusals-test-connection-password"


def base_vars(secrets: Path) -> dict:
    """The default scenario's settings, on hosts that cannot be reached."""
    return {
        "airflow_fleet_name": "refusals",
        "airflow_secrets_dir": str(secrets),
        "airflow_dags_source": str(ROOT / "dags"),
        "airflow_worker_concurrency": 4,
        "airflow_api_server_workers": 1,
        "airflow_connections": [{"conn_id": "fleet_probe", "conn_type": "postgres", "host": bad_inputs.HOST,
                                 "login": "probe", "password": CONNECTION_PASSWORD}],
        "ansible_host": NOWHERE,
        "ansible_user": "admin",
        "ansible_ssh_common_args": "-o ConnectTimeout=3 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
    }


def write_inventory(path: Path, groups: dict[str, list[str]], secrets: Path, host_vars: dict[str, dict] | None = None) -> Path:
    inventory = {"all": {"vars": base_vars(secrets),
                         "children": {g: {"hosts": {h: (host_vars or {}).get(h) for h in members}}
                                      for g, members in groups.items()}}}
    path.write_text(yaml.safe_dump(inventory))
    return path


def run(*args: str, inventory: Path, extra_vars: dict | None = None, command: str = "ansible-playbook") -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}  # the messages as JSON strings (bad_inputs.failure_message)
    cmd = [command, "-i", str(inventory), *args]
    if extra_vars is not None:
        cmd += ["-e", json.dumps(extra_vars)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False)


def secret_values(secrets: Path) -> dict[str, str]:
    values = {p.name: p.read_text().strip() for p in secrets.iterdir() if p.is_file()}
    values["connection_password"] = CONNECTION_PASSWORD
    return {k: v for k, v in values.items() if v}


def changed(output: str) -> int:
    return sum(int(n) for n in re.findall(r"\bchanged=(\d+)", output))


@pytest.fixture(scope="module")
def secrets(tmp_path_factory):
    return tmp_path_factory.mktemp("secrets")


@pytest.fixture(scope="module")
def refusals():
    seen: dict[str, dict] = {}
    yield seen
    if len(seen) == len(bad_inputs.NO_HOST):
        bad_inputs.write_section("controller", seen, {str(ROOT): "<checkout>"})


def test_the_positive_control_sees_a_connection_attempt(tmp_path, secrets):
    """What the refusals must not show, shown: a task on the same unreachable host at -vvv prints
    the attempt and ends unreachable."""
    inventory = write_inventory(tmp_path / "hosts.yml", {g: [bad_inputs.HOST] for g in bad_inputs.SOLO_GROUPS}, secrets)
    proc = run("-vvv", "-m", "ansible.builtin.ping", "all", inventory=inventory, command="ansible")
    assert proc.returncode != 0
    assert CONNECTION_ATTEMPT in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-2000:]
    assert "UNREACHABLE" in proc.stdout + proc.stderr


@pytest.mark.parametrize(("case_id", "extra_vars", "change", "expected"), bad_inputs.NO_HOST, ids=[c[0] for c in bad_inputs.NO_HOST])
def test_bad_input_is_refused_before_any_host_is_contacted(tmp_path, secrets, refusals, case_id, extra_vars, change, expected):
    groups, alias_vars = bad_inputs.variant_groups({g: [bad_inputs.HOST] for g in bad_inputs.SOLO_GROUPS}, change)
    inventory = write_inventory(tmp_path / "hosts.yml", groups, secrets, {bad_inputs.ALIAS: alias_vars} if alias_vars else None)
    started = time.monotonic()
    proc = run("-vvv", str(ROOT / "playbooks/site.yml"), inventory=inventory, extra_vars=extra_vars)
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    message = bad_inputs.failure_message(output, expected)
    assert message, output[-3000:]
    assert CONNECTION_ATTEMPT not in output and "UNREACHABLE" not in output, "a host was contacted"
    assert "PLAY [Check what only the hosts can tell]" not in output
    assert changed(output) == 0
    leaked = [name for name, value in secret_values(secrets).items() if value in output]
    assert leaked == [], f"secrets in the output: {leaked}"
    refusals[case_id] = {"message": message, "seconds": seconds}


def test_bad_input_for_some_hosts_of_a_fleet_stops_every_host(tmp_path, secrets):
    """The cluster scenario's shape: bad input for the two workers only. Both are named, the
    hosts that passed stop too, and no host is contacted."""
    control = ["af-ctl1", "af-ctl2"]
    groups = {"airflow_postgresql": ["af-data"], "airflow_redis": ["af-data"], "airflow_api_servers": control,
              "airflow_schedulers": control, "airflow_dag_processors": control, "airflow_triggerers": control,
              "airflow_flower": ["af-ctl1"], "airflow_workers": ["af-wk1", "af-wk2"]}
    inventory = write_inventory(tmp_path / "hosts.yml", groups, secrets)
    proc = run("-vvv", str(ROOT / "playbooks/site.yml"), inventory=inventory, extra_vars={"airflow_worker_queues": ["high priority"]})
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for worker in ("af-wk1", "af-wk2"):
        assert f"airflow_worker_queues on {worker} must be a non-empty list" in output, output[-3000:]
    assert "Refused: af-wk1, af-wk2 failed the checks above. No host was changed." in output
    assert CONNECTION_ATTEMPT not in output and "UNREACHABLE" not in output, "a host was contacted"
    assert "PLAY [Shared services]" not in output
    assert changed(output) == 0
    assert [name for name, value in secret_values(secrets).items() if value in output] == []

"""The modules as users call them: by FQCN from a playbook, with module_defaults for the
api group, shipped by Ansible (AnsiballZ with the collection's module_utils) to a Python
that is not the controller's, against the stand-in API. Runs in a few seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import conftest

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/fleetworks.airflow.api:
      api_url: "{base}"
      api_password: right-password
      api_retries: 0
  tasks:
    - fleetworks.airflow.airflow_pool: {{name: etl, slots: 3}}
    - fleetworks.airflow.airflow_connection:
        conn_id: warehouse
        conn_type: postgres
        password: conn-secret-1234
        extra: {{role_arn: "arn:aws:iam::1:role/x"}}
      register: conn
    - fleetworks.airflow.airflow_variable: {{key: bucket, value: s3://in}}
"""


def test_a_playbook_calls_the_modules_by_fqcn_with_the_api_group_defaults(airflow, tmp_path):
    fake, base = airflow
    (tmp_path / "play.yml").write_text(PLAYBOOK.format(base=base))
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")  # Ansible's defaults, not the checkout's
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(conftest._LINKS), ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"),
               ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_NOCOLOR="1")
    run = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-vvv",
                          str(tmp_path / "play.yml"), "-e", f"ansible_python_interpreter={sys.executable}"],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert fake.store["pools"]["etl"]["slots"] == 3
    assert fake.store["variables"]["bucket"]["value"] == "s3://in"
    assert fake.store["connections"]["warehouse"]["password"] == "conn-secret-1234"
    # The secrets went inside the module's arguments and are in no output, -vvv included.
    for secret in ("conn-secret-1234", "right-password", "arn:aws:iam::1:role/x"):
        assert secret not in run.stdout + run.stderr, secret
    stats = json.loads(run.stdout[run.stdout.index("{"):])["stats"]["localhost"]
    assert stats["changed"] == 3 and stats["failures"] == 0

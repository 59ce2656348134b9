"""The URLs the airflow role derives (metadata DB, broker, result backend, API), rendered by
Ansible itself from the role's defaults and vars with the settings a user gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROLE = Path(__file__).resolve().parents[3] / "roles" / "airflow"
PLAYBOOK = f"""
- hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - {ROLE}/defaults/main.yml
    - {ROLE}/vars/main.yml
  tasks:
    - ansible.builtin.copy:
        dest: "{{{{ out }}}}"
        content: "{{{{ {{'db': __airflow_db_url, 'broker': __airflow_broker_url, 'result': __airflow_result_backend_url,
                      'api': __airflow_api_base_url, 'celery': __airflow_config.celery}} | to_json }}}}"
"""
BASE = {"airflow_fleet_name": "t", "airflow_generate_secrets": False, "airflow_db_password": "pw",
        "airflow_redis_password": "rpw", "airflow_db_host": "db.internal", "airflow_redis_host": "cache.internal"}


def render(tmp_path, **settings) -> dict:
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    out = tmp_path / "out.json"
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"))
    extra = json.dumps({**BASE, **settings, "out": str(out), "ansible_python_interpreter": sys.executable})
    ansible_playbook = str(Path(sys.executable).parent / "ansible-playbook")
    run = subprocess.run([ansible_playbook, "-i", "localhost,", str(tmp_path / "play.yml"), "-e", extra],
                         capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 0, run.stdout[-2000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("broker, result", [
    ("redis://:p@cache:6379/0", "redis://:p@cache:6379/1"),
    ("redis://:p@cache:6379", "redis://:p@cache:6379/1"),
    # A managed broker's query (ElastiCache in-transit encryption) stays on the result backend's URL.
    ("rediss://:p@cache:6380/3?ssl_cert_reqs=required", "rediss://:p@cache:6380/1?ssl_cert_reqs=required"),
])
def test_the_result_backend_is_the_brokers_url_with_the_result_db(tmp_path, broker, result):
    assert render(tmp_path, airflow_broker_url=broker)["result"] == result


def test_tls_makes_every_client_verify_its_server(tmp_path):
    urls = render(tmp_path, airflow_tls=True)
    assert urls["db"].endswith("?sslmode=verify-full&sslrootcert=/etc/fleet-tls/ca.pem")
    assert urls["broker"] == "rediss://:rpw@cache.internal:6379/0"
    assert urls["result"] == "rediss://:rpw@cache.internal:6379/1?ssl_cert_reqs=required&ssl_ca_certs=/etc/fleet-tls/ca.pem"
    assert urls["celery"]["ssl_active"] == "True" and urls["celery"]["ssl_cacert"] == "/etc/fleet-tls/ca.pem"
    assert urls["api"].startswith("https://")


def test_without_tls_nothing_changes(tmp_path):
    urls = render(tmp_path)
    assert urls["db"].endswith("?sslmode=prefer") and urls["result"] == "redis://:rpw@cache.internal:6379/1"
    assert "ssl_active" not in urls["celery"] and urls["api"].startswith("http://")


def test_managed_services_verify_against_the_ca_bundle_given(tmp_path):
    """RDS with verify-full and its CA bundle; ElastiCache with in-transit encryption (no fleet CA)."""
    urls = render(tmp_path, airflow_db_sslmode="verify-full", airflow_tls_trusted_ca_file="/ctl/rds-global-bundle.pem",
                  airflow_redis_tls=True)
    assert urls["db"].endswith("?sslmode=verify-full&sslrootcert=/etc/fleet-tls/ca.pem")
    assert urls["result"].endswith("/1?ssl_cert_reqs=required&ssl_ca_certs=/etc/fleet-tls/ca.pem")
    assert urls["celery"]["ssl_cacert"] == "/etc/fleet-tls/ca.pem"
    system = render(tmp_path, airflow_broker_url="rediss://:p@master.cache.amazonaws.com:6379/0")
    assert system["celery"]["ssl_active"] == "True"
    assert system["celery"]["ssl_cacert"] == "/etc/ssl/certs/ca-certificates.crt"  # Amazon's roots are in it
    assert system["result"].endswith("/1?ssl_cert_reqs=required&ssl_ca_certs=/etc/ssl/certs/ca-certificates.crt")
    assert system["api"].startswith("http://")

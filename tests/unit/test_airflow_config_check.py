"""The airflow role's check of airflow_config_overrides against Airflow's config schema
(roles/airflow/files/airflow_config_check.py, run on the controller by preflight)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "roles/airflow/files/airflow_config_check.py"
spec = importlib.util.spec_from_file_location("airflow_config_check", CHECK)
airflow_config = importlib.util.module_from_spec(spec)
spec.loader.exec_module(airflow_config)
problems = airflow_config.airflow_config_problems

SCHEMA = json.loads((ROOT / "roles/airflow/files/config-3.3.2.json").read_text())
MANAGED = {"core.parallelism": "airflow_parallelism"}


def test_known_keys_pass():
    overrides = {"scheduler": {"task_instance_heartbeat_timeout": "60"}, "celery": {"worker_prefetch_multiplier": "1"}}
    assert problems(overrides, SCHEMA, MANAGED) == []


def test_free_form_transport_options_pass():
    assert problems({"celery_broker_transport_options": {"socket_keepalive": "True"}}, SCHEMA) == []


def test_a_typo_in_a_section_is_refused_with_the_nearest_name():
    [msg] = problems({"schedulr": {"parsing_processes": "2"}}, SCHEMA)
    assert "no section [schedulr]" in msg and '"scheduler"' in msg and "3.3.2" in msg


def test_a_typo_in_a_key_is_refused_with_the_nearest_name():
    [msg] = problems({"scheduler": {"task_instance_heartbeat_timout": "60"}}, SCHEMA)
    assert "no key task_instance_heartbeat_timout in [scheduler]" in msg
    assert '"task_instance_heartbeat_timeout"' in msg


def test_a_renamed_key_names_its_new_name():
    [msg] = problems({"scheduler": {"dag_dir_list_interval": "30"}}, SCHEMA)
    assert "renamed to dag_processor.refresh_interval" in msg


def test_a_renamed_key_the_collection_sets_names_the_variable():
    [msg] = problems({"webserver": {"base_url": "http://x"}}, SCHEMA, {"api.base_url": "airflow_api_base_url"})
    assert "webserver.base_url is api.base_url in Airflow 3" in msg and "use airflow_api_base_url" in msg


def test_a_managed_key_names_the_variable():
    [msg] = problems({"core": {"parallelism": "8"}}, SCHEMA, MANAGED)
    assert "use airflow_parallelism" in msg


@pytest.mark.parametrize("bad", [{"core": "executor=LocalExecutor"}, {"core": ["a"]}])
def test_a_section_that_is_not_a_mapping_is_refused(bad):
    [msg] = problems(bad, SCHEMA)
    assert "must be a mapping" in msg


def test_the_command_reads_stdin_and_prints_json():
    request = {"overrides": {"core": {"parallelism": "8"}, "api": {"workers": "2"}}, "managed": MANAGED}
    proc = subprocess.run([sys.executable, str(CHECK), str(ROOT / "roles/airflow/files/config-3.3.2.json")],
                          input=json.dumps(request), capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout) == ["airflow_config_overrides.core.parallelism is set by the collection: use airflow_parallelism"]

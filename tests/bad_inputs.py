"""The bad inputs the tests prove are refused by site.yml's preflight, and the table of
docs/bad-inputs.md written from those runs.

Most are refused by the first play, on the controller, before any host is contacted: the
no-host test (tests/integration/test_refusals.py) runs them against an inventory whose hosts
cannot be reached, and proves no connection was even tried. The cases that only a host can
tell (ON_HOST) run on the converged single host of the
default scenario (molecule/default/tests/test_solo.py), which proves nothing changed there:
no unit restarted, no file written."""

from __future__ import annotations

import json
import re
from pathlib import Path

HOST = "af-solo"
ALIAS = "af-solo-b"
SOLO_GROUPS = ["airflow_postgresql", "airflow_redis", "airflow_api_servers", "airflow_schedulers",
               "airflow_dag_processors", "airflow_triggerers", "airflow_workers", "airflow_flower"]
TASK_TIMEOUT = {"core": {"default_task_execution_timeout": 3600}}
OTHER_FERNET_KEY = "A" * 43 + "="

# (id, extra vars, inventory change, the message it must get).
BAD_INPUTS = [
    ("airflow-2", {"airflow_version": "2.10.5"}, None, "airflow_version=2.10.5"),
    ("not-a-boolean", {"airflow_tls": "maybe", "postgresql_backup_enabled": "2"}, None,
     f'airflow_tls="maybe", postgresql_backup_enabled="2" on {HOST}: a boolean setting takes true/false, yes/no or 1/0'),
    ("sqlite", {"airflow_db_url": "sqlite:////var/lib/airflow/airflow.db"}, None, "SQLite cannot serve several"),
    ("missing-fernet-key", {"airflow_generate_secrets": False, "airflow_fernet_key": ""}, None, "airflow_fernet_key is empty"),
    ("malformed-fernet-key", {"airflow_fernet_key": "not-a-key"}, None, "airflow_fernet_key must be 32 url-safe base64"),
    ("missing-redis-password", {"airflow_redis_password": ""}, None, "airflow_redis_password is empty"),
    ("fernet-key-cannot-decrypt", {"airflow_fernet_key": OTHER_FERNET_KEY}, None,
     "airflow_fernet_key cannot decrypt what the metadata DB holds encrypted (connections: fleet_probe"),
    ("unknown-installer", {"airflow_installer": "conda"}, None, "airflow_installer must be one of: uv, pip"),
    ("worker-in-no-queue", {"airflow_worker_queues": []}, None, f"airflow_worker_queues on {HOST} must be a non-empty list"),
    ("queue-name-with-spaces", {"airflow_worker_queues": ["high priority"]}, None,
     f"airflow_worker_queues on {HOST} must be a non-empty list of plain queue names"),
    ("negative-concurrency", {"airflow_worker_concurrency": -3}, None, f"airflow_worker_concurrency on {HOST} must be a whole number"),
    ("zero-db-pool", {"airflow_db_pool_size": 0}, None, f"airflow_db_pool_size on {HOST} must be a whole number of at least 1"),
    ("heartbeat-timeout-too-short", {"airflow_task_heartbeat_timeout": 5}, None,
     f"airflow_task_heartbeat_timeout on {HOST} must be a whole number of at least 20"),
    ("port-out-of-range", {"airflow_api_port": 80800}, None, f"airflow_api_port on {HOST} must be a whole number from 1 to 65535"),
    ("one-dag-release-kept", {"airflow_dags_keep_releases": 1}, None, f"airflow_dags_keep_releases on {HOST} must be at least 2"),
    ("stop-timeout-below-task-timeout", {"airflow_worker_stop_timeout": 60, "airflow_config_overrides": TASK_TIMEOUT}, None,
     f"airflow_worker_stop_timeout on {HOST} is 60 s, shorter than the 3600 s tasks may run"),
    ("config-section-typo", {"airflow_config_overrides": {"schedulr": {"parsing_processes": 2}}}, None,
     'has no section [schedulr] (did you mean "scheduler"?)'),
    ("config-key-typo", {"airflow_config_overrides": {"scheduler": {"task_instance_heartbeat_timout": 60}}}, None,
     'no key task_instance_heartbeat_timout in [scheduler] (did you mean "task_instance_heartbeat_timeout"?)'),
    ("config-managed-key", {"airflow_config_overrides": {"core": {"parallelism": 8}}}, None,
     "core.parallelism is set by the collection: use airflow_parallelism"),
    ("secret-in-config", {"airflow_config_overrides": {"database": {"sql_alchemy_conn": "postgresql://u:p@db/airflow"}}}, None,
     "must not hold secrets"),
    ("port-clash", {"airflow_flower_port": 8080, "airflow_redis_port": 8793}, None,
     f"Two listeners on one port of {HOST}: port 8080 is wanted by the API server (airflow_api_port) and Flower "
     "(airflow_flower_port); port 8793 is wanted by Redis (airflow_redis_port) and the worker's log server "
     "([logging] worker_log_server_port)."),
    ("api-url-with-path", {"airflow_api_base_url": f"http://{HOST}:8080/airflow"}, None,
     f"airflow_api_base_url on {HOST} must be scheme://host[:port] with no path"),
    ("unreachable-api", {"airflow_api_base_url": f"http://{HOST}:9"}, None, f"Worker {HOST} cannot reach the API server"),
    ("bind-address-of-another-host", {"airflow_flower_address": "192.0.2.77"}, None,
     f"Flower (airflow_flower_address) on {HOST} would bind to 192.0.2.77; this host's addresses are"),
    ("dag-source-missing", {"airflow_dags_source": "/nonexistent/dags"}, None,
     f"airflow_dags_source on {HOST} is /nonexistent/dags, which is not a directory on this controller"),
    ("external-db-and-db-host", {"airflow_db_url": "postgresql+psycopg2://airflow:pw@db.example.com:5432/airflow"}, None,
     "none when airflow_db_url or airflow_broker_url points the fleet at a managed service"),
    ("empty-scheduler-group", {}, {"drop": {"airflow_schedulers": HOST}}, "airflow_schedulers has 0 host(s)"),
    ("workers-without-api-server", {}, {"drop": {"airflow_api_servers": HOST}}, "airflow_api_servers has 0"),
    ("two-db-hosts", {}, {"alias": {"groups": ["airflow_postgresql"], "vars": {}}},
     f"airflow_postgresql holds {HOST}, {ALIAS} and airflow_redis {HOST}. Each of these groups takes at most one host"),
    ("mismatched-versions", {}, {"alias": {"groups": ["airflow_workers"], "vars": {"airflow_version": "3.2.1"}}},
     f"airflow_version must be the same on every Airflow host, but {ALIAS} has another value than {HOST}"),
    ("mismatched-fernet-key", {}, {"alias": {"groups": ["airflow_workers"], "vars": {"airflow_fernet_key": OTHER_FERNET_KEY}}},
     f"airflow_fernet_key must be the same on every Airflow host, but {ALIAS} has another value than {HOST}"),
]
# Only the hosts can tell these: the metadata DB (the key must decrypt what it holds), a worker's
# own view of the API server.
ON_HOST = {"fernet-key-cannot-decrypt", "unreachable-api", "bind-address-of-another-host"}
NO_HOST = [case for case in BAD_INPUTS if case[0] not in ON_HOST]
ON_A_HOST = [case for case in BAD_INPUTS if case[0] in ON_HOST]

DOC = Path(__file__).resolve().parents[1] / "docs" / "bad-inputs.md"
SECTIONS = {
    "controller": ("Refused on the controller: each run is a `site.yml` at `-vvv` against an inventory whose hosts cannot be\n"
                   "reached (tests/integration/test_refusals.py). None tried to connect to a host, and none printed a secret."),
    "host": ("Refused on a host: each run is a `site.yml` at `-vvv` on the converged single host of the `default`\n"
             "scenario (molecule/default/tests/test_solo.py). Each changed nothing there (no unit restarted, no file\n"
             "under the fleet's paths written) and printed no secret. Each needs the host: the controller cannot tell."),
}


def variant_groups(groups: dict[str, list[str]], change: dict | None) -> tuple[dict[str, list[str]], dict]:
    """A copy of the groups with a host dropped from some, or with ALIAS added to some; and the
    vars ALIAS gets of its own."""
    groups = {g: list(hosts) for g, hosts in groups.items()}
    change = change or {}
    for group, name in change.get("drop", {}).items():
        groups[group].remove(name)
    alias = change.get("alias")
    for group in alias["groups"] if alias else []:
        groups[group].append(ALIAS)
    return groups, (alias["vars"] if alias else {})


def failure_message(output: str, expected: str) -> str:
    """The refusal message (a task's msg) that holds the expected text."""
    for raw in re.findall(r'"msg": "((?:[^"\\]|\\.)*)"', output):
        try:
            message = json.loads(f'"{raw}"')
        except json.JSONDecodeError:  # a Python repr, not JSON
            message = raw
        if expected in message:
            return message
    return ""


def given(extra_vars: dict, change: dict | None) -> str:
    text = ", ".join(f"`{k}={json.dumps(v)}`" for k, v in extra_vars.items())
    if change and "drop" in change:
        text = ", ".join(f"{h} not in {g}" for g, h in change["drop"].items())
    elif change:
        text = (f"a second host in {', '.join(change['alias']['groups'])}"
                + "".join(f" with `{k}={json.dumps(v)}`" for k, v in change["alias"]["vars"].items()))
    return text


def write_section(section: str, seen: dict[str, dict], hide: dict[str, str]) -> None:
    """Write one section of docs/bad-inputs.md from the runs seen ({case: {message, seconds}}),
    keeping the other's. `hide` replaces paths of one machine with a placeholder."""
    text = DOC.read_text() if DOC.exists() else ""
    sections = {m.group(1): m.group(2) for m in re.finditer(r"<!-- (\w+):begin -->\n(.*?)<!-- \1:end -->\n", text, re.S)}
    rows = ["| case | input | refused with | seconds |", "|---|---|---|---|"]
    for case_id, extra_vars, change, _expected in BAD_INPUTS:
        if case_id not in seen:
            continue
        message = seen[case_id]["message"]
        for path, placeholder in hide.items():
            message = message.replace(path, placeholder)
        message = message.replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {case_id} | {given(extra_vars, change)} | {message} | {seen[case_id]['seconds']:.0f} |")
    sections[section] = SECTIONS[section] + "\n\n" + "\n".join(rows) + "\n"
    DOC.write_text(
        "# Bad input and what it gets\n\n"
        "<!-- Written by the tests that run these cases (tests/bad_inputs.py: write_section); do not edit. -->\n\n"
        f"{len(BAD_INPUTS)} bad inputs, each refused by `site.yml`'s preflight before any host is changed.\n"
        "The message is the run's own.\n"
        + "".join(f"\n<!-- {name}:begin -->\n{sections[name]}<!-- {name}:end -->\n" for name in SECTIONS if name in sections)
    )

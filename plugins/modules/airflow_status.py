#!/usr/bin/python
# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)

DOCUMENTATION = r"""
module: airflow_status
short_description: Report how this host's part of an Airflow fleet is doing, without changing anything
description:
  - Looks once at what runs on this host and returns it for C(playbooks/status.yml) to put in one table
    (M(fleetworks.airflow.airflow_status_report)).
  - Per systemd unit in I(units), its state, the restarts systemd made since the unit was loaded
    (C(NRestarts)) and since when it is active.
  - With I(venv), the Airflow version installed there and the virtualenv the link points to; with I(dags_root),
    the DAG release C(current) points to and its age.
  - With I(db_url), whether the metadata DB answers and this host's clock offset from the DB server's clock
    (the fleet's reference clock, measured NTP-style; half the query's round trip is the error bar). With I(fleet),
    also what holds for the whole fleet, read from the DB once (whether it needs migrating, each scheduler's
    last heartbeat, the DAG import errors).
  - With I(broker_url), whether the Celery broker (Redis) answers and this host's clock offset from its server.
  - With I(celery_hostname), asks that Celery worker which queues it consumes (an answer is its ping).
  - I(db_url) and I(broker_url) are secrets; they reach the module in its arguments, never on a command line.
    The DB and broker checks need the Airflow virtualenv's Python (SQLAlchemy, the DB driver, redis-py).
version_added: 0.3.0
author: Fleetworks engineers (@fleetworks)
extends_documentation_fragment:
  - fleetworks.airflow.read_only
  - fleetworks.airflow.host_cli
options:
  units:
    description: The systemd units to report (names without C(.service)).
    type: list
    elements: str
    default: []
  venv:
    description: The Airflow virtualenv's link (C(<airflow_install_dir>/venv)).
    type: path
  dags_root:
    description: The directory whose C(current) link names the active DAG release (C(airflow_dags_root)).
    type: path
  db_url:
    description: SQLAlchemy URL of the metadata DB.
    type: str
  fleet:
    description: Also read the fleet-wide facts from the metadata DB (needs I(db_url)); one host of the fleet does.
    type: bool
    default: false
  broker_url:
    description: The Celery broker's Redis URL (C(redis://) or C(rediss://)).
    type: str
  ca_file:
    description: CA bundle that a C(rediss://) broker's certificate is verified against.
    type: path
  connect_timeout:
    description: Seconds to wait for the DB, the broker and the worker's answer.
    type: int
    default: 5
"""

EXAMPLES = r"""
- name: How is this control host doing
  fleetworks.airflow.airflow_status:
    units: [airflow-api-server, airflow-scheduler]
    venv: /opt/airflow/venv
    dags_root: /opt/airflow/dags
    db_url: "{{ airflow_db_url }}"
  vars:
    ansible_python_interpreter: /opt/airflow/venv/bin/python
  register: status
"""

RETURN = r"""
units:
  description: Per unit, C(active) (systemd ActiveState), C(sub), C(restarts) (NRestarts) and C(since) (when it became active).
  returned: always
  type: dict
  sample: {"airflow-scheduler": {"active": "active", "sub": "running", "restarts": 0, "since": "Mon 2026-12-07 16:20:01 UTC"}}
airflow:
  description: C(version) and C(venv) (the resolved virtualenv), when I(venv) is given and exists.
  returned: always
  type: dict
dags:
  description: C(release) and C(age) (seconds since the switch), when I(dags_root) is given.
  returned: always
  type: dict
db:
  description: C(ok), C(error), C(offset) and C(error_bar) (seconds; this host's clock minus the DB server's), when I(db_url) is given.
  returned: always
  type: dict
broker:
  description: C(ok), C(error), C(offset) and C(error_bar) (seconds; this host's clock minus Redis'), when I(broker_url) is given.
  returned: always
  type: dict
worker:
  description: C(ok), C(queues) and C(error), when I(celery_hostname) is given.
  returned: always
  type: dict
fleet:
  description:
    - With I(fleet), C(migration_pending), C(db_revisions), C(heads), C(schedulers) (per scheduler host, seconds since its
      newest running job's heartbeat) and C(import_errors) (count and up to 5 files).
  returned: always
  type: dict
"""

import glob
import json
import os
import time

from datetime import timezone

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_db import (
    db_connection, migration_heads, migration_texts, schema_revisions)

SCHEDULERS_QUERY = ("SELECT hostname, max(latest_heartbeat) FROM job WHERE job_type = 'SchedulerJob' "
                    "AND state = 'running' GROUP BY hostname")


def first_line(error):
    text = str(getattr(error, "orig", None) or error).strip()
    return (text.splitlines() or [type(error).__name__])[0][:200]


def unit_states(run, units):
    """{unit: {active, sub, restarts, since}} from one `systemctl show` for all units."""
    if not units:
        return {}
    rc, out, err = run(["systemctl", "show", "--property=Id,ActiveState,SubState,NRestarts,ActiveEnterTimestamp"]
                       + [u + ".service" for u in units])
    blocks = [dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
              for block in out.strip().split("\n\n")]
    states = {}
    for unit, block in zip(units, blocks + [{}] * (len(units) - len(blocks))):
        restarts = block.get("NRestarts", "")
        states[unit] = {"active": block.get("ActiveState", "unknown"), "sub": block.get("SubState", ""),
                        "restarts": int(restarts) if restarts.isdigit() else None,
                        "since": block.get("ActiveEnterTimestamp", "")}
    return states


def airflow_install(venv):
    """The Airflow version in the virtualenv and the directory its link resolves to."""
    if not venv or not os.path.exists(venv):
        return {}
    found = sorted(glob.glob(os.path.join(venv, "lib", "python*", "site-packages", "apache_airflow-*.dist-info")))
    version = os.path.basename(found[-1])[len("apache_airflow-"):-len(".dist-info")] if found else ""
    return {"version": version, "venv": os.path.realpath(venv)}


def dag_release(dags_root, now):
    """The release `current` points to and the seconds since the link was made (the switch)."""
    if not dags_root:
        return {}
    link = os.path.join(dags_root, "current")
    try:
        return {"release": os.path.basename(os.readlink(link).rstrip("/")), "age": round(now - os.lstat(link).st_mtime)}
    except OSError:
        return {"release": "", "age": None}


def clock_offset(ask, clock=time.time):
    """(offset, error bar) of this host's clock from a server's: `ask()` returns the server's time in
    epoch seconds; the server read it somewhere within the round trip, so its midpoint is the estimate."""
    before = clock()
    server = ask()
    after = clock()
    return round((before + after) / 2 - server, 3), round((after - before) / 2, 3)


def db_status(db_url, timeout, fleet, now):
    import sqlalchemy

    report = {"ok": False}
    facts = {}
    try:
        with db_connection(db_url, timeout) as conn:
            def ask():
                return float(conn.execute(sqlalchemy.text("SELECT extract(epoch FROM clock_timestamp())")).scalar())

            ask()  # the first query pays for the session's setup
            report["offset"], report["error_bar"] = clock_offset(ask)
            report["ok"] = True
            if fleet:
                facts = fleet_facts(conn, sqlalchemy, now)
    except Exception as error:  # pylint: disable=broad-except  # a DB that does not answer is the report
        report["error"] = first_line(error)
    return report, facts


def fleet_facts(conn, sqlalchemy, now):
    tables = sqlalchemy.inspect(conn).get_table_names()
    revisions = schema_revisions(conn)
    try:
        heads = migration_heads(migration_texts())
    except ImportError:
        heads = []
    schedulers = {}
    if "job" in tables:
        for host, beat in conn.execute(sqlalchemy.text(SCHEDULERS_QUERY)).fetchall():
            if beat is not None:
                stamp = (beat if beat.tzinfo else beat.replace(tzinfo=timezone.utc)).timestamp()
                schedulers[host] = round(now - stamp, 1)
    errors = {"count": 0, "files": []}
    if "import_error" in tables:
        rows = conn.execute(sqlalchemy.text("SELECT filename FROM import_error ORDER BY filename")).fetchall()
        errors = {"count": len(rows), "files": [row[0] for row in rows[:5]]}
    return {"db_revisions": revisions, "heads": heads, "migration_pending": revisions != heads,
            "schedulers": schedulers, "import_errors": errors}


def broker_status(broker_url, ca_file, timeout):
    report = {"ok": False}
    try:
        import redis

        options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        if broker_url.startswith("rediss://") and ca_file:
            options["ssl_ca_certs"] = ca_file
        client = redis.Redis.from_url(broker_url, **options)
        try:
            client.ping()

            def ask():
                seconds, micros = client.time()
                return seconds + micros / 1e6

            report["offset"], report["error_bar"] = clock_offset(ask)
            report["ok"] = True
        finally:
            client.close()
    except Exception as error:  # pylint: disable=broad-except  # a broker that does not answer is the report
        report["error"] = first_line(error)
    return report


def worker_status(run, params):
    """The queues the worker consumes, from its answer to `celery inspect active_queues`."""
    node = params["celery_hostname"]
    rc, out, err = run(list(params["cli_prefix"]) + [
        "celery", "--app", params["celery_app"], "inspect", "active_queues", "--json",
        "--timeout", str(params["connect_timeout"]), "--destination", node])
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            try:
                replies = json.loads(line)
            except ValueError:
                break
            queues = replies.get(node)
            if queues is not None:
                return {"ok": True, "queues": sorted(q.get("name", "") for q in queues)}
    lines = (out + err).strip().splitlines()
    return {"ok": False, "queues": [], "error": lines[-1][:200] if lines else "no answer (rc %s)" % rc}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            units=dict(type="list", elements="str", default=[]),
            venv=dict(type="path"),
            dags_root=dict(type="path"),
            db_url=dict(type="str", no_log=True),
            fleet=dict(type="bool", default=False),
            broker_url=dict(type="str", no_log=True),
            ca_file=dict(type="path"),
            celery_hostname=dict(type="str"),
            celery_app=dict(type="str", default="airflow.providers.celery.executors.celery_executor.app"),
            cli_prefix=dict(type="list", elements="str", default=["/usr/local/sbin/airflow-env"]),
            connect_timeout=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    params = module.params
    now = time.time()
    result = dict(changed=False, units=unit_states(module.run_command, params["units"]),
                  airflow=airflow_install(params["venv"]), dags=dag_release(params["dags_root"], now),
                  db={}, broker={}, worker={}, fleet={})
    if params["db_url"]:
        result["db"], result["fleet"] = db_status(params["db_url"], params["connect_timeout"], params["fleet"], now)
    if params["broker_url"]:
        result["broker"] = broker_status(params["broker_url"], params["ca_file"], params["connect_timeout"])
    if params["celery_hostname"]:
        result["worker"] = worker_status(module.run_command, params)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

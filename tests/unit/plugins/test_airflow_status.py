"""The fleet status (playbooks/status.yml) through its logic: what the per-host look makes of
systemctl's, Celery's and the clocks' answers, and the table and problems the report writes from
a healthy fleet and from one with a stopped component, a silent worker, a skewed clock, a DB that
needs migrating and import errors. The looks themselves run on the cluster scenario's fleet
(molecule/cluster/tests/test_6_ha.py, test_8_converged.py)."""

from __future__ import annotations

import copy
import json
import os

from ansible_collections.fleetworks.airflow.plugins.modules import airflow_status, airflow_status_report

SHOW = """Id=airflow-scheduler.service
ActiveState=active
SubState=running
NRestarts=2
ActiveEnterTimestamp=Mon 2026-12-07 16:20:01 UTC

Id=airflow-worker.service
ActiveState=inactive
SubState=dead
NRestarts=0
ActiveEnterTimestamp=
"""


def test_one_systemctl_call_gives_every_units_state_and_restarts():
    calls = []

    def run(argv):
        calls.append(argv)
        return 0, SHOW, ""

    states = airflow_status.unit_states(run, ["airflow-scheduler", "airflow-worker"])
    assert len(calls) == 1 and calls[0][-2:] == ["airflow-scheduler.service", "airflow-worker.service"]
    assert states["airflow-scheduler"] == {"active": "active", "sub": "running", "restarts": 2,
                                           "since": "Mon 2026-12-07 16:20:01 UTC"}
    assert states["airflow-worker"]["active"] == "inactive" and states["airflow-worker"]["restarts"] == 0


def test_the_clock_offset_is_taken_at_the_round_trips_midpoint():
    ticks = iter([100.0, 100.4])
    offset, error_bar = airflow_status.clock_offset(lambda: 97.0, clock=lambda: next(ticks))
    assert (offset, error_bar) == (3.2, 0.2)


def test_the_dag_release_is_the_current_links_target_and_its_age(tmp_path):
    (tmp_path / "releases" / "r-abc").mkdir(parents=True)
    os.symlink("releases/r-abc", tmp_path / "current")
    made = os.lstat(tmp_path / "current").st_mtime
    assert airflow_status.dag_release(str(tmp_path), made + 3725) == {"release": "r-abc", "age": 3725}
    assert airflow_status.dag_release(str(tmp_path / "nowhere"), made) == {"release": "", "age": None}


def test_a_workers_queues_come_from_its_answer_and_silence_is_an_error():
    params = {"celery_hostname": "celery@wk1", "cli_prefix": ["/usr/local/sbin/airflow-env"],
              "celery_app": "app", "connect_timeout": 5}
    answer = json.dumps({"celery@wk1": [{"name": "default"}, {"name": "high"}]})
    seen = airflow_status.worker_status(lambda argv: (0, "some log line\n" + answer + "\n", ""), params)
    assert seen == {"ok": True, "queues": ["default", "high"]}
    silent = airflow_status.worker_status(lambda argv: (1, "", "Error: No nodes replied within time constraint\n"), params)
    assert silent["ok"] is False and "No nodes replied" in silent["error"]


def unit(active="active", sub="running", restarts=0):
    return {"active": active, "sub": sub, "restarts": restarts, "since": ""}


def look(units, health=None, db_offset=None, broker_offset=0.01, worker=None, fleet=None):
    return {"units": units, "airflow": {"version": "3.3.2", "venv": "/opt/airflow/venv-3.3.2"},
            "dags": {"release": "r-abc", "age": 600},
            "db": {"ok": True, "offset": db_offset, "error_bar": 0.001} if db_offset is not None else {},
            "broker": {"ok": True, "offset": broker_offset, "error_bar": 0.001},
            "worker": worker or {}, "fleet": fleet or {}, "health": health or {}}


FLEET_FACTS = {"migration_pending": False, "db_revisions": ["h1"], "heads": ["h1"],
               "schedulers": {"ctl1": 2.0}, "import_errors": {"count": 0, "files": []}}


def healthy_fleet():
    return {
        "data": {"groups": ["airflow_postgresql", "airflow_redis"],
                 "postgresql": {"units": {"postgresql@17-main": unit()}}, "redis": {"units": {"redis-server": unit()}}},
        "ctl1": {"groups": ["airflow_api_servers", "airflow_schedulers"],
                 "airflow": look({"airflow-api-server": unit(), "airflow-scheduler": unit(restarts=1), "haproxy": unit()},
                                 health={"api_server": {"healthy": True, "seen": "metadatabase healthy"},
                                         "scheduler": {"healthy": True, "seen": "HTTP 200"}},
                                 db_offset=0.02, broker_offset=0.03, fleet=FLEET_FACTS)},
        "wk1": {"groups": ["airflow_workers"],
                "airflow": look({"airflow-worker": unit(), "haproxy": unit()},
                                worker={"ok": True, "queues": ["default"]}, broker_offset=-0.5)},
    }


def test_a_healthy_fleet_has_a_row_per_unit_and_no_problem():
    lines, problems = airflow_status_report.build(healthy_fleet(), db_host="data", redis_host="data")
    assert problems == []
    text = "\n".join(lines)
    for row in ("postgresql@17-main", "redis-server", "airflow-api-server", "airflow-scheduler", "airflow-worker"):
        assert row in text
    assert "online (default)" in text
    assert "Metadata DB schema up to date (h1)" in lines
    assert "DAG import errors 0" in lines
    assert "Virtualenv /opt/airflow/venv-3.3.2 on ctl1, wk1" in lines
    assert max(len(line) for line in lines if line.startswith(("HOST", "ctl1", "wk1", "data"))) <= 80
    assert lines[-1] == "No problem."
    # Redis is 0.01 s behind the DB's clock as ctl1 sees both; the worker is placed through it.
    worker_row = next(line for line in lines if line.startswith("wk1 ") and "3.3.2" in line).split()
    assert worker_row == ["wk1", "3.3.2", "r-abc", "10m", "-0.510s", "via", "Redis", "-", "ok"]


def test_a_stopped_component_a_silent_worker_and_a_skewed_clock_are_named_with_what_shows_more():
    hosts = healthy_fleet()
    hosts["ctl1"]["airflow"]["units"]["airflow-scheduler"] = unit("inactive", "dead")
    hosts["ctl1"]["airflow"]["health"]["scheduler"] = {"healthy": False, "seen": "HTTP 0 connection refused"}
    hosts["ctl1"]["airflow"]["fleet"] = dict(FLEET_FACTS, schedulers={"ctl1": 95.0})
    hosts["wk1"]["airflow"]["worker"] = {"ok": False, "queues": [], "error": "No nodes replied"}
    hosts["wk1"]["airflow"]["broker"]["offset"] = 4.0
    lines, problems = airflow_status_report.build(hosts, db_host="data", redis_host="data")
    assert "airflow-scheduler on ctl1 is inactive/dead: journalctl -u airflow-scheduler -n 50 --no-pager (on ctl1)" in problems
    assert any(p.startswith("The scheduler on ctl1 has no heartbeat in the last 30 s") for p in problems)
    assert any(p.startswith("airflow-worker on wk1 runs but is not healthy (no Celery answer: No nodes replied)") for p in problems)
    assert any(p.startswith("wk1's clock is +4.0 s off the metadata DB's") and "(on wk1)" in p for p in problems)
    assert len(problems) == 4, problems
    assert lines[-1] == "4 problem(s), each named below with what shows more."


def test_a_db_that_needs_migrating_import_errors_and_a_host_not_looked_at_are_problems():
    hosts = healthy_fleet()
    hosts["ctl1"]["airflow"]["fleet"] = dict(FLEET_FACTS, migration_pending=True, db_revisions=["h0"],
                                             import_errors={"count": 2, "files": ["/dags/a.py", "/dags/b.py"]})
    hosts["ctl1"]["groups"].append("airflow_dag_processors")
    hosts["wk2"] = {"groups": ["airflow_workers"], "error": "no answer (unreachable?)"}
    lines, problems = airflow_status_report.build(copy.deepcopy(hosts), db_host="data", redis_host="data")
    assert any("needs migrating (DB at h0, Airflow needs h1): ansible-playbook playbooks/site.yml" in p for p in problems)
    assert "2 DAG file(s) fail to import (/dags/a.py, /dags/b.py): airflow dags list-import-errors (on ctl1)" in problems
    assert "wk2 could not be looked at: no answer (unreachable?)" in problems
    assert len(problems) == 3, problems


def test_a_run_limited_to_a_worker_measures_its_clock_against_redis_and_reads_no_fleet_facts():
    hosts = {"wk1": healthy_fleet()["wk1"]}
    lines, problems = airflow_status_report.build(hosts, db_host="data", redis_host="data")
    assert problems == []
    assert [line for line in lines if line.startswith("wk1 ") and "3.3.2" in line][0].split()[4:7] == ["-0.500s", "vs", "Redis"]
    assert "The fleet-wide facts were not read (no host of this run reaches the metadata DB)." in lines

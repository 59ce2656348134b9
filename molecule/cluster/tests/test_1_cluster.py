"""A five-host fleet: every component runs exactly where the inventory says,
both control hosts serve the API with the same keys, and DAG runs go through
Celery to the worker hosts and spread over both of them."""

from __future__ import annotations

from collections import Counter

import pytest
import requests

import fleetlib

GROUPS = {
    "af-data": {"airflow_postgresql", "airflow_redis"},
    "af-ctl1": {"api_servers", "schedulers", "dag_processors", "triggerers", "flower"},
    "af-ctl2": {"api_servers", "schedulers", "dag_processors", "triggerers"},
    "af-wk1": {"workers"},
    "af-wk2": {"workers"},
}
UNIT_GROUP = {
    "airflow-api-server": "api_servers",
    "airflow-scheduler": "schedulers",
    "airflow-dag-processor": "dag_processors",
    "airflow-triggerer": "triggerers",
    "airflow-worker": "workers",
    "airflow-flower": "flower",
}
WORKERS = ["af-wk1", "af-wk2"]
CONTROL = ["af-ctl1", "af-ctl2"]


def ansible_host(name):
    import testinfra

    return testinfra.get_host(f"ansible://{name}", ansible_inventory=str(fleetlib.INVENTORY))


@pytest.fixture(scope="module")
def hosts():
    return {name: ansible_host(name) for name in GROUPS}


@pytest.fixture(scope="module")
def apis():
    return {name: fleetlib.api(name) for name in CONTROL}


@pytest.mark.parametrize("name", list(GROUPS))
def test_components_run_exactly_where_the_inventory_says(hosts, name):
    host = hosts[name]
    for unit, group in UNIT_GROUP.items():
        service = host.service(unit)
        if group in GROUPS[name]:
            assert service.is_running, host.run(f"journalctl -u {unit} -n 30 --no-pager").stdout
            assert service.is_enabled
        else:
            assert not host.file(f"/etc/systemd/system/{unit}.service").exists, f"{unit} installed on {name}"


def test_api_refuses_anonymous_on_every_api_server():
    for name in CONTROL:
        resp = requests.get(fleetlib.api_url(name) + "/api/v2/dags", timeout=30, verify=fleetlib.tls_ca() or True)
        assert resp.status_code == 401, name


def test_a_token_from_one_api_server_works_on_the_other(apis):
    """Both API servers share the JWT secret: no random 403s behind a load balancer."""
    token = apis["af-ctl2"].token
    resp = requests.get(
        fleetlib.api_url("af-ctl1") + "/api/v2/dags",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        verify=fleetlib.tls_ca() or True,
    )
    assert resp.status_code == 200


def test_both_schedulers_are_alive(apis):
    jobs = apis["af-ctl1"].get("/api/v2/jobs", job_type="SchedulerJob", is_alive="true", limit=50)["jobs"]
    assert {job["hostname"] for job in jobs} >= set(CONTROL)


def test_flower_refuses_anonymous_and_lists_both_workers():
    base = fleetlib.api_url("af-ctl1", 5555)
    assert fleetlib.flower_workers(base, None).status_code == 401
    resp = fleetlib.flower_workers(base, ("flower", fleetlib.secret("flower_password")))
    assert resp.status_code == 200
    assert {f"celery@{w}" for w in WORKERS} <= set(resp.json())


def test_smoke_dag_runs_on_a_worker_host_and_its_log_is_readable(apis):
    api = apis["af-ctl2"]
    api.wait_dag("fleet_smoke")
    run_id = api.trigger("fleet_smoke")
    assert api.wait_run("fleet_smoke", run_id) == "success"
    [ti] = api.task_instances("fleet_smoke", run_id)
    assert ti["hostname"] in WORKERS
    assert api.xcom("fleet_smoke", run_id, "report_worker") == ti["hostname"]
    # The API server fetches the log from the worker's log server, which
    # checks the request's signature: [api] secret_key agrees fleet-wide.
    log = api.get(f"/api/v2/dags/fleet_smoke/dagRuns/{run_id}/taskInstances/report_worker/logs/1", full_content="true")
    text = str(log["content"])
    assert f"Returned value was: {ti['hostname']}" in text


def test_fanout_spreads_over_both_workers(apis):
    api = apis["af-ctl1"]
    api.wait_dag("fleet_fanout")
    run_id = api.trigger("fleet_fanout")
    assert api.wait_run("fleet_fanout", run_id, timeout=600) == "success"
    work = [ti for ti in api.task_instances("fleet_fanout", run_id) if ti["task_id"] == "work"]
    by_host = Counter(ti["hostname"] for ti in work)
    assert set(by_host) == set(WORKERS), by_host
    tally = api.xcom("fleet_fanout", run_id, "tally")
    assert tally == dict(by_host)


@pytest.mark.parametrize("name", WORKERS)
def test_workers_hold_only_the_secrets_they_need(hosts, name):
    files = hosts[name].run("cat /etc/airflow/env/*.env /etc/airflow/airflow.cfg").stdout
    assert "AIRFLOW__CELERY__BROKER_URL" in files
    for forbidden in ["db_password", "jwt_secret"]:
        assert fleetlib.secret(forbidden) not in files, f"{forbidden} on {name}"
    assert "FERNET_KEY" not in files


@pytest.mark.parametrize("name", WORKERS)
def test_the_db_host_refuses_workers_even_with_the_password(hosts, name):
    """Workers never use the metadata DB in Airflow 3, so pg_hba.conf has no line for them: a login
    from a worker with the right password is refused by the DB host's rules, not by the password."""
    probe = (
        "import os, psycopg2\n"
        "try:\n"
        "    psycopg2.connect(host='af-data', dbname='airflow', user='airflow', password=os.environ['PW'],\n"
        "                     connect_timeout=10)\n"
        "    print('connected')\n"
        "except psycopg2.OperationalError as error:\n"
        "    print(error)\n"
    )
    # Not /tmp: on Debian 13 it is a tmpfs over what docker cp writes.
    fleetlib.put_file(name, "/root/db_probe.py", probe, "0600")
    fleetlib.put_file(name, "/root/db_probe.env", f"PW={fleetlib.secret('db_password')}\n", "0600")
    out = hosts[name].run("set -a; . /root/db_probe.env; /opt/airflow/venv/bin/python /root/db_probe.py; "
                          "rm -f /root/db_probe.py /root/db_probe.env").stdout
    assert "no pg_hba.conf entry for host" in out, out
    hba = hosts["af-data"].run("cat /etc/postgresql/*/main/pg_hba.conf").stdout
    assert "# af-ctl1" in hba and "# af-ctl2" in hba
    assert "# af-wk" not in hba


def test_jwt_secret_only_on_api_and_scheduler_hosts(hosts):
    jwt = fleetlib.secret("jwt_secret")
    for name, host in hosts.items():
        files = host.run("cat /etc/airflow/env/*.env 2>/dev/null").stdout
        assert (jwt in files) == (name in CONTROL), name

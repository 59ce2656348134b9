"""PostgreSQL and Redis as a fleet uses them, proven from other hosts on the
network: a fleet host logs in and writes, a wrong password and a host outside
the fleet are refused, broker data survives a restart."""

from __future__ import annotations

import os
import stat
import uuid

import pytest
import testinfra

import fleetlib

DB_HOSTS = ["svc-db12", "svc-db13"]


def connect(name):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=str(fleetlib.INVENTORY))


@pytest.fixture(scope="module")
def client():
    return connect("svc-client")


@pytest.fixture(scope="module")
def outsider():
    return connect("svc-outsider")


def psql(host, db_host, password, sql):
    return host.run(
        "PGCONNECT_TIMEOUT=5 PGPASSWORD=%s psql -h %s -U airflow -d airflow -v ON_ERROR_STOP=1 -Atc %s",
        password,
        db_host,
        sql,
    )


@pytest.mark.parametrize("db", DB_HOSTS)
def test_fleet_host_logs_in_and_creates_a_table(client, db):
    table = f"probe_{uuid.uuid4().hex[:8]}"
    result = psql(
        client,
        db,
        fleetlib.secret("db_password"),
        f"CREATE TABLE {table} (id int primary key); INSERT INTO {table} VALUES (42); SELECT id FROM {table};",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "42"


@pytest.mark.parametrize("db", DB_HOSTS)
def test_password_is_stored_as_scram(db):
    out = connect(db).check_output(
        "runuser -u postgres -- psql -Atc \"SELECT rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid WHERE rolname='airflow'\""
    )
    assert out.strip() == "t"


@pytest.mark.parametrize("db", DB_HOSTS)
def test_wrong_password_is_refused(client, db):
    result = psql(client, db, "not-the-password", "SELECT 1")
    assert result.rc != 0
    assert "password authentication failed" in result.stderr


@pytest.mark.parametrize("db", DB_HOSTS)
def test_host_outside_the_fleet_is_refused(outsider, db):
    result = psql(outsider, db, fleetlib.secret("db_password"), "SELECT 1")
    assert result.rc != 0
    assert "no pg_hba.conf entry" in result.stderr


@pytest.mark.parametrize("db", DB_HOSTS)
def test_redis_refuses_a_client_without_the_password(client, db):
    result = client.run("redis-cli -h %s PING", db)
    assert "NOAUTH" in result.stdout + result.stderr


@pytest.mark.parametrize("db", DB_HOSTS)
def test_redis_refuses_a_wrong_password(client, db):
    result = client.run("REDISCLI_AUTH=wrong redis-cli -h %s PING", db)
    assert "PONG" not in result.stdout
    assert "WRONGPASS" in result.stdout + result.stderr or "invalid" in (result.stdout + result.stderr).lower()


@pytest.mark.parametrize("db", DB_HOSTS)
def test_redis_keeps_a_key_across_a_restart(client, db):
    auth = f"REDISCLI_AUTH={fleetlib.secret('redis_password')}"
    key, value = f"probe:{uuid.uuid4().hex}", uuid.uuid4().hex
    assert client.check_output(f"{auth} redis-cli -h %s SET %s %s", db, key, value).strip() == "OK"
    server = connect(db)
    pid_before = server.check_output("systemctl show -p MainPID --value redis-server")
    assert server.run("systemctl restart redis-server").rc == 0
    assert server.check_output("systemctl show -p MainPID --value redis-server") != pid_before
    for _attempt in range(30):
        got = client.run(f"{auth} redis-cli -h %s GET %s", db, key)
        if got.rc == 0 and "LOADING" not in got.stdout:
            break
    assert got.stdout.strip() == value


@pytest.mark.parametrize("db", DB_HOSTS)
def test_redis_never_evicts_broker_keys(client, db):
    auth = f"REDISCLI_AUTH={fleetlib.secret('redis_password')}"
    policy = client.check_output(f"{auth} redis-cli -h %s CONFIG GET maxmemory-policy", db).split()
    assert policy[-1] in ("noeviction", "volatile-lru", "volatile-lfu", "volatile-ttl", "volatile-random")
    aof = client.check_output(f"{auth} redis-cli -h %s CONFIG GET appendonly", db).split()
    assert aof[-1] == "yes"


def test_generated_secrets_are_private_on_the_controller():
    assert stat.S_IMODE(os.stat(fleetlib.SECRETS).st_mode) == 0o700
    for name in ["db_password", "redis_password"]:
        path = fleetlib.SECRETS / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(path.read_text().strip()) >= 32


def test_check_mode_on_the_converged_services_changes_nothing():
    run = fleetlib.run_playbook("services.yml", "--check", "--diff")
    assert run.rc == 0, run.output[-3000:]
    assert run.changed() == 0, run.changed_tasks()

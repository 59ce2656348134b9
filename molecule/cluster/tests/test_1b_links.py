"""The fleet's links are encrypted and filtered (airflow_tls on in this scenario): PostgreSQL and Redis refuse
plain text from a fleet member, every connection the fleet holds to PostgreSQL uses TLS, clients
verify the servers' certificates; over TLS, a member with the DB password writes and a wrong
password or none is refused (the DB stores it as SCRAM, the broker keeps its data on disk and
never evicts it), and the API servers and Flower answer HTTPS only, on the
private address they are bound to. The DAG, pipeline and rollout tests of this scenario then run
over these links."""

from __future__ import annotations

import json
import re
import subprocess

import requests

import fleetlib

# Runs on a control host (a DB client by pg_hba.conf) with the Airflow virtualenv's drivers: the
# same psycopg2 and redis-py the components use. The passwords reach it in a root-only file.
PROBE = r"""
import json, psycopg2, redis
s = json.load(open("/root/.tls-probe.json"))
db = dict(host="af-data", dbname="airflow", user="airflow", password=s["db"], connect_timeout=5)
out = {}
def attempt(name, fn):
    try:
        out[name] = ["ok", fn()]
    except Exception as error:  # what refused it is the answer
        out[name] = ["refused", "%s: %s" % (type(error).__name__, str(error).strip()[:300])]
attempt("pg_plain", lambda: psycopg2.connect(sslmode="disable", **db).server_version)
attempt("pg_other_ca", lambda: psycopg2.connect(sslmode="verify-full", sslrootcert="/etc/ssl/certs/ca-certificates.crt",
                                                **db).server_version)
def fleet_sessions():
    conn = psycopg2.connect(sslmode="verify-full", sslrootcert="/etc/fleet-tls/ca.pem", **db)
    cur = conn.cursor()
    cur.execute("SELECT host(a.client_addr), s.ssl, s.version FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)"
                " WHERE a.client_addr IS NOT NULL AND a.datname = 'airflow'")
    return cur.fetchall()
attempt("pg_sessions", fleet_sessions)
attempt("pg_wrong_password", lambda: psycopg2.connect(sslmode="verify-full", sslrootcert="/etc/fleet-tls/ca.pem",
                                                      **dict(db, password="not-the-password")).server_version)
def write_and_read():
    conn = psycopg2.connect(sslmode="verify-full", sslrootcert="/etc/fleet-tls/ca.pem", **db)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TEMPORARY TABLE links_probe (id int primary key); INSERT INTO links_probe VALUES (42);"
                    " SELECT id FROM links_probe")
        return cur.fetchone()[0]
attempt("pg_write", write_and_read)
attempt("redis_plain", lambda: redis.Redis(host="af-data", port=6379, password=s["redis"], socket_timeout=5).ping())
attempt("redis_other_ca", lambda: redis.Redis(host="af-data", port=6379, password=s["redis"], socket_timeout=5, ssl=True,
                                              ssl_ca_certs="/etc/ssl/certs/ca-certificates.crt").ping())
attempt("redis_tls", lambda: redis.Redis(host="af-data", port=6379, password=s["redis"], socket_timeout=5, ssl=True,
                                         ssl_ca_certs="/etc/fleet-tls/ca.pem", ssl_cert_reqs="required").ping())
tls = dict(host="af-data", port=6379, socket_timeout=5, ssl=True, ssl_ca_certs="/etc/fleet-tls/ca.pem", ssl_cert_reqs="required")
attempt("redis_no_password", lambda: redis.Redis(**tls).ping())
attempt("redis_wrong_password", lambda: redis.Redis(password="not-the-password", **tls).ping())
attempt("redis_settings", lambda: [redis.Redis(password=s["redis"], **tls).config_get(name)[name]
                                   for name in ("appendonly", "maxmemory-policy")])
print(json.dumps(out))
"""


def probe() -> dict:
    secrets = {"db": fleetlib.secret("db_password"), "redis": fleetlib.secret("redis_password")}
    fleetlib.put_file("af-ctl1", "/root/.tls-probe.json", json.dumps(secrets), "0600")
    try:
        out = subprocess.run(["docker", "exec", "-i", "af-ctl1", "/opt/airflow/venv/bin/python", "-"], input=PROBE,
                             capture_output=True, text=True, check=True, timeout=120).stdout
    finally:
        subprocess.run(["docker", "exec", "af-ctl1", "rm", "-f", "/root/.tls-probe.json"], check=True)
    return json.loads(out)


def test_postgresql_and_redis_refuse_plain_text_and_wrong_passwords_and_the_fleet_uses_verified_tls():
    seen = probe()
    assert seen["pg_plain"][0] == "refused" and "no encryption" in seen["pg_plain"][1], seen["pg_plain"]
    assert seen["pg_other_ca"][0] == "refused" and "certificate verify failed" in seen["pg_other_ca"][1], seen
    assert seen["redis_plain"][0] == "refused", seen["redis_plain"]
    assert seen["redis_other_ca"][0] == "refused" and "CERTIFICATE_VERIFY_FAILED" in seen["redis_other_ca"][1], seen
    assert seen["redis_tls"] == ["ok", True], seen["redis_tls"]
    # A fleet member with the right password writes; without it, or with a wrong one, it is refused.
    assert seen["pg_write"] == ["ok", 42], seen["pg_write"]
    assert seen["pg_wrong_password"][0] == "refused" and "password authentication failed" in seen["pg_wrong_password"][1], seen
    assert seen["redis_no_password"][0] == "refused" and "Authentication required" in seen["redis_no_password"][1], seen
    assert seen["redis_wrong_password"][0] == "refused", seen["redis_wrong_password"]
    assert re.search("WRONGPASS|invalid", seen["redis_wrong_password"][1], re.IGNORECASE), seen["redis_wrong_password"]
    # The broker's data is kept on disk (append-only file) and never evicted to make room.
    assert seen["redis_settings"][0] == "ok", seen["redis_settings"]
    appendonly, policy = seen["redis_settings"][1]
    assert appendonly == "yes" and policy in ("noeviction", "volatile-lru", "volatile-lfu", "volatile-ttl",
                                              "volatile-random"), seen["redis_settings"]
    stored = subprocess.run(["docker", "exec", "af-data", "runuser", "-u", "postgres", "--", "psql", "-Atc",
                             "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'airflow'"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert stored == "t", "the airflow role's password is not stored as SCRAM-SHA-256"
    state, sessions = seen["pg_sessions"]
    assert state == "ok", sessions
    # Every component that holds the DB (schedulers, DAG processors, triggerers, API servers on
    # both control hosts) is connected, and every one of those sessions is TLS 1.2 or later.
    clients = {fleetlib.container_ip(name) for name in ("af-ctl1", "af-ctl2")}
    assert {session[0] for session in sessions} >= clients, sessions
    assert all(ssl and version in ("TLSv1.2", "TLSv1.3") for _addr, ssl, version in sessions), sessions


def test_api_servers_and_flower_answer_https_on_their_private_address_only():
    ca = fleetlib.tls_ca()
    assert ca, "the cluster scenario runs with airflow_tls"
    for name in ("af-ctl1", "af-ctl2"):
        ip = fleetlib.container_ip(name)
        health = requests.get(f"https://{ip}:8080/api/v2/monitor/health", timeout=10, verify=ca).json()
        assert health["metadatabase"]["status"] == "healthy", (name, health)
        try:
            requests.get(f"http://{ip}:8080/api/v2/monitor/health", timeout=10)
            plain = "answered"
        except requests.ConnectionError as error:
            plain = str(error)
        assert plain != "answered", f"{name} answered plain HTTP"
        # Bound to the private address, not loopback or every address.
        listening = subprocess.run(["docker", "exec", name, "ss", "-Htln", "sport = :8080"], capture_output=True,
                                   text=True, check=True).stdout.split()
        assert f"{ip}:8080" in listening and "0.0.0.0:8080" not in listening, listening
    flower = requests.get(f"https://{fleetlib.container_ip('af-ctl1')}:5555/healthcheck", timeout=10, verify=ca,
                          auth=("flower", fleetlib.secret("flower_password")))
    assert flower.status_code == 200 and flower.text.strip() == "OK"


OUTSIDER = "af-outsider"
OUTSIDER_IP = "10.213.0.200"  # on the fleet's Docker network, outside its 10.213.0.0/25 (airflow_firewall_fleet_cidrs)
# Runs on a host: which of these TCP ports accept a connection within 3 s (a dropped SYN times out).
CONNECT = r"""
import json, socket, sys
out = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        out[target] = "open"
    except OSError as error:
        out[target] = type(error).__name__
print(json.dumps(out))
"""
SERVICES = ["af-data:5432", "af-data:6379", "af-wk1:8793", "af-ctl1:8794", "af-ctl1:8080", "af-ctl1:5555"]


def reachable(container: str) -> dict:
    out = subprocess.run(["docker", "exec", "-i", container, "python3", "-", *SERVICES], input=CONNECT,
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return json.loads(out)


def dropped(container: str) -> int:
    """Packets the host's firewall dropped so far (its table's final counter)."""
    rules = subprocess.run(["docker", "exec", container, "nft", "list", "chain", "inet", "fleetworks_firewall", "input"],
                           capture_output=True, text=True, check=True).stdout
    return int(re.search(r"counter packets (\d+)", rules).group(1))


def test_the_firewall_serves_the_fleet_and_refuses_an_outsider():
    before = dropped("af-data")
    subprocess.run(["docker", "run", "-d", "--rm", "--name", OUTSIDER, "--network", "af-cluster-net", "--ip", OUTSIDER_IP,
                    "--entrypoint", "sleep", "airflow-fleet/debian:12", "600"], check=True, capture_output=True)
    try:
        outsider = reachable(OUTSIDER)
    finally:
        subprocess.run(["docker", "rm", "-f", OUTSIDER], check=False, capture_output=True)
    member = reachable("af-wk2")
    # A fleet member reaches every service its groups serve.
    assert all(state == "open" for state in member.values()), member
    # The outsider reaches only what users reach (the UI and Flower); PostgreSQL, Redis and the log
    # servers drop its connection attempts, and af-data's firewall counted them.
    assert outsider["af-ctl1:8080"] == "open" and outsider["af-ctl1:5555"] == "open", outsider
    refused = {target: state for target, state in outsider.items() if target not in ("af-ctl1:8080", "af-ctl1:5555")}
    assert all(state in ("TimeoutError", "timeout") for state in refused.values()), outsider
    assert dropped("af-data") > before

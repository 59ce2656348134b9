"""The modules that run on Airflow hosts, through their logic: the release sync's wait,
the health wait's crash detection, the DAG check's file comparison and error lines, the
fernet check's decryption (with a rotation list) and the schema check's migration heads."""

from __future__ import annotations

import os
import threading
import types
from datetime import datetime, timezone

from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_api import AirflowApi
from ansible_collections.fleetworks.airflow.plugins.modules import (
    airflow_dags_check,
    airflow_dags_sync,
    airflow_db_schema,
    airflow_fernet_check,
    airflow_health,
)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def dag(dag_id, fileloc, parsed="t0"):
    return {"dag_id": dag_id, "relative_fileloc": fileloc, "file_token": "tok-" + fileloc, "last_parsed_time": parsed}


def test_sync_asks_for_the_changed_files_and_waits_until_they_are_parsed(airflow):
    fake, base = airflow
    fake.dags = {"a": dag("a", "a.py"), "b": dag("b", "b.py")}
    clock = Clock()
    calls = []

    def sleep(seconds):
        clock.sleep(seconds)
        calls.append(seconds)
        if len(calls) == 3:  # the processor re-parsed a.py
            fake.dags["a"] = dag("a", "a.py", parsed="t1")

    api = AirflowApi(base, "admin", "right-password", sleep=lambda s: None)
    ok, result = airflow_dags_sync.sync(api, {"a", "b"}, ["a.py"], switched_at=clock.now - 1, timeout=60,
                                        reserialize=None, poll=0.25, clock=clock, sleep=sleep)
    assert ok, result
    assert fake.reparsed == ["tok-a.py"]
    assert result["reparse_requests"] == 1
    assert result["visible_after_switch_seconds"] == 1.75
    assert result["retired_after_switch_seconds"] is None


def test_sync_waits_for_a_dropped_dag_to_retire_and_reports_the_timeout(airflow):
    fake, base = airflow
    fake.dags = {"a": dag("a", "a.py"), "old": dag("old", "old.py")}
    clock = Clock()
    api = AirflowApi(base, "admin", "right-password", sleep=lambda s: None)
    ok, result = airflow_dags_sync.sync(api, {"a"}, ["old.py"], switched_at=clock.now, timeout=2, reserialize=None,
                                        poll=0.5, clock=clock, sleep=clock.sleep)
    assert not ok
    assert result["still_offered"] == ["old"]
    assert result["visible_after_switch_seconds"] == 0.0


def test_a_sync_that_times_out_names_the_import_errors_since_the_switch(airflow):
    fake, base = airflow
    fake.import_errors = [
        {"filename": "old.py", "timestamp": "2026-12-07T09:00:00.000000Z", "stack_trace": "Traceback\nValueError: old\n"},
        {"filename": "new.py", "timestamp": "2026-12-07T10:00:05.250000Z",
         "stack_trace": "Traceback (most recent call last):\n  File \"new.py\", line 3\nSerializationError: weight_rule\n\n"},
    ]
    api = AirflowApi(base, "admin", "right-password", sleep=lambda s: None)
    switched_at = datetime(2026, 12, 7, 10, 0, 0, tzinfo=timezone.utc).timestamp()
    assert airflow_dags_sync.import_errors_since(api, switched_at) == [
        {"file": "new.py", "error": "SerializationError: weight_rule"}]


def test_sync_parses_the_folder_when_no_dag_is_known_yet(airflow):
    fake, base = airflow
    ran = []

    def reserialize():
        ran.append(True)
        fake.dags = {"a": dag("a", "a.py")}

    api = AirflowApi(base, "admin", "right-password", sleep=lambda s: None)
    ok, result = airflow_dags_sync.sync(api, {"a"}, ["a.py"], switched_at=0, timeout=5, reserialize=reserialize,
                                        sleep=lambda s: None)
    assert ok and ran == [True] and result["reparse_requests"] == 0


def test_a_failed_parse_of_the_folder_is_no_failure_when_the_dag_processors_deliver(airflow):
    """On a new fleet the DAG processors parse the first release while the command does (their rows
    can make its insert fail): the wait goes on, and the command's error is only reported."""
    fake, base = airflow
    looks = []
    real_dags = AirflowApi.dags

    def dags_appearing(api, **params):
        looks.append(1)
        if len(looks) == 3:
            fake.dags = {"a": dag("a", "a.py")}  # a DAG processor stored it
        return real_dags(api, **params)

    api = AirflowApi(base, "admin", "right-password", sleep=lambda s: None)
    api.dags = dags_appearing.__get__(api)
    ok, result = airflow_dags_sync.sync(api, {"a"}, ["a.py"], switched_at=0, timeout=5,
                                        reserialize=lambda: "parsing the DAG folder failed (rc 1): UniqueViolation",
                                        sleep=lambda s: None)
    assert ok, result
    assert result["reserialize_error"].endswith("UniqueViolation") and len(looks) == 3


def test_sync_of_a_release_the_api_already_offers_parses_nothing(airflow):
    fake, base = airflow
    fake.dags = {"a": dag("a", "a.py")}
    ran = []
    api = AirflowApi(base, "admin", "right-password", sleep=lambda s: None)
    ok, result = airflow_dags_sync.sync(api, {"a"}, [], switched_at=0, timeout=5, reserialize=lambda: ran.append(1),
                                        sleep=lambda s: None)
    assert ok and ran == [] and fake.reparsed == [] and result["reparse_requests"] == 0


def test_a_removed_file_answers_404_and_is_no_error():
    tokens, changed = airflow_dags_sync.reparse_tokens({"a": dag("a", "a.py")}, ["new.py"])
    assert tokens == ["tok-a.py"] and changed == set()  # only new files: one unchanged file forces the refresh


class FakeProber:
    def __init__(self, states, probes):
        self.states, self.probes = states, probes

    def unit_state(self, unit):
        return self.states[unit].pop(0) if len(self.states[unit]) > 1 else self.states[unit][0]

    def probe(self, name):
        answers = self.probes[name]
        return answers.pop(0) if len(answers) > 1 else answers[0]


def test_health_waits_for_every_component_and_stops_at_a_crash():
    clock = Clock()
    prober = FakeProber(
        states={"airflow-scheduler": [{"ActiveState": "active", "NRestarts": "0"}],
                "airflow-worker": [{"ActiveState": "active", "NRestarts": "0"}, {"ActiveState": "active", "NRestarts": "0"},
                                   {"ActiveState": "activating", "NRestarts": "1"}]},
        probes={"scheduler": [(False, "HTTP 0"), (False, "HTTP 0"), (True, "HTTP 200")],
                "worker": [(False, "no reply")]},
    )
    report = airflow_health.wait(prober, ["scheduler", "worker"], timeout=60, clock=clock, sleep=clock.sleep)
    assert report["scheduler"]["healthy"] is True and report["scheduler"]["seen"] == "HTTP 200"
    assert report["worker"]["healthy"] is False
    assert "crashed and was restarted by systemd while waiting (NRestarts=1)" in report["worker"]["seen"]
    assert clock.now - 1000 < 10  # it did not wait out the timeout


def test_health_probes_the_components_side_by_side():
    both = threading.Barrier(2, timeout=5)  # broken unless the two probes run at the same time

    class Prober(FakeProber):
        def probe(self, name):
            both.wait()
            return True, "met the other probe"

    active = [{"ActiveState": "active", "NRestarts": "0"}]
    prober = Prober(states={"airflow-triggerer": active, "airflow-dag-processor": active}, probes={})
    report = airflow_health.wait(prober, ["triggerer", "dag_processor"], timeout=0, clock=Clock(), sleep=None)
    assert all(entry["healthy"] for entry in report.values()), report


def test_health_with_no_wait_looks_once():
    clock = Clock()
    prober = FakeProber(states={"airflow-flower": [{"ActiveState": "active", "NRestarts": "0"}]},
                        probes={"flower": [(False, "HTTP 401")]})
    report = airflow_health.wait(prober, ["flower"], timeout=0, clock=clock, sleep=clock.sleep)
    assert report["flower"] == {"unit": "airflow-flower", "healthy": False, "seen": "HTTP 401", "state": "active",
                                "seconds": 0.0}


def test_dag_check_reads_the_environment_files(tmp_path):
    env = tmp_path / "cli.env"
    env.write_text("# comment\nAIRFLOW_HOME='/var/lib/airflow'\nAIRFLOW__CORE__FERNET_KEY='a b=c'\n\nnot a var\n")
    assert airflow_dags_check.read_environment([str(env)]) == {
        "AIRFLOW_HOME": "/var/lib/airflow", "AIRFLOW__CORE__FERNET_KEY": "a b=c"}


def test_dag_check_names_the_changed_python_files_without_packages_or_caches(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    for root in (old, new):
        (root / "pkg" / "__pycache__").mkdir(parents=True)
        (root / ".python" / "pyfiglet").mkdir(parents=True)
        (root / "same.py").write_text("x = 1\n")
    (old / "gone.py").write_text("")
    (new / "pkg" / "added.py").write_text("")
    (new / "pkg" / "__pycache__" / "added.cpython-311.py").write_text("")
    (new / ".python" / "pyfiglet" / "__init__.py").write_text("")
    (old / "edited.py").write_text("a = 1\n")
    (new / "edited.py").write_text("a = 2\n")
    changed = airflow_dags_check.changed_files(airflow_dags_check.python_files(str(new), ".python"),
                                               airflow_dags_check.python_files(str(old), ".python"))
    assert changed == ["edited.py", "gone.py", os.path.join("pkg", "added.py")]


def test_dag_check_points_at_the_release_files_own_line():
    release = "/srv/airflow/dags/releases/r-1"
    trace = ('Traceback (most recent call last):\n  File "/srv/airflow/dags/releases/r-1/etl.py", line 7, in <module>\n'
             '    import missing_mod\n  File "/opt/lib/x.py", line 99, in f\nModuleNotFoundError: No module named \'missing_mod\'\n')
    assert airflow_dags_check.describe_error(release, "etl.py", trace) == {
        "file": "etl.py", "line": 7, "error": "ModuleNotFoundError: No module named 'missing_mod'"}
    syntax = '  File "/srv/airflow/dags/releases/r-1/b.py", line 3\n    def broken(:\n               ^\nSyntaxError: invalid syntax (b.py, line 3)'
    assert airflow_dags_check.describe_error(release, "b.py", syntax)["line"] == 3


def fernet_rows(key, values):
    """Rows as airflow_fernet_check reads them: (id, [(is_encrypted, value)]), each value encrypted with key."""
    from cryptography.fernet import Fernet

    token = Fernet(key.encode()).encrypt
    return [(row_id, [(True, token(value.encode()).decode())]) for row_id, value in values]


def test_fernet_check_names_what_another_key_cannot_decrypt():
    from cryptography.fernet import Fernet

    written_with, other = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    rows = fernet_rows(written_with, [("aws_default", "p1"), ("pg", "p2")])
    rows.append(("plain", [(False, "not encrypted"), (True, None)]))  # nothing encrypted to try
    assert airflow_fernet_check.undecryptable_ids(rows, airflow_fernet_check.make_decrypt(written_with)) == []
    assert airflow_fernet_check.undecryptable_ids(rows, airflow_fernet_check.make_decrypt(other)) == ["aws_default", "pg"]


def test_fernet_check_accepts_a_rotation_list_new_key_first():
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    rows = fernet_rows(old, [("written-before", "v")]) + fernet_rows(new, [("written-after", "v")])
    assert airflow_fernet_check.undecryptable_ids(rows, airflow_fernet_check.make_decrypt(f"{new}, {old}")) == []
    assert airflow_fernet_check.undecryptable_ids(rows, airflow_fernet_check.make_decrypt(new)) == ["written-before"]


def test_fernet_check_reports_a_value_that_is_no_token():
    from cryptography.fernet import Fernet

    decrypt = airflow_fernet_check.make_decrypt(Fernet.generate_key().decode())
    assert airflow_fernet_check.undecryptable_ids([("broken", [(True, "garbage")])], decrypt) == ["broken"]


def migration(revision, down, annotated=False):
    kind = ": str" if annotated else ""
    return f'''"""A migration."""\nrevision{kind} = "{revision}"\ndown_revision{kind} = {down}\nbranch_labels = None\n'''


def test_schema_check_finds_the_head_of_a_migration_chain_with_a_merge():
    """Airflow's revision ids are not all hex ("1b2c3d4e5f6g"); a merge names two down revisions."""
    texts = [migration("aaa111", "None"), migration("1b2c3d4e5f6g", '"aaa111"'), migration("ccc333", "'aaa111'", True),
             migration("ddd444", '("1b2c3d4e5f6g", "ccc333")'), "# no revision here\n"]
    assert airflow_db_schema.migration_heads(texts) == ["ddd444"]
    # Two heads until something merges them.
    assert airflow_db_schema.migration_heads(texts[:3]) == ["1b2c3d4e5f6g", "ccc333"]


def test_a_dag_the_serializer_refuses_is_an_error_with_its_file_and_id(tmp_path):
    release = str(tmp_path)
    dags = {"good": types.SimpleNamespace(fileloc=os.path.join(release, "good.py")),
            "odd": types.SimpleNamespace(fileloc=os.path.join(release, "sub", "odd.py"))}

    def serialize(dag):
        if dag is dags["odd"]:
            raise ValueError("weight_rule my.Strategy is not registered")
        return {}

    assert airflow_dags_check.serialization_errors(release, dags, serialize) == [
        {"file": "sub/odd.py", "line": None,
         "error": "DAG odd cannot be serialized: ValueError: weight_rule my.Strategy is not registered"}]


def test_health_probes_follow_the_configured_address_scheme_and_ca():
    asked = []

    def http_get(url, auth=None, ca_path=None, timeout=5):
        asked.append((url, auth, ca_path))
        if "monitor" in url:
            return 200, '{"metadatabase": {"status": "healthy"}}'
        return (200, '{"status":"healthy"}') if "execution" in url else (200, "OK")

    module = types.SimpleNamespace(params=dict(
        api_port=8080, api_url="https://10.0.0.5:8080/", flower_port=5555, flower_url=None,
        flower_basic_auth="u:p", ca_file="/etc/fleet-tls/ca.pem"))
    prober = airflow_health.Prober(module, http_get=http_get)
    assert prober.probe("api_server") == (True, "metadatabase healthy, Execution API healthy")
    assert prober.probe("flower") == (True, "HTTP 200 OK")
    assert asked == [("https://10.0.0.5:8080/api/v2/monitor/health", None, "/etc/fleet-tls/ca.pem"),
                     ("https://10.0.0.5:8080/execution/health", None, "/etc/fleet-tls/ca.pem"),
                     ("http://127.0.0.1:5555/healthcheck", "u:p", "/etc/fleet-tls/ca.pem")]


def test_an_api_server_is_healthy_only_once_its_execution_api_answers():
    """The Execution API initializes on its first request; until it answers, the server is not healthy."""
    answers = {"/execution/health": (0, "timed out")}

    def http_get(url, auth=None, ca_path=None, timeout=5):
        if url.endswith("/api/v2/monitor/health"):
            return 200, '{"metadatabase": {"status": "healthy"}}'
        return answers[url[url.index("/execution"):]]

    module = types.SimpleNamespace(params=dict(api_port=8080, api_url=None, ca_file=None))
    prober = airflow_health.Prober(module, http_get=http_get)
    assert prober.probe("api_server") == (False, "metadatabase healthy, Execution API HTTP 0 timed out")
    answers["/execution/health"] = (200, '{"status":"healthy"}')
    assert prober.probe("api_server") == (True, "metadatabase healthy, Execution API healthy")


def test_job_heartbeats_from_the_db_answer_as_airflow_jobs_check_local_does():
    """Exactly one running job of the type, recorded by this host, younger than the threshold."""
    now = datetime(2026, 12, 7, 12, 0, 0, tzinfo=timezone.utc)

    def ago(seconds):
        return datetime.fromtimestamp(now.timestamp() - seconds, tz=timezone.utc)

    assert airflow_health.job_verdict("TriggererJob", [ago(4)], 30, now) == (True, "one alive TriggererJob, heartbeat 4s ago")
    # A job killed with -9 stays "running" with an old heartbeat: the new one alone is alive.
    assert airflow_health.job_verdict("DagProcessorJob", [ago(2), ago(45)], 30, now)[0] is True
    assert airflow_health.job_verdict("DagProcessorJob", [ago(2), ago(12)], 30, now) == (
        False, "2 alive DagProcessorJob jobs on this host, expected one")
    assert airflow_health.job_verdict("DagProcessorJob", [ago(31)], 30, now) == (
        False, "no alive DagProcessorJob: last heartbeat 31s ago (threshold 30s)")
    assert airflow_health.job_verdict("TriggererJob", [], 30, now) == (False, "no running TriggererJob recorded by this host")


def test_job_probes_read_the_db_for_this_host_or_run_the_cli_without_a_db_url(monkeypatch):
    monkeypatch.setattr(airflow_health, "host_name", lambda: "ctl1.fleet.internal")
    now = datetime(2026, 12, 7, 12, 0, 0, tzinfo=timezone.utc)
    asked = []

    def heartbeats(db_url, job_type, hostname):
        asked.append((db_url, job_type, hostname))
        if job_type == "TriggererJob":
            raise OSError("connection refused\nmore detail")
        return [datetime(2026, 12, 7, 11, 59, 50, tzinfo=timezone.utc)]

    module = types.SimpleNamespace(params=dict(db_url="postgresql+psycopg2://db/airflow",
                                               job_thresholds={"dag_processor": "20", "triggerer": 30}))
    prober = airflow_health.Prober(module, heartbeats=heartbeats, clock=lambda: now)
    assert prober.probe("dag_processor") == (True, "one alive DagProcessorJob, heartbeat 10s ago")
    assert prober.probe("triggerer") == (False, "the metadata DB did not answer: connection refused")
    assert asked == [("postgresql+psycopg2://db/airflow", "DagProcessorJob", "ctl1.fleet.internal"),
                     ("postgresql+psycopg2://db/airflow", "TriggererJob", "ctl1.fleet.internal")]
    # With a threshold of 5 s the same heartbeat is too old.
    module.params["job_thresholds"] = {"dag_processor": 5}
    assert prober.probe("dag_processor")[0] is False

    ran = []

    class CliModule:
        params = dict(db_url=None, cli_prefix=["/usr/local/sbin/airflow-env"])

        def run_command(self, argv):
            ran.append(argv)
            return 0, "Found one alive job.\n", ""

    cli_prober = airflow_health.Prober(CliModule(), heartbeats=heartbeats)
    assert cli_prober.probe("triggerer") == (True, "Found one alive job.")
    assert ran == [["/usr/local/sbin/airflow-env", "airflow", "jobs", "check", "--job-type", "TriggererJob", "--local"]]
    assert len(asked) == 3  # the CLI path never touched the DB


def test_the_host_name_is_the_resolvers_canonical_name_else_the_host_name(monkeypatch):
    monkeypatch.setattr(airflow_health.socket, "gethostname", lambda: "ctl1")
    monkeypatch.setattr(airflow_health.socket, "getaddrinfo",
                        lambda *args: [(2, 2, 17, "", ("10.0.0.5", 0)), (2, 2, 17, "ctl1.fleet.internal", ("10.0.0.5", 0))])
    assert airflow_health.host_name() == "ctl1.fleet.internal"

    def unresolvable(*args):
        raise OSError("Name or service not known")

    monkeypatch.setattr(airflow_health.socket, "getaddrinfo", unresolvable)
    assert airflow_health.host_name() == "ctl1"

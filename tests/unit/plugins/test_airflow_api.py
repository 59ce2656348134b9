"""The one REST client: login, retries, re-login, errors that say what went wrong."""

from __future__ import annotations

import pytest

from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_api import (
    AirflowApi, AirflowApiError, error_detail)
from ansible_collections.fleetworks.airflow.plugins.modules import airflow_releases_in_use


def client(base, password="right-password", **kwargs):
    return AirflowApi(base, "admin", password, sleep=lambda seconds: None, **kwargs)


def test_logs_in_once_and_reuses_the_token(airflow):
    fake, base = airflow
    api = client(base)
    assert api.get("/api/v2/pools/none", missing_ok=True) is None
    assert api.get("/api/v2/pools/none", missing_ok=True) is None
    assert [path for method, path in fake.requests].count("/auth/token") == 1


def test_a_wrong_password_names_the_user_never_the_password(airflow):
    fake, base = airflow
    with pytest.raises(AirflowApiError) as error:
        client(base, password="wrong-secret-value").login()
    assert error.value.status == 401
    assert "as admin failed: HTTP 401 Invalid credentials" in str(error.value)
    assert "wrong-secret-value" not in str(error.value)


def test_gateway_errors_are_retried_then_served(airflow):
    fake, base = airflow
    api = client(base)
    api.login()
    fake.fail_next = [503, 502]
    assert api.get("/api/v2/pools/none", missing_ok=True) is None
    assert fake.requests[-3:] == [("GET", "/api/v2/pools/none")] * 3


def test_retries_end_with_the_last_answer(airflow):
    fake, base = airflow
    api = client(base, retries=1)
    api.login()
    fake.fail_next = [503, 503, 503]
    with pytest.raises(AirflowApiError) as error:
        api.get("/api/v2/pools/x")
    assert error.value.status == 503
    assert len([r for r in fake.requests if r[1] == "/api/v2/pools/x"]) == 2


def test_no_answer_is_an_error_after_the_retries():
    pauses = []
    api = AirflowApi("http://127.0.0.1:9", "admin", "x", retries=3, sleep=pauses.append, timeout=1)
    with pytest.raises(AirflowApiError) as error:
        api.login()
    assert error.value.status == 0
    assert "no answer from http://127.0.0.1:9" in str(error.value)
    assert pauses == [0.5, 1.0, 2.0]


def test_an_expired_token_is_renewed_once(airflow):
    fake, base = airflow
    api = client(base)
    api.login()
    fake.tokens.clear()  # the API server restarted with a new JWT secret, say
    assert api.get("/api/v2/pools/none", missing_ok=True) is None
    assert [path for method, path in fake.requests].count("/auth/token") == 2


def test_errors_carry_airflows_detail(airflow):
    fake, base = airflow
    api = client(base)
    with pytest.raises(AirflowApiError) as error:
        api.get("/api/v2/pools/missing")
    assert error.value.status == 404
    assert str(error.value) == "GET /api/v2/pools/missing: HTTP 404 missing not found"


def test_validation_errors_read_as_field_and_message():
    body = '{"detail": [{"loc": ["body", "slots"], "msg": "Input should be a valid integer"}]}'
    assert error_detail(body) == "body.slots: Input should be a valid integer"
    assert error_detail("<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"


def test_collect_reads_every_page(airflow):
    fake, base = airflow
    fake.dags = {"dag_%03d" % n: {"dag_id": "dag_%03d" % n} for n in range(250)}
    assert len(client(base).dags()) == 250
    assert len([r for r in fake.requests if r[1] == "/api/v2/dags"]) == 3


def test_resource_ids_are_one_path_segment(airflow):
    fake, base = airflow
    api = client(base)
    api.post("/api/v2/variables", {"key": "a/b c", "value": "1"})
    assert api.get("/api/v2/variables/a%2Fb%20c")["value"] == "1"


def test_the_releases_runs_in_flight_need_over_every_page(airflow):
    """What the DAG rollout keeps whatever its age: the release of every queued or running run
    (the API pages through them), never a finished run's; runs from before versions are counted."""
    fake, base = airflow
    fake.dag_runs = [{"dag_run_id": "a1", "state": "running", "bundle_version": "r-aaaaaaaaaaaa"},
                     {"dag_run_id": "b1", "state": "queued", "bundle_version": "r-bbbbbbbbbbbb"},
                     {"dag_run_id": "c1", "state": "success", "bundle_version": "r-cccccccccccc"},
                     {"dag_run_id": "d1", "state": "failed", "bundle_version": "r-dddddddddddd"},
                     {"dag_run_id": "n1", "state": "running", "bundle_version": None}]
    fake.dag_runs += [{"dag_run_id": "a%d" % n, "state": "queued", "bundle_version": "r-aaaaaaaaaaaa"} for n in range(2, 150)]
    releases, counts, unversioned = airflow_releases_in_use.releases_in_use(client(base), ["queued", "running"])
    assert releases == ["r-aaaaaaaaaaaa", "r-bbbbbbbbbbbb"]
    assert counts == {"r-aaaaaaaaaaaa": 149, "r-bbbbbbbbbbbb": 1}
    assert unversioned == 1
    assert [path for method, path in fake.requests].count("/api/v2/dags/~/dagRuns") == 2  # two pages of 100

"""The declarative modules against the stand-in API: create, leave alone, update, remove,
check mode and diff, and secrets that never show."""

from __future__ import annotations

import json

from conftest import run_module

from ansible_collections.fleetworks.airflow.plugins.modules import airflow_connection, airflow_pool, airflow_user, airflow_variable

API = {"api_password": "right-password", "api_retries": 0}


def args(base, **kwargs):
    return dict(API, api_url=base, **kwargs)


def test_a_connection_is_created_then_left_alone(airflow):
    fake, base = airflow
    conn = dict(conn_id="warehouse", conn_type="postgres", host="db", login="etl", password="pw-1", port=5432,
                digest_key="fernet")
    first = run_module(airflow_connection, args(base, **conn))
    assert first["changed"] is True
    stored = fake.store["connections"]["warehouse"]
    assert (stored["host"], stored["password"], stored["port"]) == ("db", "pw-1", 5432)
    assert stored["description"].startswith("warehouse [managed by fleetworks.airflow: ")
    again = run_module(airflow_connection, args(base, **conn))
    assert again["changed"] is False
    assert [m for m, p in fake.requests if p.startswith("/api/v2/connections")][-1] == "GET"


def test_a_changed_password_is_noticed_without_reading_it_back(airflow):
    fake, base = airflow
    conn = dict(conn_id="warehouse", conn_type="postgres", password="pw-1", digest_key="fernet")
    run_module(airflow_connection, args(base, **conn))
    changed = run_module(airflow_connection, args(base, **{**conn, "password": "pw-2"}), diff=True)
    assert changed["changed"] is True
    assert changed["differing"] == ["description"]
    assert fake.store["connections"]["warehouse"]["password"] == "pw-2"
    # The diff shows that something changed, never the passwords.
    assert "pw-1" not in json.dumps(changed) and "pw-2" not in json.dumps(changed)
    assert changed["diff"]["after"]["password"] == "********"


def test_check_mode_reports_and_changes_nothing(airflow):
    fake, base = airflow
    result = run_module(airflow_connection, args(base, conn_id="c", conn_type="http", host="h"), check_mode=True)
    assert result["changed"] is True
    assert fake.store["connections"] == {}
    assert not [m for m, p in fake.requests if m != "GET" and p != "/auth/token"]


def test_a_connection_is_removed_once(airflow):
    fake, base = airflow
    run_module(airflow_connection, args(base, conn_id="c", conn_type="http"))
    assert run_module(airflow_connection, args(base, conn_id="c", state="absent"))["changed"] is True
    assert fake.store["connections"] == {}
    assert run_module(airflow_connection, args(base, conn_id="c", state="absent"))["changed"] is False


def test_a_present_connection_needs_a_type(airflow):
    fake, base = airflow
    result = run_module(airflow_connection, args(base, conn_id="c"))
    assert result["failed"] and "conn_type" in result["msg"]


def test_the_api_password_never_shows_in_a_failure(airflow):
    fake, base = airflow
    result = run_module(airflow_connection, dict(args(base, conn_id="c", conn_type="http"), api_password="not-it-4711"))
    assert result["failed"] and result["status"] == 401
    assert "not-it-4711" not in json.dumps(result)


def test_variables_compare_values_even_when_airflow_masks_them(airflow):
    fake, base = airflow
    var = dict(key="api_secret", value="s3cr3t-1")
    assert run_module(airflow_variable, args(base, **var))["changed"] is True
    assert fake.store["variables"]["api_secret"]["value"] == "s3cr3t-1"
    assert run_module(airflow_variable, args(base, **var))["changed"] is False  # the stand-in answers "***"
    assert run_module(airflow_variable, args(base, **{**var, "value": "s3cr3t-2"}))["changed"] is True
    assert fake.store["variables"]["api_secret"]["value"] == "s3cr3t-2"


def test_structured_variable_values_are_stored_as_json(airflow):
    fake, base = airflow
    run_module(airflow_variable, args(base, key="limits", value={"rows": 10, "retries": 3}))
    assert json.loads(fake.store["variables"]["limits"]["value"]) == {"rows": 10, "retries": 3}
    assert run_module(airflow_variable, args(base, key="limits", value={"retries": 3, "rows": 10}))["changed"] is False


def test_a_pool_is_resized_only_when_its_size_differs(airflow):
    fake, base = airflow
    pool = dict(name="warehouse", slots=4, description="db connections")
    assert run_module(airflow_pool, args(base, **pool))["changed"] is True
    assert run_module(airflow_pool, args(base, **pool))["changed"] is False
    resized = run_module(airflow_pool, args(base, **{**pool, "slots": 8}), diff=True)
    assert resized["changed"] is True and resized["differing"] == ["slots"]
    assert (resized["diff"]["before"]["slots"], resized["diff"]["after"]["slots"]) == (4, 8)
    assert fake.store["pools"]["warehouse"]["slots"] == 8


def test_the_default_pool_cannot_be_removed(airflow):
    fake, base = airflow
    result = run_module(airflow_pool, args(base, name="default_pool", state="absent"))
    assert result["failed"] and "cannot be removed" in result["msg"]
    assert fake.requests == []


USER = dict(username="oncall", password="pw-one", email="oncall@example.com", first_name="On", last_name="Call",
            roles=["Viewer"])


def test_a_user_is_created_then_left_alone_with_its_password_tried_not_read(airflow):
    fake, base = airflow
    assert run_module(airflow_user, args(base, **USER))["changed"] is True
    assert fake.users["oncall"] == "pw-one"
    assert fake.profiles["oncall"]["roles"] == [{"name": "Viewer"}]
    again = run_module(airflow_user, args(base, **USER))
    assert again["changed"] is False
    assert ("POST", "/auth/token") in fake.requests[-2:]  # the module logged in as oncall to try the password


def test_a_users_roles_and_password_change_only_where_they_differ(airflow):
    fake, base = airflow
    run_module(airflow_user, args(base, **USER))
    changed = run_module(airflow_user, args(base, **{**USER, "roles": ["Op", "Viewer"], "password": "pw-two"}), diff=True)
    assert changed["changed"] is True and changed["differing"] == ["roles", "password"]
    assert fake.patched_masks == [["password", "roles"]]
    assert fake.users["oncall"] == "pw-two"
    assert "pw-two" not in json.dumps(changed) and "pw-one" not in json.dumps(changed)
    kept = run_module(airflow_user, args(base, **{**USER, "roles": ["Op", "Viewer"], "password": "pw-three",
                                                  "update_password": "on_create"}))
    assert kept["changed"] is False and fake.users["oncall"] == "pw-two"


def test_creating_a_user_needs_its_profile(airflow):
    fake, base = airflow
    result = run_module(airflow_user, args(base, username="x", password="p"))
    assert result["failed"] and result["msg"] == "creating user x needs email, first_name, last_name"
    assert fake.profiles == {}


def test_a_user_is_removed(airflow):
    fake, base = airflow
    run_module(airflow_user, args(base, **USER))
    assert run_module(airflow_user, args(base, username="oncall", state="absent"), check_mode=True)["changed"] is True
    assert "oncall" in fake.profiles
    assert run_module(airflow_user, args(base, username="oncall", state="absent"))["changed"] is True
    assert "oncall" not in fake.profiles

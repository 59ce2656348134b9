"""The origin pipeline end to end on the fleet: a CSV put in S3 (the moto
stand-in on af-data, reached over HTTP like AWS) becomes typed JSON in S3 and
items in DynamoDB, written as another account through an assumed role; a
second run of the same date and a re-run task leave exactly the same state;
the task logs land in the S3 log bucket."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

import aws_standin
import fleetlib

DAG = "s3_csv_to_dynamodb"
DATE = "2025-01-02"
BUCKET, TABLE, LOG_BUCKET = "airflow-pipeline", "orders", "fleet-task-logs"
CSV = (fleetlib.PROJECT / "scripts/demo/orders.csv").read_bytes()
WORKERS = {"af-wk1", "af-wk2"}


@pytest.fixture(scope="module")
def endpoint():
    url = f"http://{fleetlib.container_ip('af-data')}:5000"
    aws_standin.prepare(url, BUCKET, TABLE, LOG_BUCKET)
    aws_standin.put_csv(url, BUCKET, f"incoming/{DATE}/orders.csv", CSV)
    return url


@pytest.fixture(scope="module")
def api():
    return fleetlib.api('af-ctl1')


def clear(api, run_id):
    api.post(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/clear", {"dry_run": False}, expect=(200,))


@pytest.fixture(scope="module")
def first_run(api, endpoint):
    api.wait_dag(DAG)
    logical_date = f"{DATE}T00:00:00Z"
    existing = api.get(f"/api/v2/dags/{DAG}/dagRuns", logical_date_gte=logical_date, logical_date_lte=logical_date)
    if existing["dag_runs"]:  # a fleet this suite ran on before: run that date again
        run_id = existing["dag_runs"][0]["dag_run_id"]
        clear(api, run_id)
    else:
        run_id = api.trigger(DAG, logical_date=logical_date)
    state = api.wait_run(DAG, run_id, timeout=600)
    tis = api.task_instances(DAG, run_id)
    assert state == "success", [(ti["task_id"], ti["state"]) for ti in tis]
    return run_id


def state(endpoint):
    return aws_standin.s3_state(endpoint, BUCKET), aws_standin.table_items(endpoint, TABLE)


def test_csv_becomes_typed_items_in_dynamodb(endpoint, first_run):
    items = aws_standin.table_items(endpoint, TABLE)
    assert [int(i["order_id"]) for i in items] == [1001, 1002, 1003, 1004, 1005]
    grace = items[1]
    assert grace["customer"] == "Grace Hopper"
    assert grace["amount"] == Decimal("240.00")
    assert grace["quantity"] == 3
    assert grace["placed_at"] == "2025-01-02T09:02:41+00:00"


def test_json_is_published_and_temporaries_are_gone(endpoint, first_run):
    objects = aws_standin.s3_state(endpoint, BUCKET)
    assert set(objects) == {f"incoming/{DATE}/orders.csv", f"json/incoming/{DATE}/orders.json"}
    published = json.loads(objects[f"json/incoming/{DATE}/orders.json"])
    rows = published if isinstance(published, list) else published["items"]
    assert len(rows) == 5


def test_tasks_ran_on_workers_as_the_assumed_role(api, endpoint, first_run):
    tis = api.task_instances(DAG, first_run)
    assert {ti["hostname"] for ti in tis} <= WORKERS
    arn = api.xcom(DAG, first_run, "whoami")
    assert arn.startswith(f"arn:aws:sts::{aws_standin.TARGET_ACCOUNT}:assumed-role/{aws_standin.ROLE_NAME}/"), arn
    # The data lives in the target account only: the connection's own account has no such bucket.
    source_s3 = aws_standin.source_session(endpoint).client("s3", endpoint_url=endpoint)
    assert BUCKET not in {b["Name"] for b in source_s3.list_buckets()["Buckets"]}


def test_the_same_date_again_leaves_the_same_state(api, endpoint, first_run):
    before = state(endpoint)
    clear(api, first_run)
    assert api.wait_run(DAG, first_run, timeout=600) == "success"
    assert all(ti["try_number"] >= 2 for ti in api.task_instances(DAG, first_run))
    assert state(endpoint) == before


def test_a_task_run_twice_leaves_the_same_state(api, endpoint, first_run):
    before = state(endpoint)
    api.post(f"/api/v2/dags/{DAG}/clearTaskInstances",
             {"dry_run": False, "dag_run_id": first_run, "task_ids": ["load"], "only_failed": False}, expect=(200,))
    assert api.wait_run(DAG, first_run, timeout=600) == "success"
    assert state(endpoint) == before

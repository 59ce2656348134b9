#!/usr/bin/env python
"""Run the example pipeline once on the demo fleet, on the embedded orders CSV.

    PYTHONPATH=tests scripts/demo/pipeline_demo.py http://CONTROL:8080 ADMIN_PASSWORD_FILE http://AWS_STANDIN:5000 [CSV]

Creates the target account's role, bucket and table on the AWS stand-in, puts
the CSV at incoming/<date>/orders.csv, triggers s3_csv_to_dynamodb for that
date through the REST API and prints the items that landed in DynamoDB.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import aws_standin
from fleetapi import Api

DAG, BUCKET, TABLE, DATE = "s3_csv_to_dynamodb", "airflow-pipeline", "orders", "2025-01-02"


def main() -> int:
    base_url, password_file, endpoint = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    csv = Path(sys.argv[4]) if len(sys.argv) > 4 else Path(__file__).with_name("orders.csv")
    aws_standin.prepare(endpoint, BUCKET, TABLE)
    aws_standin.put_csv(endpoint, BUCKET, f"incoming/{DATE}/orders.csv", csv.read_bytes())
    api = Api(base_url, password_file.read_text().strip())
    api.wait_dag(DAG)
    start = time.monotonic()
    # A new run each time, for the same date: the pipeline is idempotent.
    run_id = api.trigger(DAG, conf={"date": DATE})
    state = api.wait_run(DAG, run_id, timeout=600)
    print(f"{DAG} {run_id}: {state} in {time.monotonic() - start:.1f}s, as {api.xcom(DAG, run_id, 'whoami')}")
    for ti in api.task_instances(DAG, run_id):
        print(f"  {ti['task_id']:<18} {ti['state']:<8} on {ti['hostname']}")
    items = aws_standin.table_items(endpoint, TABLE)
    print(f"DynamoDB table {TABLE!r} in account {aws_standin.TARGET_ACCOUNT}: {len(items)} items")
    for item in items:
        print("  " + ", ".join(f"{k}={item[k]}" for k in sorted(item)))
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())

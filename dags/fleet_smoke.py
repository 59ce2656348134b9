"""Smoke test of a fleet: one task that reports which worker ran it.

Triggered by the test suite (and handy after any change to a fleet): the task
returns the worker's hostname as its XCom, so a caller can prove the run went
through Celery to a worker host, not just that a DAG exists. Trigger it with
conf {"sleep_seconds": N} to keep a task running, e.g. across a worker restart.
The task has retries: when its worker dies under it, it runs again (on any worker) once
the fleet notices the lost heartbeat (airflow_task_heartbeat_timeout + retry delay).
Like every task on a fleet it may run more than once, and it is safe to: it only reports.
"""

from __future__ import annotations

import socket
import time

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="fleet_smoke",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["fleet", "test"],
)
def fleet_smoke():
    @task(retries=2)
    def report_worker(**context) -> str:
        conf = context["dag_run"].conf or {}
        time.sleep(int(conf.get("sleep_seconds", 0)))
        return socket.gethostname()

    report_worker()


fleet_smoke()

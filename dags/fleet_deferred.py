"""A run that waits in the triggerer: its first task defers for `wait_seconds` (conf, default 20),
giving its worker slot back meanwhile, and resumes on a worker when the trigger fires; the
second task reports which worker ran it. The fault tests kill the triggerer while the wait is
deferred: the restarted (or another) triggerer takes the trigger over and the run completes.
Deferring and resuming are safe to repeat: the wait only measures time.
"""

from __future__ import annotations

import socket
from datetime import timedelta

import pendulum
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import BaseOperator, dag, task


class WaitInTheTriggerer(BaseOperator):
    """Defer for the run's wait_seconds; resume when the triggerer says the time is up."""

    def execute(self, context):
        seconds = int((context["dag_run"].conf or {}).get("wait_seconds", 20))
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=seconds)), method_name="resume")

    def resume(self, context, event=None):
        return "resumed"


@dag(
    dag_id="fleet_deferred",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["fleet", "test"],
)
def fleet_deferred():
    @task(retries=2)
    def report_worker() -> str:
        return socket.gethostname()

    WaitInTheTriggerer(task_id="wait") >> report_worker()


fleet_deferred()

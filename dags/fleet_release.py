"""Which DAG release a run's tasks run on (and a check that runs keep theirs across a rollout).

Each task reports RELEASE_MARK as the release that ran it defines it, with the file it ran
from and its worker. The fleet's DAG bundle records the release every run started with, and
every task of the run runs on that release's code, even when a rollout switched the fleet to
another release while the run went on (docs/dag-rollouts.md). To see it: trigger this DAG
with conf {"hold_until_switched": "/srv/airflow/dags/current"}, roll out a release that
changes RELEASE_MARK while `hold` waits, and `report` still returns this release's mark.
`hold` waits at most conf "hold_timeout" seconds (600) for the host's `current` link to leave
the release its own file belongs to, then conf "then_wait_seconds" more (0), so that the run
is still in flight when the rollout ends. It only reads, so running it twice is harmless.
"""

from __future__ import annotations

import os
import socket
import time

import pendulum
from airflow.sdk import dag, task

RELEASE_MARK = "repository"


def _where() -> dict:
    return {"mark": RELEASE_MARK, "file": os.path.realpath(__file__), "host": socket.gethostname()}


@dag(
    dag_id="fleet_release",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["fleet", "test"],
)
def fleet_release():
    @task
    def first() -> dict:
        return _where()

    @task
    def hold(**context) -> dict:
        conf = context["dag_run"].conf or {}
        link = conf.get("hold_until_switched")
        own = os.path.dirname(os.path.realpath(__file__))
        deadline = time.monotonic() + int(conf.get("hold_timeout", 600))
        while link and os.path.realpath(link) == own:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{link} still points at {own}, this task's own release")
            time.sleep(1)
        time.sleep(int(conf.get("then_wait_seconds", 0)))
        return _where()

    @task
    def report() -> dict:
        return _where()

    first() >> hold() >> report()


fleet_release()

"""Fan-out test of a fleet: many small mapped tasks spread over the workers.

Each mapped task holds its slot for a moment and returns the hostname of the
worker that ran it; the collecting task returns how many tasks each host ran.
"""

from __future__ import annotations

import socket
import time
from collections import Counter

import pendulum
from airflow.sdk import dag, task

FANOUT = 12


@dag(
    dag_id="fleet_fanout",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=FANOUT,
    tags=["fleet", "test"],
)
def fleet_fanout():
    @task
    def shards() -> list[int]:
        return list(range(FANOUT))

    @task
    def work(shard: int) -> str:
        time.sleep(3)
        return socket.gethostname()

    @task
    def tally(hosts: list[str]) -> dict[str, int]:
        return dict(Counter(hosts))

    tally(work.expand(shard=shards()))


fleet_fanout()

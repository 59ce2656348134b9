#!/usr/bin/env python
"""Benchmark DAG rollouts: how long after the switch every DAG of a new
release is offered by the REST API, over several rollouts.

    bench/rollout.py INVENTORY [ROUNDS]

Each round rolls out the repo's dags/ plus one new DAG file (so every round
is a new release that adds a DAG and retires the previous round's), runs
playbooks/dags.yml against INVENTORY and reads the seconds the playbook
reports. Afterwards the repo's dags/ is rolled out again. Prints each round
and min / median / max.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """import pendulum
from airflow.sdk import dag, task


@dag(dag_id="bench_rollout_{n}", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"))
def bench():
    @task
    def noop():
        return {n}

    noop()


bench()
"""


def rollout(inventory: str, source: Path) -> tuple[float, float]:
    start = time.monotonic()
    proc = subprocess.run(
        ["ansible-playbook", "-i", inventory, str(ROOT / "playbooks/dags.yml"), "-e", f"airflow_dags_source={source}"],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "ANSIBLE_NOCOLOR": "1"}, check=False,
    )
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(proc.stdout[-3000:] + proc.stderr[-2000:])
    match = re.search(r"DAGs\s+offered\s+by\s+the\s+REST\s+API\s+([0-9.]+)s\s+after\s+the\s+switch", proc.stdout)
    if not match:
        sys.exit("no visibility time in the output:\n" + proc.stdout[-3000:])
    return float(match.group(1)), wall


def main() -> int:
    inventory = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    seen, walls = [], []
    stamp = int(time.time())
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(rounds):
            source = Path(tmp) / f"round{n}"
            shutil.copytree(ROOT / "dags", source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            (source / "bench_rollout.py").write_text(PROBE.format(n=f"{stamp}_{n}"))
            visible, wall = rollout(inventory, source)
            seen.append(visible)
            walls.append(wall)
            print(f"round {n + 1}: all DAGs visible {visible:.2f}s after the switch (playbook {wall:.1f}s)")
    rollout(inventory, ROOT / "dags")
    print(f"visible after switch: min {min(seen):.2f}s  median {statistics.median(seen):.2f}s  max {max(seen):.2f}s"
          f"  over {rounds} rollouts")
    print(f"whole dags.yml run:   min {min(walls):.1f}s  median {statistics.median(walls):.1f}s  max {max(walls):.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

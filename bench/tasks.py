#!/usr/bin/env python
"""Benchmark how fast the fleet runs tasks: on the demo fleet's shape (a DB/broker host, a control
host, two workers), 100 independent no-op Python tasks in one DAG run, through Celery. Measured
twice in the same run: with Airflow's own defaults where the roles set another value, then with
the roles' settings, so the roles' tuning is shown to be no slower. Then, on the roles' settings,
DAG rollouts (playbooks/dags.yml) of 2 and of 200 DAG files.

    bench/tasks.py [--json FILE] [--tasks N] [--rollouts N]

For each setting it reports: wall time from the run's start to the last task's end, tasks per
second, queued->running latency (median, p95), the CPU seconds one task costs across the whole
fleet (every container's cgroup, less the idle rate measured before), the machine's limit (cores
divided by that cost) and the share of it reached, and the peak memory (resident set, summed
per systemd unit) of each component at idle and under the load. For the rollouts: seconds from
the switch until the REST API offers every DAG, and the whole dags.yml run. Brings up its own containers
(label fleet=bench) and removes them afterwards. Not part of the test command.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import converge  # noqa: E402  pylint: disable=wrong-import-position
import rollout  # noqa: E402  pylint: disable=wrong-import-position

ROOT = converge.ROOT
fleetlib = converge.fleetlib
DAG_ID = "bench_noop"
DAG = '''import pendulum
from airflow.sdk import dag, task


@dag(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False,
     max_active_tasks={tasks}, tags=["bench"])
def bench_noop():
    @task
    def noop(i: int) -> None:
        return None

    for i in range({tasks}):
        noop.override(task_id=f"noop_{{i:03d}}")(i)


bench_noop()
'''
# What the roles set where Airflow's default differs, as Airflow ships it (2 cores here).
UNTUNED = {"airflow_task_heartbeat_timeout": 300, "airflow_default_task_retry_delay": 300,
           "airflow_dag_refresh_interval": 300, "airflow_api_server_workers": 4,
           "airflow_config_overrides": {"scheduler": {"parsing_cleanup_interval": "60"}}}
UNITS = ["airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker",
         "airflow-flower", "postgresql@15-main", "redis-server", "haproxy"]


def cpu_seconds(hosts: list[str]) -> float:
    """CPU seconds used so far by every container of the fleet (cgroup v2 cpu.stat, or v1 cpuacct)."""
    total = 0.0
    for name in hosts:
        cid = converge.sh("docker", "inspect", "-f", "{{.Id}}", name).stdout.strip()
        v2 = [Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat"), Path(f"/sys/fs/cgroup/docker/{cid}/cpu.stat")]
        v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage")
        stat = next((p for p in v2 if p.exists()), None)
        if stat is not None:
            total += int(dict(line.split() for line in stat.read_text().splitlines())["usage_usec"]) / 1e6
        elif v1.exists():  # cgroup v1: nanoseconds, the container's children included
            total += int(v1.read_text()) / 1e9
        else:
            sys.exit(f"no cgroup CPU accounting for container {name}")
    return total


class MemorySampler:
    """Peak resident memory per (host, unit), sampled every second with ps's unit column."""

    def __init__(self, hosts: list[str]):
        self.hosts, self.peak, self._stop = hosts, {}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name in self.hosts:
                out = converge.sh("docker", "exec", name, "ps", "-eo", "unit=,rss=", check=False).stdout
                per_unit: dict[str, int] = {}
                for line in out.splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[0].removesuffix(".service") in UNITS:
                        unit = parts[0].removesuffix(".service")
                        per_unit[unit] = per_unit.get(unit, 0) + int(parts[1])
                for unit, kib in per_unit.items():
                    self.peak[(name, unit)] = max(self.peak.get((name, unit), 0), kib)
            self._stop.wait(1)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def mib(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (host, unit), kib in sorted(self.peak.items()):
            out.setdefault(host, {})[unit] = round(kib / 1024)
        return out


def at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def measure(api, hosts: list[str], tasks: int) -> dict:
    """Idle rate and memory, then one run of the DAG under the memory sampler."""
    with MemorySampler(hosts) as idle_memory:
        before, start = cpu_seconds(hosts), time.monotonic()
        time.sleep(30)
        idle_rate = (cpu_seconds(hosts) - before) / (time.monotonic() - start)
    with MemorySampler(hosts) as load_memory:
        before, start = cpu_seconds(hosts), time.monotonic()
        run_id = api.trigger(DAG_ID)
        state = api.wait_run(DAG_ID, run_id, timeout=1800)
        wall_cpu = cpu_seconds(hosts) - before
        elapsed = time.monotonic() - start
    if state != "success":
        sys.exit(f"{DAG_ID} run {run_id} ended {state}")
    tis = api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", limit=tasks)["task_instances"]
    assert len(tis) == tasks, len(tis)
    latency = [at(ti["start_date"]) - at(ti["queued_when"]) for ti in tis]
    first = min(at(ti["queued_when"]) for ti in tis)
    wall = max(at(ti["end_date"]) for ti in tis) - first
    per_task = max(0.0, wall_cpu - idle_rate * elapsed) / tasks
    cores = os.cpu_count() or 1
    limit = cores / per_task if per_task else 0.0
    rate = tasks / wall
    return {"wall_s": round(wall, 1), "tasks_per_s": round(rate, 3), "latency_median_s": round(statistics.median(latency), 2),
            "latency_p95_s": round(percentile(latency, 0.95), 2), "cpu_s_per_task": round(per_task, 2),
            "limit_tasks_per_s": round(limit, 3), "share_of_limit": round(rate / limit, 2) if limit else 0.0,
            "idle_cpu_cores": round(idle_rate, 2), "workers": sorted({ti["hostname"] for ti in tis}),
            "memory_idle_mib": idle_memory.mib(), "memory_load_mib": load_memory.mib()}


def rollouts(inventory: str, dags: Path, files: int, rounds: int) -> dict:
    """dags.yml with the bench DAG and files - 1 more DAG files, one of them new in each round (so each
    round is a new release): seconds until the REST API offers every DAG after the switch, and the
    whole playbook."""
    seen, walls = [], []
    for n in range(rounds):
        for old in dags.glob("bench_rollout_*.py"):
            old.unlink()
        # rollout.PROBE names its DAG bench_rollout_<n> and returns n: a number.
        for i in range(files - 2):
            (dags / f"bench_rollout_{i:03d}.py").write_text(rollout.PROBE.format(n=1000 + i))
        (dags / f"bench_rollout_r{n}.py").write_text(rollout.PROBE.format(n=f"9{files}{n:02d}"))
        visible, wall = rollout.rollout(inventory, dags)
        seen.append(visible)
        walls.append(wall)
        print(f"rollout of {files} DAG files, round {n + 1}: visible {visible:.2f} s after the switch, "
              f"dags.yml {wall:.1f} s", flush=True)
    return {"files": files, "rounds": rounds, "visible_s": seen, "dags_yml_s": [round(w, 1) for w in walls],
            "visible_median_s": round(statistics.median(seen), 2), "visible_max_s": round(max(seen), 2),
            "dags_yml_median_s": round(statistics.median(walls), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "tasks.json"))
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--rollouts", type=int, default=3, help="DAG rollouts measured with 2 and with 200 files")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    results = {}
    try:
        dags = work / "dags"
        dags.mkdir()
        (dags / f"{DAG_ID}.py").write_text(DAG.format(dag_id=DAG_ID, tasks=args.tasks))
        hosts = converge.shape_hosts(2)
        converge.remove_hosts()
        secrets, inventory = work / "secrets", work / "hosts.json"
        converge.write_inventory(inventory, hosts, secrets)
        data = json.loads(inventory.read_text())
        data["all"]["vars"]["airflow_dags_source"] = str(dags)
        inventory.write_text(json.dumps(data))
        converge.start_hosts(list(hosts))
        # The roles' settings last: the DAG rollouts are measured on them.
        for label, settings in (("Airflow's defaults", UNTUNED), ("roles' settings", {})):
            converge.site(inventory, *(["-e", json.dumps(settings)] if settings else []))
            api = fleetlib.Api(f"http://{fleetlib.container_ip('bench-control')}:8080",
                               (secrets / "admin_password").read_text().strip())
            api.wait_dag(DAG_ID, timeout=600)
            results[label] = measure(api, list(hosts), args.tasks)
            converge.write_json(args.json, {"tasks": args.tasks, "untuned": UNTUNED}, results)
        for files in (2, 200):
            results[f"rollout of {files} DAG files"] = rollouts(str(inventory), dags, files, args.rollouts)
    finally:
        converge.remove_hosts()
        shutil.rmtree(work, ignore_errors=True)

    print(f"{args.tasks} no-op tasks, 2 workers, {os.cpu_count()} cores")
    print(f"{'settings':<20} {'wall s':>7} {'tasks/s':>8} {'q->run med':>10} {'p95':>6} {'CPU s/task':>10} "
          f"{'limit/s':>8} {'share':>6}")
    for label, r in results.items():
        if label.startswith("rollout"):
            continue
        print(f"{label:<20} {r['wall_s']:>7.1f} {r['tasks_per_s']:>8.3f} {r['latency_median_s']:>10.2f} "
              f"{r['latency_p95_s']:>6.2f} {r['cpu_s_per_task']:>10.2f} {r['limit_tasks_per_s']:>8.3f} {r['share_of_limit']:>6.2f}")
    for label, r in results.items():
        if label.startswith("rollout"):
            print(f"{label}: visible after the switch median {r['visible_median_s']} s, max {r['visible_max_s']} s; "
                  f"dags.yml median {r['dags_yml_median_s']} s")
            continue
        print(f"peak memory (MiB), {label}: idle {json.dumps(r['memory_idle_mib'])}; load {json.dumps(r['memory_load_mib'])}")
    converge.write_json(args.json, {"tasks": args.tasks, "untuned": UNTUNED}, results)
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

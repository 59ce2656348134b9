#!/usr/bin/env python
"""Benchmark how long the playbooks take: a fresh converge, a second run that changes
nothing, adding a worker (with --limit and with a full run), and how that grows with the
number of workers. Brings up its own local fleets of systemd containers (images/build.sh's
images, label fleet=bench), removes them afterwards, prints a table and writes JSON.

    bench/converge.py [--rounds N] [--json FILE] [SHAPE ...]

SHAPE is one of:
  solo      one host running everything, PostgreSQL and Redis included
  demo      the demo fleet's shape: a DB/broker host, a control host, two workers;
            then a third worker added with --limit, a fourth with a full run
  workers   a DB/broker host, a control host and 1, 2, 4, 8 workers (fresh and second run)
Default: solo demo. Each round brings up fresh containers. Needs scripts/bootstrap.sh and
images/build.sh to have run (both are safe to run again). Not part of the test command.
"""

from __future__ import annotations

import argparse
import json
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
sys.path.insert(0, str(ROOT / "tests"))
import fleetlib  # noqa: E402  pylint: disable=wrong-import-position

NETWORK = "airflow-bench"
GROUPS_DATA = ["airflow_postgresql", "airflow_redis"]
GROUPS_CONTROL = ["airflow_api_servers", "airflow_schedulers", "airflow_dag_processors", "airflow_triggerers",
                  "airflow_flower"]


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check)


def start_hosts(names: list[str]) -> None:
    if sh("docker", "network", "inspect", NETWORK, check=False).returncode != 0:
        sh("docker", "network", "create", "--label", "fleet=bench", NETWORK)
    for name in names:
        sh("docker", "rm", "-f", name, check=False)
        sh("docker", "run", "-d", "--name", name, "--hostname", name, "--network", NETWORK, "--label", "fleet=bench",
           "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
           "--cap-add", "SYS_ADMIN", "airflow-fleet/debian:12", "/lib/systemd/systemd")
    for name in names:
        for _attempt in range(60):
            state = sh("docker", "exec", name, "systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(1)


def remove_hosts() -> None:
    ids = sh("docker", "ps", "-aq", "--filter", "label=fleet=bench").stdout.split()
    if ids:
        sh("docker", "rm", "-f", *ids)
    sh("docker", "network", "rm", NETWORK, check=False)


def write_inventory(path: Path, hosts: dict[str, list[str]], secrets: Path) -> None:
    groups: dict[str, dict] = {}
    for name, host_groups in hosts.items():
        for group in host_groups:
            groups.setdefault(group, {"hosts": {}})["hosts"][name] = None
    inventory = {"all": {
        "vars": {"ansible_connection": "community.docker.docker", "airflow_fleet_name": "bench",
                 "airflow_secrets_dir": str(secrets), "airflow_dags_source": str(ROOT / "dags")},
        "children": groups,
    }}
    path.write_text(json.dumps(inventory))


def site(inventory: Path, *args: str) -> dict:
    """One site.yml run: wall seconds, tasks run (ok + changed, every host), changed."""
    start = time.monotonic()
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(ROOT / "playbooks/site.yml"), *args],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
    )
    seconds = time.monotonic() - start
    run = fleetlib.PlaybookRun(proc.returncode, proc.stdout + proc.stderr)
    if proc.returncode != 0:
        sys.exit(f"site.yml {' '.join(args)} failed:\n" + run.output[-4000:])
    recap = run.recap()
    # The checkout's ansible.cfg enables profile_tasks: its summary names the slowest tasks.
    slowest = [[name.strip(), float(secs)] for name, secs in
               re.findall(r"^(\S.*?) -{3,} (\d+\.\d+)s$", run.output, re.MULTILINE)][:15]
    return {"seconds": round(seconds, 1), "tasks": sum(c.get("ok", 0) for c in recap.values()),
            "changed": run.changed(), "hosts": len(recap), "slowest": slowest}


def write_json(path: str, machine: dict, results: dict) -> None:
    """A benchmark's results beside the machine they were measured on (and when)."""
    machine = {"cores": os.cpu_count(), **machine, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


def shape_hosts(workers: int, solo: bool = False) -> dict[str, list[str]]:
    if solo:
        return {"bench-solo": GROUPS_DATA + GROUPS_CONTROL + ["airflow_workers"]}
    hosts = {"bench-data": GROUPS_DATA, "bench-control": GROUPS_CONTROL}
    hosts.update({f"bench-worker{i}": ["airflow_workers"] for i in range(1, workers + 1)})
    return hosts


def converge_twice(hosts: dict[str, list[str]], work: Path) -> dict:
    remove_hosts()
    secrets = work / "secrets"
    shutil.rmtree(secrets, ignore_errors=True)
    inventory = work / "hosts.json"
    write_inventory(inventory, hosts, secrets)
    start_hosts(list(hosts))
    fresh = site(inventory)
    second = site(inventory)
    return {"fresh": fresh, "second": second, "ratio": round(second["seconds"] / fresh["seconds"], 3),
            "inventory": inventory, "hosts": hosts, "secrets": secrets}


def add_workers(result: dict, work: Path) -> dict:
    """On a converged fleet: a worker added with --limit, then another with a full run."""
    hosts = dict(result["hosts"])
    out = {}
    for label, limited in (("limit", True), ("full", False)):
        name = f"bench-added-{label}"
        hosts[name] = ["airflow_workers"]
        write_inventory(result["inventory"], hosts, result["secrets"])
        start_hosts([name])
        out[label] = site(result["inventory"], *(["--limit", name] if limited else []))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("shapes", nargs="*", default=["solo", "demo"], choices=["solo", "demo", "workers"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "converge.json"))
    parser.add_argument("--workers", default="1,2,4,8", help="worker counts for the workers shape")
    args = parser.parse_args()

    results: dict[str, list[dict]] = {}
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    try:
        for _round in range(args.rounds):
            if "solo" in args.shapes:
                r = converge_twice(shape_hosts(0, solo=True), work)
                results.setdefault("solo", []).append({k: r[k] for k in ("fresh", "second", "ratio")})
            if "demo" in args.shapes:
                r = converge_twice(shape_hosts(2), work)
                added = add_workers(r, work)
                row = {k: r[k] for k in ("fresh", "second", "ratio")}
                row.update(add_worker_limit=added["limit"], add_worker_full=added["full"])
                results.setdefault("demo", []).append(row)
            if "workers" in args.shapes:
                for count in [int(n) for n in args.workers.split(",")]:
                    r = converge_twice(shape_hosts(count), work)
                    results.setdefault(f"workers-{count}", []).append(
                        {k: r[k] for k in ("fresh", "second", "ratio")})
    finally:
        remove_hosts()
        shutil.rmtree(work, ignore_errors=True)

    def median(rows: list[dict], *path: str) -> float:
        values = []
        for row in rows:
            value = row
            for key in path:
                value = value[key]
            values.append(value)
        return round(statistics.median(values), 3)

    print(f"{'fleet':<12} {'fresh s':>8} {'second s':>9} {'ratio':>6} {'tasks':>6} {'changed':>8} {'+worker --limit s':>18} "
          f"{'+worker full s':>15}")
    for name, rows in results.items():
        limit = f"{median(rows, 'add_worker_limit', 'seconds'):.0f}" if "add_worker_limit" in rows[0] else "-"
        full = f"{median(rows, 'add_worker_full', 'seconds'):.0f}" if "add_worker_full" in rows[0] else "-"
        print(f"{name:<12} {median(rows, 'fresh', 'seconds'):>8.0f} {median(rows, 'second', 'seconds'):>9.0f} "
              f"{median(rows, 'ratio'):>6.2f} {median(rows, 'second', 'tasks'):>6.0f} {median(rows, 'second', 'changed'):>8.0f} "
              f"{limit:>18} {full:>15}")
    write_json(args.json, {"rounds": args.rounds}, results)
    print(f"medians of {args.rounds} round(s); JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Benchmark the Airflow virtualenv install on one host, both ways the airflow role offers: uv from
the package index, and offline from a wheelhouse the controller builds once and pushes
(airflow_wheelhouse). Uses the role's own install-venv and build_wheelhouse.py on a fresh systemd
container (images/build.sh's Debian 12), removed afterwards.

    bench/install.py [--rounds N] [--json FILE]

Reports per way: installing uv, building the virtualenv (Airflow and its extras, as the role
does), and for the wheelhouse the push (copy and unpack of the tarball) and the one-off build on
the controller. Each round uses a new container; medians over the rounds. Not part of the test
command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import converge  # noqa: E402  pylint: disable=wrong-import-position

ROOT = converge.ROOT
FILES = ROOT / "roles" / "airflow" / "files"
HOST = "bench-install"
VERSION, UV = "3.3.2", "0.13.9"
EXTRAS = "amazon,celery,fab,postgres,redis"
CONSTRAINTS = FILES / f"constraints-{VERSION}.txt"
PACKAGES_ENV = """PIP_DISABLE_PIP_VERSION_CHECK='1'
PIP_CERT='/etc/ssl/certs/ca-certificates.crt'
PIP_CONSTRAINT='/opt/airflow/constraints.txt'
UV_CONSTRAINT='/opt/airflow/constraints.txt'
"""
OFFLINE_ENV = """PIP_NO_INDEX='1'
PIP_FIND_LINKS='/opt/airflow/wheelhouse/{name}'
UV_OFFLINE='1'
UV_FIND_LINKS='/opt/airflow/wheelhouse/{name}'
"""


def timed(*argv: str) -> float:
    start = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True, text=True)
    return time.monotonic() - start


def dexec(script: str) -> float:
    return timed("docker", "exec", HOST, "bash", "-euc", script)


def put(text: str, path: str) -> None:
    subprocess.run(["docker", "exec", "-i", HOST, "bash", "-c", f"cat > {path}"], input=text, text=True, check=True)


def install(env: str) -> dict:
    """uv into its own virtualenv, then the Airflow virtualenv, as the role's install.yml does."""
    put(env, "/opt/airflow/packages.env")
    uv = dexec(f'set -a; . /opt/airflow/packages.env; set +a; python3 -m venv /opt/airflow/uv && '
               f'/opt/airflow/uv/bin/pip install --no-cache-dir --quiet "uv=={UV}"')
    venv = dexec("bash /opt/airflow/install-venv /opt/airflow/packages.env /usr/bin/python3 /opt/airflow/venv uv "
                 f"/opt/airflow/uv/bin/uv /opt/airflow/constraints.txt /srv/dags/.python "
                 f"'apache-airflow[{EXTRAS}]=={VERSION}'")
    count = subprocess.run(["docker", "exec", HOST, "/opt/airflow/venv/bin/python", "-c",
                            "import importlib.metadata as m; print(len(list(m.distributions())))"],
                           check=True, capture_output=True, text=True).stdout.strip()
    return {"uv_s": round(uv, 1), "venv_s": round(venv, 1), "total_s": round(uv + venv, 1), "distributions": int(count)}


def fresh_host() -> None:
    converge.start_hosts([HOST])
    subprocess.run(["docker", "exec", HOST, "mkdir", "-p", "/opt/airflow", "/srv/dags"], check=True)
    subprocess.run(["docker", "cp", str(FILES / "install-venv"), f"{HOST}:/opt/airflow/install-venv"], check=True)
    subprocess.run(["docker", "cp", str(CONSTRAINTS), f"{HOST}:/opt/airflow/constraints.txt"], check=True)


def build_wheelhouse(work: Path) -> tuple[Path, float]:
    """The role's build on the controller, for the image's Python (read from a container)."""
    target = json.loads(subprocess.run(
        ["docker", "exec", HOST, "python3", "-c", "import json, platform; print(json.dumps([platform.python_version(), "
         "platform.machine(), platform.libc_ver()[1]]))"], check=True, capture_output=True, text=True).stdout)
    tar = work / f"airflow-{VERSION}-bench-cp{target[0]}-{target[1]}-glibc{target[2]}.tar"
    request = json.dumps({"requirements": [f"apache-airflow[{EXTRAS}]=={VERSION}"]})
    start = time.monotonic()
    subprocess.run([sys.executable, str(FILES / "build_wheelhouse.py"), str(tar), str(CONSTRAINTS), *target, UV],
                   input=request, text=True, check=True, capture_output=True)
    return tar, time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "install.json"))
    args = parser.parse_args()
    rounds: list[dict] = []
    build_s = 0.0
    size_mib = 0.0
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        work = Path(tmp)
        try:
            tar = None
            for _round in range(args.rounds):
                fresh_host()
                index = install(PACKAGES_ENV)
                fresh_host()
                if tar is None:
                    tar, build_s = build_wheelhouse(work)
                    size_mib = tar.stat().st_size / 2**20
                name = tar.name.removesuffix(".tar")
                push = timed("docker", "cp", str(tar), f"{HOST}:/opt/airflow/wheelhouse.tar")
                push += dexec("tar -xf /opt/airflow/wheelhouse.tar -C /opt/airflow && rm /opt/airflow/wheelhouse.tar")
                offline = install(PACKAGES_ENV + OFFLINE_ENV.format(name=name))
                offline["push_s"] = round(push, 1)
                offline["total_s"] = round(offline["total_s"] + push, 1)
                rounds.append({"index": index, "wheelhouse": offline})
                print(f"round {len(rounds)}: index {index['total_s']} s, wheelhouse {offline['total_s']} s", flush=True)
        finally:
            converge.remove_hosts()

    def median(way: str, key: str) -> float:
        return round(statistics.median(r[way][key] for r in rounds), 1)

    print(f"\nAirflow {VERSION} [{EXTRAS}] virtualenv on one host, {os.cpu_count()} cores, median of {len(rounds)}")
    print(f"{'way':<12} {'uv s':>6} {'venv s':>7} {'push s':>7} {'total s':>8}")
    for way in ("index", "wheelhouse"):
        push = f"{median(way, 'push_s'):>7.1f}" if way == "wheelhouse" else f"{'-':>7}"
        print(f"{way:<12} {median(way, 'uv_s'):>6.1f} {median(way, 'venv_s'):>7.1f} {push} {median(way, 'total_s'):>8.1f}")
    print(f"wheelhouse built once on the controller: {build_s:.1f} s, {size_mib:.0f} MiB")
    converge.write_json(args.json, {"airflow": VERSION, "extras": EXTRAS, "uv": UV},
                        {"rounds": rounds, "wheelhouse_build_s": round(build_s, 1), "wheelhouse_mib": round(size_mib)})
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build an offline wheelhouse for Airflow hosts, on the controller (installed by the
fleetworks.airflow collection; the airflow role runs it with the controller's Python).

    python build_wheelhouse.py OUT.tar CONSTRAINTS PYTHON_VERSION MACHINE GLIBC UV_VERSION < REQUEST

REQUEST is JSON on stdin, {"requirements": [...], "index_url": "", "extra_index_urls": []}:
what to install (Airflow with its extras, extra packages) and the fleet's package indexes (a
URL may carry credentials, so never on the command line; empty means PyPI).

The resolve is for the hosts, not the controller: uv compiles the exact pins for CPython
PYTHON_VERSION (e.g. 3.11.2: markers can name the patch release) on MACHINE with glibc
GLIBC, then pip downloads the wheel of each pin for that platform (binary only: a host
without an index cannot build an sdist). uv goes in too: the hosts install it from the
wheelhouse. The tarball holds wheelhouse/NAME/ (NAME is OUT without .tar): the wheels, the
pins as requirements.txt and, last, the marker .complete. It is written under a temporary
name and renamed, so a half-built wheelhouse is never used. Needs uv and pip importable by
the Python that runs this, and the package index reachable from the controller.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path


def platforms(machine: str, glibc: str) -> list[str]:
    """Every manylinux tag a host with this glibc accepts (pip does not widen a given tag)."""
    major, minor = (int(part) for part in glibc.split(".")[:2])
    tags = [f"manylinux_{major}_{m}_{machine}" for m in range(5, minor + 1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags += [f"{name}_{machine}" for floor, name in legacy.items() if major == 2 and minor >= floor]
    return tags


def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def main(out: str, constraints: str, python_version: str, machine: str, glibc: str,
         uv_version: str) -> int:
    request = json.load(sys.stdin)
    # uv trusts the system's CA certificates, as pip does (a TLS-intercepting proxy's CA is among them).
    env = {"UV_SYSTEM_CERTS": "1", **os.environ}
    if request.get("index_url"):
        env |= {"PIP_INDEX_URL": request["index_url"], "UV_DEFAULT_INDEX": request["index_url"]}
    if request.get("extra_index_urls"):
        env |= {"PIP_EXTRA_INDEX_URL": " ".join(request["extra_index_urls"]),
                "UV_INDEX": " ".join(request["extra_index_urls"])}
    target = Path(out)
    name = target.name.removesuffix(".tar")
    work = Path(tempfile.mkdtemp(prefix="wheelhouse-", dir=target.parent))
    try:
        wheels = work / name
        wheels.mkdir()
        pins = wheels / "requirements.txt"
        requirements = work / "requirements.in"
        requirements.write_text("".join(f"{line}\n" for line in request["requirements"]), encoding="utf-8")
        subprocess.run([sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--no-header", "--no-annotate",
                        "--python-version", python_version, "--python-platform", f"{machine}-manylinux_{glibc.replace('.', '_')}",
                        "--constraints", constraints, "--output-file", str(pins), str(requirements)], check=True, env=env)
        with pins.open("a", encoding="utf-8") as handle:
            handle.write(f"uv=={uv_version}\n")
        abi = "cp" + "".join(python_version.split(".")[:2])
        argv = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version,
                "--abi", abi, "--abi", "abi3", "--abi", "none", "--dest", str(wheels), "--requirement", str(pins)]
        for tag in platforms(machine, glibc):
            argv += ["--platform", tag]
        subprocess.run(argv, check=True, env=env)
        (wheels / ".complete").write_text(f"{name}\n", encoding="utf-8")
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(work, arcname="wheelhouse", recursive=False, filter=as_root)
            tar.add(wheels, arcname=f"wheelhouse/{name}", recursive=False, filter=as_root)
            for path in sorted(wheels.iterdir(), key=lambda p: (p.name == ".complete", p.name)):
                tar.add(path, arcname=f"wheelhouse/{name}/{path.name}", filter=as_root)
        os.replace(partial, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))

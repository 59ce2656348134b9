"""Every unit the collection writes is sandboxed, and how much is measured: systemd's own
`systemd-analyze security` exposure (0 = fully confined, 10 = unconfined) of each unit must stay
at or below the limit below, and the measured scores are written to docs/security.md, next to
the distribution's own units on the same host for comparison."""

from __future__ import annotations

import re
from pathlib import Path

import fleetlib

HOST = "af-solo"
testinfra_hosts = [f"docker://{HOST}"]

# unit: (limit, why the limit is not lower). Each unit keeps the network (PrivateNetwork, IPAddressDeny and
# the address families cost ~1.0 of the score), shares the airflow user with the others (no PrivateUsers,
# DynamicUser, RemoveIPC) and runs Python that may need W+X memory (no MemoryDenyWriteExecute):
# docs/security.md says why each is not set.
LIMITS = {
    "airflow-api-server": (2.0, "serves HTTP(S) to the network (AF_INET/AF_INET6 stay open)"),
    "airflow-scheduler": (2.0, "talks to PostgreSQL, Redis and the API over the network"),
    "airflow-dag-processor": (2.0, "runs DAG files' top-level code: user code needs the network"),
    "airflow-triggerer": (2.0, "runs user triggers (network waits)"),
    "airflow-worker": (2.0, "runs user tasks: network, subprocesses, virtualenv builds"),
    "airflow-flower": (2.0, "serves HTTP(S) and talks to Redis"),
    "airflow-log-cleanup": (2.0, "deletes old files under the log directory"),
    "airflow-db-clean": (2.0, "reaches PostgreSQL over the network"),
}
# The distribution's units on the same host, measured for comparison only (not the collection's to tighten).
OTHERS = ["postgresql@15-main", "redis-server", "haproxy"]
DOC = Path(fleetlib.PROJECT) / "docs" / "security.md"
BEGIN, END = "<!-- scores:begin -->", "<!-- scores:end -->"


def exposure(host, unit: str) -> float:
    out = host.run_expect([0], f"systemd-analyze security --no-pager {unit}.service").stdout
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert match, out[-500:]
    return float(match.group(1))


def test_every_unit_stays_within_its_exposure_limit(host):
    scores = {unit: exposure(host, unit) for unit in list(LIMITS) + OTHERS}
    version = host.check_output("systemctl --version").splitlines()[0]
    rows = [f"| {unit} | {scores[unit]:.1f} | {limit:.1f} | {why} |" for unit, (limit, why) in LIMITS.items()]
    rows += [f"| {unit} (Debian's) | {scores[unit]:.1f} | none | the distribution's unit, for comparison |"
             for unit in OTHERS]
    table = "\n".join([f"Measured on {HOST} (Debian 12, {version}) by molecule/default/tests/test_solo_security.py.", "",
                       "| unit | exposure | limit | why not lower |", "|---|---|---|---|", *rows])
    text = DOC.read_text()
    assert BEGIN in text and END in text, f"{DOC} lost its score markers"
    DOC.write_text(text.split(BEGIN)[0] + BEGIN + "\n" + table + "\n" + END + text.split(END, 1)[1])
    over = {unit: scores[unit] for unit, (limit, _why) in LIMITS.items() if scores[unit] > limit}
    assert not over, f"exposure above the limit: {over}"


def test_a_component_runs_with_no_capabilities_and_a_syscall_filter(host):
    """What the scores stand for, read from a running process: the worker's threads hold no
    capability, cannot gain any (NoNewPrivileges), and run under a seccomp filter."""
    pid = host.check_output("systemctl show --property MainPID --value airflow-worker")
    status = host.file(f"/proc/{pid}/status").content_string
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert int(fields["CapBnd"].strip(), 16) == 0 and int(fields["CapEff"].strip(), 16) == 0, fields
    assert fields["NoNewPrivs"].strip() == "1" and fields["Seccomp"].strip() == "2", fields

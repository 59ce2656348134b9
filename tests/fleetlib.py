"""Helpers the molecule verifiers share: reach a running test fleet the way a
user would (REST API, Flower, ansible-playbook) and read its generated secrets.

Everything here talks to real services on the scenario's containers; nothing
is mocked. Container addresses come from the Docker engine.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

# Re-exported for the verifiers.
from fleetapi import Api  # noqa: F401  pylint: disable=unused-import

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[1]))
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
INVENTORY = EPHEMERAL / "inventory"
SECRETS = EPHEMERAL / "secrets"
# Secrets the playbooks generate on the controller (files in SECRETS), besides the fernet key's seed.
GENERATED_SECRETS = ["admin_password", "api_secret_key", "db_password", "flower_password", "jwt_secret", "redis_password"]


def secret(name: str) -> str:
    """A secret the playbook generated on the controller."""
    return (SECRETS / name).read_text().strip()


def fleet_secrets(complete: bool = True) -> dict[str, str]:
    """Every secret generated on the controller, by name, as the hosts hold it: the fleet's own
    (the fernet key is the base64 of its seed file) and any other a scenario generates there
    (a connection's password, package index credentials)."""
    values = {path.name: path.read_text().strip() for path in sorted(SECRETS.iterdir()) if path.is_file()}
    missing = set(GENERATED_SECRETS) - set(values)
    assert not missing or not complete, f"generated secrets missing from {SECRETS}: {sorted(missing)}"
    if "fernet_key_seed" in values:
        values["fernet_key"] = base64.b64encode(values.pop("fernet_key_seed").encode()).decode()
    # The TLS keys (airflow_tls): the longest base64 line of each PEM stands for it.
    for path in sorted((SECRETS / "tls").glob("*.key")) if (SECRETS / "tls").is_dir() else []:
        values[f"tls_key:{path.stem}"] = max(path.read_text().splitlines(), key=len)
    for conn in inventory_vars().get("airflow_connections") or []:
        password = str(conn.get("password", ""))
        if password and "{{" not in password:  # a literal in the inventory (generated ones are files above)
            values[f"connection_password:{conn['conn_id']}"] = password
    return {name: value for name, value in values.items() if value}


def inventory_vars() -> dict:
    """The scenario inventory's group_vars for all hosts, as written (templates not rendered)."""
    path = INVENTORY / "group_vars" / "all"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def flag(name: str) -> bool:
    """A boolean setting of the scenario's inventory as the roles read it: the scenarios write some as
    strings ("yes", "0"), the forms -e key=value gives."""
    value = inventory_vars().get(name, False)
    return str(value).lower() in ("true", "yes", "1", "on")


def tls_ca() -> str | None:
    """The fleet CA (on the controller) when the scenario runs with airflow_tls, else None."""
    return str(SECRETS / "tls" / "ca.crt") if flag("airflow_tls") else None


def api_url(name: str, port: int = 8080) -> str:
    """An API server (or Flower, by port) on container `name` as a user reaches it: HTTPS under airflow_tls."""
    return f"{'https' if tls_ca() else 'http'}://{container_ip(name)}:{port}"


def api(name: str) -> Api:
    """The REST API of the API server on container `name`, logged in as the admin, verifying the fleet CA."""
    return Api(api_url(name), secret("admin_password"), ca_path=tls_ca())


def leaked_secrets(text: str, complete: bool = True) -> list[str]:
    """Names of the fleet secrets whose value appears in text (complete: every secret the fleet
    generates must be there to look for)."""
    return [name for name, value in fleet_secrets(complete).items() if value in text]


LEAK_CANARY = "/var/tmp/fleet-leakcheck-canary"  # not under /run: docker cp cannot write into a tmpfs


def world_readable_files_with_secrets(container: str, complete: bool = True) -> list[str]:
    """World-readable files on a host that hold a fleet secret: configs, units, virtualenvs, logs,
    /tmp and /run. The values go to the host in a root-only file (docker cp), never on a command line.
    Every search carries its own positive control: a world-readable canary file holding a value it
    looks for must be found, so a search that did not run (a failed docker exec) is an error, not
    "no leak"."""
    canary = f"fleet-leakcheck-canary-{os.urandom(8).hex()}"
    put_file(container, "/root/.fleet-leakcheck", "\n".join([*fleet_secrets(complete).values(), canary]) + "\n", "0600")
    put_file(container, LEAK_CANARY, canary + "\n", "0644")
    search = ("find / /run -xdev -type f -perm -004 -size -4M -print0 2>/dev/null"
              " | xargs -0 -r grep -lF -f /root/.fleet-leakcheck; rm -f /root/.fleet-leakcheck " + LEAK_CANARY)
    found = subprocess.run(["docker", "exec", container, "sh", "-c", search], capture_output=True, text=True,
                           check=False).stdout.split()
    assert LEAK_CANARY in found, f"the search for secrets on {container} did not find its own canary: it did not run"
    return [path for path in found if path != LEAK_CANARY]


def put_file(container: str, path: str, text: str, mode: str) -> None:
    """Write a file on a host without its content passing through a command line."""
    with tempfile.NamedTemporaryFile("w") as local:
        local.write(text)
        local.flush()
        subprocess.run(["docker", "cp", local.name, f"{container}:{path}"], check=True)
    subprocess.run(["docker", "exec", container, "chmod", mode, path], check=True)


def command_lines(container: str) -> str:
    """Every process command line on a host, arguments separated by spaces. Fails when they cannot
    be read (PID 1, systemd, is always among them), so an unreadable host is never "no leak"."""
    proc = subprocess.run(["docker", "exec", container, "sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '"],
                          capture_output=True, text=True, check=False)
    assert "systemd" in proc.stdout, f"no process command lines read on {container}: {proc.stderr.strip()}"
    return proc.stdout


# Runs on the host, as root, for as long as its stdin stays open: reads every process's command
# line straight from /proc many times a second (no process started per sample, so the sampling
# does not slow the run it watches), and prints what it saw as JSON when stdin closes. The
# secrets come from a root-only file it deletes once read: none is ever on a command line.
_SAMPLER = r"""
import json, os, sys, threading
path = sys.argv[1]
with open(path) as handle:
    secrets = dict(line.rstrip("\n").split("\t", 1) for line in handle if "\t" in line)
os.unlink(path)
marks = ("ansible-tmp-", "AnsiballZ", "BECOME-SUCCESS-")
seen = {"samples": 0, "ansible_seen": 0, "unread": 0, "leaked": []}
leaked = set()
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
while not done.is_set():
    lines = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as handle:
                    lines.append(handle.read().replace(b"\0", b" ").decode("utf-8", "replace"))
            except OSError:
                pass
    text = "\n".join(lines)
    if "systemd" not in text:
        seen["unread"] += 1
    else:
        seen["samples"] += 1
        seen["ansible_seen"] += any(mark in text for mark in marks)
        leaked.update(name for name, value in secrets.items() if value in text)
    done.wait(0.05)
seen["leaked"] = sorted(leaked)
print(json.dumps(seen))
"""


class CommandLineSampler:
    """Reads every process command line on some hosts, over and over (20 times a second), while a
    playbook runs: a secret passed as an argument (or through sudo's environment) shows up here.
    Keeps the names of the secrets seen and how many samples caught Ansible's own processes at
    work; a sample that could not read the host's processes (PID 1's, systemd, is always among
    them) fails the sampler, never counts as "no leak"."""

    def __init__(self, containers: list[str]):
        self.containers = containers
        self.secrets = fleet_secrets()
        self.leaked: set[str] = set()
        self.samples = 0
        self.ansible_seen = 0
        self.unread: list[str] = []
        self._procs: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> "CommandLineSampler":
        for name in self.containers:
            tag = os.urandom(6).hex()
            put_file(name, f"/root/.fleet-sampler-{tag}.py", _SAMPLER, "0600")
            put_file(name, f"/root/.fleet-sampler-{tag}", "".join(f"{k}\t{v}\n" for k, v in self.secrets.items()), "0600")
            self._procs[name] = subprocess.Popen(
                ["docker", "exec", "-i", name, "sh", "-c", 'python3 "$0" "$1"; rm -f "$0"',
                 f"/root/.fleet-sampler-{tag}.py", f"/root/.fleet-sampler-{tag}"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *exc) -> None:
        for name, proc in self._procs.items():
            out, err = proc.communicate("", timeout=60)
            try:
                seen = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                self.unread.append(f"{name}: the sampler printed nothing readable: {err.strip()[-300:]}")
                continue
            self.samples += seen["samples"]
            self.ansible_seen += seen["ansible_seen"]
            self.leaked.update(seen["leaked"])
            if seen["unread"]:
                self.unread.append(f"{name}: {seen['unread']} samples read no command lines")
        assert not self.unread, f"samplers that could not read a host: {self.unread[:3]}"


def container_ip(name: str) -> str:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert out, f"container {name} has no address"
    return out[0]


@dataclass
class PlaybookRun:
    rc: int
    output: str

    def recap(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP counters per host (summed over the whole run)."""
        totals: dict[str, dict[str, int]] = {}
        for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=\d+.*)$", self.output, re.MULTILINE):
            for key, value in re.findall(r"(\w+)=(\d+)", counters):
                totals.setdefault(host, {}).setdefault(key, 0)
                totals[host][key] += int(value)
        return totals

    def changed(self) -> int:
        return sum(c.get("changed", 0) for c in self.recap().values())

    def changed_tasks(self) -> list[str]:
        """Names of tasks that reported a change (for readable assertion messages)."""
        names, current = [], None
        for line in self.output.splitlines():
            m = re.match(r"^TASK \[(.*)\]", line)
            if m:
                current = m.group(1)
            elif line.startswith("changed:") and current:
                names.append(current)
        return names


def _playbook_command(playbook: str, args: tuple[str, ...], extra_vars: dict | None, inventory: Path | None):
    """ansible-playbook's command line, environment and directory, as a user runs it.

    Scenarios that set FLEET_RUN_INSTALLED run the installed collection's playbook by its FQCN
    from an unrelated directory, with Ansible's defaults (no ansible.cfg, no roles path): the
    way a user who installed the tarball runs it. The others run the checkout's playbook with
    the checkout's ansible.cfg.
    """
    env = dict(os.environ)
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    if os.environ.get("FLEET_RUN_INSTALLED"):
        target = f"fleetworks.airflow.{Path(playbook).stem}"
        for name in ("ANSIBLE_CONFIG", "ANSIBLE_ROLES_PATH", "ANSIBLE_FORCE_HANDLERS", "ANSIBLE_CALLBACK_RESULT_FORMAT"):
            env.pop(name, None)
        cwd = EPHEMERAL / "user-cwd"
        cwd.mkdir(exist_ok=True)
    else:
        target = str(PROJECT / "playbooks" / playbook)
        env.update(ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_ROLES_PATH=str(PROJECT / "roles"))
        cwd = PROJECT
    cmd = ["ansible-playbook", "-i", str(inventory or INVENTORY), target, *args]
    if extra_vars is not None:
        cmd += ["-e", json.dumps(extra_vars)]
    return cmd, env, cwd


def run_playbook(
    playbook: str, *args: str, extra_vars: dict | None = None, timeout: int = 1500, inventory: Path | None = None
) -> PlaybookRun:
    """ansible-playbook against the scenario's inventory (or another), as a user runs it."""
    cmd, env, cwd = _playbook_command(playbook, args, extra_vars, inventory)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd, check=False)
    return _scanned(PlaybookRun(proc.returncode, proc.stdout + proc.stderr))


def _scanned(run: PlaybookRun) -> PlaybookRun:
    """Every run a test makes, whatever it tests (a scale-out, a lost host, an upgrade), is searched
    for the fleet's secrets: none may appear in Ansible's output."""
    if SECRETS.is_dir():
        leaked = leaked_secrets(run.output, complete=False)
        assert leaked == [], f"secrets in the output of ansible-playbook: {leaked}"
    return run


def status(*args: str) -> tuple[PlaybookRun, str]:
    """playbooks/status.yml (read-only), and its output with whitespace collapsed: a long table line
    or problem may be wrapped by Ansible's output format."""
    run = run_playbook("status.yml", *args, timeout=600)
    return run, " ".join(run.output.split())


class BackgroundPlaybook:
    """run_playbook in the background, for what a test does while the run goes on."""

    def __init__(self, playbook: str, *args: str, extra_vars: dict | None = None, inventory: Path | None = None):
        cmd, env, cwd = _playbook_command(playbook, args, extra_vars, inventory)
        self._log = tempfile.TemporaryFile(mode="w+")
        # A session of its own, so kill() ends ansible-playbook and every fork it made.
        self._proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd,
                                      start_new_session=True)

    def running(self) -> bool:
        return self._proc.poll() is None

    def output_so_far(self) -> str:
        """What the run has printed until now (it goes on)."""
        fd = self._log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def kill(self) -> PlaybookRun:
        """SIGKILL to ansible-playbook and its forks, as when the controller dies mid-run."""
        if self.running():
            os.killpg(self._proc.pid, signal.SIGKILL)
        return self.wait(timeout=60)

    def wait(self, timeout: int = 1800) -> PlaybookRun:
        try:
            rc = self._proc.wait(timeout=timeout)
        finally:
            if self._proc.poll() is None:
                self._proc.kill()
        self._log.seek(0)
        return _scanned(PlaybookRun(rc, self._log.read()))


def flower_workers(base_url: str, auth: tuple[str, str] | None) -> requests.Response:
    return requests.get(f"{base_url.rstrip('/')}/api/workers", auth=auth, params={"refresh": "1"}, timeout=30,
                        verify=tls_ca() or True)


FAULT_DOC = PROJECT / "docs" / "faults.md"
FAULT_SECTIONS = ["default", "cluster"]  # their order in the document


def _fault_row_key(line: str) -> str:
    return line.strip().strip("|").split("|")[0].strip()


def record_faults(scenario: str, rows: dict[str, tuple[str, str, float]], intro: str = "") -> None:
    """Write the faults a scenario injected, {fault: (what happened, what was measured, seconds)},
    into its own section of docs/faults.md, keeping the other scenarios' sections. A fault's row
    replaces its earlier one and other rows stay, so several test modules can add theirs. The
    scenarios run side by side: a lock keeps one's section from overwriting the other's."""
    with open(Path(tempfile.gettempdir()) / "fleetworks-faults.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _record_faults(scenario, rows, intro)


def _record_faults(scenario: str, rows: dict[str, tuple[str, str, float]], intro: str) -> None:
    text = FAULT_DOC.read_text() if FAULT_DOC.exists() else ""
    sections = {m.group(1): m.group(2) for m in re.finditer(r"<!-- (\w+):begin -->\n(.*?)<!-- \1:end -->\n", text, re.S)}
    old = sections.get(scenario, "")
    table = {_fault_row_key(line): line for line in old.splitlines()
             if line.startswith("| ") and _fault_row_key(line) not in ("fault", "---")}
    table.update({fault: f"| {fault} | {outcome} | {seconds:.0f} ({measured}) |"
                  for fault, (outcome, measured, seconds) in rows.items()})
    intro = intro.strip() or old.split("| fault |", 1)[0].strip()
    lines = [intro, "", "| fault | what happened | seconds to recovery |", "|---|---|---|", *table.values()]
    sections[scenario] = "\n".join(lines) + "\n"
    order = FAULT_SECTIONS + sorted(set(sections) - set(FAULT_SECTIONS))
    FAULT_DOC.write_text(
        "# Faults and how the fleet recovers\n\n"
        "<!-- Written by the scenarios' fault tests from their own runs (tests/fleetlib.py: record_faults); "
        "do not edit. -->\n"
        + "".join(f"\n<!-- {name}:begin -->\n{sections[name]}<!-- {name}:end -->\n" for name in order if name in sections)
    )

"""Pass a molecule run's output through and time its steps: every line is printed as it comes;
a line where molecule starts an action ("<scenario> ... <action>: Executing") starts that step's
clock, and in `verify` each test file's last result line (pytest -v) ends that file's time.
At the end one line, `steps: create 9s, prepare 31s, converge 402s, ...; verify: test_1.py 95s, ...`,
goes to the file named by the first argument (scripts/test.sh prints it in its table of times). A
second argument names a file that always holds the step under way (scripts/test.sh starts the
single-host scenario once the cluster's reaches `verify`). A third names a file that gets what
failed: each Ansible `fatal:`/`failed:` result with the lines after it and pytest's `FAILED`/`ERROR`
summary lines, so that the end of the test command's output says why a scenario failed."""

from __future__ import annotations

import re
import sys
import time

ACTIONS = ("dependency", "cleanup", "destroy", "syntax", "create", "prepare", "converge", "idempotence",
           "side_effect", "verify", "check", "lint")
STARTED = re.compile(r"\b(" + "|".join(ACTIONS) + r")\b\W*Executing")
RESULT = re.compile(r"(test_\w+\.py)::\S+ (?:PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# An Ansible task that failed on a host (not one ignored or retried), and pytest's summary of a failed test.
ANSIBLE_FAILED = re.compile(r"\b(?:fatal|failed): \[[^\]]+\]")
PYTEST_FAILED = re.compile(r"^(?:FAILED|ERROR) \S+\.py\b")
CONTEXT_LINES = 8
MAX_FAILURE_LINES = 80


def summary(steps: list[list], files: dict[str, float], file_order: list[str], end: float) -> str:
    parts = []
    for i, (action, started) in enumerate(steps):
        stopped = steps[i + 1][1] if i + 1 < len(steps) else end
        parts.append(f"{action} {stopped - started:.0f}s")
    line = "steps: " + ", ".join(parts)
    if file_order:
        line += "; verify: " + ", ".join(f"{name} {files[name]:.0f}s" for name in file_order)
    return line + "\n"


class Failures:
    """The lines that say what failed, with a few lines of each Ansible failure's message."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.context = 0
        self.last_start = 0

    def feed(self, line: str) -> None:
        plain = ANSI.sub("", line).rstrip()
        if plain.strip() == "...ignoring":  # the failure just kept was ignored_errors: not a failure
            del self.lines[self.last_start:]
            self.context = 0
            return
        if ANSIBLE_FAILED.search(plain):
            self.context = CONTEXT_LINES
            self.last_start = len(self.lines)
            self._keep(plain)
        elif PYTEST_FAILED.match(plain.strip()):
            self._keep(plain.strip())
        elif self.context > 0:
            self.context -= 1
            self._keep(plain)

    def _keep(self, text: str) -> None:
        if len(self.lines) < MAX_FAILURE_LINES:
            self.lines.append(text[:400])


def main(summary_path: str, step_path: str = "", failures_path: str = "") -> int:
    steps: list[list] = []
    files: dict[str, float] = {}
    file_order: list[str] = []
    failures = Failures()
    last_result = 0.0
    for line in sys.stdin:
        sys.stdout.write(line)
        sys.stdout.flush()
        failures.feed(line)
        now = time.monotonic()
        found = STARTED.search(line)
        # An action may announce itself twice (the verifier does): one step.
        if found and not (steps and steps[-1][0] == found.group(1)):
            steps.append([found.group(1), now])
            last_result = now
            if step_path:
                with open(step_path, "w", encoding="utf-8") as handle:
                    handle.write(found.group(1) + "\n")
        result = RESULT.search(line)
        if result and steps and steps[-1][0] == "verify":
            name = result.group(1)
            if name not in files:
                file_order.append(name)
                files[name] = 0.0
            files[name] += now - last_result
            last_result = now
    with open(summary_path, "w", encoding="utf-8") as handle:
        handle.write(summary(steps, files, file_order, time.monotonic()))
    if failures_path:
        with open(failures_path, "w", encoding="utf-8") as handle:
            handle.write("".join(text + "\n" for text in failures.lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))

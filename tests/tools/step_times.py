"""Pass a molecule run's output through and time its steps: every line is printed as it comes;
a line where molecule starts an action ("<scenario> ... <action>: Executing") starts that step's
clock, and in `verify` each test file's last result line (pytest -v) ends that file's time.
At the end one line, `steps: create 9s, prepare 31s, converge 402s, ...; verify: test_1.py 95s, ...`,
goes to the file named by the first argument (scripts/test.sh prints it in its table of times). A
second argument names a file that always holds the step under way (scripts/test.sh starts the
single-host scenario once the cluster's reaches `verify`)."""

from __future__ import annotations

import re
import sys
import time

ACTIONS = ("dependency", "cleanup", "destroy", "syntax", "create", "prepare", "converge", "idempotence",
           "side_effect", "verify", "check", "lint")
STARTED = re.compile(r"\b(" + "|".join(ACTIONS) + r")\b\W*Executing")
RESULT = re.compile(r"(test_\w+\.py)::\S+ (?:PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")


def summary(steps: list[list], files: dict[str, float], file_order: list[str], end: float) -> str:
    parts = []
    for i, (action, started) in enumerate(steps):
        stopped = steps[i + 1][1] if i + 1 < len(steps) else end
        parts.append(f"{action} {stopped - started:.0f}s")
    line = "steps: " + ", ".join(parts)
    if file_order:
        line += "; verify: " + ", ".join(f"{name} {files[name]:.0f}s" for name in file_order)
    return line + "\n"


def main(summary_path: str, step_path: str = "") -> int:
    steps: list[list] = []
    files: dict[str, float] = {}
    file_order: list[str] = []
    last_result = 0.0
    for line in sys.stdin:
        sys.stdout.write(line)
        sys.stdout.flush()
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
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))

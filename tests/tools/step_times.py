"""Pass a molecule run's output through and time its steps: every line is printed as it comes;
a line where molecule starts an action ("<scenario> ... <action>: Executing") starts that step's
clock. At the end one line, `steps: create 9s, prepare 31s, converge 402s, ...`, goes to the file
named by the only argument (scripts/test.sh prints it in its table of scenario times)."""

from __future__ import annotations

import re
import sys
import time

ACTIONS = ("dependency", "cleanup", "destroy", "syntax", "create", "prepare", "converge", "idempotence",
           "side_effect", "verify", "check", "lint")
STARTED = re.compile(r"\b(" + "|".join(ACTIONS) + r")\b\W*Executing")


def main(summary_path: str) -> int:
    steps: list[list] = []
    for line in sys.stdin:
        sys.stdout.write(line)
        sys.stdout.flush()
        found = STARTED.search(line)
        # An action may announce itself twice (the verifier does): one step.
        if found and not (steps and steps[-1][0] == found.group(1)):
            steps.append([found.group(1), time.monotonic()])
    end = time.monotonic()
    parts = []
    for i, (action, started) in enumerate(steps):
        stopped = steps[i + 1][1] if i + 1 < len(steps) else end
        parts.append(f"{action} {stopped - started:.0f}s")
    with open(summary_path, "w", encoding="utf-8") as handle:
        handle.write("steps: " + ", ".join(parts) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

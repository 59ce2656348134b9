#!/usr/bin/env python
"""Consistency checks across the roles (run by scripts/test.sh):
defaults/main.yml and meta/argument_specs.yml name the same variables, every
default has a comment above it, and the READMEs are generated from the specs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    problems = []
    for role in sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir()):
        defaults_file = role / "defaults/main.yml"
        spec_file = role / "meta/argument_specs.yml"
        if not spec_file.exists():
            problems.append(f"{role.name}: no meta/argument_specs.yml")
            continue
        spec = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"].get("options", {})
        text = defaults_file.read_text() if defaults_file.exists() else ""
        defaults = yaml.safe_load(text) or {}
        optional = {name for name, opt in spec.items() if not opt.get("required")}
        for name in sorted(set(defaults) - set(spec)):
            problems.append(f"{role.name}: {name} in defaults but not in argument_specs")
        for name in sorted(optional - set(defaults)):
            problems.append(f"{role.name}: {name} in argument_specs (optional) but not in defaults")
        # Every role's variables carry its name (the airflow role's are the
        # fleet-wide airflow_* settings).
        prefix = role.name + "_"
        for name, opt in spec.items():
            if not name.startswith(prefix):
                problems.append(f"{role.name}: {name} does not start with {prefix}")
            if not opt.get("description"):
                problems.append(f"{role.name}: {name} has no description")
            if "type" not in opt:
                problems.append(f"{role.name}: {name} has no type")
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if re.match(r"^[a-z_]+:", line) and not (i > 0 and lines[i - 1].startswith("#")):
                problems.append(f"{role.name}: {line.split(':')[0]} has no comment above it in defaults/main.yml")
    docs = subprocess.run([sys.executable, str(ROOT / "tests/tools/role_docs.py"), "--check"], capture_output=True, text=True, check=False)
    if docs.returncode != 0:
        problems.append(docs.stdout.strip())
    for problem in problems:
        print(problem)
    print(f"check_roles: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

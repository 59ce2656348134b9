#!/usr/bin/env python
"""Consistency checks across the roles (run by scripts/test.sh):
defaults/main.yml and meta/argument_specs.yml name the same variables, every
default has a comment above it, the READMEs are generated from the specs, and every
boolean setting is read once, through `| bool`, in its role's vars/main.yml."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


EXPRESSION_KEYS = {"when", "that", "failed_when", "changed_when", "until"}
JINJA = re.compile(r"{{(.*?)}}|{%(.*?)%}", re.S)


def expressions(path: Path) -> list[str]:
    """The Jinja expressions of a task, vars or template file (not its prose: messages, names, comments)."""
    if path.suffix == ".j2":
        return ["".join(m) for m in JINJA.findall(path.read_text())]
    found: list[str] = []

    def walk(node, raw: bool = False) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, raw=key in EXPRESSION_KEYS)
        elif isinstance(node, list):
            for item in node:
                walk(item, raw)
        elif isinstance(node, str):
            found.extend([node] if raw else ["".join(m) for m in JINJA.findall(node)])

    for doc in yaml.safe_load_all(path.read_text()):
        walk(doc)
    return found


def check_flags(specs: dict[str, dict]) -> list[str]:
    """A boolean setting typed with -e key=value is a string ("no" is true to Jinja). Each role reads its
    booleans once, as `__<role>_flags.<name>: "{{ <role>_<name> | bool }}"` in vars/main.yml; any other
    read in a role or playbook is a problem (defaults and playbooks/vars may pass one on to another
    setting, which is itself read through its flags). __airflow_flag_settings (checked by site.yml's
    first task) lists every boolean a user sets for site.yml."""
    problems = []
    flags = {role: sorted(n for n, o in spec.items() if o.get("type") == "bool") for role, spec in specs.items()}
    for role, names in flags.items():
        if not names:
            continue
        role_vars = yaml.safe_load((ROOT / "roles" / role / "vars/main.yml").read_text()) or {}
        want = {n[len(role) + 1:]: "{{ " + n + " | bool }}" for n in names}
        if role_vars.get(f"__{role}_flags") != want:
            problems.append(f"{role}: vars/main.yml must define __{role}_flags as {want}")
    glue = " ".join(p.read_text() for p in (ROOT / "playbooks/vars").glob("*.yml"))
    normalized_by_glue = set(re.findall(r'^(\w+): "{{ \w+ \| bool }}"$', glue, re.M))
    files = [p for d in ("tasks", "templates", "handlers", "vars") for p in (ROOT / "roles").glob(f"*/{d}/**/*") if p.is_file()]
    files += list((ROOT / "playbooks").glob("*.yml"))
    for path in files:
        exprs = expressions(path)
        for role, names in flags.items():
            for name in names:
                if path.parent == ROOT / "playbooks" and name in normalized_by_glue:
                    continue
                if path == ROOT / "roles" / role / "vars/main.yml":
                    exprs_here = [e for e in exprs if e.strip() != f"{name} | bool"]
                else:
                    exprs_here = exprs
                if any(re.search(rf"(?<![\w.]){name}(?!\w)", e) for e in exprs_here):
                    problems.append(f"{path.relative_to(ROOT)} reads {name}: read __{role}_flags.{name[len(role) + 1:]} instead")
    site_flags = {n for role in ("airflow", "postgresql", "redis", "firewall") for n in flags.get(role, [])
                  if not re.search(rf"^{n}:", glue, re.M)}
    listed = set((yaml.safe_load((ROOT / "roles/airflow/vars/main.yml").read_text()) or {}).get("__airflow_flag_settings", []))
    if listed != site_flags:
        problems.append(f"__airflow_flag_settings must list {sorted(site_flags)} (has {sorted(listed)})")
    return problems


def main() -> int:
    problems = []
    specs = {}
    for role in sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir()):
        defaults_file = role / "defaults/main.yml"
        spec_file = role / "meta/argument_specs.yml"
        if not spec_file.exists():
            problems.append(f"{role.name}: no meta/argument_specs.yml")
            continue
        spec = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"].get("options", {})
        specs[role.name] = spec
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
    problems += check_flags(specs)
    docs = subprocess.run([sys.executable, str(ROOT / "tests/tools/role_docs.py"), "--check"], capture_output=True, text=True, check=False)
    if docs.returncode != 0:
        problems.append(docs.stdout.strip())
    for problem in problems:
        print(problem)
    print(f"check_roles: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

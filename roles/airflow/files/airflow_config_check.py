#!/usr/bin/env python
"""Check airflow_config_overrides against an Airflow release's own config schema.

Runs on the controller (the airflow role's preflight), before any host changes:

    airflow_config_check.py SCHEMA.json < {"overrides": {...}, "managed": {"section.key": "variable"}}

prints a JSON list of problems, each a message that names what to change ([] when
there is none). The schema (files/config-<version>.json, written by
tests/tools/airflow_config_schema.py) lists every section and key the release
knows, core and installed providers, and the keys it renamed.
"""

from __future__ import annotations

import difflib
import json
import sys

# Sections whose keys are passed through to a library (Celery transport options,
# search-engine client settings): any key is valid there.
OPEN_SECTIONS = ("_transport_options", "_configs")


def _nearest(name: str, choices) -> str:
    found = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f' (did you mean "{found[0]}"?)' if found else ""


def airflow_config_problems(overrides: dict, schema: dict, managed: dict | None = None) -> list[str]:
    """Every problem with overrides, as messages naming what to change; [] when there is none.

    managed maps "section.key" to the variable that sets it (or a sentence why it is fixed).
    """
    managed = managed or {}
    sections = schema.get("sections", {})
    renamed = schema.get("renamed", {})
    version = schema.get("version", "?")
    problems = []
    for section, options in sorted((overrides or {}).items()):
        if not isinstance(options, dict):
            problems.append(f"airflow_config_overrides.{section} must be a mapping of keys to values")
            continue
        known = sections.get(section)
        for key in sorted(options):
            name = f"{section}.{key}"
            if name in managed:
                problems.append(f"airflow_config_overrides.{name} is set by the collection: use {managed[name]}")
            elif name in renamed and renamed[name] in managed:
                problems.append(
                    f"airflow_config_overrides.{name} is {renamed[name]} in Airflow 3, which the collection sets: "
                    f"use {managed[renamed[name]]}"
                )
            elif name in renamed:
                problems.append(f"airflow_config_overrides.{name} was renamed to {renamed[name]} in Airflow: use that")
            elif known is None:
                if section.endswith(OPEN_SECTIONS):
                    continue
                problems.append(
                    f"airflow_config_overrides: Airflow {version} has no section [{section}]{_nearest(section, sections)}"
                )
                break
            elif key not in known and not section.endswith(OPEN_SECTIONS):
                problems.append(
                    f"airflow_config_overrides.{name}: Airflow {version} has no key {key} in [{section}]{_nearest(key, known)}"
                )
    return problems


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as schema_file:
        schema = json.load(schema_file)
    request = json.load(sys.stdin)
    print(json.dumps(airflow_config_problems(request.get("overrides") or {}, schema, request.get("managed"))))


if __name__ == "__main__":
    main()

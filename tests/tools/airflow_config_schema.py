#!/usr/bin/env python
"""Write the config schema of an Airflow release: the sections and keys it knows
(core and the providers installed with the collection's extras), and the keys it
renamed. The airflow role's preflight checks airflow_config_overrides against it.

    python tests/tools/airflow_config_schema.py /path/to/venv/bin/python \\
        roles/airflow/files/config-3.3.2.json

The virtualenv must hold the release with the collection's extras (airflow_extras),
installed from the shipped constraints file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

# Runs inside the Airflow virtualenv: reads Airflow's own config description.
PROBE = r"""
import json
import airflow
from airflow.configuration import conf

conf.load_providers_configuration()
sections = {s: sorted(d.get("options", {})) for s, d in conf.configuration_description.items()}
renamed = {f"{old[0]}.{old[1]}": f"{new[0]}.{new[1]}" for new, old in conf.deprecated_options.items()}
print(json.dumps({"version": airflow.__version__, "sections": sections, "renamed": renamed}))
"""


def main(python: str, out: str) -> None:
    with tempfile.TemporaryDirectory() as home:
        proc = subprocess.run(
            [python, "-c", PROBE], capture_output=True, text=True, check=True, env={"AIRFLOW_HOME": home, "PATH": "/usr/bin:/bin"}
        )
    schema = json.loads(proc.stdout.strip().splitlines()[-1])
    schema = {"source": "airflow.configuration (core + installed providers), by tests/tools/airflow_config_schema.py", **schema}
    Path(out).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    keys = sum(len(v) for v in schema["sections"].values())
    print(f"{out}: Airflow {schema['version']}, {len(schema['sections'])} sections, {keys} keys, {len(schema['renamed'])} renamed")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])

#!/usr/bin/python
# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)

DOCUMENTATION = r"""
module: airflow_dags_check
short_description: Parse a DAG release with the fleet's own Airflow before any host switches to it
description:
  - Imports every DAG file of a release directory the way the DAG processor does (Airflow's own C(BundleDagBag)),
    serializes every DAG as the DAG processor stores it, and reports the DAG ids it defines, the files that failed
    with file, line and error, and the Python files the release adds, changes or removes compared with the current
    release.
  - Fails when a file does not import, a DAG cannot be serialized, or the release defines no DAG.
  - B(Must run with the Python of the Airflow virtualenv) (set C(ansible_python_interpreter) to it), because the check is
    only worth anything when it parses with exactly the Airflow, providers and packages the fleet runs. It runs
    as root, reads I(environment_files) (the host's Airflow environment), and parses in a child process that runs as
    I(run_as), so nothing the parse writes belongs to root.
version_added: 0.1.0
author: Fleetworks engineers (@fleetworks)
extends_documentation_fragment:
  - fleetworks.airflow.read_only
options:
  release:
    description: The release directory to check.
    type: path
    required: true
  current:
    description: The current release (C(<dags_root>/current)), to name the changed files.
    type: path
  packages_dir:
    description: The release's own packages directory (relative to the release), put first on C(sys.path); its files are not DAG files.
    type: str
    default: .python
  environment_files:
    description: Files of C(KEY='value') lines (shell syntax) that make the Airflow environment.
    type: list
    elements: path
    default: []
  run_as:
    description: The user the parse runs as (its home is the working directory and C(HOME)).
    type: str
    default: airflow
"""

EXAMPLES = r"""
- name: Check the release with the fleet's Airflow
  fleetworks.airflow.airflow_dags_check:
    release: /srv/airflow/dags/releases/r-0123456789ab
    current: /srv/airflow/dags/current
    environment_files: [/etc/airflow/env/packages.env, /etc/airflow/env/cli.env]
  vars:
    ansible_python_interpreter: /opt/airflow/venv/bin/python
"""

RETURN = r"""
dag_ids:
  description: The DAG ids the release defines.
  returned: always
  type: list
  elements: str
files:
  description: How many DAG files were parsed.
  returned: always
  type: int
errors:
  description: Files that failed to import, each with C(file), C(line) and C(error).
  returned: always
  type: list
  elements: dict
changed_files:
  description: Python files added, changed or removed compared with I(current).
  returned: always
  type: list
  elements: str
"""

import json
import os
import pwd
import re
import shlex
import sys

from ansible.module_utils.basic import AnsibleModule


def read_environment(paths):
    """The variables of shell-syntax KEY='value' files (comments and blank lines skipped)."""
    env = {}
    for path in paths:
        with open(path) as handle:
            for word in shlex.split(handle.read(), comments=True):
                name, sep, value = word.partition("=")
                if sep and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                    env[name] = value
    return env


def python_files(root, packages_dir):
    """{relative path: content} of a release's Python files (bytecode caches and packages left out)."""
    if not root or not os.path.isdir(root):
        return {}
    found = {}
    for folder, dirs, files in os.walk(root):
        rel_folder = os.path.relpath(folder, root)
        parts = [] if rel_folder == "." else rel_folder.split(os.sep)
        if "__pycache__" in parts or (parts and parts[0] == packages_dir):
            continue
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, "rb") as handle:
                    found[os.path.relpath(path, root)] = handle.read()
    return found


def changed_files(new, old):
    return sorted(name for name in set(new) | set(old) if new.get(name) != old.get(name))


def describe_error(release, rel, trace):
    """{file, line, error} of one import error, the line being the release file's own."""
    path = rel if str(rel).startswith("/") else os.path.join(release, rel)
    lines = [int(n) for f, n in re.findall(r'File "([^"]+)", line (\d+)', trace) if f == path]
    text = trace.strip()
    last = [ln for ln in text.splitlines() if ln.strip()][-1].strip() if text else "import failed"
    syntax = re.search(r"line (\d+)", last)
    line = lines[-1] if lines else (int(syntax.group(1)) if syntax else None)
    shown = os.path.relpath(path, release) if path.startswith(release.rstrip("/") + "/") else path
    return {"file": shown, "line": line, "error": last}


def parse(release, packages_dir):
    """What Airflow's DAG bag makes of the release (runs in the child, as the Airflow user)."""
    sys.path.insert(0, os.path.join(release, packages_dir))
    from airflow.dag_processing.dagbag import BundleDagBag

    bag = BundleDagBag(dag_folder=release, bundle_path=release, bundle_name="dags-folder")
    errors = [describe_error(release, rel, trace) for rel, trace in sorted(bag.import_errors.items())]
    files = len(bag.file_last_changed) + len(errors)
    # What the DAG processor stores is each DAG serialized: a DAG that imports but cannot be
    # serialized (say, a priority weight strategy no plugin registers) becomes an import error there.
    errors += serialization_errors(release, bag.dags)
    return {"dag_ids": sorted(bag.dags), "files": files, "errors": errors}


def serialization_errors(release, dags, serialize=None):
    """{file, line, error} of each DAG that the DAG processor's serializer refuses."""
    if serialize is None:
        from airflow.serialization.serialized_objects import DagSerialization

        serialize = DagSerialization.to_dict
    errors = []
    for dag_id, dag in sorted(dags.items()):
        try:
            serialize(dag)
        except Exception as error:  # whatever the serializer raises, the DAG processor records
            shown = describe_error(release, dag.fileloc, "")["file"]
            errors.append({"file": shown, "line": None,
                           "error": "DAG %s cannot be serialized: %s: %s" % (dag_id, type(error).__name__, error)})
    return errors


def parse_as(user, env, release, packages_dir):
    """Run parse() in a child process as `user` with `env`; its result, or {"failure": text}."""
    account = pwd.getpwnam(user)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to the Airflow user, then import Airflow
        os.close(read_end)
        # Airflow logs to stdout and stderr: keep the module's own answer (stdout) clean.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            os.initgroups(user, account.pw_gid)
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            os.environ.clear()
            os.environ.update(env, HOME=account.pw_dir, USER=user, LOGNAME=user, LANG="C.UTF-8",
                              PATH=os.path.dirname(sys.executable) + ":/usr/bin:/bin")
            os.chdir(account.pw_dir)
            result = parse(release, packages_dir)
        except BaseException as error:  # report anything, the parent decides
            result = {"failure": "%s: %s" % (type(error).__name__, error)}
        with os.fdopen(write_end, "w") as pipe:
            json.dump(result, pipe)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(text) if text else {"failure": "the parse process died without an answer"}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            release=dict(type="path", required=True),
            current=dict(type="path"),
            packages_dir=dict(type="str", default=".python"),
            environment_files=dict(type="list", elements="path", default=[]),
            run_as=dict(type="str", default="airflow"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    release = os.path.realpath(params["release"])
    if not os.path.isdir(release):
        module.fail_json(msg="no release directory %s" % release)
    current = os.path.realpath(params["current"]) if params["current"] else None
    changed = changed_files(python_files(release, params["packages_dir"]), python_files(current, params["packages_dir"]))
    result = parse_as(params["run_as"], read_environment(params["environment_files"]), release, params["packages_dir"])
    if "failure" in result:
        module.fail_json(msg="the release could not be parsed with this host's Airflow (%s): %s"
                         % (sys.executable, result["failure"]), changed_files=changed)
    result["changed_files"] = changed
    if result["errors"]:
        module.fail_json(msg="\n".join("%s:%s: %s" % (e["file"], e["line"] or "?", e["error"]) for e in result["errors"]),
                         **result)
    if not result["dag_ids"]:
        module.fail_json(msg="the release defines no DAG", **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

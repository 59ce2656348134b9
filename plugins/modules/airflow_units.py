#!/usr/bin/python
# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)

DOCUMENTATION = r"""
module: airflow_units
short_description: Read in one call whether this host's Airflow units run from their current inputs
description:
  - For each named systemd unit, reads whether its unit file exists, whether it is enabled and running, the checksums
    of the files it runs from (its I(inputs), such as the unit file, C(airflow.cfg) and environment files) and the stamp that records
    which inputs the running process was started from. It answers whether the unit must be started, and whether a
    running one must be restarted because an input changed since it started.
  - The stamp is a text file of C(<path> <sha256>) lines, one per input (C(absent) for a missing one), written by the
    roles once a process runs from those inputs; I(wanted) is that text for the inputs as they are now, to be written
    as the new stamp after a (re)start.
  - One call answers for any number of units with one C(systemctl show), so a re-run that changes nothing reads
    the state of a host's components in one round trip per host instead of several per component.
version_added: 0.1.0
author: Fleetworks engineers (@fleetworks)
extends_documentation_fragment:
  - fleetworks.airflow.read_only
options:
  units:
    description: The units to read.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The unit's name without C(.service), e.g. C(airflow-scheduler).
        type: str
        required: true
      inputs:
        description: The files the unit's process reads at start; their checksums make the stamp.
        type: list
        elements: path
        default: []
      stamp:
        description: The file holding the stamp of the running process; omitted, the unit has none.
        type: path
  unit_dir:
    description: Where the unit files are.
    type: path
    default: /etc/systemd/system
notes:
  - Reads files as root (environment files are not world-readable); runs with the host's own Python.
"""

EXAMPLES = r"""
- name: Read whether the scheduler runs from its current inputs
  fleetworks.airflow.airflow_units:
    units:
      - name: airflow-scheduler
        inputs:
          - /etc/systemd/system/airflow-scheduler.service
          - /etc/airflow/airflow.cfg
          - /etc/airflow/env/scheduler.env
        stamp: /etc/airflow/stamps/airflow-scheduler
  register: units

- name: Restart it when it does not
  ansible.builtin.systemd_service:
    name: airflow-scheduler
    state: restarted
  when: units.units['airflow-scheduler'].active and not units.units['airflow-scheduler'].current
"""

RETURN = r"""
units:
  description: Per unit name, what was read.
  returned: always
  type: dict
  contains:
    exists:
      description: Whether the unit file exists in I(unit_dir).
      type: bool
    enabled:
      description: Whether systemd starts the unit at boot (C(UnitFileState=enabled)).
      type: bool
    active:
      description: Whether the unit runs (C(ActiveState) active or reloading).
      type: bool
    state:
      description: The unit's C(ActiveState).
      type: str
    wanted:
      description: The stamp of the inputs as they are now.
      type: str
    current:
      description: Whether the stamp of the running process equals I(wanted) (false when there is no stamp).
      type: bool
  sample:
    airflow-scheduler:
      exists: true
      enabled: true
      active: true
      state: active
      current: true
      wanted: "/etc/airflow/airflow.cfg 3f0a...\n"
"""

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule

PROPERTIES = ("Id", "ActiveState", "UnitFileState")


def checksum(path):
    """sha256 of a file, or None when there is no such file."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(65536), b""):
                digest.update(block)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def stamp_of(inputs, checksum_of=checksum):
    """The stamp text of these inputs, as the roles write it."""
    return "".join("%s %s\n" % (path, checksum_of(path) or "absent") for path in inputs)


def read_text(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def parse_show(output):
    """`systemctl show` of several units: one property block per unit, by Id."""
    states = {}
    for block in output.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props.get("Id"):
            states[props["Id"]] = props
    return states


def read_units(units, show, unit_dir, checksum_of=checksum, read=read_text, exists=os.path.exists):
    """Per unit name, {exists, enabled, active, state, wanted, current}. show(names) returns systemctl show's text."""
    services = [unit["name"] + ".service" for unit in units]
    states = parse_show(show(services)) if services else {}
    report = {}
    for unit, service in zip(units, services):
        props = states.get(service, {})
        wanted = stamp_of(unit.get("inputs") or [], checksum_of)
        running = read(unit["stamp"]) if unit.get("stamp") else None
        report[unit["name"]] = dict(
            exists=exists(os.path.join(unit_dir, service)),
            enabled=props.get("UnitFileState") == "enabled",
            active=props.get("ActiveState") in ("active", "reloading"),
            state=props.get("ActiveState", "unknown"),
            wanted=wanted,
            current=running == wanted,
        )
    return report


def main():
    module = AnsibleModule(
        argument_spec=dict(
            units=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                inputs=dict(type="list", elements="path", default=[]),
                stamp=dict(type="path"),
            )),
            unit_dir=dict(type="path", default="/etc/systemd/system"),
        ),
        supports_check_mode=True,
    )
    systemctl = module.get_bin_path("systemctl", required=True)

    def show(services):
        argv = [systemctl, "show", "--property=" + ",".join(PROPERTIES)] + services
        rc, out, err = module.run_command(argv)
        if rc != 0:
            module.fail_json(msg="systemctl show failed: %s" % (err or out).strip(), rc=rc)
        return out

    module.exit_json(changed=False, units=read_units(module.params["units"], show, module.params["unit_dir"]))


if __name__ == "__main__":
    main()

# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)
"""The attributes of the modules that only read (checks and probes on the hosts)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
    details: It only reads.
  diff_mode:
    description: Reports the object before and after the change.
    support: none
"""

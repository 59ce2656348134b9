"""Last, after every other test put the fleet back: a converged fleet is left
alone by a second run, in check mode too."""

from __future__ import annotations

import fleetlib


def test_check_mode_on_the_converged_fleet_changes_nothing():
    run = fleetlib.run_playbook("site.yml", "--check", "--diff")
    assert run.rc == 0, run.output[-3000:]
    assert run.changed() == 0, run.changed_tasks()

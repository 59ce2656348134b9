"""The modules that check a batch in one round trip: airflow_units (is each unit running from its
current inputs) and airflow_files (files, directories and links made to match), on a temporary
directory as the user running the tests."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.fleetworks.airflow.plugins.modules import airflow_files, airflow_units


class Host:
    """Every owner and group name maps to the test user's own ids, except 'other'."""

    def uid(self, owner):
        return os.getuid() if owner != "other" else os.getuid() + 1

    def gid(self, group):
        return os.getgid() if group != "other" else os.getgid() + 1


SHOW = """Id=airflow-scheduler.service
ActiveState=active
UnitFileState=enabled

Id=airflow-worker.service
ActiveState=failed
UnitFileState=disabled

Id=airflow-flower.service
ActiveState=inactive
UnitFileState=
"""


def test_systemctl_show_of_several_units_is_read_by_unit():
    states = airflow_units.parse_show(SHOW)
    assert states["airflow-scheduler.service"]["ActiveState"] == "active"
    assert states["airflow-worker.service"]["UnitFileState"] == "disabled"
    assert states["airflow-flower.service"]["UnitFileState"] == ""


def test_a_unit_is_current_only_while_its_stamp_matches_every_input(tmp_path):
    units_dir = tmp_path / "system"
    units_dir.mkdir()
    (units_dir / "airflow-scheduler.service").write_text("[Service]\n")
    cfg, env, stamp = tmp_path / "airflow.cfg", tmp_path / "scheduler.env", tmp_path / "stamp"
    cfg.write_text("[core]\n")
    env.write_text("A=1\n")
    unit = {"name": "airflow-scheduler", "inputs": [str(cfg), str(env), str(tmp_path / "missing")], "stamp": str(stamp)}
    asked = []

    def show(services):
        asked.append(services)
        return SHOW

    first = airflow_units.read_units([unit], show, str(units_dir))["airflow-scheduler"]
    assert first["exists"] and first["enabled"] and first["active"] and first["state"] == "active"
    assert not first["current"], "no stamp yet: the running process was not started by the roles"
    lines = first["wanted"].splitlines()
    assert lines[0].startswith(str(cfg) + " ") and len(lines[0].split()[1]) == 64
    assert lines[2] == str(tmp_path / "missing") + " absent"

    stamp.write_text(first["wanted"])
    assert airflow_units.read_units([unit], show, str(units_dir))["airflow-scheduler"]["current"]

    env.write_text("A=2\n")
    again = airflow_units.read_units([unit], show, str(units_dir))["airflow-scheduler"]
    assert not again["current"] and again["wanted"] != first["wanted"]
    assert asked == [["airflow-scheduler.service"]] * 3


def test_units_systemd_does_not_know_are_neither_enabled_nor_active(tmp_path):
    report = airflow_units.read_units(
        [{"name": "airflow-worker", "inputs": []}, {"name": "airflow-triggerer", "inputs": []}],
        lambda services: SHOW, str(tmp_path))
    assert report["airflow-worker"] == dict(exists=False, enabled=False, active=False, state="failed",
                                            wanted="", current=False)
    assert report["airflow-triggerer"]["state"] == "unknown" and not report["airflow-triggerer"]["active"]


def test_files_are_written_with_their_mode_and_a_second_pass_changes_nothing(tmp_path):
    env = tmp_path / "env" / "scheduler.env"
    entries = [
        {"path": str(tmp_path / "env"), "state": "directory", "owner": "root", "group": "airflow", "mode": "0750"},
        {"path": str(env), "state": "file", "content": "SECRET='x'\n", "owner": "root", "group": "airflow",
         "mode": "0640"},
    ]
    changed, diffs = airflow_files.converge_all(entries, Host(), check_mode=False)
    assert changed == [str(tmp_path / "env"), str(env)]
    assert env.read_text() == "SECRET='x'\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "env").stat().st_mode) == 0o750
    assert diffs[1]["after"] == "SECRET='x'\n"
    assert airflow_files.converge_all(entries, Host(), check_mode=False) == ([], [])
    assert [p.name for p in (tmp_path / "env").iterdir()] == ["scheduler.env"], "no temporary file is left"


def test_a_changed_content_or_mode_is_noticed_and_check_mode_only_reports_it(tmp_path):
    path = tmp_path / "unit.service"
    path.write_text("old\n")
    path.chmod(0o644)
    entry = {"path": str(path), "state": "file", "content": "new\n", "owner": "root", "group": "root", "mode": "0644"}
    changed, diffs = airflow_files.converge_all([entry], Host(), check_mode=True)
    assert changed == [str(path)] and diffs[0]["before"] == "old\n" and diffs[0]["after"] == "new\n"
    assert path.read_text() == "old\n", "check mode wrote the file"

    path.write_text("new\n")
    path.chmod(0o600)
    changed, diffs = airflow_files.converge_all([entry], Host(), check_mode=False)
    assert changed == [str(path)] and "mode: 0600" in diffs[0]["before"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_group_that_does_not_exist_yet_is_a_change_in_check_mode_and_an_error_otherwise(tmp_path):
    """In check mode on a new host the airflow group is one an earlier task would have created."""

    class NewHost(Host):
        def gid(self, group):
            raise KeyError("getgrnam(): name not found: %r" % group)

    entry = {"path": str(tmp_path / "home"), "state": "directory", "owner": "root", "group": "airflow", "mode": "0750"}
    assert airflow_files.converge_all([entry], NewHost(), check_mode=True)[0] == [entry["path"]]
    assert not (tmp_path / "home").exists()
    with pytest.raises(KeyError):
        airflow_files.converge_all([entry], NewHost(), check_mode=False)


def test_an_owner_that_differs_is_a_change(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    entry = {"path": str(path), "state": "file", "content": "x", "owner": "other", "group": None, "mode": None}
    assert airflow_files.converge_all([entry], Host(), check_mode=True)[0] == [str(path)]


def test_absent_removes_files_and_links_only_and_links_point_where_told(tmp_path):
    old = tmp_path / "old-helper"
    old.write_text("#!/bin/sh\n")
    link = tmp_path / "current"
    entries = [
        {"path": str(old), "state": "absent"},
        {"path": str(tmp_path / "never-there"), "state": "absent"},
        {"path": str(link), "state": "link", "src": "releases/a"},
    ]
    changed = airflow_files.converge_all(entries, Host(), check_mode=False)[0]
    assert changed == [str(old), str(link)]
    assert not old.exists() and os.readlink(link) == "releases/a"

    entries[2]["src"] = "releases/b"
    assert airflow_files.converge_all(entries, Host(), check_mode=False)[0] == [str(link)]
    assert os.readlink(link) == "releases/b"

    with pytest.raises(ValueError, match="is a directory"):
        airflow_files.converge({"path": str(tmp_path), "state": "absent"}, Host(), check_mode=False)
    with pytest.raises(ValueError, match="not a regular file"):
        airflow_files.converge({"path": str(tmp_path), "state": "file", "content": "x"}, Host(), check_mode=False)

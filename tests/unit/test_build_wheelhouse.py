"""The airflow role's wheelhouse builder (roles/airflow/files/build_wheelhouse.py, run on the
controller by preflight with airflow_wheelhouse): which wheels it asks pip for, and the
tarball's layout. The download itself runs in the default scenario, end to end."""

from __future__ import annotations

import importlib.util
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("build_wheelhouse", ROOT / "roles/airflow/files/build_wheelhouse.py")
build_wheelhouse = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_wheelhouse)


def test_a_host_with_glibc_2_36_takes_every_older_manylinux_wheel_and_no_newer():
    tags = build_wheelhouse.platforms("x86_64", "2.36")
    assert "manylinux_2_36_x86_64" in tags and "manylinux_2_17_x86_64" in tags and "manylinux_2_5_x86_64" in tags
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert "manylinux_2_37_x86_64" not in tags
    assert all(tag.endswith("_x86_64") for tag in tags)


def test_an_old_glibc_gets_no_legacy_alias_it_cannot_run():
    tags = build_wheelhouse.platforms("aarch64", "2.12")
    assert "manylinux2010_aarch64" in tags and "manylinux2014_aarch64" not in tags


def test_the_tarball_holds_root_owned_entries(tmp_path):
    source = tmp_path / "a.whl"
    source.write_text("wheel")
    with tarfile.open(tmp_path / "t.tar", "w") as tar:
        tar.add(source, arcname="wheelhouse/x/a.whl", filter=build_wheelhouse.as_root)
    with tarfile.open(tmp_path / "t.tar") as tar:
        member = tar.getmember("wheelhouse/x/a.whl")
    assert (member.uid, member.gid, member.uname, member.mode) == (0, 0, "root", 0o644)

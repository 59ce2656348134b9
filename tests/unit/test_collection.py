"""The collection as users receive it: what `ansible-galaxy collection build`
puts in the tarball, and the pinned install lock."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tarball_names(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    subprocess.run(
        [str(Path(sys.executable).parent / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    [tarball] = out.glob("fleetworks-airflow-*.tar.gz")
    with tarfile.open(tarball) as tar:
        return {name.split("/")[0] for name in tar.getnames()} | set(tar.getnames())


def test_tarball_holds_the_product(tarball_names):
    for needed in ["MANIFEST.json", "FILES.json", "roles", "playbooks", "playbooks/site.yml", "dags",
                   "roles/airflow/files/constraints-3.3.2.txt", "inventories/production/hosts.yml", "README.md"]:
        assert needed in tarball_names or any(n.startswith(needed) for n in tarball_names), needed


def test_tarball_leaves_dev_content_out(tarball_names):
    for dev in ["molecule", "tests", ".ci", "scripts", "images", ".config", "requirements-dev.txt", "Makefile",
                ".pytest_cache", ".venv", ".git", "ansible.cfg"]:
        assert dev not in tarball_names, dev
    assert not any(name.startswith("inventories/local") for name in tarball_names)
    assert not any("__pycache__" in name for name in tarball_names)


def test_galaxy_dependencies_are_used_collections():
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    used = set()
    for path in (ROOT / "roles").rglob("*.yml"):
        used |= set(re.findall(r"\b(ansible\.posix|community\.general|community\.postgresql|amazon\.aws|community\.aws)\.\w+", path.read_text()))
    assert used <= set(galaxy["dependencies"]), used - set(galaxy["dependencies"])


def test_constraints_pin_every_package():
    lock = ROOT / "roles/airflow/files/constraints-3.3.2.txt"
    requirements = [line.split(";")[0].strip() for line in lock.read_text().splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    assert requirements, "empty lock"
    unpinned = [r for r in requirements if not re.fullmatch(r"[A-Za-z0-9._\-\[\],]+==[A-Za-z0-9.+!\-]+", r)]
    assert unpinned == []
    pins = dict(r.split("==") for r in requirements)
    assert pins["apache-airflow"] == "3.3.2"
    # celery 5.7.0 breaks apache-airflow-providers-celery 3.26.0 (see the lock's header).
    assert pins["celery"] == "5.6.3"


def test_default_airflow_version_has_a_lock():
    defaults = yaml.safe_load((ROOT / "roles/airflow/defaults/main.yml").read_text())
    assert (ROOT / f"roles/airflow/files/constraints-{defaults['airflow_version']}.txt").is_file()


def test_default_airflow_version_has_a_config_schema():
    defaults = yaml.safe_load((ROOT / "roles/airflow/defaults/main.yml").read_text())
    import json

    schema = json.loads((ROOT / f"roles/airflow/files/config-{defaults['airflow_version']}.json").read_text())
    assert schema["version"] == defaults["airflow_version"]
    # core and every provider of the default extras are in it
    for section in ["core", "scheduler", "api", "celery", "fab", "aws", "standard"]:
        assert schema["sections"][section], section

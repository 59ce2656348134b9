"""The README's first command, on this fleet: the demo's own job scripts (scripts/demo/), unchanged
and with their defaults (the embedded orders CSV included), then a person's walk through the UI
and Flower in headless Chromium at the address users are given (airflow_api_base_url).

A moved file, a renamed default or a UI that redirects to a name the browser cannot resolve
fails here, as it would fail scripts/demo.sh. Screenshots: tests/output/screenshots/cluster/.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import fleetlib

SCREENSHOTS = fleetlib.PROJECT / "tests" / "output" / "screenshots" / "cluster"
WORKERS = {"af-wk1", "af-wk2"}


def demo_script(name: str, *args: str, timeout: int = 900) -> str:
    """Run scripts/demo/<name> as scripts/demo.sh does; the fleet CA is the one thing added (airflow_tls)."""
    env = dict(os.environ, PYTHONPATH=str(fleetlib.PROJECT / "tests"))
    if fleetlib.tls_ca():  # Python's default TLS context reads it: the scripts take no option for it
        env["SSL_CERT_FILE"] = fleetlib.tls_ca()
    proc = subprocess.run([sys.executable, str(fleetlib.PROJECT / "scripts" / "demo" / name), *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    print(proc.stdout + proc.stderr)
    assert proc.returncode == 0, f"scripts/demo/{name} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def ui():
    url = fleetlib.api_url("af-ctl1")
    # What users are given is what Airflow builds its links and redirects from.
    assert fleetlib.inventory_vars()["airflow_api_base_url"] == url
    return url


@pytest.fixture(scope="module")
def smoke(ui):
    return demo_script("smoke.py", ui, str(fleetlib.SECRETS / "admin_password"))


def test_the_demo_smoke_job_runs_through_celery_on_a_worker(smoke):
    # "fleet_smoke <run>: success in 4.2s on worker af-wk2 (DAG visible after 0.1s)"
    assert ": success in " in smoke, smoke
    assert smoke.split(" on worker ")[1].split()[0] in WORKERS, smoke


def test_the_demo_main_job_runs_on_its_embedded_csv(ui):
    out = demo_script("pipeline_demo.py", ui, str(fleetlib.SECRETS / "admin_password"),
                      f"http://{fleetlib.container_ip('af-data')}:5000")
    assert "s3_csv_to_dynamodb" in out and ": success in " in out, out
    assert "as arn:aws:sts::222222222222:assumed-role/PipelineWriter/" in out, out
    assert "DynamoDB table 'orders' in account 222222222222: 5 items" in out, out
    assert "customer=Grace Hopper" in out, out


def test_a_person_logs_in_reads_a_task_log_and_sees_every_worker_in_flower(ui, smoke):
    args = [ui, str(fleetlib.SECRETS / "admin_password"), fleetlib.api_url("af-ctl1", 5555),
            str(fleetlib.SECRETS / "flower_password"), "--workers", str(len(WORKERS)), "--screenshots", str(SCREENSHOTS)]
    if fleetlib.tls_ca():
        args += ["--ca", fleetlib.tls_ca()]
    out = demo_script("browse.py", *args, timeout=600)
    assert "UI and Flower pages as expected" in out, out
    taken = sorted(path.name for path in SCREENSHOTS.glob("*.png"))
    assert taken == ["01-login.png", "02-home.png", "03-dag-list.png", "04-dag-run.png", "05-dag-run-release.png",
                     "06-task-log.png", "07-logged-out.png", "08-flower-workers.png"], taken

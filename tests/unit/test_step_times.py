"""tests/tools/step_times.py: molecule's steps and the verifier's test files timed from a run's output."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

SPEC = importlib.util.spec_from_file_location("step_times", Path(__file__).resolve().parents[1] / "tools/step_times.py")
step_times = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(step_times)

OUTPUT = """\
INFO     cluster > converge: Executing
ok: [af-ctl1]
INFO     cluster > verify: Executing
molecule/cluster/tests/test_1_cluster.py::test_a[docker://af-ctl1] PASSED [ 10%]
molecule/cluster/tests/test_1_cluster.py::test_b PASSED [ 20%]
molecule/cluster/tests/test_1c_demo.py::test_c FAILED [ 30%]
INFO     cluster > destroy: Executing
"""


def test_steps_and_each_verifier_file_are_named_in_the_order_they_ran(tmp_path, monkeypatch):
    clock = iter(range(0, 100, 10))
    monkeypatch.setattr(step_times.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(sys, "stdin", io.StringIO(OUTPUT))
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    summary = tmp_path / "steps"
    assert step_times.main(str(summary)) == 0
    # Lines arrive at 0, 10, ... 60 s; the summary is written at 70 s.
    assert summary.read_text() == ("steps: converge 20s, verify 40s, destroy 10s; "
                                   "verify: test_1_cluster.py 20s, test_1c_demo.py 10s\n")


FAILED_RUN = """\
INFO     cluster > converge: Executing
TASK [airflow : Install HAProxy] ***
FAILED - RETRYING: [af-ctl1]: Wait (3 retries left).
  \x1b[0;31mfatal: [af-wk2]: FAILED! => \x1b[0m
      changed: false
      msg: 'Failed to fetch http://deb.debian.org/haproxy.deb'
fatal: [af-ctl2]: FAILED! => {"msg": "ignored"}
...ignoring
ok: [af-ctl1]
""" + "".join(f"ok: [af-ctl1] line {n}\n" for n in range(20)) + """\
FAILED molecule/cluster/tests/test_1_cluster.py::test_a - AssertionError: worker af-wk1 never ran
ERROR molecule/cluster/tests/test_2_pipeline.py::test_b - TimeoutError
"""


def test_what_failed_is_written_for_the_end_of_the_output(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(FAILED_RUN))
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    failures = tmp_path / "failures"
    assert step_times.main(str(tmp_path / "steps"), "", str(failures)) == 0
    assert out.getvalue() == FAILED_RUN  # passed through unchanged
    lines = failures.read_text().splitlines()
    assert lines[:3] == ["  fatal: [af-wk2]: FAILED! =>", "      changed: false",
                         "      msg: 'Failed to fetch http://deb.debian.org/haproxy.deb'"]
    assert not any("RETRYING" in line or "ignored" in line for line in lines)
    assert lines[-2:] == ["FAILED molecule/cluster/tests/test_1_cluster.py::test_a - AssertionError: worker af-wk1 never ran",
                          "ERROR molecule/cluster/tests/test_2_pipeline.py::test_b - TimeoutError"]
    # The next result (an ignored failure) ended af-wk2's message; the lines after it are not kept.
    assert len(lines) == 5, lines


def test_a_run_that_failed_nothing_writes_an_empty_file(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(OUTPUT.replace("FAILED", "PASSED")))
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    failures = tmp_path / "failures"
    step_times.main(str(tmp_path / "steps"), "", str(failures))
    assert failures.read_text() == ""


def test_a_failure_keeps_the_lines_of_its_message_that_follow_it(tmp_path, monkeypatch):
    run = "fatal: [af-data]: FAILED! =>\n" + "".join(f"    line {n}\n" for n in range(12))
    monkeypatch.setattr(sys, "stdin", io.StringIO(run))
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    failures = tmp_path / "failures"
    step_times.main(str(tmp_path / "steps"), "", str(failures))
    assert failures.read_text().splitlines() == ["fatal: [af-data]: FAILED! =>"] + [f"    line {n}" for n in range(8)]

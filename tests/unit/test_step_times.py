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

"""`graphgrad conformance numba`, restricted to the fused checks, the compiled training
steps and a handful of ops (the whole suite takes minutes; Numba compiles each fused
program once, then reads it from its disk cache): once on the per-kernel path (whole
plans off), once with whole plans for a sample of the compiled training steps (a new
plan's first compile takes seconds). Oracle: the suite's own (NumPy float64 reference,
finite differences, the NumPy backend for compiled steps)."""

import pytest

from graphgrad.backends.conformance.cli import main
from graphgrad.backends.numba_backend import WHOLE_PLAN_ENV

pytest.importorskip("numba")


def test_conformance_suite_passes_on_numba_per_kernel(capsys, monkeypatch):
    monkeypatch.setenv(WHOLE_PLAN_ENV, "0")
    status = main(["numba", "--ops", "add,exp,where,sum", "-x"])
    out = capsys.readouterr().out
    assert status == 0, out[-3000:]
    assert "conformant" in out


def test_compiled_steps_pass_on_numba_whole_plans(capsys, monkeypatch):
    monkeypatch.setenv(WHOLE_PLAN_ENV, "1")
    status = main(["numba", "--ops", "add", "-x", "-k", "test_compiled_training and default "
                   "and (batchnorm or regression or Adamax or RAdam)"])
    out = capsys.readouterr().out
    assert status == 0, out[-3000:]
    assert "conformant" in out and "8 passed" in out

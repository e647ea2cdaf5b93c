"""`graphgrad conformance numba`, restricted to the fused checks, the compiled training
steps and a handful of ops (the whole suite takes minutes; Numba compiles each fused
program once, then reads it from its disk cache). Oracle: the suite's own (NumPy float64
reference, finite differences, the NumPy backend for compiled steps)."""

import pytest

from graphgrad.backends.conformance.cli import main

pytest.importorskip("numba")


def test_conformance_suite_passes_on_numba(capsys):
    status = main(["numba", "--ops", "add,exp,where,sum",
                   "-x"])
    out = capsys.readouterr().out
    assert status == 0, out[-3000:]
    assert "conformant" in out

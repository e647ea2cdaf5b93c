"""The conformance suite passes on the cupy backend under the CPU emulation of CuPy.

Oracle: the suite itself (NumPy float64 references, finite differences, unfused kernels,
compiled training against the NumPy backend), run the way a backend author does,
`graphgrad conformance cupy`, in a child process whose `cupy` is the emulation
(tests/cupy_emulation). A pass says the backend's code paths and generated kernels are
right on the CPU; it is not GPU truth (the real-device run is benchmarks/gpu_check.sh).
"""

import subprocess
import sys

import pytest
from cupy_emulation import LABEL, activate, deactivate, subprocess_env, usable

from graphgrad.backends.conformance.cases import fusable_cases
from graphgrad.backends.conformance.programs import CHAINS, chain, single_op_program
from graphgrad.backends.cupy_backend import CupyBackend
from graphgrad.ops import REGISTRY


def compile_the_suites_kernels() -> None:
    """Build the fused kernels the suite will ask for in one g++ run, here, before it runs
    (the emulation's disk cache then serves the child process: one compiler start
    instead of one per kernel)."""
    cp = activate()
    try:
        backend = CupyBackend()
        for case in fusable_cases():
            backend.compile_fused(single_op_program(case.op, case.arrays(), case.kwargs()))
        for name in CHAINS:
            for dtype in ("float32", "float64"):
                backend.compile_fused(chain(name, dtype)[0])
        cp._emulation_compile_pending()
    finally:
        deactivate()


@pytest.mark.skipif(not usable()[0], reason=f"CuPy emulation unusable: {usable()[1]}")
@pytest.mark.parametrize("flavour", [LABEL])
def test_cupy_backend_conforms_under_the_emulation(flavour):
    compile_the_suites_kernels()
    proc = subprocess.run([sys.executable, "-m", "graphgrad.cli", "conformance", "cupy"],
                          capture_output=True, text=True, env=subprocess_env(), timeout=600)
    out = proc.stdout
    assert proc.returncode == 0, out[-5000:] + proc.stderr[-2000:]
    report = out[out.index("graphgrad conformance report"):]
    assert "conformant" in report and "FAIL" not in report
    for op in REGISTRY:
        assert f"\n{op} " in report, f"op {op!r} missing from the report"

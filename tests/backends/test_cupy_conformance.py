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
from cupy_emulation import LABEL, subprocess_env, usable

from graphgrad.ops import REGISTRY


@pytest.mark.skipif(not usable()[0], reason=f"CuPy emulation unusable: {usable()[1]}")
@pytest.mark.parametrize("flavour", [LABEL])
def test_cupy_backend_conforms_under_the_emulation(flavour):
    proc = subprocess.run([sys.executable, "-m", "graphgrad.cli", "conformance", "cupy"],
                          capture_output=True, text=True, env=subprocess_env(), timeout=600)
    out = proc.stdout
    assert proc.returncode == 0, out[-5000:] + proc.stderr[-2000:]
    report = out[out.index("graphgrad conformance report"):]
    assert "conformant" in report and "FAIL" not in report
    for op in REGISTRY:
        assert f"\n{op} " in report, f"op {op!r} missing from the report"

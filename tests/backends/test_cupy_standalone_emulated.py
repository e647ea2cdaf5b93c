"""The standalone CUDA form of fused programs (cuda_standalone.py) runs as a `cupy.RawKernel`
under the CPU emulation of CuPy, and computes what the NumPy kernels compute.

Programs: every elementwise op alone (each dtype it takes) and the traced groups, as in
test_cupy_codegen_nvcc.py. Oracle: each program run step by step with the NumPy backend's kernels
(cupy_fused_cases.Case.expected). The emulation compiles the very translation unit a
GPU would get as host C++ and launches its grid-stride loop over a small grid, so the
broadcasting offsets and the once-per-element stores of smaller outputs are checked
where nvcc is absent (test_cupy_codegen_nvcc.py needs it). Not GPU truth.
"""

import numpy as np
import pytest
from cupy_emulation import LABEL, activate, deactivate, usable
from cupy_fused_cases import group_cases, single_op_cases

from graphgrad.backends import cuda_standalone as cs

pytestmark = pytest.mark.skipif(not usable()[0], reason=f"emulation unusable: {usable()[1]}")


def broadcastable(case) -> bool:
    try:
        cs.iteration_shape(case.program)
    except ValueError:  # outputs of unrelated shapes: only the split form exists
        return False
    return True


CASES = [c for c in single_op_cases() + group_cases() if broadcastable(c)]


_queued = []


@pytest.fixture
def cp():
    module = activate()
    if not _queued:  # queued once, compiled together in one g++ run at the first call
        _queued.extend(module.RawKernel(cs.raw_source(c.program).source,
                                        cs.raw_source(c.program).name) for c in CASES)
    yield module
    deactivate()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.name}-{LABEL}")
def test_standalone_kernel_matches_numpy(cp, case):
    raw = cs.raw_source(case.program)
    kernel = cp.RawKernel(raw.source, raw.name)
    ins = [cp.asarray(np.ascontiguousarray(a)) for a in case.inputs]
    outs = [cp.zeros(s, d) for s, d in case.program.output_types]
    n = int(np.prod(raw.shape, dtype=np.int64))
    kernel((3,), (64,), (*ins, *outs, np.int64(n)))
    with np.errstate(all="ignore"):
        want = case.expected()
    for got, w in zip(outs, want):
        np.testing.assert_allclose(cp.asnumpy(got), w, rtol=2e-4, atol=1e-5, equal_nan=True)

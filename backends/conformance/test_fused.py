"""Fused elementwise programs: `backend.compile_fused(program)` against the same steps
run one kernel at a time on the same backend (the base class's unfused runner).

Oracle: the backend's own unfused kernels (themselves checked against NumPy float64 by
test_forward.py); outputs must also have the program's declared shapes and dtypes, and
the result must not change when the plan offers `out=` buffers, fresh or aliasing an
input (as the runtime does when an update overwrites its parameter).
"""

import numpy as np
import pytest

from graphgrad.backends.base import Backend
from graphgrad.backends.conformance.cases import TOLERANCE, compare, fusable_cases
from graphgrad.backends.conformance.plugin import record_error
from graphgrad.backends.conformance.programs import CHAINS, chain, single_op_program

pytestmark = [pytest.mark.conformance(check="fused"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def _outputs(result, program):
    return list(result) if len(program.outputs) > 1 else [result]


def check_program(backend, program, arrays, node, out=None):
    args = [backend.from_numpy(a) for a in arrays]
    unfused = _outputs(Backend.compile_fused(backend, program)(*args), program)
    want = [backend.to_numpy(x).copy() for x in unfused]
    fused = backend.compile_fused(program)
    offered = None if out is None else out(args)
    got = [backend.to_numpy(x) for x in _outputs(
        fused(*args) if offered is None else fused(*args, out=offered), program)]
    assert len(got) == len(program.outputs), \
        f"fused program returned {len(got)} outputs, expected {len(program.outputs)}"
    worst = 0.0
    for i, (g, w, (shape, dtype)) in enumerate(zip(got, want, program.output_types)):
        assert g.dtype == dtype and g.shape == tuple(shape), (
            f"fused[{', '.join(program.op_names)}] output {i}: {g.dtype}{list(g.shape)}, the "
            f"program declares {np.dtype(dtype)}{list(shape)}\n{program}")
        rtol, atol = TOLERANCE.get(str(dtype), (0.0, 0.0))
        ratio, abs_err, where = compare(g, w, rtol, atol)
        worst = max(worst, ratio)
        record_error(node, ratio, abs_err, f"fused {dtype}")
        assert ratio <= 1.0, (f"fused[{', '.join(program.op_names)}] output {i} differs from "
                              f"the unfused steps {where}\n{program}")
    return worst


@pytest.mark.parametrize("case", fusable_cases(), ids=str)
def test_fused_op(backend, case, request):
    program = single_op_program(case.op, case.arrays(), case.kwargs())
    check_program(backend, program, case.arrays(), request.node)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_fused_chain(backend, name, dtype, request):
    program, arrays = chain(name, dtype)
    check_program(backend, program, arrays, request.node)


def _fresh_buffers(program, backend):
    return lambda args: tuple(backend.from_numpy(np.zeros(s, d)) for s, d in
                              program.output_types)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_out_buffers(backend, dtype, request):
    program, arrays = chain("adam", dtype)
    check_program(backend, program, arrays, request.node, out=_fresh_buffers(program, backend))
    # The runtime hands an update the buffer of the parameter it replaces.
    check_program(backend, program, arrays, request.node,
                  out=lambda args: (args[0], None, None))

"""Python numbers as operands: a compiled plan hands some operands over as Python floats.

A plan reads an optimizer's hyperparameters (the learning rate) from its param groups
at every call, so kernels receive them as Python floats, not 0-d arrays (rule
'python-numbers'): first `cast` (to the plan's dtype), then any elementwise op beside
an array. Oracle: the same kernel on the same value as a 0-d array of the other
operands' dtype (for cast: NumPy's conversion); the result must have the same shape,
dtype and values.
"""

import numpy as np
import pytest

from graphgrad.backends.conformance.cases import (
    FLOATS,
    TOLERANCE,
    Case,
    compare,
    sampled_ops,
    samples_of,
)
from graphgrad.backends.conformance.checks import (
    ConformanceFailure,
    call_kernel,
    describe,
    to_numpy_checked,
)
from graphgrad.ops import REGISTRY

pytestmark = [pytest.mark.conformance(check="python numbers"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def _scalar_cases():
    """(case, position) for each elementwise op's samples with a 0-d operand beside
    an array: the position is handed over as a Python float."""
    out = []
    for op in sampled_ops():
        if not REGISTRY[op].elementwise:
            continue
        for i, s in enumerate(samples_of(op)):
            shapes = [np.shape(a) for a in s.args]
            zero_d = [k for k, sh in enumerate(shapes) if sh == ()]
            if zero_d and len(zero_d) < len(shapes):
                out += [(Case(op, i, str(np.dtype(d))), zero_d[0]) for d in s.dtypes
                        if str(np.dtype(d)) in FLOATS]
                break
    return out


@pytest.mark.parametrize("case, position", _scalar_cases(),
                         ids=[f"{c}-operand{p}" for c, p in _scalar_cases()])
def test_python_float_operand(backend, case, position):
    if case.dtype in backend.unsupported_dtypes:
        pytest.skip(f"unsupported: backend {backend.name!r} declares dtype {case.dtype}")
    arrays = case.arrays()
    kernel = backend.kernels[case.op]
    where = f"{describe(case)} with operand {position} as a Python float"
    args = [backend.from_numpy(a) for a in arrays]
    want = to_numpy_checked(backend, call_kernel(backend, kernel, args, case.kwargs(), where),
                            where)
    args[position] = float(arrays[position])
    got = to_numpy_checked(backend, call_kernel(backend, kernel, args, case.kwargs(), where,
                                                rule_on_error="python-numbers"), where)
    if got.shape != want.shape or got.dtype != want.dtype:
        raise ConformanceFailure(where, f"result {got.dtype}{list(got.shape)}, with a 0-d "
                                 f"array {want.dtype}{list(want.shape)}", "python-numbers",
                                 cause="a Python float operand changed the result's type")
    rtol, atol = TOLERANCE[case.dtype]
    ratio, _, at = compare(got, want, rtol, atol)
    if ratio > 1.0:
        raise ConformanceFailure(where, f"result differs from the 0-d array's {at}",
                                 "python-numbers",
                                 cause="a Python float operand changed the result's values")


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_cast_of_a_python_float(backend, dtype):
    if dtype in backend.unsupported_dtypes:
        pytest.skip(f"unsupported: backend {backend.name!r} declares dtype {dtype}")
    where = f"op 'cast' on (float 0.1) {{'dtype': dtype('{dtype}')}} [a learning rate]"
    kernel = backend.kernels["cast"]
    out = to_numpy_checked(backend, call_kernel(backend, kernel, [0.1], {"dtype": np.dtype(dtype)},
                                                where, rule_on_error="python-numbers"), where)
    want = np.asarray(0.1).astype(dtype)
    if out.shape != () or out.dtype != want.dtype or out != want:
        raise ConformanceFailure(where, f"result {out.dtype}{list(out.shape)} {out!r}, "
                                 f"expected {want.dtype}[] {want!r}", "python-numbers")

"""Fused elementwise programs: `backend.compile_fused(program)` against the same steps
run one kernel at a time on the same backend (the base class's unfused runner).

Oracle: the backend's own unfused kernels (themselves checked against NumPy float64 by
test_forward.py); outputs must also have the program's declared shapes and dtypes, and
the result must not change when the plan offers `out=` buffers, fresh or aliasing any
input of the output's type (as the runtime does when an update overwrites its
parameter; rule 'out-aliasing'), nor when 0-d inputs come as Python floats (a
plan's hyperparameters; rule 'python-numbers').
"""

import numpy as np
import pytest

from graphgrad.backends.base import Backend
from graphgrad.backends.conformance.cases import TOLERANCE, compare, fusable_cases
from graphgrad.backends.conformance.checks import ConformanceFailure
from graphgrad.backends.conformance.plugin import record_error
from graphgrad.backends.conformance.programs import CHAINS, chain, full_sums, single_op_program

pytestmark = [pytest.mark.conformance(check="fused"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def chain_on(backend, name, dtype):
    """The chain's program and inputs, or a skip when it uses what the backend lacks."""
    program, arrays = chain(name, dtype)
    lacking = sorted(set(program.op_names) & set(backend.unsupported_ops))
    if lacking:
        pytest.skip(f"unsupported: backend {backend.name!r} declares op "
                    f"{', '.join(lacking)} in unsupported_ops")
    if str(dtype) in backend.unsupported_dtypes:
        pytest.skip(f"unsupported: backend {backend.name!r} declares dtype {dtype} in "
                    "unsupported_dtypes")
    return program, arrays


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
    program, arrays = chain_on(backend, name, dtype)
    check_program(backend, program, arrays, request.node)


@pytest.mark.parametrize("n", [5000, 300_000])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_full_sums(backend, dtype, n, request):
    """Programs ending with full sums, which the fusion pass builds for a backend that
    says `fused_reductions` (a loss summed over its terms, also chunk by chunk)."""
    if not backend.fused_reductions:
        pytest.skip(f"unsupported: backend {backend.name!r} does not declare "
                    "fused_reductions (its fused programs never hold sums)")
    program, values = full_sums(np.dtype(dtype), n)
    arrays = [np.asarray(v, dtype=dtype).reshape(t[0]) for v, t in zip(values,
                                                                         program.input_types)]
    check_program(backend, program, arrays, request.node)


def _fresh_buffers(program, backend):
    return lambda args: tuple(backend.from_numpy(np.zeros(s, d)) for s, d in
                              program.output_types)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_out_buffers(backend, dtype, request):
    program, arrays = chain_on(backend, "adam", dtype)
    check_program(backend, program, arrays, request.node, out=_fresh_buffers(program, backend))
    # The runtime hands an update the buffer of the parameter it replaces.
    check_program(backend, program, arrays, request.node,
                  out=lambda args: (args[0], None, None))


def _aliasings(program):
    """(output, input) pairs of one type: the plan may hand that input as that output's
    out= buffer."""
    return [(j, i) for j, t in enumerate(program.output_types)
            for i, u in enumerate(program.input_types)
            if tuple(t[0]) == tuple(u[0]) and np.dtype(t[1]) == np.dtype(u[1])]


def _unfused(backend, program, arrays):
    args = [backend.from_numpy(a) for a in arrays]
    return [backend.to_numpy(x).copy() for x in
            _outputs(Backend.compile_fused(backend, program)(*args), program)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_fused_out_aliasing_an_input(backend, name, dtype):
    program, arrays = chain_on(backend, name, dtype)
    want = _unfused(backend, program, arrays)
    fused = backend.compile_fused(program)
    for j, i in _aliasings(program):
        args = [backend.from_numpy(a) for a in arrays]
        out = tuple(args[i] if k == j else None for k in range(len(program.outputs)))
        got = [backend.to_numpy(x) for x in _outputs(fused(*args, out=out), program)]
        for k, (g, w) in enumerate(zip(got, want)):
            rtol, atol = TOLERANCE[dtype]
            ratio, _, at = compare(g, w, rtol, atol)
            if g.shape != w.shape or ratio > 1.0:
                raise ConformanceFailure(
                    f"fused[{', '.join(program.op_names)}] ({name} chain, {dtype})",
                    f"with input {i} handed in as output {j}'s out= buffer, output {k} "
                    f"differs from the unfused steps {at}: an input was overwritten before a "
                    f"later step read it\n{program}", "out-aliasing",
                    cause="a fused kernel overwrote an input a later step reads")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["adam", "masked", "reuse", "hyperparameter"])
def test_fused_python_float_inputs(backend, name, dtype):
    program, arrays = chain_on(backend, name, dtype)
    want = _unfused(backend, program, arrays)
    # (a program of Python floats alone has no array to take its dtype from: one 0-d
    # input stays an array, as a plan's step counter or loss scale does)
    keep = next((i for i, a in enumerate(arrays) if a.ndim > 0), 0)
    args = [float(a) if a.ndim == 0 and i != keep else backend.from_numpy(a)
            for i, a in enumerate(arrays)]
    where = f"fused[{', '.join(program.op_names)}] ({name} chain, {dtype}, 0-d inputs as " \
            "Python floats)"
    try:
        result = _outputs(backend.compile_fused(program)(*args), program)
    except Exception as exc:
        raise ConformanceFailure(where, f"raised {type(exc).__name__}: {exc}",
                                 "python-numbers") from exc
    for k, (x, w) in enumerate(zip(result, want)):
        g = np.asarray(backend.to_numpy(x))
        rtol, atol = TOLERANCE[dtype]
        if g.dtype != w.dtype or g.shape != w.shape or compare(g, w, rtol, atol)[0] > 1.0:
            raise ConformanceFailure(where, f"output {k} is {g.dtype}{list(g.shape)} "
                                     f"{g.ravel()[:3]}, unfused with 0-d arrays "
                                     f"{w.dtype}{list(w.shape)} {w.ravel()[:3]}",
                                     "python-numbers")

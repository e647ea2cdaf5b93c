"""The optional members of the Backend contract, each checked on its own.

Oracle: the backend's own `kernels[op]` (checked against NumPy float64 by
test_forward.py) and the rules in backends/base.py. `specialize` must give what
`kernels[op]` gives on every sample where it offers a kernel (rule
'specialize-agrees', `keepdims` and shapes included); `pack` must copy and `views`
share memory with the flat buffer ('pack-copies', 'views-share-memory');
`column_major` must keep values and shape, not transpose ('column-major-values');
`all_reduce_start(...)()` must give what `kernels["all_reduce"]` gives on its samples
(a process group of one) and leave its operand alone ('all-reduce-start-agrees').
A backend without a member is skipped with the reason.
"""

import numpy as np
import pytest

from graphgrad.backends.base import Backend
from graphgrad.backends.conformance.cases import (
    TOLERANCE,
    Case,
    compare,
    dtypes_for,
    sampled_ops,
    samples_of,
)
from graphgrad.backends.conformance.checks import (
    ConformanceFailure,
    call_kernel,
    describe,
    operands,
    to_numpy_checked,
)

pytestmark = [pytest.mark.conformance(check="optional"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]

SPECIALIZED_VARIANTS = ("contiguous", "strided")


def _specialize_cases(op):
    return [Case(op, i, dt, v) for i, s in enumerate(samples_of(op)) for dt in dtypes_for(op, s)
            for v in SPECIALIZED_VARIANTS]


def _check_specialized(backend, case) -> None:
    """Where specialize offers a kernel for this case, check that it agrees."""
    arrays = case.arrays()
    types = [(tuple(a.shape), a.dtype) for a in arrays]
    special = backend.specialize(case.op, types, case.kwargs())
    if special is None:
        return
    where = f"{describe(case)}, specialize({case.op!r}, {types}, {case.kwargs()})"
    args = [backend.from_numpy(a) for a in arrays]
    want = to_numpy_checked(backend, call_kernel(backend, backend.kernels[case.op], args,
                                                 case.kwargs(), where), where)
    got = to_numpy_checked(backend, call_kernel(backend, special, args, {}, where,
                                                "specialized kernel"), where)
    if got.shape != want.shape or got.dtype != want.dtype:
        raise ConformanceFailure(where, f"the specialized kernel returned {got.dtype}"
                                 f"{list(got.shape)}, kernels[{case.op!r}] returns "
                                 f"{want.dtype}{list(want.shape)}", "specialize-agrees",
                                 cause="specialized kernel's result type differs")
    rtol, atol = TOLERANCE.get(str(got.dtype), (0.0, 0.0))
    ratio, _, at = compare(got, want, rtol, atol)
    if ratio > 1.0:
        raise ConformanceFailure(where, f"the specialized kernel's result differs from "
                                 f"kernels[{case.op!r}]'s {at}", "specialize-agrees",
                                 cause="specialized kernel's values differ")


@pytest.mark.parametrize("op", sampled_ops())
def test_specialize(backend, op):
    if type(backend).specialize is Backend.specialize:
        pytest.skip(f"backend {backend.name!r} does not override specialize")
    if op not in backend.kernels:
        pytest.skip(f"backend {backend.name!r} has no kernel for {op!r}")
    for case in _specialize_cases(op):  # where it offers none, there is nothing to check
        _check_specialized(backend, case)


PARTS = [(3, 4), (5,), (), (2, 1, 3), (0,)]


def _parts(dtype, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 2, s).astype(dtype) for s in PARTS]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pack_copies_and_views_share_memory(backend, dtype):
    if not backend.flat_state:
        pytest.skip(f"backend {backend.name!r} has flat_state = False (pack/views unused)")
    if dtype in backend.unsupported_dtypes:
        pytest.skip(f"unsupported: backend {backend.name!r} declares dtype {dtype}")
    parts, new = _parts(dtype, 1), _parts(dtype, 2)
    arrays = [backend.from_numpy(p) for p in parts]
    where = f"pack([{operands(parts)}])"
    flat = backend.pack(arrays)
    got = to_numpy_checked(backend, flat, where)
    whole = np.concatenate([p.ravel() for p in parts])
    if got.shape != whole.shape or got.dtype != whole.dtype or not np.array_equal(got, whole):
        raise ConformanceFailure(where, f"returned {got.dtype}{list(got.shape)}, not the "
                                 f"parts one after another ({whole.dtype}{list(whole.shape)})",
                                 "pack-copies", cause="pack returned the wrong array")
    single = backend.pack([arrays[0]])
    single[...] = backend.from_numpy(np.zeros(parts[0].size, dtype))
    if not np.array_equal(backend.to_numpy(arrays[0]), parts[0]):
        raise ConformanceFailure(f"pack([{operands(parts[:1])}])", "writing into the packed "
                                 "array changed the array packed: pack shares its memory",
                                 "pack-copies")
    views = backend.views(flat, [tuple(s) for s in PARTS])
    flat[...] = backend.from_numpy(np.concatenate([p.ravel() for p in new]))
    for i, (a, p) in enumerate(zip(arrays, parts)):
        if not np.array_equal(backend.to_numpy(a), p):
            raise ConformanceFailure(where, f"writing into the packed array changed part "
                                     f"{i}: pack shares its memory", "pack-copies")
    for i, (v, p) in enumerate(zip(views, new)):
        seen = to_numpy_checked(backend, v, f"views(flat, {PARTS})")
        if seen.shape != p.shape or not np.array_equal(seen, p):
            raise ConformanceFailure(
                f"views(flat, {PARTS})", f"view {i} ({seen.dtype}{list(seen.shape)}) does not "
                "read what was written into flat[...]: views returned copies (or wrong parts)",
                "views-share-memory", cause="views do not share flat's memory")


COLUMN_MAJOR = {"rows": lambda a: a, "transposed view": lambda a: a.T,
                "one row": lambda a: a[:1], "empty": lambda a: a[:0]}


@pytest.mark.parametrize("layout", sorted(COLUMN_MAJOR))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_column_major_keeps_values(backend, dtype, layout):
    if backend.column_major is None:
        pytest.skip(f"backend {backend.name!r} has no column_major")
    if dtype in backend.unsupported_dtypes:
        pytest.skip(f"unsupported: backend {backend.name!r} declares dtype {dtype}")
    a = np.ascontiguousarray(COLUMN_MAJOR[layout](
        np.random.default_rng(3).uniform(-2, 2, (3, 4)).astype(dtype)))
    where = f"column_major({operands([a])}) [{layout}]"
    x = backend.from_numpy(a)
    got = to_numpy_checked(backend, call_kernel(backend, backend.column_major, [x], {}, where,
                                                "column_major"), where)
    if got.shape != a.shape or not np.array_equal(got, a):
        hint = " (the transpose?)" if got.shape == a.T.shape and np.array_equal(got, a.T) \
            else ""
        raise ConformanceFailure(where, f"returned {got.dtype}{list(got.shape)} with other "
                                 f"values{hint}", "column-major-values",
                                 cause="column_major changed the values")
    lhs = backend.from_numpy(np.ones((2, a.shape[0]), dtype))
    cm = backend.column_major(x)
    plain = backend.to_numpy(backend.kernels["matmul"](lhs, x))
    mixed = to_numpy_checked(backend, call_kernel(backend, backend.kernels["matmul"],
                                                  [lhs, cm], {}, f"matmul on {where}"), where)
    rtol, atol = TOLERANCE[dtype]
    if compare(mixed, plain, rtol, atol)[0] > 1.0:
        raise ConformanceFailure(where, "matmul on the column-major array differs from "
                                 "matmul on the array", "column-major-values")


@pytest.mark.parametrize("reduction", ["sum", "avg", "max"])
def test_all_reduce_start_agrees_with_the_kernel(backend, reduction):
    if backend.all_reduce_start is None:
        pytest.skip(f"backend {backend.name!r} has no all_reduce_start")
    if "all_reduce" not in backend.kernels:
        pytest.skip(f"backend {backend.name!r} has no kernel for 'all_reduce'")
    for i, sample in enumerate(samples_of("all_reduce")):
        (a,) = sample.args
        kwargs = {**sample.kwargs, "op": reduction}
        where = f"all_reduce_start({operands([a])}, {reduction!r}, group) [sample {i}]"
        x = backend.from_numpy(a)
        want = to_numpy_checked(backend, backend.kernels["all_reduce"](x, **kwargs), where)
        try:
            got = to_numpy_checked(backend, backend.all_reduce_start(x, **kwargs)(), where)
        except Exception as exc:
            raise ConformanceFailure(where, f"raised {type(exc).__name__}: {exc}",
                                     "all-reduce-start-agrees") from exc
        if got.shape != want.shape or got.dtype != want.dtype or \
                not np.array_equal(got, want):
            raise ConformanceFailure(where, f"wait() gave {got.dtype}{list(got.shape)} "
                                     "other than kernels['all_reduce']'s "
                                     f"{want.dtype}{list(want.shape)} or other values",
                                     "all-reduce-start-agrees")
        if not np.array_equal(backend.to_numpy(x), a):
            raise ConformanceFailure(where, "the operand changed", "all-reduce-start-agrees")

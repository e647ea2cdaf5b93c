"""Running one case on the backend under test, and what a result must satisfy.

Kernels are called directly (not through graphgrad's dispatch), so every contract rule
a call can break is checked where it happens and reported by name: the result must be
an array (rule 'array-type'), the operands must come back unchanged
('no-input-writes'), and an exception from the kernel is reported with the op and
its operands. Each failure carries a `cause`: the op-independent part of its message,
by which the report groups failures that share one mistake.
"""

from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad.backends.base import rule
from graphgrad.ir.verify import Aval
from graphgrad.ops import REGISTRY
from graphgrad.tensor import Tensor


class ConformanceFailure(AssertionError):
    """A broken expectation: `where` (op and operands), then `problem`; `cause` (the
    problem without op-specific details) groups failures in the report."""

    def __init__(self, where: str, problem: str, rule_name: str | None = None,
                 cause: str | None = None):
        cited = f" {rule(rule_name)}" if rule_name else ""
        super().__init__(f"{where}: {problem}{cited}")
        self.rule = rule_name
        self.cause = (cause or problem) + (f" [contract rule '{rule_name}']" if rule_name
                                           else "")


def to_backend(backend, arrays) -> list[Tensor]:
    return [Tensor._wrap(backend.from_numpy(a), backend) for a in arrays]


def is_array(x) -> bool:
    """Whether `x` looks like an array to the engine (the 'array-type' rule)."""
    return (isinstance(getattr(x, "shape", None), tuple)
            and isinstance(getattr(x, "dtype", None), np.dtype)
            and getattr(x, "ndim", None) == len(x.shape))


def check_array(value, where: str, what: str = "kernel") -> None:
    """Raise naming the 'array-type' rule unless `value` is an array."""
    if is_array(value):
        return
    if isinstance(value, (bool, int, float, complex)):
        problem = f"{what} returned a Python {type(value).__name__} ({value!r}), not an array"
    else:
        dtype = getattr(value, "dtype", None)
        problem = (f"{what} returned {type(value).__name__} (.shape "
                   f"{getattr(value, 'shape', 'missing')!r}, .dtype {dtype!r}"
                   f"{'' if dtype is None else ' of type ' + type(dtype).__name__}), not an "
                   "array with a tuple .shape, a numpy.dtype .dtype and .ndim")
    raise ConformanceFailure(where, problem, "array-type",
                             cause="kernel returned a Python number" if "Python" in problem
                             else None)


def snapshot(backend, value):
    """A NumPy copy of an operand (Python numbers stay as they are)."""
    return np.array(backend.to_numpy(value), copy=True) if is_array(value) else value


def same_values(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))
    return bool(np.all(a == b))


def call_kernel(backend, kernel, args, kwargs, where: str, what: str = "kernel",
                rule_on_error: str | None = None, may_alias: bool = True):
    """`kernel(*args, **kwargs)`, checked against the rules a single call can break;
    an exception it raises is reported citing `rule_on_error`, if given; unless
    `may_alias`, the result must not share memory with an operand (seen where
    `to_numpy` returns views, as with NumPy arrays)."""
    before = [snapshot(backend, a) for a in args]
    try:
        with np.errstate(all="ignore"):
            out = kernel(*args, **kwargs)
    except AssertionError:
        raise
    except Exception as exc:
        problem = f"{what} raised {type(exc).__name__}: {exc}"
        raise ConformanceFailure(where, problem, rule_on_error) from exc
    check_array(out, where, what)
    for i, (a, b) in enumerate(zip(args, before)):
        if is_array(a) and not same_values(backend.to_numpy(a), b):
            raise ConformanceFailure(where, f"{what} modified its input {i}", "no-input-writes")
    if not may_alias:
        _check_new(backend, out, args, where, what)
    return out


def _check_new(backend, out, args, where: str, what: str) -> None:
    result = np.asarray(backend.to_numpy(out))
    for i, a in enumerate(args):
        if is_array(a) and result.size and np.shares_memory(result, backend.to_numpy(a)):
            raise ConformanceFailure(where, f"{what} returned its input {i} (or a view of "
                                     "it) for an op that returns a new array", "new-result")


def run_case(backend, case) -> np.ndarray:
    """The op's kernel on the case's inputs on `backend`, as a NumPy array."""
    args = [backend.from_numpy(a) for a in case.arrays()]
    if case.op not in backend.kernels:
        raise ConformanceFailure(describe(case), f"backend {backend.name!r} has no kernel "
                                 f"for op {case.op!r} (add one or list it in unsupported_ops)")
    out = call_kernel(backend, backend.kernels[case.op], args, case.kwargs(), describe(case),
                      may_alias=REGISTRY[case.op].view)
    return to_numpy_checked(backend, out, describe(case))


def to_numpy_checked(backend, value, where: str) -> np.ndarray:
    out = backend.to_numpy(value)
    if not isinstance(out, np.ndarray):
        raise ConformanceFailure(where, f"to_numpy returned {type(out).__name__}, not a "
                                 "numpy.ndarray", "to-numpy")
    return out


def run_op(backend, op: str, arrays, kwargs):
    """The op through graphgrad's dispatch (the way eager code calls it)."""
    with gg.no_grad(), np.errstate(all="ignore"):
        return REGISTRY[op](*to_backend(backend, arrays), **kwargs)


def expected_type(case) -> tuple[tuple[int, ...], np.dtype]:
    shape, dtype = REGISTRY[case.op].infer(*[Aval(a.shape, a.dtype) for a in case.arrays()],
                                           **case.kwargs())
    return tuple(shape), np.dtype(dtype)


def operands(arrays) -> str:
    return ", ".join(f"{a.dtype}{list(a.shape)}" if hasattr(a, "shape")
                     else f"{type(a).__name__} {a!r}" for a in arrays)


def describe(case) -> str:
    attrs = f" {case.kwargs()}" if case.kwargs() else ""
    note = f", sample {case.index}: {case.sample.note}" if case.sample.note else \
        f", sample {case.index}"
    return f"op {case.op!r} on ({operands(case.arrays())}){attrs} [{case.variant}{note}]"

"""Finding the kernel to blame when a composite check fails.

A VJP check runs many kernels: the op's own, then those of its backward rule
(`gather_backward` for `gather`, `sum` and `where` for a reduction's, ...). When the
check fails, the op's VJP *rule* is rarely wrong (the registry's rules are checked on
the NumPy backend); one of the kernels is. `recording` keeps the first few calls of
every kernel during the check, with copies of their operands and results; `blame`
replays each call on the NumPy reference kernel (in float64) and returns the calls
whose result disagrees, so the failure names the kernel that is wrong. Under
`gg.compile` the specialized kernels (`specialize`) and fused kernels
(`compile_fused`, replayed as their steps on the NumPy kernels, without `out=`) are
recorded too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from graphgrad.backends.base import Backend
from graphgrad.backends.conformance.cases import REFERENCE, TOLERANCE, compare
from graphgrad.backends.conformance.checks import (
    ConformanceFailure,
    check_array,
    is_array,
    operands,
    snapshot,
)

CALLS_PER_OP = 4  # enough to see a kernel's bug; replaying stays cheap


@dataclass
class Call:
    op: str
    args: list
    attrs: dict
    result: np.ndarray | tuple | None
    program: object = None  # a fused call's FusedProgram

    def __str__(self) -> str:
        attrs = f" {self.attrs}" if self.attrs else ""
        return f"{self.op}({operands(self.args)}){attrs}"


class Calls(list):
    """Recorded calls, and the contract violations seen while recording (a kernel
    returning a Python number, which makes the engine fail far from the cause)."""

    def __init__(self, backend):
        super().__init__()
        self.backend = backend
        self.violations: list[ConformanceFailure] = []
        self.seen: dict[str, int] = defaultdict(int)

    def wrap_fused(self, program, fused):
        """A fused kernel recording its first calls (operands copied before the call:
        an `out=` buffer may be one of them)."""
        op = f"fused[{','.join(program.op_names)}]"
        backend = self.backend

        def recorded(*args, out=None):
            keep = self.seen[op] < CALLS_PER_OP
            before = [snapshot(backend, a) for a in args] if keep else None
            result = fused(*args) if out is None else fused(*args, out=out)
            if keep:
                self.seen[op] += 1
                values = result if isinstance(result, tuple) else (result,)
                self.append(Call(op, before, {}, tuple(snapshot(backend, v) for v in values),
                                 program))
            return result
        return recorded

    def wrap(self, op: str, kernel, fixed: dict | None = None):
        """`kernel`, recording its first calls (with `fixed` as the attributes of a
        specialized kernel, which is called without them)."""
        backend = self.backend

        def recorded(*args, **attrs):
            keep = self.seen[op] < CALLS_PER_OP
            before = [snapshot(backend, a) for a in args] if keep else None
            try:
                out = kernel(*args, **attrs)
            except Exception as exc:
                if any(isinstance(a, (bool, int, float)) for a in args):
                    self.violation(op, exc, args, fixed or attrs)
                raise
            if not is_array(out) and not self.violations:  # the engine would crash on it
                self.violation(op, out, args, fixed or attrs)
            if keep:
                self.seen[op] += 1
                self.append(Call(op, before, dict(fixed if fixed is not None else attrs),
                                 snapshot(backend, out) if is_array(out) else None))
            return out
        return recorded

    def violation(self, op: str, out, args, attrs) -> None:
        """Note the first broken rule: a non-array result, or an exception on Python
        number operands (`out` is then the exception)."""
        if self.violations:
            return
        where = f"kernel {op!r} on ({operands(args)}){' ' + str(attrs) if attrs else ''}"
        try:
            if isinstance(out, Exception):
                raise ConformanceFailure(where, f"kernel raised {type(out).__name__}: {out}",
                                         "python-numbers")
            check_array(out, where)
        except ConformanceFailure as failure:
            failure.kernel = op
            self.violations.append(failure)


@contextmanager
def recording(backend) -> Iterator[Calls]:
    """Record kernel calls on `backend` while the block runs: its kernels, and the
    kernels its `specialize` returns for plans compiled meanwhile (recorded with the
    node's attributes, under the name `op (specialized)`), are wrapped for the
    duration; the originals are restored afterwards."""
    calls = Calls(backend)
    original = backend.kernels
    specialize = backend.specialize

    def specialize_recorded(op, arg_types, attrs):
        special = specialize(op, arg_types, attrs)
        return None if special is None else calls.wrap(f"{op} (specialized)", special, attrs)

    compile_fused = backend.compile_fused
    own = {name: name in vars(backend) for name in ("specialize", "compile_fused")}
    backend.kernels = {op: calls.wrap(op, k) for op, k in original.items()}
    backend.specialize = specialize_recorded
    backend.compile_fused = lambda program: calls.wrap_fused(program, compile_fused(program))
    try:
        yield calls
    finally:
        backend.kernels = original
        for name, value in (("specialize", specialize), ("compile_fused", compile_fused)):
            if own[name]:
                setattr(backend, name, value)
            else:
                delattr(backend, name)


def _expected(call: Call):
    """The NumPy reference's result(s) for the call's operands (float64 for a kernel;
    a fused program's steps one NumPy kernel at a time, in its own dtypes)."""
    if call.program is not None:
        found = Backend.compile_fused(REFERENCE, call.program)(*call.args)
        return tuple(np.asarray(v) for v in (found if isinstance(found, tuple) else (found,)))
    reference = REFERENCE.kernels.get(call.op.removesuffix(" (specialized)"))
    if reference is None:
        return None
    wide = [a.astype(np.float64) if is_array(a) and a.dtype.kind == "f" else a
            for a in call.args]
    return (np.asarray(reference(*wide, **call.attrs)),)


def disagreement(call: Call) -> str | None:
    """How `call`'s result differs from the NumPy reference's, or None."""
    if call.result is None:
        return None
    try:
        with np.errstate(all="ignore"):
            expected = _expected(call)
    except Exception:  # the reference refuses these operands: not this kernel's fault
        return None
    if expected is None:
        return None
    results = call.result if isinstance(call.result, tuple) else (call.result,)
    for i, (got, want) in enumerate(zip(results, expected)):
        problem = _differs(got, want, exact_dtype=call.program is not None)
        if problem is not None:
            return problem if len(results) == 1 else f"output {i}: {problem}"
    return None


def _differs(got, expected, exact_dtype: bool) -> str | None:
    if got.shape != expected.shape or (exact_dtype and got.dtype != expected.dtype):
        return (f"result is {got.dtype}{list(got.shape)}, the reference gives "
                f"{expected.dtype}{list(expected.shape)}")
    rtol, atol = TOLERANCE.get(str(got.dtype), (0.0, 0.0))
    ratio, abs_err, where = compare(got, expected, rtol * 10, atol * 10)
    if ratio > 1.0:
        return f"result differs from the NumPy reference {where} (|error| {abs_err:.3g})"
    return None


def blame(calls: list[Call]) -> list[tuple[Call, str]]:
    """The recorded calls whose results disagree with the reference, one per op."""
    found, ops = [], set()
    for call in calls:
        if call.op in ops:
            continue
        problem = disagreement(call)
        if problem is not None:
            found.append((call, problem))
            ops.add(call.op)
    return found

"""`gg.detect_anomaly()`: stop at the first op whose output holds NaN or Inf.

A NaN found in a loss many ops after it appeared says little; this mode checks every
op's result as it is made and raises a `NumericalError` naming the op, the ranges of
its inputs and the user's `file:line`. In the backward pass it names the forward op
whose gradient went bad and the line that made it (as PyTorch's anomaly mode does).

Eagerly, `ops.registry.apply` calls `check_op` after every op while `enabled` is set
(the normal path pays one boolean test). A `gg.compile`d function called inside the
block runs a *checked plan* instead of its optimized one: the step traced again without
passes (so every op keeps its own node and line), scheduled in creation order (the
order eager code runs ops in), with a finiteness check after each kernel line; it is
built once per cache entry (see `checked_plan.py`, in the compile layer). Tracing it
again runs the function's Python side effects again; that is the price of the
debugging mode, not of normal calls.
"""

from __future__ import annotations

import contextlib
import weakref

import numpy as np

from .dtypes import short
from .errors import NumericalError
from .ir import tracing
from .source import user_source

enabled = False  # read by ops.registry.apply, autodiff and compile on every call
_check_inf = True
_backward_of = None  # the tensor whose gradient autodiff is computing right now
_forward_lines: dict[int, str] = {}  # id(Ctx) -> file:line of the eager op that made it
_trace_origins: dict[int, tuple[str, str]] | None = None  # node -> (forward op, its line)


class detect_anomaly(contextlib.ContextDecorator):
    """Raise `NumericalError` at the first op whose result has NaN (or Inf) in it.

    Works eagerly and for `gg.compile`d functions, in the forward pass, the backward
    pass and optimizer updates. `check_inf=False` lets infinities through (masks that
    use -inf, say) and stops at NaN only. Slow: meant for finding a bug, not training.
    """

    def __init__(self, check_inf: bool = True):
        self.check_inf = check_inf
        self._saved: list[tuple[bool, bool]] = []

    def __enter__(self):
        global enabled, _check_inf
        self._saved.append((enabled, _check_inf))
        enabled, _check_inf = True, self.check_inf
        return self

    def __exit__(self, *exc):
        global enabled, _check_inf, _backward_of
        enabled, _check_inf = self._saved.pop()
        if not enabled:
            _backward_of = None
            _forward_lines.clear()
        return False


def is_anomaly_enabled() -> bool:
    """Whether `gg.detect_anomaly()` is active."""
    return enabled


# ---------------------------------------------------------------------- autodiff hook
@contextlib.contextmanager
def backward_scope():
    """Autodiff runs its loop inside this, so a failed backward leaves no stale state."""
    global _backward_of
    saved = _backward_of
    try:
        yield
    finally:
        _backward_of = saved


def differentiating(t) -> None:
    """Autodiff is about to apply the VJP rule of `t`'s op."""
    global _backward_of
    _backward_of = t


# ---------------------------------------------------------------------- eager checks
def check_op(op, inputs, attrs, out) -> None:
    """Called by `ops.registry.apply` after each op while the mode is on."""
    if out._value is None:
        _note_traced(out)
        return
    if out._ctx is not None and _backward_of is None:
        _remember_line(out)
    if out.dtype.kind != "f":
        return
    value = out._backend.to_numpy(out._value)
    if finite(value):
        return
    arrays = [t._backend.to_numpy(t._value) for t in inputs]
    here = user_source()
    if _backward_of is None:
        raise NumericalError(f"{op_report(op.name, value, arrays)} (at {here})",
                             op=op.name, source=here)
    fwd_op = _backward_of._ctx.op.name
    fwd_line = _forward_lines.get(id(_backward_of._ctx))
    made = f"`{fwd_op}` at {fwd_line}" if fwd_line else \
        f"`{fwd_op}` (run its forward pass inside gg.detect_anomaly() to get its line)"
    raise NumericalError(
        f"in the backward pass, {op_report(op.name, value, arrays)} while computing "
        f"the gradient of {made}; backward() was called at {here}",
        op=op.name, source=fwd_line or here)


def _remember_line(out) -> None:
    key = id(out._ctx)
    _forward_lines[key] = user_source()
    weakref.finalize(out, _forward_lines.pop, key, None)


def _note_traced(out) -> None:
    """While a checked plan is traced: remember which forward op each backward node serves."""
    tracer = tracing.current
    if _trace_origins is None or _backward_of is None or tracer is None:
        return
    fwd = _backward_of
    line = tracer.graph[fwd._node]["source"] if fwd._node in tracer.graph else None
    _trace_origins[out._node] = (fwd._ctx.op.name, line)


@contextlib.contextmanager
def recording_origins(origins: dict):
    """Record backward nodes' forward ops into `origins` while a checked plan is traced."""
    global _trace_origins
    saved, _trace_origins = _trace_origins, origins
    try:
        yield origins
    finally:
        _trace_origins = saved


# ---------------------------------------------------------------------- messages
def finite(value) -> bool:
    """Whether `value` holds no NaN (nor Inf, when infinities are checked too)."""
    value = np.asarray(value)
    if value.dtype.kind != "f":
        return True
    if _check_inf:
        return bool(np.isfinite(value).all())
    return not bool(np.isnan(value).any())


def op_report(op: str, value, arrays) -> str:
    """What went non-finite in `op`'s result, with its inputs' ranges: the error's words."""
    value = np.asarray(value)
    ins = "; ".join(f"input {i}: {describe_range(a)}" for i, a in enumerate(arrays)) or "none"
    return (f"`{op}` produced {', '.join(_non_finite_counts(value))} in its "
            f"{_short(value.dtype)}{list(value.shape)} result; its inputs: {ins}")


def describe_range(a) -> str:
    """`f32[3, 4] in [-1.5, 2]` plus counts of NaN and infinities, for error messages."""
    a = np.asarray(a)
    head = f"{_short(a.dtype)}{list(a.shape)}"
    if a.size == 0:
        return f"{head} (empty)"
    if a.dtype.kind == "b":
        return f"{head} with {int(a.sum())} True"
    if a.dtype.kind != "f":
        return f"{head} in [{a.min()}, {a.max()}]"
    finite = a[np.isfinite(a)]
    parts = [f"{head} in [{finite.min():.4g}, {finite.max():.4g}]" if finite.size
             else f"{head} with no finite value"]
    return ", ".join(parts + _non_finite_counts(a, nan_only=False))


def _non_finite_counts(a, nan_only: bool | None = None) -> list[str]:
    nan_only = not _check_inf if nan_only is None else nan_only
    counts = (("NaN", np.isnan(a).sum()), ("+Inf", np.isposinf(a).sum()),
              ("-Inf", np.isneginf(a).sum()))
    return [f"{int(c)} {label}" for label, c in counts if c and (label == "NaN" or not nan_only)]


def _short(dtype) -> str:
    try:
        return short(np.dtype(dtype))
    except KeyError:
        return np.dtype(dtype).name

"""The ops the fuzzer composes: a graphgrad call and an independent NumPy reference each.

References compute in NumPy with floats widened to float64 (ints stay int64, bools
bool), so NumPy's own rules say which inputs are invalid and which dtype *category*
(bool / int / float) a result has. `kink` gives each op's distance to a point where
it is not differentiable (relu at 0, ties of max, a comparison's threshold, the
domain edge of log/sqrt); gradients are compared with finite differences only away
from those points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import graphgrad as gg

SHAPES = [(), (1,), (3,), (2, 3), (2, 1), (1, 3), (4,), (2, 3, 1), (0, 3), (3, 3)]
DTYPES = ["float32", "float64", "int64", "bool"]


def _f(x):
    """An int/bool array as float64 (float math on it); floats pass through."""
    return x.astype(np.float64) if x.dtype.kind in "biu" else x


def _axis(x, k):
    """Choice k of an axis argument: None (all) or an int that may be out of range."""
    return None if k == 0 else k - 3  # -2, -1, 0, 1, 2, ... (out of range for small ndim)


def _sigmoid(x):
    x = _f(x)
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x, axis):
    axis = None if x.ndim == 0 else axis
    e = np.exp(_f(x) - np.max(_f(x), axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logsumexp(x, axis, keepdims):
    m = np.max(_f(x), axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)  # the log-sum-exp of all -inf is -inf, not NaN
    out = np.log(np.exp(_f(x) - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _tie_gap(x, axis):
    """Distance between the two largest values along `axis` (0 at a tie)."""
    x = _f(x)
    if x.size == 0 or (x.shape[axis] if x.ndim else 1) < 2:
        return np.inf
    s = np.sort(x, axis=axis)
    top = np.take(s, [-1], axis=axis) - np.take(s, [-2], axis=axis)
    low = np.take(s, [1], axis=axis) - np.take(s, [0], axis=axis)
    return min(np.abs(top).min(), np.abs(low).min())


def _positive_base(x):
    return gg.abs(x) + 0.5


@dataclass(frozen=True)
class FuzzOp:
    name: str
    arity: int
    run: Callable  # graphgrad: (*tensors, k) -> Tensor
    ref: Callable  # NumPy: (*arrays, k) -> array
    kink: Callable | None = None  # (*float64 arrays, k) -> min distance to a non-smooth point
    ambiguous: Callable | None = None  # (*arrays) -> where rounding may flip a bool result


def _near(a, b):
    """Where a and b are so close that comparing them in float32 or float64 may differ
    (graphgrad follows PyTorch: a 0-d float64 meets a float32 tensor in float32)."""
    a, b = _f(a), _f(b)
    return np.abs(a - b) <= 4 * np.finfo(np.float32).eps * np.maximum(np.abs(a), np.abs(b))


def _unary(name, run, ref, kink=None):
    return FuzzOp(name, 1, lambda x, k: run(x), lambda x, k: ref(x),
                  None if kink is None else lambda x, k: kink(x))


def _binary(name, run, ref, kink=None, ambiguous=None):
    return FuzzOp(name, 2, lambda a, b, k: run(a, b), lambda a, b, k: ref(a, b),
                  None if kink is None else lambda a, b, k: kink(a, b), ambiguous)


def _floating(x):
    """x, for a mean-like reference: PyTorch refuses integer and bool inputs."""
    if x.dtype.kind != "f":
        raise TypeError("mean and var need a floating input (PyTorch)")
    return x


def _reduce(name, run, ref, kink=None):
    def ref_k(x, k):
        axis = _axis(x, k % 6)
        if axis is not None and not -max(x.ndim, 1) <= axis < max(x.ndim, 1):
            raise IndexError("axis out of range")  # NumPy accepts axis 0 of a 0-d array only
        if x.ndim == 0:
            axis = None
        return ref(x, axis, k >= 6)

    def kink_k(x, k):
        axis = _axis(x, k % 6)
        return kink(x, None if axis is None or x.ndim == 0 else axis)

    return FuzzOp(name, 1, lambda x, k: run(x, _axis(x, k % 6), k >= 6), ref_k,
                  None if kink is None else kink_k)


def _abs_min(x):
    x = np.asarray(_f(x))
    return np.abs(x).min() if x.size else np.inf


def _flat_extreme(x, axis):
    return _tie_gap(x.reshape(-1), 0) if axis is None else _tie_gap(x, axis)


OPS = [
    _unary("neg", lambda x: -x, np.negative),
    _unary("abs", gg.abs, np.abs, _abs_min),
    _unary("exp", gg.exp, lambda x: np.exp(_f(x))),
    _unary("log", gg.log, lambda x: np.log(_f(x)), _abs_min),
    _unary("sqrt", gg.sqrt, lambda x: np.sqrt(_f(x)), _abs_min),
    _unary("tanh", gg.tanh, lambda x: np.tanh(_f(x))),
    _unary("sigmoid", gg.sigmoid, _sigmoid),
    _unary("sin", gg.sin, lambda x: np.sin(_f(x))),
    _unary("cos", gg.cos, lambda x: np.cos(_f(x))),
    _unary("log1p", gg.log1p, lambda x: np.log1p(_f(x)), lambda x: _abs_min(_f(x) + 1)),
    _unary("sign", gg.sign, np.sign, _abs_min),
    _unary("clamp", lambda x: gg.clamp(x, -1, 1),
           lambda x: x if x.dtype == bool else np.clip(x, -1, 1),
           lambda x: min(_abs_min(_f(x) - 1), _abs_min(_f(x) + 1))),
    _unary("long", lambda x: x.long(), lambda x: np.trunc(x).astype(np.int64),
           lambda x: _abs_min(_f(x) - np.round(_f(x))) if x.dtype.kind == "f" else np.inf),
    _unary("to_bool", lambda x: x.bool(), lambda x: x.astype(bool), _abs_min),
    _unary("plus_scalar", lambda x: x + 2.5, lambda x: x + 2.5),
    _unary("scalar_minus", lambda x: 3 - x, lambda x: 3 - (x.astype(np.int64) if x.dtype == bool
                                                          else x)),
    _unary("halve", lambda x: x / 2, lambda x: _f(x) / 2),
    _unary("every_other", lambda x: x[..., ::2], lambda x: x[..., ::2]),
    _unary("squeeze", lambda x: x.squeeze(), np.squeeze),
    _unary("relu", gg.relu, lambda x: np.maximum(x, np.zeros((), x.dtype)), _abs_min),
    _unary("square", lambda x: x * x, lambda x: x * x),
    _unary("cube", lambda x: x ** 3, lambda x: (x.astype(np.int64) if x.dtype == bool else x) ** 3),
    _unary("not", gg.logical_not, np.logical_not, _abs_min),
    _unary("double", lambda x: x.double(), lambda x: _f(x)),
    _unary("to_float", lambda x: x.float(), lambda x: _f(x)),
    _unary("pow_pos", lambda x: _positive_base(x) ** 1.5,
           lambda x: (np.abs(_f(x)) + 0.5) ** 1.5, _abs_min),
    _unary("transpose", lambda x: x.permute(*reversed(range(x.ndim))), np.transpose),
    _unary("flatten", lambda x: x.reshape(-1), lambda x: x.reshape(-1)),
    _unary("unsqueeze", lambda x: x.unsqueeze(0), lambda x: x[None]),
    _unary("first", lambda x: x[0], lambda x: x[0]),
    _unary("expand", lambda x: x.expand(2, *x.shape), lambda x: np.broadcast_to(x, (2,) + x.shape)),
    _binary("add", lambda a, b: a + b, np.add),
    _binary("sub", lambda a, b: a - b, np.subtract),
    _binary("mul", lambda a, b: a * b, np.multiply),
    _binary("div", lambda a, b: a / b, lambda a, b: np.true_divide(_f(a), _f(b)),
            lambda a, b: _abs_min(b)),
    _binary("maximum", gg.maximum, np.maximum, lambda a, b: _abs_min(_f(a) - _f(b))),
    _binary("minimum", gg.minimum, np.minimum, lambda a, b: _abs_min(_f(a) - _f(b))),
    _binary("lt", lambda a, b: a < b, np.less, lambda a, b: _abs_min(_f(a) - _f(b)), _near),
    _binary("eq", lambda a, b: a == b, np.equal, lambda a, b: _abs_min(_f(a) - _f(b)), _near),
    _binary("and", gg.logical_and, np.logical_and,
            lambda a, b: min(_abs_min(a), _abs_min(b))),
    _binary("where", lambda a, b: gg.where(a > 0, a, b), lambda a, b: np.where(a > 0, a, b),
            lambda a, b: _abs_min(a)),
    _binary("pow", gg.pow, lambda a, b: np.power(a.astype(np.int64) if a.dtype == bool else a, b),
            lambda a, b: _abs_min(a)),
    _binary("matmul", lambda a, b: a @ b, np.matmul),
    _binary("stack", lambda a, b: gg.stack([a, b], 0), lambda a, b: np.stack([a, b], 0)),
    _binary("cat", lambda a, b: gg.cat([a, b], 0), lambda a, b: np.concatenate([a, b], 0)),
    _reduce("sum", lambda x, d, kd: x.sum(dim=d, keepdim=kd),
            lambda x, a, kd: np.sum(x, axis=a, keepdims=kd)),
    _reduce("mean", lambda x, d, kd: x.mean(dim=d, keepdim=kd),
            lambda x, a, kd: np.mean(_floating(x), axis=a, keepdims=kd)),
    _reduce("amax", lambda x, d, kd: gg.amax(x, d, kd),
            lambda x, a, kd: np.amax(x, axis=a, keepdims=kd), _flat_extreme),
    _reduce("amin", lambda x, d, kd: gg.amin(x, d, kd),
            lambda x, a, kd: np.amin(x, axis=a, keepdims=kd), _flat_extreme),
    _reduce("argmax", lambda x, d, kd: x.argmax(d, kd),
            lambda x, a, kd: np.argmax(x, axis=a, keepdims=kd and a is not None),
            _flat_extreme),
    _reduce("var", lambda x, d, kd: x.var(d, keepdim=kd),
            lambda x, a, kd: np.var(_floating(x), axis=a, keepdims=kd, ddof=1)),
    _reduce("logsumexp", lambda x, d, kd: gg.logsumexp(x, d, kd), _logsumexp),
    _reduce("softmax", lambda x, d, kd: gg.softmax(x, -1 if d is None else d),
            lambda x, a, kd: _softmax(x, -1 if a is None else a)),
]
BY_NAME = {op.name: op for op in OPS}

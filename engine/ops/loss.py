"""Loss primitives whose derivatives PyTorch defines by formula, not by composition.

`binary_cross_entropy` is one op (not logs composed with clamps) because PyTorch's
derivative is not the derivative of its value: the value clamps each log at -100, so
p = 0 or 1 gives a finite loss, and the gradient is (p - t) / max(p (1 - p), 1e-12),
finite there too. Composed from `log` and `clamp`, the gradient at p = 0 would be
0 * inf = NaN, which is what stopped the standard autoencoder recipe from training.
"""

from __future__ import annotations

import numpy as np

from .common import Sample, broadcast_shapes, rand_array, same_dtype, unbroadcast
from .elementwise import clamp, log
from .registry import Op, saves

#: PyTorch's EPSILON in BinaryCrossEntropyBackward: the smallest p (1 - p) divided by.
#: PyTorch stores it as a float32 constant (whatever the dtype), so it is 1e-12 rounded
#: to float32, and gradients at p = 0 or 1 come out as 1.000000004e12, as there.
BCE_EPS = float(np.float32(1e-12))
#: PyTorch clamps each log at this value, so log(0) contributes a finite 100 per element.
LOG_FLOOR = -100.0

binary_cross_entropy_op = Op("binary_cross_entropy")


def _bce_infer(p, t):
    return broadcast_shapes(p.shape, t.shape, op="binary_cross_entropy"), \
        same_dtype("binary_cross_entropy", p, t)


def _bce_grad_p(p, t):
    """d loss / d p, PyTorch's formula (finite at p = 0 and p = 1)."""
    return (p - t) / clamp(p * (1.0 - p), min=BCE_EPS)


def _bce_grad_t(p):
    """d loss / d t = log(1 - p) - log(p), unclamped as in PyTorch (+-inf at p = 0, 1)."""
    return log(1.0 - p) - log(p)


def _bce_vjp(g, out, p, t):
    return (unbroadcast(g * _bce_grad_p(p, t), p.shape),
            lambda: unbroadcast(g * _bce_grad_t(p), t.shape))


def _bce_jvp(tangents, out, p, t):
    tp, tt = tangents
    parts = []
    if tp is not None:
        parts.append(tp * _bce_grad_p(p, t))
    if tt is not None:
        parts.append(tt * _bce_grad_t(p))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else parts[0] + parts[1]


binary_cross_entropy_op.infer = _bce_infer
binary_cross_entropy_op.document(
    "-(t log p + (1 - t) log(1 - p)) elementwise, each log clamped at -100 (PyTorch's "
    "value: finite at p = 0 and 1)", operands=("p", "t"),
    result="the broadcast of p's and t's shapes; their dtype")
binary_cross_entropy_op.vjp = _bce_vjp
binary_cross_entropy_op.saves = saves(0, 1)
binary_cross_entropy_op.jvp = _bce_jvp
binary_cross_entropy_op.samples = lambda: [
    Sample((rand_array((3, 4), 0.05, 0.95), rand_array((3, 4), 0.0, 1.0, seed=1)),
           diff=(0, 1)),
    Sample((rand_array((5,), 0.05, 0.95), rand_array((), 0.0, 1.0, seed=2)), diff=(0, 1),
           note="broadcast target"),
    Sample((np.array([0.0, 1.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0, 0.0])), diff=(),
           note="saturated probabilities"),
]


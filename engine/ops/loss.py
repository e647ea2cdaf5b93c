"""Loss primitives whose derivatives PyTorch defines by formula, not by composition.

`binary_cross_entropy` is one op (not logs composed with clamps) because PyTorch's
derivative is not the derivative of its value: the value clamps each log at -100, so
p = 0 or 1 gives a finite loss, and the gradient is (p - t) / max(p (1 - p), 1e-12),
finite there too. Composed from `log` and `clamp`, the gradient at p = 0 would be
0 * inf = NaN, which is what stopped the standard autoencoder recipe from training.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import ShapeError
from .common import Sample, broadcast_shapes, linear_jvp, rand_array, same_dtype, unbroadcast
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



# ---------------------------------------------------------------------- nll_loss

#: The reductions of PyTorch's losses.
REDUCTIONS = ("none", "mean", "sum")

nll_loss_op = Op("nll_loss")
nll_loss_backward_op = Op("nll_loss_backward")


def _check_nll_operands(op, batch, dtype, target, weight, classes, reduction):
    """PyTorch's checks of nll_loss's operands, in the op's terms (shape/dtype rule)."""
    if target.ndim != 1 or target.dtype.kind not in "iu":
        raise ShapeError(f"{op}: class-index targets must be a 1-d integer tensor, got "
                         f"{dtypes.short(target.dtype)}{list(target.shape)}", op=op)
    if target.shape[0] != batch:
        raise ShapeError(f"{op}: {target.shape[0]} targets for a batch of {batch}", op=op)
    if weight is not None and (weight.shape != (classes,) or weight.dtype != dtype):
        raise ShapeError(f"{op}: class weights must be {dtypes.short(dtype)}[{classes}], got "
                         f"{dtypes.short(weight.dtype)}{list(weight.shape)}", op=op)
    if reduction not in REDUCTIONS:
        raise ShapeError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}",
                         op=op)


def _nll_infer(logp, target, weight=None, *, ignore_index, reduction):
    if logp.ndim != 2 or logp.dtype.kind != "f":
        raise ShapeError(f"nll_loss: input must be float log-probabilities of shape "
                         f"(batch, classes), got {dtypes.short(logp.dtype)}{list(logp.shape)}",
                         op="nll_loss")
    _check_nll_operands("nll_loss", logp.shape[0], logp.dtype, target, weight, logp.shape[1],
                        reduction)
    return (logp.shape[:1] if reduction == "none" else ()), logp.dtype


def _nll_backward_infer(g, target, weight=None, *, ignore_index, reduction, classes):
    _check_nll_operands("nll_loss_backward", target.shape[0] if target.ndim else -1, g.dtype,
                        target, weight, classes, reduction)
    expected = target.shape if reduction == "none" else ()
    if g.shape != expected or g.dtype.kind != "f":
        raise ShapeError(f"nll_loss_backward: the gradient of a {reduction!r} loss must be "
                         f"float of shape {expected}, got {dtypes.short(g.dtype)}"
                         f"{list(g.shape)}", op="nll_loss_backward")
    return (target.shape[0], classes), g.dtype


def _nll_vjp(g, out, logp, target, *weight, ignore_index, reduction):
    grad = nll_loss_backward_op(g, target, *weight, ignore_index=ignore_index,
                                reduction=reduction, classes=logp.shape[1])
    return (grad, None) + (None,) * len(weight)


def _nll_backward_vjp(gg, out, g, target, *weight, ignore_index, reduction, classes):
    # the backward is linear in g, and its adjoint is nll_loss itself
    return (nll_loss_op(gg, target, *weight, ignore_index=ignore_index, reduction=reduction),
            None) + (None,) * len(weight)


nll_loss_op.infer = _nll_infer
nll_loss_op.vjp = _nll_vjp
nll_loss_op.jvp = linear_jvp(nll_loss_op)
nll_loss_op.saves = lambda need: tuple(range(len(need)))  # as PyTorch: input, target, weight
nll_loss_op.document(
    "-w[t_i] * logp[i, t_i] per row i (the weight operand w is optional: absent, w = 1); "
    "a row whose target equals ignore_index (None: no row) counts 0. 'sum' adds the rows; "
    "'mean' divides that sum by "
    "the sum of w[t_i] over the rows not ignored (NaN when every row is ignored), as "
    "PyTorch's nll_loss. A target outside [0, classes) that is not ignored raises",
    operands=("logp", "target", "weight"),
    result="(batch,) for 'none', () otherwise; logp's dtype",
    ignore_index="int | None: the target value that marks a row to skip",
    reduction="str: 'none', 'mean' or 'sum'")
nll_loss_backward_op.infer = _nll_backward_infer
nll_loss_backward_op.vjp = _nll_backward_vjp
nll_loss_backward_op.jvp = linear_jvp(nll_loss_backward_op)
nll_loss_backward_op.saves = lambda need: tuple(range(1, len(need)))  # target, weight
nll_loss_backward_op.document(
    "the VJP of nll_loss: zeros of (batch, classes) but -w[t_i] * g_i at [i, t_i] for each "
    "row not ignored (g_i = g for 'sum', g / (the mean's divisor) for 'mean'; weight as in "
    "nll_loss, optional)",
    operands=("g", "target", "weight"), result="(batch, classes); g's dtype",
    ignore_index="int | None: the target value that marks a row to skip",
    reduction="str: 'none', 'mean' or 'sum'",
    classes="int: the number of classes (logp's dim 1)")


def _nll_samples():
    logp = rand_array((5, 4), -3.0, 0.0)
    target = np.array([0, 3, 1, 3, 2])
    weight = rand_array((4,), 0.2, 2.0, seed=3)
    ignored = np.array([0, -100, 1, 3, -100])
    return [
        Sample((logp, target), {"ignore_index": -100, "reduction": "mean"}),
        Sample((logp, target), {"ignore_index": None, "reduction": "sum"}),
        Sample((logp, ignored), {"ignore_index": -100, "reduction": "none"},
               note="ignored rows"),
        Sample((logp, ignored, weight), {"ignore_index": -100, "reduction": "mean"},
               note="weights, ignored rows"),
        Sample((logp, target, weight), {"ignore_index": 3, "reduction": "sum"},
               note="weights, ignore_index a class"),
    ]


def _nll_backward_samples():
    target = np.array([0, 3, 1, 3, 2])
    ignored = np.array([0, -100, 1, 3, -100])
    weight = rand_array((4,), 0.2, 2.0, seed=3)
    attrs = {"ignore_index": -100, "classes": 4}
    return [
        Sample((rand_array(()), ignored), {**attrs, "reduction": "mean"}),
        Sample((rand_array((5,)), ignored, weight), {**attrs, "reduction": "none"}),
        Sample((rand_array(()), target, weight), {**attrs, "reduction": "sum"}),
    ]


nll_loss_op.samples = _nll_samples
nll_loss_backward_op.samples = _nll_backward_samples

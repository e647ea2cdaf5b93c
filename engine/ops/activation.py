"""GELU as one op: `gelu` (exact or tanh-approximated) and its derivative op `gelu_backward`.

Composed of small ops, x * 0.5 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) is a dozen
elementwise steps whose fused forward also has to write every intermediate its
backward reads: six arrays the size of a transformer MLP's hidden activation. As one
op (PyTorch's `gelu`), the forward writes y alone and saves x, and `gelu_backward(g, x)`
recomputes what it needs in one kernel. Both ops are `elementwise`: the fusion pass
merges them with their neighbours (the bias added before the activation), and each
fusion compiler has their formula (NumPy: the chunked kernels of norm_kernels.py,
CUDA and Numba: one expression each).

`gelu_backward`'s own VJP and JVP are written with Tensor ops (GELU's second
derivative), so second derivatives work as for the composition.
"""

from __future__ import annotations

import math

from ..errors import ArgumentError
from .common import (
    Sample,
    broadcast_shapes,
    rand_array,
    same_dtype,
    tangent_sum,
    unary_samples,
    unbroadcast,
)
from .elementwise import exp, tanh
from .registry import Op, saves

APPROXIMATIONS = ("none", "tanh")
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
CUBIC = 0.044715  # the tanh approximation's coefficient (Hendrycks & Gimpel)

gelu_op = Op("gelu", elementwise=True)
gelu_backward_op = Op("gelu_backward", elementwise=True)


def _check(approximate: str) -> None:
    if approximate not in APPROXIMATIONS:
        raise ArgumentError(f"gelu: approximate must be 'none' or 'tanh', got "
                            f"{approximate!r}", op="gelu")


def _infer(x, approximate: str):
    _check(approximate)
    if x.dtype.kind != "f":
        raise ArgumentError(f"gelu: expected a float input, got {x.dtype}", op="gelu")
    return tuple(x.shape), x.dtype


def _backward_infer(g, x, approximate: str):
    """Broadcasting, as every elementwise op (the simplify pass hands it the unbroadcast
    cotangent of a sum, say)."""
    _check(approximate)
    dt = same_dtype("gelu_backward", g, x)
    if dt.kind != "f":
        raise ArgumentError(f"gelu_backward: expected float operands, got {dt}",
                            op="gelu_backward")
    return broadcast_shapes(g.shape, x.shape, op="gelu_backward"), dt


def second_derivative(x, approximate: str):
    """GELU''(x) with Tensor ops: phi(x) (2 - x^2) exactly (phi the normal density); for
    the tanh form, with u = c (x + k x^3) and t = tanh(u),
    (1 - t^2) (u' + x (u'' - 2 t u'^2) / 2)."""
    if approximate == "none":
        return exp(x * x * -0.5) * (1.0 / math.sqrt(2.0 * math.pi)) * (2.0 - x * x)
    u1 = (x * x * (3.0 * CUBIC) + 1.0) * SQRT_2_OVER_PI
    t = tanh((x + x * x * x * CUBIC) * SQRT_2_OVER_PI)
    u2 = x * (6.0 * CUBIC * SQRT_2_OVER_PI)
    return (1.0 - t * t) * (u1 + x * (u2 - t * u1 * u1 * 2.0) * 0.5)


def _backward_vjp(h, out, g, x, approximate: str):
    return (lambda: unbroadcast(gelu_backward_op(h, x, approximate=approximate), g.shape),
            lambda: unbroadcast(h * g * second_derivative(x, approximate), x.shape))


def _backward_jvp(t, out, g, x, approximate: str):
    return tangent_sum(
        None if t[0] is None else gelu_backward_op(t[0], x, approximate=approximate),
        None if t[1] is None else t[1] * g * second_derivative(x, approximate))


gelu_op.infer = _infer
gelu_op.vjp = lambda g, out, x, approximate: (gelu_backward_op(g, x, approximate=approximate),)
gelu_op.jvp = lambda t, out, x, approximate: gelu_backward_op(t[0], x, approximate=approximate)
gelu_op.saves = saves(0)  # x, as PyTorch's
gelu_backward_op.infer = _backward_infer
gelu_backward_op.vjp, gelu_backward_op.jvp = _backward_vjp, _backward_jvp
gelu_backward_op.saves = saves(0, 1)

gelu_op.document(
    "the Gaussian error linear unit, elementwise: x Phi(x) = x (1 + erf(x / sqrt(2))) / 2 "
    "when approximate is 'none'; x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 when 'tanh'",
    result="x's shape and dtype (float)",
    approximate="str: 'none' (exact, erf) or 'tanh' (PyTorch's approximation)")
gelu_backward_op.document(
    "g times the derivative of gelu at x, elementwise: Phi(x) + x phi(x) exactly (phi the "
    "normal density); for 'tanh', with u = sqrt(2/pi) (x + 0.044715 x^3) and t = tanh(u), "
    "(1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2",
    operands=("g", "x"), result="the broadcast of g's and x's shapes; their (float) dtype",
    approximate=gelu_op.attr_docs["approximate"])


def _samples():
    base = unary_samples(-4.0, 4.0)()
    return [Sample(s.args, {"approximate": a}, note=a)
            for a in APPROXIMATIONS for s in base]


def _backward_samples():
    return [Sample((rand_array((3, 4), seed=1), rand_array((3, 4), -4.0, 4.0, seed=2)),
                   {"approximate": a}, diff=(0, 1), note=a) for a in APPROXIMATIONS] + \
           [Sample((rand_array((0, 3)), rand_array((0, 3))), {"approximate": "tanh"},
                   diff=(0, 1), note="empty")]


gelu_op.samples = _samples
gelu_backward_op.samples = _backward_samples

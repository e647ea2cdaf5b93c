"""Layer normalization as one op: `layer_norm` and its backward op `layer_norm_backward`.

Composed of small ops (mean, var, sub, mul, rsqrt, then the affine), a LayerNorm costs
about ten passes over its input forward and fifteen backward, each one a kernel call
and a temporary; a transformer holds one per block and sub-layer. As one op (PyTorch's
`native_layer_norm`), the forward is one kernel and the backward is one kernel that
returns the input gradient and the weight and bias gradients together.

The operands are x, then optionally the weight, then optionally the bias (a bias alone
is given a weight of ones by `F.layer_norm`); `dims` trailing dims are normalized. The
forward op's result is y alone, since an op has one result: the backward kernel
recomputes each row's mean and 1/std from x (two row reductions, cheaper than carrying
the statistics through a packed result whose cotangent would have to be assembled),
and packs dx, dweight and dbias into one flat array that the VJP unpacks (free views).
The forward op's JVP is written with Tensor ops, and so is its VJP when the gradient
will itself be differentiated (`create_graph=True`): the fused backward op has no
derivatives of its own, so it serves only first-order gradients.
"""

from __future__ import annotations

import math

from .. import grad_mode
from ..errors import AutogradError, DtypeError, ShapeError
from ..tensor import Tensor
from .common import Sample, rand_array, tangent_sum
from .registry import Op, saves_none
from .shape import index_op, reshape

layer_norm_op = Op("layer_norm", checked=True)  # its kernel would broadcast a wrong weight
layer_norm_backward_op = Op("layer_norm_backward")


def _check(name: str, x, affine, dims: int) -> tuple[int, ...]:
    """The normalized shape (x's trailing `dims` dims) after checking the operands."""
    if dims < 1 or x.ndim < dims:
        raise ShapeError(f"{name}: cannot normalize the last {dims} dims of an input of "
                         f"shape {tuple(x.shape)}", op=name)
    shape = tuple(x.shape[x.ndim - dims:])
    if x.dtype.kind != "f":
        raise DtypeError(f"{name}: expected a float input, got {x.dtype}", op=name)
    for label, t in zip(("weight", "bias"), affine):
        if tuple(t.shape) != shape:
            raise ShapeError(f"{name}: {label} has shape {tuple(t.shape)}, expected the "
                             f"normalized shape {shape} of input {tuple(x.shape)}", op=name)
        if t.dtype != x.dtype:
            raise DtypeError(f"{name}: {label} is {t.dtype}, input is {x.dtype}; they must "
                             "share one float dtype", op=name)
    return shape


def _infer(x, *affine, dims: int, eps: float):
    if len(affine) > 2:
        raise ShapeError(f"layer_norm: expected x, weight, bias at most, got {1 + len(affine)} "
                         "operands", op="layer_norm")
    _check("layer_norm", x, affine, dims)
    return tuple(x.shape), x.dtype


def _unpack(flat: Tensor, shapes) -> tuple[Tensor, ...]:
    """Split the packed flat gradient into tensors of `shapes` (slices: views)."""
    out, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        piece = index_op(flat, spec=(("slice", start, start + size, None),))
        out.append(reshape(piece, tuple(shape)))
        start += size
    return tuple(out)


def _vjp(g, out, x, *affine, dims: int, eps: float):
    if grad_mode._enabled:  # create_graph: the gradient itself will be differentiated
        return _composite_vjp(g, x, affine, dims, eps)
    flat = layer_norm_backward_op(g, x, *affine[:1], dims=dims, eps=eps,
                                  bias=len(affine) == 2)
    return _unpack(flat, [tuple(x.shape)] + [tuple(t.shape) for t in affine])


def _composite_vjp(g, x, affine, dims: int, eps: float):
    """The same gradients written with Tensor ops, so that they are differentiable in
    turn (a gradient penalty, a Hessian-vector product through a LayerNorm): the fused
    backward op has no derivatives of its own."""
    xhat, rstd, axes = _normalized(x, dims, eps)
    gw = g * affine[0] if affine else g
    dx = rstd * (gw - gw.mean(axes, keepdim=True)
                 - xhat * (gw * xhat).mean(axes, keepdim=True))
    rows = tuple(range(x.ndim - dims))
    grads = [dx]
    if affine:
        grads.append((g * xhat).sum(rows))
    if len(affine) > 1:
        grads.append(g.sum(rows))
    return tuple(grads)


def _normalized(x: Tensor, dims: int, eps: float):
    """(x_hat, 1/std, axes) with Tensor ops (for the JVP)."""
    axes = tuple(range(x.ndim - dims, x.ndim))
    xc = x - x.mean(axes, keepdim=True)
    rstd = 1.0 / ((xc * xc).mean(axes, keepdim=True) + eps).sqrt()
    return xc * rstd, rstd, axes


def _jvp(t, out, x, *affine, dims: int, eps: float):
    """d y = w (d x_hat) + x_hat dw + db, d x_hat = rstd (tc - x_hat mean(tc x_hat)),
    tc = dx - mean(dx)."""
    xhat, rstd, axes = _normalized(x, dims, eps)
    terms = []
    if t[0] is not None:
        tc = t[0] - t[0].mean(axes, keepdim=True)
        dxhat = rstd * (tc - xhat * (tc * xhat).mean(axes, keepdim=True))
        terms.append(dxhat * affine[0] if affine else dxhat)
    if len(affine) > 0 and t[1] is not None:
        terms.append(xhat * t[1])
    if len(affine) > 1 and t[2] is not None:
        terms.append(t[2].broadcast_to(tuple(x.shape)))
    return tangent_sum(*terms)


def _backward_infer(g, x, *weight, dims: int, eps: float, bias: bool):
    shape = _check("layer_norm_backward", x, weight, dims)
    if tuple(g.shape) != tuple(x.shape) or g.dtype != x.dtype:
        raise ShapeError(f"layer_norm_backward: the cotangent {g.dtype}{tuple(g.shape)} must "
                         f"match the input {x.dtype}{tuple(x.shape)}", op="layer_norm_backward")
    if bias and not weight:
        raise ShapeError("layer_norm_backward: a bias gradient needs the weight operand",
                         op="layer_norm_backward")
    per_param = math.prod(shape)
    return (math.prod(x.shape) + per_param * (len(weight) + int(bias)),), x.dtype


def _no_second_order(*args, **kwargs):
    raise AutogradError("layer_norm: derivatives of its gradient (second order) are not "
                        "supported", op="layer_norm_backward")


layer_norm_op.infer, layer_norm_op.vjp, layer_norm_op.jvp = _infer, _vjp, _jvp
layer_norm_op.saves = lambda need: tuple(range(len(need)))  # x and the affine parameters
layer_norm_backward_op.infer = _backward_infer
layer_norm_backward_op.vjp = layer_norm_backward_op.jvp = _no_second_order
layer_norm_backward_op.saves = saves_none

layer_norm_op.document(
    "layer normalization over the trailing `dims` dims (PyTorch's native_layer_norm): each "
    "row r of x viewed as (rows, D), D the product of those dims, becomes (x_r - mean_r) / "
    "sqrt(var_r + eps) with the biased variance, then times weight and plus bias where "
    "given (weight and bias have the normalized shape, x's dtype)",
    operands=("x", "weight", "bias"),
    result="x's shape and dtype; weight and bias are optional trailing operands (bias only "
           "after weight)",
    dims="int: how many trailing dims are normalized (>= 1)",
    eps="float: added to the variance")
layer_norm_backward_op.document(
    "the VJP of layer_norm for cotangent g (x's shape): recomputes each row's mean and "
    "rstd = 1/sqrt(var + eps) from x, x_hat = (x - mean) rstd, then dx = rstd (g w - "
    "mean_r(g w) - x_hat mean_r(g w x_hat)) (w = 1 without a weight), dweight = sum over "
    "rows of g x_hat, dbias = sum over rows of g; returns dx, then dweight when the "
    "weight is given, then dbias when `bias`, each flattened in C order, concatenated. Its "
    "own VJP and JVP raise (no second derivatives)",
    operands=("g", "x", "weight"),
    result="(size of x + D per parameter gradient,): 1-d; x's dtype",
    dims=layer_norm_op.attr_docs["dims"], eps=layer_norm_op.attr_docs["eps"],
    bias="bool: also return the bias gradient (needs the weight operand)")


def _samples():
    x = rand_array((3, 5), seed=1)
    return [Sample((x, rand_array((5,), seed=2), rand_array((5,), seed=3)),
                   {"dims": 1, "eps": 1e-5}, diff=(0, 1, 2)),
            Sample((rand_array((2, 3, 4), seed=4),), {"dims": 2, "eps": 1e-5}),
            Sample((rand_array((4, 6), seed=5), rand_array((6,), seed=6)),
                   {"dims": 1, "eps": 1e-3}, diff=(0, 1), note="weight only"),
            Sample((rand_array((0, 4)),), {"dims": 1, "eps": 1e-5}, note="no rows")]


def _backward_samples():
    x, w = rand_array((3, 5), seed=1), rand_array((5,), seed=2)
    return [Sample((rand_array((3, 5), seed=7), x, w), {"dims": 1, "eps": 1e-5, "bias": True},
                   diff=()),
            Sample((rand_array((2, 3, 4), seed=8), rand_array((2, 3, 4), seed=4)),
                   {"dims": 2, "eps": 1e-5, "bias": False}, diff=())]


layer_norm_op.samples = _samples
layer_norm_backward_op.samples = _backward_samples

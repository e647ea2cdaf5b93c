"""Convolution and pooling primitives over (N, C, *spatial) tensors, any number of dims.

Three ops close convolution under differentiation. With T(g, x, w) = <g, conv(x, w)>
(trilinear), `conv_input_grad(g, w)` is dT/dx and `conv_weight_grad(x, g)` is dT/dw;
each one's VJP and JVP are again these three ops, so second derivatives (and
forward-over-reverse) need nothing else. Max pooling has the same shape of story:
`max_pool_grad(g, x)` routes g to each window's first maximum, `max_pool_take(h, x)`
reads h there; they are each other's transposes. `sum_pool` (average pooling before
its divisor) and `sum_pool_grad` are likewise a transposed pair.

`padding` is one (before, after) pair per spatial dim: "same" padding and pooling's
`ceil_mode` may pad one side more, and the kernels pad inside (zeros for convolution
and sums, -inf for maxima), so no separate pad op runs. The public functions with
PyTorch's signatures are in `nn/functional_conv.py`.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .common import Sample, linear_jvp, rand_array, same_dtype, tangent_sum
from .registry import Op, saves, saves_none, saves_others


def out_size(size: int, kernel: int, stride: int, pad: tuple[int, int], dilation: int) -> int:
    """Windows along one dim: (size + pads - dilation (kernel - 1) - 1) // stride + 1."""
    return (size + pad[0] + pad[1] - dilation * (kernel - 1) - 1) // stride + 1


def window_shape(op: str, shape, kernel, stride, padding, dilation) -> tuple[int, ...]:
    """The spatial output shape of sliding `kernel` over an (N, C, *spatial) shape, or a
    ShapeError in the user's terms where the input is too small."""
    spatial = tuple(shape[2:])
    if len(spatial) != len(kernel):
        raise ShapeError(f"{op}: expected an input with {len(kernel) + 2} dims "
                         f"(N, C, {len(kernel)} spatial), got shape {tuple(shape)}", op=op)
    out = tuple(out_size(*a) for a in zip(spatial, kernel, stride, padding, dilation))
    if any(o < 1 for o in out):
        raise ShapeError(f"{op}: input of spatial size {spatial} (padding {padding}) is "
                         f"smaller than the kernel {tuple(kernel)} with dilation "
                         f"{tuple(dilation)}: output size {out} is too small", op=op)
    return out


# ---------------------------------------------------------------------- convolution

conv_op = Op("conv")
conv_input_grad_op = Op("conv_input_grad")
conv_weight_grad_op = Op("conv_weight_grad")


def _check_conv(x, w, groups):
    dt = same_dtype("conv", x, w)
    if x.ndim != w.ndim or x.ndim < 3:
        raise ShapeError(f"conv: input {x.shape} and weight {w.shape} must both be "
                         f"(N, C, *spatial) and (out_channels, C/groups, *kernel)", op="conv")
    if x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
        raise ShapeError(f"conv: weight of shape {w.shape} with groups={groups} expects "
                         f"{w.shape[1] * groups} input channels and out_channels divisible "
                         f"by groups, got input of shape {x.shape}", op="conv")
    return dt


def _conv_infer(x, w, stride, padding, dilation, groups):
    dt = _check_conv(x, w, groups)
    out = window_shape("conv", x.shape, w.shape[2:], stride, padding, dilation)
    return (x.shape[0], w.shape[0]) + out, dt


def _conv_vjp(g, out, x, w, **a):
    return (lambda: conv_input_grad_op(g, w, **a, shape=x.shape),
            lambda: conv_weight_grad_op(x, g, **a, shape=w.shape))


def _conv_jvp(t, out, x, w, **a):
    return tangent_sum(None if t[0] is None else conv_op(t[0], w, **a),
                       None if t[1] is None else conv_op(x, t[1], **a))


def _input_grad_vjp(h, out, g, w, shape, **a):
    return (lambda: conv_op(h, w, **a),
            lambda: conv_weight_grad_op(h, g, **a, shape=w.shape))


def _input_grad_jvp(t, out, g, w, shape, **a):
    return tangent_sum(
        None if t[0] is None else conv_input_grad_op(t[0], w, **a, shape=shape),
        None if t[1] is None else conv_input_grad_op(g, t[1], **a, shape=shape))


def _weight_grad_vjp(h, out, x, g, shape, **a):
    return (lambda: conv_input_grad_op(g, h, **a, shape=x.shape),
            lambda: conv_op(x, h, **a))


def _weight_grad_jvp(t, out, x, g, shape, **a):
    return tangent_sum(
        None if t[0] is None else conv_weight_grad_op(t[0], g, **a, shape=shape),
        None if t[1] is None else conv_weight_grad_op(x, t[1], **a, shape=shape))


conv_op.infer = _conv_infer
conv_op.vjp = _conv_vjp
conv_op.saves = saves(0, 1)  # PyTorch's convolution saves both, whichever is needed
conv_input_grad_op.saves = conv_weight_grad_op.saves = saves_others
conv_op.jvp = _conv_jvp
conv_input_grad_op.infer = lambda g, w, shape, **a: (tuple(shape), same_dtype("conv", g, w))
conv_input_grad_op.vjp = _input_grad_vjp
conv_input_grad_op.jvp = _input_grad_jvp
conv_weight_grad_op.infer = lambda x, g, shape, **a: (tuple(shape), same_dtype("conv", x, g))
conv_weight_grad_op.vjp = _weight_grad_vjp
conv_weight_grad_op.jvp = _weight_grad_jvp
conv_op.document(
    "cross-correlation over any number of spatial dims, PyTorch's conv1d/2d/3d without bias: "
    "x is (N, C, *spatial), w is (O, C/groups, *kernel), and out[n, o, *p] = sum over c "
    "in o's group and offsets k of xpad[n, c, *(p * stride + k * dilation)] * w[o, c, *k], "
    "where xpad is x zero-padded by `padding`; output channel o reads the C/groups input "
    "channels of group o // (O/groups)", operands=("x", "w"),
    result="(N, O, *out) with out[d] = (spatial[d] + before[d] + after[d] - dilation[d] "
           "(kernel[d] - 1) - 1) // stride[d] + 1, each >= 1; the dtype x and w share",
    stride="tuple[int, ...]: the step between windows, one int >= 1 per spatial dim",
    padding="tuple[tuple[int, int], ...]: (before, after) zeros added to each spatial dim, "
            "one pair per dim (the two may differ: 'same' padding puts the odd unit after)",
    dilation="tuple[int, ...]: the spacing between kernel taps, one int >= 1 per spatial dim",
    groups="int >= 1: C and O split into this many groups, each convolved on its own "
           "(C == w.shape[1] * groups and O % groups == 0)")
conv_input_grad_op.document(
    "the VJP of conv for x (the transposed convolution of g with w): dx = zeros of `shape`, "
    "with g[n, o, *p] * w[o, c, *k] added at xpad position p * stride + k * dilation for "
    "every window p, offset k and c in o's group; what lands in the padding is dropped, "
    "and input positions no window reads get 0", operands=("g", "w"),
    result="shape; the dtype g and w share", **conv_op.attr_docs,
    shape="tuple[int, ...]: the shape of conv's x, (N, C, *spatial) (strided windows may "
          "leave trailing positions unread, so it cannot be inferred from g)")
conv_weight_grad_op.document(
    "the VJP of conv for w: dw[o, c, *k] = sum over n and windows p of "
    "xpad[n, group(o) * C/groups + c, *(p * stride + k * dilation)] * g[n, o, *p], xpad "
    "being x zero-padded by `padding`", operands=("x", "g"),
    result="shape; the dtype x and g share", **conv_op.attr_docs,
    shape="tuple[int, ...]: the shape of conv's w, (O, C/groups, *kernel)")

#: (input shape, weight shape, attrs): 1-d grouped and strided, 2-d asymmetric padding
#: and stride, 2-d dilated with one-sided padding, a 1x1 kernel.
CONV_CASES = [
    ((2, 4, 7), (6, 2, 3), dict(stride=(2,), padding=((1, 1),), dilation=(1,), groups=2)),
    ((2, 3, 5, 6), (4, 3, 3, 2), dict(stride=(1, 2), padding=((1, 1), (0, 1)),
                                      dilation=(1, 1), groups=1)),
    ((1, 2, 6, 5), (2, 2, 2, 2), dict(stride=(1, 1), padding=((1, 0), (0, 1)),
                                      dilation=(2, 2), groups=1)),
    ((2, 3, 3, 3), (2, 3, 1, 1), dict(stride=(2, 2), padding=((0, 0), (0, 0)),
                                      dilation=(1, 1), groups=1)),
]


def _conv_out_shape(xs, ws, a):
    return (xs[0], ws[0]) + window_shape("conv", xs, ws[2:], a["stride"], a["padding"],
                                         a["dilation"])


conv_op.samples = lambda: [Sample((rand_array(xs), rand_array(ws, seed=1)), a, diff=(0, 1))
                           for xs, ws, a in CONV_CASES]
conv_input_grad_op.samples = lambda: [
    Sample((rand_array(_conv_out_shape(xs, ws, a)), rand_array(ws, seed=1)),
           dict(a, shape=xs), diff=(0, 1)) for xs, ws, a in CONV_CASES]
conv_weight_grad_op.samples = lambda: [
    Sample((rand_array(xs), rand_array(_conv_out_shape(xs, ws, a), seed=1)),
           dict(a, shape=ws), diff=(0, 1)) for xs, ws, a in CONV_CASES]


# ---------------------------------------------------------------------- pooling

max_pool_op = Op("max_pool")
max_pool_grad_op = Op("max_pool_grad")
max_pool_take_op = Op("max_pool_take")
sum_pool_op = Op("sum_pool")
sum_pool_grad_op = Op("sum_pool_grad")


def _pool_infer(x, kernel, stride, padding, dilation):
    out = window_shape("max_pool", x.shape, kernel, stride, padding, dilation)
    return x.shape[:2] + out, x.dtype


def _pool_out(x, **a):
    return x.shape[:2] + window_shape("pool", x.shape, **a)


max_pool_op.infer = _pool_infer
max_pool_op.saves = saves(0)  # x (PyTorch: x and the indices), never the result
max_pool_grad_op.saves = max_pool_take_op.saves = saves(1)
sum_pool_op.saves = saves(0)  # PyTorch's avg_pool saves x, though its gradient reads none
sum_pool_grad_op.saves = saves_none
max_pool_op.vjp = lambda g, out, x, **a: (max_pool_grad_op(g, x, **a),)
max_pool_op.jvp = lambda t, out, x, **a: max_pool_take_op(t[0], x, **a)
max_pool_grad_op.infer = lambda g, x, **a: (x.shape, same_dtype("max_pool", g, x))
max_pool_grad_op.vjp = lambda h, out, g, x, **a: (max_pool_take_op(h, x, **a), None)
max_pool_grad_op.jvp = linear_jvp(max_pool_grad_op)
max_pool_take_op.infer = lambda h, x, **a: (_pool_out(x, **a), same_dtype("max_pool", h, x))
max_pool_take_op.vjp = lambda g, out, h, x, **a: (max_pool_grad_op(g, x, **a), None)
max_pool_take_op.jvp = linear_jvp(max_pool_take_op)

#: (input shape, attrs): overlapping 3x3 windows with padding, disjoint 2x2, dilated
#: 1-d, ceil_mode-style one-sided padding.
POOL_CASES = [
    ((2, 2, 5, 5), dict(kernel=(3, 3), stride=(2, 2), padding=((1, 1), (1, 1)),
                        dilation=(1, 1))),
    ((1, 3, 4, 6), dict(kernel=(2, 2), stride=(2, 2), padding=((0, 0), (0, 0)),
                        dilation=(1, 1))),
    ((2, 2, 9), dict(kernel=(3,), stride=(1,), padding=((1, 1),), dilation=(2,))),
    ((1, 2, 5, 5), dict(kernel=(2, 2), stride=(2, 2), padding=((0, 1), (0, 1)),
                        dilation=(1, 1))),
]


def _pool_samples(make):
    return lambda: [make(xs, a) for xs, a in POOL_CASES]


max_pool_op.samples = _pool_samples(lambda xs, a: Sample((rand_array(xs),), a))
max_pool_grad_op.samples = _pool_samples(lambda xs, a: Sample(
    (rand_array(_pool_out(np.empty(xs), **a), seed=1), rand_array(xs)), a))
max_pool_take_op.samples = _pool_samples(lambda xs, a: Sample(
    (rand_array(xs, seed=1), rand_array(xs)), a))


def _sum_pool_infer(x, kernel, stride, padding):
    ones = (1,) * len(kernel)
    return x.shape[:2] + window_shape("avg_pool", x.shape, kernel, stride, padding, ones), \
        x.dtype


sum_pool_op.infer = _sum_pool_infer
sum_pool_op.vjp = lambda g, out, x, **a: (sum_pool_grad_op(g, **a, shape=x.shape),)
sum_pool_op.jvp = linear_jvp(sum_pool_op)
sum_pool_grad_op.infer = lambda g, kernel, stride, padding, shape: (tuple(shape), g.dtype)
sum_pool_grad_op.vjp = lambda h, out, g, shape, **a: (sum_pool_op(h, **a),)
sum_pool_grad_op.jvp = lambda t, out, g, **a: sum_pool_grad_op(t[0], **a)
max_pool_op.document(
    "the maximum of each window of x (PyTorch's max_pool1d/2d/3d), x padded with -inf "
    "(floats) or the dtype's minimum (integers); a window holding a NaN gives NaN",
    operands=("x",),
    result="(N, C, *out), out by conv's rule (spatial + pads - dilation (kernel - 1) - 1) "
           "// stride + 1; x's dtype",
    kernel="tuple[int, ...]: the window size, one int >= 1 per spatial dim",
    stride="tuple[int, ...]: the step between windows, one int >= 1 per spatial dim",
    padding="tuple[tuple[int, int], ...]: (before, after) padding per spatial dim (ceil_mode "
            "arrives as extra padding after)",
    dilation="tuple[int, ...]: the spacing between window taps, one int >= 1 per spatial dim")
max_pool_grad_op.document(
    "the VJP of max_pool: zeros of x's shape, with g[n, c, *p] added at the position in x of "
    "window p's maximum: scanning the window's offsets in C order, the first of tied maxima, "
    "or the last NaN of a window holding NaNs (PyTorch's rule); overlapping windows "
    "accumulate, and g's infinities are selected exactly (never 0 * inf)",
    operands=("g", "x"), result="x's shape; the dtype g and x share",
    **max_pool_op.attr_docs)
max_pool_take_op.document(
    "h read where max_pool_grad routes: out[n, c, *p] = h at the position of window p's "
    "maximum in x (same tie and NaN rule); the transpose of max_pool_grad and max_pool's "
    "JVP. h has x's shape", operands=("h", "x"),
    result="max_pool(x)'s shape; the dtype h and x share", **max_pool_op.attr_docs)
sum_pool_op.document(
    "the sum of each window of x, zero padding, no dilation (avg_pool before its divisor)",
    operands=("x",),
    result="(N, C, *out), out[d] = (spatial[d] + before[d] + after[d] - kernel[d]) "
           "// stride[d] + 1; x's dtype",
    kernel=max_pool_op.attr_docs["kernel"], stride=max_pool_op.attr_docs["stride"],
    padding="tuple[tuple[int, int], ...]: (before, after) zeros per spatial dim (ceil_mode "
            "arrives as extra padding after)")
sum_pool_grad_op.document(
    "the VJP of sum_pool: zeros of `shape`, with g[n, c, *p] added at every position of "
    "window p; overlapping windows accumulate, what lands in the padding is dropped",
    operands=("g",), result="shape; g's dtype", **sum_pool_op.attr_docs,
    shape="tuple[int, ...]: the shape of sum_pool's x, (N, C, *spatial)")


def _no_dilation(a):
    return {k: v for k, v in a.items() if k != "dilation"}


sum_pool_op.samples = _pool_samples(lambda xs, a: Sample((rand_array(xs),), _no_dilation(a)))
sum_pool_grad_op.samples = _pool_samples(lambda xs, a: Sample(
    (rand_array(_sum_pool_infer(np.empty(xs), **_no_dilation(a))[0], seed=1),),
    dict(_no_dilation(a), shape=xs)))

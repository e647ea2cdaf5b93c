"""Convolution and pooling as functions, with PyTorch 2.13's signatures and defaults.

The work is done by the primitives in `ops/conv.py`; this file turns PyTorch's
arguments (ints or tuples, `padding="same"`, `ceil_mode`, `count_include_pad`,
unbatched inputs) into their explicit per-dim attributes. Average pooling is a window
sum divided by a constant (its divisor depends only on shapes); adaptive average
pooling is that same sum where the windows tile the input, else two matmuls with
constant averaging matrices.
"""

from __future__ import annotations

import math

import numpy as np

from ..creation import as_tensor
from ..errors import ArgumentError, ShapeError, UnsupportedError
from ..ops.conv import conv_op, max_pool_op, out_size, sum_pool_op
from ..source import user_source
from ..tensor import Tensor

__all__ = ["conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d"]


def ntuple(value, n: int, name: str, op: str) -> tuple[int, ...]:
    """An int or a length-n sequence of ints as an n-tuple (PyTorch's `_ntuple`)."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * n
    if len(value) != n:
        raise ShapeError(f"{op}: {name} must be an int or {n} ints, got {value}", op=op,
                         source=user_source())
    return value


def _positive(values: tuple[int, ...], name: str, op: str, minimum: int = 1) -> tuple:
    """PyTorch's argument checks: strides, dilations and kernels above 0, pads not below."""
    if any(v < minimum for v in values):
        what = "greater than zero" if minimum else "non-negative"
        raise ArgumentError(f"{op}: {name} should be {what}, got {values}", source=user_source())
    return values


def _too_small(x: Tensor, kernel, stride, pads, dilation, op: str) -> None:
    """No window fits: PyTorch's 'Output size is too small' (NumPy would give an empty
    result, or fail inside a kernel)."""
    sizes = x.shape[2:]
    out = tuple((n + a + b - d * (k - 1) - 1) // s + 1
                for n, k, s, (a, b), d in zip(sizes, kernel, stride, pads, dilation))
    if any(o < 1 for o in out):
        raise ShapeError(f"{op}: given input size {tuple(sizes)} (spatial), the calculated "
                         f"output size is {out}: too small (the window spans "
                         f"{tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))})",
                         op=op, source=user_source())


def _batched(x: Tensor, nd: int, op: str) -> tuple[Tensor, bool]:
    """(x with a batch dim, whether one was added): (C, *spatial) inputs are accepted."""
    if x.ndim == nd + 1:
        return x.unsqueeze(0), True
    if x.ndim != nd + 2:
        raise ShapeError(f"{op}: expected a {nd + 1}-d (unbatched) or {nd + 2}-d (batched) "
                         f"input, got shape {x.shape}", op=op, source=user_source())
    return x, False


# ---------------------------------------------------------------------- convolution

def conv_padding(padding, kernel, stride, dilation, op: str) -> tuple[tuple[int, int], ...]:
    """Per-dim (before, after) pads for an int, a tuple, "valid" or "same" (PyTorch's
    split: the odd unit of a "same" padding goes after)."""
    nd = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise ArgumentError(f"Invalid padding string {padding!r}, should be one of "
                                f"{{'valid', 'same'}}", source=user_source())
        if any(s != 1 for s in stride):
            raise ArgumentError("padding='same' is not supported for strided convolutions",
                                source=user_source())
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in total)
    return tuple((p, p) for p in ntuple(padding, nd, "padding", op))


def conv_nd(x, weight, bias, stride, padding, dilation, groups, nd, op):
    x, unbatched = _batched(x, nd, op)
    kernel = weight.shape[2:]
    stride = _positive(ntuple(stride, nd, "stride", op), "stride", op)
    dilation = _positive(ntuple(dilation, nd, "dilation", op), "dilation", op)
    if int(groups) < 1:
        raise ArgumentError(f"{op}: groups should be greater than zero, got {groups}",
                            source=user_source())
    pads = conv_padding(padding, kernel, stride, dilation, op)
    _positive(tuple(p for pad in pads for p in pad), "padding", op, minimum=0)
    _too_small(x, kernel, stride, pads, dilation, op)
    out = conv_op(x, weight, stride=stride, padding=pads, dilation=dilation,
                  groups=int(groups))
    if bias is not None:
        out = out + bias.reshape((1, -1) + (1,) * nd)
    return out.squeeze(0) if unbatched else out


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-d cross-correlation over (N, C, L) (or (C, L)) with a (O, C/groups, k) weight."""
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-d cross-correlation over (N, C, H, W) (or (C, H, W)), PyTorch's F.conv2d."""
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


# ---------------------------------------------------------------------- pooling

def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, nd, op):
    """(kernel, stride, per-dim (before, after) pads, dilation) with ceil_mode's extra
    padding after, and PyTorch's checks on the padding."""
    kernel = _positive(ntuple(kernel_size, nd, "kernel_size", op), "kernel_size", op)
    stride = kernel if stride is None or stride == [] else ntuple(stride, nd, "stride", op)
    _positive(stride, "stride", op)
    pad = _positive(ntuple(padding, nd, "padding", op), "padding", op, minimum=0)
    dilation = _positive(ntuple(dilation, nd, "dilation", op), "dilation", op)
    if any(p > k // 2 for p, k in zip(pad, kernel)):
        raise ShapeError(f"{op}: pad should be at most half of effective kernel size, but "
                         f"got pad={pad}, kernel_size={kernel}", op=op, source=user_source())
    pads = tuple((p, p + _ceil_extra(size, k, s, p, d) if ceil_mode else p)
                 for size, k, s, p, d in zip(x.shape[2:], kernel, stride, pad, dilation))
    _too_small(x, kernel, stride, pads, dilation, op)
    return kernel, stride, pads, dilation


def _ceil_extra(size, k, s, p, d) -> int:
    """Padding after that makes floor division give ceil_mode's window count (the last
    window must start inside the input or the padding before it)."""
    n = -(-(size + 2 * p - d * (k - 1) - 1) // s) + 1
    if (n - 1) * s >= size + p:
        n -= 1
    return max(0, (n - 1) * s + d * (k - 1) + 1 - (size + 2 * p))


def _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd, op):
    if return_indices:
        raise UnsupportedError(f"{op}: return_indices=True is not supported (the gradient "
                               f"needs no indices); use return_indices=False", op=op,
                               source=user_source())
    x, unbatched = _batched(x, nd, op)
    kernel, stride, pads, dilation = _pool_geometry(x, kernel_size, stride, padding, dilation,
                                                    ceil_mode, nd, op)
    out = max_pool_op(x, kernel=kernel, stride=stride, padding=pads, dilation=dilation)
    return out.squeeze(0) if unbatched else out


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """The maximum of each window along L of (N, C, L) (or (C, L))."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     1, "max_pool1d")


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """The maximum of each window of (N, C, H, W) (or (C, H, W)), PyTorch's F.max_pool2d."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     2, "max_pool2d")


def _avg_divisor(shape, kernel, stride, pads, count_include_pad) -> np.ndarray:
    """PyTorch's divisor per output position: the window clipped to the padded input
    (count_include_pad) or to the input itself; separable, so an outer product."""
    per_dim = []
    for size, k, s, (lo, hi) in zip(shape, kernel, stride, pads):
        starts = np.arange(out_size(size, k, s, (lo, hi), 1)) * s - lo
        ends = np.minimum(starts + k, size + lo)
        if not count_include_pad:
            starts, ends = np.maximum(starts, 0), np.minimum(ends, size)
        per_dim.append(ends - starts)
    return math.prod(np.ix_(*per_dim)) if len(per_dim) > 1 else per_dim[0]


def _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, nd, op):
    x, unbatched = _batched(x, nd, op)
    kernel, stride, pads, _ = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode,
                                             nd, op)
    if divisor_override is not None and divisor_override == 0:
        raise ArgumentError(f"{op}: divisor must be not zero", source=user_source())
    total = sum_pool_op(x, kernel=kernel, stride=stride, padding=pads)
    if divisor_override:
        out = total / float(divisor_override)
    else:
        div = _avg_divisor(x.shape[2:], kernel, stride, pads, count_include_pad)
        out = total / float(div.flat[0]) if (div == div.flat[0]).all() else \
            total / as_tensor(div.astype(x.dtype), like=x)
    return out.squeeze(0) if unbatched else out


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """The mean of each window along L of (N, C, L) (or (C, L))."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None,
                     1, "avg_pool1d")


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """The mean of each window of (N, C, H, W) (or (C, H, W)), PyTorch's F.avg_pool2d."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2, "avg_pool2d")


def _lp_pool(x, norm_type, kernel_size, stride, ceil_mode, nd, op):
    """(sum of x^p over each window)^(1/p), PyTorch's formula (the window mean times its
    size), max of |x| for p = inf."""
    if norm_type == float("inf"):
        return _max_pool(x.abs(), kernel_size, stride, 0, 1, ceil_mode, False, nd, op)
    if norm_type == float("-inf"):
        return -_max_pool(-x.abs(), kernel_size, stride, 0, 1, ceil_mode, False, nd, op)
    mean = _avg_pool(x ** norm_type, kernel_size, stride, 0, ceil_mode, True, None, nd, op)
    size = math.prod(ntuple(kernel_size, nd, "kernel_size", op))
    return (mean * float(size)) ** (1.0 / norm_type)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """The p-norm of each window along L (p = 1: sum pooling; p = inf: max pooling)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 1, "lp_pool1d")


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """The p-norm of each window of (N, C, H, W), PyTorch's F.lp_pool2d."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 2, "lp_pool2d")


def _averaging_matrix(size: int, out: int) -> np.ndarray:
    """(out, size): row i averages PyTorch's adaptive window [floor(i size / out),
    ceil((i + 1) size / out))."""
    m = np.zeros((out, size))
    for i in range(out):
        lo, hi = (i * size) // out, -(-((i + 1) * size) // out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def _adaptive_avg_pool(x, output_size, nd, op):
    x, unbatched = _batched(x, nd, op)
    sizes = x.shape[2:]
    if not (isinstance(output_size, int) or output_size is None) and \
            len(tuple(output_size)) != nd:
        raise ShapeError(f"{op}: output_size must be {nd} ints (or None), got {output_size}",
                         op=op, source=user_source())
    out = tuple(s if o is None else int(o) for s, o in
                zip(sizes, (output_size,) * nd if isinstance(output_size, int)
                    or output_size is None else tuple(output_size)))
    if len(out) != nd or any(o < 1 for o in out):
        raise ShapeError(f"{op}: output_size must be {nd} positive ints, got {output_size}",
                         op=op, source=user_source())
    if all(s % o == 0 for s, o in zip(sizes, out)):  # windows tile the input
        kernel = tuple(s // o for s, o in zip(sizes, out))
        res = sum_pool_op(x, kernel=kernel, stride=kernel, padding=((0, 0),) * nd) \
            / float(math.prod(kernel))
    else:
        res = x
        for d in range(nd):  # average along one spatial dim at a time
            m = as_tensor(_averaging_matrix(sizes[d], out[d]).T.astype(x.dtype), like=x)
            res = (res.transpose(2 + d, -1) @ m).transpose(2 + d, -1)
    return res.squeeze(0) if unbatched else res


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Averages over L in `output_size` near-equal windows, PyTorch's rule."""
    return _adaptive_avg_pool(input, output_size, 1, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Averages (N, C, H, W) into an `output_size` grid of near-equal windows."""
    return _adaptive_avg_pool(input, output_size, 2, "adaptive_avg_pool2d")

"""Each registered op as PyTorch 2.13 spells it, called on torch tensors (a test helper).

`torch_call(op, args, attrs)` runs the PyTorch function that computes what the
graphgrad op computes (and so saves what PyTorch saves for its gradient), or returns
None where PyTorch has no single call for that sample (one-sided padding, a
negative slice step). The ops
that PyTorch has no public counterpart for are listed in EXCLUDED with the reason;
a test checks that every differentiable op is in one table or the other, so a new op
is covered (or excluded in writing) as soon as it is registered.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from gg_reference import _index_key

_UNARY = ["abs", "cos", "sin", "exp", "log", "log1p", "sqrt", "tanh", "sigmoid", "relu",
          "erf", "neg"]
_BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "pow"]


def _symmetric(padding):
    """PyTorch's conv/pool padding (one number a side), or None for a one-sided pad."""
    if any(lo != hi for lo, hi in padding):
        return None
    return tuple(lo for lo, _ in padding)


def _conv(x, w, stride, padding, dilation, groups):
    pad = _symmetric(padding)
    if pad is None:
        return None
    conv = F.conv1d if x.ndim == 3 else F.conv2d
    return conv(x, w, stride=stride, padding=pad, dilation=dilation, groups=groups)


def _max_pool(x, kernel, stride, padding, dilation):
    pad = _symmetric(padding)
    if pad is None:
        return None
    pool = F.max_pool1d if x.ndim == 3 else F.max_pool2d
    return pool(x, kernel, stride, pad, dilation)


def _sum_pool(x, kernel, stride, padding):
    pad = _symmetric(padding)
    if pad is None or any(2 * p > k for p, k in zip(pad, kernel)):
        return None
    pool = F.avg_pool1d if x.ndim == 3 else F.avg_pool2d
    return pool(x, kernel, stride, pad, count_include_pad=True) * math.prod(kernel)


def _extreme(fn_all, fn_dims):
    def call(x, axis, keepdims):
        if axis is None and not keepdims:
            return fn_all(x)
        return fn_dims(x, dim=tuple(range(x.ndim)) if axis is None else axis, keepdim=keepdims)
    return call


def _sum(x, axis, keepdims):
    return torch.sum(x, dim=tuple(range(x.ndim)) if axis is None else axis, keepdim=keepdims)


def _index(x, *idx, spec):
    if any(item[0] == "slice" and (item[3] or 1) < 0 for item in spec):
        return None  # PyTorch has no negative slice steps
    return x[_index_key(spec, idx)]


def _index_put(x, v, *idx, spec):
    out = x.clone()
    out[_index_key(spec, idx)] = v  # PyTorch's index_put_ (IndexPutBackward)
    return out


def _bce(p, t):
    if p.shape != t.shape:  # PyTorch refuses a target of another shape
        return None
    return F.binary_cross_entropy(p, t, reduction="none")


TORCH: dict = {name: getattr(torch, name) for name in _UNARY + _BINARY}
TORCH.update({
    "identity": torch.clone,
    "pow_scalar": lambda x, exponent: torch.pow(x, exponent),
    "binary_cross_entropy": _bce,
    "broadcast_to": lambda x, shape: x.expand(shape),
    "cast": lambda x, dtype: x.to(getattr(torch, np.dtype(dtype).name), copy=True),
    "clamp": lambda x, min, max: torch.clamp(x, min, max),
    "concat": lambda *xs, axis: torch.cat(xs, axis),
    "conv": _conv,
    "cumsum": lambda x, axis: torch.cumsum(x, axis),
    "einsum": lambda *xs, equation: torch.einsum(equation, *xs),
    "gather": lambda x, idx, axis: torch.gather(x, axis, idx),
    "index": _index,
    "index_put": _index_put,
    "softmax": lambda x, axis: torch.softmax(x, axis),
    "log_softmax": lambda x, axis: torch.log_softmax(x, axis),
    "matmul": torch.matmul,
    "max": _extreme(torch.max, torch.amax),
    "min": _extreme(torch.min, torch.amin),
    "max_pool": _max_pool,
    "permute": lambda x, axes: x.permute(axes),
    "nll_loss": lambda logp, target, weight=None, ignore_index=None, reduction="mean":
        F.nll_loss(logp, target, weight, reduction=reduction,
                   ignore_index=-(10 ** 9) if ignore_index is None else ignore_index),
    "relu_backward": lambda g, y: torch.ops.aten.threshold_backward(g, y, 0.0),
    "reshape": lambda x, shape: x.reshape(shape),
    "sum": _sum,
    "sum_pool": _sum_pool,
    "where": torch.where,
    "layer_norm": lambda x, *affine, dims, eps: torch.nn.functional.layer_norm(
        x, x.shape[x.ndim - dims:], *(tuple(affine) + (None, None))[:2], eps),
    "gelu": lambda x, approximate: torch.nn.functional.gelu(x, approximate=approximate),
    "gelu_backward": lambda g, x, approximate: torch.ops.aten.gelu_backward(
        g, x, approximate=approximate),
})

_BACKWARD_ONLY = "a backward-only op: PyTorch has no public forward counterpart"
EXCLUDED = {
    "all_reduce": "a collective: torch.distributed's are not autograd ops",
    "broadcast": "a collective: torch.distributed's are not autograd ops",
    "conv_input_grad": _BACKWARD_ONLY,
    "conv_weight_grad": _BACKWARD_ONLY,
    "gather_backward": _BACKWARD_ONLY,
    "nll_loss_backward": _BACKWARD_ONLY,
    "index_backward": _BACKWARD_ONLY,
    "max_pool_grad": _BACKWARD_ONLY,
    "max_pool_take": _BACKWARD_ONLY,
    "sum_pool_grad": _BACKWARD_ONLY,
    "rnn_seq": "a fused whole-sequence op (PyTorch's nn.RNN is a composite of its own)",
    "gru_seq": "a fused whole-sequence op (PyTorch's nn.GRU is a composite of its own)",
    "lstm_seq": "a fused whole-sequence op (PyTorch's nn.LSTM is a composite of its own)",
    "rnn_seq_backward": _BACKWARD_ONLY,
    "gru_seq_backward": _BACKWARD_ONLY,
    "lstm_seq_backward": _BACKWARD_ONLY,
    "layer_norm_backward": _BACKWARD_ONLY,
}


#: (op, input shapes) -> (positions, why): where PyTorch's composite saves a *copy* of
#: those inputs (its internal reshape of a permuted or expanded view), so a later
#: in-place write to them is harmless there. graphgrad saves the input itself and
#: refuses the write at backward (an error, never a wrong gradient): the one known
#: difference.
SAVES_A_COPY = {
    ("einsum", ((3, 4), (4,))): ((0,), "einsum 'ij,j->i' reshapes a permuted x for bmm"),
    ("matmul", ((2, 1, 3, 4), (5, 4, 2))): ((0, 1), "a broadcast batch: matmul reshapes "
                                                    "the expanded operands"),
}


def torch_call(name: str, args, attrs):
    """The PyTorch result of op `name` on torch tensors `args`, or None (no counterpart)."""
    return TORCH[name](*args, **attrs)

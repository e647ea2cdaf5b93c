"""NumPy float64 reference implementations of every registered op, and sample plumbing.

Written independently of the NumPy backend's kernels (from each op's definition), so the
op tests compare graphgrad against NumPy rather than against itself.
"""

from __future__ import annotations

import math

import nn_reference
import numpy as np
from gg_reference_norm import NORM_REFERENCE
from gg_reference_seq import SEQ_REFERENCE

import graphgrad as gg
from graphgrad.ops import REGISTRY


def _index_key(spec, arrays):
    it = iter(arrays)
    key = []
    for item in spec:
        kind = item[0]
        key.append(item[1] if kind == "int" else slice(*item[1:]) if kind == "slice"
                   else None if kind == "none" else Ellipsis if kind == "ellipsis" else next(it))
    return tuple(key)


def _index_backward(g, *idx, spec, shape):
    out = np.zeros(shape)
    np.add.at(out, _index_key(spec, idx), g)
    return out


def _bce(p, t):
    """PyTorch's definition: each log clamped at -100 (log(0) = -inf is expected)."""
    with np.errstate(divide="ignore"):
        return -(t * np.maximum(np.log(p), -100.0) + (1 - t) * np.maximum(np.log1p(-p), -100.0))


def _gather_backward(g, idx, axis, shape):
    out = np.zeros(shape)
    grids = list(np.indices(idx.shape, sparse=True))
    grids[axis] = idx
    np.add.at(out, tuple(grids), g)
    return out


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _one_hot(idx, num_classes):
    return (idx[..., None] == np.arange(num_classes)).astype(np.int64)


def _check_index(idx, op, bound):
    if ((idx < 0) | (idx >= bound)).any():
        raise IndexError(f"{op}: an index is out of range [0, {bound})")
    return idx


def _index_put(x, v, *idx, spec):
    out = np.array(x, copy=True)
    out[_index_key(spec, idx)] = v
    return out


def _reduction(fn):
    return lambda x, axis, keepdims: fn(x, axis=axis, keepdims=keepdims)


def _arg(fn):
    def ref(x, axis, keepdims):
        out = fn(x, axis=axis)
        return np.expand_dims(out, axis) if keepdims and axis is not None else out
    return ref


def _nll_rows(target, weight, ignore_index, classes):
    """(row, class, weight) of each row nll_loss counts (weight 1 without class weights)."""
    w = np.ones(classes) if weight is None else weight
    return [(i, t, w[t]) for i, t in enumerate(target)
            if ignore_index is None or t != ignore_index]


def _nll(logp, target, weight=None, *, ignore_index, reduction):
    terms = np.zeros(len(target))
    kept = _nll_rows(target, weight, ignore_index, logp.shape[1])
    for i, t, w in kept:
        terms[i] = -w * logp[i, t]
    if reduction == "none":
        return terms
    total = terms.sum()
    return total if reduction == "sum" else total / sum(w for _, _, w in kept)


def _nll_backward(g, target, weight=None, *, ignore_index, reduction, classes):
    out = np.zeros((len(target), classes))
    kept = _nll_rows(target, weight, ignore_index, classes)
    divisor = sum(w for _, _, w in kept) if reduction == "mean" else 1.0
    for i, t, w in kept:
        out[i, t] = -w * (g[i] if reduction == "none" else g / divisor)
    return out


REFERENCE = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "neg": np.negative, "pow": np.power,
    "pow_scalar": lambda x, exponent: np.power(x, float(exponent)),
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "sqrt": np.sqrt, "abs": np.abs,
    "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "relu_backward": lambda g, y: np.where(y > 0, g, 0.0),
    "erf": np.vectorize(math.erf, otypes=[float]),
    "sign": np.sign, "maximum": np.maximum, "minimum": np.minimum, "where": np.where,
    "clamp": lambda x, min, max: np.minimum(np.maximum(x, -np.inf if min is None else min),
                                            np.inf if max is None else max),
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal, "logical_not": np.logical_not,
    "logical_and": np.logical_and, "logical_or": np.logical_or,
    "cast": lambda x, dtype: x.astype(dtype), "identity": lambda x: x,
    "sum": _reduction(np.sum), "max": _reduction(np.max), "min": _reduction(np.min),
    "argmax": _arg(np.argmax), "argmin": _arg(np.argmin),
    "matmul": np.matmul,
    "reshape": lambda x, shape: x.reshape(shape),
    "permute": lambda x, axes: x.transpose(axes),
    "broadcast_to": lambda x, shape: np.broadcast_to(x, shape),
    "concat": lambda *xs, axis: np.concatenate(xs, axis),
    "index": lambda x, *idx, spec: x[_index_key(spec, idx)],
    "index_backward": _index_backward,
    "softmax": _softmax, "log_softmax": _log_softmax,
    "gather": lambda x, idx, axis: np.take_along_axis(x, idx, axis),
    "binary_cross_entropy": lambda p, t: _bce(p, t),
    "gather_backward": _gather_backward, "one_hot": _one_hot,
    "check_index": _check_index, "index_put": _index_put,
    "nll_loss": _nll, "nll_loss_backward": _nll_backward,
    "cross_entropy_backward": lambda g, logp, target, weight=None, **attrs: (
        lambda grad: grad - np.exp(logp) * grad.sum(1, keepdims=True))(
        _nll_backward(g, target, weight, classes=logp.shape[1], **attrs)),
    # collectives over a group of one process: the identity
    "all_reduce": lambda x, op, group: x, "broadcast": lambda x, src, group: x,
    **nn_reference.REFERENCE,
}


def sampled_ops(*, differentiable=None):
    """Registered ops that have samples (random ops have none), sorted by name."""
    return [op for name, op in sorted(REGISTRY.items())
            if op.samples is not None and not op.random
            and (differentiable is None or op.differentiable == differentiable)]


def op_cases(*, differentiable=None, with_diff=False):
    """(op, sample) pairs for pytest parametrization; ids read `op-index`."""
    import pytest

    cases = []
    for op in sampled_ops(differentiable=differentiable):
        for i, s in enumerate(op.samples()):
            if with_diff and not s.diff:
                continue
            cases.append(pytest.param(op, s, id=f"{op.name}-{i}"))
    return cases


def to_tensor(a, dtype=None):
    """A sample argument as a Tensor: float arrays get `dtype`, others keep theirs."""
    arr = np.asarray(a)
    if arr.dtype.kind == "f" and dtype is not None:
        arr = arr.astype(dtype)
    return gg.from_numpy(arr)


def float64_args(sample):
    return [np.asarray(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f"
            else np.asarray(a) for a in sample.args]


REFERENCE.update(SEQ_REFERENCE)  # recurrent ops, argsort, cumsum, einsum
REFERENCE.update(NORM_REFERENCE)  # layer_norm, gelu and their backward ops

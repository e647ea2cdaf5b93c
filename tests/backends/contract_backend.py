"""A small backend written from the documented contract alone (docs/ops.md, base.py).

It does not subclass NumpyBackend: every kernel below was written from its entry in
`graphgrad ops` (what it computes, its attributes, its result rule), with NumPy as
the array library. It has no optional members (no `specialize`, `column_major`,
`flat_state`); the inherited `compile_fused` runs fused programs step by step.
`Violating` lists subclasses that each break one documented rule
(test_conformance_contract.py).
"""

import math

import numpy as np

from graphgrad.backends.base import Backend
from graphgrad.ops.shape import index_tuple


def _erf(x):
    return np.vectorize(math.erf, otypes=[x.dtype])(x) if x.size else x.copy()


def _sigmoid(x):
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def _relu(x):
    return np.maximum(x, np.zeros((), x.dtype))  # NaN stays NaN; bool stays bool


def _scatter_add(shape, dtype, where, g):
    out = np.zeros(shape, dtype=dtype)
    np.add.at(out, where, g)
    return out


def _gather_where(idx, axis):
    grids = list(np.indices(idx.shape, sparse=True))
    grids[axis] = idx
    return tuple(grids)


def _put(x, v, key):
    out = np.array(x, copy=True)
    out[key] = v
    return out


def _checked(idx, bound):
    if idx.size and (idx.min() < 0 or idx.max() >= bound):
        raise IndexError(f"index out of range [0, {bound})")
    return idx


KERNELS = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "neg": np.negative, "pow": np.power,
    "pow_scalar": lambda x, exponent: np.power(x, x.dtype.type(exponent)),
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "sqrt": np.sqrt, "abs": np.abs,
    "sin": np.sin, "cos": np.cos, "tanh": np.tanh, "sigmoid": _sigmoid, "erf": _erf,
    "sign": np.sign, "relu": _relu,
    "relu_backward": lambda g, y: np.where(y > 0, g, np.zeros((), g.dtype)),
    "maximum": np.maximum, "minimum": np.minimum,
    "where": np.where, "clamp": lambda x, min, max: np.clip(x, min, max).astype(x.dtype),
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal, "logical_not": np.logical_not,
    "logical_and": np.logical_and, "logical_or": np.logical_or,
    "cast": lambda x, dtype: np.array(x, dtype=dtype, copy=True),
    "identity": lambda x: np.array(x, copy=True),
    "sum": lambda x, axis, keepdims: np.asarray(np.sum(x, axis=axis, keepdims=keepdims,
                                                       dtype=x.dtype)),
    "max": lambda x, axis, keepdims: np.asarray(np.max(x, axis=axis, keepdims=keepdims)),
    "min": lambda x, axis, keepdims: np.asarray(np.min(x, axis=axis, keepdims=keepdims)),
    "argmax": lambda x, axis, keepdims: np.asarray(np.argmax(x, axis, keepdims=keepdims)),
    "argmin": lambda x, axis, keepdims: np.asarray(np.argmin(x, axis, keepdims=keepdims)),
    "matmul": np.matmul,
    "reshape": lambda x, shape: np.reshape(x, shape),
    "permute": lambda x, axes: np.transpose(x, axes),
    "broadcast_to": lambda x, shape: np.broadcast_to(x, shape),
    "concat": lambda *xs, axis: np.concatenate(xs, axis=axis),
    "index": lambda x, *idx, spec: x[index_tuple(spec, idx)],
    "index_backward": lambda g, *idx, spec, shape: _scatter_add(
        shape, g.dtype, index_tuple(spec, idx), g),
    "softmax": lambda x, axis: _softmax(x, axis),
    "log_softmax": lambda x, axis: _log_softmax(x, axis),
    "gather": lambda x, idx, axis: np.take_along_axis(x, _checked(idx, x.shape[axis]), axis),
    "gather_backward": lambda g, idx, axis, shape: _scatter_add(
        shape, g.dtype, _gather_where(_checked(idx, shape[axis]), axis), g),
    "one_hot": lambda idx, num_classes: np.eye(num_classes, dtype=np.int64)[
        _checked(idx, num_classes)],
    "check_index": lambda idx, op, bound: _checked(idx, bound),
    "index_put": lambda x, v, *idx, spec: _put(x, v, index_tuple(spec, idx)),
    "nll_loss": lambda logp, target, weight=None, *, ignore_index, reduction: _nll(
        logp, target, weight, ignore_index, reduction),
    "nll_loss_backward": lambda g, target, weight=None, *, ignore_index, reduction, classes:
        _nll_backward(g, target, weight, ignore_index, reduction, classes),
    "gelu": lambda x, approximate: _gelu(x, approximate, derivative=False),
    "gelu_backward": lambda g, x, approximate: g * _gelu(x, approximate, derivative=True),
    "layer_norm": lambda x, *affine, dims, eps: _layer_norm(x, affine, dims, eps),
    "layer_norm_backward": lambda g, x, *weight, dims, eps, bias: _layer_norm_backward(
        g, x, weight, dims, eps, bias),
    "cross_entropy_backward": lambda g, logp, target, weight=None, *, ignore_index, reduction:
        _ce_backward(g, logp, target, weight, ignore_index, reduction),
    "binary_cross_entropy": lambda p, t: -(
        t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log(1 - p), -100)),
}


def _nll_kept(target, weight, ignore_index, classes, dtype):
    """(each row's target made safe, its weight: w[t], 0 where the row is ignored)."""
    kept = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    safe = _checked(np.where(kept, target, 0), classes)
    w = np.ones(classes, dtype) if weight is None else weight
    return safe, np.where(kept, w[safe], 0).astype(dtype)


def _nll(logp, target, weight, ignore_index, reduction):
    safe, w = _nll_kept(target, weight, ignore_index, logp.shape[1], logp.dtype)
    terms = np.where(w != 0, -w * logp[np.arange(len(target)), safe], 0).astype(logp.dtype)
    if reduction == "none":
        return terms
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(terms.sum() / (w.sum() if reduction == "mean" else 1), logp.dtype)


def _nll_backward(g, target, weight, ignore_index, reduction, classes):
    safe, w = _nll_kept(target, weight, ignore_index, classes, g.dtype)
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            g = g / w.sum()
    out = np.zeros((len(target), classes), g.dtype)
    out[np.arange(len(target)), safe] = np.where(w != 0, -w * g, 0)
    return out


def _gelu(x, approximate, derivative):
    """gelu(x), or its derivative, from the formulas in docs/ops.md."""
    if approximate == "tanh":
        c = math.sqrt(2 / math.pi)
        t = np.tanh(c * (x + 0.044715 * x ** 3))
        if derivative:
            return ((1 + t) / 2 + x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x) / 2
                    ).astype(x.dtype)
        return (x * (1 + t) / 2).astype(x.dtype)
    cdf = (1 + _erf(x / math.sqrt(2))) / 2
    if derivative:
        return (cdf + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)).astype(x.dtype)
    return (x * cdf).astype(x.dtype)


def _rows(x, dims, eps):
    """x as (rows, D), and each row's x_hat and rstd (biased variance)."""
    rows = x.reshape(-1, math.prod(x.shape[x.ndim - dims:]))
    mean = rows.mean(axis=1, keepdims=True)
    rstd = 1 / np.sqrt(((rows - mean) ** 2).mean(axis=1, keepdims=True) + eps)
    return (rows - mean) * rstd, rstd


def _layer_norm(x, affine, dims, eps):
    xhat, _ = _rows(x, dims, eps)
    y = xhat * affine[0].reshape(-1) if affine else xhat
    y = y + affine[1].reshape(-1) if len(affine) > 1 else y
    return y.reshape(x.shape).astype(x.dtype)


def _layer_norm_backward(g, x, weight, dims, eps, bias):
    xhat, rstd = _rows(x, dims, eps)
    g = g.reshape(xhat.shape)
    gw = g * weight[0].reshape(-1) if weight else g
    dx = rstd * (gw - gw.mean(axis=1, keepdims=True)
                 - xhat * (gw * xhat).mean(axis=1, keepdims=True))
    parts = [dx.reshape(-1)] + ([(g * xhat).sum(axis=0)] if weight else []) \
        + ([g.sum(axis=0)] if bias else [])
    return np.concatenate(parts).astype(x.dtype)


def _ce_backward(g, logp, target, weight, ignore_index, reduction):
    grad = _nll_backward(g, target, weight, ignore_index, reduction, logp.shape[1])
    return grad - np.exp(logp) * grad.sum(axis=1, keepdims=True)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _argsort(x, axis, descending):
    # docs/ops.md: stable in both directions; bools and unsigned ints widened first; NaN
    # is the largest value (first when descending)
    if x.dtype.kind in "bu":
        x = x.astype(np.int64)
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    keys = np.where(np.isnan(x), -np.inf, -x) if x.dtype.kind == "f" else -x
    nan_first = ~np.isnan(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
    moved = [np.moveaxis(k, axis, -1) for k in (keys, nan_first)]
    return np.moveaxis(np.lexsort(moved, axis=-1), -1, axis)


def _log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


class ContractBackend(Backend):
    """NumPy arrays, kernels written from docs/ops.md, nothing optional, no collectives."""

    name = "contract"
    # A small backend may leave whole families out: the suite reports them as unsupported.
    unsupported_ops = frozenset({
        "all_reduce", "broadcast",  # collectives (need a process group)
        "conv", "conv_input_grad", "conv_weight_grad", "max_pool", "max_pool_grad",
        "max_pool_take", "sum_pool", "sum_pool_grad",  # convolution and pooling
        "rnn_seq", "rnn_seq_backward", "gru_seq", "gru_seq_backward", "lstm_seq",
        "lstm_seq_backward",  # whole-sequence recurrent layers
    })

    def __init__(self):
        super().__init__()
        self.kernels.update(KERNELS)
        self.kernels.update(
            argsort=_argsort,
            cumsum=lambda x, axis: np.cumsum(x, axis=axis, dtype=x.dtype),
            einsum=lambda *xs, equation: np.array(np.einsum(equation, *xs), copy=True),
        )
        self.rng = np.random.default_rng()
        self.kernels.update(
            rand=lambda shape, dtype: self.rng.random(shape).astype(dtype),
            randn=lambda shape, dtype: self.rng.standard_normal(shape).astype(dtype),
            randint=lambda shape, dtype, low, high: self.rng.integers(low, high, shape)
            .astype(dtype),
            randperm=lambda shape, dtype: self.rng.permutation(shape[0]).astype(dtype))

    def from_numpy(self, array):
        return np.array(array, copy=True)

    def to_numpy(self, array):
        return np.asarray(array)

    def seed(self, seed):
        self.rng = np.random.default_rng(seed)


# ---------------------------------------------------------------------- one rule broken each

def _breaking(rule, doc, base=ContractBackend, **members):
    """A subclass of `base` breaking `rule` with `members` (kernels go in `kernels`)."""
    kernels = members.pop("kernels", {})

    def __init__(self):
        base.__init__(self)
        self.kernels.update(kernels)
    name = "".join(part.title() for part in rule.split("-"))
    return type(f"Breaks{name}", (base,), {"name": f"breaks_{rule.replace('-', '_')}",
                                           "__doc__": doc, "__init__": __init__, **members})


def _fused_writes_early(self, program):
    steps = [(self.kernels[s.op], s.args, s.attrs) for s in program.steps]
    n_in, outputs = program.n_inputs, list(program.outputs)

    def run(*arrays, out=None):
        regs = list(arrays) + [None] * len(steps)
        for i, (kernel, args, attrs) in enumerate(steps):
            regs[n_in + i] = kernel(*[regs[a] for a in args], **attrs)
            if out is not None and n_in + i in outputs:
                buffer = out[outputs.index(n_in + i)]
                if buffer is not None:
                    buffer[...] = regs[n_in + i]
        found = tuple(regs[o] for o in outputs)
        return found[0] if len(found) == 1 else found
    return run


def _fused_off_by_a_bit(self, program):
    inner = Backend.compile_fused(self, program)

    def run(*arrays, out=None):
        found = inner(*arrays)
        shift = lambda a: (a * 1.01).astype(a.dtype) if a.dtype.kind == "f" else a  # noqa: E731
        return tuple(map(shift, found)) if isinstance(found, tuple) else shift(found)
    return run


class _Flat(ContractBackend):
    flat_state = True

    def pack(self, arrays):
        return np.concatenate([np.ravel(a) for a in arrays])

    def views(self, flat, shapes):
        ends = np.cumsum([int(np.prod(s)) for s in shapes]).tolist()
        return [flat[e - int(np.prod(s)):e].reshape(s) for s, e in zip(shapes, ends)]


class _Collectives(ContractBackend):
    """All-reduces over a process group's host buffers (as the NumPy backend's)."""

    unsupported_ops = ContractBackend.unsupported_ops - {"all_reduce"}

    def __init__(self):
        super().__init__()
        self.kernels["all_reduce"] = lambda x, op, group: group.all_reduce_host(
            np.array(x, order="C"), op)


#: rule -> (backend class, ops to check, pytest -k selection)
VIOLATIONS = {
    "array-type": (_breaking("array-type", "sum returns a Python float for 0-d results",
                             kernels={"sum": lambda x, axis, keepdims: _py(np.sum(
                                 x, axis=axis, keepdims=keepdims, dtype=x.dtype))}),
                   "sum", "forward"),
    "result-type": (_breaking("result-type", "exp returns float64 for float32",
                              kernels={"exp": lambda x: np.exp(x.astype(np.float64))}),
                    "exp", "forward"),
    "no-input-writes": (_breaking("no-input-writes", "neg negates in place",
                                  kernels={"neg": lambda x: np.negative(x, out=x)}),
                        "neg", "forward"),
    "new-result": (_breaking("new-result", "cast to the same dtype returns its operand",
                             kernels={"cast": lambda x, dtype: x if x.dtype == dtype
                                      else np.array(x, dtype=dtype)}), "cast", "forward"),
    "python-numbers": (_breaking("python-numbers", "mul reads its second operand's dtype",
                                 kernels={"mul": lambda x, y: np.multiply(x, y.astype(x.dtype))}),
                       "mul", "python"),
    "from-numpy-copies": (_breaking("from-numpy-copies", "from_numpy keeps the caller's array",
                                    from_numpy=lambda self, a: np.asarray(a)),
                          "add", "from_numpy_copies"),
    "to-numpy": (_breaking("to-numpy", "to_numpy gives a NumPy scalar for 0-d arrays",
                           to_numpy=lambda self, a: np.asarray(a)[()]), "add", "round_trip"),
    "specialize-agrees": (_breaking("specialize-agrees", "a specialized sum drops keepdims",
                                    specialize=lambda self, op, types, attrs: (
                                        lambda x: np.sum(x, axis=attrs["axis"]))
                                    if op == "sum" else None), "sum", "test_specialize"),
    "out-aliasing": (_breaking("out-aliasing", "fused outputs are written as soon as ready",
                               compile_fused=_fused_writes_early), "add", "out_aliasing"),
    "pack-copies": (_breaking("pack-copies", "pack of one array is a view of it", _Flat,
                              pack=lambda self, arrays: np.ravel(arrays[0]) if len(arrays) == 1
                              else _Flat.pack(self, arrays)), "add", "pack"),
    "views-share-memory": (_breaking("views-share-memory", "views are copies", _Flat,
                                     views=lambda self, flat, shapes: [
                                         v.copy() for v in _Flat.views(self, flat, shapes)]),
                           "add", "pack"),
    "column-major-values": (_breaking("column-major-values", "column_major transposes",
                                      column_major=lambda self, a: np.ascontiguousarray(a.T)),
                            "add", "column_major"),
    "all-reduce-start-agrees": (_breaking("all-reduce-start-agrees", "the started all-reduce "
                                          "sums into its operand", _Collectives,
                                          all_reduce_start=lambda self, x, op, group: (
                                              lambda: np.add(x, x, out=x))),
                                "all_reduce", "all_reduce_start"),
    "compiled-matches-numpy": (_breaking("compiled-matches-numpy", "fused results 1% high",
                                         compile_fused=_fused_off_by_a_bit),
                               "add", "compiled_training and mlp"),
}


def _py(a):
    return a.item() if np.ndim(a) == 0 else a


for _rule, (_cls, _, _) in VIOLATIONS.items():
    globals()[_cls.__name__] = _cls

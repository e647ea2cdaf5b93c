"""The NumPy backend: the model a third-party backend copies. A table of kernels.

Every kernel takes arrays (already promoted to a common dtype by the engine) and the
op's attributes as keywords, and returns a new array. Fused elementwise programs are
compiled by `numpy_fusion.compile_program` into one Python function over reused
buffers.
"""

from __future__ import annotations

import functools
import math
import weakref

import numpy as np

from graphgrad.ops.registry import REGISTRY
from graphgrad.ops.shape import index_tuple

from . import loss_kernels, nn_kernels, norm_kernels, numpy_malloc, seq_kernels
from .base import Backend
from .numpy_blas import gemm_kernel, pinned_plan
from .numpy_blas import matmul as blas_matmul
from .numpy_gemv_sum import FLOATS, full_sum, gemv_sum
from .numpy_scatter import scatter_rows
from .numpy_softmax import log_softmax, softmax
from .numpy_specialize import bind as bind_attributes

# erf's Maclaurin coefficients, 2/sqrt(pi) (-1)^n / (n! (2n + 1)): below |x| = 1 the
# first thirteen reach float32's resolution (the next term is < 1e-11 there)
_ERF_SERIES = tuple(2 / math.sqrt(math.pi) * (-1) ** n / (math.factorial(n) * (2 * n + 1))
                    for n in range(13))


def _erf(x):
    # NumPy has no erf ufunc and SciPy is not a dependency. float32: Abramowitz & Stegun
    # 7.1.26 (|error| < 1.5e-7, a few ulp of erf from |x| = 1 on) and the Maclaurin
    # series below 1, where that absolute error was most of erf's value near 0 (erf(1e-6)
    # came out 6% high); float64: _erf64, |error| < 2e-15.
    if x.dtype == np.float64:
        return _erf64(x)
    a1, a2, a3, a4, a5, p = 0.254829592, -0.284496736, 1.421413741, -1.453152027, \
        1.061405429, 0.3275911
    s = np.sign(x)
    ax = np.abs(x)
    t = 1.0 / (1.0 + p * ax)
    y = 1.0 - (((((a5 * t + a4) * t) + a3) * t + a2) * t + a1) * t * np.exp(-ax * ax)
    x2 = x * x
    series = np.full_like(x, _ERF_SERIES[-1])
    for c in _ERF_SERIES[-2::-1]:
        series *= x2
        series += x.dtype.type(c)
    series *= x
    return np.where(ax < 1, series, s * y).astype(x.dtype, copy=False)


def _erf64(x):
    ax = np.abs(x)
    # |x| < 3: erf = 2/sqrt(pi) exp(-x^2) sum_n x (2x^2)^n / (1*3*...*(2n+1)), all terms
    # positive (no cancellation); 45 terms reach double precision at |x| = 3.
    small = np.minimum(ax, 3.0)
    term, total, two_x2 = small, small, 2 * small * small
    for n in range(1, 45):
        term = term * two_x2 / (2 * n + 1)
        total = total + term
    series = 2 / np.sqrt(np.pi) * np.exp(-small * small) * total
    # |x| >= 3: erfc's continued fraction x + (1/2)/(x + 1/(x + (3/2)/(x + ...))).
    big = np.maximum(ax, 3.0)
    frac = big
    for k in range(30, 0, -1):
        frac = big + (k / 2) / frac
    tail = 1 - np.exp(-big * big) / np.sqrt(np.pi) / frac
    return np.sign(x) * np.where(ax < 3.0, series, tail)


# float32 sigmoid as 1 / (1 + exp(-x)): four fast ufunc passes, a few ulp from the exact
# value, 0 and 1 at the ends (exp overflows to inf below x = -88.7, quietly: the true
# values there are subnormal, down to 0 at x = -104). The half-angle form 0.5 tanh(x / 2)
# + 0.5, also four passes, cancels in 1 + tanh for negative x: every digit was gone
# below x ~ -17, so log(sigmoid(-20)) was -inf and binary_cross_entropy of sigmoid(-20)
# against 1 gave 100, not 20.
ONE32 = np.float32(1)


def sigmoid32(x, out=None):
    """sigmoid of a float32 array or NumPy scalar, into `out` (which may be x) if given."""
    with np.errstate(over="ignore"):
        if out is None:
            out = np.negative(x)
            if not isinstance(out, np.ndarray):  # a scalar
                return ONE32 / (ONE32 + np.exp(out))
        else:
            np.negative(x, out=out)
        np.exp(out, out=out)
    np.add(out, ONE32, out=out)
    return np.true_divide(ONE32, out, out=out)


def _sigmoid(x):
    if x.dtype == np.float32:
        return sigmoid32(x, np.empty_like(x))  # (0-d: still an array)
    # float64: exact to the last bits; exp of a non-positive number only (no overflow).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


@functools.lru_cache(maxsize=64)
def zeros_of(shape, dtype) -> np.ndarray:
    """A read-only array of zeros: NumPy's maximum against an array runs ~3x faster than
    against the scalar 0 (the scalar form misses its SIMD loop)."""
    z = np.zeros(shape, dtype)
    z.flags.writeable = False
    return z


def _relu_backward(g, y, out=None):
    """g where y > 0, else 0 (relu's gradient from its result): a multiply by the mask
    where g is finite (NumPy's masked select is ~15x slower, see `where_kernel`), the
    exact select otherwise (a NaN or Inf in g where y <= 0 gives 0). `out` (a fused
    program's buffer, possibly g's own) saves an allocation: each element of g is read
    before it is written."""
    keep = np.greater(y, 0)
    if keep.shape == g.shape and _all_finite(g):
        return np.multiply(g, keep, out=out)
    result = np.where(keep, g, g.dtype.type(0))
    if out is None:
        return result
    out[...] = result
    return out


def _relu(x):
    if x.dtype.kind == "f":
        return np.maximum(x, zeros_of(x.shape, x.dtype))
    out = np.maximum(x, 0)
    return out if out.dtype == x.dtype else out.astype(x.dtype)  # bool stays bool


def _index(x, *arrays, spec):
    if spec == (("tensor",),):  # x[idx]: drawing a batch by index
        idx = arrays[0]  # (`take` skips fancy indexing's generality: ~3x faster)
        return x.take(idx, axis=0) if idx.dtype.kind in "iu" else x[idx]
    return x[index_tuple(spec, arrays)]


def _index_put(x, v, *arrays, spec):
    out = x.copy()
    out[index_tuple(spec, arrays)] = v  # a repeated index: the last write stays
    return out


def _index_backward(g, *arrays, spec, shape):
    if spec == (("tensor",),) and arrays[0].dtype.kind in "iu":  # x[idx]: an embedding
        return scatter_rows(g, arrays[0], tuple(shape))
    out = np.zeros(shape, dtype=g.dtype)
    if not arrays:  # basic indexing reaches each element at most once: plain assignment
        out[index_tuple(spec, arrays)] = g  # (np.add.at is ~10x slower; slices, split)
        return out
    np.add.at(out, index_tuple(spec, arrays), g)
    return out


_UNSIGNED = {np.dtype(f"i{n}"): np.dtype(f"u{n}") for n in (1, 2, 4, 8)}


def _row_picks(idx, shape):
    """For a 2-D gather along axis 1 with one index per row (a loss picking each row's
    label): the picks' positions in the flattened (C-ordered) array, or None for the
    general case (which also reports indices out of bounds)."""
    n, k = shape
    if idx.shape != (n, 1) or idx.dtype.kind not in "iu":
        return None
    cols = idx.reshape(n)
    # one bounds check for both ends: a negative index viewed as unsigned is huge
    if n and np.maximum.reduce(cols.view(_UNSIGNED.get(cols.dtype, cols.dtype))) >= k:
        return None
    return _row_starts(n, k) + cols


@functools.lru_cache(maxsize=16)
def _row_starts(n, k):
    return np.arange(0, n * k, k)


def _gather_backward(g, idx, axis, shape):
    if axis == 1 and len(shape) == 2:
        picks = _row_picks(idx, shape)
        if picks is not None:  # one index per row: no duplicates, plain assignment
            out = np.zeros(shape[0] * shape[1], dtype=g.dtype)
            out[picks] = g.reshape(-1)
            return out.reshape(shape)
    out = np.zeros(shape, dtype=g.dtype)
    _non_negative(idx, "gather", shape[axis])  # NumPy would wrap negative indices
    np.put_along_axis(out, idx, 0, axis)  # validates the upper bound like the forward
    grids = list(np.indices(idx.shape, sparse=True))
    grids[axis] = idx
    np.add.at(out, tuple(grids), g)
    return out


def _is_zero(x) -> bool:
    return getattr(x, "shape", None) == () and x.item() == 0


def where_kernel(c, a, b, out=None):
    """np.where, but a masking (`where(c, g, 0)`, a ReLU's gradient) is a multiply by the
    mask: NumPy's masked selects are ~15x slower than a multiply on large arrays. The
    multiply differs from a select only where a dropped value is NaN or Inf, which a
    finite sum of the operand rules out; otherwise the exact select runs."""
    if _is_zero(b) and a.shape == c.shape:
        keep = c
    elif _is_zero(a) and b.shape == c.shape:
        a, keep = b, np.logical_not(c)
    else:
        return np.where(c, a, b)
    if not _all_finite(a):  # a NaN or Inf somewhere: the exact select
        return np.where(c, a, 0) if keep is c else np.where(c, 0, a)
    if out is not None and (type(out) is not np.ndarray or out.shape != np.shape(a)):
        out = None  # (a 0-d register of a fused program in chunks may be a NumPy scalar)
    return np.multiply(a, keep, out=out)


def _all_finite(a) -> bool:
    """Whether `a` holds no NaN or Inf: the dot product of a float array with itself is
    one fast BLAS pass, and non-finite (Inf or NaN, which raise no flag) only if `a` has
    a NaN or Inf or its squares overflow (then the caller takes the exact path)."""
    if a.dtype in FLOATS and a.flags.c_contiguous:
        flat = a.reshape(-1)  # vdot: unlike dot, it raises no overflow warning
        return math.isfinite(np.vdot(flat, flat))
    return bool(np.isfinite(np.add.reduce(a, axis=None)))


def _non_negative(idx, op, bound):
    if idx.size and idx.min() < 0:  # NumPy would wrap around: a silently wrong answer
        raise IndexError(f"{op}: index {idx.min()} is out of bounds (indices are in "
                         f"[0, {bound}))")


def _check_index(idx, op, bound):
    """idx, once all of it lies in [0, bound): one pass (a negative entry viewed as
    unsigned is past any bound)."""
    if idx.size and np.maximum.reduce(idx.view(_UNSIGNED.get(idx.dtype, idx.dtype)),
                                      axis=None) >= bound:
        bad = idx[(idx < 0) | (idx >= bound)].flat[0]
        raise IndexError(f"{op}: index {bad} is out of range [0, {bound})")
    return idx.view()


def _gather(x, idx, axis):
    if axis == 1 and x.ndim == 2:
        picks = _row_picks(idx, x.shape)
        if picks is not None:
            return x.reshape(-1).take(picks).reshape(idx.shape)
    _non_negative(idx, "gather", x.shape[axis])
    return np.take_along_axis(x, idx, axis)


def _binary_cross_entropy(p, t):
    """PyTorch's elementwise BCE: each log clamped at -100, so p = 0 or 1 stays finite."""
    if not ((p >= 0) & (p <= 1)).all():  # NaN too, as PyTorch: never a silent NaN loss
        raise ValueError("all elements of input should be between 0 and 1")
    with np.errstate(divide="ignore"):
        return -(t * np.maximum(np.log(p), -100.0) + (1 - t) * np.maximum(np.log(1 - p), -100.0))


def _one_hot(idx, num_classes):
    _non_negative(idx, "one_hot", num_classes)
    out = np.zeros(idx.shape + (num_classes,), dtype=np.int64)
    np.put_along_axis(out, idx[..., None], 1, axis=-1)
    return out


def _clamp(x, min, max):
    return np.clip(x, min, max).astype(x.dtype, copy=False)


def _reduce(fn):
    def kernel(x, axis, keepdims):
        return np.asarray(fn(x, axis=axis, keepdims=keepdims))
    return kernel


class NumpyBackend(Backend):
    """Runs every op with NumPy on the CPU."""

    name = "numpy"

    def __init__(self):
        super().__init__()
        numpy_malloc.tune()  # freed arrays stay in the process: no page faults per call
        self.rng = np.random.default_rng()
        # fused functions by program key, alive while a plan holds them: an evicted plan
        # frees its kernels (and their buffers) with it
        self._fused_cache = weakref.WeakValueDictionary()
        k = self.kernels
        # elementwise
        k.update(
            add=np.add, sub=np.subtract, mul=np.multiply, div=np.true_divide, neg=np.negative,
            pow=np.power, pow_scalar=lambda x, exponent: np.power(x, x.dtype.type(exponent)),
            exp=np.exp, log=np.log, log1p=np.log1p, sqrt=np.sqrt, abs=np.abs,
            sin=np.sin, cos=np.cos, tanh=np.tanh, sigmoid=_sigmoid, erf=_erf, sign=np.sign,
            relu=_relu, relu_backward=_relu_backward,
            maximum=np.maximum, minimum=np.minimum, where=where_kernel, clamp=_clamp,
            eq=np.equal, ne=np.not_equal, lt=np.less, le=np.less_equal, gt=np.greater,
            ge=np.greater_equal, logical_not=np.logical_not,
            logical_and=np.logical_and, logical_or=np.logical_or,
            cast=lambda x, dtype: np.asarray(x).astype(dtype),
            identity=lambda x: np.array(x, copy=True),
        )
        # reductions
        k.update(
            # ufunc.reduce directly: np.sum & co. add microseconds of Python dispatch
            sum=np.add.reduce, max=np.maximum.reduce, min=np.minimum.reduce,
            argmax=_reduce(np.argmax), argmin=_reduce(np.argmin),
        )
        # linear algebra, shapes, indexing, nn
        k.update(
            matmul=blas_matmul,
            reshape=lambda x, shape: x.reshape(shape),
            permute=lambda x, axes: x.transpose(axes),  # the method: no dispatch layer
            broadcast_to=lambda x, shape: np.broadcast_to(x, shape),
            concat=lambda *xs, axis: np.concatenate(xs, axis=axis),
            index=_index, index_backward=_index_backward, index_put=_index_put,
            softmax=softmax, log_softmax=log_softmax,
            gather=_gather, binary_cross_entropy=_binary_cross_entropy,
            gather_backward=_gather_backward, one_hot=_one_hot, check_index=_check_index,
        )
        k.update(nn_kernels.kernels(np))  # convolution and pooling
        # nll_loss (NumPy raises IndexError for a target past the classes, not below 0)
        k.update(loss_kernels.kernels(np, lambda idx, lo, hi, op: _non_negative(idx, op, hi)))
        # collectives over a gg.distributed process group (MPI on host buffers)
        k.update(
            all_reduce=lambda x, op, group: group.all_reduce_host(np.array(x, order="C"), op),
            broadcast=lambda x, src, group: group.broadcast_host(np.array(x, order="C"), src),
        )
        k.update(seq_kernels.kernels(np))  # recurrent layers, cumsum, argsort, einsum
        k.update(norm_kernels.kernels(np, _erf, chunk=1 << 15))  # layer_norm, gelu
        # random
        k.update(
            rand=lambda shape, dtype: self.rng.random(shape, dtype=np.float64).astype(dtype),
            randn=lambda shape, dtype: self.rng.standard_normal(shape).astype(dtype),
            randint=lambda shape, dtype, low, high: self.rng.integers(low, high, shape)
            .astype(dtype),
            randperm=lambda shape, dtype: self.rng.permutation(shape[0]).astype(dtype),
        )
        self._stock = dict(k)  # specializations stand in for these kernels only

    def from_numpy(self, array: np.ndarray) -> np.ndarray:
        return np.array(array, copy=True)

    def to_numpy(self, array) -> np.ndarray:
        return np.asarray(array)

    def takes_arrays_of(self, other) -> bool:
        """Every NumPy-array backend's arrays, of the dtypes this one holds."""
        return other is self or (isinstance(other, NumpyBackend)
                                 and self.unsupported_dtypes <= other.unsupported_dtypes)

    def seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def specialize(self, op, arg_types, attrs):
        if self.kernels.get(op) is not self._stock.get(op):
            return None  # a kernel replaced (a subclass, a checking wrapper) runs as given
        if op == "sum":
            (shape, dtype), = arg_types
            args = (tuple(shape), np.dtype(dtype), attrs["axis"], attrs["keepdims"])
            fast = full_sum(*args) or gemv_sum(*args)
            if fast is not None:
                return fast
        if op == "relu" and np.dtype(arg_types[0][1]).kind == "f":
            zeros = zeros_of(*arg_types[0])
            return lambda x: np.maximum(x, zeros)
        if op == "matmul" and all(len(shape) == 2 and np.dtype(dtype) in FLOATS
                                  for shape, dtype in arg_types):
            # the same BLAS GEMM as np.matmul, ~0.3 us less dispatch; small ones on
            # one BLAS thread (numpy_blas.py)
            return gemm_kernel(*(tuple(shape) for shape, _ in arg_types))
        # views and batch indexing: a plain method call or attribute, written out in
        # the plan's line (numpy_specialize.py)
        return bind_attributes(op, self.kernels[op], arg_types, attrs)

    def wrap_plan(self, run, graph, namespace):
        """A plan whose GEMMs are all small runs with BLAS pinned to one thread once
        per call, rather than once per GEMM (numpy_blas.pinned_plan)."""
        elementwise = {name for name, op in REGISTRY.items() if op.elementwise}
        return pinned_plan(run, graph, namespace, elementwise)

    def all_reduce_start(self, x, op: str, group):
        """Start the all-reduce on a new contiguous copy of x (MPI `Iallreduce`); the
        returned `wait()` gives the result. A group that cannot start one (a third
        party's) reduces here and now."""
        buf = np.array(x, order="C")
        start = getattr(group, "start_all_reduce_host", None)
        if start is None:
            result = group.all_reduce_host(buf, op)
            return lambda: result
        return start(buf, op)

    flat_state = True

    @property
    def fused_reductions(self) -> bool:
        """numpy_fusion.py sums chunk by chunk; a subclass with a fused compiler of its
        own (Numba's) gets programs with sums only when it says so itself."""
        return type(self).compile_fused is NumpyBackend.compile_fused

    def column_major(self, array) -> np.ndarray:
        """The array in Fortran order (itself when it already is; passes/layout.py)."""
        return np.asfortranarray(array)

    def pack(self, arrays) -> np.ndarray:
        return np.concatenate([np.ravel(a) for a in arrays])

    def views(self, flat, shapes) -> list[np.ndarray]:
        sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
        ends = np.cumsum(sizes).tolist()
        return [flat[e - k:e].reshape(s) for s, k, e in zip(shapes, sizes, ends)]

    def compile_fused(self, program):
        """One NumPy function over reused buffers, cached by the program's key."""
        from .numpy_fusion import compile_program

        key = program.key
        fn = self._fused_cache.get(key)
        if fn is None:
            fn = self._fused_cache[key] = compile_program(program, self.kernels)
        return fn

"""CPU EMULATION of CuPy's array functions and ufuncs, over NumPy, keeping CuPy's rules.

Everything here takes device arrays (`_array.ndarray`) and Python/NumPy scalars, refuses
host arrays (TypeError, as CuPy does), and returns device arrays. Where CuPy differs
from NumPy on purpose, the emulation does what CuPy does:
- `take`, `take_along_axis`, `put_along_axis`, integer-array indexing and `ufunc.at`
  wrap out-of-range indices around instead of raising (no bounds checks on the device);
- `ufunc.at` (atomics on the device) accumulates duplicates in an unspecified order: the
  emulation shuffles it at every call, so code relying on an order is caught;
- `sort`/`argsort` are stable (CUB's radix sort), whatever `kind` says.
Only the parts graphgrad's CuPy kernels use (and those the conv/sequence kernels need)
exist: an attribute CuPy has but the emulation lacks is an AttributeError, loudly.
"""

from __future__ import annotations

import sys

import numpy as np

from . import _array
from ._array import ndarray, unwrap, unwrap_array, wrap, wrap_index

_array.F = sys.modules[__name__]
_order_rng = np.random.default_rng()  # unseeded: atomics order differs run to run


class ufunc:
    """A CuPy ufunc: NumPy's on device arrays (with `out=` device arrays)."""

    def __init__(self, np_ufunc):
        self._u = np_ufunc
        self.__name__ = self.name = np_ufunc.__name__
        self.nin, self.nout = np_ufunc.nin, np_ufunc.nout

    def __repr__(self):
        return f"<cupy-emulation ufunc {self.name}>"

    def __call__(self, *args, out=None, dtype=None, casting="same_kind"):
        for a in args:
            if isinstance(a, (list, tuple)):
                raise TypeError(f"Unsupported type {type(a)}")
        arrays = [unwrap(a, self.name) for a in args]
        with np.errstate(all="ignore"):  # a GPU raises no floating-point warnings
            if out is not None:
                self._u(*arrays, out=unwrap_array(out, f"{self.name} out"), dtype=dtype,
                        casting=casting)
                return out
            return wrap(self._u(*arrays, dtype=dtype, casting=casting))

    def at(self, a, indices, b=None):
        """Unbuffered in-place `a[indices] op= b`, duplicates in a random order (atomics)."""
        target = unwrap_array(a, f"{self.name}.at")
        key = wrap_index(indices, target.shape)
        where = np.arange(target.size).reshape(target.shape)[key]
        flat = where.reshape(-1)
        perm = _order_rng.permutation(flat.size)
        pos = np.unravel_index(flat[perm], target.shape)
        if b is None:
            self._u.at(target, pos)
        else:
            values = np.broadcast_to(unwrap(b, f"{self.name}.at"), where.shape).reshape(-1)
            self._u.at(target, pos, values[perm])


_UFUNCS = """add subtract multiply divide true_divide floor_divide negative positive power
remainder mod fmod absolute fabs sign exp exp2 expm1 log log2 log10 log1p sqrt square
reciprocal cbrt sin cos tan arcsin arccos arctan arctan2 sinh cosh tanh arcsinh arccosh
arctanh floor ceil trunc rint maximum minimum fmax fmin equal not_equal less less_equal
greater greater_equal logical_and logical_or logical_xor logical_not bitwise_and
bitwise_or bitwise_xor invert left_shift right_shift isnan isinf isfinite signbit
copysign hypot deg2rad rad2deg""".split()
for _name in _UFUNCS:
    globals()[_name] = ufunc(getattr(np, _name))
abs = globals()["absolute"]  # CuPy's name for it


def _plain(np_fn):
    def fn(*args, **kwargs):
        out = kwargs.pop("out", None)
        args = unwrap(args, np_fn.__name__)
        kwargs = {k: unwrap(v, np_fn.__name__) for k, v in kwargs.items()}
        if out is not None:
            np_fn(*args, out=unwrap_array(out), **kwargs)
            return out
        return wrap(np_fn(*args, **kwargs))
    fn.__name__ = np_fn.__name__
    return fn


_PLAIN = """sum prod mean var std max min amax amin argmax argmin any all cumsum cumprod
matmul dot vdot tensordot einsum inner outer where clip reshape transpose moveaxis
swapaxes broadcast_to broadcast_arrays expand_dims squeeze concatenate stack hstack
vstack split array_split pad flip roll tril triu repeat tile diag diagonal trace
count_nonzero nonzero unique searchsorted bincount atleast_1d atleast_2d ravel
zeros_like ones_like empty_like full_like copy isclose allclose nan_to_num
logaddexp""".split()
for _name in _PLAIN:
    if hasattr(np, _name):
        globals()[_name] = _plain(getattr(np, _name))


def sort(a, axis=-1, kind=None):
    return ndarray(np.sort(unwrap_array(a, "sort"), axis=axis, kind="stable"))


def argsort(a, axis=-1, kind=None):
    return ndarray(np.argsort(unwrap_array(a, "argsort"), axis=axis, kind="stable"))


def take(a, indices, axis=None, out=None):
    x = unwrap_array(a, "take")
    idx = unwrap(indices, "take")
    n = x.size if axis is None else x.shape[axis]
    result = np.take(x, np.asarray(idx) % n if n else idx, axis=axis)
    if out is not None:
        unwrap_array(out)[...] = result
        return out
    return wrap(result)


def take_along_axis(a, indices, axis):
    x, idx = unwrap_array(a, "take_along_axis"), unwrap_array(indices, "take_along_axis")
    n = x.shape[axis]
    return wrap(np.take_along_axis(x, idx % n if n else idx, axis))


def put_along_axis(arr, indices, values, axis):
    x, idx = unwrap_array(arr, "put_along_axis"), unwrap_array(indices, "put_along_axis")
    n = x.shape[axis]
    np.put_along_axis(x, idx % n if n else idx, unwrap(values, "put_along_axis"), axis)


# ---------------------------------------------------------------------- creation

def array(obj, dtype=None, copy=True, order="K", ndmin=0):
    """Host data to the device (always allowed: an explicit transfer)."""
    if isinstance(obj, ndarray):
        return ndarray(np.array(obj._a, dtype=dtype, copy=True, order=order, ndmin=ndmin))
    return ndarray(np.array(unwrap(obj) if isinstance(obj, (list, tuple)) else obj,
                            dtype=dtype, copy=True, order=order, ndmin=ndmin))


def asarray(a, dtype=None, order=None):
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
    return array(a, dtype=dtype)


def ascontiguousarray(a, dtype=None):
    x = unwrap_array(a, "ascontiguousarray")
    out = np.ascontiguousarray(x, dtype=dtype)
    return a if out is x else ndarray(out)


def asnumpy(a, stream=None, order="C", out=None) -> np.ndarray:
    """Device to host: the explicit transfer."""
    if isinstance(a, ndarray):
        return a.get()
    return np.asarray(a, order=order)


def _creation(np_fn):
    def fn(*args, **kwargs):
        return ndarray(np.asarray(np_fn(*args, **kwargs)))
    fn.__name__ = np_fn.__name__
    return fn


zeros, ones, empty, full = (_creation(f) for f in (np.zeros, np.ones, np.empty, np.full))
arange, linspace, eye, identity = (_creation(f) for f in (np.arange, np.linspace, np.eye,
                                                            np.identity))
tri = _creation(np.tri)


def may_share_memory(a, b, max_work=None) -> bool:
    return bool(np.may_share_memory(unwrap_array(a), unwrap_array(b)))


def shares_memory(a, b, max_work=None) -> bool:
    return bool(np.shares_memory(unwrap_array(a), unwrap_array(b)))


def result_type(*args):
    return np.result_type(*[a.dtype if isinstance(a, ndarray) else a for a in args])


def get_array_module(*args):
    return sys.modules["cupy"] if any(isinstance(a, ndarray) for a in args) else np

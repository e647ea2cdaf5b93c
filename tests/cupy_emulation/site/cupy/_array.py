"""CPU EMULATION of `cupy.ndarray`: a NumPy array in a wrapper that keeps CuPy's rules.

- No implicit device-to-host conversion: `np.asarray(x)`, `np.array(x)` and NumPy
  operations on it raise TypeError with CuPy's message; `.get()`, `cupy.asnumpy`,
  `.item()`, `float(x)` (explicit transfers) work.
- No host arrays where CuPy takes device arrays: a NumPy array given to a CuPy function
  or operator raises TypeError ("Unsupported type"), as in CuPy.
- Results are always device arrays (0-d arrays, never NumPy scalars).
- Integer-array indexing wraps out-of-range indices around (CuPy checks no bounds on the
  device), where NumPy would raise IndexError.
Views share memory as in CuPy (slices, reshape, transpose), so aliasing is real.
"""

from __future__ import annotations

import numbers

import numpy as np

IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
            "Please use `.get()` to construct a NumPy array explicitly.")


class _Memory:
    def __init__(self, ptr):
        self.ptr = ptr


def unwrap(x, where="argument"):
    """The NumPy array behind a device array; scalars pass; host arrays are refused."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        raise TypeError(f"Unsupported type {type(x)} ({where}: the CuPy emulation refuses "
                        "host arrays where CuPy needs device arrays)")
    if isinstance(x, (numbers.Number, np.generic, bool)) or x is None:
        return x
    if isinstance(x, (list, tuple)):
        return type(x)(unwrap(v, where) for v in x)
    return x  # dtypes, slices, strings, ...


def unwrap_array(x, where="argument") -> np.ndarray:
    if not isinstance(x, ndarray):
        raise TypeError(f"{where}: a cupy.ndarray is required, got {type(x).__name__}")
    return x._a


def wrap(result):
    """Device arrays for every array result (NumPy scalars become 0-d arrays)."""
    if isinstance(result, tuple):
        return tuple(wrap(r) for r in result)
    if isinstance(result, list):
        return [wrap(r) for r in result]
    if isinstance(result, (np.ndarray, np.generic)):
        return ndarray(np.asarray(result))
    return result


def wrap_index(key, shape):
    """`key` with device arrays unwrapped and integer arrays wrapped around their axis."""
    parts = list(key) if isinstance(key, tuple) else [key]
    parts = [p._a if isinstance(p, ndarray) else
             np.asarray(p) if isinstance(p, list) else p for p in parts]
    used = sum(0 if p is None or p is Ellipsis else
               (p.ndim if isinstance(p, np.ndarray) and p.dtype == bool else 1) for p in parts)
    dim, out = 0, []
    for p in parts:
        if p is Ellipsis:
            dim += len(shape) - used
        elif isinstance(p, np.ndarray) and p.dtype == bool:
            dim += p.ndim
        elif p is not None:
            if isinstance(p, np.ndarray) and p.dtype.kind in "iu" and dim < len(shape) \
                    and shape[dim] > 0:
                p = p % shape[dim]  # CuPy: out-of-range indices wrap around, no error
            dim += 1
        out.append(p)
    return tuple(out)


#: The functions module (`_functions` sets it when imported: it imports this one).
F = None


def _op(name, reflected=False):
    def method(self, other):
        fn = getattr(F, name)
        return fn(other, self) if reflected else fn(self, other)
    return method


def _method(name):
    def method(self, *args, **kwargs):
        return getattr(F, name)(self, *args, **kwargs)
    return method


def _iop(name):
    def method(self, other):
        getattr(F, name)(self, other, out=self)
        return self
    return method


class ndarray:
    """A device array of the emulation (its memory is a NumPy array on the host)."""

    __array_priority__ = 100
    __array_ufunc__ = None  # NumPy ufuncs on a device array: TypeError, as in CuPy

    def __init__(self, array):
        if not isinstance(array, np.ndarray):
            raise TypeError("cupy emulation: ndarray wraps a NumPy array")
        self._a = array

    def __array__(self, *args, **kwargs):
        raise TypeError(IMPLICIT)

    def __array_function__(self, func, types, args, kwargs):
        mine = getattr(F, func.__name__, None)
        return NotImplemented if mine is None else mine(*args, **kwargs)

    # ------------------------------------------------------------ attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    data = property(lambda self: _Memory(self._a.ctypes.data))
    T = property(lambda self: ndarray(self._a.T))

    def __repr__(self):
        return f"cupy-emulation {np.array2string(self._a)}"

    # ------------------------------------------------------------ explicit transfers
    def get(self, stream=None, order="C", out=None) -> np.ndarray:
        return np.array(self._a, copy=True)

    def item(self):
        return self._a.item()

    def tolist(self):
        return self._a.tolist()

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return self._a.__index__()

    def __bool__(self):
        return bool(self._a)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (ndarray(np.asarray(r)) for r in self._a)

    # ------------------------------------------------------------ shape and copies
    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        return ndarray(self._a.astype(dtype, copy=copy))

    def copy(self, order="C"):
        return ndarray(self._a.copy(order=order))

    def reshape(self, *shape, order="C"):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return ndarray(self._a.reshape(shape, order=order))

    def transpose(self, *axes):
        return ndarray(self._a.transpose(*axes))

    def ravel(self, order="C"):
        return ndarray(self._a.ravel(order=order))

    def flatten(self):
        return ndarray(self._a.flatten())

    def squeeze(self, axis=None):
        return ndarray(self._a.squeeze(axis))

    def swapaxes(self, a, b):
        return ndarray(self._a.swapaxes(a, b))

    def view(self, dtype=None):
        return ndarray(self._a.view() if dtype is None else self._a.view(dtype))

    def fill(self, value):
        self._a.fill(unwrap(value))

    def __getitem__(self, key):
        return wrap(self._a[wrap_index(key, self._a.shape)])

    def __setitem__(self, key, value):
        self._a[wrap_index(key, self._a.shape)] = unwrap(value, "assigned value")

    # ------------------------------------------------------------ reductions
    sum, max, min, mean, prod = (_method(n) for n in ("sum", "max", "min", "mean", "prod"))
    argmax, argmin, any, all = (_method(n) for n in ("argmax", "argmin", "any", "all"))
    var, std, cumsum, clip = (_method(n) for n in ("var", "std", "cumsum", "clip"))
    dot, take, sort, argsort = (_method(n) for n in ("dot", "take", "sort", "argsort"))

    # ------------------------------------------------------------ operators
    __add__, __radd__, __iadd__ = _op("add"), _op("add", True), _iop("add")
    __sub__, __rsub__, __isub__ = _op("subtract"), _op("subtract", True), _iop("subtract")
    __mul__, __rmul__, __imul__ = _op("multiply"), _op("multiply", True), _iop("multiply")
    __truediv__, __rtruediv__ = _op("true_divide"), _op("true_divide", True)
    __itruediv__ = _iop("true_divide")
    __floordiv__, __rfloordiv__ = _op("floor_divide"), _op("floor_divide", True)
    __mod__, __rmod__ = _op("remainder"), _op("remainder", True)
    __pow__, __rpow__, __ipow__ = _op("power"), _op("power", True), _iop("power")
    __matmul__, __rmatmul__ = _op("matmul"), _op("matmul", True)
    __and__, __rand__, __iand__ = _op("bitwise_and"), _op("bitwise_and", True), \
        _iop("bitwise_and")
    __or__, __ror__, __ior__ = _op("bitwise_or"), _op("bitwise_or", True), _iop("bitwise_or")
    __xor__, __rxor__ = _op("bitwise_xor"), _op("bitwise_xor", True)
    __lt__, __le__, __gt__, __ge__ = _op("less"), _op("less_equal"), _op("greater"), \
        _op("greater_equal")
    __eq__, __ne__ = _op("equal"), _op("not_equal")
    __hash__ = None

    def __neg__(self):
        return F.negative(self)

    def __pos__(self):
        return self.copy()

    def __abs__(self):
        return F.absolute(self)

    def __invert__(self):
        return F.invert(self)

"""Python data to NumPy arrays under graphgrad's dtype rules (PyTorch's defaults).

`gg.tensor([...])`, `Tensor(data)` and every constructor first turn the user's data
into a NumPy array of a supported dtype; this file is that step, and it sits below
`Tensor` so that the Tensor constructor and `creation.py` share it. Data may hold
graphgrad Tensors; the Tensor class registers itself here when `tensor.py` loads
(`register_tensor_type`) rather than being imported from below.
"""

from __future__ import annotations

import numpy as np

from . import dtypes
from .errors import ArgumentError, DtypeError, ShapeError
from .source import user_source

#: Types converted through their own `.numpy()` (graphgrad's Tensor, registered by it).
_TENSOR_TYPES: tuple[type, ...] = ()


def register_tensor_type(cls: type) -> None:
    """Convert instances of `cls` through `.numpy()` (Tensor calls this as it loads).

    Registration keeps the direction of imports: this file sits below `tensor.py`, which
    imports it for its constructor.
    """
    global _TENSOR_TYPES
    _TENSOR_TYPES = (*_TENSOR_TYPES, cls)


def as_array(data, dtype=None) -> np.ndarray:
    """A NumPy array with a supported dtype (PyTorch's defaults for Python numbers)."""
    if isinstance(data, _TENSOR_TYPES):
        arr = data.numpy()
    elif hasattr(data, "detach") and callable(getattr(data, "numpy", None)):
        # another library's tensor (a torch state_dict loaded here): its own .numpy(),
        # not __array__, which NumPy 2 warns about when it takes no copy argument
        arr = np.array(data.detach().cpu().numpy() if hasattr(data, "cpu")
                       else data.detach().numpy())
    else:
        try:
            if isinstance(data, (list, tuple)) and any(
                    isinstance(x, _TENSOR_TYPES) for x in _flat(data)):
                arr = np.array([as_array(x) for x in data])
            else:
                arr = np.array(data)
        except ValueError as e:  # ragged nesting: NumPy's message alone has no context
            raise ShapeError(f"cannot make a tensor from this {type(data).__name__}: its "
                             f"nested sequences have different lengths ({e})",
                             source=user_source()) from None
    if not isinstance(data, (np.ndarray, np.generic)) and (arr.dtype.kind == "O" or (
            arr.dtype.kind == "f" and arr.size and np.abs(arr).max() >= 2.0**63)):
        arr = _python_ints(data, arr, dtype)  # the scan only runs where ints may overflow
    if arr.dtype.kind in "OUSVcmM":  # None, strings, complex, ...: no silent NaN or cast
        raise DtypeError(f"cannot make a tensor from {type(data).__name__} data "
                         f"({data!r:.60} has NumPy dtype {arr.dtype})", source=user_source())
    if dtype is not None:
        target = dtypes.as_dtype(dtype)
    elif isinstance(data, np.ndarray) or isinstance(data, np.generic):
        target = dtypes.from_numpy_dtype(arr.dtype)
    elif arr.dtype.kind == "f":
        target = dtypes.default_float
    else:
        target = dtypes.from_numpy_dtype(arr.dtype)
    check_int64_range(arr, target, "tensor")
    return np.asarray(arr, dtype=target, order="C")


def check_int64_range(arr: np.ndarray, target: np.dtype, what: str) -> None:
    """Refuse unsigned values above int64's range, which the cast would wrap to negatives
    (PyTorch raises "Overflow" for `torch.tensor([2**63])`)."""
    if arr.dtype.kind == "u" and target.kind in "iu" and arr.size and arr.dtype.itemsize >= 8:
        top = int(arr.max())
        if top > np.iinfo(np.int64).max:
            raise ArgumentError(f"{what}: the value {top} does not fit in int64 (overflow); "
                                "pass dtype=gg.float64 to keep it approximately",
                                source=user_source())


def _python_ints(data, arr: np.ndarray, dtype) -> np.ndarray:
    """Python ints beyond int64 make NumPy build an object (or float) array; PyTorch
    raises "Overflow" unless a float dtype was asked for or a float is among the data."""
    items = list(_flat(data)) if isinstance(data, (list, tuple)) else [data]
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    if not any(isinstance(x, int) and not lo <= x <= hi for x in items):
        return arr
    wants_float = dtypes.is_float(dtypes.as_dtype(dtype)) if dtype is not None else \
        any(isinstance(x, float) for x in items)
    if not wants_float:
        raise ArgumentError(f"cannot make a tensor from {data!r:.60}: an integer does not fit "
                            "in int64 (overflow)", source=user_source())
    return np.array(data, dtype=np.float64) if arr.dtype.kind == "O" else arr


def _flat(data):
    for x in data:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def copy_into(old, new) -> bool:
    """Write the NumPy array `new` into `old` where it fits (same shape and dtype, `old`
    writeable, not the same array): True when written. For a tensor whose array the user
    holds too, so an in-place update shows there (PyTorch's shared memory)."""
    if isinstance(old, np.ndarray) and isinstance(new, np.ndarray) and old is not new \
            and old.shape == new.shape and old.dtype == new.dtype and old.flags.writeable:
        np.copyto(old, new)
        return True
    return False

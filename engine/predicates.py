"""Whole-tensor questions with Python answers: `gg.is_tensor`, `gg.allclose`,
`gg.equal` (PyTorch's names), eager only since the answer is a Python bool."""

from __future__ import annotations

import numpy as np

from .errors import ShapeError
from .source import user_source
from .tensor import Tensor


def is_tensor(obj) -> bool:
    """Whether `obj` is a graphgrad Tensor (Parameters included)."""
    return isinstance(obj, Tensor)


def _host(x, what: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x._backend.to_numpy(x._concrete(what))
    return np.asarray(x)


def allclose(input, other, rtol: float = 1e-5, atol: float = 1e-8,
             equal_nan: bool = False) -> bool:
    """|input - other| <= atol + rtol * |other| everywhere (broadcast), as in PyTorch."""
    a, b = _host(input, "gg.allclose"), _host(other, "gg.allclose")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"allclose: shapes {list(a.shape)} and {list(b.shape)} do not "
                         "broadcast", source=user_source()) from None
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input, other) -> bool:
    """Same shape and the same values (PyTorch's `torch.equal`)."""
    a, b = _host(input, "gg.equal"), _host(other, "gg.equal")
    return a.shape == b.shape and bool(np.array_equal(a, b))


Tensor.allclose = allclose
Tensor.equal = equal

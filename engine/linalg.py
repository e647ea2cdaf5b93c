"""`gg.linalg`: norms with torch.linalg's names (compositions of the registry's ops)."""

from __future__ import annotations

from .errors import UnsupportedError
from .ops.linalg import vector_norm
from .source import user_source
from .tensor import Tensor

__all__ = ["norm", "vector_norm"]


def norm(x: Tensor, ord=None, dim=None, keepdim: bool = False) -> Tensor:
    """torch.linalg.norm for vectors and, with the default `ord`, the Frobenius norm of
    any tensor (the 2-norm of its entries); matrix norms other than 'fro' raise."""
    if ord in (None, "fro"):
        return vector_norm(x, 2, dim, keepdim)
    if isinstance(ord, str) or (dim is None and x.ndim == 2) or \
            (isinstance(dim, tuple) and len(dim) == 2):
        raise UnsupportedError(f"linalg.norm: matrix norm ord={ord!r} is not supported",
                               source=user_source())
    return vector_norm(x, ord, dim, keepdim)

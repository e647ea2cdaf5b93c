"""The op registry and every op definition, grouped by kind."""

from .. import inplace  # noqa: F401  (the in-place Tensor methods)
from . import (  # noqa: F401  (registers the ops)
    collective,
    elementwise,
    linalg,
    logic,
    loss,
    nn,
    reduction,
    shape,
)
from .registry import REGISTRY, Op, apply, get_op

__all__ = ["REGISTRY", "Op", "apply", "get_op"]

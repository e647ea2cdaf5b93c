"""The op registry and every op definition, grouped by kind."""

from . import (  # noqa: F401  (registers the ops)
    collective,
    conv,
    elementwise,
    linalg,
    logic,
    loss,
    nn,
    recurrent,
    reduction,
    shape,
    slicing,
    sorting,
)
from .registry import REGISTRY, Op, apply, get_op

__all__ = ["REGISTRY", "Op", "apply", "get_op"]

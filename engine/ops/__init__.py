"""The op registry and every op definition, grouped by kind."""

from .. import inplace  # noqa: F401  (the in-place Tensor methods)
from . import elementwise, linalg, logic, loss, nn, reduction, shape  # noqa: F401  (registers the ops)
from . import recurrent, slicing, sorting  # noqa: F401,I001  (sequence models: registers the ops)
from .registry import REGISTRY, Op, apply, get_op

__all__ = ["REGISTRY", "Op", "apply", "get_op"]

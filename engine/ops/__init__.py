"""The op registry and every op definition, grouped by kind."""

from . import elementwise, linalg, logic, nn, reduction, shape  # noqa: F401  (registers the ops)
from .registry import REGISTRY, Op, apply, get_op

__all__ = ["REGISTRY", "Op", "apply", "get_op"]

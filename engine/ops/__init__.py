"""The op registry and every op definition, grouped by kind."""

from . import (  # noqa: F401  (registers the ops)
    activation,
    collective,
    composite,
    conv,
    elementwise,
    index_put,
    linalg,
    logic,
    loss,
    nn,
    normalization,
    recurrent,
    reduction,
    rounding,
    scatter,
    shape,
    slicing,
    sorting,
    tensor_api,
)
from .registry import REGISTRY, RESULT, Op, apply, get_op

__all__ = ["REGISTRY", "RESULT", "Op", "apply", "get_op"]

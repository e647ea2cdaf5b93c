"""The op registry and every op definition, grouped by kind."""

# the in-place Tensor methods and writes through views (they load the op groups they use)
from .. import inplace, views  # noqa: F401
from . import (  # noqa: F401  (registers the ops)
    collective,
    composite,
    conv,
    elementwise,
    linalg,
    logic,
    loss,
    nn,
    recurrent,
    reduction,
    rounding,
    shape,
    slicing,
    sorting,
    tensor_api,
)
from .registry import REGISTRY, Op, apply, get_op

__all__ = ["REGISTRY", "Op", "apply", "get_op"]

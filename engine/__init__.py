"""graphgrad: a define-then-run autograd engine in pure Python.

Write models the PyTorch way; run them eagerly, or trace them once with `gg.compile`
into a networkx graph that is differentiated, optimized and run as a flat plan on a
swappable backend.
"""

from . import dtypes, ops  # noqa: F401  (ops registers every op and Tensor method)
from . import inplace, views  # noqa: F401  (in-place Tensor methods, writes through views)
from .autodiff import grad as _grad  # noqa: F401
from .anomaly import detect_anomaly, is_anomaly_enabled
from .creation import (
    arange,
    as_tensor,
    bernoulli,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    manual_seed,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from .dtypes import bool_, float32, float64, int16, int32, int64, uint8
from .errors import (
    DistributedError,
    AllocationError,
    ArgumentError,
    ArgumentTypeError,
    AutogradError,
    BackendError,
    DtypeError,
    GradcheckError,
    GraphError,
    GraphgradError,
    IndexingError,
    NumericalError,
    SerializationError,
    ShapeError,
    SignatureError,
    TracingError,
    UnsupportedError,
    ViewError,
)
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import gradcheck
from .ir.graph import Graph
from .ops.elementwise import (
    abs,
    add,
    cast,
    clamp,
    cos,
    erf,
    exp,
    log,
    log1p,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sign,
    sin,
    sqrt,
    sub,
    tanh,
    where,
)
from .ops.composite import (
    absolute,
    addmm,
    all,
    any,
    bmm,
    clamp_max,
    clamp_min,
    cosh,
    count_nonzero,
    diag,
    diagonal,
    diff,
    exp2,
    expm1,
    hypot,
    isclose,
    isfinite,
    isinf,
    isnan,
    lerp,
    log2,
    log10,
    mm,
    movedim,
    mv,
    nan_to_num,
    nanmean,
    nansum,
    negative,
    outer,
    positive,
    reciprocal,
    repeat_interleave,
    rsqrt,
    sgn,
    sinh,
    square,
    swapaxes,
    swapdims,
    tan,
    tile,
    true_divide,
    unflatten,
    xlogy,
)
from .ops.linalg import dot, einsum, matmul, norm, vdot
from .ops.tensor_api import (
    aminmax,
    argwhere,
    bincount,
    clone,
    masked_select,
    median,
    nonzero,
    numel,
    prod,
    t,
    unique,
)
from .ops.rounding import (  # (div: with torch's rounding_mode)
    ceil,
    div,
    floor,
    floor_divide,
    fmod,
    frac,
    remainder,
    round,
    trunc,
)
from .ops.logic import eq, ge, gt, le, logical_and, logical_not, logical_or, lt, ne
from .ops.nn import gather, log_softmax, one_hot, softmax, take_along_dim
from .ops.scatter import index_add, scatter, scatter_add
from .ops.slicing import (
    chunk,
    flip,
    index_select,
    masked_fill,
    narrow,
    roll,
    split,
    tril,
    triu,
    unbind,
)
from .ops.sorting import argsort, cumsum, multinomial, sort, topk
from .ops.reduction import (
    amax,
    amin,
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    std,
    sum,
    var,
)
from .ops.shape import (
    broadcast_tensors,
    broadcast_to,
    cat,
    concatenate,
    expand,
    flatten,
    permute,
    reshape,
    squeeze,
    stack,
    transpose,
    unsqueeze,
)
from .tensor import Tensor
from .device import device
from .predicates import allclose, equal, is_tensor
from . import cuda  # noqa: E402,F401
from .compile import compile  # noqa: A004
from . import passes  # noqa: E402,I001
from .trace import Spec, differentiate, run_graph, trace

from . import autograd  # noqa: E402,I001
from . import func  # noqa: E402,F401
from . import data, distributed, linalg, nn, optim, utils  # noqa: E402,F401
from .data import Generator  # noqa: E402
from .serialization import load, save  # noqa: E402
from .backends import registry as _backend_registry  # noqa: E402

long = int64
int = int32  # noqa: A001  (PyTorch's spelling: torch.int is int32)
short = int16
double = float64
float = float32  # noqa: A001  (PyTorch's spelling: gg.float is float32)
bool = bool_  # noqa: A001

set_default_backend = _backend_registry.set_default_backend
backends = __import__("graphgrad.backends", fromlist=["available"])

__version__ = "0.1.0"


def __getattr__(name):
    # gg.viz on first use: drawing needs the graphviz package, plain training does not.
    if name == "viz":
        import importlib

        return importlib.import_module("graphgrad.viz")
    raise AttributeError(f"module 'graphgrad' has no attribute {name!r}")

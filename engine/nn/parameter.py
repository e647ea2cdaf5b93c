"""`Parameter`: a tensor a `Module` registers as trainable when it is assigned as an attribute.

A Parameter is an ordinary leaf Tensor whose `requires_grad` defaults to True. Being a
distinct type is what lets `Module.__setattr__` tell weights from scratch tensors, as in
PyTorch. As there, `nn.Parameter(t)` shares t's memory and version counter: a write to
either is seen by the other. The parameter becomes the root of that memory and `t` an
alias of it (as `p.detach()` would be), so the parameter itself is never a view and a
compiled step treats it as state like any other.
"""

from __future__ import annotations

import warnings
import weakref

from .. import dtypes
from ..creation import empty, tensor, zeros
from ..ir import tracing
from ..tensor import Tensor

_SLOTS = tuple(s for s in Tensor.__slots__ if s != "__weakref__")


class Parameter(Tensor):
    """A trainable tensor: `nn.Parameter(gg.zeros(3))` (requires_grad=True by default)."""

    __slots__ = ()

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = zeros(0)
        elif not isinstance(data, Tensor):
            data = tensor(data)
        source = data.detach()
        for slot in _SLOTS:
            setattr(self, slot, getattr(source, slot))
        self._ctx, self._grad = None, None
        self._make_root()
        if _can_share(data):
            _take_memory(self, data)
        elif data._base is not None or data._ctx is not None:
            warnings.warn(
                "nn.Parameter of a view or of a tensor with autograd history holds a copy: "
                "writes to one are not seen by the other (PyTorch shares their memory); "
                "make the parameter from a tensor of its own (e.g. t.clone())", stacklevel=2)
        self.requires_grad = False
        self.requires_grad_(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo) -> Parameter:
        # The backend object is shared, never copied: it owns the kernels and the RNG.
        copy = Parameter(self.detach().clone(), self.requires_grad)
        memo[id(self)] = copy
        return copy


def _can_share(data: Tensor) -> bool:
    """Whether the parameter can take over data's memory: data is concrete and the root
    of its memory, without autograd history (what `nn.Parameter(gg.randn(...))` and
    `nn.Parameter(w)` for a leaf `w` are), and no trace is running."""
    return (tracing.current is None and data._value is not None and data._base is None
            and data._ctx is None)


def _take_memory(param: Parameter, data: Tensor) -> None:
    """Make `param` the root of data's memory and `data` an alias of it sharing the
    version counter; data's views become views of `param` (same steps: data is all of
    it). Writes through any of them reach the others (engine/views.py)."""
    param._vc = data._vc
    views = [v for v in (r() for r in data._views or ()) if v is not None]
    for v in views:
        v._base = param
        v._linked = v._linked and data.requires_grad
    data._base, data._steps, data._linked, data._views = param, (), False, None
    param._views = [weakref.ref(v) for v in views] + [weakref.ref(data)]


def add_weight_and_bias(module, weight_shape: tuple, n_out: int, bias: bool, dtype=None,
                        device=None) -> None:
    """`module.weight` of `weight_shape` and `module.bias` of (n_out,), or a registered
    None bias, uninitialized: the layout every affine layer (Linear, Conv, ...) shares;
    its `reset_parameters` fills them."""
    dt = dtypes.as_dtype(dtype) if dtype is not None else None
    module.weight = Parameter(empty(*weight_shape, dtype=dt, device=device))
    if bias:
        module.bias = Parameter(empty(n_out, dtype=dt, device=device))
    else:
        module.register_parameter("bias", None)

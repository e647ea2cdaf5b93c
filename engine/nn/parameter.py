"""`Parameter`: a tensor a `Module` registers as trainable when it is assigned as an attribute.

A Parameter is an ordinary leaf Tensor (it shares the data it was made from until the
first in-place update) whose `requires_grad` defaults to True. Being a distinct type is
what lets `Module.__setattr__` tell weights from scratch tensors, as in PyTorch.
"""

from __future__ import annotations

from ..creation import tensor, zeros
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
        self._make_root()  # its own memory from now on (not a view of `data`)
        self.requires_grad = False
        self.requires_grad_(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo) -> Parameter:
        # The backend object is shared, never copied: it owns the kernels and the RNG.
        copy = Parameter(self.detach().clone(), self.requires_grad)
        memo[id(self)] = copy
        return copy

"""More activation modules, with PyTorch's names, arguments, defaults and reprs.

Each holds its settings and calls the function of the same name in
`gg.nn.functional`; `PReLU` also holds its learnable slope.
"""

from __future__ import annotations

from ..creation import full
from ..tensor import Tensor
from . import functional as F
from .module import Module
from .parameter import Parameter


class _Settings(Module):
    """A module whose forward is `fn(x, *settings)`; `extra_repr` lists the settings as
    PyTorch's module of the same name does."""

    _fn = staticmethod(lambda x: x)
    _names: tuple = ()

    def __init__(self, *values, inplace: bool = False):
        super().__init__()
        for name, value in zip(self._names, values):
            setattr(self, name, value)
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        settings = [getattr(self, n) for n in self._names]
        if self.inplace:  # (set only by modules whose function takes inplace)
            return type(self)._fn(x, *settings, inplace=True)
        return type(self)._fn(x, *settings)

    def extra_repr(self) -> str:
        parts = [f"{n}={getattr(self, n)}" for n in self._names]
        return ", ".join(parts + (["inplace=True"] if self.inplace else []))


class ELU(_Settings):
    _fn, _names = staticmethod(F.elu), ("alpha",)

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(alpha, inplace=inplace)


class CELU(ELU):
    _fn = staticmethod(F.celu)


class SELU(_Settings):
    _fn = staticmethod(F.selu)

    def __init__(self, inplace: bool = False):
        super().__init__(inplace=inplace)


class Hardtanh(_Settings):
    _fn, _names = staticmethod(F.hardtanh), ("min_val", "max_val")

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__(min_val, max_val, inplace=inplace)


class ReLU6(Hardtanh):
    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Hardsigmoid(SELU):
    _fn = staticmethod(F.hardsigmoid)


class Hardswish(SELU):
    _fn = staticmethod(F.hardswish)


class Mish(SELU):
    _fn = staticmethod(F.mish)


class LogSigmoid(_Settings):
    _fn = staticmethod(F.logsigmoid)


class Softsign(LogSigmoid):
    _fn = staticmethod(F.softsign)


class Tanhshrink(LogSigmoid):
    _fn = staticmethod(F.tanhshrink)


class Softplus(_Settings):
    _fn, _names = staticmethod(F.softplus), ("beta", "threshold")

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__(beta, threshold)


class Threshold(_Settings):
    _fn, _names = staticmethod(F.threshold), ("threshold", "value")

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__(threshold, value, inplace=inplace)


class Softmin(_Settings):
    _fn, _names = staticmethod(F.softmin), ("dim",)

    def __init__(self, dim: int | None = None):
        super().__init__(dim)


class GLU(_Settings):
    _fn, _names = staticmethod(F.glu), ("dim",)

    def __init__(self, dim: int = -1):
        super().__init__(dim)


class Softshrink(_Settings):
    _fn, _names = staticmethod(F.softshrink), ("lambd",)

    def __init__(self, lambd: float = 0.5):
        super().__init__(lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Hardshrink(Softshrink):
    _fn = staticmethod(F.hardshrink)


class PReLU(Module):
    """x where x > 0, else a learned slope times x (one slope, or one per channel)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = Parameter(full((num_parameters,), float(init), dtype=dtype,
                                     device=device))

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"

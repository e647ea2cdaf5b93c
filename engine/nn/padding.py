"""Padding modules (ZeroPad, ConstantPad, ReflectionPad, ReplicationPad, CircularPad in
1d and 2d), with PyTorch's names, arguments and reprs.

Each is `F.pad` with a fixed mode and a padding tuple normalized as PyTorch does (an int
pads every side by the same amount); the registry's `pad` already differentiates every
mode, so these hold settings only.
"""

from __future__ import annotations

from ..errors import ArgumentError, ShapeError
from ..source import user_source
from ..tensor import Tensor
from . import functional as F
from .module import Module


def _padding_tuple(padding, nd: int, name: str) -> tuple[int, ...]:
    """An int becomes 2*nd equal amounts; a tuple must list 2*nd ints (left, right, top,
    bottom, as F.pad reads them)."""
    if isinstance(padding, int) and not isinstance(padding, bool):
        return (padding,) * (2 * nd)
    pads = tuple(padding)
    if len(pads) != 2 * nd or not all(isinstance(p, int) for p in pads):
        raise ArgumentError(f"{name}: padding must be an int or {2 * nd} ints, got {padding!r}",
                            op=name, source=user_source())
    return pads


class _Pad(Module):
    """Pads the last `_nd` dims of an unbatched or batched input with `F.pad`."""

    _nd, _mode = 1, "constant"

    def __init__(self, padding, value: float = 0.0):
        super().__init__()
        self.padding = _padding_tuple(padding, self._nd, type(self).__name__)
        self.value = value

    def forward(self, x: Tensor) -> Tensor:
        name = type(self).__name__
        if x.ndim not in (self._nd + 1, self._nd + 2):
            raise ShapeError(f"{name}: expected a {self._nd + 1}D or {self._nd + 2}D input, "
                             f"got shape {tuple(x.shape)}", op=name, source=user_source())
        if self._mode == "constant":
            return F.pad(x, self.padding, "constant", self.value)
        return F.pad(x, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ConstantPad1d(_Pad):
    def __init__(self, padding, value: float):
        super().__init__(padding, value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad2d(ConstantPad1d):
    _nd = 2


class ZeroPad1d(ConstantPad1d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ZeroPad1d):
    _nd = 2


class ReflectionPad1d(_Pad):
    _mode = "reflect"

    def __init__(self, padding):
        super().__init__(padding)


class ReflectionPad2d(ReflectionPad1d):
    _nd = 2


class ReplicationPad1d(ReflectionPad1d):
    _mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    _nd = 2


class CircularPad1d(ReflectionPad1d):
    _mode = "circular"


class CircularPad2d(CircularPad1d):
    _nd = 2

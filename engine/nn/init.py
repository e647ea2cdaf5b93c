"""`gg.nn.init`: PyTorch's initializers, filling tensors in place from graphgrad's RNG.

Samples come from `gg.rand`/`gg.randn`, so `gg.manual_seed` makes initialization
reproducible. Fan-in/fan-out and gains follow `torch.nn.init` exactly.
"""

from __future__ import annotations

import math

from .. import dtypes, grad_mode
from ..creation import eye, rand, randn
from ..errors import ArgumentError
from ..source import user_source
from ..tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "eye_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (torch.nn.init.calculate_gain)."""
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ArgumentError(f"unsupported nonlinearity {nonlinearity!r}", source=user_source())


def _fill(t: Tensor, values: Tensor) -> Tensor:
    if values._value is not None and values._backend is not t._backend:
        values = values.to(t._backend.name)
    with grad_mode.no_grad():
        return t.copy_(values)


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    if a > b:
        raise ArgumentError(f"uniform_ expects to return a [from, to) range, but found "
                            f"from={a} > to={b}", source=user_source())
    return _fill(t, rand(*t.shape, dtype=dtypes.float64) * (b - a) + a)


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    if std < 0:
        raise ArgumentError(f"normal expects std >= 0.0, but found std {std}",
                            source=user_source())
    return _fill(t, randn(*t.shape, dtype=dtypes.float64) * std + mean)


def constant_(t: Tensor, val: float) -> Tensor:
    with grad_mode.no_grad():
        return t.fill_(val)


def zeros_(t: Tensor) -> Tensor:
    return constant_(t, 0.0)


def ones_(t: Tensor) -> Tensor:
    return constant_(t, 1.0)


def eye_(t: Tensor) -> Tensor:
    if t.ndim != 2:
        raise ArgumentError("eye_: only 2-D tensors are supported", source=user_source())
    return _fill(t, eye(*t.shape, dtype=t.dtype))


def _calculate_fan_in_and_fan_out(t: Tensor) -> tuple[int, int]:
    if t.ndim < 2:
        raise ArgumentError("fan in and fan out can not be computed for a tensor with fewer "
                            "than 2 dimensions", source=user_source())
    receptive = math.prod(t.shape[2:]) if t.ndim > 2 else 1
    return t.shape[1] * receptive, t.shape[0] * receptive


def _fan(t: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ArgumentError(f"mode {mode!r} not supported, please use one of fan_in, fan_out",
                            source=user_source())
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(t: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)


def xavier_normal_(t: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al., 2015)."""
    fan = _fan(t, mode)
    if fan == 0:
        return t
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(t, -bound, bound)


def kaiming_normal_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    fan = _fan(t, mode)
    if fan == 0:
        return t
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))

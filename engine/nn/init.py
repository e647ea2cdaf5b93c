"""`gg.nn.init`: PyTorch's initializers, filling tensors in place from graphgrad's RNG.

Samples come from `gg.rand`/`gg.randn`, so `gg.manual_seed` makes initialization
reproducible. Fan-in/fan-out and gains follow `torch.nn.init` exactly.
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes, grad_mode
from ..creation import as_tensor, eye, rand, randn
from ..errors import ArgumentError, ShapeError
from ..source import user_source
from ..tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "eye_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "trunc_normal_", "orthogonal_",
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


def _fill(tensor: Tensor, values: Tensor) -> Tensor:
    if values._value is not None and values._backend is not tensor._backend:
        values = values.to(tensor._backend.name)
    with grad_mode.no_grad():
        return tensor.copy_(values)


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    if a > b:
        raise ArgumentError(f"uniform_ expects to return a [from, to) range, but found "
                            f"from={a} > to={b}", source=user_source())
    draw = rand(*tensor.shape, dtype=dtypes.float64, generator=generator)
    return _fill(tensor, draw * (b - a) + a)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    if std < 0:
        raise ArgumentError(f"normal expects std >= 0.0, but found std {std}",
                            source=user_source())
    draw = randn(*tensor.shape, dtype=dtypes.float64, generator=generator)
    return _fill(tensor, draw * std + mean)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator=None) -> Tensor:
    """N(mean, std^2) restricted to [a, b]: draws outside are drawn again (the same
    distribution as PyTorch's inverse-CDF method, not the same numbers)."""
    if not a < b:
        raise ArgumentError(f"trunc_normal_: a ({a}) must be below b ({b})",
                            source=user_source())
    values = np.empty(tensor.shape, np.float64).reshape(-1)
    todo = np.arange(values.size)
    while todo.size:
        draw = randn(todo.size, dtype=dtypes.float64, generator=generator).numpy() * std + mean
        ok = (draw >= a) & (draw <= b)
        values[todo[ok]] = draw[ok]
        todo = todo[~ok]
    return _fill(tensor, as_tensor(values.reshape(tensor.shape)))


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """A (semi-)orthogonal matrix, from the QR decomposition of a normal draw, over the
    tensor flattened to (size(0), rest) (Saxe et al., 2013; PyTorch's method)."""
    if tensor.ndim < 2:
        raise ShapeError("Only tensors with 2 or more dimensions are supported",
                         source=user_source())
    rows = tensor.shape[0]
    cols = tensor.numel() // rows if rows else 0
    flat = randn(rows, cols, dtype=dtypes.float64, generator=generator).numpy()
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, as_tensor(q.reshape(tensor.shape) * gain))


def constant_(tensor: Tensor, val: float) -> Tensor:
    with grad_mode.no_grad():
        return tensor.fill_(val)


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def eye_(tensor: Tensor) -> Tensor:
    if tensor.ndim != 2:
        raise ArgumentError("eye_: only 2-D tensors are supported", source=user_source())
    return _fill(tensor, eye(*tensor.shape, dtype=tensor.dtype))


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ArgumentError("fan in and fan out can not be computed for a tensor with fewer "
                            "than 2 dimensions", source=user_source())
    receptive = math.prod(tensor.shape[2:]) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ArgumentError(f"mode {mode!r} not supported, please use one of fan_in, fan_out",
                            source=user_source())
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al., 2015)."""
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), generator)

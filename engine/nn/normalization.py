"""Normalization layers: BatchNorm2d, LayerNorm, GroupNorm, RMSNorm and InstanceNorm1d/2d,
with PyTorch 2.13's
arguments, parameter and buffer names (`weight`, `bias`, `running_mean`,
`running_var`, `num_batches_tracked`) and initialization (ones and zeros)."""

from __future__ import annotations

from .. import dtypes
from ..creation import ones, zeros
from ..errors import ArgumentError, ShapeError
from ..source import user_source
from ..tensor import Tensor
from .functional_layers import _warn_user
from .functional_norm import (
    group_norm,
    instance_norm,
    layer_norm,
    local_response_norm,
    rms_norm,
)
from .module import Module
from .parameter import Parameter
from .regularization import BatchNorm1d


class BatchNorm2d(BatchNorm1d):
    """Batch normalization over the channels of (N, C, H, W) inputs (statistics over N,
    H and W); running statistics as BatchNorm1d's."""

    input_dims = (4,)


def _affine(module: Module, shape, on: bool, bias: bool, dtype, device) -> None:
    dt = dtypes.as_dtype(dtype) if dtype is not None else None
    if on:
        module.weight = Parameter(ones(*shape, dtype=dt, device=device))
    else:
        module.register_parameter("weight", None)
    if on and bias:
        module.bias = Parameter(zeros(*shape, dtype=dt, device=device))
    else:
        module.register_parameter("bias", None)


class LayerNorm(Module):
    """Normalizes over the trailing `normalized_shape` dims of each sample (Ba et al.)."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = (int(normalized_shape),) if isinstance(normalized_shape, int) \
            else tuple(int(s) for s in normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        _affine(self, self.normalized_shape, elementwise_affine, bias, dtype, device)

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalizes each sample over groups of channels (Wu & He, 2018)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device=None, dtype=None):
        super().__init__()
        if num_channels % num_groups:
            raise ArgumentError("num_channels must be divisible by num_groups",
                                source=user_source())
        self.num_groups, self.num_channels, self.eps, self.affine = \
            num_groups, num_channels, eps, affine
        _affine(self, (num_channels,), affine, True, dtype, device)

    def forward(self, x: Tensor) -> Tensor:
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class RMSNorm(Module):
    """Scales each sample by the root mean square of its trailing `normalized_shape` dims
    (Zhang & Sennrich, 2019); eps=None means the input dtype's machine epsilon."""

    def __init__(self, normalized_shape, eps: float | None = None,
                 elementwise_affine: bool = True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = (int(normalized_shape),) if isinstance(normalized_shape, int) \
            else tuple(int(s) for s in normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dt = dtypes.as_dtype(dtype) if dtype is not None else None
        if elementwise_affine:  # (a weight only: PyTorch's RMSNorm has no bias entry)
            self.weight = Parameter(ones(*self.normalized_shape, dtype=dt, device=device))
        else:
            self.register_parameter("weight", None)

    def forward(self, x: Tensor) -> Tensor:
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class _InstanceNorm(BatchNorm1d):
    """Parameters, buffers and repr as BatchNorm's (PyTorch's _NormBase), other defaults
    (affine=False, track_running_stats=False) and per-instance statistics."""

    _nd = 1

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        name, nd = type(self).__name__, self._nd
        if x.ndim not in (nd + 1, nd + 2):
            raise ShapeError(f"{name}: expected {nd + 1}D or {nd + 2}D input (got {x.ndim}D "
                             f"input)", op="instance_norm", source=user_source())
        dim = x.ndim - nd - 1
        if x.shape[dim] != self.num_features:
            if self.affine:
                raise ShapeError(f"{name}: expected input's size at dim={dim} to match "
                                 f"num_features ({self.num_features}), but got: "
                                 f"{x.shape[dim]}.", op="instance_norm", source=user_source())
            _warn_user(f"input's size at dim={dim} does not match num_features. You can "
                       "silence this warning by not passing in num_features, which is not "
                       "used because affine=False")
        batched = x if dim == 1 else x.unsqueeze(0)
        out = instance_norm(batched, self.running_mean, self.running_var, self.weight,
                            self.bias, self.training or not self.track_running_stats,
                            self.momentum if self.momentum is not None else 0.0, self.eps)
        return out if dim == 1 else out.squeeze(0)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization over (N, C, L) or (C, L) inputs."""


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization over (N, C, H, W) or (C, H, W) inputs."""

    _nd = 2


class LocalResponseNorm(Module):
    """Normalizes each channel by its `size` neighbours' mean square (Krizhevsky et al.)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: Tensor) -> Tensor:
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"

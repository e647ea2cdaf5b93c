"""Normalization layers: BatchNorm2d, LayerNorm and GroupNorm, with PyTorch 2.13's
arguments, parameter and buffer names (`weight`, `bias`, `running_mean`,
`running_var`, `num_batches_tracked`) and initialization (ones and zeros)."""

from __future__ import annotations

from .. import dtypes
from ..creation import ones, zeros
from ..errors import ArgumentError
from ..source import user_source
from ..tensor import Tensor
from .functional_norm import group_norm, layer_norm
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
                f"elementwise_affine={self.elementwise_affine}")


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

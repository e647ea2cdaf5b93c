"""Convolution layers: Conv1d and Conv2d with PyTorch 2.13's arguments, attributes,
parameter names and initialization, so `load_state_dict` takes a torch state dict."""

from __future__ import annotations

import math

from ..errors import ArgumentError
from ..ops.slicing import pad
from ..source import user_source
from ..tensor import Tensor
from . import init
from .functional_conv import conv_nd, conv_padding, ntuple
from .module import Module
from .parameter import add_weight_and_bias

#: Conv's padding_mode -> F.pad's mode.
_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
              "circular": "circular"}


class _ConvNd(Module):
    """The shared body of Conv1d/Conv2d: weight (out, in/groups, *kernel_size), bias (out)."""

    _nd = 0
    _op = "conv"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, dilation=1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        if groups <= 0:
            raise ArgumentError(f"groups must be a positive integer, got {groups}",
                                source=user_source())
        if in_channels % groups or out_channels % groups:
            raise ArgumentError(f"in_channels ({in_channels}) and out_channels ({out_channels}) "
                                f"must be divisible by groups ({groups})", source=user_source())
        if padding_mode not in _PAD_MODES:
            raise ArgumentError(f"padding_mode must be one of {sorted(_PAD_MODES)}, got "
                                f"{padding_mode!r}", op=self._op, source=user_source())
        nd = self._nd
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = ntuple(kernel_size, nd, "kernel_size", self._op)
        self.stride = ntuple(stride, nd, "stride", self._op)
        self.dilation = ntuple(dilation, nd, "dilation", self._op)
        conv_padding(padding, self.kernel_size, self.stride, self.dilation, self._op)  # checks
        self.padding = padding if isinstance(padding, str) else \
            ntuple(padding, nd, "padding", self._op)
        self.padding_mode, self.transposed, self.output_padding = padding_mode, False, (0,) * nd
        add_weight_and_bias(self, (out_channels, in_channels // groups, *self.kernel_size),
                            out_channels, bias, dtype, device)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's: Kaiming-uniform with a = sqrt(5), bias U(-1/sqrt(fan_in), ...)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if self.padding_mode == "zeros":
            return conv_nd(x, self.weight, self.bias, self.stride, self.padding,
                           self.dilation, self.groups, self._nd, self._op)
        # PyTorch's way: pad with the mode first, then convolve without padding
        pairs = conv_padding(self.padding, self.kernel_size, self.stride, self.dilation,
                             self._op)
        amounts = tuple(a for before, after in reversed(pairs) for a in (before, after))
        x = pad(x, amounts, mode=_PAD_MODES[self.padding_mode])
        return conv_nd(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups,
                       self._nd, self._op)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s + (f", padding_mode={self.padding_mode}" if self.padding_mode != "zeros" else "")


class Conv1d(_ConvNd):
    """1-d convolution (cross-correlation) over (N, C, L) inputs."""

    _nd, _op = 1, "conv1d"


class Conv2d(_ConvNd):
    """2-d convolution (cross-correlation) over (N, C, H, W) inputs."""

    _nd, _op = 2, "conv2d"

"""Transposed convolution: F.conv_transpose1d/2d and nn.ConvTranspose1d/2d, with PyTorch
2.13's arguments, weight layout (in, out/groups, *kernel), initialization and repr.

A transposed convolution is the gradient of a convolution with respect to its input, so
it is the registry's `conv_input_grad` op applied to x with the layer's weight read as
the forward convolution's (out = in here, in/groups = out/groups here) weight: no new
kernel, and its own gradients come from that op's VJP (a convolution and a weight grad).
"""

from __future__ import annotations

from ..errors import ArgumentError, ShapeError, UnsupportedError
from ..ops.conv import conv_input_grad_op
from ..source import user_source
from ..tensor import Tensor
from .conv import _ConvNd
from .functional_conv import _batched, ntuple
from .module import Module
from .parameter import add_weight_and_bias


def _out_sizes(sizes, kernel, stride, padding, output_padding, dilation, op):
    for s, d, o in zip(stride, dilation, output_padding):
        if o >= s and o >= d:
            raise ArgumentError(f"{op}: output padding {tuple(output_padding)} must be "
                                f"smaller than either stride {tuple(stride)} or dilation "
                                f"{tuple(dilation)}", op=op, source=user_source())
        if o >= s:
            raise UnsupportedError(f"{op}: output_padding {tuple(output_padding)} not smaller "
                                   f"than stride {tuple(stride)} is not supported", op=op,
                                   source=user_source())
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + o + 1 for n, k, s, p, o, d in
                zip(sizes, kernel, stride, padding, output_padding, dilation))
    if min(out) < 1:
        raise ShapeError(f"{op}: input of spatial size {tuple(sizes)} gives the empty output "
                         f"{out}", op=op, source=user_source())
    return out


def conv_transpose_nd(x: Tensor, weight: Tensor, bias, stride, padding, output_padding,
                      groups: int, dilation, nd: int, op: str) -> Tensor:
    """The shared body of conv_transpose1d/2d (see the module docstring)."""
    x, unbatched = _batched(x, nd, op)
    if weight.ndim != nd + 2 or x.shape[1] != weight.shape[0] or weight.shape[0] % groups:
        raise ShapeError(f"{op}: weight of shape {tuple(weight.shape)} (in_channels, "
                         f"out_channels/groups, *kernel) with groups={groups} does not fit "
                         f"input of shape {tuple(x.shape)}", op=op, source=user_source())
    stride, dilation = ntuple(stride, nd, "stride", op), ntuple(dilation, nd, "dilation", op)
    padding = ntuple(padding, nd, "padding", op)
    output_padding = ntuple(output_padding, nd, "output_padding", op)
    sizes = _out_sizes(x.shape[2:], weight.shape[2:], stride, padding, output_padding,
                       dilation, op)
    shape = (x.shape[0], weight.shape[1] * groups) + sizes
    out = conv_input_grad_op(x, weight, stride=stride, padding=tuple((p, p) for p in padding),
                             dilation=dilation, groups=int(groups), shape=shape)
    if bias is not None:
        out = out + bias.reshape((1, -1) + (1,) * nd)
    return out.squeeze(0) if unbatched else out


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-d transposed convolution of (N, C_in, L) with a (C_in, C_out/groups, k) weight."""
    return conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups,
                             dilation, 1, "conv_transpose1d")


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-d transposed convolution ("deconvolution"), PyTorch's F.conv_transpose2d."""
    return conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups,
                             dilation, 2, "conv_transpose2d")


class _ConvTransposeNd(Module):
    """weight (in, out/groups, *kernel_size), bias (out); PyTorch's Kaiming-uniform init."""

    _nd, _op = 0, "conv_transpose"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, output_padding=0, groups: int = 1, bias: bool = True,
                 dilation=1, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        nd, op = self._nd, type(self).__name__
        if in_channels % groups or out_channels % groups:
            raise ArgumentError(f"{op}: in_channels ({in_channels}) and out_channels "
                                f"({out_channels}) must be divisible by groups ({groups})",
                                op=op, source=user_source())
        if padding_mode != "zeros":
            raise ArgumentError(f'Only "zeros" padding mode is supported for {op}', op=op,
                                source=user_source())
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = ntuple(kernel_size, nd, "kernel_size", op)
        self.stride = ntuple(stride, nd, "stride", op)
        self.padding = ntuple(padding, nd, "padding", op)
        self.output_padding = ntuple(output_padding, nd, "output_padding", op)
        self.dilation = ntuple(dilation, nd, "dilation", op)
        self.padding_mode, self.transposed = padding_mode, True
        add_weight_and_bias(self, (in_channels, out_channels // groups, *self.kernel_size),
                            out_channels, bias, dtype, device)
        self.reset_parameters()

    # PyTorch's convolution init; the fan-in is read from the (in, out/groups, *k) weight
    # as PyTorch reads it
    reset_parameters = _ConvNd.reset_parameters

    def _output_padding(self, x: Tensor, output_size) -> tuple[int, ...]:
        """output_padding, or the one that gives `output_size` (PyTorch's forward arg)."""
        if output_size is None:
            return self.output_padding
        nd, op = self._nd, type(self).__name__
        size = tuple(output_size)[-nd:] if len(output_size) in (nd, nd + 1, nd + 2) else ()
        low = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
               zip(x.shape[-nd:], self.stride, self.padding, self.dilation, self.kernel_size)]
        if len(size) != nd or any(not lo <= o < lo + s for o, lo, s in
                                  zip(size, low, self.stride)):
            raise ShapeError(f"{op}: requested an output size of {tuple(output_size)}, but "
                             f"valid sizes range from {low} to "
                             f"{[lo + s - 1 for lo, s in zip(low, self.stride)]}", op=op,
                             source=user_source())
        return tuple(o - lo for o, lo in zip(size, low))

    def forward(self, x: Tensor, output_size=None) -> Tensor:
        return conv_transpose_nd(x, self.weight, self.bias, self.stride, self.padding,
                                 self._output_padding(x, output_size), self.groups,
                                 self.dilation, self._nd, self._op)

    def extra_repr(self) -> str:
        nd = self._nd
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        for name, default in (("padding", 0), ("dilation", 1), ("output_padding", 0)):
            if getattr(self, name) != (default,) * nd:
                s += f", {name}={getattr(self, name)}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + (", bias=False" if self.bias is None else "")


class ConvTranspose1d(_ConvTransposeNd):
    """1-d transposed convolution over (N, C, L) inputs."""

    _nd, _op = 1, "conv_transpose1d"


class ConvTranspose2d(_ConvTransposeNd):
    """2-d transposed convolution over (N, C, H, W) inputs."""

    _nd, _op = 2, "conv_transpose2d"

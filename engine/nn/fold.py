"""F.unfold / F.fold (im2col and col2im) and nn.Unfold / nn.Fold, PyTorch's semantics.

unfold is a grouped convolution with a fixed one-hot weight: output channel c K + k
(K = kh kw) reads input channel c at kernel offset k, which is exactly PyTorch's
(N, C K, L) column layout. fold, which sums the columns back into overlapping places, is
that convolution's transpose: the registry's `conv_input_grad` with the same weight. Both
run on the backends' convolution kernels, and each one's gradient is the other.
"""

from __future__ import annotations

import numpy as np

from ..creation import as_tensor
from ..errors import ArgumentError, ShapeError
from ..ops.conv import conv_input_grad_op, conv_op, window_shape
from ..source import user_source
from ..tensor import Tensor
from .functional_conv import ntuple
from .module import Module


def _selector(channels: int, kernel: tuple[int, int], like: Tensor) -> Tensor:
    """(C K, 1, kh, kw): one 1 per output channel, at its kernel offset."""
    k = kernel[0] * kernel[1]
    w = np.zeros((channels * k, 1) + kernel, dtype=str(like.dtype))
    for c in range(channels):
        for j in range(k):
            w[c * k + j, 0, j // kernel[1], j % kernel[1]] = 1.0
    return as_tensor(w, like=like)


def _geometry(kernel_size, dilation, padding, stride, op):
    return dict(kernel=ntuple(kernel_size, 2, "kernel_size", op),
                dilation=ntuple(dilation, 2, "dilation", op),
                padding=tuple((p, p) for p in ntuple(padding, 2, "padding", op)),
                stride=ntuple(stride, 2, "stride", op))


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """(N, C, H, W) -> (N, C kh kw, L): every sliding block as a column (im2col)."""
    if input.ndim not in (3, 4):
        raise ShapeError(f"unfold: expected a 3D or 4D input, got shape {tuple(input.shape)}",
                         op="unfold", source=user_source())
    x = input if input.ndim == 4 else input.unsqueeze(0)
    g = _geometry(kernel_size, dilation, padding, stride, "unfold")
    n, c = x.shape[:2]
    w = _selector(c, g["kernel"], x)
    cols = conv_op(x, w, stride=g["stride"], padding=g["padding"], dilation=g["dilation"],
                   groups=c)
    cols = cols.reshape(n, w.shape[0], -1)
    return cols if input.ndim == 4 else cols.squeeze(0)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0,
         stride=1) -> Tensor:
    """(N, C kh kw, L) -> (N, C, H, W): columns summed back into their blocks (col2im)."""
    if input.ndim not in (2, 3):
        raise ShapeError(f"fold: expected a 2D or 3D input, got shape {tuple(input.shape)}",
                         op="fold", source=user_source())
    cols = input if input.ndim == 3 else input.unsqueeze(0)
    g = _geometry(kernel_size, dilation, padding, stride, "fold")
    size = ntuple(output_size, 2, "output_size", "fold")
    k = g["kernel"][0] * g["kernel"][1]
    n, ck, length = cols.shape
    if ck % k:
        raise ShapeError(f"fold: expected size of input's dimension 1 ({ck}) to be divisible "
                         f"by the product of kernel_size ({k})", op="fold",
                         source=user_source())
    blocks = window_shape("fold", (n, ck // k) + size, g["kernel"], g["stride"],
                          g["padding"], g["dilation"])
    if blocks[0] * blocks[1] != length:
        raise ShapeError(f"fold: given output_size={size}, kernel_size={g['kernel']}, "
                         f"expected {blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]} "
                         f"sliding blocks in input's dimension 2, got {length}", op="fold",
                         source=user_source())
    w = _selector(ck // k, g["kernel"], cols)
    out = conv_input_grad_op(cols.reshape(n, ck, *blocks), w, stride=g["stride"],
                             padding=g["padding"], dilation=g["dilation"], groups=ck // k,
                             shape=(n, ck // k) + size)
    return out if input.ndim == 3 else out.squeeze(0)


class Unfold(Module):
    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = \
            kernel_size, dilation, padding, stride

    def forward(self, x: Tensor) -> Tensor:
        return unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        if output_size is None:
            raise ArgumentError("Fold: output_size is required", op="fold",
                                source=user_source())
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, x: Tensor) -> Tensor:
        return fold(x, self.output_size, self.kernel_size, self.dilation, self.padding,
                    self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")

"""Resizing and rearranging: F.interpolate / nn.Upsample ('nearest', 'nearest-exact',
'linear', 'bilinear'; UpsamplingNearest2d, UpsamplingBilinear2d), F.pixel_shuffle /
F.pixel_unshuffle, F.channel_shuffle and their modules.

Interpolation is separable, so it runs one spatial axis at a time as compositions of
registry ops: 'nearest' is one `index_select` per axis; 'linear'/'bilinear' gather the two
neighbours per axis and lerp them with weights computed here from the static shapes.
Source coordinates follow PyTorch's CPU kernels (area_pixel_compute_source_index), with
the coordinate arithmetic in PyTorch's types (float32 for 'nearest'; the input's
opmath type for the linear modes), so the picked neighbours agree exactly.
"""

from __future__ import annotations

import math

import numpy as np

from ..creation import as_tensor
from ..errors import ArgumentError, ShapeError, UnsupportedError
from ..ops.slicing import select_along
from ..source import user_source
from ..tensor import Tensor
from .functional_conv import adaptive_avg_pool1d, adaptive_avg_pool2d
from .module import Module

_SPATIAL = {"linear": 1, "bilinear": 2}


def _err(msg: str, cls=ArgumentError):
    return cls(f"interpolate: {msg}", op="interpolate", source=user_source())


def _output_geometry(shape, size, scale_factor, nd: int):
    """(output sizes, per-axis scale factors or None) as PyTorch derives them."""
    if (size is None) == (scale_factor is None):
        raise _err("exactly one of size and scale_factor must be given")
    if size is not None:
        sizes = (size,) * nd if isinstance(size, int) else tuple(size)
        if len(sizes) != nd or not all(isinstance(s, int) and s > 0 for s in sizes):
            raise _err(f"size must be {nd} positive ints for a {nd + 2}D input, got {size!r}")
        return sizes, (None,) * nd
    scales = (scale_factor,) * nd if np.ndim(scale_factor) == 0 else tuple(scale_factor)
    if len(scales) != nd or not all(s > 0 for s in scales):
        raise _err(f"scale_factor must be {nd} positive numbers, got {scale_factor!r}")
    sizes = tuple(int(math.floor(n * float(s))) for n, s in zip(shape[2:], scales))
    if min(sizes) <= 0:
        raise _err(f"scale_factor {scale_factor!r} gives an empty output from {tuple(shape)}")
    return sizes, tuple(float(s) for s in scales)


def _scale(n_in: int, n_out: int, scale, align_corners: bool, ct=np.float32):
    if align_corners:
        return ct((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    return ct(1.0 / scale if scale is not None else n_in / n_out)


def _nearest(x: Tensor, axis: int, n_out: int, scale, exact: bool) -> Tensor:
    n_in = x.shape[axis]
    s = _scale(n_in, n_out, scale, False)
    dst = np.arange(n_out, dtype=np.float32) + np.float32(0.5 if exact else 0.0)
    src = np.minimum(np.floor(dst * s).astype(np.int64), n_in - 1)
    return select_along(x, axis, as_tensor(src, like=x))


def _linear(x: Tensor, axis: int, n_out: int, scale, align_corners: bool) -> Tensor:
    n_in = x.shape[axis]
    ct = np.float64 if str(x.dtype) == "float64" else np.float32  # PyTorch's opmath type
    s = _scale(n_in, n_out, scale, align_corners, ct)
    dst = np.arange(n_out, dtype=ct)
    src = dst * s if align_corners else np.maximum((dst + ct(0.5)) * s - ct(0.5), 0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = (src - i0).astype(np.float64).reshape((n_out,) + (1,) * (x.ndim - 1 - axis))
    x0 = select_along(x, axis, as_tensor(i0, like=x))
    x1 = select_along(x, axis, as_tensor(i1, like=x))
    return x0 + (x1 - x0) * as_tensor(lam, dtype=x.dtype, like=x)


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims of an (N, C, ...) input as torch.nn.functional.interpolate.

    'nearest' picks floor(dst * in/out) (PyTorch's legacy rule), 'nearest-exact' the
    pixel-centre rule; 'linear' (3D input) and 'bilinear' (4D) weigh the two neighbours
    on each axis, with align_corners mapping corner pixels onto corner pixels; 'area'
    averages adaptive windows (adaptive_avg_pool).
    """
    nd = input.ndim - 2
    if mode not in ("nearest", "nearest-exact", "linear", "bilinear", "area"):
        raise _err(f"mode {mode!r} is not supported (nearest, nearest-exact, linear, "
                   "bilinear, area are)", UnsupportedError)
    if nd < 1 or nd > 2 or _SPATIAL.get(mode, nd) != nd:
        raise _err(f"mode {mode!r} does not take a {input.ndim}D input of shape "
                   f"{tuple(input.shape)}", ShapeError)
    if antialias:
        raise _err("antialias=True is not supported", UnsupportedError)
    if align_corners is not None and mode not in ("linear", "bilinear"):
        raise _err("align_corners option can only be set with the interpolating modes: "
                   "linear | bilinear")
    sizes, scales = _output_geometry(input.shape, size, scale_factor, nd)
    if mode == "area":  # PyTorch's: adaptive average pooling to the output size
        return (adaptive_avg_pool1d if nd == 1 else adaptive_avg_pool2d)(input, sizes)
    if recompute_scale_factor:
        scales = (None,) * nd
    out = input
    for i, (n_out, s) in enumerate(zip(sizes, scales)):
        if mode.startswith("nearest"):
            out = _nearest(out, 2 + i, n_out, s, mode == "nearest-exact")
        else:
            out = _linear(out, 2 + i, n_out, s, bool(align_corners))
    return out


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    return interpolate(input, size, scale_factor, "nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """Bilinear with align_corners=True (the deprecated function's fixed choice)."""
    return interpolate(input, size, scale_factor, "bilinear", align_corners=True)


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """(N, g k, *) -> (N, k g, *): channel c of group i moves to position c g + i
    (ShuffleNet's interleaving of grouped-convolution outputs)."""
    if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0 \
            or input.ndim < 3 or input.shape[1] % groups:
        raise ShapeError(f"channel_shuffle: groups={groups!r} must be a positive int that "
                         f"divides the channels of an (N, C, *) input, got shape "
                         f"{tuple(input.shape)}", op="channel_shuffle", source=user_source())
    n, c, *rest = input.shape
    y = input.reshape(n, groups, c // groups, *rest).transpose(1, 2)
    return y.reshape(n, c, *rest)


def _check_factor(x: Tensor, r: int, name: str) -> int:
    if isinstance(r, bool) or not isinstance(r, int) or r <= 0:
        raise ArgumentError(f"{name}: factor must be a positive int, got {r!r}", op=name,
                            source=user_source())
    if x.ndim < 3:
        raise ShapeError(f"{name}: expected an input with at least 3 dims, got shape "
                         f"{tuple(x.shape)}", op=name, source=user_source())
    return r


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C r^2, H, W) -> (*, C, H r, W r): sub-pixel convolution's rearrangement."""
    r = _check_factor(input, upscale_factor, "pixel_shuffle")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise ShapeError(f"pixel_shuffle: {c} channels are not divisible by upscale_factor"
                         f"^2 = {r * r}", op="pixel_shuffle", source=user_source())
    k = len(lead)
    y = input.reshape(*lead, c // (r * r), r, r, h, w)
    y = y.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r^2, H, W): the inverse of pixel_shuffle."""
    r = _check_factor(input, downscale_factor, "pixel_unshuffle")
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise ShapeError(f"pixel_unshuffle: spatial size {h}x{w} is not divisible by "
                         f"downscale_factor {r}", op="pixel_unshuffle", source=user_source())
    k = len(lead)
    y = input.reshape(*lead, c, h // r, r, w // r, r)
    y = y.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return y.reshape(*lead, c * r * r, h // r, w // r)


class PixelShuffle(Module):
    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x: Tensor) -> Tensor:
        return pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x: Tensor) -> Tensor:
        return pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class Upsample(Module):
    """F.interpolate with fixed settings (PyTorch stores a scale factor as float)."""

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None):
        super().__init__()
        self.size, self.mode, self.align_corners = size, mode, align_corners
        self.scale_factor = (None if scale_factor is None else float(scale_factor)
                             if np.ndim(scale_factor) == 0 else
                             tuple(float(s) for s in scale_factor))
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x: Tensor) -> Tensor:
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)

    def extra_repr(self) -> str:
        info = (f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None
                else f"size={self.size!r}")
        return f"{info}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)

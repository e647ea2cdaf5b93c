"""Slicing and masking compositions: split, chunk, unbind, narrow, flip, roll,
index_select, masked_fill, tril, triu and F.pad.

None of these is a primitive: each is `index` (slices and index arrays), `concat` or
`where`, whose rules already cover gradients, forward mode and every backend. Slices
are basic indexing, so on NumPy they are views, and their gradients scatter without
`add.at` (the NumPy backend's `index_backward` assigns basic keys directly).
"""

from __future__ import annotations

import numpy as np

from ..creation import as_tensor
from ..errors import ArgumentError, ShapeError
from ..source import user_source
from ..tensor import Tensor, tensor_method
from .common import normalize_axis
from .elementwise import identity_op, where
from .nn import check_index
from .shape import cat, index_op

_ALL = ("slice", None, None, None)


def _slice(x: Tensor, axis: int, start: int, stop: int, step: int | None = None) -> Tensor:
    return index_op(x, spec=(_ALL,) * axis + (("slice", start, stop, step),))


def _dim(x: Tensor, dim: int, op: str) -> int:
    return normalize_axis(dim, x.ndim, op)


@tensor_method()
def narrow(x, dim: int, start: int, length: int) -> Tensor:
    """`length` entries of `x` along `dim` from `start` (a view on NumPy)."""
    axis = _dim(x, dim, "narrow")
    size = x.shape[axis]
    start = start + size if start < 0 else start
    if not (0 <= start and length >= 0 and start + length <= size):
        raise ShapeError(f"narrow: start {start} + length {length} exceeds dim {dim} of size "
                         f"{size}", op="narrow", source=user_source())
    return _slice(x, axis, start, start + length)


@tensor_method()
def split(x, split_size_or_sections, dim: int = 0) -> tuple:
    """Pieces of `x` along `dim`: equal ones of a given size (the last may be shorter),
    or of the sizes listed."""
    axis = _dim(x, dim, "split")
    size = x.shape[axis]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ShapeError(f"split: split_size must be positive, got {step}", op="split",
                             source=user_source())
        sizes = [min(step, size - s) for s in range(0, size, step)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != size:
            raise ShapeError(f"split: sizes {sizes} do not add up to dim {dim} of size {size}",
                             op="split", source=user_source())
    bounds = np.cumsum([0] + sizes).tolist()
    return tuple(_slice(x, axis, a, b) for a, b in zip(bounds[:-1], bounds[1:]))


@tensor_method()
def chunk(x, chunks: int, dim: int = 0) -> tuple:
    """At most `chunks` pieces of equal size (the last may be smaller), as torch.chunk."""
    axis = _dim(x, dim, "chunk")
    if chunks <= 0:
        raise ShapeError(f"chunk: chunks must be positive, got {chunks}", op="chunk",
                         source=user_source())
    return split(x, max(-(-x.shape[axis] // chunks), 1), axis)


@tensor_method()
def unbind(x, dim: int = 0) -> tuple:
    """The slices of `x` along `dim`, with that dim removed."""
    axis = _dim(x, dim, "unbind")
    return tuple(index_op(x, spec=(_ALL,) * axis + (("int", i),)) for i in range(x.shape[axis]))


@tensor_method()
def flip(x, dims) -> Tensor:
    """`x` reversed along each of `dims`: a new tensor, never a view (PyTorch's flip
    copies, so a write to the result must not reach x)."""
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    axes = {_dim(x, d, "flip") for d in dims}
    if len(axes) != len(dims):
        raise ArgumentError(f"flip: dims {dims} name a dim more than once", source=user_source())
    spec = tuple(("slice", None, None, -1) if a in axes else _ALL for a in range(x.ndim))
    return identity_op(index_op(x, spec=spec) if axes else x)


@tensor_method()
def roll(x, shifts, dims=None) -> Tensor:
    """Entries shifted cyclically by `shifts` along `dims` (flattened when dims is None)."""
    if dims is None:
        return roll(x.reshape(-1), shifts, 0).reshape(x.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise ShapeError(f"roll: {len(shifts)} shifts for {len(dims)} dims", op="roll",
                         source=user_source())
    for shift, d in zip(shifts, dims):
        axis = _dim(x, d, "roll")
        n = x.shape[axis]
        if n and shift % n:
            k = shift % n
            x = cat([_slice(x, axis, n - k, n), _slice(x, axis, 0, n - k)], axis)
    return x


@tensor_method()
def index_select(x, dim: int, index) -> Tensor:
    """Entries of `x` at the integer positions `index` (1-D) along `dim`."""
    index = as_tensor(index, like=x)
    if index.ndim > 1 or index.dtype.kind not in "iu":
        raise ShapeError(f"index_select: index must be a 1-D integer tensor, got "
                         f"{index.dtype}{list(index.shape)}", op="index_select",
                         source=user_source())
    axis = _dim(x, dim, "index_select")
    index = check_index(index.reshape(-1), x.shape[axis], "index_select")  # no wrapping
    return select_along(x, axis, index)


def select_along(x, axis: int, index) -> Tensor:
    """x's entries at the 1-D integer positions `index` along `axis`, which the engine
    made itself (valid: unchecked; index_select checks the user's)."""
    return index_op(x, index, spec=(_ALL,) * axis + (("tensor",),))


@tensor_method()
def masked_fill(x, mask, value) -> Tensor:
    """`value` where `mask` is True, `x` elsewhere (mask broadcasts to x's shape)."""
    mask = as_tensor(mask, like=x)
    if isinstance(value, Tensor) and value.ndim:
        raise ShapeError(f"masked_fill only supports a 0-dimensional value tensor, but got "
                         f"one of shape {value.shape}", op="masked_fill", source=user_source())
    if x.dtype.kind in "iu" and isinstance(value, (int, float)) and not isinstance(value, bool):
        info = np.iinfo(x.dtype)
        if not info.min <= value <= info.max:
            raise ArgumentError(f"masked_fill: value {value} cannot be converted to "
                                f"{x.dtype} without overflow", source=user_source())
    out = where(mask, as_tensor(value, x.dtype, like=x), x)
    return out if out.shape == x.shape else out.broadcast_to(x.shape)


def _triangle(x: Tensor, diagonal: int, lower: bool, op: str) -> Tensor:
    if x.ndim < 2:
        raise ShapeError(f"{op}: input must have at least 2 dims, got {x.shape}", op=op,
                         source=user_source())
    rows, cols = x.shape[-2:]
    keep = (np.tri(rows, cols, diagonal, dtype=bool) if lower
            else ~np.tri(rows, cols, diagonal - 1, dtype=bool))
    return where(as_tensor(keep, like=x), x, as_tensor(0, x.dtype, like=x))


@tensor_method()
def tril(x, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (entries above `diagonal` set to zero)."""
    return _triangle(x, diagonal, True, "tril")


@tensor_method()
def triu(x, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (entries below `diagonal` set to zero)."""
    return _triangle(x, diagonal, False, "triu")


def _edge_indices(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source positions for a padded dim of size n (reflect, replicate, circular)."""
    pos = np.arange(-before, n + after)
    if mode == "replicate":
        return np.clip(pos, 0, n - 1)
    if mode == "circular":
        return pos % n
    if before >= n or after >= n:
        raise ShapeError(f"pad: reflect padding ({before}, {after}) must be smaller than the "
                         f"dim of size {n}", op="pad", source=user_source())
    period = 2 * (n - 1)
    pos = np.abs(pos) % period if period else np.zeros_like(pos)
    return np.where(pos >= n, period - pos, pos)


def _pad_constant(x: Tensor, axis: int, before: int, after: int, value) -> Tensor:
    def block(k):
        shape = x.shape[:axis] + (k,) + x.shape[axis + 1:]
        return as_tensor(np.full(shape, value, x.dtype), like=x)
    return cat(([block(before)] if before else []) + [x] + ([block(after)] if after else []),
               axis)


def pad(x: Tensor, pad: tuple, mode: str = "constant", value: float | None = None) -> Tensor:
    """PyTorch's F.pad: `pad` lists (before, after) pairs from the last dim backwards;
    negative amounts crop. Modes: constant, reflect, replicate, circular."""
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ShapeError(f"pad: padding {tuple(pad)} must have an even length of at most "
                         f"2 * {x.ndim}", op="pad", source=user_source())
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ArgumentError(f"pad: unsupported mode {mode!r}", source=user_source())
    for i in range(len(pad) // 2):
        axis, before, after = x.ndim - 1 - i, int(pad[2 * i]), int(pad[2 * i + 1])
        n = x.shape[axis]
        x = _slice(x, axis, max(-before, 0), n - max(-after, 0)) if min(before, after) < 0 else x
        before, after = max(before, 0), max(after, 0)
        if not before and not after:
            continue
        if mode == "constant":
            x = _pad_constant(x, axis, before, after, 0 if value is None else value)
        else:
            idx = _edge_indices(x.shape[axis], before, after, mode)
            x = index_op(x, as_tensor(idx, like=x), spec=(_ALL,) * axis + (("tensor",),))
    return x

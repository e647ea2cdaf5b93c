"""Adaptive max pooling (F.adaptive_max_pool1d/2d, nn.AdaptiveMaxPool1d/2d).

PyTorch's windows along a dim of size L for output size O are [floor(i L / O),
ceil((i + 1) L / O)); they may differ in length and overlap. The spatial dims are
flattened, every window is gathered (one `index_select`) and padded to the longest by
repeating its last element, which keeps the window's first maximum first; `argmax` then
picks PyTorch's element and a `gather` takes it, so the gradient flows to that one
element (as PyTorch's, ties included) and `return_indices` gives PyTorch's indices.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..creation import as_tensor
from ..errors import ShapeError
from ..ops.nn import gather
from ..ops.slicing import select_along
from ..source import user_source
from ..tensor import Tensor
from .functional_conv import _batched
from .module import Module


def _windows(size: int, out: int) -> np.ndarray:
    """(out, longest window) positions, each row padded with its window's last one."""
    bounds = [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]
    k = max(hi - lo for lo, hi in bounds)
    return np.array([[min(lo + j, hi - 1) for j in range(k)] for lo, hi in bounds])


def _flat_windows(sizes: tuple[int, ...], outs: tuple[int, ...]) -> np.ndarray:
    """(*outs, K): flat (row-major) spatial positions of each output's window."""
    per_dim = [_windows(s, o) for s, o in zip(sizes, outs)]
    strides = [int(np.prod(sizes[d + 1:])) for d in range(len(sizes))]
    table = np.zeros(tuple(outs) + (int(np.prod([w.shape[1] for w in per_dim])),), np.int64)
    for pos in itertools.product(*(range(o) for o in outs)):
        taps = itertools.product(*(w[p] for w, p in zip(per_dim, pos)))
        table[pos] = [sum(int(t) * st for t, st in zip(tap, strides)) for tap in taps]
    return table


def _output_sizes(sizes, output_size, nd: int, op: str) -> tuple[int, ...]:
    given = (output_size,) * nd if isinstance(output_size, int) or output_size is None \
        else tuple(output_size)
    out = tuple(s if o is None else o for s, o in zip(sizes, given))
    if len(given) != nd or not all(isinstance(o, int) and o >= 1 for o in out):
        raise ShapeError(f"{op}: output_size must be {nd} positive ints, got {output_size!r}",
                         op=op, source=user_source())
    return out


def _adaptive_max_pool(x: Tensor, output_size, return_indices: bool, nd: int, op: str):
    x, unbatched = _batched(x, nd, op)
    n, c, *sizes = x.shape
    if 0 in sizes:
        raise ShapeError(f"{op}: input of shape {tuple(x.shape)} has an empty spatial dim",
                         op=op, source=user_source())
    outs = _output_sizes(tuple(sizes), output_size, nd, op)
    table = _flat_windows(tuple(sizes), outs)
    k = table.shape[-1]
    flat = x.reshape(n, c, -1)
    win = select_along(flat, 2, as_tensor(table.reshape(-1), like=x)).reshape(n, c, *outs, k)
    pick = win.argmax(-1, keepdim=True)
    values = gather(win, -1, pick).squeeze(-1)
    if unbatched:
        values = values.squeeze(0)
    if not return_indices:
        return values
    positions = as_tensor(table, like=x).expand(n, c, *outs, k)
    indices = gather(positions, -1, pick).squeeze(-1)
    return values, indices.squeeze(0) if unbatched else indices


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """The max over each of `output_size` near-equal windows of L (PyTorch's rule)."""
    return _adaptive_max_pool(input, output_size, return_indices, 1, "adaptive_max_pool1d")


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """The max over an `output_size` grid of near-equal windows of (H, W); indices are
    flat positions in H * W, as PyTorch's."""
    return _adaptive_max_pool(input, output_size, return_indices, 2, "adaptive_max_pool2d")


class AdaptiveMaxPool1d(Module):
    _fn = staticmethod(adaptive_max_pool1d)

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x: Tensor):
        return type(self)._fn(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(AdaptiveMaxPool1d):
    _fn = staticmethod(adaptive_max_pool2d)

"""Convolution and pooling kernels written once for any NumPy-like array module.

`kernels(xp)` returns the kernel table for `xp` (NumPy, CuPy, or the CPU emulation of
CuPy); the NumPy and CuPy backends each add it with one line. Only functions both
modules share are used: `xp.lib.stride_tricks.as_strided`, `matmul`, `zeros`/`full`,
`where`, `ascontiguousarray`, slicing and in-place adds on views (no `add.at`).

The layout is PyTorch's: an input is (N, C, *spatial), a weight (O, C/groups,
*kernel); `padding` is one (before, after) pair per spatial dim, so "same" padding and
pooling's `ceil_mode` (both may pad one side more) need no separate pad op.

- Inside the convolution kernels activations are channels-last, (N, *spatial, C): a
  window's rows are then runs of kernel_w * C contiguous numbers, where channels-first
  gives runs of kernel_w (3), and NumPy's strided copies cost per run. The transposing
  copy in (fused with the padding) and out pays for itself many times over on small
  images (measured: im2col of a 64x16x4x4 batch 20x faster).
- Convolution is a GEMM over a window view: the view (N, *out, *kernel, C) of the
  padded input costs nothing; one reshape copies it into columns (im2col), and one
  matmul (one batched matmul over the groups) gives the output.
- Its input gradient at stride 1 is a "full" convolution of the output gradient with
  the flipped, transposed weight (im2col + one GEMM); at other strides it is the
  transposed GEMM followed by col2im: one strided add per kernel offset (9 for a 3x3
  kernel), never a loop over positions, or one assignment through the window view
  where windows do not overlap.
- Its weight gradient is one GEMM of the output gradient with the columns.
- Pooling copies the windows once into a contiguous (prod(kernel), N, C, *out) stack
  (for the usual stride == kernel tiling in two copies of long runs), after which the
  maximum, the sum and max pooling's first-maximum mask (PyTorch's tie rule, NaN
  wins) are calls over whole contiguous rows; the backward unstacks the routed
  gradient the same way (col2im where windows overlap).
- Every (kernel, stride, padding) argument is per spatial dim, so 1-d, 2-d and 3-d
  share the code.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable

from graphgrad.ops.conv import out_size


@functools.cache
def to_last(ndim: int) -> tuple[int, ...]:
    """The permutation (N, C, *S) -> (N, *S, C) (a tuple: no moveaxis per call)."""
    return (0,) + tuple(range(2, ndim)) + (1,)


@functools.cache
def to_first(ndim: int) -> tuple[int, ...]:
    """The permutation (N, *S, C) -> (N, C, *S)."""
    return (0, ndim - 1) + tuple(range(1, ndim - 1))


def kernels(xp) -> dict[str, Callable]:
    """The convolution and pooling kernels on array module `xp` (see the module doc)."""
    as_strided = xp.lib.stride_tricks.as_strided

    def last(x):
        """(N, C, *S) -> contiguous (N, *S, C) (free when C == 1)."""
        return xp.ascontiguousarray(x.transpose(to_last(x.ndim)))

    def first(x):
        """(N, *S, C) -> contiguous (N, C, *S)."""
        return xp.ascontiguousarray(x.transpose(to_first(x.ndim)))

    def inner(spatial, padding, lead=1):
        return (slice(None),) * lead + tuple(slice(lo, lo + s)
                                             for s, (lo, _) in zip(spatial, padding))

    def padded(x, padding, value=0, lead=1):
        """x with its spatial dims (after `lead` dims) padded by `value`."""
        if not any(lo or hi for lo, hi in padding):
            return xp.ascontiguousarray(x)
        nd = len(padding)
        spatial = x.shape[lead:lead + nd]
        shape = x.shape[:lead] + tuple(s + lo + hi for s, (lo, hi) in zip(spatial, padding)) \
            + x.shape[lead + nd:]
        out = xp.full(shape, value, dtype=x.dtype)
        out[inner(spatial, padding, lead)] = x
        return out

    def windows(x, kernel, stride, dilation, out, lead=1):
        """The (*lead, *out, *kernel, *rest) view of an array padded after `lead` dims:
        (N, *out, *kernel, C) channels-last, (N, C, *out, *kernel) with lead=2."""
        nd = len(kernel)
        st = x.strides
        sp = st[lead:lead + nd]
        return as_strided(x, x.shape[:lead] + tuple(out) + tuple(kernel) + x.shape[lead + nd:],
                          st[:lead] + tuple(s * k for s, k in zip(sp, stride))
                          + tuple(s * d for s, d in zip(sp, dilation)) + st[lead + nd:])

    def out_shape(spatial, kernel, stride, padding, dilation):
        return tuple(out_size(s, k, st, p, d) for s, k, st, p, d in
                     zip(spatial, kernel, stride, padding, dilation))

    def offsets(kernel):
        return itertools.product(*(range(k) for k in kernel))

    def at(k, lead=1):
        """Index of kernel offset k in a (*lead, *out, *kernel, *rest) array."""
        return (slice(None),) * (lead + len(k)) + tuple(k) + (Ellipsis,)

    def col2im(cols, spatial, kernel, stride, padding, dilation, lead=1):
        """Sum (*lead, *out, *kernel, *rest) window values into (*lead, *spatial, *rest),
        padding cut off: one strided add per kernel offset, or one assignment through
        the window view where windows are disjoint."""
        nd = len(kernel)
        full = cols.shape[:lead] + tuple(s + lo + hi for s, (lo, hi) in zip(spatial, padding)) \
            + cols.shape[lead + 2 * nd:]
        out = cols.shape[lead:lead + nd]
        acc = xp.zeros(full, dtype=cols.dtype)
        if all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation)):
            windows(acc, kernel, stride, dilation, out, lead)[...] = cols
        else:
            for k in offsets(kernel):
                spot = (slice(None),) * lead + tuple(
                    slice(ki * d, ki * d + s * (o - 1) + 1, s)
                    for ki, o, s, d in zip(k, out, stride, dilation))
                acc[spot] += cols[at(k, lead)]
        return acc[inner(spatial, padding, lead)]

    # ------------------------------------------------------------------ convolution

    def columns(x, kernel, stride, padding, dilation):
        """im2col: (N * prod(out), prod(kernel) * C) rows, and the output's spatial shape."""
        out = out_shape(x.shape[2:], kernel, stride, padding, dilation)
        # channels-last and padded in one copy
        win = windows(padded(x.transpose(to_last(x.ndim)), padding), kernel, stride,
                      dilation, out)
        return win.reshape(x.shape[0] * math.prod(out), -1), out

    def split(cols, kernel, groups):
        """(rows, prod(kernel) * C) -> (groups, rows, prod(kernel) * Cg)."""
        rows = cols.shape[0]
        kc = math.prod(kernel)
        per = cols.reshape(rows, kc, groups, -1).transpose(2, 0, 1, 3)
        return per.reshape(groups, rows, -1)

    def merge(per, kernel):
        """(groups, rows, prod(kernel) * Cg) -> (rows, prod(kernel) * C)."""
        g, rows = per.shape[:2]
        kc = math.prod(kernel)
        return per.reshape(g, rows, kc, -1).transpose(1, 2, 0, 3).reshape(rows, -1)

    def flat_weight(w):
        """(O, Cg, *kernel) -> (O, prod(kernel) * Cg), matching the columns' order."""
        return w.transpose(to_last(w.ndim)).reshape(w.shape[0], -1)

    def channel_rows(g):
        """An (N, O, *out) array as (O, N * prod(out)): a copy in runs of prod(out),
        where the (N * prod(out), O) layout would move one number at a time."""
        n, o = g.shape[:2]
        return xp.ascontiguousarray(g.reshape(n, o, -1).transpose(1, 0, 2)).reshape(o, -1)

    def conv(x, w, stride, padding, dilation, groups):
        kernel, (n, o) = w.shape[2:], (x.shape[0], w.shape[0])
        cols, out = columns(x, kernel, stride, padding, dilation)
        w2 = flat_weight(w)
        if groups == 1:  # (rows, KC) @ (KC, O): BLAS's faster orientation here (~1.6x)
            res = cols @ w2.T
        else:
            wg = w2.reshape(groups, o // groups, -1).transpose(0, 2, 1)
            res = xp.matmul(split(cols, kernel, groups), wg)
            res = res.transpose(1, 0, 2).reshape(cols.shape[0], o)
        res = xp.ascontiguousarray(res.reshape(n, -1, o).transpose(0, 2, 1))
        return res.reshape((n, o) + out)

    def transposed_weight(w, groups):
        """(O, C/g, *k) -> (C, O/g, *k) flipped: the weight whose convolution with the
        output gradient is the input gradient (stride 1)."""
        o, cg, kernel = w.shape[0], w.shape[1], w.shape[2:]
        flipped = w[(slice(None), slice(None)) + (slice(None, None, -1),) * len(kernel)]
        per = flipped.reshape((groups, o // groups, cg) + kernel).swapaxes(1, 2)
        return per.reshape((groups * cg, o // groups) + kernel)

    def conv_input_grad(g, w, stride, padding, dilation, groups, shape):
        kernel = w.shape[2:]
        reach = [d * (k - 1) for k, d in zip(kernel, dilation)]
        if all(s == 1 for s in stride) and all(max(p) <= r for p, r in zip(padding, reach)):
            # stride 1: a "full" convolution of g, im2col in long runs and one GEMM,
            # instead of a GEMM and one strided add per kernel offset
            pads = tuple((r - lo, r - hi) for r, (lo, hi) in zip(reach, padding))
            return conv(g, transposed_weight(w, groups), stride, pads, dilation, groups)
        rows, o = channel_rows(g), w.shape[0]
        w2 = flat_weight(w)
        if groups == 1:
            dcols = rows.T @ w2
        else:
            rg = rows.reshape(groups, o // groups, -1).transpose(0, 2, 1)
            dcols = merge(xp.matmul(rg, w2.reshape(groups, o // groups, -1)), kernel)
        dcols = dcols.reshape((g.shape[0],) + g.shape[2:] + tuple(kernel) + (shape[1],))
        return first(col2im(dcols, shape[2:], kernel, stride, padding, dilation))

    def conv_weight_grad(x, g, stride, padding, dilation, groups, shape):
        kernel, o = shape[2:], shape[0]
        cols, _ = columns(x, kernel, stride, padding, dilation)
        rows = channel_rows(g)
        if groups == 1:
            dw = rows @ cols
        else:
            dw = xp.matmul(rows.reshape(groups, o // groups, -1), split(cols, kernel, groups))
        return first(dw.reshape((o,) + tuple(kernel) + (shape[1],)))

    # ------------------------------------------------------------------ pooling
    # Pooling stays channels-first: its windows are copied once into a contiguous
    # (prod(kernel), N * C * prod(out)) stack, and every later step is a fast call on
    # whole contiguous rows.

    def lowest(dtype):
        return -xp.inf if xp.dtype(dtype).kind == "f" else xp.iinfo(dtype).min

    def tiled(shape, kernel, stride, padding, dilation):
        """Whether 2-d windows tile the padded input exactly (stride == kernel, e.g. the
        usual 2x2 pooling): then stacking is two copies in long runs, not one in single
        numbers."""
        return len(kernel) == 2 and tuple(stride) == tuple(kernel) and \
            all(d == 1 for d in dilation) and \
            all((s + lo + hi) % k == 0 for s, (lo, hi), k in zip(shape[2:], padding, kernel))

    def stacked(x, kernel, stride, padding, dilation, fill=0):
        """The windows of x as a contiguous (prod(kernel), N, C, *out) array."""
        out = out_shape(x.shape[2:], kernel, stride, padding, dilation)
        xpad = padded(x, padding, fill, lead=2)
        if tiled(x.shape, kernel, stride, padding, dilation):
            (k1, k2), (o1, o2) = kernel, out
            rows = xpad.reshape(x.shape[:2] + (o1, k1, o2 * k2)).transpose(3, 0, 1, 2, 4)
            rows = xp.ascontiguousarray(rows).reshape((k1,) + x.shape[:2] + (o1, o2, k2))
            cols = xp.ascontiguousarray(rows.transpose(0, 5, 1, 2, 3, 4))
            return cols.reshape((k1 * k2,) + x.shape[:2] + out)
        win = windows(xpad, kernel, stride, dilation, out, lead=2)
        nd = len(kernel)
        perm = tuple(range(2 + nd, 2 + 2 * nd)) + tuple(range(2 + nd))
        return xp.ascontiguousarray(win.transpose(perm)).reshape(
            (math.prod(kernel),) + x.shape[:2] + out)

    def unstack(cols, shape, kernel, stride, padding, dilation):
        """col2im for a (prod(kernel), N, C, *out) stack: the (N, C, *spatial) sums."""
        nd = len(kernel)
        if tiled(shape, kernel, stride, padding, dilation):  # stacked's copies, reversed
            (k1, k2), (n, c, o1, o2) = kernel, cols.shape[1:]
            rows, by_k2 = xp.empty((k1, n, c, o1, o2, k2), cols.dtype), \
                cols.reshape(k1, k2, n, c, o1, o2)
            for j in range(k2):  # one copy per column offset: a transposing copy reads
                rows[..., j] = by_k2[:, j]  # memory 5x slower
            full = xp.ascontiguousarray(rows.reshape(k1, n, c, o1, o2 * k2)
                                        .transpose(1, 2, 3, 0, 4))
            full = full.reshape(n, c, o1 * k1, o2 * k2)
            return xp.ascontiguousarray(full[inner(shape[2:], padding, lead=2)])
        cl = cols.reshape(tuple(kernel) + cols.shape[1:])
        cl = cl.transpose(tuple(range(nd, 2 * nd + 2)) + tuple(range(nd)))
        return xp.ascontiguousarray(col2im(cl, shape[2:], kernel, stride, padding, dilation,
                                           lead=2))

    def only_first(hit, reverse=False):
        """Keep each window's first True along axis 0 (its last, if `reverse`)."""
        order = range(hit.shape[0] - 1, -1, -1) if reverse else range(hit.shape[0])
        seen = None
        for i in order:
            if seen is None:
                seen = hit[i].copy()
                continue
            hit[i] &= ~seen
            seen |= hit[i]
        return hit

    def first_max(x, kernel, stride, padding, dilation):
        """A (prod(kernel), N, C, *out) mask of each window's maximum as PyTorch picks
        it: scanning the offsets in order, a value wins if greater than the best so far
        or NaN; so the first of tied maxima, or the last NaN of a window with NaNs."""
        cols = stacked(x, kernel, stride, padding, dilation, lowest(x.dtype))
        hit = only_first(cols == cols.max(axis=0))
        if cols.dtype.kind == "f":
            nan = cols != cols
            if bool(nan.any()):
                hit = xp.where(nan.any(axis=0), only_first(nan, reverse=True), hit)
        return hit

    def max_pool(x, kernel, stride, padding, dilation):
        return stacked(x, kernel, stride, padding, dilation, lowest(x.dtype)).max(axis=0)

    def tile_views(x, kernel):
        """An unpadded 2-d input whose windows tile it (2x2 pooling, say): one strided
        view per kernel offset, (N, C, *out) each, in PyTorch's scan order."""
        (n, c, h, w), (k1, k2) = x.shape, kernel
        x6 = x.reshape(n, c, h // k1, k1, w // k2, k2)
        return [x6[:, :, :, i, :, j] for i in range(k1) for j in range(k2)]

    def tiled_max_grad(g, x, kernel):
        """max_pool_grad where windows tile an unpadded input: the window maxima from
        one maximum per offset over strided views, then each offset's share written
        straight into its view of the result (no stacking copy, no col2im); None where
        a window holds a NaN (the general path applies PyTorch's NaN rule)."""
        views = tile_views(x, kernel)
        best = functools.reduce(xp.maximum, views[1:], views[0])
        if best.dtype.kind == "f" and bool(xp.isnan(best).any()):
            return None
        out = xp.empty(x.shape, dtype=g.dtype)
        taken, exact = None, not bool(xp.isfinite(g.sum()))
        for view, dest in zip(views, tile_views(out, kernel)):
            hit = view == best
            if taken is None:
                taken = hit.copy()
            else:
                hit &= ~taken
                taken |= hit
            if exact:  # 0 * inf would be NaN: select
                dest[...] = xp.where(hit, g, g.dtype.type(0))
            else:
                xp.multiply(hit, g, out=dest)
        return out

    def max_pool_grad(g, x, kernel, stride, padding, dilation):
        if tiled(x.shape, kernel, stride, padding, dilation) and \
                not any(lo or hi for lo, hi in padding):
            out = tiled_max_grad(g, x, kernel)
            if out is not None:
                return out
        hit = first_max(x, kernel, stride, padding, dilation)
        if bool(xp.isfinite(g.sum())):  # then a multiply by the mask is the select
            grads = hit * g
        else:  # 0 * inf would be NaN: select exactly
            grads = xp.where(hit, g, g.dtype.type(0))
        return unstack(grads, x.shape, kernel, stride, padding, dilation)

    def max_pool_take(h, x, kernel, stride, padding, dilation):
        hit = first_max(x, kernel, stride, padding, dilation)
        cols = stacked(h, kernel, stride, padding, dilation)
        return xp.where(hit, cols, h.dtype.type(0)).sum(axis=0)

    def sum_pool(x, kernel, stride, padding):
        return stacked(x, kernel, stride, padding, (1,) * len(kernel)).sum(axis=0)

    def sum_pool_grad(g, kernel, stride, padding, shape):
        cols = xp.broadcast_to(g, (math.prod(kernel),) + g.shape)
        return unstack(cols, shape, kernel, stride, padding, (1,) * len(kernel))

    return dict(conv=conv, conv_input_grad=conv_input_grad, conv_weight_grad=conv_weight_grad,
                max_pool=max_pool, max_pool_grad=max_pool_grad, max_pool_take=max_pool_take,
                sum_pool=sum_pool, sum_pool_grad=sum_pool_grad)

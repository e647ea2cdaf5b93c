"""Convolution and pooling kernels written once for any NumPy-like array module.

`kernels(xp)` returns the kernel table for `xp` (NumPy, CuPy, or the CPU emulation of
CuPy); the NumPy and CuPy backends each add it with one line. Only functions both
modules share are used: `xp.lib.stride_tricks.as_strided`, `matmul`, `zeros`/`full`,
`where`, `maximum`, slicing and in-place adds on views (no `add.at`).

The layout is PyTorch's: an input is (N, C, *spatial), a weight (O, C/groups,
*kernel); `padding` is one (before, after) pair per spatial dim, so "same" padding and
pooling's `ceil_mode` (both may pad one side more) need no separate pad op.

- Convolution is a GEMM over a window view: the view (N, C, *out, *kernel) of the
  padded input costs nothing; one reshape copies it into columns (im2col), and one
  matmul (one batched matmul over the groups) gives the output.
- Its input gradient is the transposed GEMM followed by col2im: one strided add per
  kernel offset (9 for a 3x3 kernel) into the padded input's shape, never a loop over
  positions; where windows do not overlap (stride >= the window's extent) the columns
  are assigned through the window view in one copy.
- Its weight gradient is one GEMM of the output gradient with the columns.
- Pooling reduces over the kernel offsets with one elementwise call per offset on
  whole (N, C, *out) views (`maximum`, `add`), which beats a reduction over short
  trailing axes; max pooling's backward recomputes the first maximum of each window
  (PyTorch's tie rule) and routes the gradient there with the same col2im.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

from graphgrad.ops.conv import out_size


def kernels(xp) -> dict[str, Callable]:
    """The convolution and pooling kernels on array module `xp` (see the module doc)."""
    as_strided = xp.lib.stride_tricks.as_strided

    def padded(x, padding, value=0):
        if not any(lo or hi for lo, hi in padding):
            return x
        shape = x.shape[:2] + tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[2:], padding))
        out = xp.full(shape, value, dtype=x.dtype)
        out[inner(x.shape, padding)] = x
        return out

    def inner(shape, padding):
        return (slice(None), slice(None)) + tuple(
            slice(lo, lo + s) for s, (lo, _) in zip(shape[2:], padding))

    def windows(xpad, kernel, stride, dilation, out):
        """The (N, C, *out, *kernel) view of a padded (N, C, *spatial) array."""
        st = xpad.strides
        sp = st[2:]
        return as_strided(xpad, xpad.shape[:2] + tuple(out) + tuple(kernel),
                          st[:2] + tuple(s * k for s, k in zip(sp, stride))
                          + tuple(s * d for s, d in zip(sp, dilation)))

    def out_shape(shape, kernel, stride, padding, dilation):
        return tuple(out_size(s, k, st, p, d) for s, k, st, p, d in
                     zip(shape[2:], kernel, stride, padding, dilation))

    def offsets(kernel):
        return itertools.product(*(range(k) for k in kernel))

    def disjoint(kernel, stride, dilation):
        return all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))

    def col2im(cols, shape, kernel, stride, padding, dilation):
        """Sum (N, C, *out, *kernel) window values back into an (N, C, *spatial) array."""
        full = shape[:2] + tuple(s + lo + hi for s, (lo, hi) in zip(shape[2:], padding))
        out = cols.shape[2:2 + len(kernel)]
        acc = xp.zeros(full, dtype=cols.dtype)
        if disjoint(kernel, stride, dilation):  # each position in at most one window
            windows(acc, kernel, stride, dilation, out)[...] = cols
        else:
            for k in offsets(kernel):
                acc[spots(k, out, stride, dilation)] += cols[(Ellipsis, *k)]
        return acc[inner(shape, padding)]

    def spots(k, out, stride, dilation):
        """The strided slice of the padded input that kernel offset k reads."""
        return (slice(None), slice(None)) + tuple(
            slice(ki * d, ki * d + s * (o - 1) + 1, s)
            for ki, o, s, d in zip(k, out, stride, dilation))

    def columns(x, w_shape, stride, padding, dilation):
        """im2col: (N * prod(out), C * prod(kernel)) rows, and the output's spatial shape."""
        kernel = w_shape[2:]
        out = out_shape(x.shape, kernel, stride, padding, dilation)
        win = windows(padded(x, padding), kernel, stride, dilation, out)
        nd = len(kernel)
        perm = (0,) + tuple(range(2, 2 + nd)) + (1,) + tuple(range(2 + nd, 2 + 2 * nd))
        rows = x.shape[0] * math.prod(out)
        return win.transpose(perm).reshape(rows, x.shape[1] * math.prod(kernel)), out

    def grad_rows(g):
        """An (N, O, *out) gradient as (N * prod(out), O) rows."""
        perm = (0,) + tuple(range(2, g.ndim)) + (1,)
        return g.transpose(perm).reshape(-1, g.shape[1])

    def conv(x, w, stride, padding, dilation, groups):
        cols, out = columns(x, w.shape, stride, padding, dilation)
        o = w.shape[0]
        if groups == 1:
            res = cols @ w.reshape(o, -1).T
        else:
            cg = cols.reshape(cols.shape[0], groups, -1).transpose(1, 0, 2)
            wg = w.reshape(groups, o // groups, -1).transpose(0, 2, 1)
            res = xp.matmul(cg, wg).transpose(1, 0, 2).reshape(cols.shape[0], o)
        res = res.reshape((x.shape[0],) + out + (o,))
        return xp.ascontiguousarray(xp.moveaxis(res, -1, 1))

    def conv_input_grad(g, w, stride, padding, dilation, groups, shape):
        rows = grad_rows(g)
        o, kernel = w.shape[0], w.shape[2:]
        if groups == 1:
            dcols = rows @ w.reshape(o, -1)
        else:
            rg = rows.reshape(rows.shape[0], groups, -1).transpose(1, 0, 2)
            dcols = xp.matmul(rg, w.reshape(groups, o // groups, -1))
            dcols = dcols.transpose(1, 0, 2).reshape(rows.shape[0], -1)
        out = g.shape[2:]
        nd = len(kernel)
        dcols = dcols.reshape((g.shape[0],) + out + (shape[1],) + tuple(kernel))
        perm = (0, 1 + nd) + tuple(range(1, 1 + nd)) + tuple(range(2 + nd, 2 + 2 * nd))
        dx = col2im(dcols.transpose(perm), tuple(shape), kernel, stride, padding, dilation)
        return xp.ascontiguousarray(dx)

    def conv_weight_grad(x, g, stride, padding, dilation, groups, shape):
        cols, _ = columns(x, shape, stride, padding, dilation)
        rows = grad_rows(g)
        if groups == 1:
            return (rows.T @ cols).reshape(shape)
        rg = rows.reshape(rows.shape[0], groups, -1).transpose(1, 2, 0)
        cg = cols.reshape(cols.shape[0], groups, -1).transpose(1, 0, 2)
        return xp.matmul(rg, cg).reshape(shape)

    # ------------------------------------------------------------------ pooling

    def lowest(dtype):
        return -xp.inf if xp.dtype(dtype).kind == "f" else xp.iinfo(dtype).min

    def pool_windows(x, kernel, stride, padding, dilation, fill=0):
        out = out_shape(x.shape, kernel, stride, padding, dilation)
        return windows(padded(x, padding, fill), kernel, stride, dilation, out), out

    def first_max(win, kernel):
        """Each window's maximum and the offset number of its first maximum (NaN wins)."""
        best, arg = None, None
        for i, k in enumerate(offsets(kernel)):
            v = win[(Ellipsis, *k)]
            if best is None:
                best, arg = v, xp.zeros(v.shape, dtype=xp.int32)
                continue
            better = (v > best) | (v != v)
            best = xp.where(better, v, best)
            arg = xp.where(better, xp.int32(i), arg)
        return best, arg

    def max_pool(x, kernel, stride, padding, dilation):
        win, _ = pool_windows(x, kernel, stride, padding, dilation, lowest(x.dtype))
        best = None
        for k in offsets(kernel):
            v = win[(Ellipsis, *k)]
            best = v.copy() if best is None else xp.maximum(best, v)
        return best

    def max_pool_grad(g, x, kernel, stride, padding, dilation):
        win, out = pool_windows(x, kernel, stride, padding, dilation, lowest(x.dtype))
        _, arg = first_max(win, kernel)
        cols = xp.zeros(g.shape + tuple(kernel), dtype=g.dtype)
        for i, k in enumerate(offsets(kernel)):
            cols[(Ellipsis, *k)] = xp.where(arg == i, g, g.dtype.type(0))
        return xp.ascontiguousarray(col2im(cols, x.shape, kernel, stride, padding, dilation))

    def max_pool_take(h, x, kernel, stride, padding, dilation):
        win, _ = pool_windows(x, kernel, stride, padding, dilation, lowest(x.dtype))
        _, arg = first_max(win, kernel)
        hwin, _ = pool_windows(h, kernel, stride, padding, dilation)
        out = xp.zeros(arg.shape, dtype=h.dtype)
        for i, k in enumerate(offsets(kernel)):
            out = xp.where(arg == i, hwin[(Ellipsis, *k)], out)
        return out

    def sum_pool(x, kernel, stride, padding):
        ones = (1,) * len(kernel)
        win, _ = pool_windows(x, kernel, stride, padding, ones)
        total = None
        for k in offsets(kernel):
            v = win[(Ellipsis, *k)]
            total = v.copy() if total is None else xp.add(total, v, out=total)
        return total

    def sum_pool_grad(g, kernel, stride, padding, shape):
        cols = xp.broadcast_to(g.reshape(g.shape + (1,) * len(kernel)),
                               g.shape + tuple(kernel))
        dx = col2im(cols, tuple(shape), kernel, stride, padding, (1,) * len(kernel))
        return xp.ascontiguousarray(dx)

    return dict(conv=conv, conv_input_grad=conv_input_grad, conv_weight_grad=conv_weight_grad,
                max_pool=max_pool, max_pool_grad=max_pool_grad, max_pool_take=max_pool_take,
                sum_pool=sum_pool, sum_pool_grad=sum_pool_grad)

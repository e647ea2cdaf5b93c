"""NumPy float64 references for the convolution and pooling ops, written from their
definitions with a plain loop over output positions (nothing shared with the kernels'
window views, GEMMs or col2im), for `gg_reference.REFERENCE`.
"""

from __future__ import annotations

import numpy as np


def _positions(x_shape, kernel, stride, padding, dilation):
    """(padded spatial shape, [(output position, slices of its window in the padded input)])."""
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(x_shape[2:], padding))
    out = tuple((p - d * (k - 1) - 1) // s + 1
                for p, k, s, d in zip(padded, kernel, stride, dilation))
    spots = [(pos, (slice(None), slice(None)) + tuple(
        slice(q * s, q * s + d * (k - 1) + 1, d)
        for q, k, s, d in zip(pos, kernel, stride, dilation))) for pos in np.ndindex(*out)]
    return padded, out, spots


def _pad(x, padding, value=0.0):
    return np.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in padding], constant_values=value)


def _crop(a, shape, padding):
    return a[(slice(None), slice(None)) + tuple(slice(lo, lo + s)
                                                 for s, (lo, _) in zip(shape[2:], padding))]


def conv(x, w, stride, padding, dilation, groups):
    xp = _pad(x, padding)
    _, out, spots = _positions(x.shape, w.shape[2:], stride, padding, dilation)
    og, cg, nd = w.shape[0] // groups, w.shape[1], w.ndim - 2
    res = np.zeros((x.shape[0], w.shape[0]) + out)
    axes = list(range(1, nd + 2))
    for pos, win in spots:
        patch = xp[win]
        for gi in range(groups):
            res[(slice(None), slice(gi * og, (gi + 1) * og)) + pos] = np.tensordot(
                patch[:, gi * cg:(gi + 1) * cg], w[gi * og:(gi + 1) * og], (axes, axes))
    return res


def conv_input_grad(g, w, stride, padding, dilation, groups, shape):
    padded, _, spots = _positions(shape, w.shape[2:], stride, padding, dilation)
    dx = np.zeros(tuple(shape[:2]) + padded)
    og, cg = w.shape[0] // groups, w.shape[1]
    for pos, win in spots:
        for gi in range(groups):
            part = np.tensordot(g[(slice(None), slice(gi * og, (gi + 1) * og)) + pos],
                                w[gi * og:(gi + 1) * og], (1, 0))
            dx[win][:, gi * cg:(gi + 1) * cg] += part
    return _crop(dx, shape, padding)


def conv_weight_grad(x, g, stride, padding, dilation, groups, shape):
    xp = _pad(x, padding)
    _, _, spots = _positions(x.shape, shape[2:], stride, padding, dilation)
    dw = np.zeros(shape)
    og, cg = shape[0] // groups, shape[1]
    for pos, win in spots:
        for gi in range(groups):
            dw[gi * og:(gi + 1) * og] += np.tensordot(
                g[(slice(None), slice(gi * og, (gi + 1) * og)) + pos],
                xp[win][:, gi * cg:(gi + 1) * cg], (0, 0))
    return dw


def _argmax_spots(x, kernel, stride, padding, dilation):
    """For each output position: its window's slices and each (n, c)'s first maximum
    (flat index into the window)."""
    xp = _pad(x, padding, -np.inf)
    _, out, spots = _positions(x.shape, kernel, stride, padding, dilation)
    n, c = x.shape[:2]
    return out, [(pos, win, np.argmax(xp[win].reshape(n, c, -1), axis=2)) for pos, win in spots]


def max_pool(x, kernel, stride, padding, dilation):
    xp = _pad(x, padding, -np.inf)
    _, out, spots = _positions(x.shape, kernel, stride, padding, dilation)
    res = np.zeros(x.shape[:2] + out)
    for pos, win in spots:
        res[(slice(None), slice(None)) + pos] = xp[win].reshape(x.shape[:2] + (-1,)).max(2)
    return res


def max_pool_grad(g, x, kernel, stride, padding, dilation):
    n, c = x.shape[:2]
    dx = np.zeros(_pad(x, padding).shape)
    _, found = _argmax_spots(x, kernel, stride, padding, dilation)
    for pos, win, arg in found:
        view = dx[win].reshape(n, c, -1).copy()
        view[np.arange(n)[:, None], np.arange(c)[None, :], arg] += \
            g[(slice(None), slice(None)) + pos]
        dx[win] = view.reshape(dx[win].shape)
    return _crop(dx, x.shape, padding)


def max_pool_take(h, x, kernel, stride, padding, dilation):
    n, c = x.shape[:2]
    hp = _pad(h, padding)
    out, found = _argmax_spots(x, kernel, stride, padding, dilation)
    res = np.zeros((n, c) + out)
    for pos, win, arg in found:
        res[(slice(None), slice(None)) + pos] = np.take_along_axis(
            hp[win].reshape(n, c, -1), arg[..., None], 2)[..., 0]
    return res


def sum_pool(x, kernel, stride, padding):
    ones = (1,) * len(kernel)
    xp = _pad(x, padding)
    _, out, spots = _positions(x.shape, kernel, stride, padding, ones)
    res = np.zeros(x.shape[:2] + out)
    for pos, win in spots:
        res[(slice(None), slice(None)) + pos] = xp[win].reshape(x.shape[:2] + (-1,)).sum(2)
    return res


def sum_pool_grad(g, kernel, stride, padding, shape):
    ones = (1,) * len(kernel)
    padded, _, spots = _positions(shape, kernel, stride, padding, ones)
    dx = np.zeros(tuple(shape[:2]) + padded)
    for pos, win in spots:
        dx[win] += g[(slice(None), slice(None)) + pos].reshape(g.shape[:2] + (1,) * len(kernel))
    return _crop(dx, shape, padding)


REFERENCE = {
    "conv": conv, "conv_input_grad": conv_input_grad, "conv_weight_grad": conv_weight_grad,
    "max_pool": max_pool, "max_pool_grad": max_pool_grad, "max_pool_take": max_pool_take,
    "sum_pool": sum_pool, "sum_pool_grad": sum_pool_grad,
}

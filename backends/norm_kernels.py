"""Kernels for `layer_norm` and `gelu` and their backward ops, written once against the
array module `xp` (NumPy or CuPy).

LayerNorm works on x viewed as (rows, D). Row sums are matrix-vector products with a
vector of ones, the weight or 1/std (one BLAS GEMV, much faster than NumPy's reduction
of short rows): the backward's row means mean(g w) and mean(g w x_hat) and the weight
gradient all come from g and g (x - mean) by GEMVs. Per-row and per-column factors
(1/std times the weight, say) are materialized by a GEMM of inner size 2 rather than
broadcast, which NumPy does at half the speed of a full pass (`_outer`).

GELU runs in chunks of `chunk` elements (NumPy: cache-sized pieces, so each of its
ten in-place passes reads what the previous one left in cache; CuPy: the whole
array, None). Each chunk is computed in scratch buffers allocated once per call, and
only the last pass writes the output. The kernels take `out=`, the buffer a fused
NumPy program hands them (gelu is elementwise and fuses with the bias added before
it); it may be one of the operands.
"""

from __future__ import annotations

import math
from collections.abc import Callable

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
CUBIC = 0.044715


def _rows(xp, a, dims: int):
    """`a` as a C-contiguous (rows, D) matrix (a free reshape when already C-ordered)."""
    D = math.prod(a.shape[a.ndim - dims:])
    return xp.ascontiguousarray(a).reshape(-1, D) if D else a.reshape(-1, 0)


def _statistics(xp, x2, eps: float):
    """(x - mean, 1/std) of each row of the (rows, D) matrix x2 (biased variance)."""
    D, dt = x2.shape[1], x2.dtype.type
    mean = x2 @ xp.full(D, 1.0 / D, dtype=x2.dtype)
    xc = x2 - mean[:, None]
    var = xp.einsum("ij,ij->i", xc, xc)
    var *= dt(1.0 / D)
    var += dt(eps)
    rstd = xp.sqrt(var, out=var)
    return xc, xp.divide(dt(1), rstd, out=rstd)


def _outer(xp, col, row, out=None):
    """col[:, None] * row[None, :] as a GEMM of inner size 2 (the second term zero:
    every entry is the one product, exactly). NumPy broadcasts a per-row or per-column
    factor over a matrix at about half the speed of a full elementwise pass, so a
    factor used in a product with a full matrix is cheaper materialized this way."""
    left = xp.zeros((col.shape[0], 2), dtype=col.dtype)
    left[:, 0] = col
    right = xp.zeros((2, row.shape[0]), dtype=row.dtype)
    right[0] = row
    return xp.matmul(left, right, out=out)


def make_layer_norm(xp) -> tuple[Callable, Callable]:
    def layer_norm(x, *affine, dims, eps):
        x2 = _rows(xp, x, dims)
        if x2.size == 0:
            return xp.zeros(x.shape, dtype=x.dtype)
        y, rstd = _statistics(xp, x2, eps)  # y = x - mean, then scaled in place
        if affine:
            y *= _outer(xp, rstd, affine[0].reshape(-1))  # rstd_i w_j
        else:
            y *= rstd[:, None]
        if len(affine) > 1:
            y += affine[1].reshape(-1)
        return y.reshape(x.shape)

    def layer_norm_backward(g, x, *weight, dims, eps, bias):
        """dx = rstd (g w - mean(g w)) - rstd^3 xc mean(g w xc), xc = x - mean:
        g (rstd w) + xc P + Q with per-row P and Q from GEMVs."""
        x2, g2 = _rows(xp, x, dims), _rows(xp, g, dims)
        N, D = x2.shape
        size = x2.size + D * (len(weight) + int(bias))
        if x2.size == 0:
            return xp.zeros(size, dtype=x.dtype)
        flat = xp.empty(size, dtype=x.dtype)  # (every part is written below)
        dt = x.dtype.type
        dx = flat[:x2.size].reshape(N, D)
        xc, rstd = _statistics(xp, x2, eps)
        w = weight[0].reshape(-1) if weight else xp.ones(D, dtype=x.dtype)
        gxc = xp.multiply(g2, xc, out=dx)      # dx's memory as scratch
        if weight:
            flat[x2.size:x2.size + D] = rstd @ gxc   # dweight = sum_i g x_hat
        c1 = gxc @ w                            # sum_j g w xc, per row
        c2 = g2 @ w                             # sum_j g w, per row
        if bias:
            flat[x2.size + D:] = xp.ones(N, dtype=x.dtype) @ g2
        p = rstd * rstd
        p *= rstd
        p *= c1
        p *= dt(-1.0 / D)                       # P = -rstd^3 c1 / D
        c2 *= rstd
        c2 *= dt(-1.0 / D)                      # Q = -rstd c2 / D
        _outer(xp, rstd, w, out=dx)
        dx *= g2
        xc *= _outer(xp, p, xp.ones(D, dtype=x.dtype))
        dx += xc
        dx += _outer(xp, c2, xp.ones(D, dtype=x.dtype))
        return flat

    return layer_norm, layer_norm_backward


def _chunked(xp, chunk: int | None, body: Callable, *arrays, out=None, temps: int = 0):
    """body(out_piece, *pieces, scratch) over flat chunks of `arrays` (broadcast to one
    shape) into `out` when given, else into a new array of that shape; `scratch` is a
    list of `temps` chunk-sized buffers, allocated once. A body reads each element of its
    inputs before it writes that element of its output (its last pass writes it), so
    `out` may be one of the inputs; one overlapping them otherwise is written aside and
    copied in."""
    if len({a.shape for a in arrays}) > 1:
        arrays = xp.broadcast_arrays(*arrays)
    shape, dtype = arrays[0].shape, arrays[0].dtype
    target = out
    if target is None or not target.flags.c_contiguous or \
            any(a is not target and xp.may_share_memory(target, a) for a in arrays):
        target = xp.empty(shape, dtype=dtype)
    flats = [xp.ascontiguousarray(a).reshape(-1) for a in arrays]
    flat_out, n = target.reshape(-1), target.size
    step = max(n if chunk is None else min(chunk, n), 1)
    buffers = [xp.empty(step, dtype=dtype) for _ in range(temps)]
    for start in range(0, n, step):
        stop = min(start + step, n)
        scratch = buffers if stop - start == step else [b[:stop - start] for b in buffers]
        body(flat_out[start:stop], *(f[start:stop] for f in flats), scratch)
    if out is not None and target is not out:
        out[...] = target
        return out
    return target


def make_gelu(xp, erf: Callable, chunk: int | None) -> tuple[Callable, Callable]:
    def tanh_forward(y, x, scratch):
        dt, (t,) = x.dtype.type, scratch
        xp.multiply(x, x, out=t)
        t *= dt(SQRT_2_OVER_PI * CUBIC)
        t += dt(SQRT_2_OVER_PI)
        t *= x                                  # u = c (x + k x^3)
        xp.tanh(t, out=t)
        t *= dt(0.5)
        t += dt(0.5)
        xp.multiply(t, x, out=y)

    def exact_forward(y, x, scratch):
        dt, (t,) = x.dtype.type, scratch
        xp.multiply(x, dt(1.0 / math.sqrt(2.0)), out=t)
        t[...] = erf(t)
        t *= dt(0.5)
        t += dt(0.5)
        xp.multiply(t, x, out=y)

    def tanh_derivative(d, g, x, scratch):
        """d = g ((1 + t) / 2 + (1 - t^2) a), t = tanh(u), a = x u' / 2, u' = c (1 + 3 k
        x^2), computed as g (1 + t) (a (1 - t) + 1/2): one pass fewer."""
        dt, (a, t, s) = x.dtype.type, scratch
        xp.multiply(x, x, out=a)
        xp.multiply(a, dt(SQRT_2_OVER_PI * CUBIC), out=t)
        t += dt(SQRT_2_OVER_PI)
        t *= x
        xp.tanh(t, out=t)                       # t = tanh(u)
        a *= dt(1.5 * SQRT_2_OVER_PI * CUBIC)
        a += dt(0.5 * SQRT_2_OVER_PI)
        a *= x                                  # a = x u' / 2
        xp.multiply(a, t, out=s)
        a -= s
        a += dt(0.5)
        t += dt(1)
        a *= t
        xp.multiply(a, g, out=d)

    def exact_derivative(d, g, x, scratch):
        """d = g (Phi(x) + x phi(x))."""
        dt, (e, p) = x.dtype.type, scratch
        xp.multiply(x, x, out=e)
        e *= dt(-0.5)
        xp.exp(e, out=e)
        e *= dt(1.0 / math.sqrt(2.0 * math.pi))
        e *= x
        xp.multiply(x, dt(1.0 / math.sqrt(2.0)), out=p)
        p[...] = erf(p)
        p *= dt(0.5)
        p += dt(0.5)
        e += p
        xp.multiply(e, g, out=d)

    # `out`: the fused programs of the NumPy backend hand in the buffer to write
    def gelu(x, approximate, out=None):
        body = tanh_forward if approximate == "tanh" else exact_forward
        return _chunked(xp, chunk, body, x, out=out, temps=1)

    def gelu_backward(g, x, approximate, out=None):
        if approximate == "tanh":
            return _chunked(xp, chunk, tanh_derivative, g, x, out=out, temps=3)
        return _chunked(xp, chunk, exact_derivative, g, x, out=out, temps=2)

    return gelu, gelu_backward


def kernels(xp, erf: Callable, chunk: int | None = None) -> dict[str, Callable]:
    """The layer_norm and gelu kernels for array module `xp`, by op name; `erf` is the
    backend's erf kernel, `chunk` the elementwise chunk length (None: whole arrays)."""
    ln, ln_b = make_layer_norm(xp)
    gelu, gelu_b = make_gelu(xp, erf, chunk)
    return {"layer_norm": ln, "layer_norm_backward": ln_b,
            "gelu": gelu, "gelu_backward": gelu_b}

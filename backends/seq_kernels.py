"""Kernels for sequence models, written once against the array module `xp` (NumPy or CuPy).

The recurrent ops (`rnn_seq`, `gru_seq`, `lstm_seq`) run a whole layer over a whole
sequence in one kernel, looping over time inside it, as cuDNN does: the graph holds one
node per layer whatever the length, so tracing and compiling cost O(1) in T. Each
loop step does only what must be sequential (one small GEMM with the hidden weights
and a few elementwise updates); the input projection, and in the backward pass the
recomputed gates and every weight gradient, are one large GEMM over all steps.

Backward kernels recompute the gates from the saved outputs (the hidden sequence
gives every step's previous state, so the recomputation is two GEMMs, not a loop)
and return all gradients packed in one flat array, in the order of the forward op's
operands (x, h0 [, c0], w_ih, w_hh, b_ih, b_hh): an op has one output.

Only functions CuPy also has are used, so `kernels(cupy)` serves the CuPy backend.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .workspace import Workspace


def _steps(T: int, reverse: bool) -> range:
    return range(T - 1, -1, -1) if reverse else range(T)


def _previous(xp, seq, first, reverse: bool):
    """Each step's previous state: `first` at the first step processed, else the state of
    the step processed before (seq is (T, B, H), time-major)."""
    if reverse:
        return xp.concatenate([seq[1:], first[None]], axis=0)
    return xp.concatenate([first[None], seq[:-1]], axis=0)


def _projection(xp, x, w, b, out=None):
    """x @ w.T + b over all steps at once: (T, B, I) -> (T, B, G), into `out` if given."""
    T, B, n = x.shape
    res = xp.matmul(x.reshape(T * B, n), w.T,
                    out=None if out is None else out.reshape(T * B, w.shape[0]))
    res += b
    return res.reshape(T, B, w.shape[0])


def _previous_into(buf, seq, first, reverse: bool):
    """_previous written into the scratch array `buf` (no concatenation)."""
    if reverse:
        buf[:-1] = seq[1:]
        buf[-1] = first
    else:
        buf[0] = first
        buf[1:] = seq[:-1]
    return buf


def _packed(xp, dtype, *shapes):
    """A flat array of the total size of `shapes`, and its pieces as views of those
    shapes: kernels write each gradient straight into its place (no concatenation)."""
    sizes = [math.prod(s) for s in shapes]
    flat = xp.empty(sum(sizes), dtype=dtype)
    views, start = [], 0
    for shape, size in zip(shapes, sizes):
        views.append(flat[start:start + size].reshape(shape))
        start += size
    return flat, views


def _weight_grads(xp, dgi, dgh, x, hp):
    """(dw_ih, dw_hh, db_ih, db_hh) from the gate gradients over all steps: two GEMMs."""
    T, B, G = dgi.shape
    dgi2, dgh2 = dgi.reshape(T * B, G), dgh.reshape(T * B, G)
    return (dgi2.T @ x.reshape(T * B, -1), dgh2.T @ hp.reshape(T * B, -1),
            dgi2.sum(axis=0), dgh2.sum(axis=0))


def _pack(xp, *grads):
    return xp.concatenate([g.reshape(-1) for g in grads])


# ---------------------------------------------------------------------- Elman RNN

def _activate(xp, pre, nonlinearity: str):
    if nonlinearity == "tanh":
        return xp.tanh(pre, out=pre)
    return xp.maximum(pre, 0, out=pre)


def make_rnn(xp) -> tuple[Callable, Callable]:
    def rnn_seq(x, h0, w_ih, w_hh, b_ih, b_hh, *, nonlinearity="tanh", reverse=False):
        gi = _projection(xp, x, w_ih, b_ih)
        hs = xp.empty(gi.shape, dtype=x.dtype)
        h, whT = h0, xp.ascontiguousarray(w_hh.T)  # contiguous: a faster per-step GEMM
        for t in _steps(x.shape[0], reverse):
            pre = h @ whT
            pre += gi[t]
            pre += b_hh
            h = hs[t] = _activate(xp, pre, nonlinearity)
        return hs

    def rnn_seq_backward(g, x, h0, w_ih, w_hh, b_ih, b_hh, hs, *, nonlinearity="tanh",
                         reverse=False):
        hp = _previous(xp, hs, h0, reverse)
        slope = 1 - hs * hs if nonlinearity == "tanh" else (hs > 0).astype(hs.dtype)
        dpre = xp.empty(hs.shape, dtype=hs.dtype)
        dh = xp.zeros(h0.shape, dtype=hs.dtype)
        for t in _steps(x.shape[0], not reverse):
            dh += g[t]
            xp.multiply(dh, slope[t], out=dpre[t])
            dh = dpre[t] @ w_hh
        T, B, H = hs.shape
        dx = (dpre.reshape(T * B, H) @ w_ih).reshape(x.shape)
        return _pack(xp, dx, dh, *_weight_grads(xp, dpre, dpre, x, hp))

    return rnn_seq, rnn_seq_backward


# ---------------------------------------------------------------------- GRU

def make_gru(xp) -> tuple[Callable, Callable]:
    ws = Workspace(xp)

    def gru_seq(x, h0, w_ih, w_hh, b_ih, b_hh, *, reverse=False):
        """Returns (5, T, B, H): h, then the workspace the backward reads (r, z, n and
        W_hn h + b_hn), written in place during the loop: no recomputation later.

        sigmoid(a) = 0.5 tanh(a / 2) + 0.5, and the halving is folded into the r and z
        rows of the weights and biases (exact: a power of two), so r and z take one add,
        one tanh and one multiply-add per step, both gates in one call each."""
        T, B, _ = x.shape
        H = h0.shape[1]
        half = x.dtype.type(0.5)
        w_in, bias = _gru_input_weights(xp, w_ih, b_ih, b_hh, half)
        gi = _projection(xp, x, w_in, bias, ws.get("gru.gi", (T, B, 3 * H), x.dtype))
        # a C-ordered copy (never w_hh's memory: it is scaled below); OpenBLAS runs the
        # small per-step GEMM ~2x faster on it than on the transposed view
        whT = w_hh.T.copy(order="C")
        whT[:, :2 * H] *= half
        gh, b_hn = ws.get("gru.gh", (B, 3 * H), x.dtype), b_hh[2 * H:]
        out = xp.empty((5, T, B, H), dtype=x.dtype)
        # r and z of step t as one (B, 2, H) view of out[1:3, t]
        rz_all = out[1:3].transpose(1, 2, 0, 3)
        h = h0
        for t in _steps(T, reverse):
            xp.matmul(h, whT, out=gh)
            rz = xp.add(gi[t, :, :2 * H].reshape(B, 2, H), gh[:, :2 * H].reshape(B, 2, H),
                        out=rz_all[t])
            xp.tanh(rz, out=rz)
            rz *= half
            rz += half
            r, z, n = out[1, t], out[2, t], out[3, t]
            ghn = xp.add(gh[:, 2 * H:], b_hn, out=out[4, t])
            xp.multiply(r, ghn, out=n)
            n += gi[t, :, 2 * H:]
            xp.tanh(n, out=n)
            h = xp.subtract(h, n, out=out[0, t])  # h' = n + z (h - n)
            h *= z
            h += n
        return out

    def gru_seq_backward(g, x, h0, w_ih, w_hh, b_ih, b_hh, out, *, reverse=False):
        _, T, B, H = out.shape
        hp = _previous_into(ws.get("gru.hp", (T, B, H), out.dtype), out[0], h0, reverse)
        kh, kn = _gru_factors(xp, ws, out, hp)
        # g: the whole output's cotangent, or (T, B, H): the hidden states' alone
        g_h = g if g.ndim == 3 else g[0]
        extra = _gru_extra(xp, out, g) if g.ndim == 4 and g[1:].any() else None
        dgh = ws.get("gru.dgh", (T, B, 3, H), out.dtype)
        dhs = ws.get("gru.dhs", (T, B, H), out.dtype)  # each step's total dh
        packed, (dx, dh, dw_ih, dw_hh, db_ih, db_hh) = _packed(
            xp, out.dtype, x.shape, h0.shape, w_ih.shape, w_hh.shape, b_ih.shape, b_hh.shape)
        dh[...] = 0
        zdh = ws.get("gru.zdh", (B, H), out.dtype)
        z = out[2]
        for t in _steps(T, not reverse):
            cur = xp.add(dh, g_h[t], out=dhs[t])
            xp.multiply(cur[:, None, :], kh[t], out=dgh[t])
            if extra is not None:
                dgh[t] += extra[1][t]
            xp.matmul(dgh[t].reshape(B, 3 * H), w_hh, out=dh)
            dh += xp.multiply(cur, z[t], out=zdh)
        # d(gi) equals d(gh) for r and z (read from dgh, not copied); for n it is
        # dh * kn (d(gh_n) has a factor r)
        dgi_n = xp.multiply(dhs, kn, out=ws.get("gru.dgin", (T, B, H), out.dtype))
        if extra is not None:  # (r and z's share came with dgh)
            dgi_n += extra[0]
        dgh2 = dgh.reshape(T * B, 3 * H)
        _gru_input_grads(xp, (dx, dw_ih, db_ih), dgh2[:, :2 * H],
                         dgi_n.reshape(T * B, H), x, w_ih)
        rows = T * B
        xp.matmul(dgh2.T, hp.reshape(rows, -1), out=dw_hh)
        xp.sum(dgh2, axis=0, out=db_hh)
        return packed

    return gru_seq, gru_seq_backward


def _gru_input_grads(xp, outs, d_rz, d_n, x, w_ih):
    """(dx, dw_ih, db_ih) written into `outs` from the input projection's gate gradients
    given in two parts, r and z rows (a strided view of d(gh)) and n rows: GEMMs over
    each part, so the parts are never copied into one array."""
    dx, dw_ih, db_ih = outs
    H2, rows = d_rz.shape[1], d_rz.shape[0]
    x2, dx2 = x.reshape(rows, -1), dx.reshape(rows, -1)
    xp.matmul(d_rz, w_ih[:H2], out=dx2)
    dx2 += d_n @ w_ih[H2:]
    xp.matmul(d_rz.T, x2, out=dw_ih[:H2])
    xp.matmul(d_n.T, x2, out=dw_ih[H2:])
    xp.sum(d_rz, axis=0, out=db_ih[:H2])
    xp.sum(d_n, axis=0, out=db_ih[H2:])


def _gru_input_weights(xp, w_ih, b_ih, b_hh, half):
    """w_ih and the bias of the input projection (b_ih, plus b_hh's r and z rows, which
    add to the same pre-activations), their r and z rows halved (see gru_seq)."""
    H2 = 2 * (w_ih.shape[0] // 3)
    w = w_ih.copy()
    w[:H2] *= half
    bias = b_ih.copy()
    bias[:H2] += b_hh[:H2]
    bias[:H2] *= half
    return w, bias


def _gru_factors(xp, ws, out, hp):
    """The gate gradients are linear in each step's dh: d(gh) = dh * kh gate by gate
    (r, z, n), and d(gi_n) = dh * kn; computed over all steps at once, in place."""
    r, z, n, ghn = out[1], out[2], out[3], out[4]
    T, B, H = r.shape
    kh = ws.get("gru.kh", (T, B, 3, H), out.dtype)
    kn = ws.get("gru.kn", (T, B, H), out.dtype)
    kr, kz, khn = kh[:, :, 0], kh[:, :, 1], kh[:, :, 2]
    omz = xp.subtract(1, z, out=khn)          # 1 - z, kept in khn for now
    xp.multiply(n, n, out=kn)                 # kn = (1 - z)(1 - n^2): d n_pre / d h'
    xp.subtract(1, kn, out=kn)
    kn *= omz
    xp.subtract(hp, n, out=kz)                # kz = (h - n) z (1 - z)
    kz *= z
    kz *= omz
    xp.subtract(1, r, out=kr)                 # kr = kn ghn r (1 - r)
    kr *= r
    kr *= ghn
    kr *= kn
    xp.multiply(kn, r, out=khn)               # gh_n enters n_pre times r
    return kh, kn


def _gru_extra(xp, out, g):
    """(ei_n, eh): the gate gradients that come from cotangents of the workspace outputs
    (r, z, n, W_hn h + b_hn) rather than from h, for gi's n rows and for all of gh (gi's
    r and z rows get gh's); zero in a model, which uses h only."""
    r, z, n, ghn = out[1], out[2], out[3], out[4]
    en = g[3] * (1 - n * n)
    dr = r * (1 - r)
    e_r = en * ghn * dr + g[1] * dr
    e_z = g[2] * z * (1 - z)
    return en, xp.stack([e_r, e_z, en * r + g[4]], axis=2)


# ---------------------------------------------------------------------- LSTM

def _sigmoid_to(xp, src, dst):
    """dst <- sigmoid(src), as 0.5 tanh(src / 2) + 0.5."""
    half = src.dtype.type(0.5)
    xp.multiply(src, half, out=dst)
    xp.tanh(dst, out=dst)
    dst *= half
    dst += half
    return dst


def make_lstm(xp) -> tuple[Callable, Callable]:
    def lstm_seq(x, h0, c0, w_ih, w_hh, b_ih, b_hh, *, reverse=False):
        """Returns (6, T, B, H): h, c, then the gates i, f, g, o the backward reads."""
        gi = _projection(xp, x, w_ih, b_ih)
        gi += b_hh
        H = h0.shape[1]
        out = xp.empty((6,) + x.shape[:2] + (H,), dtype=x.dtype)
        h, c, whT = h0, c0, xp.ascontiguousarray(w_hh.T)  # contiguous: faster GEMMs
        for t in _steps(x.shape[0], reverse):
            gates = h @ whT
            gates += gi[t]
            i, f, g, o = (out[k, t] for k in range(2, 6))
            _sigmoid_to(xp, gates[:, :H], i)
            _sigmoid_to(xp, gates[:, H:2 * H], f)
            xp.tanh(gates[:, 2 * H:3 * H], out=g)
            _sigmoid_to(xp, gates[:, 3 * H:], o)
            c = xp.multiply(f, c, out=out[1, t])
            c += i * g
            h = xp.multiply(o, xp.tanh(c), out=out[0, t])
        return out

    def lstm_seq_backward(g, x, h0, c0, w_ih, w_hh, b_ih, b_hh, out, *, reverse=False):
        _, T, B, H = out.shape
        hp, cp = _previous(xp, out[0], h0, reverse), _previous(xp, out[1], c0, reverse)
        kc, ko, kdc, f = _lstm_factors(xp, out, cp)
        # g: the whole output's cotangent, or (T, B, H): the hidden states' alone
        g_h, g_c = (g, None) if g.ndim == 3 else (g[0], g[1])
        extra = _lstm_extra(xp, out, g) if g.ndim == 4 and g[2:].any() else None
        dgates = xp.empty((T, B, 4, H), dtype=out.dtype)
        dh = xp.zeros((B, H), dtype=out.dtype)
        dc = xp.zeros((B, H), dtype=out.dtype)
        for t in _steps(T, not reverse):
            dh += g_h[t]
            if g_c is not None:
                dc += g_c[t]
            dc += dh * kdc[t]
            xp.multiply(dc[:, None, :], kc[t], out=dgates[t, :, :3])
            xp.multiply(dh, ko[t], out=dgates[t, :, 3])
            if extra is not None:
                dgates[t] += extra[t]
            dh = dgates[t].reshape(B, 4 * H) @ w_hh
            dc *= f[t]
        dgates = dgates.reshape(T, B, 4 * H)
        dx = (dgates.reshape(T * B, 4 * H) @ w_ih).reshape(x.shape)
        return _pack(xp, dx, dh, dc, *_weight_grads(xp, dgates, dgates, x, hp))

    return lstm_seq, lstm_seq_backward


def _lstm_factors(xp, out, cp):
    """Factors over all steps: d(i, f, g pre-activations) = dc * kc, d(o pre) = dh * ko,
    and dc's share of dh is dh * kdc."""
    i, f, g, o = out[2], out[3], out[4], out[5]
    tc = xp.tanh(out[1])
    kc = xp.stack([g * i * (1 - i), cp * f * (1 - f), i * (1 - g * g)], axis=2)
    return kc, tc * o * (1 - o), o * (1 - tc * tc), f


def _lstm_extra(xp, out, g):
    """The pre-activation gradients from cotangents of the saved gates (zero in a model,
    which reads h and c only)."""
    i, f, gg, o = out[2], out[3], out[4], out[5]
    return xp.stack([g[2] * i * (1 - i), g[3] * f * (1 - f), g[4] * (1 - gg * gg),
                     g[5] * o * (1 - o)], axis=2)


# ---------------------------------------------------------------------- the table

def _owned(out):
    """A result in its own memory: einsum returns a view of its operand for a pure
    transpose or diagonal ('ij->ji'), and kernels never return views of their inputs."""
    return out if out.flags.owndata else out.copy()


def kernels(xp) -> dict[str, Callable]:
    """Every sequence kernel for array module `xp`, by op name (one line per backend)."""
    rnn, rnn_b = make_rnn(xp)
    gru, gru_b = make_gru(xp)
    lstm, lstm_b = make_lstm(xp)
    return {
        "rnn_seq": rnn, "rnn_seq_backward": rnn_b,
        "gru_seq": gru, "gru_seq_backward": gru_b,
        "lstm_seq": lstm, "lstm_seq_backward": lstm_b,
        "cumsum": _cumsum,
        "argsort": lambda x, axis, descending: _argsort(xp, x, axis, descending),
        "einsum": lambda *xs, equation: _owned(xp.einsum(equation, *xs)),
    }


def _cumsum(x, axis):
    """Running sums; float32 and float16 accumulate in float64, as PyTorch's CPU cumsum
    does (a float32 running sum of 65,536 values near 1 drifted by 6e-6 of its value)."""
    if x.dtype.kind == "f" and x.dtype.itemsize < 8:
        return x.cumsum(axis=axis, dtype="float64").astype(x.dtype)
    return x.cumsum(axis=axis)


def _argsort(xp, x, axis, descending):
    """A stable argsort (ties keep their order, as torch.sort(stable=True)); descending
    sorts the negated keys, which keeps ties in order too (bools and unsigned ints are
    widened first so negation is exact). NaN sorts as the largest value, as in torch."""
    if x.dtype.kind in "bu":
        x = x.astype("int64")
    keys = -x if descending else x
    order = xp.argsort(keys, axis=axis, kind="stable").astype("int64")
    nan = xp.isnan(x) if descending and x.dtype.kind == "f" and x.size else None
    if nan is not None and bool(nan.any()):
        # NaN is the largest value to torch: first when descending, not last. The NaNs
        # (last, in their order) rotate to the front of each row.
        n = x.shape[axis]
        nans = nan.sum(axis=axis, keepdims=True)
        shape = [1] * x.ndim
        shape[axis] = n
        pos = (xp.arange(n).reshape(shape) + (n - nans)) % n
        order = xp.take_along_axis(order, pos, axis=axis)
    return order

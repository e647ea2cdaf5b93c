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

from collections.abc import Callable


def _sigmoid(xp, x):
    # 0.5 tanh(x / 2) + 0.5: no overflow for large |x|, three ufuncs.
    out = xp.multiply(x, x.dtype.type(0.5))
    xp.tanh(out, out=out)
    out *= x.dtype.type(0.5)
    out += x.dtype.type(0.5)
    return out


def _steps(T: int, reverse: bool) -> range:
    return range(T - 1, -1, -1) if reverse else range(T)


def _previous(xp, seq, first, reverse: bool):
    """Each step's previous state: `first` at the first step processed, else the state of
    the step processed before (seq is (T, B, H), time-major)."""
    if reverse:
        return xp.concatenate([seq[1:], first[None]], axis=0)
    return xp.concatenate([first[None], seq[:-1]], axis=0)


def _projection(x, w, b):
    """x @ w.T + b over all steps at once: (T, B, I) -> (T, B, G)."""
    T, B, n = x.shape
    return (x.reshape(T * B, n) @ w.T + b).reshape(T, B, w.shape[0])


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
        gi = _projection(x, w_ih, b_ih)
        hs = xp.empty(gi.shape, dtype=x.dtype)
        h, whT = h0, w_hh.T
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
    def gru_seq(x, h0, w_ih, w_hh, b_ih, b_hh, *, reverse=False):
        gi = _projection(x, w_ih, b_ih)
        H = h0.shape[1]
        hs = xp.empty(x.shape[:2] + (H,), dtype=x.dtype)
        h, whT = h0, w_hh.T
        for t in _steps(x.shape[0], reverse):
            gh = h @ whT
            gh += b_hh
            gt = gi[t]
            rz = _sigmoid(xp, xp.add(gt[:, :2 * H], gh[:, :2 * H]))
            n = xp.multiply(rz[:, :H], gh[:, 2 * H:])
            n += gt[:, 2 * H:]
            xp.tanh(n, out=n)
            hn = xp.subtract(h, n, out=hs[t])  # h' = n + z (h - n)
            hn *= rz[:, H:]
            hn += n
            h = hn
        return hs

    def gru_seq_backward(g, x, h0, w_ih, w_hh, b_ih, b_hh, hs, *, reverse=False):
        T, B, H = hs.shape
        hp = _previous(xp, hs, h0, reverse)
        gi, gh = _projection(x, w_ih, b_ih), _projection(hp, w_hh, b_hh)
        rz = _sigmoid(xp, gi[..., :2 * H] + gh[..., :2 * H])
        r, z = rz[..., :H], rz[..., H:]
        n = xp.tanh(gi[..., 2 * H:] + r * gh[..., 2 * H:])
        # Every factor that does not depend on dh, computed over all steps at once:
        # d(gi) = dh * ki and d(gh) = dh * kh, gate by gate (r, z, n).
        a = (1 - z) * (1 - n * n)
        ki = xp.concatenate([a * gh[..., 2 * H:] * r * (1 - r), (hp - n) * z * (1 - z), a],
                            axis=-1).reshape(T, B, 3, H)
        kh = ki.copy()
        kh[:, :, 2] *= r
        dgi = xp.empty((T, B, 3, H), dtype=hs.dtype)
        dgh = xp.empty((T, B, 3, H), dtype=hs.dtype)
        dh = xp.zeros((B, H), dtype=hs.dtype)
        w = w_hh.reshape(3, H, H)
        for t in _steps(T, not reverse):
            dh += g[t]
            xp.multiply(dh[:, None, :], ki[t], out=dgi[t])
            xp.multiply(dh[:, None, :], kh[t], out=dgh[t])
            dh_prev = dgh[t].reshape(B, 3 * H) @ w.reshape(3 * H, H)
            dh_prev += dh * z[t]
            dh = dh_prev
        dgi, dgh = dgi.reshape(T, B, 3 * H), dgh.reshape(T, B, 3 * H)
        dx = (dgi.reshape(T * B, 3 * H) @ w_ih).reshape(x.shape)
        return _pack(xp, dx, dh, *_weight_grads(xp, dgi, dgh, x, hp))

    return gru_seq, gru_seq_backward


# ---------------------------------------------------------------------- LSTM

def make_lstm(xp) -> tuple[Callable, Callable]:
    def lstm_seq(x, h0, c0, w_ih, w_hh, b_ih, b_hh, *, reverse=False):
        """Returns (2, T, B, H): the hidden states, then the cell states."""
        gi = _projection(x, w_ih, b_ih)
        gi += b_hh
        H = h0.shape[1]
        out = xp.empty((2,) + x.shape[:2] + (H,), dtype=x.dtype)
        h, c, whT = h0, c0, w_hh.T
        for t in _steps(x.shape[0], reverse):
            gates = h @ whT
            gates += gi[t]
            ifo = _sigmoid(xp, gates[:, :2 * H])
            cand = xp.tanh(gates[:, 2 * H:3 * H])
            o = _sigmoid(xp, gates[:, 3 * H:])
            c = xp.multiply(ifo[:, H:], c, out=out[1, t])
            c += ifo[:, :H] * cand
            h = xp.multiply(o, xp.tanh(c), out=out[0, t])
        return out

    def lstm_seq_backward(g, x, h0, c0, w_ih, w_hh, b_ih, b_hh, out, *, reverse=False):
        _, T, B, H = out.shape
        hs, cs = out[0], out[1]
        hp, cp = _previous(xp, hs, h0, reverse), _previous(xp, cs, c0, reverse)
        gates = _projection(x, w_ih, b_ih)
        gates += _projection(hp, w_hh, b_hh)
        i, f = _sigmoid(xp, gates[..., :H]), _sigmoid(xp, gates[..., H:2 * H])
        cand, o = xp.tanh(gates[..., 2 * H:3 * H]), _sigmoid(xp, gates[..., 3 * H:])
        tc = xp.tanh(cs)
        # dc-driven factors for gates i, f, g; dh-driven ones for o and for dc itself.
        kc = xp.concatenate([cand * i * (1 - i), cp * f * (1 - f), i * (1 - cand * cand)],
                            axis=-1).reshape(T, B, 3, H)
        ko, kdc = tc * o * (1 - o), o * (1 - tc * tc)
        dgates = xp.empty((T, B, 4, H), dtype=out.dtype)
        dh = xp.zeros((B, H), dtype=out.dtype)
        dc = xp.zeros((B, H), dtype=out.dtype)
        for t in _steps(T, not reverse):
            dh += g[0, t]
            dc += g[1, t]
            dc += dh * kdc[t]
            xp.multiply(dc[:, None, :], kc[t], out=dgates[t, :, :3])
            xp.multiply(dh, ko[t], out=dgates[t, :, 3])
            dh = dgates[t].reshape(B, 4 * H) @ w_hh
            dc *= f[t]
        dgates = dgates.reshape(T, B, 4 * H)
        dx = (dgates.reshape(T * B, 4 * H) @ w_ih).reshape(x.shape)
        return _pack(xp, dx, dh, dc, *_weight_grads(xp, dgates, dgates, x, hp))

    return lstm_seq, lstm_seq_backward


# ---------------------------------------------------------------------- the table

def kernels(xp) -> dict[str, Callable]:
    """Every sequence kernel for array module `xp`, by op name (one line per backend)."""
    rnn, rnn_b = make_rnn(xp)
    gru, gru_b = make_gru(xp)
    lstm, lstm_b = make_lstm(xp)
    return {
        "rnn_seq": rnn, "rnn_seq_backward": rnn_b,
        "gru_seq": gru, "gru_seq_backward": gru_b,
        "lstm_seq": lstm, "lstm_seq_backward": lstm_b,
        "cumsum": lambda x, axis: xp.cumsum(x, axis=axis),
        "argsort": lambda x, axis, descending: _argsort(xp, x, axis, descending),
        "einsum": lambda *xs, equation: xp.einsum(equation, *xs),
    }


def _argsort(xp, x, axis, descending):
    """A stable argsort (ties keep their order, as torch.sort(stable=True)); descending
    sorts the negated keys, which keeps ties in order too (bools and unsigned ints are
    widened first so negation is exact)."""
    if x.dtype.kind in "bu":
        x = x.astype("int64")
    keys = -x if descending else x
    return xp.argsort(keys, axis=axis, kind="stable").astype("int64")

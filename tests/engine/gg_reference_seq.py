"""Float64 references for the sequence ops (recurrent, argsort, cumsum, einsum).

The recurrent references are PyTorch float64 loops written from torch.nn's documented
formulas (gate order r, z, n for the GRU, i, f, g, o for the LSTM); their backward
references are torch autograd through those loops, packed in the op's order. The rest
are NumPy.
"""

from __future__ import annotations

import numpy as np
import torch


def _loop(cell, x, states, reverse):
    out = [None] * x.shape[0]
    order = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    for t in order:
        states = cell(x[t], *states)
        out[t] = states
    return [torch.stack([s[k] for s in out]) for k in range(len(states))]


def _rnn_cell(w_ih, w_hh, b_ih, b_hh, nonlinearity):
    act = torch.tanh if nonlinearity == "tanh" else torch.relu
    return lambda x, h: (act(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh),)


def _gru_cell(w_ih, w_hh, b_ih, b_hh):
    """State (h, r, z, n, W_hn h + b_hn): the op also returns the gates it saves."""
    def cell(x, h, *_):
        ir, iz, in_ = (x @ w_ih.T + b_ih).chunk(3, -1)
        hr, hz, hn = (h @ w_hh.T + b_hh).chunk(3, -1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(in_ + r * hn)
        return (1 - z) * n + z * h, r, z, n, hn
    return cell


def _lstm_cell(w_ih, w_hh, b_ih, b_hh):
    """State (h, c, i, f, g, o): the op also returns the gates it saves."""
    def cell(x, h, c, *_):
        i, f, g, o = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, -1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        return o * torch.tanh(c), c, i, f, g, o
    return cell


def _forward(name, tensors, nonlinearity="tanh", reverse=False):
    n_states = 2 if name == "lstm_seq" else 1
    x, states, weights = tensors[0], tensors[1:1 + n_states], tensors[1 + n_states:]
    if name == "rnn_seq":
        cell = _rnn_cell(*weights, nonlinearity)
    else:
        cell = (_gru_cell if name == "gru_seq" else _lstm_cell)(*weights)
    if name != "rnn_seq":  # the saved gates' initial values are unused
        states = tuple(states) + (states[0],) * 4
    outs = _loop(cell, x, states, reverse)
    return outs[0] if len(outs) == 1 else torch.stack(outs)


def _seq(name):
    def ref(*arrays, **attrs):
        return _forward(name, [torch.tensor(a, dtype=torch.float64) for a in arrays],
                        **attrs).numpy()
    return ref


def _seq_backward(name):
    def ref(g, *arrays, **attrs):
        tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True)
                   for a in arrays[:-1]]
        out = _forward(name, tensors, **attrs)
        grads = torch.autograd.grad(out, tensors, torch.tensor(g, dtype=torch.float64))
        return np.concatenate([gr.numpy().reshape(-1) for gr in grads])
    return ref


def _argsort(x, axis, descending):
    """A stable sort by two keys (lexsort): NaN or not first, as torch orders NaN as the
    largest value, then the value."""
    x = np.moveaxis(x, axis, -1)
    x = x.astype(np.int64) if x.dtype.kind in "bu" else x
    nan = np.isnan(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
    order = np.lexsort((-x if descending else x, ~nan if descending else nan), axis=-1)
    return np.moveaxis(order, -1, axis)


SEQ_REFERENCE = {
    **{name: _seq(name) for name in ("rnn_seq", "gru_seq", "lstm_seq")},
    **{name + "_backward": _seq_backward(name) for name in ("rnn_seq", "gru_seq", "lstm_seq")},
    "argsort": _argsort,
    "cumsum": lambda x, axis: np.cumsum(x, axis=axis),
    "einsum": lambda *xs, equation: np.einsum(equation, *xs),
}

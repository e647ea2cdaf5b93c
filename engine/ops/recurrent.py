"""Whole-sequence recurrent ops: `rnn_seq`, `gru_seq`, `lstm_seq`, and their backward ops.

One op runs one layer in one direction over a whole time-major sequence (x: (T, B, I),
PyTorch's gate layouts and formulas), looping over time inside the kernel as cuDNN
does, so a traced model holds one node per layer whatever T is: tracing and compiling
cost O(1) in the sequence length. An op has one output: `gru_seq` returns (5, T, B, H),
the hidden states then the gates its backward needs (r, z, n, W_hn h + b_hn);
`lstm_seq` returns (6, T, B, H), the hidden states, the cell states, then the gates
i, f, g, o. The gates are saved rather than recomputed (their cotangents are honoured
too, so each op is an ordinary function); `rnn_seq` needs nothing beyond its output.
Each backward op returns every gradient packed in one flat array that the VJP unpacks.

The JVP rules run an unrolled composition of Tensor ops (`_reference_*`) under a fresh
forward-mode level: forward mode is rare on recurrent models and this keeps one set
of hand-written derivative kernels. Second derivatives through the backward ops raise.
"""

from __future__ import annotations

import numpy as np

from .. import forward_ad
from ..creation import tensor
from ..errors import AutogradError, DtypeError, ShapeError
from ..tensor import Tensor
from . import dual
from .common import Sample, rand_array
from .elementwise import relu, sigmoid, tanh
from .linalg import matmul
from .registry import RESULT, Op, saves_none
from .shape import index_op, reshape, stack

GATES = {"rnn_seq": 1, "gru_seq": 3, "lstm_seq": 4}
#: rnn_seq: the hidden states; gru_seq: h, then the workspace r, z, n, W_hn h + b_hn;
#: lstm_seq: h, the cell states c, then the workspace i, f, g, o.
OUTPUT_SHAPE = {"rnn_seq": lambda T, B, H: (T, B, H), "gru_seq": lambda T, B, H: (5, T, B, H),
                "lstm_seq": lambda T, B, H: (6, T, B, H)}


def _check(name: str, x, states, w_ih, w_hh, b_ih, b_hh) -> tuple[int, int, int, int]:
    """(T, B, I, H) after checking every operand's shape and dtype against x's."""
    if x.ndim != 3:
        raise ShapeError(f"{name}: input must be (T, B, input_size), got {x.shape}", op=name)
    T, B, n_in = x.shape
    G = GATES[name]
    H = w_hh.shape[-1] if w_hh.ndim == 2 else -1
    expected = [(B, H)] * len(states) + [(G * H, n_in), (G * H, H), (G * H,), (G * H,)]
    names = ["h0", "c0"][:len(states)] + ["w_ih", "w_hh", "b_ih", "b_hh"]
    for label, t, shape in zip(names, (*states, w_ih, w_hh, b_ih, b_hh), expected):
        if t.shape != shape:
            raise ShapeError(f"{name}: {label} has shape {t.shape}, expected {shape} for input "
                             f"{x.shape} and hidden size {H}", op=name)
        if t.dtype != x.dtype or x.dtype.kind != "f":
            raise DtypeError(f"{name}: {label} is {t.dtype}, input is {x.dtype}; recurrent "
                             "operands must share one float dtype", op=name)
    return T, B, n_in, H


def _unpack(flat: Tensor, shapes) -> tuple[Tensor, ...]:
    """Split a packed flat gradient into tensors of `shapes` (slices: views)."""
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape, dtype=np.int64))
        piece = index_op(flat, spec=(("slice", start, start + size, None),))
        out.append(reshape(piece, shape))
        start += size
    return tuple(out)


def _no_second_order(name):
    def rule(*args, **kwargs):
        raise AutogradError(f"{name}: derivatives of a recurrent op's gradient (second "
                            "order) are not supported", op=name)
    return rule


def _make(name: str, n_states: int, reference):
    op, back = Op(name), Op(name + "_backward")

    def infer(x, *rest, **attrs):
        states, weights = rest[:n_states], rest[n_states:]
        T, B, _, H = _check(name, x, states, *weights)
        return OUTPUT_SHAPE[name](T, B, H), x.dtype

    def vjp(g, out, *inputs, **attrs):
        flat = back(g, *inputs, out, **attrs)
        return _unpack(flat, [t.shape for t in inputs])

    def jvp(tangents, out, *inputs, **attrs):
        with forward_ad.new_level() as level:
            duals = [dual.make_dual(level, x, t) for x, t in zip(inputs, tangents)]
            result = reference(*duals, **attrs)
            return level.tangent(result)

    op.infer, op.vjp, op.jvp = infer, vjp, jvp
    # the backward kernel reads every input and the saved gates (the result)
    op.saves = lambda need: (*range(len(need)), RESULT)
    back.saves = saves_none  # no second order
    def back_infer(g, *inputs, **attrs):
        out = inputs[-1]
        if tuple(g.shape) not in (tuple(out.shape), tuple(out.shape[-3:])):
            raise ShapeError(f"{back.name}: the cotangent has shape {tuple(g.shape)}; expected "
                             f"{name}'s output shape {tuple(out.shape)}, or the hidden "
                             f"states' {tuple(out.shape[-3:])} alone", op=back.name)
        return (sum(int(np.prod(t.shape, dtype=np.int64)) for t in inputs[:-1]),), g.dtype

    back.infer = back_infer
    back.vjp, back.jvp = _no_second_order(back.name), _no_second_order(back.name)
    return op, back


# ---------------------------------------------------------------------- references

def _step_order(T: int, reverse: bool):
    return range(T - 1, -1, -1) if reverse else range(T)


def _linear(x, w, b):
    return matmul(x, w.T) + b


def _collect(states, reverse: bool):
    return stack(states[::-1] if reverse else states, 0)


def _reference_rnn(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh", reverse=False):
    act = tanh if nonlinearity == "tanh" else relu
    h, hs = h0, []
    for t in _step_order(x.shape[0], reverse):
        h = act(_linear(x[t], w_ih, b_ih) + _linear(h, w_hh, b_hh))
        hs.append(h)
    return _collect(hs, reverse)


def _reference_gru(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    H = h0.shape[1]
    h, seqs = h0, [[] for _ in range(5)]
    for t in _step_order(x.shape[0], reverse):
        gi, gh = _linear(x[t], w_ih, b_ih), _linear(h, w_hh, b_hh)
        r = sigmoid(gi[:, :H] + gh[:, :H])
        z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
        for seq, v in zip(seqs, (h, r, z, n, gh[:, 2 * H:])):
            seq.append(v)
    return stack([_collect(seq, reverse) for seq in seqs], 0)


def _reference_lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    H = h0.shape[1]
    h, c, seqs = h0, c0, [[] for _ in range(6)]
    for t in _step_order(x.shape[0], reverse):
        gates = _linear(x[t], w_ih, b_ih) + _linear(h, w_hh, b_hh)
        i, f = sigmoid(gates[:, :H]), sigmoid(gates[:, H:2 * H])
        g, o = tanh(gates[:, 2 * H:3 * H]), sigmoid(gates[:, 3 * H:])
        c = f * c + i * g
        h = o * tanh(c)
        for seq, v in zip(seqs, (h, c, i, f, g, o)):
            seq.append(v)
    return stack([_collect(seq, reverse) for seq in seqs], 0)


rnn_seq_op, rnn_seq_backward_op = _make("rnn_seq", 1, _reference_rnn)
gru_seq_op, gru_seq_backward_op = _make("gru_seq", 1, _reference_gru)
lstm_seq_op, lstm_seq_backward_op = _make("lstm_seq", 2, _reference_lstm)
rnn_seq_op.document(
    "one Elman RNN layer over a time-major sequence (PyTorch's nn.RNN): h_t = act(x_t "
    "w_ih^T + b_ih + h_prev w_hh^T + b_hh), h_prev being h0 at the first step processed; "
    "steps t = 0 .. T-1, or T-1 .. 0 when reverse. x is (T, B, I), h0 (B, H), w_ih (H, I), "
    "w_hh (H, H), b_ih and b_hh (H,), all of one float dtype",
    operands=("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"),
    result="(T, B, H): h_t at index t (time order, also when reverse); x's dtype",
    nonlinearity="str: 'tanh' or 'relu', the activation; may be absent (then 'tanh')",
    reverse="bool: run from the last step to the first (a bidirectional layer's second "
            "direction); may be absent (then False)")
gru_seq_op.document(
    "one GRU layer over a time-major sequence (PyTorch's nn.GRU; gate rows of w_ih, w_hh, "
    "b_ih, b_hh in the order r, z, n): r = sigmoid(x_t W_ir^T + b_ir + h W_hr^T + b_hr), z "
    "likewise, n = tanh(x_t W_in^T + b_in + r (h W_hn^T + b_hn)), h_t = (1 - z) n + z h, h "
    "being the previous step's state (h0 first). x is (T, B, I), h0 (B, H), w_ih (3H, I), "
    "w_hh (3H, H), biases (3H,), one float dtype",
    operands=("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"),
    result="(5, T, B, H): [0] the states h_t, then the workspace its backward reads, [1] r, "
           "[2] z, [3] n, [4] h W_hn^T + b_hn, each at step t's index; x's dtype",
    reverse=rnn_seq_op.attr_docs["reverse"])
lstm_seq_op.document(
    "one LSTM layer over a time-major sequence (PyTorch's nn.LSTM; gate rows in the order "
    "i, f, g, o): with a = x_t w_ih^T + b_ih + h w_hh^T + b_hh, i, f, o = sigmoid of their "
    "rows, g = tanh of its rows, c_t = f c + i g, h_t = o tanh(c_t), (h, c) being the "
    "previous step's (h0, c0 first). x is (T, B, I), h0 and c0 (B, H), w_ih (4H, I), w_hh "
    "(4H, H), biases (4H,), one float dtype",
    operands=("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"),
    result="(6, T, B, H): [0] the states h_t, [1] the cell states c_t, then the gates [2] i, "
           "[3] f, [4] g, [5] o, each at step t's index; x's dtype",
    reverse=rnn_seq_op.attr_docs["reverse"])
_PACKED = ("the VJP of {op}: g is the cotangent of {op}'s whole output (of its shape, "
           "every part honoured) or, of shape (T, B, H), of the hidden states alone (the "
           "rest zero: what simplification leaves where a model reads only output[0]), "
           "out is {op}'s output for these operands; returns the "
           "gradients of {grads}, each flattened in C order, concatenated in that order. "
           "Its own VJP and JVP raise (no second derivatives)")
rnn_seq_backward_op.document(
    _PACKED.format(op="rnn_seq", grads="x, h0, w_ih, w_hh, b_ih, b_hh"),
    operands=("g", "x", "h0", "w_ih", "w_hh", "b_ih", "b_hh", "out"),
    result="(total size of x, h0, w_ih, w_hh, b_ih, b_hh,): 1-d; g's dtype",
    **rnn_seq_op.attr_docs)
gru_seq_backward_op.document(
    _PACKED.format(op="gru_seq", grads="x, h0, w_ih, w_hh, b_ih, b_hh"),
    operands=("g", "x", "h0", "w_ih", "w_hh", "b_ih", "b_hh", "out"),
    result="(total size of x, h0, w_ih, w_hh, b_ih, b_hh,): 1-d; g's dtype",
    **gru_seq_op.attr_docs)
lstm_seq_backward_op.document(
    _PACKED.format(op="lstm_seq", grads="x, h0, c0, w_ih, w_hh, b_ih, b_hh"),
    operands=("g", "x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh", "out"),
    result="(total size of x, h0, c0, w_ih, w_hh, b_ih, b_hh,): 1-d; g's dtype",
    **lstm_seq_op.attr_docs)


# ---------------------------------------------------------------------- samples

def _operands(name: str, T=3, B=2, n_in=3, H=4, seed=0) -> tuple:
    G, n_states = GATES[name], 2 if name == "lstm_seq" else 1
    shapes = [(T, B, n_in)] + [(B, H)] * n_states + [(G * H, n_in), (G * H, H), (G * H,),
                                                      (G * H,)]
    return tuple(rand_array(s, -0.8, 0.8, seed + i) for i, s in enumerate(shapes))


def _forward_samples(name: str, attr_sets):
    def samples():
        n = len(_operands(name))
        return [Sample(_operands(name, seed=k), dict(attrs), diff=tuple(range(n)))
                for k, attrs in enumerate(attr_sets)] + \
               [Sample(_operands(name, T=1, B=1, seed=5), {}, diff=tuple(range(n)),
                       note="one step")]
    return samples


def _backward_samples(name: str):
    def samples():
        ops = _operands(name)
        out = _REFERENCE_FWD[name](*ops)
        g = rand_array(out.shape, seed=9)
        return [Sample((g, *ops, out), {}, diff=())]
    return samples


def _numpy_forward(reference):
    """The reference run on NumPy float64 values (for the backward ops' samples)."""
    def run(*arrays, **attrs):
        return reference(*[tensor(a, dtype="float64") for a in arrays], **attrs).numpy()
    return run


_REFERENCE_FWD = {"rnn_seq": _numpy_forward(_reference_rnn),
                  "gru_seq": _numpy_forward(_reference_gru),
                  "lstm_seq": _numpy_forward(_reference_lstm)}

rnn_seq_op.samples = _forward_samples("rnn_seq", [
    {"nonlinearity": "tanh", "reverse": False}, {"nonlinearity": "relu", "reverse": True}])
gru_seq_op.samples = _forward_samples("gru_seq", [{"reverse": False}, {"reverse": True}])
lstm_seq_op.samples = _forward_samples("lstm_seq", [{"reverse": False}, {"reverse": True}])
rnn_seq_backward_op.samples = _backward_samples("rnn_seq")
gru_seq_backward_op.samples = _backward_samples("gru_seq")
lstm_seq_backward_op.samples = _backward_samples("lstm_seq")

REFERENCES = {"rnn_seq": _reference_rnn, "gru_seq": _reference_gru,
              "lstm_seq": _reference_lstm}

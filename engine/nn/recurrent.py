"""Recurrent layers: RNN, GRU, LSTM and their cells, with PyTorch's names and semantics.

Each layer and direction is one whole-sequence op (`ops/recurrent.py`), so a compiled
model over a sequence of length T traces one node per layer, not T steps. Parameters
are named as PyTorch names them (`weight_ih_l0`, `bias_hh_l1_reverse`, ...), with its
gate order (GRU: r, z, n; LSTM: i, f, g, o) and its initialization, U(-1/sqrt(H),
1/sqrt(H)) for every weight and bias, so `load_state_dict` carries weights across.
"""

from __future__ import annotations

import math

from .. import dtypes
from ..creation import empty, zeros
from ..errors import ArgumentError, ShapeError, UnsupportedError
from ..ops.recurrent import GATES, gru_seq_op, lstm_seq_op, rnn_seq_op
from ..ops.shape import cat, stack
from ..source import user_source
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

_OPS = {"rnn_seq": rnn_seq_op, "gru_seq": gru_seq_op, "lstm_seq": lstm_seq_op}


def _run(kind: str, x: Tensor, states: tuple, weights: tuple, nonlinearity: str,
         reverse: bool) -> Tensor:
    """One layer, one direction, over the whole time-major sequence."""
    attrs = {"reverse": reverse}
    if kind == "rnn_seq":
        attrs["nonlinearity"] = nonlinearity
    return _OPS[kind](x, *states, *weights, **attrs)


class RNNBase(Module):
    """The shared machinery of RNN, GRU and LSTM (PyTorch's `nn.RNNBase`)."""

    kind = "rnn_seq"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, *, nonlinearity: str = "tanh",
                 proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        if proj_size:
            raise UnsupportedError("LSTM proj_size is not supported by graphgrad",
                                   source=user_source())
        if nonlinearity not in ("tanh", "relu"):
            raise ArgumentError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                                "'relu'.", source=user_source())
        if not 0 <= dropout <= 1:
            raise ArgumentError(f"dropout should be a number in range [0, 1], got {dropout}",
                                source=user_source())
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.bias, self.batch_first = int(num_layers), bool(bias), batch_first
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        self.nonlinearity = nonlinearity
        dt = dtypes.as_dtype(dtype) if dtype is not None else None
        G, H, D = GATES[self.kind], self.hidden_size, 2 if bidirectional else 1
        for layer in range(self.num_layers):
            n_in = self.input_size if layer == 0 else H * D
            for suffix in ("", "_reverse")[:D]:
                shapes = {"weight_ih": (G * H, n_in), "weight_hh": (G * H, H)}
                if bias:
                    shapes.update(bias_ih=(G * H,), bias_hh=(G * H,))
                for name, shape in shapes.items():
                    self.register_parameter(f"{name}_l{layer}{suffix}",
                                            Parameter(empty(*shape, dtype=dt, device=device)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self, layer: int, suffix: str, x: Tensor) -> tuple:
        w_ih = getattr(self, f"weight_ih_l{layer}{suffix}")
        w_hh = getattr(self, f"weight_hh_l{layer}{suffix}")
        if self.bias:
            return (w_ih, w_hh, getattr(self, f"bias_ih_l{layer}{suffix}"),
                    getattr(self, f"bias_hh_l{layer}{suffix}"))
        no_bias = zeros(w_ih.shape[0], dtype=x.dtype)
        return w_ih, w_hh, no_bias, no_bias

    def _initial(self, hx, batch: int, x: Tensor, n_states: int) -> list:
        D = 2 if self.bidirectional else 1
        shape = (self.num_layers * D, batch, self.hidden_size)
        if hx is None:
            return [zeros(*shape, dtype=x.dtype)] * n_states
        states = list(hx) if n_states == 2 else [hx]
        for s in states:
            if s.shape != shape:
                raise ShapeError(f"{type(self).__name__}: expected hidden state of shape "
                                 f"{shape}, got {s.shape}", source=user_source())
        return states

    def _layers(self, x: Tensor, states: list) -> tuple[Tensor, list]:
        """Run every layer and direction; returns the output and each state's finals."""
        D = 2 if self.bidirectional else 1
        finals = [[] for _ in states]
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:D]):
                init_states = tuple(s[layer * D + d] for s in states)
                out = _run(self.kind, x, init_states, self._weights(layer, suffix, x),
                           self.nonlinearity, reverse=bool(d))
                last = 0 if d else -1
                if self.kind == "lstm_seq":  # out is (6, T, B, H): h, c, gates
                    finals[1].append(out[1, last])
                out = out[0] if self.kind != "rnn_seq" else out  # GRU: (5, T, B, H)
                finals[0].append(out[last])
                outs.append(out)
            x = outs[0] if D == 1 else cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, [stack(f, 0) for f in finals]

    def forward(self, input: Tensor, hx=None):
        n_states = 2 if self.kind == "lstm_seq" else 1
        batched = input.ndim == 3
        if input.ndim not in (2, 3):
            raise ShapeError(f"{type(self).__name__}: expected a 2-D (unbatched) or 3-D input, "
                             f"got shape {input.shape}", source=user_source())
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[0] == 0:
            raise ShapeError(f"{type(self).__name__}: a sequence of length 0 (input of shape "
                             f"{input.shape}, batch_first={self.batch_first})",
                             source=user_source())
        if hx is not None and not batched:
            hx = tuple(h.unsqueeze(1) for h in hx) if n_states == 2 else hx.unsqueeze(1)
        out, finals = self._layers(x, self._initial(hx, x.shape[1], x, n_states))
        if batched and self.batch_first:
            out = out.transpose(0, 1)
        if not batched:
            out, finals = out.squeeze(1), [f.squeeze(1) for f in finals]
        return out, (tuple(finals) if n_states == 2 else finals[0])

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


class RNN(RNNBase):
    """Elman RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu). The arguments
    in PyTorch's order, `nonlinearity` fourth (positional calls port unchanged)."""

    kind = "rnn_seq"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, nonlinearity=nonlinearity, device=device, dtype=dtype)


class GRU(RNNBase):
    """Gated recurrent unit, PyTorch's formulation (r applied to W_hn h + b_hn)."""

    kind = "gru_seq"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)


class LSTM(RNNBase):
    """Long short-term memory; returns (output, (h_n, c_n))."""

    kind = "lstm_seq"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size=proj_size, device=device, dtype=dtype)


class RNNCellBase(Module):
    """One step of a recurrent layer: the whole-sequence op over a sequence of one."""

    kind = "rnn_seq"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *,
                 nonlinearity: str = "tanh", device=None, dtype=None):
        super().__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ArgumentError(f"Unknown nonlinearity: {nonlinearity}", source=user_source())
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bias
        self.nonlinearity = nonlinearity
        dt = dtypes.as_dtype(dtype) if dtype is not None else None
        G, H = GATES[self.kind], self.hidden_size
        self.weight_ih = Parameter(empty(G * H, self.input_size, dtype=dt, device=device))
        self.weight_hh = Parameter(empty(G * H, H, dtype=dt, device=device))
        if bias:
            self.bias_ih = Parameter(empty(G * H, dtype=dt, device=device))
            self.bias_hh = Parameter(empty(G * H, dtype=dt, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters

    def _step(self, x: Tensor, states: tuple) -> Tensor:
        b_ih, b_hh = self.bias_ih, self.bias_hh
        if b_ih is None:
            b_ih = b_hh = zeros(self.weight_ih.shape[0], dtype=x.dtype)
        return _run(self.kind, x.unsqueeze(0), states,
                    (self.weight_ih, self.weight_hh, b_ih, b_hh), self.nonlinearity, False)

    def _states(self, input: Tensor, hx, n: int) -> tuple[Tensor, tuple, bool]:
        if input.ndim not in (1, 2):
            raise ShapeError(f"{type(self).__name__}: expected a 1-D or 2-D input, got shape "
                             f"{input.shape}", source=user_source())
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        if hx is None:
            zero = zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
            return x, (zero,) * n, batched
        hx = tuple(hx) if n == 2 else (hx,)
        return x, hx if batched else tuple(h.unsqueeze(0) for h in hx), batched


class RNNCell(RNNCellBase):
    kind = "rnn_seq"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, nonlinearity=nonlinearity,
                         device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, states, batched = self._states(input, hx, 1)
        h = self._step(x, states)[0]
        return h if batched else h.squeeze(0)


class GRUCell(RNNCellBase):
    kind = "gru_seq"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, states, batched = self._states(input, hx, 1)
        h = self._step(x, states)[0, 0]
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    kind = "lstm_seq"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx=None) -> tuple[Tensor, Tensor]:
        x, states, batched = self._states(input, hx, 2)
        out = self._step(x, states)
        h, c = out[0, 0], out[1, 0]
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))

"""Recurrent layers (RNN, GRU, LSTM and their cells) against PyTorch 2.13.

Oracle: torch.nn's layers loaded with the same weights (`load_state_dict` from ours, so
the parameter names and shapes are checked too) and fed the same inputs; outputs,
final states, input gradients and parameter gradients must agree in float32 (rtol
1e-4), eagerly and inside `gg.compile`. Also: the compiled trace is O(1) in the
sequence length (one op per layer and direction).
"""

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn

RTOL, ATOL = 1e-4, 1e-5


def _to_torch(module, torch_cls, *args, **kwargs):
    ref = torch_cls(*args, **kwargs)
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                         for k, v in module.state_dict().items()})
    return ref


def _flat(outs):
    if isinstance(outs, (tuple, list)):
        return [t for o in outs for t in _flat(o)]
    return [outs]


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def _compare(module, ref, inputs, compiled=False):
    """Forward and backward (loss = sum of every output times fixed weights) vs torch."""
    ours = [gg.tensor(a, requires_grad=True) if a is not None else None for a in inputs]
    theirs = [torch.tensor(a, requires_grad=True) if a is not None else None for a in inputs]

    def step(*xs):
        module.zero_grad()
        outs = _flat(module(*_pack(xs)))
        loss = sum((o * gg.tensor(np.cos(np.arange(o.numel())).reshape(o.shape)
                                  .astype(np.float32))).sum() for o in outs)
        loss.backward()
        return outs, [x.grad for x in xs if x is not None]

    fn = gg.compile(step) if compiled else step
    outs, grads = fn(*[x for x in ours if x is not None])
    routs = _flat(ref(*_pack(theirs)))
    rloss = sum((o * torch.tensor(np.cos(np.arange(o.numel())).reshape(o.shape)
                                  .astype(np.float32))).sum() for o in routs)
    rloss.backward()
    for o, r in zip(outs, routs):
        _close(o.numpy(), r.detach().numpy())
    for g, t in zip(grads, [t for t in theirs if t is not None]):
        _close(g.numpy(), t.grad.numpy())
    rparams = dict(ref.named_parameters())
    for name, p in module.named_parameters():
        _close(p.grad.numpy(), rparams[name].grad.numpy())


def _pack(xs):
    """(x,) or (x, h) or (x, (h, c)) from the flat argument list."""
    xs = list(xs)
    if len(xs) == 3:
        return xs[0], (xs[1], xs[2])
    return tuple(xs)


def _data(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


LAYERS = [("RNN", {}), ("RNN", {"nonlinearity": "relu", "num_layers": 2}),
          ("GRU", {"num_layers": 2, "bidirectional": True}),
          ("GRU", {"batch_first": True, "bias": False}),
          ("LSTM", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
          ("LSTM", {})]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name, kw", LAYERS, ids=lambda v: str(v))
def test_layer_matches_torch(name, kw, compiled):
    gg.manual_seed(0)
    module = getattr(nn, name)(3, 5, **kw)
    ref = _to_torch(module, getattr(torch.nn, name), 3, 5, **kw)
    T, B = 4, 2
    x = _data(B, T, 3) if kw.get("batch_first") else _data(T, B, 3)
    _compare(module, ref, [x], compiled)


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
def test_layer_with_initial_state(name):
    gg.manual_seed(1)
    kw = {"num_layers": 2, "bidirectional": True}
    module = getattr(nn, name)(3, 4, **kw)
    ref = _to_torch(module, getattr(torch.nn, name), 3, 4, **kw)
    states = [_data(4, 2, 4, seed=1)] + ([_data(4, 2, 4, seed=2)] if name == "LSTM" else [])
    _compare(module, ref, [_data(5, 2, 3)] + states)


def test_unbatched_input():
    gg.manual_seed(2)
    module = nn.GRU(3, 4)
    ref = _to_torch(module, torch.nn.GRU, 3, 4)
    _compare(module, ref, [_data(5, 3)])


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", ["RNNCell", "GRUCell", "LSTMCell"])
def test_cell_matches_torch(name, compiled):
    gg.manual_seed(3)
    module = getattr(nn, name)(3, 4)
    ref = _to_torch(module, getattr(torch.nn, name), 3, 4)
    states = [_data(2, 4, seed=1)] + ([_data(2, 4, seed=2)] if name == "LSTMCell" else [])
    _compare(module, ref, [_data(2, 3)] + states, compiled)


def test_parameter_names_and_init_bounds():
    module = nn.LSTM(3, 16, num_layers=2, bidirectional=True)
    expected = torch.nn.LSTM(3, 16, num_layers=2, bidirectional=True).state_dict()
    ours = module.state_dict()
    assert list(ours) == list(expected)
    for k, v in ours.items():
        assert tuple(v.shape) == tuple(expected[k].shape)
        assert np.abs(v.numpy()).max() <= 0.25 + 1e-7  # U(-1/sqrt(16), 1/sqrt(16))


def test_trace_is_constant_in_sequence_length():
    model = nn.GRU(4, 8, num_layers=2)

    def count(T):
        def step(x):
            model.zero_grad()
            loss = model(x)[0].sum()
            loss.backward()
            return loss
        step = gg.compile(step)
        step(gg.randn(T, 2, 4))
        return len(step.last.graph)

    small, large = count(3), count(40)
    assert small == large < 60


def test_dropout_between_layers_only_in_training():
    gg.manual_seed(4)
    module = nn.LSTM(3, 5, num_layers=2, dropout=0.5)
    ref = _to_torch(module, torch.nn.LSTM, 3, 5, num_layers=2, dropout=0.5)
    x = _data(4, 2, 3)
    module.eval()
    ref.eval()
    _close(module(gg.tensor(x))[0].numpy(), ref(torch.tensor(x))[0].detach().numpy())
    module.train()
    a, b = module(gg.tensor(x))[0].numpy(), module(gg.tensor(x))[0].numpy()
    assert not np.allclose(a, b)  # a fresh mask each call between the two layers
    single = nn.GRU(3, 5, dropout=0.0)
    assert np.allclose(single(gg.tensor(x))[0].numpy(), single(gg.tensor(x))[0].numpy())


def test_errors_in_user_terms():
    with pytest.raises(gg.ShapeError, match="hidden state of shape"):
        nn.GRU(3, 4)(gg.randn(5, 2, 3), gg.randn(1, 3, 4))
    with pytest.raises(gg.ShapeError, match="w_ih has shape"):
        nn.GRU(3, 4)(gg.randn(5, 2, 7))
    with pytest.raises(NotImplementedError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=2)


@pytest.mark.parametrize("name, args", [
    ("RNN", (3, 4, 2, "relu", False, True)),        # nonlinearity is RNN's fourth argument
    ("RNN", (3, 4, 1, "tanh", False)),
    ("GRU", (3, 4, 2, False, True, 0.0, True)),
    ("LSTM", (3, 4, 1, True, True, 0.0, True)),
    ("RNNCell", (3, 4, False, "relu")),
    ("GRUCell", (3, 4, False)),
])
def test_positional_arguments_mean_what_they_mean_in_torch(name, args):
    """A positional call ported from PyTorch builds the same layer: same state_dict
    keys, and the same numbers from the same weights."""
    gg.manual_seed(4)
    module = getattr(nn, name)(*args)
    ref = _to_torch(module, getattr(torch.nn, name), *args)  # (keys must match to load)
    assert list(module.state_dict()) == list(ref.state_dict())
    cell = name.endswith("Cell")
    batch_first = not cell and len(args) > 4 and args[4 if name == "RNN" else 4] is True
    x = _data(2, 3) if cell else _data(2, 5, 3) if batch_first else _data(5, 2, 3)
    _compare(module, ref, [x])


def test_nonlinearity_is_checked_and_only_where_torch_takes_it():
    with pytest.raises(gg.GraphgradError, match="nonlinearity"):
        nn.RNNCell(3, 4, nonlinearity="gelu")
    for cls in (nn.GRU, nn.LSTM, nn.GRUCell, nn.LSTMCell):
        with pytest.raises(TypeError):
            cls(3, 4, nonlinearity="relu")

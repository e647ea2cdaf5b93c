"""Values read from state inside a compiled step are the values of that call, and the
values it returns belong to the caller.

Oracles: the same step run eagerly (a hand-written SGD through `.data`, an EMA through
`.detach()`, `state_dict()` inside the step), and for aliasing, the value the caller
holds before and after further calls.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn


def _both(make_step, calls, arg=lambda i: gg.ones(3)):
    """Results of `calls` calls of the eager and the compiled step, each on fresh state."""
    runs = []
    for compile_it in (False, True):
        step, state = make_step()
        fn = gg.compile(step) if compile_it else step
        outs = [np.asarray(fn(arg(i)).numpy()).copy() for i in range(calls)]
        runs.append((outs, [t.numpy().copy() for t in state]))
    return runs


def test_hand_written_sgd_through_data_matches_eager():
    def make():
        w = gg.tensor([0.5, -1.0, 2.0], requires_grad=True)

        def step(x):
            loss = ((w * x).sum() - 1.0) ** 2
            loss.backward()
            w.data = w.data - 0.1 * w.grad
            w.grad = None
            return loss
        return step, [w]

    (e_out, e_state), (c_out, c_state) = _both(make, 6)
    np.testing.assert_allclose(c_out, e_out, rtol=1e-6)
    np.testing.assert_allclose(c_state[0], e_state[0], rtol=1e-6)


def test_an_ema_through_detach_moves_every_call():
    def make():
        w, avg = gg.ones(3), gg.zeros(3)

        def step(x):
            with gg.no_grad():
                w.add_(x)
                avg.copy_(avg * 0.9 + w.detach() * 0.1)
            return avg * 1.0
        return step, [w, avg]

    (e_out, e_state), (c_out, c_state) = _both(make, 5)
    np.testing.assert_allclose(c_out, e_out, rtol=1e-6)
    assert not np.allclose(c_out[3], c_out[4])


def test_state_dict_read_inside_the_step_is_live():
    def make():
        gg.manual_seed(0)
        lin = nn.Linear(3, 1)
        with gg.no_grad():
            lin.weight.fill_(0.5)

        def step(x):
            with gg.no_grad():
                lin.weight.add_(x[:, :3] * 0.0 + 1.0)
            return lin.state_dict()["weight"].sum() + lin(x).sum()
        return step, [lin.weight]

    (e_out, _), (c_out, _) = _both(make, 4, arg=lambda i: gg.full((1, 3), float(i)))
    np.testing.assert_allclose(c_out, e_out, rtol=1e-6)


def test_a_returned_value_never_shares_memory_with_state():
    w = gg.ones(3)

    @gg.compile
    def f(x):
        with gg.no_grad():
            w.mul_(2).add_(x)
        return w * 1.0

    first = f(gg.ones(3))
    held = first.numpy().copy()
    f(gg.ones(3)), f(gg.ones(3))
    np.testing.assert_array_equal(first.numpy(), held)
    np.testing.assert_array_equal(w.numpy(), [15.0, 15.0, 15.0])


def test_a_returned_parameter_or_view_is_a_copy():
    w = gg.arange(6, dtype=gg.float32)

    @gg.compile
    def f(x):
        with gg.no_grad():
            w.add_(x)
        return w, w.reshape(2, 3), w[1:]

    a, b, c = f(gg.ones(6))
    held = [t.numpy().copy() for t in (a, b, c)]
    f(gg.ones(6))
    for t, h in zip((a, b, c), held):
        np.testing.assert_array_equal(t.numpy(), h)
        assert not np.shares_memory(t.numpy(), w.numpy())


def test_new_data_of_another_shape_retraces_as_eager_would_run():
    lin = nn.Linear(3, 2)
    f = gg.compile(lambda x: lin(x).sum())
    f(gg.ones(4, 3))
    lin.bias.data = gg.full((), 2.0)  # still broadcasts: eager runs it
    assert f(gg.ones(4, 3)).item() == pytest.approx(lin(gg.ones(4, 3)).sum().item())
    assert "bias changed shape or dtype" in f.cache_info().records[-1].reason
    lin.weight.data = gg.zeros(2, 5)
    with pytest.raises(gg.ShapeError):  # the old input no longer fits, as eagerly
        f(gg.ones(4, 3))
    assert f(gg.ones(4, 5)).item() == pytest.approx(lin(gg.ones(4, 5)).sum().item())


def test_model_double_between_calls_retraces_in_float64():
    gg.manual_seed(0)
    lin = nn.Linear(3, 2)
    f = gg.compile(lambda x: lin(x).sum())
    f(gg.ones(4, 3, dtype=gg.float64))
    lin.double()
    got = f(gg.ones(4, 3, dtype=gg.float64))
    assert got.dtype == gg.float64
    assert got.item() == lin(gg.ones(4, 3, dtype=gg.float64)).sum().item()
    assert "changed shape or dtype" in f.cache_info().records[-1].reason

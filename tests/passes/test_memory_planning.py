"""Memory planning: in-place state updates and buffer reuse, never clobbering a value
that is still needed (views included); peak memory of the digits MLP step does not
grow with optimization (tracemalloc)."""

import tracemalloc

import numpy as np

import graphgrad as gg
from graphgrad import nn, optim


def test_sgd_update_writes_into_the_parameter_buffer():
    w = gg.ones(64, 32, requires_grad=True)

    @gg.compile
    def step(x):
        loss = gg.tanh(x @ w).sum()
        loss.backward()
        with gg.no_grad():
            w.sub_(0.1 * w.grad)
            w.grad = None
        return loss

    step(gg.ones(8, 64))
    buffer = w._value
    step(gg.ones(8, 64))
    assert w._value is buffer  # updated in place
    fused = [n for n in step.last.optimized.nx if step.last.optimized[n]["op"] == "fused"]
    assert any(step.last.optimized[n].get("reuse", (None,))[0] is not None for n in fused)


def test_reused_buffer_never_has_a_live_view():
    """s = x.sum(0, keepdim); t = s.T stays alive while exp(s) is computed: s's buffer
    must not be overwritten by exp's result (the bug class memory planning must avoid)."""
    def f(x, y):
        s = x.sum(dim=0, keepdim=True)
        t = s.T
        u = gg.exp(gg.tanh(s))
        return (u.sum() + (t * y).sum())

    x = np.random.default_rng(0).standard_normal((3, 4))
    y = np.random.default_rng(1).standard_normal((4, 1))
    eager = f(gg.tensor(x), gg.tensor(y)).item()
    compiled = gg.compile(f)(gg.tensor(x), gg.tensor(y)).item()
    assert compiled == eager


def _digits_step(passes):
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    @gg.compile(passes=passes)
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _peak_bytes(step, x, y):
    step(x, y)
    step(x, y)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    step(x, y)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def test_digits_mlp_optimized_launches_3x_fewer_kernels_and_no_more_memory():
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.random((64, 64), dtype=np.float32))
    y = gg.tensor(rng.integers(0, 10, 64))
    opt_step, raw_step = _digits_step("default"), _digits_step("none")
    opt_step(x, y)
    raw_step(x, y)
    assert raw_step.last.plan.kernel_calls >= 3 * opt_step.last.plan.kernel_calls
    # the whole Adam update of all six parameters is one fused kernel (passes/foreach.py)
    g = opt_step.last.optimized
    updates = [n for n in g.nx if g[n]["op"] == "fused" and g[n]["phase"] == "update"]
    assert len(updates) == 1
    assert _peak_bytes(opt_step, x, y) <= _peak_bytes(raw_step, x, y)
    np.testing.assert_allclose(opt_step(x, y).item(), raw_step(x, y).item(), rtol=1e-5)


def _bias_add_reuse(f, *arrays):
    """(eager result, compiled result, reuse of the fused node that reads the reshape)."""
    eager = f(*[gg.tensor(a) for a in arrays]).numpy()
    step = gg.compile(f)
    compiled = step(*[gg.tensor(a) for a in arrays]).numpy()
    g = step.last.optimized
    fused = [n for n in g.nx if g[n]["op"] == "fused"
             and any(g[a]["op"] == "reshape" for a in g.args(n))]
    return eager, compiled, [g[n]["reuse"] for n in fused]


def test_bias_add_writes_into_the_reshaped_gemm_result():
    """A Linear on (batch, seq, features): the GEMM's result, reshaped back to 3-d, dies
    at the bias add, which then writes into it (no new buffer); its value is eager's."""
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)

    def f(x, w, b):
        return gg.tanh((x.reshape(6, 4) @ w).reshape(2, 3, 5) + b)

    eager, compiled, reuses = _bias_add_reuse(f, x, w, b)
    np.testing.assert_array_equal(compiled, eager)
    assert reuses and reuses[0][0] is not None


def test_reshape_of_a_buffer_still_read_elsewhere_is_not_written():
    """The GEMM's result is also read directly later: the reshape must not be written."""
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)

    def f(x, w, b):
        m = x.reshape(6, 4) @ w
        y = gg.tanh(m.reshape(2, 3, 5) + b)
        return y.sum() + (m * m).sum()

    eager, compiled, reuses = _bias_add_reuse(f, x, w, b)
    np.testing.assert_allclose(compiled, eager, rtol=1e-12)
    assert all(r == (None,) for r in reuses)

"""gg.compile: equivalence with eager, the signature cache and its reasons, state write-back.

Oracle: the same step run eagerly (the engine's own eager mode, itself checked against
finite differences elsewhere), and hand-derived SGD updates.
"""

import re

import numpy as np
import pytest

import graphgrad as gg


def _sgd_problem(seed=0):
    rng = np.random.default_rng(seed)
    w = gg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = gg.zeros(3, requires_grad=True)
    x = gg.tensor(rng.standard_normal((8, 4)))
    y = gg.tensor(rng.standard_normal((8, 3)))

    def step(x, y):
        loss = ((gg.tanh(x @ w + b) - y) ** 2).mean()
        loss.backward()
        with gg.no_grad():
            w.sub_(0.1 * w.grad)
            b.sub_(0.1 * b.grad)
            w.grad = None
            b.grad = None
        return loss

    return w, b, x, y, step


def test_compiled_sgd_matches_eager_for_20_steps():
    w, b, x, y, step = _sgd_problem()
    eager = [step(x, y).item() for _ in range(20)]
    w_eager, b_eager = w.numpy().copy(), b.numpy().copy()
    w2, b2, x2, y2, step2 = _sgd_problem()
    compiled = gg.compile(step2)
    got = [compiled(x2, y2).item() for _ in range(20)]
    np.testing.assert_allclose(got, eager, rtol=1e-6)
    np.testing.assert_allclose(w2.numpy(), w_eager, rtol=1e-5)
    np.testing.assert_allclose(b2.numpy(), b_eager, rtol=1e-5)
    assert w2.grad is None and compiled.cache_info().traces == 1


def test_one_sgd_step_by_hand():
    """loss = (w*x - y)^2 at w=3, x=2, y=4: grad = 2*(6-4)*2 = 8, w' = 3 - 0.1*8 = 2.2."""
    w = gg.tensor(3.0, requires_grad=True)

    @gg.compile
    def step(x, y):
        loss = (w * x - y) ** 2
        loss.backward()
        with gg.no_grad():
            w.sub_(0.1 * w.grad)
        return loss

    loss = step(gg.tensor(2.0), gg.tensor(4.0))
    assert loss.item() == pytest.approx(4.0)
    assert w.item() == pytest.approx(2.2)
    assert w.grad.item() == pytest.approx(8.0)


def test_grads_accumulate_across_calls_without_zero_grad():
    """Leaving zero_grad out accumulates, exactly like eager: 2 calls -> 2 * grad."""
    w = gg.tensor([1.0, 2.0], requires_grad=True)

    @gg.compile
    def step(x):
        loss = (w * x).sum()
        loss.backward()
        return loss

    x = gg.tensor([3.0, 5.0])
    step(x)
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 5.0])
    step(x)
    step(x)
    np.testing.assert_allclose(w.grad.numpy(), [9.0, 15.0])
    info = step.cache_info()
    assert info.traces == 2  # once with grad None, once accumulating
    assert "grad was None" in info.records[1].reason


def test_new_batch_shape_retraces_once_and_says_why():
    w, b, x, y, step = _sgd_problem()
    compiled = gg.compile(step)
    compiled(x, y)
    compiled(x, y)
    compiled(x[:5], y[:5])
    compiled(x[:5], y[:5])
    compiled(x, y)
    info = compiled.cache_info()
    assert info.traces == 2 and info.hits == 3
    assert "argument 'x' changed: f64[8, 4] -> f64[5, 4]" in info.records[1].reason


def test_input_gradients_reach_the_callers_tensor():
    x = gg.tensor([1.0, 2.0, 3.0], requires_grad=True)

    @gg.compile
    def f(x):
        y = (x * x).sum()
        y.backward()
        return y

    assert f(x).item() == pytest.approx(14.0)
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])
    f(x)
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0, 12.0])


def test_outputs_keep_their_structure():
    @gg.compile
    def f(a, b):
        return {"sum": a + b, "pair": (a * b, None), "n": 3}

    out = f(gg.tensor([1.0, 2.0]), gg.tensor([3.0, 4.0]))
    np.testing.assert_allclose(out["sum"].numpy(), [4.0, 6.0])
    np.testing.assert_allclose(out["pair"][0].numpy(), [3.0, 8.0])
    assert out["pair"][1] is None and out["n"] == 3


def test_numpy_arrays_are_accepted_as_inputs():
    f = gg.compile(lambda a: gg.exp(a).sum())
    assert f(np.zeros(4, np.float32)).item() == pytest.approx(4.0)


def test_source_is_readable_and_traceback_shows_plan_lines():
    w, b, x, y, step = _sgd_problem()
    compiled = gg.compile(step)
    compiled(x, y)
    src = compiled.source
    assert src.startswith("def step(x, y):")
    assert re.search(r"= matmul(_\d+)?\(x, ", src) and "test_compile_basics.py:" in src
    assert "T_w._value = " in src  # the state write-back of w
    import linecache

    assert linecache.getline(compiled.last.plan.filename, 1).startswith("def step")


def test_stats_count_nodes_per_phase_and_kernels():
    w, b, x, y, step = _sgd_problem()
    compiled = gg.compile(step)
    compiled(x, y)
    stats = compiled.last.stats
    assert set(stats["nodes_by_phase"]) == {"forward", "backward", "update"}
    assert stats["kernels_after"] < stats["kernels_before"]
    unopt = gg.compile(step, passes="none")
    unopt(x, y)
    assert unopt.last.stats["kernels_after"] == unopt.last.graph.kernel_count()


def test_entry_exposes_forward_backward_and_update_graphs():
    w, b, x, y, step = _sgd_problem()
    compiled = gg.compile(step)
    compiled(x, y)
    entry = compiled.last
    fwd, bwd, upd = entry.forward, entry.backward, entry.update
    for part in (fwd, bwd, upd):
        part.verify()
    kernels = lambda g: {g[n]["op"] for n in g.nx} - {"input", "state", "const"}  # noqa: E731
    assert {"matmul", "tanh", "sum"} <= kernels(fwd)
    assert "matmul" in kernels(bwd) and "tanh" not in kernels(bwd)
    assert kernels(upd) <= {"mul", "sub", "cast"}
    assert set(upd.state_writes) == {"w", "b"}
    total = sum(1 for n in entry.graph.nx if entry.graph[n]["op"] not in ("input", "state",
                                                                         "const"))
    assert total == sum(len(kernels_list) for kernels_list in (
        [n for n in g.nx if g[n]["op"] not in ("input", "state", "const")]
        for g in (fwd, bwd, upd)))


def test_step_that_resets_input_grad_replaces_it():
    x = gg.tensor([1.0, 2.0], requires_grad=True)

    @gg.compile
    def f(x):
        x.grad = None
        y = (x * x * x).sum()
        y.backward()
        return y

    for _ in range(3):
        f(x)
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])  # 3x^2, not accumulated

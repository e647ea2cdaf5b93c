"""The `layout` pass: a weight BLAS only sees transposed is kept column-major.

Oracle: the same step run eagerly (row-major weights, gradients as g.T @ x), and for
one step's gradients NumPy float64 by hand: for loss = mean((relu(x W1^T) W2^T - y)^2),
dL/dOut = 2 (out - y) / out.size, dW2 = dOut^T h, dW1 = ((dOut W2) * [x W1^T > 0])^T x.
"""

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.passes import DEFAULT_PIPELINE, PassContext, run_passes
from graphgrad.passes.layout import column_major_weights

NO_FOREACH = ["simplify", "fold", "cse", "simplify", "dce", "fusion", "layout", "memory"]


class ERM:
    """Two bias-free layers, MSE, SGD; the batch is drawn by index inside the step."""

    def __init__(self, compiled=True, passes="default", make_opt=None):
        gg.manual_seed(0)
        rng = np.random.default_rng(5)
        self.X = gg.tensor(rng.standard_normal((256, 64)).astype(np.float32))
        self.Y = gg.tensor(rng.standard_normal((256, 16)).astype(np.float32))
        self.model = nn.Sequential(nn.Linear(64, 128, bias=False), nn.ReLU(),
                                   nn.Linear(128, 16, bias=False))
        self.opt = (make_opt or (lambda ps: optim.SGD(ps, lr=0.05)))(self.model.parameters())
        self.loss_fn = nn.MSELoss()
        self.batches = [gg.tensor(rng.integers(0, 256, 32)) for _ in range(5)]
        self.step = gg.compile(self.train_step, passes=passes) if compiled \
            else self.train_step

    def train_step(self, idx):
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(self.X[idx]), self.Y[idx])
        loss.backward()
        self.opt.step()
        return loss

    def run(self, steps):
        return [self.step(self.batches[i % len(self.batches)]).item() for i in range(steps)]

    @property
    def weights(self):
        return self.model[0].weight, self.model[2].weight


def layouts(graph):
    return {graph[n]["name"]: graph[n]["attrs"].get("layout")
            for n in graph.nx if graph[n]["op"] == "state"}


def assert_same(eager, compiled, rtol=1e-5):
    for a, b in zip(eager.weights, compiled.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=rtol, atol=1e-7)
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=rtol, atol=1e-7)


def test_first_weight_is_column_major_and_training_matches_eager():
    eager, compiled = ERM(compiled=False), ERM()
    np.testing.assert_allclose(compiled.run(20), eager.run(20), rtol=1e-5)
    assert_same(eager, compiled)
    w1, w2 = compiled.weights
    assert w1._value.flags.f_contiguous and not w1._value.flags.c_contiguous
    assert w2._value.flags.c_contiguous and not w2._value.flags.f_contiguous
    assert eager.weights[0]._value.flags.c_contiguous  # eager keeps the row-major array
    graph = compiled.step.last.optimized
    graph.verify()
    assert sorted(v for v in layouts(graph).values() if v) == ["F"]
    # the first weight's gradient is (x.T @ g).T: no matmul takes a transposed left operand
    # of W1's shape any more, and the gradient comes out column-major like W1
    for n in graph.nx:
        if graph[n]["op"] == "matmul" and graph[n]["shape"] == (128, 64):
            assert graph[graph.args(n)[0]]["op"] != "permute"
    assert w1.grad._value.flags.f_contiguous
    assert compiled.step.cache_info().traces == 1


def test_first_step_gradients_match_a_float64_derivation():
    run = ERM()
    w1, w2 = (w.numpy().astype(np.float64) for w in run.weights)
    idx = run.batches[0].numpy()
    x, y = run.X.numpy()[idx].astype(np.float64), run.Y.numpy()[idx].astype(np.float64)
    pre = x @ w1.T
    h = np.maximum(pre, 0)
    out = h @ w2.T
    d_out = 2 * (out - y) / out.size
    grad_w2 = d_out.T @ h
    grad_w1 = ((d_out @ w2) * (pre > 0)).T @ x
    loss = run.run(1)[0]
    np.testing.assert_allclose(loss, np.mean((out - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(run.weights[0].grad.numpy(), grad_w1, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(run.weights[1].grad.numpy(), grad_w2, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(run.weights[0].numpy(), w1 - 0.05 * grad_w1, rtol=1e-4,
                               atol=1e-7)


def test_replaced_row_major_weight_is_converted_on_the_next_call():
    eager, compiled = ERM(compiled=False), ERM()
    for run in (eager, compiled):
        run.run(3)
    new = np.random.default_rng(9).standard_normal((128, 64)).astype(np.float32) * 0.1
    for run in (eager, compiled):
        run.weights[0].data = gg.tensor(new)
    assert compiled.weights[0]._value.flags.c_contiguous
    np.testing.assert_allclose(compiled.run(4), eager.run(4), rtol=1e-5)
    assert_same(eager, compiled)
    assert compiled.weights[0]._value.flags.f_contiguous


def test_without_the_pass_weights_stay_row_major_with_equal_results():
    default, other = ERM(), ERM(passes=[p for p in DEFAULT_PIPELINE if p != "layout"])
    np.testing.assert_allclose(other.run(10), default.run(10), rtol=1e-5)
    assert_same(default, other)
    assert other.weights[0]._value.flags.c_contiguous
    assert not any(layouts(other.step.last.optimized).values())


def flat_ref_of(graph, tensor):
    (ref,) = [r for r in graph.state_refs.values()
              if r.kind == "flat" and any(t is tensor for t in r.tensors)]
    return ref


def test_a_relaid_weight_in_a_flat_buffer_is_stored_transposed():
    """With Adam, `foreach` keeps both weights in one flat buffer; W1 (column-major by
    `layout`, which runs first) is stored there as W1.T, so its view stays column-major,
    and so do its moments. Results equal eager and a pipeline without `foreach`."""
    adam = lambda ps: optim.Adam(ps, lr=1e-3)  # noqa: E731
    eager, flat, alone = (ERM(compiled=False, make_opt=adam), ERM(make_opt=adam),
                          ERM(make_opt=adam, passes=NO_FOREACH))
    losses = eager.run(10)
    for run in (flat, alone):
        np.testing.assert_allclose(run.run(10), losses, rtol=1e-5)
        assert_same(eager, run)
        assert [v for v in layouts(run.step.last.optimized).values() if v] == ["F"]
        assert run.weights[0]._value.flags.f_contiguous
        assert run.weights[1]._value.flags.c_contiguous
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(run.opt.state[run.weights[0]][key].numpy(),
                                       eager.opt.state[eager.weights[0]][key].numpy(),
                                       rtol=1e-5, atol=1e-9)
    graph = flat.step.last.optimized
    graph.verify()
    w1, w2 = flat.weights
    ref = flat_ref_of(graph, w1)
    assert ref is flat_ref_of(graph, w2)
    assert w1._value.base is ref.flat and w2._value.base is ref.flat
    moment = flat.opt.state[w1]["exp_avg"]
    assert moment._value.flags.f_contiguous
    assert moment._value.base is flat_ref_of(graph, moment).flat
    assert alone.weights[0]._value.base is None


def test_a_replaced_weight_is_packed_transposed_again():
    adam = lambda ps: optim.Adam(ps, lr=1e-3)  # noqa: E731
    eager, compiled = ERM(compiled=False, make_opt=adam), ERM(make_opt=adam)
    for run in (eager, compiled):
        run.run(3)
    new = np.random.default_rng(4).standard_normal((128, 64)).astype(np.float32) * 0.1
    for run in (eager, compiled):
        run.weights[0].data = gg.tensor(new)
    np.testing.assert_allclose(compiled.run(4), eager.run(4), rtol=1e-5)
    assert_same(eager, compiled)
    w1 = compiled.weights[0]
    assert w1._value.flags.f_contiguous
    assert w1._value.base is flat_ref_of(compiled.step.last.optimized, w1).flat
    assert compiled.step.cache_info().traces == 1


def _tied_autoencoder():
    """h = relu(x @ W.T), x_hat = h @ W: W is also a plain (untransposed) right operand."""
    gg.manual_seed(0)
    enc = nn.Linear(64, 32, bias=False)
    return enc, lambda x: gg.relu(enc(x)) @ enc.weight


def _plain_matmul():
    """out = x @ W: W's only use is untransposed."""
    gg.manual_seed(0)
    w = nn.Parameter(gg.randn(64, 64) * 0.1)
    holder = nn.Module()
    holder.w = w
    return holder, lambda x: gg.tanh(x @ w) @ w.T


def _train(build, compiled, x):
    module, forward = build()
    opt = optim.SGD(module.parameters(), lr=0.1)

    def train_step(x):
        opt.zero_grad()
        loss = ((forward(x) - x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    step = gg.compile(train_step) if compiled else train_step
    losses = [step(x).item() for _ in range(5)]
    return losses, list(module.parameters()), step


@pytest.mark.parametrize("build", [_tied_autoencoder, _plain_matmul], ids=["tied", "x@W"])
def test_weights_used_untransposed_are_not_relaid(build):
    x = gg.tensor(np.random.default_rng(2).standard_normal((16, 64)).astype(np.float32))
    l1, p1, _ = _train(build, False, x)
    l2, p2, step = _train(build, True, x)
    np.testing.assert_allclose(l2, l1, rtol=1e-5)
    for a, b in zip(p1, p2):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-7)
        assert b._value.flags.c_contiguous
    assert not any(layouts(step.last.optimized).values())


def test_a_backend_without_column_major_leaves_the_graph_alone():
    run = ERM()
    run.run(1)
    before_layout = DEFAULT_PIPELINE[:DEFAULT_PIPELINE.index("layout")]
    graph, _ = run_passes(run.step.last.graph, before_layout,
                          PassContext(backend=run.step.backend))
    edges = sorted(graph.nx.edges(keys=True))
    for ctx in (PassContext(backend=object()), None):
        column_major_weights(graph, ctx)
        assert sorted(graph.nx.edges(keys=True)) == edges
        assert not any(layouts(graph).values())
    column_major_weights(graph, PassContext(backend=run.step.backend))
    assert [v for v in layouts(graph).values() if v] == ["F"]
    assert sorted(graph.nx.edges(keys=True)) != edges
    graph.verify()

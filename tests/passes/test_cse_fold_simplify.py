"""CSE, constant folding and algebraic simplification, each on a graph whose result is
known by hand; every rewritten graph still verifies and computes the same values."""

import numpy as np

import graphgrad as gg
from graphgrad.ir.graph import Graph
from graphgrad.passes import run_passes
from graphgrad.passes.simplify import simplify


def _count(graph, op):
    return sum(1 for n in graph.nx if graph[n]["op"] == op)


def _same_values(a, b, *args):
    for x, y in zip(gg.run_graph(a, *args), gg.run_graph(b, *args)):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-12)


def test_cse_merges_repeated_subexpressions():
    g = gg.trace(lambda x: gg.tanh(x * 2) + gg.tanh(x * 2), gg.Spec((4,), "float64"))
    assert _count(g, "tanh") == 2
    out, _ = run_passes(g, ["cse"])
    out.verify()
    assert _count(out, "tanh") == 1 and _count(out, "mul") == 1
    _same_values(g, out, np.arange(4.0))


def test_cse_merges_both_orders_of_commutative_ops_only():
    def f(x, y):
        return (gg.maximum(x * y, y) + gg.maximum(y, y * x)) * (x - y) + (y - x) * (x - y)

    g = gg.trace(f, gg.Spec((4,), "float64"), gg.Spec((4,), "float64"))
    out, _ = run_passes(g, ["cse"])
    out.verify()
    # x*y = y*x, max(a, b) = max(b, a), (x - y) twice; y - x is another value
    assert _count(out, "mul") == 3 and _count(out, "maximum") == 1
    assert _count(out, "sub") == 2 and _count(out, "add") == 2
    _same_values(g, out, np.array([1.0, -2.0, np.nan, 0.5]), np.array([3.0, -1.0, 1.0, 0.5]))


def test_cse_never_merges_random_draws():
    g = gg.trace(lambda x: x + gg.rand(3) + gg.rand(3), gg.Spec((3,)))
    out, _ = run_passes(g, ["cse"])
    assert _count(out, "rand") == 2


def test_constant_folding_evaluates_constant_subgraphs():
    def f(x):
        c = gg.exp(gg.tensor([0.0, 1.0], dtype="float64")) * 2  # constant: [2, 2e]
        return x * c

    g = gg.trace(f, gg.Spec((2,), "float64"))
    out, _ = run_passes(g, ["fold", "dce"])
    out.verify()
    assert _count(out, "exp") == 0 and _count(out, "mul") == 1
    (y,) = gg.run_graph(out, np.ones(2))
    np.testing.assert_allclose(y.numpy(), [2.0, 2 * np.e])


def test_identities_and_double_negation_disappear():
    g = gg.trace(lambda x: gg.neg(gg.neg(x * 1.0 + 0.0)) / 1.0, gg.Spec((3,), "float64"))
    out, _ = run_passes(g, ["simplify", "dce"])
    out.verify()
    kernels = [out[n]["op"] for n in out.nx if out[n]["op"] not in ("input", "const")]
    assert kernels == []  # the output is the input itself
    _same_values(g, out, np.array([1.0, -2.0, 3.0]))


def test_x_times_zero_folds_only_for_finite_constants():
    g = gg.trace(lambda x: x * 0.0, gg.Spec((2,), "float64"))
    out, _ = run_passes(g, ["simplify"])
    assert _count(out, "mul") == 1  # x may be NaN or Inf: NaN * 0 is NaN
    (y,) = gg.run_graph(out, np.array([np.nan, 1.0]))
    assert np.isnan(y.numpy()[0])


def test_transpose_and_reshape_chains_collapse():
    g = gg.trace(lambda x: x.T.T.reshape(6).reshape(3, 2).reshape(2, 3), gg.Spec((2, 3)))
    out, _ = run_passes(g, ["simplify", "dce"])
    assert _count(out, "permute") == 0 and _count(out, "reshape") == 0


def test_sum_over_a_broadcast_becomes_a_product():
    """sum(broadcast_to(s, (3, 4))) = 12 * s: the backward seed's shape."""
    g = gg.trace(lambda s: gg.broadcast_to(s, (3, 4)).sum(), gg.Spec((), "float64"))
    out, _ = run_passes(g, ["simplify", "dce"])
    out.verify()
    assert _count(out, "sum") == 0 and _count(out, "broadcast_to") == 0
    (y,) = gg.run_graph(out, np.array(2.5))
    assert y.item() == 30.0


def test_bias_gradient_of_a_broadcast_seed_simplifies():
    b = gg.zeros(4, requires_grad=True, dtype="float64")

    def f(x):
        loss = (x + b).sum()
        loss.backward()
        return loss

    g = gg.trace(f, gg.Spec((3, 4), "float64"))
    out, _ = run_passes(g, ["simplify", "fold", "cse", "simplify", "dce"])
    out.verify()
    grad = out.state_writes["b.grad"]
    assert out[grad]["op"] in ("const", "mul", "broadcast_to")  # 3 * ones, no reduction
    assert not any(out[n]["op"] == "sum" and out[n]["phase"] == "backward" for n in out.nx)


def test_transposed_product_is_rewritten():
    g = gg.trace(lambda a, b: (a @ b).T, gg.Spec((2, 3), "float64"), gg.Spec((3, 4), "float64"))
    out, _ = run_passes(g, ["simplify", "dce"])
    out.verify()
    mm = [n for n in out.nx if out[n]["op"] == "matmul"][0]
    assert [out[a]["op"] for a in out.args(mm)] == ["permute", "permute"]
    rng = np.random.default_rng(0)
    _same_values(g, out, rng.standard_normal((2, 3)), rng.standard_normal((3, 4)))


def test_a_nan_constant_times_zero_stays_nan():
    """Both factors constant: a 0-d NaN is not "a value every element has" (NaN != NaN)."""
    g = Graph()
    f32 = np.dtype("float32")
    nan = g.add_node("const", attrs={"value": np.asarray(np.nan, f32)}, shape=(), dtype=f32)
    zero = g.add_node("const", attrs={"value": np.asarray(0.0, f32)}, shape=(), dtype=f32)
    g.outputs = [g.add_node("mul", [nan, zero], shape=(), dtype=f32)]
    simplify(g)
    assert _count(g, "mul") == 1


def test_cross_entropy_gradient_becomes_one_op():
    """log_softmax's VJP of an nll_loss gradient (dense G, its row sums, exp-mul-sub)
    becomes one cross_entropy_backward, with the same values (ignored rows included)."""
    fn = lambda x, t: gg.nn.functional.cross_entropy(x, t, ignore_index=1)  # noqa: E731
    g = gg.differentiate(gg.trace(fn, gg.Spec((5, 4), "float64"), gg.Spec((5,), "int64")))
    assert _count(g, "nll_loss_backward") == 1
    out, _ = run_passes(g, ["simplify", "dce"])
    out.verify()
    assert _count(out, "cross_entropy_backward") == 1 and _count(out, "nll_loss_backward") == 0
    x = np.random.default_rng(0).standard_normal((5, 4))
    _same_values(g, out, x, np.array([0, 1, 3, 1, 2]))
    _same_values(g, out, x, np.array([0, 2, 3, 0, 2]))


def test_recurrent_backward_takes_the_hidden_states_cotangent_alone():
    """A model that reads only a GRU's or an LSTM's output sequence: the backward op takes
    that cotangent (T, B, H) itself, not index_backward's mostly-zero packed one; the
    compiled step's gradients are PyTorch's (float32, rtol 1e-4)."""
    import torch

    from graphgrad import nn

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)  # (batch, seq, features)
    c = rng.standard_normal((3, 5, 6)).astype(np.float32)
    for name in ("GRU", "LSTM"):
        ours = getattr(nn, name)(4, 6, batch_first=True)
        theirs = getattr(torch.nn, name)(4, 6, batch_first=True)
        theirs.load_state_dict({k: torch.tensor(v.numpy())
                                for k, v in ours.state_dict().items()})

        @gg.compile
        def step(x, cc, module=ours):
            module.zero_grad()
            (module(x)[0] * cc).sum().backward()
            return x.grad

        gx = gg.tensor(x, requires_grad=True)
        step(gx, gg.tensor(c))
        g = step.last.optimized
        back = [n for n in g.nx if g[n]["op"] == name.lower() + "_seq_backward"]
        assert back and all(len(g[g.args(n)[0]]["shape"]) == 3 for n in back)
        assert _count(g, "index_backward") == 0
        tx = torch.tensor(x, requires_grad=True)
        (theirs(tx)[0] * torch.tensor(c)).sum().backward()
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
        for (pname, p), tp in zip(ours.named_parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4,
                                       atol=1e-5, err_msg=f"{name} {pname}")


def test_gradients_of_chunks_become_one_concat():
    """q, k, v = qkv.chunk(3, -1) (and a split along dim 0): the sum of the pieces'
    index_backwards is one concat of their gradients, with eager's values."""
    cases = {"chunk": (lambda x: gg.cat([t * (i + 1.0) for i, t in enumerate(x.chunk(3, -1))],
                                        -1), (2, 4, 6)),
             "split dim 0": (lambda x: gg.cat([t.exp() for t in x.split([1, 3], 0)], 0), (4, 5)),
             "gap": (lambda x: x[:, :2] * 2 + x[:, 3:] * 3, (3, 5))}
    for name, (f, shape) in cases.items():
        def step(x, f=f):
            f(x).cos().sum().backward()
            return x.grad

        x0 = np.random.default_rng(0).standard_normal(shape)
        compiled = gg.compile(step)
        got = compiled(gg.tensor(x0, requires_grad=True)).numpy()
        want = step(gg.tensor(x0, requires_grad=True)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=name)
        if name != "gap":  # (a gap between the slices: nothing to merge, still right)
            assert _count(compiled.last.optimized, "index_backward") == 0, name

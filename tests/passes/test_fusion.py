"""Elementwise fusion: which nodes form a group, the fused node's bookkeeping, and that
fused results equal unfused ones (NumPy float64 through the reference interpreter)."""

import numpy as np

import graphgrad as gg
from graphgrad.passes import run_passes
from graphgrad.passes.fusion import find_groups


def _fused(graph):
    return [n for n in graph.nx if graph[n]["op"] == "fused"]


def test_chain_of_elementwise_ops_becomes_one_node_listing_them():
    g = gg.trace(lambda x: gg.tanh(0.5 * x) * gg.sigmoid(x) + 0.1 * x * x,
                 gg.Spec((5,), "float64"))
    out, _ = run_passes(g, ["fusion"])
    out.verify()
    (f,) = _fused(out)
    program = out[f]["attrs"]["program"]
    assert sorted(program.op_names) == sorted(["mul", "tanh", "sigmoid", "mul", "mul", "mul",
                                               "add"])
    assert all("test_fusion.py:" in s for s in program.sources)
    x = np.linspace(-2, 2, 5)
    np.testing.assert_allclose(gg.run_graph(out, x)[0].numpy(),
                               np.tanh(0.5 * x) / (1 + np.exp(-x)) + 0.1 * x * x, rtol=1e-12)


def test_reductions_and_matmuls_split_groups():
    def f(x, w):
        h = gg.relu(x @ w + 1.0)
        return (h * h).sum()

    g = gg.trace(f, gg.Spec((2, 3), "float64"), gg.Spec((3, 4), "float64"))
    groups = find_groups(g)
    assert [sorted(g[n]["op"] for n in grp) for grp in groups] == [["add", "mul", "relu"]]


def test_no_group_closes_a_cycle_through_a_non_elementwise_node():
    """a = exp(x); b = sum(a); c = a * b: fusing exp with the mul would need b first."""
    def f(x):
        a = gg.exp(x)
        return a * a.sum()

    g = gg.trace(f, gg.Spec((4,), "float64"))
    out, _ = run_passes(g, ["fusion"])
    out.verify()  # acyclic
    x = np.arange(4.0)
    np.testing.assert_allclose(gg.run_graph(out, x)[0].numpy(), np.exp(x) * np.exp(x).sum())


def test_values_needed_outside_become_extra_outputs():
    def f(x):
        t = gg.tanh(x)
        u = t * 2.0
        return u.sum() + t.max()

    g = gg.trace(f, gg.Spec((3,), "float64"))
    out, _ = run_passes(g, ["fusion"])
    out.verify()
    gets = [n for n in out.nx if out[n]["op"] == "get"]
    assert len(gets) == 2
    x = np.array([0.1, -0.4, 2.0])
    expected = (2 * np.tanh(x)).sum() + np.tanh(x).max()
    assert gg.run_graph(out, x)[0].item() == np.float64(expected)


def test_fusion_crosses_forward_backward_and_update():
    w = gg.ones(3, requires_grad=True)

    @gg.compile(passes=["fusion"])
    def step(x):
        loss = (gg.tanh(w * x) ** 2).sum()
        loss.backward()
        with gg.no_grad():
            w.sub_(0.1 * w.grad)
        return loss

    step(gg.ones(3))
    g = step.last.optimized
    phases = {g[n]["phase"] for n in _fused(g)}
    assert len(_fused(g)) >= 1
    mixed = [n for n in _fused(g) if len({s.op for s in g[n]["attrs"]["program"].steps}) > 2]
    assert mixed and "forward" in phases | {"forward"}


def test_broadcasting_and_scalar_operands_fuse():
    g = gg.trace(lambda x, b: gg.relu(x + b) * 3.0, gg.Spec((4, 3), "float64"),
                 gg.Spec((3,), "float64"))
    out, _ = run_passes(g, ["fusion"])
    (f,) = _fused(out)
    assert out[f]["attrs"]["program"].op_names == ["add", "relu", "mul"]
    x, b = np.arange(12.0).reshape(4, 3) - 6, np.array([1.0, -1.0, 0.5])
    np.testing.assert_allclose(gg.run_graph(out, x, b)[0].numpy(), np.maximum(x + b, 0) * 3)


def test_a_pipeline_without_dce_leaves_dead_elementwise_chains_alone():
    """`passes=["fusion"]` on a step with dead code (a value computed and never used):
    the dead group has no output to fuse for; it stays as it was, and the step runs."""
    def f(a):
        unused = gg.exp(a * 0.0 + 1.0)  # noqa: F841
        return gg.tanh(a) * 2.0

    g = gg.trace(f, gg.Spec((5,), "float64"))
    out, _ = run_passes(g, ["fusion"])
    out.verify()
    x = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(gg.run_graph(out, x)[0].numpy(), np.tanh(x) * 2, rtol=1e-12)
    step = gg.compile(f, passes=["fusion"])
    np.testing.assert_allclose(step(gg.tensor(x)).numpy(), np.tanh(x) * 2, rtol=1e-12)

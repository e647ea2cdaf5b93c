"""Dead-node pruning keeps exactly what outputs and state writes need (counted by hand)."""

import graphgrad as gg
from graphgrad.passes import run_passes


def _ops(graph):
    return sorted(graph[n]["op"] for n in graph.nx if graph[n]["op"] not in ("input",))


def test_unused_branch_and_unreturned_loss_are_pruned():
    def f(x):
        unused = gg.exp(x) * 3  # noqa: F841  (a validation branch nobody returns)
        return gg.tanh(x).sum()

    g = gg.trace(f, gg.Spec((3,)))
    pruned, _ = run_passes(g, ["dce"])
    pruned.verify()
    assert _ops(pruned) == ["sum", "tanh"]


def test_frozen_parameter_gets_no_gradient_nodes():
    w1 = gg.ones(3, 3, requires_grad=True)
    w2 = gg.ones(3, 3)  # frozen: requires_grad=False

    @gg.compile(passes=["dce"])
    def step(x):
        loss = ((x @ w1) @ w2).sum()
        loss.backward()
        return loss

    step(gg.ones(2, 3))
    g = step.last.optimized
    assert set(g.state_writes) == {"w1.grad"}
    # backward: only d/dw1 = x.T @ (g @ w2.T); no matmul producing d/dw2 or d/dx
    backward_matmuls = [n for n in g.nx if g[n]["op"] == "matmul" and g[n]["phase"] == "backward"]
    assert len(backward_matmuls) == 2


def test_inputs_survive_even_when_unused():
    g = gg.trace(lambda x, y: x * 2, gg.Spec((2,)), gg.Spec((2,)))
    pruned, _ = run_passes(g, ["dce"])
    assert len(pruned.inputs) == 2 and all(n in pruned for n in pruned.inputs)

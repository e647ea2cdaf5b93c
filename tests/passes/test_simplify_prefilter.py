"""simplify's quick test (`_may_rewrite`: which nodes no rule can touch) changes nothing.

Oracle: the same pass with the quick test switched off, so that every rule is tried
on every node, as before the test existed: the two rewritten graphs print the same,
node for node (ids, ops, arguments, shapes), on random differentiated programs and on
graphs built to reach each rule through a broadcast or a reshape of a constant.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from random_programs import build, programs

import graphgrad as gg
from graphgrad.passes import simplify as simplify_module


def simplified_both_ways(graph, monkeypatch):
    """(str of the graph simplified with the quick test, str of it without)."""
    fast = simplify_module.simplify(graph.copy())
    with monkeypatch.context() as patch:
        patch.setattr(simplify_module, "_may_rewrite", lambda *args: True)
        slow = simplify_module.simplify(graph.copy())
    fast.verify()
    return str(fast), str(slow)


def traced(fn, *shapes):
    return gg.differentiate(gg.trace(fn, *(gg.Spec(s, "float64") for s in shapes)))


CASES = {
    "identity through a broadcast constant": (
        lambda x: (x * gg.ones(3, dtype="float64").reshape(1, 3)).sum(), [(2, 3)]),
    "identity through a reshaped constant": (
        lambda x: (x + gg.zeros(6, dtype="float64").reshape(2, 3)).sum(), [(2, 3)]),
    "a broadcast absorbed by an elementwise op": (
        lambda x, b: gg.tanh(x + gg.broadcast_to(b, (4, 3))).sum(), [(4, 3), (3,)]),
    "a broadcast moved after the op": (
        lambda b, c: (gg.broadcast_to(b, (4, 3)) * gg.broadcast_to(c, (4, 3))).sum(),
        [(3,), (3,)]),
    "transposes, reshapes and negations": (
        lambda x, w: gg.neg(gg.neg((x @ w).T)).reshape(-1).reshape(3, 2).sum(), [(2, 4), (4, 3)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_rule_cases_simplify_the_same_with_and_without_the_quick_test(name, monkeypatch):
    fn, shapes = CASES[name]
    fast, slow = simplified_both_ways(traced(fn, *shapes), monkeypatch)
    assert fast == slow


@settings(max_examples=40, deadline=None)
@given(programs())
def test_random_programs_simplify_the_same_with_and_without_the_quick_test(program):
    shapes, instrs = program
    graph = traced(build(instrs), *shapes)
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, slow = simplified_both_ways(graph, monkeypatch)
    assert fast == slow


def test_a_train_step_simplifies_the_same_with_and_without_the_quick_test(monkeypatch):
    model = gg.nn.Sequential(gg.nn.Linear(5, 8), gg.nn.ReLU(), gg.nn.Linear(8, 3))
    opt = gg.optim.Adam(model.parameters(), lr=1e-3)

    @gg.compile
    def step(x, y):
        opt.zero_grad()
        loss = gg.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step(gg.tensor(np.ones((4, 5), np.float32)), gg.tensor(np.array([0, 1, 2, 1])))
    fast, slow = simplified_both_ways(step.last.graph, monkeypatch)
    assert fast == slow

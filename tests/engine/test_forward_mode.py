"""Forward mode: every op's JVP rule, `gg.func.jvp` eagerly, nested, and while tracing.

Oracles: central finite differences in float64 (`gg.gradcheck(check_forward=True)`
compares the Jacobian built column by column from JVPs with them); J·v assembled from
reverse mode (the Jacobian from one VJP per output element, times v); hand-derived
values for the seed's example f(x1, x2) = log(x1) + x1*x2 - sin(x2) at (2, 5):
tangents along e1 and e2 give 1/x1 + x2 = 5.5 and x1 - cos(x2) = 1.7163; and the
eager run for the traced graph; for random compositions (hypothesis), the gradient
dotted with v.
"""

import math

import numpy as np
import pytest
from gg_reference import op_cases, to_tensor
from hypothesis import given, settings
from hypothesis import strategies as st
from test_trace_vs_eager import SHAPES, make_fn, step

import graphgrad as gg
from graphgrad.ops import REGISTRY


def _inputs(sample):
    tensors = [to_tensor(a, np.float64) for a in sample.args]
    for i in sample.diff:
        tensors[i].requires_grad_(True)
    return tensors


def test_every_differentiable_op_has_a_jvp_rule():
    missing = [n for n, op in REGISTRY.items() if op.differentiable and op.jvp is None]
    assert not missing


@pytest.mark.parametrize("op, sample", op_cases(differentiable=True, with_diff=True))
def test_jvp_matches_finite_differences(op, sample):
    assert gg.gradcheck(lambda *xs: op(*xs, **sample.kwargs), _inputs(sample),
                        check_forward=True)


@pytest.mark.parametrize("op, sample", op_cases(differentiable=True, with_diff=True))
def test_jvp_equals_jacobian_from_vjps_times_v(op, sample):
    inputs = [t.detach() for t in _inputs(sample)]
    rng = np.random.default_rng(3)
    tangents = [gg.tensor(rng.standard_normal(inputs[i].shape), dtype="float64")
                if i in sample.diff else None for i in range(len(inputs))]
    fn = lambda *xs: op(*xs, **sample.kwargs)  # noqa: E731
    out, jv = gg.func.jvp(fn, tuple(inputs), tuple(tangents))
    jacobians = gg.func.jacobian(fn, tuple(sample.diff), mode="reverse")(*inputs)
    expected = np.zeros(out.numel())
    for i, jac in zip(sample.diff, jacobians):
        v = tangents[i].numpy().reshape(-1)
        expected += jac.numpy().reshape(out.numel(), v.size) @ v
    assert jv.shape == out.shape and jv.dtype == out.dtype
    tol = 1e-10 if out.dtype == gg.float64 else 1e-6
    np.testing.assert_allclose(jv.numpy().reshape(-1), expected, rtol=tol, atol=tol)


def _seed_f(x1, x2):
    return gg.log(x1) + x1 * x2 - gg.sin(x2)


def test_seed_example_tangents_along_e1_and_e2():
    x1, x2 = gg.tensor(2.0), gg.tensor(5.0)
    value, d1 = gg.func.jvp(_seed_f, (x1, x2), (gg.tensor(1.0), gg.tensor(0.0)))
    _, d2 = gg.func.jvp(_seed_f, (x1, x2), (0.0, 1.0))
    assert value.item() == pytest.approx(math.log(2) + 10 - math.sin(5), rel=1e-6)
    assert d1.item() == pytest.approx(5.5, rel=1e-6)
    assert d2.item() == pytest.approx(2 - math.cos(5), rel=1e-6)
    assert round(d2.item(), 4) == 1.7163
    _, none_tangent = gg.func.jvp(_seed_f, (x1, x2), (None, 1.0))
    assert none_tangent.item() == pytest.approx(d2.item())


def test_output_structure_and_unused_inputs():
    x = gg.tensor([1.0, 2.0], dtype="float64")
    out, tan = gg.func.jvp(lambda a: {"sq": (a * a, gg.ones(2)), "sum": a.sum()}, (x,),
                           (gg.tensor([1.0, 0.5], dtype="float64"),))
    assert tan["sq"][0].tolist() == [2.0, 2.0]
    assert tan["sq"][1].tolist() == [0.0, 0.0]  # does not depend on the input
    assert tan["sum"].item() == 1.5 and out["sum"].item() == 3.0
    _, aux_t, aux = gg.func.jvp(lambda a: (a * 3, "note"), (x,), (x,), has_aux=True)
    assert aux == "note" and aux_t.tolist() == [3.0, 6.0]


def test_same_tensor_twice_and_closures_are_not_confused():
    x = gg.tensor(3.0, dtype="float64")
    _, t = gg.func.jvp(lambda a, b: a * b + x, (x, x), (1.0, 0.0))
    assert t.item() == 3.0  # d/da (a*b) at b=3; the closed-over x has no tangent
    assert x.requires_grad is False


def test_forward_over_forward_and_perturbation_confusion():
    def d(fn):
        return lambda x: gg.func.jvp(fn, (x,), (gg.ones_like(x),))[1]

    x = gg.tensor(0.7, dtype="float64")
    assert d(d(gg.sin))(x).item() == pytest.approx(-math.sin(0.7), rel=1e-12)
    assert d(d(d(lambda u: u ** 4)))(x).item() == pytest.approx(24 * 0.7, rel=1e-12)
    # Siskind & Pearlmutter's test: d/dx [x * (d/dy (x + y))(1)] at 1 is 1, not 2.
    outer = gg.func.jvp(lambda u: u * d(lambda v: u + v)(gg.tensor(1.0, dtype="float64")),
                        (gg.tensor(1.0, dtype="float64"),), (1.0,))[1]
    assert outer.item() == 1.0


def test_jvp_results_are_plain_tensors_at_top_level():
    out, t = gg.func.jvp(gg.exp, (gg.tensor(1.0),), (gg.tensor(1.0),))
    assert not out.requires_grad and not t.requires_grad


def test_jvp_while_tracing_matches_eager():
    def fn(x1, x2):
        return gg.func.jvp(_seed_f, (x1, x2), (gg.ones_like(x1), x2 * 0.5))

    a, b = np.array([2.0, 1.0, 3.0]), np.array([5.0, 0.5, -1.0])
    graph = gg.trace(fn, gg.Spec((3,), "float64"), gg.Spec((3,), "float64")).verify()
    phases = graph.nodes_by_phase()
    assert phases.get("tangent", 0) > 0 and "backward" not in phases
    tangent_ops = {graph[n]["op"] for n in graph.topo_order() if graph[n]["phase"] == "tangent"}
    assert {"cos", "div"} <= tangent_ops
    traced = gg.run_graph(graph, a, b)
    eager = fn(gg.tensor(a, dtype="float64"), gg.tensor(b, dtype="float64"))
    for got, want in zip(traced, eager):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-14)


def test_bad_tangents_are_clear_errors():
    x = gg.tensor([1.0, 2.0])
    with pytest.raises(gg.ShapeError, match=r"tangent of shape \(3,\).*\(2,\)"):
        gg.func.jvp(gg.sin, (x,), (gg.ones(3),))
    with pytest.raises(gg.AutogradError, match="int64 primal"):
        gg.func.jvp(lambda i: i * 2, (gg.tensor([1, 2]),), (gg.ones(2),))
    with pytest.raises(gg.AutogradError, match="2 primals but 1 tangents"):
        gg.func.jvp(_seed_f, (x, x), (x,))


def test_in_place_updates_carry_tangents():
    def fn(x):
        y = x * 1.0
        y.mul_(3.0)
        y[0] = 5.0  # a constant: its tangent is zero
        y += x
        return y

    x = gg.tensor([1.0, 2.0], dtype="float64")
    _, t = gg.func.jvp(fn, (x,), (gg.tensor([1.0, 1.0], dtype="float64"),))
    assert t.tolist() == [1.0, 4.0]
    np.testing.assert_array_equal(gg.func.jacobian(fn, mode="forward")(x).numpy(),
                                  gg.func.jacobian(fn, mode="reverse")(x).numpy())


@settings(max_examples=15, deadline=None)
@given(st.lists(step, min_size=1, max_size=5))
def test_random_compositions_jvp_equals_gradient_dot_v(steps):
    fn = make_fn(steps)
    rng = np.random.default_rng(2)
    xs = [gg.tensor(rng.uniform(-1, 1, s), dtype="float64") for s in SHAPES]
    vs = [gg.tensor(rng.standard_normal(s), dtype="float64") for s in SHAPES]
    value, jv = gg.func.jvp(fn, tuple(xs), tuple(vs))
    grads = gg.func.grad(fn, tuple(range(len(xs))))(*xs)
    expected = sum(float((g.numpy() * v.numpy()).sum()) for g, v in zip(grads, vs))
    assert jv.item() == pytest.approx(expected, rel=1e-10, abs=1e-12)
    graph = gg.trace(lambda *a: gg.func.jvp(fn, a[:4], a[4:]),
                     *[gg.Spec(s, "float64") for s in SHAPES * 2])
    traced = gg.run_graph(graph, *[t.numpy() for t in xs + vs])
    np.testing.assert_allclose([t.item() for t in traced], [value.item(), jv.item()],
                               rtol=1e-12)

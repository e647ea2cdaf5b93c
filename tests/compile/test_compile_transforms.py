"""Forward mode and higher derivatives inside gg.compile: the tangent and second-order
computations are part of the traced graph (phases "tangent"/"backward"), optimized and
rendered like any other. Oracle: the seed's hand-derived derivatives."""

import math

import numpy as np
import pytest

import graphgrad as gg


def f(x1, x2):
    return gg.log(x1) + x1 * x2 - gg.sin(x2)


def test_jvp_inside_compile_matches_hand_derived_tangents():
    @gg.compile
    def directional(x1, x2, t1, t2):
        _, tangent = gg.func.jvp(f, (x1, x2), (t1, t2))
        return tangent

    one, zero = gg.tensor(1.0, dtype="float64"), gg.tensor(0.0, dtype="float64")
    x1, x2 = gg.tensor(2.0, dtype="float64"), gg.tensor(5.0, dtype="float64")
    assert directional(x1, x2, one, zero).item() == pytest.approx(5.5)
    assert directional(x1, x2, zero, one).item() == pytest.approx(2 - math.cos(5))
    graph = directional.last.graph
    assert "tangent" in graph.nodes_by_phase()
    assert directional.cache_info().traces == 1


def test_hessian_inside_compile_and_its_diagram():
    @gg.compile
    def hess(x):
        return gg.func.hessian(lambda v: f(v[0], v[1]))(x)

    h = hess(gg.tensor([2.0, 5.0], dtype="float64")).numpy()
    np.testing.assert_allclose(h, [[-1 / 4, 1.0], [1.0, math.sin(5)]], rtol=1e-12)
    import graphgrad.viz as viz

    dot = viz.to_dot(hess, part="both").source
    assert "tangent" in dot or "backward" in dot

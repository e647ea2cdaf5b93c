"""The seed material's worked examples, by hand-derived values.

- f(x1, x2) = log(x1) + x1*x2 - sin(x2) at (2, 5): f = log 2 + 10 - sin 5 = 11.6521,
  df/dx1 = 1/x1 + x2 = 5.5, df/dx2 = x1 - cos(x2) = 2 - cos 5 = 1.7163.
- y = a**2 + b at a=3, b=2: dy/da = 2a = 6, dy/db = 1.
- loss = (w*x + b - y)**2 at w=5, b=2, x=2, y=7: residual 5, loss 25,
  dloss/dw = 2*5*x = 20, dloss/db = 2*5 = 10.
"""

import math

import pytest

import graphgrad as gg


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_mul_sin_example(dtype):
    x1 = gg.tensor(2.0, dtype=dtype, requires_grad=True)
    x2 = gg.tensor(5.0, dtype=dtype, requires_grad=True)
    f = gg.log(x1) + x1 * x2 - gg.sin(x2)
    f.backward()
    assert f.item() == pytest.approx(math.log(2) + 10 - math.sin(5), rel=1e-6)
    assert round(f.item(), 4) == 11.6521
    assert x1.grad.item() == pytest.approx(5.5, rel=1e-6)
    assert x2.grad.item() == pytest.approx(2 - math.cos(5), rel=1e-6)
    assert round(x2.grad.item(), 4) == 1.7163


def test_square_plus_example():
    a = gg.tensor(3.0, requires_grad=True)
    b = gg.tensor(2.0, requires_grad=True)
    y = a ** 2 + b
    y.backward()
    assert y.item() == 11.0
    assert a.grad.item() == 6.0
    assert b.grad.item() == 1.0


def test_squared_residual_example():
    w = gg.tensor(5.0, requires_grad=True)
    b = gg.tensor(2.0, requires_grad=True)
    x, y = gg.tensor(2.0), gg.tensor(7.0)
    loss = (w * x + b - y) ** 2
    loss.backward()
    assert loss.item() == 25.0
    assert w.grad.item() == 20.0
    assert b.grad.item() == 10.0


def test_seed_examples_through_the_traced_graph():
    def f(x1, x2):
        return gg.log(x1) + x1 * x2 - gg.sin(x2)

    graph = gg.differentiate(gg.trace(f, gg.Spec((), "float64"), gg.Spec((), "float64")))
    value, g1, g2 = (t.item() for t in gg.run_graph(graph, 2.0, 5.0))
    assert value == pytest.approx(math.log(2) + 10 - math.sin(5), rel=1e-12)
    assert g1 == pytest.approx(5.5, rel=1e-12)
    assert g2 == pytest.approx(2 - math.cos(5), rel=1e-12)

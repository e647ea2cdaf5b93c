"""examples/autodiff_basics.py: reverse-mode gradients of three small functions.

Oracle: derivatives by hand. log(x1) + x1*x2 - sin(x2) at (2, 5): d/dx1 = 1/x1 + x2 =
5.5, d/dx2 = x1 - cos(x2) = 1.7163; a**2 + b at (3, 2): 6 and 1; (w*x + b - y)**2 at
w=5, b=2, x=2, y=7: value 25, d/dw = 2(wx + b - y)x = 20, d/db = 10. Gradient descent
on that one sample moves (w, b) along (x, 1) only and shrinks the residual by 0.9 per
step (lr 1e-2), so it converges to the nearest solution, w = 3, b = 1; after 100 steps
the residual is 5 * 0.9**100 ~ 1.3e-4.
"""

import math

import pytest
from example_helpers import check_diagrams, example, needs_dot, svg_texts

autodiff_basics = example("autodiff_basics")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("autodiff_basics")
    return autodiff_basics.main(["--epochs", "100", "--out", str(out)]), out


def test_eager_gradients_match_the_hand_derivations(run):
    result, _ = run
    f = result["log_mul_sin"]
    assert f["f"] == pytest.approx(math.log(2) + 10 - math.sin(5), rel=1e-6)
    assert f["df/dx1"] == pytest.approx(5.5, rel=1e-6)
    assert f["df/dx2"] == pytest.approx(2 - math.cos(5), rel=1e-6)
    assert (result["square_plus"]["df/da"], result["square_plus"]["df/db"]) == (6.0, 1.0)
    loss = result["squared_loss"]
    assert (loss["L"], loss["dL/dw"], loss["dL/db"]) == (25.0, 20.0, 10.0)


def test_compiled_descent_fits_the_sample(run):
    fit = run[0]["fit"]
    assert fit["first_loss"] == 25.0
    assert fit["w"] == pytest.approx(3.0, abs=1e-3)
    assert fit["b"] == pytest.approx(1.0, abs=1e-3)
    assert fit["loss"] < 1e-6
    assert fit["step"].cache_info().traces == 1


@needs_dot
def test_diagrams_exist_and_parse(run):
    out = run[1]
    check_diagrams(out, "autodiff_basics", forward_has="w", backward_has="w.grad")
    texts = svg_texts(out / "autodiff_log_mul_sin.svg")
    assert {"x1", "x2", "log", "sin"} <= set(texts)
    for name in ("square_plus", "squared_loss"):
        svg_texts(out / f"autodiff_{name}.svg")
    assert any(t.startswith("fused") for t in svg_texts(out / "autodiff_basics_optimized.svg"))

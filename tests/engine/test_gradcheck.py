"""gg.gradcheck: passes correct derivatives, catches wrong ones and names the op.

Oracles: central finite differences in float64 (gradcheck's own), hand-derived
derivatives for the deliberately wrong VJP (d/dx x^2 = 2x, the rule says x), and
the known index of the element a perturbed rule gets wrong.
"""

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.backends import get_backend
from graphgrad.gradcheck import check_gradients
from graphgrad.ops.registry import REGISTRY, Op


def leaf(*shape, seed=0, low=-1.0, high=1.0):
    rng = np.random.default_rng(seed)
    return gg.tensor(rng.uniform(low, high, size=shape), requires_grad=True)


@pytest.fixture
def bad_square():
    """A throwaway op whose VJP forgets the factor 2 (d x^2/dx = 2x, the rule says x)."""
    op = Op("gradcheck_test_bad_square", elementwise=True)
    op.infer = lambda x: (x.shape, x.dtype)
    op.vjp = lambda g, out, x: (g * x,)
    backend = get_backend("numpy")
    backend.kernels[op.name] = np.square
    yield op
    del REGISTRY[op.name]
    del backend.kernels[op.name]


@pytest.fixture
def off_by_one_element():
    """An op whose VJP is right except at flat element 5 of its input."""
    op = Op("gradcheck_test_one_wrong_element")
    op.infer = lambda x: (x.shape, x.dtype)

    def vjp(g, out, x):
        mask = np.zeros(x.shape)
        mask.flat[5] = 1.0
        return (g * gg.tensor(3.0 + mask, dtype=g.dtype),)
    op.vjp = vjp
    backend = get_backend("numpy")
    backend.kernels[op.name] = lambda x: 3.0 * x
    yield op
    del REGISTRY[op.name]
    del backend.kernels[op.name]


@pytest.mark.parametrize("fn, shapes", [
    (lambda a, b: (a * b).sin().sum(1), [(3, 4), (4,)]),
    (lambda a: a.softmax(1), [(3, 4)]),
    (lambda a: a @ a.T, [(3, 4)]),
    (lambda a: (a * a).exp(), [(10, 10)]),  # 100 outputs: the random-cotangent path
    (lambda a, b: (a.tanh() - b, (a / (b * b + 1)).log1p().mean()), [(2, 3), (2, 3)]),
])
def test_correct_derivatives_pass(fn, shapes):
    inputs = [leaf(*s, seed=i) for i, s in enumerate(shapes)]
    assert gg.gradcheck(fn, inputs)


def test_wrong_vjp_raises_and_names_the_op(bad_square):
    x = leaf(3, 4)
    with pytest.raises(gg.GradcheckError, match="gradcheck_test_bad_square") as info:
        gg.gradcheck(lambda a: bad_square(a.sin()).sum(), (x,))
    assert info.value.op == "gradcheck_test_bad_square"
    assert isinstance(info.value, gg.GraphgradError)


def test_wrong_vjp_deep_inside_is_blamed_not_the_output_op(bad_square):
    result = check_gradients(lambda a: (bad_square(a) * 2.0).exp().sum(), (leaf(4),))
    assert not result.passed
    assert result.ops[-1] == "sum"
    assert result.culprit == "gradcheck_test_bad_square"


def test_worst_element_and_its_index_are_reported(off_by_one_element):
    x = leaf(2, 4)
    result = check_gradients(lambda a: off_by_one_element(a), (x,))
    w = result.worst
    assert not result.passed
    assert w.in_index == (1, 1)  # flat element 5 of a (2, 4) input
    assert w.out_index == (1, 1)
    assert w.numerical == pytest.approx(3.0, rel=1e-6)
    assert w.analytical == pytest.approx(4.0)
    assert "input 0[1, 1]" in result.message


def test_raise_exception_false_returns_false(bad_square):
    assert gg.gradcheck(lambda a: bad_square(a), (leaf(3),), raise_exception=False) is False


def test_float32_inputs_are_checked_in_float64():
    x = gg.tensor(np.linspace(0.1, 2.0, 6).reshape(2, 3), dtype=gg.float32, requires_grad=True)
    seen = []

    def fn(a):
        seen.append(a.dtype)
        return (a * a).log()
    assert gg.gradcheck(fn, (x,))
    assert set(seen) == {gg.float64}


def test_inputs_without_grad_pass_through_and_numpy_arrays_are_differentiated():
    idx = gg.tensor([[0], [2]])
    x = np.random.default_rng(1).uniform(size=(2, 3))
    assert gg.gradcheck(lambda a, i: a.gather(1, i) * 2.0, (x, idx))


def test_tolerances_decide():
    # d/dx of x^3 at 1 is 3; with eps=1e-2 the central difference is 3 + eps^2 = 3.0001.
    x = gg.tensor([1.0], dtype=gg.float64, requires_grad=True)
    assert gg.gradcheck(lambda a: a ** 3, (x,), eps=1e-2, atol=1e-3, rtol=0)
    assert not gg.gradcheck(lambda a: a ** 3, (x,), eps=1e-2, atol=1e-5, rtol=0,
                            raise_exception=False)


def test_needs_an_input_that_requires_grad():
    with pytest.raises(gg.GradcheckError, match="no input requires grad"):
        gg.gradcheck(lambda a: a * 2, (gg.tensor([1.0, 2.0]),))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_in_one_derivative_only_is_a_failure():
    # sqrt'(0) is inf analytically; the central difference at 0 reads sqrt(-eps): NaN.
    x = gg.tensor([0.0, 1.0], dtype=gg.float64, requires_grad=True)
    with pytest.raises(gg.GradcheckError, match="sqrt"):
        gg.gradcheck(lambda a: a.sqrt(), (x,))


@pytest.fixture
def bad_forward_square():
    """x^2 with a right VJP (2x g) and a wrong JVP (x t instead of 2x t)."""
    op = Op("gradcheck_test_bad_jvp_square", elementwise=True)
    op.infer = lambda x: (x.shape, x.dtype)
    op.vjp = lambda g, out, x: (g * 2.0 * x,)
    op.jvp = lambda t, out, x: t[0] * x
    backend = get_backend("numpy")
    backend.kernels[op.name] = np.square
    yield op
    del REGISTRY[op.name]
    del backend.kernels[op.name]


@pytest.mark.parametrize("fn, shapes", [
    (lambda a, b: (a * b).sin().sum(1), [(3, 4), (4,)]),
    (lambda a: a.softmax(1), [(2, 3)]),
    (lambda a, b: (a @ b, (a.exp() + 1).log()), [(2, 3), (3, 2)]),
])
def test_forward_mode_is_checked_too(fn, shapes):
    inputs = [leaf(*s, seed=i) for i, s in enumerate(shapes)]
    assert gg.gradcheck(fn, inputs, check_forward=True)


def test_wrong_jvp_is_caught_only_in_forward_mode(bad_forward_square):
    fn = lambda a: bad_forward_square(a.cos()) * 3.0  # noqa: E731
    assert gg.gradcheck(fn, (leaf(2, 2),))
    with pytest.raises(gg.GradcheckError, match="JVP of op `gradcheck_test_bad_jvp_square`") \
            as info:
        gg.gradcheck(fn, (leaf(2, 2),), check_forward=True)
    assert "forward mode" in str(info.value)
    assert info.value.op == "gradcheck_test_bad_jvp_square"

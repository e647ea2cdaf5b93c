"""Kernels bound to their attributes at lowering time (backends/numpy_specialize.py)
give the generic kernels' answers, and plans use them.

Oracle: the generic kernel of the same op called with keywords, which the conformance
suite checks against float64 NumPy (bit for bit: the same NumPy calls either way), and
plain NumPy indexing; the plan's source, for which kernel a line calls.
"""

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.backends.base import Expression
from graphgrad.backends.numpy_gemv_sum import full_sum
from graphgrad.backends.numpy_specialize import bind

BACKEND = gg.backends.get_backend("numpy")
K = BACKEND.kernels
RNG = np.random.default_rng(5)


def special(op, arrays, **attrs):
    fn = BACKEND.specialize(op, [(a.shape, a.dtype.name) for a in arrays], attrs)
    assert fn is not None, op
    return fn(*arrays)


def same(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op", ["sum", "max", "min"])
@pytest.mark.parametrize("shape,axis", [((11,), None), ((11,), (0,)), ((), None),
                                        ((3, 4, 5), (0, 2)), ((6000, 3), (0,))])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(op, shape, axis, keepdims):
    x = RNG.standard_normal(shape).astype(np.float32)
    got = special(op, [x], axis=axis, keepdims=keepdims)
    if op == "sum" and full_sum(shape, x.dtype, axis, keepdims) is not None:
        # a whole short array summed as a dot product with ones (another summation
        # order): float64 NumPy is the oracle (tests/backends/test_numpy_gemv_sum.py)
        want = np.add.reduce(x.astype(np.float64), axis=axis, keepdims=keepdims)
        assert np.asarray(got).dtype == x.dtype and np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
        return
    same(got, K[op](x, axis=axis, keepdims=keepdims))


SPECS = [(("int", 0),), (("int", -1),), (("slice", 1, None, 2),),
         (("none",), ("int", 2)), (("ellipsis",), ("int", 1)),
         (("slice", None, None, None), ("int", 0))]


@pytest.mark.parametrize("spec", SPECS)
def test_index_and_its_gradient_with_constant_keys(spec):
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    out = special("index", [x], spec=spec)
    same(out, K["index"](x, spec=spec))
    g = RNG.standard_normal(np.shape(out)).astype(np.float32)
    same(special("index_backward", [g], spec=spec, shape=x.shape),
         K["index_backward"](g, spec=spec, shape=x.shape))


def test_tensor_index_gradient_keeps_accumulating_repeats():
    spec = (("tensor",),)
    idx, g = np.array([1, 1, 0]), np.ones((3, 2), np.float32)
    assert bind("index_backward", K["index_backward"], [((3, 2), "float32")],
                {"spec": spec, "shape": (2, 2)}) is None  # np.add.at stays
    same(K["index_backward"](g, idx, spec=spec, shape=(2, 2)), np.float32([[1, 1], [2, 2]]))
    x = RNG.standard_normal((4, 2)).astype(np.float32)
    spec2 = (("slice", None, None, None), ("tensor",))
    same(special("index", [x, np.array([1, 0])], spec=spec2), x[:, [1, 0]])


@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1])
def test_pow_scalar(exponent):
    x = RNG.random(7).astype(np.float32) + 0.5
    same(special("pow_scalar", [x], exponent=exponent), K["pow_scalar"](x, exponent=exponent))


def test_axis_kernels_and_concat():
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    for op in ("softmax", "log_softmax"):
        same(special(op, [x], axis=1), K[op](x, axis=1))
    idx = RNG.integers(0, 4, (5, 1))
    same(special("gather", [x, idx], axis=1), K["gather"](x, idx, axis=1))
    g = RNG.standard_normal((5, 1)).astype(np.float32)
    same(special("gather_backward", [g, idx], axis=1, shape=(5, 4)),
         K["gather_backward"](g, idx, axis=1, shape=(5, 4)))
    same(special("concat", [x, x], axis=0), np.concatenate([x, x]))
    same(special("broadcast_to", [x[:1]], shape=(3, 4)), np.broadcast_to(x[:1], (3, 4)))


def test_a_plan_calls_no_kernel_with_keywords_on_the_temperature_fit():
    params = gg.tensor([1.0, 0.0], requires_grad=True)
    opt = gg.optim.SGD([params], lr=1e-2)
    x, y = gg.tensor(np.linspace(2, 8, 11, dtype=np.float32)), gg.tensor(np.ones(11, np.float32))

    @gg.compile
    def step(x, y):
        opt.zero_grad()
        loss = ((params[0] * x + params[1] - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    losses = [step(x, y).item() for _ in range(3)]
    for line in step.source.splitlines():
        assert "spec=" not in line and "axis=" not in line, line
    p = np.array([1.0, 0.0], np.float32)  # the same three steps in float32 NumPy
    xs, ys = x.numpy(), y.numpy()
    for got in losses:
        d = p[0] * xs + p[1] - ys
        assert got == pytest.approx(float((d * d).mean()), rel=1e-6)
        g = 2 * d / d.size
        p = p - np.float32(1e-2) * np.array([(g * xs).sum(), g.sum()], np.float32)
    np.testing.assert_allclose(params.detach().numpy(), p, rtol=1e-6)


def test_views_and_batch_takes_are_written_out_in_the_plan():
    """Transposes, reshapes, constant indexing and batch takes are expressions in the
    plan's own line (no kernel call); one picked element is a 0-d view of its array.
    Oracle: the same step run eagerly."""
    gg.manual_seed(0)
    model = gg.nn.Linear(4, 3)
    opt = gg.optim.SGD(model.parameters(), lr=0.1)
    data = gg.tensor(RNG.standard_normal((10, 2, 2)).astype(np.float32))

    def step(idx):
        opt.zero_grad()
        x = data[idx].reshape(-1, 4)
        loss = (model(x)[0, 1] * 3 + model(x).sum()) ** 2
        loss.backward()
        opt.step()
        return loss
    compiled = gg.compile(step)
    idx = gg.tensor(np.array([3, 1, 4, 1]))
    got = [compiled(idx).item() for _ in range(3)]
    source = compiled.source
    assert ".take(idx, 0)" in source and ".reshape((4, 4))" in source
    assert ".T" in source and "[(0, 1, Ellipsis)]" in source
    gg.manual_seed(0)
    model.weight.data, model.bias.data = (gg.tensor(t) for t in _linear_init())
    want = [step(idx).item() for _ in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    key = bind("index", K["index"], [((3, 4), "float32")], {"spec": (("int", 0), ("int", 1))})
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    picked = key(x)
    assert picked.shape == () and np.shares_memory(picked, x) and picked == x[0, 1]


def _linear_init():
    gg.manual_seed(0)
    layer = gg.nn.Linear(4, 3)
    return layer.weight.numpy().copy(), layer.bias.numpy().copy()


def test_an_index_with_numpy_ints_is_not_written_out():
    """A key whose repr would not read back as Python (a NumPy int in a slice) stays a
    kernel call; its result is the plain NumPy indexing's."""
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    spec = (("slice", np.int64(1), None, None),)
    fn = bind("index", K["index"], [(x.shape, "float32")], {"spec": spec})
    assert not isinstance(fn, Expression)
    same(fn(x), x[1:])

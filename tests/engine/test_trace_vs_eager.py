"""Eager gradients equal the gradients of the traced IR, for random compositions of ops.

Oracle: the eager run (`loss.backward()` on concrete float64 tensors) against
`gg.trace` + `gg.differentiate` + `gg.run_graph` of the same Python function; both
must agree to float64 rounding. Hypothesis draws the compositions (small example
counts); the ops mix elementwise, broadcasting, reductions, shape ops, indexing and
matmul, so every VJP family takes part.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import graphgrad as gg

SHAPES = [(3, 4), (4,), (3, 1), (4, 4)]

UNARY = [
    lambda x: gg.exp(gg.tanh(x)), gg.sin, gg.cos, gg.sigmoid, gg.relu, gg.abs,
    lambda x: gg.log1p(x * x), lambda x: gg.sqrt(x * x + 1), lambda x: x ** 3,
    lambda x: 2.0 ** x, lambda x: -x, lambda x: x.clamp(-0.5, 0.5),
    lambda x: x.softmax(-1), lambda x: x.log_softmax(-1),
    lambda x: x.T.T, lambda x: x.reshape(-1).reshape(x.shape),
    lambda x: x[..., ::-1], lambda x: x[..., [0, -1, 0]].sum(-1, keepdim=True) * x,
]
BINARY = [
    lambda x, y: x + y, lambda x, y: x - y, lambda x, y: x * y,
    lambda x, y: x / (1 + y * y), gg.maximum, gg.minimum,
    lambda x, y: gg.where(x > y, x, y * 2),
]
REDUCE = [
    lambda x: x.sum(-1, keepdim=True), lambda x: x.mean(0, keepdim=True),
    lambda x: x.amax(-1, keepdim=True), lambda x: gg.logsumexp(x, -1, keepdim=True),
    lambda x: x.var(-1, unbiased=False, keepdim=True),  # finite for one element too
]

step = st.one_of(
    st.tuples(st.just("unary"), st.integers(0, len(UNARY) - 1), st.integers(0, 99)),
    st.tuples(st.just("binary"), st.integers(0, len(BINARY) - 1), st.integers(0, 99),
              st.integers(0, 99)),
    st.tuples(st.just("reduce"), st.integers(0, len(REDUCE) - 1), st.integers(0, 99)),
    st.tuples(st.just("matmul"), st.integers(0, 99)),
    st.tuples(st.just("stack"), st.integers(0, 99), st.integers(0, 99)),
)


def make_fn(steps):
    """A function of four inputs (shapes SHAPES) built from the drawn steps."""

    def fn(a, b, c, w):
        pool = [a, b, c]
        for s in steps:
            pick = lambda i: pool[i % len(pool)]  # noqa: E731
            kind = s[0]
            if kind == "unary":
                pool.append(UNARY[s[1]](pick(s[2])))
            elif kind == "binary":
                pool.append(BINARY[s[1]](pick(s[2]), pick(s[3])))
            elif kind == "reduce":
                x = pick(s[2])
                pool.append(REDUCE[s[1]](x if x.ndim == 2 else x.unsqueeze(0)))
            elif kind == "matmul":
                x = gg.broadcast_to(pick(s[1]), (3, 4))
                pool.append(x @ w)
            else:
                x, y = (gg.broadcast_to(pick(i), (3, 4)) for i in s[1:])
                pool.append(gg.stack([x, y], 0).sum(0) + gg.cat([x, y], 1)[:, 2:6])
        return sum((t * (k + 1)).sum() for k, t in enumerate(pool))

    return fn


def _values():
    rng = np.random.default_rng(1)
    return [rng.uniform(-1, 1, s) for s in SHAPES]


@settings(max_examples=25, deadline=None)
@given(st.lists(step, min_size=1, max_size=6))
def test_traced_gradients_equal_eager_gradients(steps):
    fn = make_fn(steps)
    values = _values()
    leaves = [gg.tensor(v, dtype="float64", requires_grad=True) for v in values]
    loss = fn(*leaves)
    loss.backward()

    graph = gg.trace(fn, *[gg.Spec(s, "float64") for s in SHAPES])
    full = gg.differentiate(graph).verify()
    assert "backward" in full.nodes_by_phase()
    out = gg.run_graph(full, *values)
    np.testing.assert_allclose(out[0].numpy(), loss.numpy(), rtol=1e-12)
    for leaf, g in zip(leaves, out[1:]):
        np.testing.assert_allclose(g.numpy(), leaf.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_traced_forward_alone_equals_eager():
    fn = make_fn([("binary", 2, 0, 1), ("reduce", 3, 3), ("matmul", 4), ("unary", 13, 5)])
    values = _values()
    eager = fn(*[gg.tensor(v, dtype="float64") for v in values])
    graph = gg.trace(fn, *[gg.Spec(s, "float64") for s in SHAPES]).verify()
    assert set(graph.nodes_by_phase()) == {"forward"}
    np.testing.assert_allclose(gg.run_graph(graph, *values)[0].numpy(), eager.numpy(),
                               rtol=1e-12)

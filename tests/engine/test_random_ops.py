"""Random tensors: shapes, dtypes, ranges, and reproducibility under `gg.manual_seed`.

Oracle: the definitions (uniform in [0, 1), standard normal, integers in [low, high),
permutations of 0..n-1), checked by range/permutation properties and loose moment
bounds on a few thousand draws; the same seed must give the same draws.
"""

import numpy as np
import pytest

import graphgrad as gg

DRAWS = {
    "rand": lambda: gg.rand(2, 3),
    "randn": lambda: gg.randn((2, 3), dtype="float64"),
    "randint": lambda: gg.randint(3, 9, (4,)),
    "randperm": lambda: gg.randperm(6),
}


@pytest.mark.parametrize("name", DRAWS)
def test_manual_seed_makes_draws_reproducible(name):
    gg.manual_seed(123)
    first = [DRAWS[name]().numpy() for _ in range(3)]
    gg.manual_seed(123)
    second = [DRAWS[name]().numpy() for _ in range(3)]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])  # fresh numbers at each call
    gg.manual_seed(124)
    assert not np.array_equal(DRAWS[name]().numpy(), first[0])


def test_shapes_dtypes_and_ranges():
    u = gg.rand(4000)
    assert u.shape == (4000,) and u.dtype == gg.float32
    assert 0 <= u.numpy().min() and u.numpy().max() < 1
    assert abs(u.numpy().mean() - 0.5) < 0.03
    n = gg.randn(50, 80)
    assert n.shape == (50, 80) and n.dtype == gg.float32
    assert abs(n.numpy().mean()) < 0.05 and abs(n.numpy().std() - 1) < 0.05
    assert gg.randn(3, dtype=gg.float64).dtype == gg.float64
    i = gg.randint(-2, 3, (1000,))
    assert i.dtype == gg.int64 and set(i.tolist()) == {-2, -1, 0, 1, 2}
    assert gg.randint(5, size=(2, 2)).shape == (2, 2)
    p = gg.randperm(10)
    assert p.dtype == gg.int64 and sorted(p.tolist()) == list(range(10))
    assert gg.rand_like(gg.ones(2, 2, dtype=gg.float64)).dtype == gg.float64
    assert gg.randn_like(gg.ones(3)).shape == (3,)


def test_random_leaves_can_require_grad():
    w = gg.randn(3, requires_grad=True)
    assert w.requires_grad and w.is_leaf
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * w.numpy())


def test_random_ops_become_graph_nodes_when_traced():
    graph = gg.trace(lambda x: x + gg.rand(3), gg.Spec((3,)))
    assert "rand" in [graph[n]["op"] for n in graph.topo_order()]
    gg.manual_seed(7)
    a = gg.run_graph(graph, np.zeros(3, np.float32))[0].numpy()
    b = gg.run_graph(graph, np.zeros(3, np.float32))[0].numpy()
    assert not np.array_equal(a, b)
    gg.manual_seed(7)
    np.testing.assert_array_equal(gg.run_graph(graph, np.zeros(3, np.float32))[0].numpy(), a)

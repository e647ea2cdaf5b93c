"""The plan's schedule (passes/schedule.py): what needs no all-reduce runs first.

Oracles: the definition (a topological order; every node that reads an all-reduce's
result, directly or not, after every node that does not; creation order within each
part), checked on a compiled step's optimized graph (fusion off, so node ids are the
creation order); and eager execution: random draws keep their order (they take no
operands, so none waits for an all-reduce), so a compiled step draws the eager masks.
"""

import numpy as np

import graphgrad as gg
from graphgrad import nn
from graphgrad.ops.collective import LOCAL, all_reduce


def two_dropouts(x):
    reduced = all_reduce(x * 2, "sum", LOCAL)
    first = nn.functional.dropout(reduced, 0.5, training=True)  # waits for the reduce
    second = nn.functional.dropout(x, 0.5, training=True)  # drawn after it, eagerly too
    product = x.reshape(2, 4) @ x.reshape(4, 2)  # made after, needs no all-reduce
    return first + second, product


def test_the_schedule_puts_the_readers_of_all_reduces_last_and_keeps_draws_in_order():
    x = gg.tensor(np.arange(1.0, 9.0, dtype=np.float32))
    gg.manual_seed(3)
    want = [t.numpy() for t in two_dropouts(x)]
    step = gg.compile(two_dropouts, passes=["dce", "memory"])
    gg.manual_seed(3)
    got = [t.numpy() for t in step(x)]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)

    graph = step.last.optimized
    order = graph.schedule
    pos = {n: i for i, n in enumerate(order)}
    assert sorted(order) == sorted(graph.nx.nodes)
    for n in order:
        assert all(pos[a] < pos[n] for a in graph.args(n))
    (reduce,) = [n for n in order if graph[n]["op"] == "all_reduce"]
    late = set()
    for n in order:
        if any(a == reduce or a in late for a in graph.args(n)):
            late.add(n)
    first_late = min(pos[n] for n in late)
    assert all(pos[n] < first_late for n in order if n not in late)
    assert [n for n in order if n in late] == [n for n in graph.topo_order() if n in late]
    (matmul,) = [n for n in order if graph[n]["op"] == "matmul"]
    assert matmul > min(late) and pos[matmul] < first_late  # runs while the reduce runs


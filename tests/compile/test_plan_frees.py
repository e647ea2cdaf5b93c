"""A lowered plan drops each large value after its last use and leaves small ones to
the end of the call (engine/runtime.py, `passes/memory.py: kept_to_the_end`).

Oracles: the plan's own source (which names a `del` line drops), the process's
allocations measured by tracemalloc (peak memory of a chain of large steps stays near
two live values), and the same step run eagerly.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

import graphgrad as gg
from graphgrad.passes import memory


def _chain():
    def f(x):
        a = gg.exp(x)
        b = gg.sin(a) @ x.T  # (not fusable past the matmul: separate values)
        c = gg.cos(b) @ x
        d = gg.tanh(c) @ x.T
        return (d * 2).sum()
    return f


def test_small_values_stay_and_large_ones_are_dropped():
    f = _chain()
    small = gg.tensor(np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32))
    compiled = gg.compile(f)
    np.testing.assert_allclose(compiled(small).item(), f(small).item(), rtol=1e-4)
    # every value is a few hundred bytes: only views (here x.T) are dropped, which
    # could hold a large base
    views = {ln.split("=")[0].strip() for ln in compiled.source.splitlines()
             if ln.split("#")[0].rstrip().endswith(".T")}
    dropped = {v.strip() for ln in compiled.source.splitlines()
               if ln.strip().startswith("del ") for v in ln.strip()[4:].split(",")}
    assert dropped <= views
    side = int(np.sqrt(memory.SMALL_VALUE // 4)) + 8  # each value just over the limit
    big = gg.tensor(np.random.default_rng(1).standard_normal((side, side)).astype(np.float32))
    compiled_big = gg.compile(f)
    compiled_big(big)
    assert "del " in compiled_big.source
    tracemalloc.start()
    compiled_big(big)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 * side * side * 4  # at most a few values of the chain alive at once


def test_the_small_values_kept_are_bounded_in_all():
    x = gg.tensor(np.ones((32, 32), np.float32))  # 4 KiB per value
    m = gg.tensor(np.eye(32, dtype=np.float32))

    def many(x):
        y = x
        for _ in range(100):  # 200 values of 4 KiB: more than SMALL_VALUES in all
            y = gg.sin(y) @ m
        return y.sum()
    compiled = gg.compile(many)
    np.testing.assert_allclose(compiled(x).item(), many(x).item(), rtol=1e-5)
    assert 0 < compiled.source.count("del ")  # past the budget, values are dropped again


def test_a_small_view_of_a_large_value_does_not_keep_it_alive():
    """`big[0]` is a few bytes but a view of `big`: dropping it is what frees `big`."""
    side = 512

    def f(x):
        big = gg.exp(x) @ x  # 1 MiB, fresh
        first = big[0]  # a 2 KiB view of it
        rest = gg.tanh(first) @ x.T
        return rest.sum() + (gg.sin(x) @ x).sum()
    x = gg.tensor(np.random.default_rng(2).standard_normal((side, side)).astype(np.float32)
                  / side)
    compiled = gg.compile(f)
    np.testing.assert_allclose(compiled(x).item(), f(x).item(), rtol=1e-4)
    lines = compiled.source.splitlines()
    view = next(ln.split("=")[0].strip() for ln in lines if "[(0,)]" in ln)
    assert any(ln.strip().startswith("del ") and view in ln for ln in lines)

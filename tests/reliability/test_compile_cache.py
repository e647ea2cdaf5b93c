"""Retracing on new shapes keeps at most `cache_size` plans (least recently used dropped).

Oracles: weak references to every plan and to the constant buffer each plan binds (a
tensor made inside the traced function) show which plans are still alive after
`gc.collect()`; `tracemalloc` (NumPy reports its buffers to it) bounds the bytes that
40 retraces leave behind by the documented cache size times one plan's buffer; the
LRU order is checked by hand-picked call sequences; each result against NumPy.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.compile import CACHE_SIZE

# These tests retrace on purpose; the warning that says so is tested on its own.
pytestmark = pytest.mark.filterwarnings("ignore:gg.compile.*traced again:UserWarning")


def _weighted_sum(width: int = 1024):
    def fn(x):
        table = gg.arange(x.shape[0] * width, dtype=gg.float64).reshape(x.shape[0], width)
        return (x[:, None] * table).sum()  # `table` becomes a constant of the plan
    return fn


def _expected(n: int, width: int = 1024) -> float:
    x = np.arange(n, dtype=np.float64)
    return float((x[:, None] * np.arange(n * width).reshape(n, width)).sum())


def _constants(entry) -> list:
    return [v for k, v in entry.plan.run.__globals__.items()
            if isinstance(v, np.ndarray) and k.startswith("c")]


def test_the_documented_size_is_eight():
    assert CACHE_SIZE == 8
    assert gg.compile(lambda x: x).cache_size == CACHE_SIZE
    assert gg.compile(cache_size=3)(lambda x: x).cache_size == 3
    with pytest.raises(gg.GraphgradError, match="cache_size"):
        gg.compile(lambda x: x, cache_size=0)


def test_old_plans_and_their_buffers_are_freed():
    f = gg.compile(_weighted_sum(), cache_size=4)
    plans, buffers = {}, {}
    for n in range(1, 13):
        out = f(gg.arange(n, dtype=gg.float64))
        assert out.item() == pytest.approx(_expected(n), rel=1e-12)
        plans[n] = weakref.ref(f.last.plan)
        buffers[n] = [weakref.ref(c) for c in _constants(f.last)]
        assert buffers[n], "the plan should hold the table as a constant"
    gc.collect()
    alive = sorted(n for n, ref in plans.items() if ref() is not None)
    assert alive == [9, 10, 11, 12]
    assert all(r() is None for n in range(1, 9) for r in buffers[n])
    info = f.cache_info()
    assert (info.traces, info.entries, info.evictions) == (12, 4, 8)
    assert "8 evicted" in str(info)


def test_least_recently_used_goes_first():
    f = gg.compile(lambda x: x * 2, cache_size=3)
    for n in (1, 2, 3):
        f(gg.ones(n))
    f(gg.ones(1))  # a hit refreshes 1
    f(gg.ones(4))  # so 2 is evicted, not 1
    sizes = sorted(sig[3][0][1][0] for sig in f.entries)  # (grad mode, tree, kw, specs)
    assert sizes == [1, 3, 4]
    traces = f.cache_info().traces
    np.testing.assert_array_equal(f(gg.ones(2)).numpy(), [2.0, 2.0])  # traced again
    assert f.cache_info().traces == traces + 1


def test_forty_retraces_hold_at_most_cache_size_plans():
    rows, width = 16, 4096
    total = rows * width * (rows * width - 1) / 2  # sum of the table

    def fn(x):  # a new signature for every width of x; the same 512 KB table in each plan
        table = gg.arange(rows * width, dtype=gg.float64).reshape(rows, width)
        return (x[:, :1] * table).sum()

    f = gg.compile(fn)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        f(gg.ones(rows, 1, dtype=gg.float64))
        gc.collect()
        one = tracemalloc.get_traced_memory()[0] - base  # one plan, its graphs and buffers
        for k in range(2, 41):
            assert f(gg.ones(rows, k, dtype=gg.float64)).item() == total
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert one >= rows * width * 8
    assert f.cache_info().entries == CACHE_SIZE
    assert held <= (CACHE_SIZE + 1) * one, \
        f"40 retraces hold {held / 2**20:.1f} MB, one plan {one / 2**20:.1f} MB"


def _fused_kernels(entry) -> list:
    return [v for k, v in entry.plan.run.__globals__.items() if k.startswith("fused_")]


def test_evicted_plans_free_their_fused_kernels():
    f = gg.compile(lambda x: ((x * 2 + 1).exp() * x).sum(), cache_size=2)
    kernels = {}
    for n in range(1, 6):
        f(gg.ones(n * 1000))
        kernels[n] = [weakref.ref(k) for k in _fused_kernels(f.last)]
        assert kernels[n], "the plan should hold a fused kernel"
    gc.collect()
    assert all(r() is None for n in (1, 2, 3) for r in kernels[n])
    assert all(r() is not None for n in (4, 5) for r in kernels[n])


def test_trace_records_are_bounded():
    from graphgrad.plan_cache import MAX_RECORDS

    f = gg.compile(lambda x: x + 1, cache_size=1)
    with pytest.warns(UserWarning):
        for n in range(1, MAX_RECORDS + 11):
            f(gg.ones(n))
    info = f.cache_info()
    assert info.traces == MAX_RECORDS + 10 and len(info.records) == MAX_RECORDS
    assert f"trace {MAX_RECORDS + 10}:" in str(info)


def test_retracing_on_most_calls_warns_once_naming_the_argument():
    f = gg.compile(lambda x, n: x * n, cache_size=4)
    with pytest.warns(UserWarning, match="argument 'n' keeps changing") as record:
        for n in range(20):
            f(gg.ones(2), n)
    assert len([w for w in record if "keeps changing" in str(w.message)]) == 1


def test_a_few_signatures_in_turn_do_not_warn():
    import warnings

    f = gg.compile(lambda x: x * 2, cache_size=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(40):
            f(gg.ones(1 + i % 3))
    assert f.cache_info().traces == 3

"""Memory of compiled and eager steps on large arrays: flat over many calls, and a peak
near hand-written NumPy's.

Oracles: the process's resident set (/proc/self/status) over 200 compiled calls of the
elementwise value-and-gradient step on 16 MB arrays, with the cyclic garbage collector
off (so memory held by reference cycles would show: each call's arrays would stay), and
the peak resident set (VmHWM) of benchmarks/peers.py's memory child, one fresh process
per system, against hand-written NumPy's on the same workload.
"""

import gc
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphgrad as gg

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "peers.py"
MB = 1 << 20


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


@pytest.fixture
def no_cyclic_gc():
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_rss_is_flat_over_200_compiled_calls_on_16mb_arrays(no_cyclic_gc):
    @gg.compile
    def value_and_grad(x):
        x.grad = None
        y = (gg.tanh(0.5 * x) * gg.sigmoid(x) + 0.1 * x * x).sum()
        y.backward()
        return y

    xs = np.random.default_rng(0).standard_normal(4 * MB // 4).astype(np.float32)  # 16 MB
    x = gg.tensor(xs, requires_grad=True)
    for _ in range(5):
        value_and_grad(x)
    before = rss_mb()
    for i in range(200):
        value_and_grad(x)
        if i % 20 == 19:  # stop early: a leak of 16 MB per call would take GBs
            assert rss_mb() - before < 48, f"RSS grew {rss_mb() - before:.0f} MB in {i + 1} calls"
    assert rss_mb() - before < 48
    assert np.isfinite(x.grad.numpy()).all()


def peak(system: str) -> dict:
    result = subprocess.run([sys.executable, str(SCRIPT), "--child", "rss", "--workloads",
                             "elementwise", "--systems", system], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert "error" not in row, row
    return row


@pytest.fixture(scope="module")
def hand_peak() -> dict:
    return peak("numpy (hand)")


def test_compiled_peak_rss_is_within_1_5x_hand_numpy(hand_peak):
    """4M float32 elements: the step's own memory (peak minus the resident set before
    the step was built) compiled, against hand NumPy's."""
    hand, compiled = hand_peak, peak("graphgrad compiled")
    own = {k: r["peak"] - r["before"] for k, r in (("hand", hand), ("compiled", compiled))}
    assert own["compiled"] <= 1.5 * own["hand"], own
    assert compiled["peak"] <= 1.5 * hand["peak"], (compiled, hand)


def test_eager_peak_rss_is_within_1_5x_hand_numpy(hand_peak):
    """The same step run eagerly: its graph keeps only what VJPs read, and backward
    frees each node's values as it goes (tests/engine/test_saved_values.py). Its own
    memory is about 1.6x hand NumPy's (the backward holds the cotangents of both
    factors of a product while the hand-written gradient shares subexpressions), so
    the bound is on the peak, with a looser one on its own memory."""
    hand, eager = hand_peak, peak("graphgrad eager")
    assert eager["peak"] <= 1.5 * hand["peak"], (eager, hand)
    assert eager["peak"] - eager["before"] <= 1.8 * (hand["peak"] - hand["before"]), (eager, hand)

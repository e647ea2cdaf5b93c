"""20,000 training steps, eager and compiled, keep resident memory flat after warm-up.

Oracle: the resident set size (pages in RAM, `/proc/self/statm`) of a fresh interpreter
training the digits MLP (64 -> 128 -> 128 -> 10, batch 64, Adam, one fixed batch) for
20,000 steps: after a warm-up, every sample and the end stay within 5% of the level
right after warm-up. The measurement is shown to see a leak: the same loop keeping
each step's graph alive (as a global tape would) grows RSS by far more than 5%. A fresh
interpreter keeps other tests' garbage out of the numbers; BLAS is held to one thread
(these matrices are tiny, and spinning BLAS threads only slow a busy CI machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="needs /proc/self/statm (Linux) to read RSS")

SCRIPT = r"""
import contextlib, gc, json, os, sys, time
import graphgrad as gg
from graphgrad import nn, optim

try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = lambda limits: contextlib.nullcontext()

PAGE = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

mode, steps, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
gg.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                      nn.Linear(128, 10))
opt = optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()

def step(x, y):
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return loss

run = gg.compile(step) if mode == "compiled" else step
x, y = gg.randn(64, 64), gg.randint(0, 10, (64,))
kept = []
with threadpool_limits(limits=1):
    for _ in range(warmup):
        run(x, y)
    gc.collect()
    base, samples, t0 = rss(), [], time.perf_counter()
    for i in range(steps - warmup):
        loss = run(x, y)
        if mode == "leaky":
            kept.append(loss)  # keeps the step's whole graph alive
        if i % 500 == 0:
            samples.append(rss())
    seconds = time.perf_counter() - t0
gc.collect()
samples.append(rss())
traces = run.cache_info().traces if mode == "compiled" else None
print(json.dumps({"base": base, "samples": samples, "seconds": seconds,
                  "loss": float(loss.item()), "traces": traces}))
"""


def _train(mode: str, steps: int, warmup: int) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(steps), str(warmup)],
                         capture_output=True, text=True, timeout=900, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - t0
    return result


def _growth(result: dict) -> float:
    return max(result["samples"]) / result["base"] - 1


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["compiled", "eager"])
def test_20000_training_steps_keep_resident_memory_flat(mode):
    result = _train(mode, 20_000, warmup=300)
    assert result["loss"] < 0.01  # it really trained (one fixed batch: memorized)
    if mode == "compiled":
        assert result["traces"] == 1
    mb = [round(s / 2**20, 1) for s in result["samples"]]
    assert _growth(result) <= 0.05, (
        f"RSS grew {_growth(result):.1%} after warm-up ({result['base'] / 2**20:.1f} MB -> "
        f"{max(mb)} MB; samples every 500 steps: {mb})")


def test_the_measurement_sees_a_leak():
    result = _train("leaky", 600, warmup=100)
    assert _growth(result) > 0.05, f"keeping 500 graphs grew RSS by only {_growth(result):.1%}"

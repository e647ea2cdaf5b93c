"""The five workloads of benchmarks/peers.py (six rows: the temperature fit is written
two ways), as plain NumPy data and initial parameters that every system copies.

A system never sees another's arrays: each builds its own parameters from `init`, so
all start from the same numbers, and each draws batches from the same index list in
the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphgrad.bench_steps import mlp_weights

T_U = [35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4]
T_C = [0.5, 14.0, 15.0, 28.0, 11.0, 8.0, 3.0, -4.0, 6.0, 13.0, 21.0]


@dataclass
class Workload:
    """What one workload is: its kind ("temperature", "mlp", "elementwise"), data,
    initial parameters and hyperparameters, and how many steps make one timed block."""

    key: str
    title: str
    kind: str
    steps: int
    data: dict = field(default_factory=dict)
    hyper: dict = field(default_factory=dict)


def temperature(key: str, indexing: bool) -> Workload:
    form = "params[0] * t_u + params[1]" if indexing else "w * t_u + b"
    t_u = 0.1 * np.array(T_U, np.float32)  # the seed's normalized input t_un
    return Workload(key, f"temperature fit, {form} (11 points, SGD)", "temperature", 2000,
                    {"x": t_u, "y": np.array(T_C, np.float32),
                     "params": np.array([1.0, 0.0], np.float32)},
                    {"lr": 1e-2, "indexing": indexing})


def mlp(key, title, sizes, batch, n_data, loss, opt, lr, by_index, bias, steps) -> Workload:
    """A ReLU MLP step: `loss` "mse" or "ce" (integer labels), `opt` "sgd" or "adam";
    with `by_index` the batch is drawn by an index array inside the step."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n_data, sizes[0])).astype(np.float32)
    if loss == "mse":
        A = rng.standard_normal((sizes[0], sizes[-1])).astype(np.float32) / 8
        Y = (X @ A + 0.1 * rng.standard_normal((n_data, sizes[-1]))).astype(np.float32)
    else:
        Y = rng.integers(0, sizes[-1], n_data)
    order = [rng.integers(0, n_data, batch) for _ in range(64)]
    return Workload(key, title, "mlp", steps,
                    {"X": X, "Y": Y, "weights": mlp_weights(sizes), "order": order},
                    {"sizes": sizes, "batch": batch, "loss": loss, "opt": opt, "lr": lr,
                     "by_index": by_index, "bias": bias})


def elementwise(key: str, n: int) -> Workload:
    """f(x) = sum(tanh(0.5 x) sigmoid(x) + 0.1 x^2) and its gradient (benchmarks/fusion.py)."""
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    return Workload(key, f"fused elementwise value+grad, {n:,} float32", "elementwise", 5,
                    {"x": x})


KEYS = ["temp", "temp_idx", "two_layer", "digits", "wide", "elementwise"]


def make(quick: bool = False, keys=KEYS) -> dict[str, Workload]:
    """The workloads named by `keys` (each built only when named: a memory child's
    baseline holds no other workload's data); `quick` shrinks the large ones."""
    wide = [784, 256, 256, 10] if quick else [784, 2048, 2048, 10]
    factories = {
        "temp": lambda: temperature("temp", indexing=False),
        "temp_idx": lambda: temperature("temp_idx", indexing=True),
        "two_layer": lambda: mlp("two_layer", "two-layer ERM 64-128-16, batch 32 by index, SGD",
                                 [64, 128, 16], 32, 1024, "mse", "sgd", 1e-2, True, False, 300),
        "digits": lambda: mlp("digits", "digits MLP 64-128-128-10, batch 64, Adam",
                              [64, 128, 128, 10], 64, 1797, "ce", "adam", 1e-3, False, True,
                              100),
        "wide": lambda: mlp("wide", f"wide MLP {'-'.join(map(str, wide))}, batch 512, SGD",
                            wide, 64 if quick else 512, 512, "ce", "sgd", 1e-3, False, True, 3),
        "elementwise": lambda: elementwise("elementwise", 1 << 16 if quick else 4_000_000),
    }
    ws = [factories[k]() for k in keys]
    for w in ws:
        if quick:
            w.steps = max(1, w.steps // 100)
    return {w.key: w for w in ws}


def batches(w: Workload):
    """The index arrays of a by-index workload, cycled forever (each system its own)."""
    order, k = w.data["order"], 0
    while True:
        yield order[k % len(order)]
        k += 1

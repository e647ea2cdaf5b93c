"""Elementwise fusion benchmark: f(x) = sum(tanh(0.5*x) * sigmoid(x) + 0.1*x*x) and its
gradient on 4M float32 elements.

Prints, from one run with the systems alternating: graphgrad compiled with fusion,
without fusion, compiled on the Numba backend (when installed; its first call, which
compiles, is timed apart: cold, or warm from Numba's disk cache in a later process),
hand-written NumPy, PyTorch eager (when installed), and the memory
floor: one read of x and one write of the gradient (a copy of 4M floats).

    python benchmarks/fusion.py [--n 4000000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import graphgrad as gg
from graphgrad.bench import measure

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


def f(x):
    return (gg.tanh(0.5 * x) * gg.sigmoid(x) + 0.1 * x * x).sum()


def value_and_grad(x):
    x.grad = None
    y = f(x)
    y.backward()
    return y


def _numba_system(xs):
    """The fused step compiled on the Numba backend, after timing its first call."""
    xn = gg.tensor(xs).to("numba").requires_grad_()
    step = gg.compile(value_and_grad, backend="numba")
    start = time.perf_counter()
    y = step(xn)
    print(f"numba backend: first call (trace, compile, run) {time.perf_counter() - start:.2f} s")
    np.testing.assert_allclose(xn.grad.numpy(), _hand(xs)[1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(y.item(), float(_hand(xs)[0]), rtol=1e-4)
    return lambda: step(xn)


def _hand(xs):
    t = np.tanh(0.5 * xs)
    s = 1 / (1 + np.exp(-xs))
    y = (t * s + 0.1 * xs * xs).sum()
    g = 0.5 * (1 - t * t) * s + t * s * (1 - s) + 0.2 * xs
    return y, g


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=4_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    xs = np.random.default_rng(0).standard_normal(args.n).astype(np.float32)
    x = gg.tensor(xs, requires_grad=True)
    no_fusion = [p for p in gg.passes.DEFAULT_PIPELINE if p != "fusion"]
    fused = gg.compile(value_and_grad)
    unfused = gg.compile(value_and_grad, passes=no_fusion)
    out = np.empty_like(xs)

    def hand():
        return _hand(xs)

    systems = {
        "graphgrad fused": lambda: fused(x),
        "graphgrad unfused": lambda: unfused(x),
        "numpy (hand)": hand,
        "floor: copy x -> grad": lambda: np.copyto(out, xs),
    }
    if "numba" in gg.backends.available():
        systems["graphgrad numba"] = _numba_system(xs)
    if torch is not None:
        tx = torch.from_numpy(xs.copy()).requires_grad_(True)

        def torch_step():
            tx.grad = None
            y = (torch.tanh(0.5 * tx) * torch.sigmoid(tx) + 0.1 * tx * tx).sum()
            y.backward()
            return y
        systems["pytorch eager"] = torch_step
    times = measure(systems, steps=5, rounds=args.rounds)
    base = times["numpy (hand)"]
    print(f"f(x) and its gradient, {args.n:,} float32 elements (median ms per call)")
    for name, t in times.items():
        print(f"  {name:<24} {t * 1e3:8.2f} ms  {t / base:5.2f}x numpy")
    fused_t, floor = times["graphgrad fused"], times["floor: copy x -> grad"]
    print(f"  fused vs unfused: {times['graphgrad unfused'] / fused_t:.2f}x faster; "
          f"fused vs floor: {fused_t / floor:.1f}x")
    got = fused(x).item()
    np.testing.assert_allclose(got, float(hand()[0]), rtol=1e-4)
    np.testing.assert_allclose(x.grad.numpy(), hand()[1], rtol=1e-4, atol=1e-5)
    return 0


if __name__ == "__main__":
    sys.exit(main())

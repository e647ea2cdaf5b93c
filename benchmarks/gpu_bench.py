"""GPU benchmark: graphgrad on CuPy, compiled (fused kernels) vs unfused, vs PyTorch CUDA eager.

    python benchmarks/gpu_bench.py                 # on a machine with CuPy and a CUDA GPU
    python benchmarks/gpu_bench.py --smoke         # tiny sizes on numpy / torch CPU: checks
                                                   # the script itself, times nothing useful

Two workloads, in one run, each system timed in alternating rounds (median per step):

1. wide MLP, batch 512, 784 -> 2048 -> 2048 -> 10, ReLU, cross-entropy, SGD: the time of
   one training step. Target: graphgrad cupy compiled within 1.2x of PyTorch CUDA eager.
2. the fusion benchmark f(x) = sum(tanh(0.5*x) * sigmoid(x) + 0.1*x*x) and its gradient
   on 4M float32: cupy compiled (elementwise groups fused into generated CUDA kernels)
   vs cupy compiled with every pass but fusion vs PyTorch CUDA eager.
   Target: fused at least 3x faster than unfused.

Without a usable cupy backend the script says why and exits 0 (skipped).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.bench import gg_mlp, mlp_weights, torch_mlp
from graphgrad.passes.manager import DEFAULT_PIPELINE

UNFUSED = [p for p in DEFAULT_PIPELINE if p != "fusion"]


def load_torch(device: str):
    """torch and whether `device` works, or (None, reason)."""
    try:
        import torch
    except ImportError:
        return None, "PyTorch is not installed"
    if device == "cuda" and not torch.cuda.is_available():
        return None, "PyTorch sees no CUDA device"
    return torch, ""


def timed(systems: dict, sync: dict, steps: int, rounds: int) -> dict[str, float]:
    """Median seconds per step of each system, rounds alternating between systems."""
    for name, fn in systems.items():  # warm-up: traces, kernel compiles, allocator pools
        for _ in range(3):
            fn()
        sync[name]()
    samples = {name: [] for name in systems}
    for _ in range(rounds):
        for name, fn in systems.items():
            sync[name]()
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            sync[name]()
            samples[name].append((time.perf_counter() - t0) / steps)
    return {name: statistics.median(s) for name, s in samples.items()}


# ---------------------------------------------------------------------- wide MLP

def gg_mlp_step(weights, backend: str, passes, lr: float):
    model = gg_mlp(weights).to(backend)
    opt, loss_fn = optim.SGD(model.parameters(), lr=lr), nn.CrossEntropyLoss()

    @gg.compile(backend=backend, passes=passes)
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def torch_mlp_step(torch, weights, device: str, lr: float):
    model = torch_mlp(weights).to(device)
    opt, loss_fn = torch.optim.SGD(model.parameters(), lr=lr), torch.nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def wide_mlp(args, torch):
    sizes, batch, lr = ([784, 2048, 2048, 10], 512, 0.01) if not args.smoke else \
        ([12, 16, 16, 10], 8, 0.01)
    weights = mlp_weights(sizes)
    rng = np.random.default_rng(1)
    xs = rng.random((batch, sizes[0]), dtype=np.float32)
    ys = rng.integers(0, sizes[-1], batch)
    x, y = gg.tensor(xs).to(args.backend), gg.tensor(ys).to(args.backend)
    fused = gg_mlp_step(weights, args.backend, "default", lr)
    unfused = gg_mlp_step(weights, args.backend, UNFUSED, lr)
    systems = {f"graphgrad {args.backend} compiled": lambda: fused(x, y),
               f"graphgrad {args.backend} unfused": lambda: unfused(x, y)}
    losses = {name: fn().item() for name, fn in systems.items()}
    if torch is not None:
        tstep = torch_mlp_step(torch, weights, args.device, lr)
        tx, ty = torch.from_numpy(xs).to(args.device), torch.from_numpy(ys).to(args.device)
        systems[f"pytorch {args.device} eager"] = lambda: tstep(tx, ty)
        losses[f"pytorch {args.device} eager"] = tstep(tx, ty).item()
    return systems, losses


# ---------------------------------------------------------------------- fused elementwise

def bench_function(x):
    return (gg.tanh(0.5 * x) * gg.sigmoid(x) + 0.1 * x * x).sum()


def value_and_grad(x):
    y = bench_function(x)
    (g,) = gg.autograd.grad(y, [x])
    return y, g


def fused_elementwise(args, torch):
    n = 4 * 1024 * 1024 if not args.smoke else 4096
    xs = np.random.default_rng(2).normal(size=n).astype(np.float32)
    x = gg.tensor(xs).to(args.backend).requires_grad_(True)
    fused = gg.compile(value_and_grad, backend=args.backend)
    unfused = gg.compile(value_and_grad, backend=args.backend, passes=UNFUSED)
    systems = {f"graphgrad {args.backend} compiled": lambda: fused(x),
               f"graphgrad {args.backend} unfused": lambda: unfused(x)}
    summary = {}
    for name, fn in systems.items():
        y, g = fn()
        summary[name] = (y.item(), g.numpy())
    if torch is not None:
        tx = torch.from_numpy(xs).to(args.device).requires_grad_(True)

        def torch_step():
            y = (torch.tanh(0.5 * tx) * torch.sigmoid(tx) + 0.1 * tx * tx).sum()
            return y, torch.autograd.grad(y, [tx])[0]
        systems[f"pytorch {args.device} eager"] = torch_step
        y, g = torch_step()
        summary[f"pytorch {args.device} eager"] = (y.item(), g.cpu().numpy())
    return systems, summary


# ---------------------------------------------------------------------- report

def report(title, times, ref_name, extra=""):
    print(f"\n{title}")
    ref = times.get(ref_name)
    for name, t in times.items():
        ratio = f"{t / ref:6.2f}x of {ref_name}" if ref else ""
        print(f"  {name:<32} {t * 1e3:9.3f} ms/step   {ratio}")
    if extra:
        print("  " + extra)


def syncs(systems, backend, torch):
    def device_sync():
        backend.synchronize()

    def torch_sync():
        if torch is not None and torch.cuda.is_available():
            torch.cuda.synchronize()
    return {name: torch_sync if name.startswith("pytorch") else device_sync
            for name in systems}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes on the numpy backend and torch CPU")
    args = parser.parse_args(argv)
    args.backend, args.device = ("numpy", "cpu") if args.smoke else ("cupy", "cuda")
    if args.backend not in gg.backends.available():
        reason = {b.name: b.reason for b in gg.backends.info()}.get(args.backend, "not installed")
        print(f"gpu_bench skipped: backend {args.backend!r} unavailable ({reason})")
        return 0
    backend = gg.backends.get_backend(args.backend)
    torch, why = load_torch(args.device)
    if torch is None:
        print(f"(no PyTorch column: {why})")

    systems, losses = wide_mlp(args, torch)
    times = timed(systems, syncs(systems, backend, torch), args.steps, args.rounds)
    report("wide MLP 784-2048-2048-10, batch 512, SGD: one training step", times,
           f"pytorch {args.device} eager",
           "first-step losses: " + ", ".join(f"{k} {v:.6f}" for k, v in losses.items()))

    systems, results = fused_elementwise(args, torch)
    times = timed(systems, syncs(systems, backend, torch), args.steps, args.rounds)
    names = list(times)
    speedup = times[names[1]] / times[names[0]]
    ref = results[names[0]]
    diffs = ", ".join(f"{k}: |dy|/|y| {abs(v[0] - ref[0]) / abs(ref[0]):.2e}, max |dg| "
                      f"{np.max(np.abs(v[1] - ref[1])):.2e}" for k, v in list(results.items())[1:])
    report("f(x) = sum(tanh(0.5x) * sigmoid(x) + 0.1x^2) and its gradient, 4M float32",
           times, f"pytorch {args.device} eager",
           f"fused vs unfused: {speedup:.2f}x faster (target >= 3x); vs compiled: {diffs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

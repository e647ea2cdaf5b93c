"""Time per training step of the model zoo: graphgrad compiled and eager beside PyTorch
eager, on the same thread count, with the compiled step's first-call (trace + compile)
time.

    python benchmarks/zoo.py                 # every workload
    python benchmarks/zoo.py cnn --rounds 7

Each workload is one entry of WORKLOADS: a name, a title and a factory that builds the
systems (step functions from the same initial weights and data) and times the
compiled step's first call. Append a Workload to add a row. Systems are timed in
alternating rounds in one process and the table gives each one's median wall-clock
time per step and its ratio to PyTorch eager, and the same for the process's CPU time
(on a shared machine the wall clock also counts the time other processes held the
cores; the CPU time does not). Each workload runs twice: at default thread settings
(every library as a user gets it) and pinned to one thread; within a run every system
has the same thread count: BLAS, PyTorch's intra-op threads and graphgrad's chunked
fused groups alike.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.bench import blas_threads

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import cnn_digits  # noqa: E402  (the example's model, so the benchmark times what it trains)

TORCH = "torch eager"


@dataclass
class Workload:
    """One row group: `build()` returns ({system: step()}, first-call seconds)."""

    name: str
    title: str
    build: Callable[[], tuple[dict[str, Callable], float]]
    steps: int  # steps per timing round


def _timed_first_call(step: Callable) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def _digit_batches(batch: int, count: int = 4):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    return [(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]) for i in range(count)]


def _torch_cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 2 * 2, 10))


def _cycle(batches, make):
    """A zero-argument step that feeds the batches round-robin to `make`'s step."""
    state = {"i": 0}

    def step():
        x, y = batches[state["i"] % len(batches)]
        state["i"] += 1
        return make(x, y)
    return step


def _gg_step(model, compiled):
    loss_fn, opt = nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return gg.compile(step) if compiled else step


def cnn_systems() -> tuple[dict[str, Callable], float]:
    """examples/cnn_digits.py's CNN, batch 64, Adam, from one set of torch weights."""
    torch.manual_seed(0)
    reference = _torch_cnn()
    weights = {k: v.numpy().copy() for k, v in reference.state_dict().items()}
    raw = _digit_batches(64)
    gg_batches = [(gg.tensor(x), gg.tensor(y)) for x, y in raw]
    systems = {}
    for name, compiled in (("graphgrad compiled", True), ("graphgrad eager", False)):
        model = cnn_digits.make_model()
        model.load_state_dict(weights)
        step = _gg_step(model, compiled)
        systems[name] = _cycle(gg_batches, lambda x, y, s=step: s(x, y).item())
    first = _timed_first_call(systems["graphgrad compiled"])
    t_opt = torch.optim.Adam(reference.parameters(), lr=1e-3)
    t_loss = torch.nn.CrossEntropyLoss()

    def torch_step(x, y):
        t_opt.zero_grad()
        loss = t_loss(reference(x), y)
        loss.backward()
        t_opt.step()
        return loss.item()
    systems[TORCH] = _cycle([(torch.tensor(x), torch.tensor(y)) for x, y in raw], torch_step)
    return systems, first


def sequence_systems(kind: str) -> Callable[[], tuple[dict[str, Callable], float]]:
    """examples/char_lm.py's model of `kind` (benchmarks/zoo_seq.py builds the steps),
    batch 32, context 64, Adam."""
    def build():
        import zoo_seq  # beside this file; it imports the example

        first, _ = zoo_seq.first_call(kind)
        return {"graphgrad compiled": zoo_seq.gg_step(kind),
                "graphgrad eager": zoo_seq.gg_step(kind, compiled=False),
                TORCH: zoo_seq.torch_step(kind)}, first
    return build


WORKLOADS: list[Workload] = [
    Workload("cnn", "digits CNN (2x conv3x3-BN-ReLU-maxpool, linear), batch 64, Adam",
             cnn_systems, steps=30),
    Workload("gru", "character GRU LM (embedding, GRU 256, linear), batch 32, context 64, "
             "Adam", sequence_systems("gru"), steps=3),
    Workload("transformer", "character transformer LM (2 pre-LN blocks, d 128, 4 heads), "
             "batch 32, context 64, Adam", sequence_systems("transformer"), steps=2),
]


def measure(systems: dict, steps: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds per step of each system, alternating round by round."""
    for step in systems.values():  # warm-up: caches, BLAS buffers
        for _ in range(3):
            step()
    samples = {name: [] for name in systems}
    for _ in range(rounds):
        for name, step in systems.items():
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                step()
            samples[name].append(((time.perf_counter() - wall) / steps,
                                  (time.process_time() - cpu) / steps))
    return {name: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
            for name, s in samples.items()}


def format_rows(workload: Workload, times: dict, first: float, threads) -> str:
    wall0, cpu0 = times[TORCH]
    lines = [f"{workload.name}: {workload.title}  [threads: {threads}]",
             f"  {'system':<20} {'wall ms/step':>12} {'ratio':>6} {'CPU ms/step':>12} "
             f"{'ratio':>6}"]
    for name, (wall, cpu) in times.items():
        lines.append(f"  {name:<20} {wall * 1e3:>12.3f} {wall / wall0:>5.2f}x "
                     f"{cpu * 1e3:>12.3f} {cpu / cpu0:>5.2f}x")
    lines.append(f"  first call (trace, autodiff, passes, lower, run): {first * 1e3:.0f} ms")
    return "\n".join(lines)


@contextlib.contextmanager
def fused_threads(n: int | None):
    """graphgrad's chunked fused groups on `n` threads too (they follow OMP_NUM_THREADS,
    as PyTorch's intra-op threads do), so every system runs on the same thread count;
    None leaves the default."""
    if n is None:
        yield
        return
    previous = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(n)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = previous


def main(argv: list[str] | None = None) -> int:
    names = [w.name for w in WORKLOADS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", default=names, help=f"any of {names}")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply steps per round")
    parser.add_argument("--threads", choices=["both", "default", "1"], default="both",
                        help="default thread settings, pinned to one thread, or both")
    args = parser.parse_args(argv)
    settings = {"both": [None, 1], "default": [None], "1": [1]}[args.threads]
    print(f"graphgrad {gg.__version__}, numpy {np.__version__}, torch {torch.__version__}; "
          f"{platform.machine()}; {time.strftime('%Y-%m-%d')}")
    for w in WORKLOADS:
        if w.name not in args.workloads:
            continue
        for threads in settings:
            with blas_threads(threads) as label, fused_threads(threads):
                systems, first = w.build()
                times = measure(systems, max(1, int(w.steps * args.scale)), args.rounds)
            print(format_rows(w, times, first, label), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

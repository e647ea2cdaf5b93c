"""First-call (compile) time of Adam-trained MLPs of growing depth, split by phase.

    python benchmarks/compile_scaling.py                 # depths 8 .. 512
    python benchmarks/compile_scaling.py 16 64 128       # chosen depths
    python benchmarks/compile_scaling.py --profile 128   # cProfile of one first call

Each row is one fresh `gg.compile` of a train step (width 64, batch 32, ReLU layers,
cross-entropy, Adam) on the NumPy backend: the traced graph's node count, then the
first call's seconds spent in tracing (the forward and `opt.step()`), autodiff
(`loss.backward()`), each pass of the pipeline, and lowering (plan generation), and
the whole first call. The last line is the log-log slope of the first call against
the node count between the smallest and the largest depth: 1.0 means linear.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import sys
import time

import numpy as np

import graphgrad as gg
from graphgrad import autodiff, nn, optim

DEPTHS = (8, 32, 128, 256, 512)
WIDTH, BATCH = 64, 32


def mlp_step(depth: int):
    """A compiled Adam train step of a `depth`-layer MLP, and its example inputs."""
    layers = []
    for _ in range(depth - 1):
        layers += [nn.Linear(WIDTH, WIDTH), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(WIDTH, 10))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    @gg.compile(backend="numpy")
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(0)
    x = gg.tensor(rng.standard_normal((BATCH, WIDTH)).astype(np.float32))
    y = gg.tensor(rng.integers(0, 10, BATCH))
    return step, x, y


class _Timed:
    """Wraps a callable and adds up the seconds spent in it."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def first_call(depth: int) -> dict:
    """Compile and run the depth-`depth` step once; seconds by phase."""
    step, x, y = mlp_step(depth)
    compiling = sys.modules["graphgrad.compile"]  # (the package's `compile` is the function)
    saved = autodiff.backward, compiling.run_passes, compiling.Executable
    backward, passes, lower = map(_Timed, saved)
    trace = _Timed(step._trace_graph)
    autodiff.backward, compiling.run_passes, compiling.Executable = backward, passes, lower
    step._trace_graph = trace
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        step(x, y)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        autodiff.backward, compiling.run_passes, compiling.Executable = saved
    row = {"depth": depth, "nodes": len(step.last.graph),
           "trace": trace.seconds - backward.seconds, "autodiff": backward.seconds}
    for stat in step.last.pass_stats:  # (a pass run twice is one column)
        row[stat.name] = row.get(stat.name, 0.0) + stat.seconds
    row["passes"] = passes.seconds  # (with the copy of the traced graph they optimize)
    row["lower"] = lower.seconds
    row["first call"] = total
    row["cpu"] = cpu  # (the process's CPU time: steadier than wall time on a busy machine)
    return row


def print_table(rows: list[dict]) -> None:
    columns = list(rows[0])
    print(" | ".join(f"{c:>10}" for c in columns))
    print("-|-".join("-" * 10 for _ in columns))
    for row in rows:
        print(" | ".join(f"{v:>10}" if isinstance(v, int) else f"{v:>10.3f}"
                         for v in row.values()))
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        for key in ("first call", "cpu"):
            slope = math.log(b[key] / a[key]) / math.log(b["nodes"] / a["nodes"])
            print(f"log-log slope of the first call ({key}) against nodes, {a['nodes']} -> "
                  f"{b['nodes']} nodes: {slope:.2f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("depths", nargs="*", type=int, default=list(DEPTHS))
    parser.add_argument("--profile", type=int, metavar="DEPTH",
                        help="print a cProfile of the first call at this depth")
    args = parser.parse_args(argv)
    if args.profile:
        step, x, y = mlp_step(args.profile)
        profile = cProfile.Profile()
        profile.runcall(step, x, y)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        return
    first_call(4)  # warm up imports and caches
    print_table([first_call(d) for d in args.depths])


if __name__ == "__main__":
    main()

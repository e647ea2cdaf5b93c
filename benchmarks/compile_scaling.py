"""First-call (compile) time of Adam-trained MLPs of growing depth and of two sequence
models, split by phase.

    python benchmarks/compile_scaling.py                 # depths 8 .. 512, then the models
    python benchmarks/compile_scaling.py 16 64 128       # chosen depths (no models)
    python benchmarks/compile_scaling.py --models        # the two sequence models only
    python benchmarks/compile_scaling.py --profile 128   # cProfile of one first call

Each row is one fresh `gg.compile` of a train step on the NumPy backend: for the MLPs,
width 64, batch 32, ReLU layers, cross-entropy, Adam; then examples/char_lm.py's GRU
language model over T = 256 characters and its transformer with 12 pre-LayerNorm blocks
(d_model 128, 4 heads, context 64), batch 32, Adam. Columns: the traced graph's node
count, then the first call's seconds spent in tracing (the forward and `opt.step()`),
autodiff (`loss.backward()`), each pass of the pipeline, and lowering (plan
generation), and the whole first call (which also runs the step once). The last lines
give the log-log slope of the first call against the node count between the smallest
and the largest MLP: 1.0 means linear.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import sys
import time
from pathlib import Path

import numpy as np

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.tensor import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import char_lm  # noqa: E402  (the example's sequence models)

DEPTHS = (8, 32, 128, 256, 512)
WIDTH, BATCH = 64, 32
VOCAB = 65  # (tinyshakespeare's characters, as benchmarks/zoo_seq.py)
MODELS = {"gru T=256": ("gru", 256, 1), "transformer x12": ("transformer", 64, 12)}


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


def lm_step(kind: str, context: int, layers: int):
    """A compiled Adam train step of examples/char_lm.py's model of `kind` (`layers`
    transformer blocks), batch 32 over `context` characters, and its example inputs."""
    if kind == "transformer":
        model = char_lm.TransformerLM(VOCAB, context, layers=layers)
    else:
        model = char_lm.RecurrentLM(VOCAB, kind)
    opt = optim.Adam(model.parameters(), lr=1e-3)

    @gg.compile(backend="numpy")
    def step(x, y):
        opt.zero_grad()
        loss = char_lm.lm_loss(model, x, y)
        loss.backward()
        opt.step()
        return loss

    data = np.random.default_rng(0).integers(0, VOCAB, size=(BATCH, context + 1))
    return step, gg.tensor(data[:, :-1]), gg.tensor(data[:, 1:])


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


def first_call(depth: int | str) -> dict:
    """Compile and run the depth-`depth` MLP step (or the model named `depth`, a key of
    MODELS) once; seconds by phase."""
    step, x, y = lm_step(*MODELS[depth]) if depth in MODELS else mlp_step(depth)
    compiling = sys.modules["graphgrad.compile"]  # (the package's `compile` is the function)
    saved = Tensor.backward, compiling.run_passes, compiling.lower  # (backward is a method)
    backward, passes, lower = map(_Timed, saved)
    trace = _Timed(step._trace_graph)
    Tensor.backward = lambda self, *a, **k: backward(self, *a, **k)  # (a method)
    compiling.run_passes, compiling.lower = passes, lower
    step._trace_graph = trace
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        step(x, y)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        Tensor.backward, compiling.run_passes, compiling.lower = saved
    row = {"depth": depth, "nodes": len(step.last.graph),
           "trace": trace.seconds - backward.seconds, "autodiff": backward.seconds}
    for stat in step.last.pass_stats:  # (a pass run twice is one column)
        row[stat.name] = row.get(stat.name, 0.0) + stat.seconds
    row["passes"] = passes.seconds  # (with the copy of the traced graph they optimize)
    row["lower"] = lower.seconds
    row["compile"] = step.cache_info().records[0].seconds  # (trace to plan, guards too)
    row["first call"] = total  # (the compile, then one run of the step)
    row["cpu"] = cpu  # (the process's CPU time: steadier than wall time on a busy machine)
    return row


def print_table(rows: list[dict]) -> None:
    columns = list(rows[0])
    print(" | ".join(f"{c:>15}" if c == "depth" else f"{c:>10}" for c in columns))
    print("-|-".join("-" * (15 if c == "depth" else 10) for c in columns))
    for row in rows:
        print(" | ".join(f"{v:>15}" if k == "depth" else f"{v:>10}" if isinstance(v, int)
                         else f"{v:>10.3f}" for k, v in row.items()))
    mlps = [row for row in rows if isinstance(row["depth"], int)]
    if len(mlps) > 1:
        a, b = mlps[0], mlps[-1]
        for key in ("first call", "cpu"):
            slope = math.log(b[key] / a[key]) / math.log(b["nodes"] / a["nodes"])
            print(f"log-log slope of the first call ({key}) against nodes, {a['nodes']} -> "
                  f"{b['nodes']} nodes: {slope:.2f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("depths", nargs="*", type=int)
    parser.add_argument("--models", action="store_true",
                        help="only the sequence models (the default: MLPs, then models)")
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
    depths = [] if args.models else args.depths or list(DEPTHS)
    models = list(MODELS) if args.models or not args.depths else []
    print_table([first_call(d) for d in depths + models])


if __name__ == "__main__":
    main()

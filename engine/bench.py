"""The benchmark table: time per training step of graphgrad compiled and eager, beside
hand-written NumPy and, when installed, PyTorch eager (run by `graphgrad bench` and
benchmarks/train_steps.py).

Each workload builds one step function per system, all from the same initial weights
and data. Systems are timed in alternating rounds inside one process (machines drift
between runs), and the table reports each system's median time per step and its ratio
to hand-written NumPy.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.bench_steps import gg_mlp, hand_mlp_step, mlp_weights

try:  # optional comparison point
    import torch
except ImportError:  # pragma: no cover - depends on the machine
    torch = None


def _median_step_time(step, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def measure(systems: dict, steps: int, rounds: int) -> dict[str, float]:
    """Median seconds per step for each system, alternating systems round by round."""
    for step in systems.values():  # warm-up: traces, caches, BLAS buffers
        for _ in range(3):
            step()
    samples = {name: [] for name in systems}
    for _ in range(rounds):
        for name, step in systems.items():
            samples[name].append(_median_step_time(step, steps))
    return {name: statistics.median(s) for name, s in samples.items()}


# ---------------------------------------------------------------------- (a) temperature

def temperature():
    t_u = np.array([35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4],
                   np.float32)
    t_c = np.array([0.5, 14.0, 15.0, 28.0, 11.0, 8.0, 3.0, -4.0, 6.0, 13.0, 21.0], np.float32)
    lr = 1e-2

    def gg_step_fn():
        w, b = gg.tensor(1.0, requires_grad=True), gg.tensor(0.0, requires_grad=True)
        opt = optim.SGD([w, b], lr=lr)

        def step(x, y):
            opt.zero_grad()
            loss = ((w * (0.1 * x) + b - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        return step

    x, y = gg.tensor(t_u), gg.tensor(t_c)
    compiled, eager = gg.compile(gg_step_fn()), gg_step_fn()
    state = {"w": np.float32(1.0), "b": np.float32(0.0)}
    xs = 0.1 * t_u

    def hand():
        d = state["w"] * xs + state["b"] - t_c
        loss = (d * d).mean()
        g = 2 * d / d.size
        state["w"] -= lr * (g * xs).sum()
        state["b"] -= lr * g.sum()
        return loss

    systems = {"graphgrad compiled": lambda: compiled(x, y),
               "graphgrad eager": lambda: eager(x, y), "numpy (hand)": hand}
    if torch is not None:
        tw = torch.tensor(1.0, requires_grad=True)
        tb = torch.tensor(0.0, requires_grad=True)
        topt = torch.optim.SGD([tw, tb], lr=lr)
        tx, ty = torch.tensor(t_u), torch.tensor(t_c)

        def torch_step():
            topt.zero_grad()
            loss = ((tw * (0.1 * tx) + tb - ty) ** 2).mean()
            loss.backward()
            topt.step()
            return loss
        systems["pytorch eager"] = torch_step
    return systems


# ---------------------------------------------------------------------- MLP workloads

def torch_mlp(weights, bias=True):
    """The same ReLU MLP in PyTorch (needs torch installed)."""
    layers = []
    for k, (w, b) in enumerate(weights):
        lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=bias)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            if bias:
                lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if k < len(weights) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def _mlp_systems(sizes, batch, n_data, loss_kind, opt_kind, lr, index_batches, bias=True):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n_data, sizes[0])).astype(np.float32)
    if loss_kind == "mse":
        A = rng.standard_normal((sizes[0], sizes[-1])).astype(np.float32) / 8
        Y = (X @ A + 0.1 * rng.standard_normal((n_data, sizes[-1]))).astype(np.float32)
    else:
        Y = rng.integers(0, sizes[-1], n_data)
    weights = mlp_weights(sizes)
    order = [rng.integers(0, n_data, batch) for _ in range(64)]
    counter = {"gg": 0, "ggc": 0, "np": 0, "torch": 0}

    def next_idx(who):
        counter[who] += 1
        return order[counter[who] % len(order)]

    gX, gY = gg.tensor(X), gg.tensor(Y)

    def gg_step_fn():
        model = gg_mlp(weights, bias)
        opt = (optim.SGD if opt_kind == "sgd" else optim.Adam)(model.parameters(), lr=lr)
        loss_fn = nn.MSELoss() if loss_kind == "mse" else nn.CrossEntropyLoss()

        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        def indexed_step(idx):  # the batch is drawn by index inside the step
            return step(gX[idx], gY[idx])
        return indexed_step if index_batches else step

    compiled, eager = gg.compile(gg_step_fn()), gg_step_fn()
    if index_batches:
        gg_order = {id(o): gg.tensor(o) for o in order}  # prebuilt, like the others' indices

        def wrap(step, who):
            return lambda: step(gg_order[id(next_idx(who))])
        fixed = None
    else:
        fixed = (gX[:batch], gY[:batch])

        def wrap(step, who):
            return lambda: step(*fixed)
    hand = hand_mlp_step(weights, loss_kind, opt_kind, lr, bias)
    systems = {
        "graphgrad compiled": wrap(compiled, "ggc"),
        "graphgrad eager": wrap(eager, "gg"),
        "numpy (hand)": lambda: hand(X[:batch], Y[:batch]),
    }
    if index_batches:
        def hand_indexed():
            idx = next_idx("np")
            return hand(X[idx], Y[idx])
        systems["numpy (hand)"] = hand_indexed
    if torch is not None:
        tmodel = torch_mlp(weights, bias)
        topt = (torch.optim.SGD if opt_kind == "sgd" else torch.optim.Adam)(
            tmodel.parameters(), lr=lr)
        tloss = torch.nn.MSELoss() if loss_kind == "mse" else torch.nn.CrossEntropyLoss()
        tX, tY = torch.from_numpy(X), torch.from_numpy(Y)
        t_order = {id(o): torch.from_numpy(o) for o in order}

        def torch_step():
            idx = t_order[id(next_idx("torch"))] if index_batches else slice(0, batch)
            topt.zero_grad()
            loss = tloss(tmodel(tX[idx]), tY[idx])
            loss.backward()
            topt.step()
            return loss
        systems["pytorch eager"] = torch_step
    return systems, (X[:batch], weights)


def two_layer_erm():
    return _mlp_systems([64, 128, 16], 32, 1024, "mse", "sgd", 1e-2, index_batches=True,
                        bias=False)[0]


def digits_mlp():
    return _mlp_systems([64, 128, 128, 10], 64, 1797, "ce", "adam", 1e-3,
                        index_batches=False)[0]


def wide_mlp():
    systems, (x, weights) = _mlp_systems([784, 2048, 2048, 10], 512, 512, "ce", "sgd", 1e-3,
                                         index_batches=False)
    w = [wt.T.copy() for wt, _ in weights]
    h1 = np.maximum(x @ w[0], 0)
    h2 = np.maximum(h1 @ w[1], 0)
    g = np.ones((x.shape[0], 10), np.float32)

    wo = [wt for wt, _ in weights]  # (out, in), as nn.Linear stores them
    d2 = np.ones((x.shape[0], 2048), np.float32)

    def gemm_floor_in_out():  # the eight GEMMs of one step: 3 forward, 5 backward
        return (x @ w[0], h1 @ w[1], h2 @ w[2], h2.T @ g, g @ w[2].T, h1.T @ d2,
                d2 @ w[1].T, x.T @ d2)

    def gemm_floor_out_in():  # the same GEMMs with weights stored (out, in)
        return (x @ wo[0].T, h1 @ wo[1].T, h2 @ wo[2].T, g.T @ h2, g @ wo[2], d2.T @ h1,
                d2 @ wo[1], d2.T @ x)

    # OpenBLAS's speed depends on which operands are transposed: both layouts are
    # timed and the faster one is the floor.
    systems["GEMM floor, W (in,out)"] = gemm_floor_in_out
    systems["GEMM floor, W (out,in)"] = gemm_floor_out_in
    return systems


# name -> (title, systems factory, steps per round, BLAS threads). One thread throughout:
# on this kind of 2-core machine OpenBLAS's pool made every workload slower and erratic
# (measured, also for (d)); None would leave the library default.
WORKLOADS = {
    "a": ("temperature fit (11 points, SGD)", temperature, 2000, 1),
    "b": ("two-layer ERM 64-128-16, batch 32 by index, SGD", two_layer_erm, 300, 1),
    "c": ("digits MLP 64-128-128-10, batch 64, Adam", digits_mlp, 100, 1),
    "d": ("wide MLP 784-2048-2048-10, batch 512, SGD", wide_mlp, 3, 1),
}


def blas_threads(n):
    """Limit NumPy's BLAS and PyTorch to n threads inside the block (None: leave as is)."""
    import contextlib

    if n is None:
        return contextlib.nullcontext("default")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext("default (threadpoolctl not installed)")
    stack = contextlib.ExitStack()
    stack.enter_context(threadpool_limits(n))
    if torch is not None:
        previous = torch.get_num_threads()
        torch.set_num_threads(n)
        stack.callback(torch.set_num_threads, previous)
    stack.enter_context(contextlib.nullcontext())
    return _Labelled(stack, str(n))


class _Labelled:
    def __init__(self, stack, label):
        self.stack, self.label = stack, label

    def __enter__(self):
        self.stack.__enter__()
        return self.label

    def __exit__(self, *exc):
        return self.stack.__exit__(*exc)


def format_table(title, times) -> str:
    base = times.get("numpy (hand)")
    lines = [title]
    for name, t in times.items():
        ratio = f"{t / base:6.2f}x numpy" if base else ""
        lines.append(f"  {name:<22} {t * 1e6:>12,.1f} us/step  {ratio}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="graphgrad bench", description=__doc__)
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS),
                        help="which workloads to run: a b c d (default: all)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply steps per round")
    args = parser.parse_args(argv)
    print(f"graphgrad {gg.__version__}, numpy {np.__version__}"
          f"{', torch ' + torch.__version__ if torch else ''}; {platform.machine()} "
          f"{platform.processor() or ''}; {time.strftime('%Y-%m-%d')}")
    for key in args.workloads:
        title, make, steps, threads = WORKLOADS[key]
        with blas_threads(threads) as label:
            times = measure(make(), max(1, int(steps * args.scale)), args.rounds)
        print(format_table(f"({key}) {title}  [BLAS threads: {label}]", times), flush=True)
    return 0

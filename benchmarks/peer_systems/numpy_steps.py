"""Hand-written NumPy steps (the baseline every ratio is taken against) and the floors:
the eight GEMMs of a wide-MLP step and one copy of the elementwise workload's input."""

from __future__ import annotations

import numpy as np

from graphgrad.bench_steps import hand_mlp_step

from .workloads import Workload, batches


def temperature(w: Workload):
    x, y, lr = w.data["x"], w.data["y"], w.hyper["lr"]
    p = w.data["params"].copy()  # both forms: a NumPy expert updates one small array

    def step():
        d = p[0] * x + p[1] - y
        loss = (d * d).mean()
        g = d * np.float32(2 / d.size)
        p[0] -= lr * (g * x).sum()
        p[1] -= lr * g.sum()
        return loss
    return step


def mlp(w: Workload):
    h, X, Y = w.hyper, w.data["X"], w.data["Y"]
    step = hand_mlp_step(w.data["weights"], h["loss"], h["opt"], h["lr"], h["bias"])
    if h["by_index"]:
        draw = batches(w)

        def indexed():
            idx = next(draw)
            return step(X[idx], Y[idx])
        return indexed
    x, y = X[:h["batch"]], Y[:h["batch"]]
    return lambda: step(x, y)


def elementwise(w: Workload):
    xs = w.data["x"]

    def step():
        t = np.tanh(0.5 * xs)
        s = 1 / (1 + np.exp(-xs))
        y = (t * s + 0.1 * xs * xs).sum()
        g = 0.5 * (1 - t * t) * s + t * s * (1 - s) + 0.2 * xs
        return y, g
    return lambda: step()[0]


def build(w: Workload):
    return {"temperature": temperature, "mlp": mlp, "elementwise": elementwise}[w.kind](w)


def floors(w: Workload) -> dict:
    """The memory or GEMM floors of a workload (none for most): what no system can beat,
    timed like a system. OpenBLAS's speed depends on which operands are transposed, so
    the wide MLP's GEMMs are timed with the weights stored both ways."""
    if w.kind == "elementwise":
        xs = w.data["x"]
        out = np.empty_like(xs)
        return {"floor: copy x": lambda: np.copyto(out, xs)}
    if w.key != "wide":
        return {}
    batch = w.hyper["batch"]
    x = w.data["X"][:batch]
    wo = [wt for wt, _ in w.data["weights"]]  # (out, in), as nn.Linear stores them
    wi = [wt.T.copy() for wt in wo]
    h1 = np.maximum(x @ wi[0], 0)
    h2 = np.maximum(h1 @ wi[1], 0)
    g = np.ones((batch, wo[2].shape[0]), np.float32)
    d2 = np.ones((batch, wo[1].shape[0]), np.float32)
    # the eight GEMMs of one step: 3 forward, 5 backward (no input gradient)
    return {
        "floor: GEMMs, W (out,in)": lambda: (
            x @ wo[0].T, h1 @ wo[1].T, h2 @ wo[2].T, g.T @ h2, g @ wo[2], d2.T @ h1,
            d2 @ wo[1], d2.T @ x),
        "floor: GEMMs, W (in,out)": lambda: (
            x @ wi[0], h1 @ wi[1], h2 @ wi[2], h2.T @ g, g @ wi[2].T, h1.T @ d2,
            d2 @ wi[1].T, x.T @ d2),
    }

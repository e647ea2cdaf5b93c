"""PyTensor steps: parameters as shared variables, `pytensor.function` with the SGD or
Adam updates, compiled by its default C backend (g++); `mode="FAST_COMPILE"` (Python
thunks, no C) is only for the --quick smoke test."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from .workloads import Workload, batches


def _updates(params, grads, h):
    lr = np.float32(h["lr"])
    if h.get("opt", "sgd") == "sgd":
        return [(p, p - lr * g) for p, g in zip(params, grads)]
    b1, b2, eps = np.float32(0.9), np.float32(0.999), np.float32(1e-8)
    t = pytensor.shared(np.float32(0))
    t1 = t + 1
    step_size = lr / (1 - b1 ** t1)
    c2 = pt.sqrt(1 - b2 ** t1)
    ups = [(t, t1)]
    for p, g in zip(params, grads):  # torch.optim.Adam's arithmetic
        m = pytensor.shared(np.zeros_like(p.get_value()))
        v = pytensor.shared(np.zeros_like(p.get_value()))
        m1, v1 = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        ups += [(m, m1), (v, v1), (p, p - step_size * m1 / (pt.sqrt(v1) / c2 + eps))]
    return ups


def temperature(w: Workload, mode):
    x, y = pt.constant(w.data["x"]), pt.constant(w.data["y"])
    if w.hyper["indexing"]:
        p = pytensor.shared(w.data["params"].copy())
        params, pred = [p], p[0] * x + p[1]
    else:
        wt, b = (pytensor.shared(np.float32(v)) for v in w.data["params"])
        params, pred = [wt, b], wt * x + b
    loss = pt.mean((pred - y) ** 2)
    fn = pytensor.function([], loss, updates=_updates(params, pt.grad(loss, params), w.hyper),
                           mode=mode)
    return fn


def _mlp_loss(h, params, x, y):
    n_layers = len(h["sizes"]) - 1
    for k in range(n_layers):
        x = pt.dot(x, params[2 * k].T)
        if h["bias"]:
            x = x + params[2 * k + 1]
        if k < n_layers - 1:
            x = pt.maximum(x, 0)
    if h["loss"] == "mse":
        return pt.mean((x - y) ** 2)
    logp = pt.special.log_softmax(x, axis=1)
    return -pt.mean(logp[pt.arange(y.shape[0]), y])


def mlp(w: Workload, mode):
    h = w.hyper
    params = []
    for wt, b in w.data["weights"]:
        params += [pytensor.shared(wt.copy()), pytensor.shared(b.copy())]
    used = params if h["bias"] else params[0::2]
    X, Y = w.data["X"], w.data["Y"].astype(np.int64) if h["loss"] == "ce" else w.data["Y"]
    if h["by_index"]:
        idx = pt.lvector("idx")
        xs, ys = pytensor.shared(X), pytensor.shared(Y)
        inputs, x, y = [idx], xs[idx], ys[idx]
    else:
        x = pt.matrix("x", dtype="float32")
        y = pt.lvector("y") if h["loss"] == "ce" else pt.matrix("y", dtype="float32")
        inputs = [x, y]
    loss = _mlp_loss(h, params, x, y)
    fn = pytensor.function(inputs, loss, updates=_updates(used, pt.grad(loss, used), h),
                           mode=mode)
    if h["by_index"]:
        draw = batches(w)
        return lambda: fn(next(draw))
    xb, yb = X[:h["batch"]], Y[:h["batch"]]
    return lambda: fn(xb, yb)


def elementwise(w: Workload, mode):
    x = pytensor.shared(w.data["x"].copy())
    y = pt.sum(pt.tanh(0.5 * x) * pt.sigmoid(x) + 0.1 * x * x)
    fn = pytensor.function([], [y, pt.grad(y, x)], mode=mode)
    return lambda: fn()[0]


def build(w: Workload, mode=None):
    return {"temperature": temperature, "mlp": mlp, "elementwise": elementwise}[w.kind](
        w, mode)

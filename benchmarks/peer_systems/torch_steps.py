"""PyTorch steps: eager (nn.Module, torch.optim, as users write it) and `torch.compile`
of a functional step (torch.func.grad_and_value, parameters in, parameters out).

`compile_mode` "inductor" is what users get from torch.compile(); "eager" (dynamo's
tracing without code generation) is only for the --quick smoke test.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from graphgrad.bench import torch_mlp

from .workloads import Workload, batches


def _temperature_loss(w: Workload):
    x, y = torch.from_numpy(w.data["x"]), torch.from_numpy(w.data["y"])
    if w.hyper["indexing"]:
        return lambda ps: ((ps[0][0] * x + ps[0][1] - y) ** 2).mean()
    return lambda ps: ((ps[0] * x + ps[1] - y) ** 2).mean()


def _temperature_params(w: Workload):
    p = torch.from_numpy(w.data["params"].copy())
    return [p.clone()] if w.hyper["indexing"] else [p[0].clone(), p[1].clone()]


def temperature_eager(w: Workload):
    params = [t.requires_grad_(True) for t in _temperature_params(w)]
    opt = torch.optim.SGD(params, lr=w.hyper["lr"])
    loss_fn = _temperature_loss(w)

    def step():
        opt.zero_grad()
        loss = loss_fn(params)
        loss.backward()
        opt.step()
        return loss
    return step


def mlp_eager(w: Workload):
    h = w.hyper
    model = torch_mlp(w.data["weights"], h["bias"])
    opt = (torch.optim.SGD if h["opt"] == "sgd" else torch.optim.Adam)(
        model.parameters(), lr=h["lr"])
    loss_fn = torch.nn.MSELoss() if h["loss"] == "mse" else torch.nn.CrossEntropyLoss()
    X, Y = torch.from_numpy(w.data["X"]), torch.from_numpy(w.data["Y"])
    draw = batches(w)
    order = {id(o): torch.from_numpy(o) for o in w.data["order"]}

    def step():
        idx = order[id(next(draw))] if h["by_index"] else slice(0, h["batch"])
        opt.zero_grad()
        loss = loss_fn(model(X[idx]), Y[idx])
        loss.backward()
        opt.step()
        return loss
    return step


def elementwise_eager(w: Workload):
    x = torch.from_numpy(w.data["x"].copy()).requires_grad_(True)

    def step():
        x.grad = None
        y = (torch.tanh(0.5 * x) * torch.sigmoid(x) + 0.1 * x * x).sum()
        y.backward()
        return y
    return step


def _mlp_loss(h):
    n_layers = len(h["sizes"]) - 1

    def loss(ps, x, y):
        for k in range(n_layers):
            x = F.linear(x, ps[2 * k], ps[2 * k + 1] if h["bias"] else None)
            if k < n_layers - 1:
                x = torch.relu(x)
        return F.mse_loss(x, y) if h["loss"] == "mse" else F.cross_entropy(x, y)
    return loss


def _sgd(grad_and_value, lr):
    def step(ps, *args):
        g, loss = grad_and_value(ps, *args)
        return [p - lr * gp for p, gp in zip(ps, g)], loss
    return step


def _adam(grad_and_value, lr, b1=0.9, b2=0.999, eps=1e-8):
    def step(ps, ms, vs, t, *args):  # torch.optim.Adam's arithmetic; t a tensor: no recompiles
        g, loss = grad_and_value(ps, *args)
        t = t + 1
        ms = [b1 * m + (1 - b1) * gp for m, gp in zip(ms, g)]
        vs = [b2 * v + (1 - b2) * gp * gp for v, gp in zip(vs, g)]
        step_size = lr / (1 - b1 ** t)
        c2 = torch.sqrt(1 - b2 ** t)
        ps = [p - step_size * m / (torch.sqrt(v) / c2 + eps) for p, m, v in zip(ps, ms, vs)]
        return ps, ms, vs, t, loss
    return step


def mlp_compiled(w: Workload, mode: str):
    h = w.hyper
    ps = []
    for wt, b in w.data["weights"]:
        ps += [torch.from_numpy(wt.copy()), torch.from_numpy(b.copy())]
    gv = torch.func.grad_and_value(_mlp_loss(h))
    X, Y = torch.from_numpy(w.data["X"]), torch.from_numpy(w.data["Y"])
    if h["by_index"]:
        inner = gv
        gv = lambda ps, idx: inner(ps, X[idx], Y[idx])  # noqa: E731 - indexing inside
    draw = batches(w)
    order = {id(o): torch.from_numpy(o) for o in w.data["order"]}
    fixed = (X[:h["batch"]], Y[:h["batch"]])

    def batch():
        return (order[id(next(draw))],) if h["by_index"] else fixed
    if h["opt"] == "sgd":
        fn = torch.compile(_sgd(gv, h["lr"]), backend=mode)
        state = {"ps": ps}

        def step():
            state["ps"], loss = fn(state["ps"], *batch())
            return loss
        return step
    fn = torch.compile(_adam(gv, h["lr"]), backend=mode)
    state = [ps, [torch.zeros_like(p) for p in ps], [torch.zeros_like(p) for p in ps],
             torch.tensor(0.0)]

    def adam_step():
        *state[:], loss = fn(*state, *batch())
        return loss
    return adam_step


def temperature_compiled(w: Workload, mode: str):
    fn = torch.compile(_sgd(torch.func.grad_and_value(_temperature_loss(w)), w.hyper["lr"]),
                       backend=mode)
    state = {"ps": _temperature_params(w)}

    def step():
        state["ps"], loss = fn(state["ps"])
        return loss
    return step


def elementwise_compiled(w: Workload, mode: str):
    def f(x):
        return (torch.tanh(0.5 * x) * torch.sigmoid(x) + 0.1 * x * x).sum()
    fn = torch.compile(torch.func.grad_and_value(f), backend=mode)
    x = torch.from_numpy(w.data["x"].copy())
    return lambda: fn(x)[1]


def build(w: Workload, compiled: bool, mode: str = "inductor"):
    if compiled:
        return {"temperature": temperature_compiled, "mlp": mlp_compiled,
                "elementwise": elementwise_compiled}[w.kind](w, mode)
    return {"temperature": temperature_eager, "mlp": mlp_eager,
            "elementwise": elementwise_eager}[w.kind](w)

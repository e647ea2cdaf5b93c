"""graphgrad steps, written as a PyTorch user writes them (module, loss, backward,
optimizer step), run compiled (`gg.compile`, NumPy backend) or eagerly."""

from __future__ import annotations

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.bench_steps import gg_mlp

from .workloads import Workload, batches


def temperature(w: Workload, compiled: bool):
    lr = w.hyper["lr"]
    if w.hyper["indexing"]:  # the seed's form: one parameter vector, indexed
        params = gg.tensor(w.data["params"].copy(), requires_grad=True)
        opt = optim.SGD([params], lr=lr)

        def model(x):
            return params[0] * x + params[1]
    else:
        p0, p1 = (float(v) for v in w.data["params"])
        wt, b = gg.tensor(p0, requires_grad=True), gg.tensor(p1, requires_grad=True)
        opt = optim.SGD([wt, b], lr=lr)

        def model(x):
            return wt * x + b

    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    fn = gg.compile(step) if compiled else step
    x, y = gg.tensor(w.data["x"]), gg.tensor(w.data["y"])
    return lambda: fn(x, y)


def mlp(w: Workload, compiled: bool):
    h = w.hyper
    model = gg_mlp(w.data["weights"], h["bias"])
    opt = (optim.SGD if h["opt"] == "sgd" else optim.Adam)(model.parameters(), lr=h["lr"])
    loss_fn = nn.MSELoss() if h["loss"] == "mse" else nn.CrossEntropyLoss()
    X, Y = gg.tensor(w.data["X"]), gg.tensor(w.data["Y"])

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    if h["by_index"]:
        def indexed(idx):  # the batch is drawn by index inside the step
            return step(X[idx], Y[idx])
        fn = gg.compile(indexed) if compiled else indexed
        draw = batches(w)
        order = {id(o): gg.tensor(o) for o in w.data["order"]}  # prebuilt, like the peers'
        return lambda: fn(order[id(next(draw))])
    fn = gg.compile(step) if compiled else step
    x, y = X[:h["batch"]], Y[:h["batch"]]
    return lambda: fn(x, y)


def elementwise(w: Workload, compiled: bool):
    def value_and_grad(x):
        x.grad = None
        y = (gg.tanh(0.5 * x) * gg.sigmoid(x) + 0.1 * x * x).sum()
        y.backward()
        return y
    fn = gg.compile(value_and_grad) if compiled else value_and_grad
    x = gg.tensor(w.data["x"], requires_grad=True)
    return lambda: fn(x)


def build(w: Workload, compiled: bool):
    return {"temperature": temperature, "mlp": mlp, "elementwise": elementwise}[w.kind](
        w, compiled)

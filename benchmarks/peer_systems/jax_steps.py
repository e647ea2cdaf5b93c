"""JAX steps: a functional step under `jax.jit` (value_and_grad, parameters in and out,
donated so XLA updates them in place). Every step blocks until its result is ready."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .workloads import Workload, batches


def _ready(loss):
    return loss.block_until_ready()


def _sgd(loss_fn, lr):
    vg = jax.value_and_grad(loss_fn)

    def step(ps, *args):
        loss, g = vg(ps, *args)
        return jax.tree.map(lambda p, gp: p - lr * gp, ps, g), loss
    return jax.jit(step, donate_argnums=0)


def _adam(loss_fn, lr, b1=0.9, b2=0.999, eps=1e-8):
    vg = jax.value_and_grad(loss_fn)

    def step(ps, ms, vs, t, *args):  # torch.optim.Adam's arithmetic
        loss, g = vg(ps, *args)
        t = t + 1
        ms = jax.tree.map(lambda m, gp: b1 * m + (1 - b1) * gp, ms, g)
        vs = jax.tree.map(lambda v, gp: b2 * v + (1 - b2) * gp * gp, vs, g)
        step_size = lr / (1 - b1 ** t)
        c2 = jnp.sqrt(1 - b2 ** t)
        ps = jax.tree.map(lambda p, m, v: p - step_size * m / (jnp.sqrt(v) / c2 + eps),
                          ps, ms, vs)
        return ps, ms, vs, t, loss
    return jax.jit(step, donate_argnums=(0, 1, 2))


def temperature(w: Workload):
    x, y = jnp.asarray(w.data["x"]), jnp.asarray(w.data["y"])
    if w.hyper["indexing"]:
        ps = jnp.asarray(w.data["params"])

        def loss(p):
            return jnp.mean((p[0] * x + p[1] - y) ** 2)
    else:
        ps = tuple(jnp.asarray(v) for v in w.data["params"])

        def loss(p):
            return jnp.mean((p[0] * x + p[1] - y) ** 2)
    fn = _sgd(loss, w.hyper["lr"])
    state = {"ps": ps}

    def step():
        state["ps"], loss_value = fn(state["ps"])
        return _ready(loss_value)
    return step


def _mlp_loss(h):
    n_layers = len(h["sizes"]) - 1

    def loss(ps, x, y):
        for k in range(n_layers):
            x = x @ ps[2 * k].T
            if h["bias"]:
                x = x + ps[2 * k + 1]
            if k < n_layers - 1:
                x = jax.nn.relu(x)
        if h["loss"] == "mse":
            return jnp.mean((x - y) ** 2)
        logp = jax.nn.log_softmax(x, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
    return loss


def mlp(w: Workload):
    h = w.hyper
    ps = []
    for wt, b in w.data["weights"]:
        ps += [jnp.asarray(wt), jnp.asarray(b)]
    X, Y = jnp.asarray(w.data["X"]), jnp.asarray(w.data["Y"])
    loss = _mlp_loss(h)
    if h["by_index"]:
        inner = loss
        loss = lambda ps, idx: inner(ps, X[idx], Y[idx])  # noqa: E731 - indexing inside
    draw = batches(w)
    order = {id(o): jnp.asarray(o) for o in w.data["order"]}
    fixed = (X[:h["batch"]], Y[:h["batch"]])

    def batch():
        return (order[id(next(draw))],) if h["by_index"] else fixed
    if h["opt"] == "sgd":
        fn = _sgd(loss, h["lr"])
        state = {"ps": ps}

        def step():
            state["ps"], loss_value = fn(state["ps"], *batch())
            return _ready(loss_value)
        return step
    fn = _adam(loss, h["lr"])
    state = [ps, [jnp.zeros_like(p) for p in ps], [jnp.zeros_like(p) for p in ps],
             jnp.float32(0)]

    def adam_step():
        *state[:], loss_value = fn(*state, *batch())
        return _ready(loss_value)
    return adam_step


def elementwise(w: Workload):
    def f(x):
        return jnp.sum(jnp.tanh(0.5 * x) * jax.nn.sigmoid(x) + 0.1 * x * x)
    fn = jax.jit(jax.value_and_grad(f))
    x = jnp.asarray(w.data["x"])

    def step():
        y, g = fn(x)
        g.block_until_ready()
        return y
    return step


def build(w: Workload):
    return {"temperature": temperature, "mlp": mlp, "elementwise": elementwise}[w.kind](w)

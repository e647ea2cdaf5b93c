"""Model builders shared by the benchmarks (engine/bench.py, benchmarks/peers.py): MLP
weights, the same MLP as a graphgrad nn.Sequential, and a hand-written NumPy training
step. Kept apart from bench.py, which imports PyTorch, so that a process measuring
graphgrad's or NumPy's memory loads neither PyTorch nor any other peer.
"""

from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad import nn


def mlp_weights(sizes, seed=0):
    """Float32 (W (out, in), b) pairs for an MLP with these layer sizes."""
    rng = np.random.default_rng(seed)
    return [((rng.uniform(-1, 1, (o, i)) / np.sqrt(i)).astype(np.float32),
             np.zeros(o, np.float32)) for i, o in zip(sizes[:-1], sizes[1:])]


def gg_mlp(weights, bias=True):
    """A ReLU MLP as nn.Sequential, its Linear layers holding `weights` [(W, b), ...]."""
    layers = []
    for k, (w, b) in enumerate(weights):
        lin = nn.Linear(w.shape[1], w.shape[0], bias=bias)
        lin.weight.data = gg.tensor(w)
        if bias:
            lin.bias.data = gg.tensor(b)
        layers.append(lin)
        if k < len(weights) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def hand_mlp_step(weights, loss_kind, opt_kind, lr, bias=True):
    """Hand-written NumPy: forward, hand-derived backward, SGD or Adam update (float32
    throughout, like the other systems)."""
    params = [w.T.copy() for w, _ in weights]  # stored (in, out): x @ W, no transposes
    biases = [b.copy() for _, b in weights]
    adam = [[np.zeros_like(p) for p in params + biases] for _ in range(2)] + [0]
    b1, b2, eps = 0.9, 0.999, 1e-8

    def step(x, y):
        acts = [x]
        for k, (w, b) in enumerate(zip(params, biases)):
            z = acts[-1] @ w
            if bias:
                z += b
            acts.append(np.maximum(z, 0) if k < len(params) - 1 else z)
        out = acts[-1]
        if loss_kind == "mse":
            d = out - y
            loss = (d * d).mean()
            g = d * (2.0 / d.size)
        else:  # cross entropy with integer labels
            shifted = out - out.max(axis=1, keepdims=True)
            e = np.exp(shifted)
            s = e.sum(axis=1, keepdims=True)
            rows = np.arange(len(y))
            loss = (np.log(s[:, 0]) - shifted[rows, y]).mean()
            g = e / s
            g[rows, y] -= 1
            g /= len(y)
        grads_w, grads_b = [None] * len(params), [None] * len(params)
        for k in range(len(params) - 1, -1, -1):
            grads_w[k] = acts[k].T @ g
            grads_b[k] = g.sum(axis=0)
            if k:
                g = (g @ params[k].T) * (acts[k] > 0)
        everything = params + (biases if bias else [])
        grads = grads_w + (grads_b if bias else [])
        if opt_kind == "sgd":
            for p, gr in zip(everything, grads):
                p -= lr * gr
        else:
            adam[2] += 1
            t = adam[2]
            step_size = lr / (1 - b1 ** t)
            c2 = np.sqrt(1 - b2 ** t)
            for p, gr, m, v in zip(everything, grads, adam[0], adam[1]):
                m *= b1
                m += (1 - b1) * gr
                v *= b2
                v += (1 - b2) * gr * gr
                p -= step_size * m / (np.sqrt(v) / c2 + eps)
        return loss
    return step

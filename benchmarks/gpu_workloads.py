"""The GPU benchmark's workloads (benchmarks/gpu_bench.py): graphgrad steps beside PyTorch's.

Each workload function takes the run's settings (`Settings`) and returns a `Run`: the
systems to time ({name: step()}), the first-step results of each (so the report can
say they agree: the same initial weights and data go to every system), and how many
bytes the fused step must at least move (for the memory-bandwidth figure).
CNN and transformer need the model zoo's layers (nn.Conv2d, nn.BatchNorm2d,
nn.MaxPool2d, nn.LayerNorm, nn.MultiheadAttention); without them the workload is
reported as skipped with the missing names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.bench import gg_mlp, mlp_weights, torch_mlp
from graphgrad.passes.manager import DEFAULT_PIPELINE

UNFUSED = [p for p in DEFAULT_PIPELINE if p != "fusion"]


@dataclass
class Settings:
    backend: str  # graphgrad backend
    device: str  # torch device ("cuda" or "cpu")
    smoke: bool  # tiny sizes
    torch: object = None  # the torch module, or None


@dataclass
class Run:
    systems: dict = field(default_factory=dict)  # name -> step()
    results: dict = field(default_factory=dict)  # name -> first-step loss or (y, grad)
    min_bytes: int = 0  # bytes the fused step must move at least (bandwidth figure)
    skipped: str = ""  # why the workload did not run


class Skip(Exception):
    """A workload that cannot run here (the model zoo's layers missing)."""


def _train_step(model, backend, passes, lr=0.01):
    opt, loss_fn = optim.SGD(model.parameters(), lr=lr), nn.CrossEntropyLoss()

    @gg.compile(backend=backend, passes=passes)
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _torch_step(torch, model, lr=0.01):
    opt, loss_fn = torch.optim.SGD(model.parameters(), lr=lr), torch.nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _classify(s: Settings, gg_model_fn, torch_model, xs, ys, run: Run) -> Run:
    """Compiled (fused), compiled unfused and torch steps of one classifier; first losses."""
    x, y = gg.tensor(xs).to(s.backend), gg.tensor(ys).to(s.backend)
    for label, passes in (("compiled", "default"), ("unfused", UNFUSED)):
        step = _train_step(gg_model_fn().to(s.backend), s.backend, passes)
        name = f"graphgrad {s.backend} {label}"
        run.systems[name] = lambda step=step: step(x, y)
    if torch_model is not None:
        torch = s.torch
        tstep = _torch_step(torch, torch_model.to(s.device))
        tx, ty = torch.from_numpy(xs).to(s.device), torch.from_numpy(ys).to(s.device)
        run.systems[f"pytorch {s.device} eager"] = lambda: tstep(tx, ty)
    run.results = {name: fn().item() for name, fn in run.systems.items()}
    return run


def wide_mlp(s: Settings) -> Run:
    sizes, batch = ([784, 2048, 2048, 10], 512) if not s.smoke else ([12, 16, 16, 10], 8)
    weights = mlp_weights(sizes)
    rng = np.random.default_rng(1)
    xs = rng.random((batch, sizes[0]), dtype=np.float32)
    ys = rng.integers(0, sizes[-1], batch)
    return _classify(s, lambda: gg_mlp(weights), torch_mlp(weights) if s.torch else None,
                     xs, ys, Run())


# ---------------------------------------------------------------------- fused elementwise

def bench_function(x):
    return (gg.tanh(0.5 * x) * gg.sigmoid(x) + 0.1 * x * x).sum()


def value_and_grad(x):
    y = bench_function(x)
    (g,) = gg.autograd.grad(y, [x])
    return y, g


def fused_elementwise(s: Settings) -> Run:
    n = 4 * 1024 * 1024 if not s.smoke else 4096
    xs = np.random.default_rng(2).normal(size=n).astype(np.float32)
    x = gg.tensor(xs).to(s.backend).requires_grad_(True)
    run = Run(min_bytes=2 * n * 4)  # read x once, write its gradient once
    for label, passes in (("compiled", "default"), ("unfused", UNFUSED)):
        fn = gg.compile(value_and_grad, backend=s.backend, passes=passes)
        run.systems[f"graphgrad {s.backend} {label}"] = lambda fn=fn: fn(x)
    for name, fn in run.systems.items():
        y, g = fn()
        run.results[name] = (y.item(), g.numpy())
    if s.torch is not None:
        torch = s.torch
        tx = torch.from_numpy(xs).to(s.device).requires_grad_(True)

        def torch_step():
            y = (torch.tanh(0.5 * tx) * torch.sigmoid(tx) + 0.1 * tx * tx).sum()
            return y, torch.autograd.grad(y, [tx])[0]
        run.systems[f"pytorch {s.device} eager"] = torch_step
        y, g = torch_step()
        run.results[f"pytorch {s.device} eager"] = (y.item(), g.cpu().numpy())
    return run


# ---------------------------------------------------------------------- model zoo

def _need(*names):
    missing = [n for n in names if not hasattr(nn, n)]
    if missing:
        raise Skip(f"graphgrad.nn has no {', '.join(missing)} (the model zoo's layers)")


def _copy_weights(gg_model, torch_model):
    """graphgrad parameters := PyTorch's (the zoo's layers use PyTorch's names)."""
    theirs = {k: v.detach().cpu().numpy() for k, v in torch_model.state_dict().items()}
    for name, p in gg_model.named_parameters():
        p.data = gg.tensor(theirs[name].copy())
    return gg_model


def cnn(s: Settings) -> Run:
    _need("Conv2d", "BatchNorm2d", "MaxPool2d", "Flatten")
    if s.torch is None:
        raise Skip("the CNN takes its initial weights from PyTorch, which is not installed")
    torch = s.torch
    (c, hw, batch) = (3, 32, 128) if not s.smoke else (1, 8, 4)

    def layers(m):
        return [m.Conv2d(c, 16, 3, padding=1), m.BatchNorm2d(16), m.ReLU(), m.MaxPool2d(2),
                m.Conv2d(16, 32, 3, padding=1), m.BatchNorm2d(32), m.ReLU(), m.MaxPool2d(2),
                m.Flatten(), m.Linear(32 * (hw // 4) ** 2, 10)]

    torch.manual_seed(0)
    reference = torch.nn.Sequential(*layers(torch.nn))
    rng = np.random.default_rng(3)
    xs = rng.random((batch, c, hw, hw), dtype=np.float32)
    ys = rng.integers(0, 10, batch)
    return _classify(s, lambda: _copy_weights(nn.Sequential(*layers(nn)), reference),
                     reference, xs, ys, Run())


def _block_class(m, base):
    """A transformer encoder block (attention, LayerNorm, MLP) over module namespace `m`."""

    class Block(base):
        def __init__(self, d, heads, classes):
            super().__init__()
            self.attn = m.MultiheadAttention(d, heads, batch_first=True)
            self.norm1, self.norm2 = m.LayerNorm(d), m.LayerNorm(d)
            self.fc1, self.fc2 = m.Linear(d, 4 * d), m.Linear(4 * d, d)
            self.head = m.Linear(d, classes)

        def forward(self, x):
            x = self.norm1(x + self.attn(x, x, x, need_weights=False)[0])
            x = self.norm2(x + self.fc2(self.fc1(x).relu()))
            return self.head(x.mean(1))
    return Block


def transformer(s: Settings) -> Run:
    _need("MultiheadAttention", "LayerNorm")
    if s.torch is None:
        raise Skip("the transformer takes its initial weights from PyTorch, not installed")
    torch = s.torch
    (batch, seq, d, heads) = (64, 128, 256, 8) if not s.smoke else (2, 5, 8, 2)
    torch.manual_seed(0)
    reference = _block_class(torch.nn, torch.nn.Module)(d, heads, 10)
    rng = np.random.default_rng(4)
    xs = rng.normal(size=(batch, seq, d)).astype(np.float32)
    ys = rng.integers(0, 10, batch)
    return _classify(s, lambda: _copy_weights(_block_class(nn, nn.Module)(d, heads, 10),
                                              reference), reference, xs, ys, Run())


WORKLOADS = {"wide_mlp": wide_mlp, "fused_elementwise": fused_elementwise, "cnn": cnn,
             "transformer": transformer}

"""Short compiled training runs for the compiled-path checks (test_compiled.py).

Each run builds a small model from seeded initial weights, compiles one training step
(`zero_grad`, loss, `backward`, `step`) with `gg.compile(backend=..., passes=...)`,
runs it a few times on fixed batches given as NumPy arrays, and records the losses,
the gradients after every step, and the final parameters, buffers and optimizer
state, all as NumPy arrays. The models cover what a plan hands a backend: an MLP
with CrossEntropy (log_softmax, gather and their VJPs, bias gradients reduced with
keepdims), a linear regression with MSE, and an MLP with BatchNorm (running
statistics written back as state) and Dropout. Unlike the rest of the suite it uses
`graphgrad.nn` and `graphgrad.optim`: it checks the backend under what users run.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

import graphgrad as gg
from graphgrad import nn, optim

STEPS = 3

OPTIMIZERS = {
    "SGD": lambda ps: optim.SGD(ps, lr=0.1),
    "SGD(momentum, dampening)": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9,
                                                     dampening=0.2),
    "SGD(nesterov, weight_decay)": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9,
                                                        nesterov=True, weight_decay=0.01),
    "Adam(amsgrad, weight_decay)": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True,
                                                         weight_decay=0.1),
    "AdamW": lambda ps: optim.AdamW(ps, lr=0.01),
    "RMSprop(centered, momentum)": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5,
                                                            centered=True),
    "Adagrad(lr_decay)": lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01),
    "Adadelta(weight_decay)": lambda ps: optim.Adadelta(ps, lr=1.0, weight_decay=0.01),
    "Adamax": lambda ps: optim.Adamax(ps, lr=0.01),
    "NAdam": lambda ps: optim.NAdam(ps, lr=0.01),
    "RAdam": lambda ps: optim.RAdam(ps, lr=0.01),
    "ASGD": lambda ps: optim.ASGD(ps, lr=0.05),
    "Rprop": lambda ps: optim.Rprop(ps, lr=0.01),
}
#: Optimizers a compiled step cannot run (they need a closure evaluated eagerly).
EAGER_ONLY = frozenset({"LBFGS"})
#: The optimizers each model trains with: every one on the MLP, a few on the others.
PER_MODEL = {"mlp+cross_entropy": tuple(OPTIMIZERS),
             "regression+mse": ("SGD(momentum, dampening)", "Adam(amsgrad, weight_decay)",
                                "Rprop"),
             "batchnorm+dropout": ("SGD(nesterov, weight_decay)", "AdamW", "NAdam")}


def uncovered_optimizers() -> list[str]:
    """Built-in optimizers (graphgrad.optim.__all__) no compiled run trains with."""
    covered = {name.split("(")[0] for name in OPTIMIZERS}
    return sorted(name for name in optim.__all__ if isinstance(getattr(optim, name), type)
                  and name != "Optimizer" and name not in covered | EAGER_ONLY)


def _mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)), nn.CrossEntropyLoss()


def _regression():
    return nn.Sequential(nn.Linear(3, 1)), nn.MSELoss()


def _batchnorm():
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(8, 3))
    model[3].eval()  # the mask is the backend's own random draw: checked apart
    return model, nn.CrossEntropyLoss()


MODELS = {"mlp+cross_entropy": _mlp, "regression+mse": _regression,
          "batchnorm+dropout": _batchnorm}


def batches(model: str, dtype: str) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    if model == "regression+mse":
        x = [rng.standard_normal((8, 3)).astype(dtype) for _ in range(STEPS)]
        return [(a, (a @ np.array([[1.0], [-2.0], [0.5]], dtype) + 0.3).astype(dtype))
                for a in x]
    return [(rng.standard_normal((6, 4)).astype(dtype), rng.integers(0, 3, 6))
            for _ in range(STEPS)]


@dataclass
class Run:
    losses: list = field(default_factory=list)
    grads: list = field(default_factory=list)  # per step: {name: array}
    params: dict = field(default_factory=dict)
    buffers: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)  # "name.key": array


def initial_model(model: str, dtype: str):
    """The model and loss, with weights from a fixed seed, on the NumPy backend."""
    gg.manual_seed(0)
    net, loss_fn = MODELS[model]()
    return net.to(dtype), loss_fn


def train(net, loss_fn, optimizer: str, backend: str, passes, data) -> Run:
    """`STEPS` compiled steps of `net` (moved to `backend`) on `data`, recorded."""
    net = copy.deepcopy(net).to(backend)
    opt = OPTIMIZERS[optimizer](net.parameters())
    names = {id(p): n for n, p in net.named_parameters()}

    @gg.compile(backend=backend, passes=passes)
    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss

    run = Run()
    for x, y in data:
        run.losses.append(np.array(train_step(x, y).numpy(), copy=True))
        run.grads.append({n: np.array(p.grad.numpy(), copy=True)
                          for n, p in net.named_parameters() if p.grad is not None})
    run.params = {n: np.array(p.numpy(), copy=True) for n, p in net.named_parameters()}
    run.buffers = {n: np.array(b.numpy(), copy=True) for n, b in net.named_buffers()}
    run.state = {f"{names[id(p)]}.{k}": np.array(v.numpy(), copy=True)
                 for p, s in opt.state.items() for k, v in s.items()
                 if isinstance(v, gg.Tensor)}
    return run

"""Fit a thermometer: t_c = w * (0.1 * t_u) + b, the first example of "Deep Learning
with PyTorch" (Stevens, Antiga, Viehmann), chapter 5, as a compiled train step.

    python examples/temperature.py --out out/          # 5000 epochs on numpy

Three fits from w = 1, b = 0, each a `@gg.compile`d step (forward, backward and the
optimizer update traced once, then replayed every epoch):

1. the book's full-data fit: plain SGD, lr 1e-2, all 11 readings
   (it ends at w = 5.367, b = -17.30, loss 2.927);
2. SGD, lr 1e-2, on a train/validation split drawn with `gg.randperm`
   (9 readings to train, 2 to validate; the validation loss is computed under
   `gg.no_grad()`, so it does not take part in backward);
3. Adam, lr 1e-1, on the same split.

Writes the split SGD step's forward and backward diagrams.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _common import parse_args, setup, write_diagrams

import graphgrad as gg
from graphgrad import nn, optim

DATA = Path(__file__).resolve().parent / "data" / "temperature.csv"
REPORT_EPOCHS = {1, 2, 3, 10, 100, 500, 1000, 2000, 3000, 4000, 5000}


def load(path: Path = DATA) -> tuple[gg.Tensor, gg.Tensor]:
    """(t_u, t_c): readings in the unknown unit and in degrees Celsius, float32."""
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
    return gg.tensor(table[:, 0]), gg.tensor(table[:, 1])


def model(t_u: gg.Tensor, w: gg.Tensor, b: gg.Tensor) -> gg.Tensor:
    return w * t_u + b


def split(n: int, val_fraction: float = 0.2) -> tuple[gg.Tensor, gg.Tensor]:
    """Shuffled (train, validation) indices, as in the book: the last 20% validate."""
    n_val = int(val_fraction * n)
    shuffled = gg.randperm(n)
    return shuffled[:-n_val], shuffled[-n_val:]


def fit(name: str, make_optimizer, epochs: int, backend: str, train, val=None) -> dict:
    """Train w, b from (1, 0) on `train`, tracking the loss on `val` when given."""
    w = gg.tensor(1.0, requires_grad=True)
    b = gg.tensor(0.0, requires_grad=True)
    opt = make_optimizer([w, b])
    loss_fn = nn.MSELoss()

    @gg.compile(backend=backend)
    def train_step(t_u, t_c, val_u=None, val_c=None):
        train_loss = loss_fn(model(t_u, w, b), t_c)
        val_loss = None
        if val_u is not None:
            with gg.no_grad():  # a number to watch, not part of the graph's backward
                val_loss = loss_fn(model(val_u, w, b), val_c)
            assert not val_loss.requires_grad  # as the book checks: nothing was recorded
        opt.zero_grad()
        train_loss.backward()
        opt.step()
        return train_loss, val_loss

    print(f"{name}:")
    for epoch in range(1, epochs + 1):
        train_loss, val_loss = train_step(*train, *(val or ()))
        if epoch in REPORT_EPOCHS or epoch == epochs:
            shown = f", validation loss {val_loss.item():.4f}" if val else ""
            print(f"  epoch {epoch:5d}: training loss {train_loss.item():.4f}{shown}")
    print(f"  learned w = {w.item():.4f}, b = {b.item():.4f}")
    return {"w": w.item(), "b": b.item(), "loss": train_loss.item(),
            "val_loss": val_loss.item() if val else None, "step": train_step}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv, "Fit t_c = w * (0.1 * t_u) + b with SGD and Adam.", epochs=5000)
    setup(args)
    t_u, t_c = load()
    t_un = 0.1 * t_u  # the book's normalization, so one learning rate suits w and b
    train_idx, val_idx = split(len(t_u))
    train = (t_un[train_idx], t_c[train_idx])
    val = (t_un[val_idx], t_c[val_idx])
    print(f"{len(t_u)} readings; train on {train_idx.tolist()}, validate on {val_idx.tolist()}")

    results = {
        "full": fit("full data, SGD lr 1e-2 (book: w = 5.367, b = -17.30, loss 2.927)",
                    lambda p: optim.SGD(p, lr=1e-2), args.epochs, args.backend, (t_un, t_c)),
        "sgd": fit("train/validation split, SGD lr 1e-2", lambda p: optim.SGD(p, lr=1e-2),
                   args.epochs, args.backend, train, val),
        "adam": fit("train/validation split, Adam lr 1e-1", lambda p: optim.Adam(p, lr=1e-1),
                    args.epochs, args.backend, train, val),
    }
    write_diagrams(results["sgd"]["step"], args.out, "temperature")
    return results | {"train_idx": train_idx.tolist(), "val_idx": val_idx.tolist()}


if __name__ == "__main__":
    main()

"""Classify scikit-learn's 8x8 handwritten digits with a compiled MLP.

    python examples/mlp_digits.py --out out/            # numpy, 15 epochs
    python examples/mlp_digits.py --backend cupy --epochs 30
    mpirun -n 2 python examples/mlp_digits.py --distributed   # data-parallel, 2 processes

The PyTorch recipe, unchanged: a Dataset and DataLoader, an `nn.Sequential` MLP
(64 -> 128 -> 128 -> 10), CrossEntropyLoss and Adam. The train step is decorated
with `@gg.compile`: its first call traces forward, backward and the Adam update into
one graph, later calls run the optimized plan. Evaluation runs eagerly under
`no_grad` with the model in eval mode. Writes the step's forward and backward
diagrams and, when matplotlib is installed, a loss/accuracy plot.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from _common import add_distributed_option, data_parallel, parse_args, setup, write_diagrams
from tqdm import tqdm

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.data import DataLoader, Dataset, random_split


class Digits(Dataset):
    """The 1797 digits, pixels scaled to [0, 1]: `ds[i] == (image[64], label)`."""

    def __init__(self):
        from sklearn.datasets import load_digits

        digits = load_digits()
        self.images = (digits.data / 16.0).astype(np.float32)
        self.labels = digits.target.astype(np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i], self.labels[i]


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(),
        nn.Linear(128, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def evaluate(model: nn.Module, loader: DataLoader, loss_fn) -> tuple[float, float]:
    """(mean loss, accuracy) over `loader`, eagerly, in eval mode, without gradients."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with gg.no_grad():
        for x, y in loader:
            logits = model(x)
            total_loss += loss_fn(logits, y).item() * len(y)
            correct += int((logits.argmax(dim=1) == y).sum().item())
            count += len(y)
    return total_loss / count, correct / count


def plot(history: dict, path: Path) -> Path | None:
    """Loss and accuracy per epoch as a PNG, when matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return None
    epochs = range(1, len(history["train_loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, history["train_loss"], label="train")
    ax_loss.plot(epochs, history["test_loss"], label="held out")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.plot(epochs, history["test_acc"], color="C1")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="held-out accuracy")
    ax_loss.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    def options(parser):
        parser.add_argument("--batch-size", type=int, default=64)
        add_distributed_option(parser)

    args = parse_args(argv, __doc__.splitlines()[0], epochs=15, extra=options)
    setup(args)
    train_set, test_set = random_split(Digits(), [0.8, 0.2])
    model, loader_options, is_main = data_parallel(args, make_model(), train_set,
                                                   args.batch_size)
    train_loader = DataLoader(train_set, **loader_options)
    test_loader = DataLoader(test_set, batch_size=512)
    say = print if is_main else (lambda *a, **k: None)

    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=1e-3)

    @gg.compile(backend=args.backend)
    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    history = {"train_loss": [], "test_loss": [], "test_acc": []}
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        if hasattr(train_loader.sampler, "set_epoch"):
            train_loader.sampler.set_epoch(epoch)
        batches = tqdm(train_loader, desc=f"epoch {epoch}", leave=False, disable=not is_main)
        losses = [train_step(x, y).item() for x, y in batches]
        test_loss, test_acc = evaluate(model, test_loader, loss_fn)
        history["train_loss"].append(float(np.mean(losses)))
        history["test_loss"].append(test_loss)
        history["test_acc"].append(test_acc)
        say(f"epoch {epoch:2d}  train loss {history['train_loss'][-1]:.4f}  "
              f"held-out loss {test_loss:.4f}  accuracy {test_acc:.1%}")
    seconds = time.perf_counter() - start

    where = f"{args.backend} x {gg.distributed.world_size()} processes" if args.distributed \
        else args.backend
    say(f"held-out accuracy {history['test_acc'][-1]:.1%} on {len(test_set)} digits after "
        f"{args.epochs} epochs ({seconds:.1f} s on {where})")
    say(f"compile cache: {train_step.cache_info()}")
    if is_main:
        write_diagrams(train_step, args.out, "mlp_digits")
        png = plot(history, args.out / "mlp_digits_training.png")
        if png:
            print(f"plot: {png}")
    return {"accuracy": history["test_acc"][-1], "history": history, "seconds": seconds,
            "step": train_step}


if __name__ == "__main__":
    main()

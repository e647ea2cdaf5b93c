"""Classify scikit-learn's 8x8 handwritten digits with a compiled convolutional network.

    python examples/cnn_digits.py --out out/            # numpy, 10 epochs
    python examples/cnn_digits.py --backend cupy --epochs 20
    mpirun -n 2 python examples/cnn_digits.py --distributed   # data-parallel, 2 processes

The PyTorch recipe, unchanged: a Dataset of (1, 8, 8) images and a DataLoader, an
`nn.Sequential` CNN (two Conv2d -> BatchNorm2d -> ReLU -> MaxPool2d blocks, then a
Linear classifier), CrossEntropyLoss and Adam. The train step is decorated with
`@gg.compile`: its first call traces forward, backward, the running-statistics
updates and the Adam update into one graph; later calls run the optimized plan.
Evaluation runs eagerly under `no_grad` with the model in eval mode (BatchNorm then
uses its running statistics). Writes the step's forward and backward diagrams and,
when matplotlib is installed, a loss/accuracy plot. With `--distributed` each process
trains on its share of every global batch (DistributedDataParallel averages the
gradients and keeps BatchNorm's running statistics rank 0's); rank 0 prints.
"""

from __future__ import annotations

import time

import numpy as np
from _common import add_distributed_option, data_parallel, parse_args, setup, write_diagrams
from mlp_digits import Digits, evaluate, plot
from tqdm import tqdm

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.data import DataLoader, random_split


class DigitImages(Digits):
    """The digits as one-channel images: `ds[i] == (image[1, 8, 8], label)`."""

    def __init__(self):
        super().__init__()
        self.images = self.images.reshape(-1, 1, 8, 8)


def make_model() -> nn.Module:
    """1x8x8 -> 16x4x4 -> 32x2x2 -> 10 logits."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10),
    )


def main(argv: list[str] | None = None) -> dict:
    def options(parser):
        parser.add_argument("--batch-size", type=int, default=64)
        add_distributed_option(parser)

    args = parse_args(argv, __doc__.splitlines()[0], epochs=10, extra=options)
    setup(args)
    train_set, test_set = random_split(DigitImages(), [0.8, 0.2])
    model, loader_options, is_main = data_parallel(args, make_model(), train_set,
                                                   args.batch_size)
    train_loader = DataLoader(train_set, **loader_options)
    test_loader = DataLoader(test_set, batch_size=512)
    say = print if is_main else (lambda *a, **k: None)

    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=3e-3)

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
        write_diagrams(train_step, args.out, "cnn_digits")
        png = plot(history, args.out / "cnn_digits_training.png")
        if png:
            print(f"plot: {png}")
    return {"accuracy": history["test_acc"][-1], "history": history, "seconds": seconds,
            "step": train_step}


if __name__ == "__main__":
    main()

"""Empirical risk minimization, part 1: recover a linear map from noisy samples.

    python examples/linear_erm.py --out out/

The data are synthetic, y = A x + noise with x ~ N(0, I) and noise ~ N(0, sigma^2 I),
split into training, validation and test sets. The hypothesis class is a
`Parametrization`: the linear maps x -> A_hat x. Training minimizes the mean squared
error on the training set with a `@gg.compile`d SGD step, first on `get_batch`
samples drawn with replacement, then in epochs over shuffled mini-batches; after
each epoch the validation loss decides whether this is the best model so far (kept)
and when to stop early. The test set is touched once, by the best model.

No predictor can beat the noise: the expected test loss is at least sigma^2 (0.01
here), while predicting 0 costs |A|_F^2 / d_out + sigma^2 (about 1 on average over
A). `two_layer_nn.py` runs the same lab with a two-layer network.
"""

from __future__ import annotations

import math

from _common import parse_args, setup, write_diagrams

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.data import DataLoader, TensorDataset

D_IN, D_OUT, NOISE = 10, 3, 0.1
SIZES = {"train": 800, "val": 200, "test": 1000}


def make_data(d_in: int = D_IN, d_out: int = D_OUT, noise: float = NOISE) -> dict:
    """A random A (d_out x d_in, entries N(0, 1/d_in)) and (x, y) pairs for each split."""
    A = gg.randn(d_out, d_in) / math.sqrt(d_in)
    data = {"A": A}
    for split, n in SIZES.items():
        x = gg.randn(n, d_in)
        data[split] = (x, x @ A.T + noise * gg.randn(n, d_out))
    return data


class Parametrization(nn.Module):
    """The linear hypotheses x -> A_hat x, A_hat starting at 0."""

    def __init__(self, d_in: int = D_IN, d_out: int = D_OUT):
        super().__init__()
        self.A_hat = nn.Parameter(gg.zeros(d_out, d_in))

    def forward(self, x: gg.Tensor) -> gg.Tensor:
        return x @ self.A_hat.T


def get_batch(x: gg.Tensor, y: gg.Tensor, batch_size: int) -> tuple[gg.Tensor, gg.Tensor]:
    """`batch_size` samples drawn uniformly with replacement (the lab's getBatch)."""
    idx = gg.randint(0, x.shape[0], size=(batch_size,))
    return x[idx], y[idx]


def risk(model: nn.Module, x: gg.Tensor, y: gg.Tensor) -> float:
    """Mean squared error of `model` on (x, y), without recording a graph."""
    with gg.no_grad():
        return nn.functional.mse_loss(model(x), y).item()


def zero_risk(x: gg.Tensor, y: gg.Tensor) -> float:
    """The loss of always predicting 0, the baseline any learned model must beat."""
    return (y * y).mean().item()


def run_lab(model: nn.Module, make_optimizer, args) -> dict:
    """Train `model` on fresh data: get_batch steps, then epochs with early stopping."""
    data = make_data()
    (x_train, y_train), (x_val, y_val) = data["train"], data["val"]
    opt = make_optimizer(model.parameters())
    loss_fn = nn.MSELoss()

    @gg.compile(backend=args.backend)
    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    print(f"y = A x + noise: x in R^{D_IN}, y in R^{D_OUT}, sigma = {NOISE}; "
          f"{SIZES['train']} train, {SIZES['val']} validation, {SIZES['test']} test samples")
    print(f"validation loss before training {risk(model, x_val, y_val):.4f} "
          f"(predicting 0: {zero_risk(*data['val']):.4f})")
    for _ in range(args.steps):
        train_step(*get_batch(x_train, y_train, args.batch_size))
    print(f"after {args.steps} get_batch steps: validation loss {risk(model, x_val, y_val):.4f}")

    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size,
                        shuffle=True, drop_last=True)
    best = {"val": math.inf, "epoch": 0, "state": None}
    for epoch in range(1, args.epochs + 1):
        for x, y in loader:
            train_step(x, y)
        val = risk(model, x_val, y_val)
        improved = val < best["val"]
        print(f"epoch {epoch:3d}: validation loss {val:.5f}{'  (best so far)' if improved else ''}")
        if improved:
            state = {k: v.clone() for k, v in model.state_dict().items()}
            best.update(val=val, epoch=epoch, state=state)
        elif epoch - best["epoch"] >= args.patience:
            print(f"no improvement for {args.patience} epochs: stopping early")
            break
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    test = risk(model, *data["test"])
    print(f"best model: epoch {best['epoch']}, validation loss {best['val']:.5f}, "
          f"test loss {test:.5f} (noise floor sigma^2 = {NOISE ** 2:.4f})")
    write_diagrams(train_step, args.out, args.name)
    return {"test_loss": test, "zero_test_loss": zero_risk(*data["test"]),
            "best_epoch": best["epoch"], "best_val": best["val"],
            "data": data, "A": data["A"], "step": train_step, "model": model}


def lab_args(argv: list[str] | None, description: str, epochs: int = 20):
    """The example options plus the lab's: get_batch steps, batch size, patience."""
    def extra(parser):
        parser.add_argument("--steps", type=int, default=200, help="get_batch steps first")
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--patience", type=int, default=5,
                            help="epochs without a better validation loss before stopping")
    return parse_args(argv, description, epochs=epochs, extra=extra)


def main(argv: list[str] | None = None) -> dict:
    args = lab_args(argv, "Empirical risk minimization with a linear Parametrization.")
    args.name = "linear_erm"
    setup(args)
    model = Parametrization()
    result = run_lab(model, lambda p: optim.SGD(p, lr=0.1), args)
    error = (model.A_hat - result["A"]).abs().max().item()
    print(f"largest entry of |A_hat - A|: {error:.4f}")
    return result | {"max_error": error}


if __name__ == "__main__":
    main()

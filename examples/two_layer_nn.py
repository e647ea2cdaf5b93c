"""Empirical risk minimization, part 2: the same lab with a two-layer ReLU network.

    python examples/two_layer_nn.py --out out/

Same data (y = A x + noise), same `get_batch` steps, epochs, validation-based model
selection, early stopping and test set as `linear_erm.py`; only the hypothesis class
changes to `TwoLayerNN`: x -> relu(x @ H1) @ H2 with a hidden width of 64. A linear
map is within its reach (relu(z) - relu(-z) = z), but the network has to find that
among far more parameters than the 30 of A, so it gets close to the noise floor
more slowly than the linear model.
"""

from __future__ import annotations

import math

from _common import setup
from linear_erm import D_IN, D_OUT, lab_args, run_lab

import graphgrad as gg
from graphgrad import nn, optim


class TwoLayerNN(nn.Module):
    """x -> relu(x @ H1) @ H2, He-initialized (no biases: the data have none)."""

    def __init__(self, d_in: int = D_IN, hidden: int = 64, d_out: int = D_OUT):
        super().__init__()
        self.H1 = nn.Parameter(gg.randn(d_in, hidden) * math.sqrt(2.0 / d_in))
        self.H2 = nn.Parameter(gg.randn(hidden, d_out) * math.sqrt(1.0 / hidden))

    def forward(self, x: gg.Tensor) -> gg.Tensor:
        return gg.relu(x @ self.H1) @ self.H2


def main(argv: list[str] | None = None) -> dict:
    args = lab_args(argv, "Empirical risk minimization with a two-layer ReLU network.",
                    epochs=100)
    args.name = "two_layer_nn"
    setup(args)
    return run_lab(TwoLayerNN(), lambda p: optim.Adam(p, lr=3e-3), args)


if __name__ == "__main__":
    main()

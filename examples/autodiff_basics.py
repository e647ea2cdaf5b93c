"""Reverse-mode automatic differentiation on three small functions, checked by hand.

    python examples/autodiff_basics.py --out out/

First eagerly: each function is computed on tensors that require grad, `backward()`
fills their `.grad`, and each gradient is printed next to its hand-derived formula;
each function's recorded graph is drawn from the result tensor. Then define-then-run:
the one-sample squared loss becomes a `@gg.compile`d gradient-descent step, whose
first call reproduces the hand-derived gradients and whose later calls fit the sample;
its forward, backward and optimized (fused) graphs are drawn.
"""

from __future__ import annotations

import math

from _common import parse_args, render, setup, write_diagrams

import graphgrad as gg
from graphgrad import optim

# name -> (formula, function, inputs, [(label, graphgrad's value, hand formula, hand value)])
EXAMPLES = {
    "log_mul_sin": (
        "f = log(x1) + x1*x2 - sin(x2)",
        lambda x1, x2: gg.log(x1) + x1 * x2 - gg.sin(x2),
        {"x1": 2.0, "x2": 5.0},
        [("f", "log(x1) + x1*x2 - sin(x2)", lambda x1, x2: math.log(x1) + x1 * x2 - math.sin(x2)),
         ("df/dx1", "1/x1 + x2", lambda x1, x2: 1 / x1 + x2),
         ("df/dx2", "x1 - cos(x2)", lambda x1, x2: x1 - math.cos(x2))],
    ),
    "square_plus": (
        "f = a**2 + b",
        lambda a, b: a ** 2 + b,
        {"a": 3.0, "b": 2.0},
        [("f", "a**2 + b", lambda a, b: a ** 2 + b),
         ("df/da", "2a", lambda a, b: 2 * a),
         ("df/db", "1", lambda a, b: 1.0)],
    ),
    "squared_loss": (
        "L = (w*x + b - y)**2 with x=2, y=7",
        lambda w, b: (w * 2.0 + b - 7.0) ** 2,
        {"w": 5.0, "b": 2.0},
        [("L", "(w*x + b - y)**2", lambda w, b: (w * 2 + b - 7) ** 2),
         ("dL/dw", "2(w*x + b - y) x", lambda w, b: 2 * (w * 2 + b - 7) * 2),
         ("dL/db", "2(w*x + b - y)", lambda w, b: 2 * (w * 2 + b - 7))],
    ),
}


def eager_example(name: str, out) -> dict:
    """Compute one example eagerly, backpropagate, print and draw it; return its numbers."""
    formula, fn, point, rows = EXAMPLES[name]
    inputs = {k: gg.tensor(v, requires_grad=True) for k, v in point.items()}
    result = fn(*inputs.values())
    result.backward()
    ours = [result.item()] + [t.grad.item() for t in inputs.values()]
    where = ", ".join(f"{k}={v:g}" for k, v in point.items())
    print(f"{formula}   at {where}")
    print(f"  {'':8s}{'graphgrad':>11s}{'by hand':>11s}   formula")
    for (label, text, hand), value in zip(rows, ours):
        print(f"  {label:8s}{value:11.4f}{hand(*point.values()):11.4f}   {text}")
    path = render(result, out / f"autodiff_{name}.svg", params=inputs)
    print(f"  graph: {path}")
    return {label: value for (label, _, _), value in zip(rows, ours)}


def fit_one_sample(epochs: int, backend: str, x: float = 2.0, y: float = 7.0,
                   lr: float = 1e-2) -> dict:
    """Gradient descent on (w*x + b - y)**2 from w=5, b=2, as one compiled step.

    Every step moves (w, b) along (x, 1) and shrinks the residual by 1 - 2 lr (x**2 + 1)
    (0.9 here), so the fit ends at the solution nearest the start: w=3, b=1.
    """
    w = gg.tensor(5.0, requires_grad=True)
    b = gg.tensor(2.0, requires_grad=True)
    opt = optim.SGD([w, b], lr=lr)

    @gg.compile(backend=backend)
    def train_step(x, y):
        opt.zero_grad()
        loss = (w * x + b - y) ** 2
        loss.backward()
        opt.step()
        return loss

    x_t, y_t = gg.tensor(x), gg.tensor(y)
    first = train_step(x_t, y_t).item()
    print(f"compiled step, first call: L = {first:.4f}, dL/dw = {w.grad.item():.4f}, "
          f"dL/db = {b.grad.item():.4f}   (by hand: 25, 20, 10)")
    loss = first
    for _ in range(epochs - 1):
        loss = train_step(x_t, y_t).item()
    print(f"after {epochs} steps of SGD (lr {lr:g}): w = {w.item():.4f}, b = {b.item():.4f}, "
          f"L = {loss:.2e}   (by hand: w -> 3, b -> 1)")
    return {"first_loss": first, "w": w.item(), "b": b.item(), "loss": loss,
            "step": train_step}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv, "Reverse-mode gradients of small functions, checked by hand.",
                      epochs=100)
    setup(args)
    results = {name: eager_example(name, args.out) for name in EXAMPLES}
    print()
    results["fit"] = fit_one_sample(args.epochs, args.backend)
    step = results["fit"]["step"]
    write_diagrams(step, args.out, "autodiff_basics")
    # After the passes the whole step (forward, backward, update) is one fused kernel.
    path = render(step, args.out / "autodiff_basics_optimized.svg", optimized=True)
    print(f"optimized graph: {path}")
    return results


if __name__ == "__main__":
    main()

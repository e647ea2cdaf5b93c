"""Regenerate the diagrams in docs/ from the models below, and their checksums.

    python docs/make_images.py          # writes docs/*.svg and docs/images.sha256

Each image is one `gg.viz.to_dot` view of a compiled train step, at its default
options: the autodiff-basics fit (SGD on one sample), the digits MLP
(64 -> 128 -> 128 -> 10, Adam) and a 12-layer transformer encoder built from
existing ops (d_model 128, 4 heads, Adam). `images.sha256` holds the SHA-256 of each
view's DOT source; tests/viz/test_docs_images.py rebuilds the sources and compares,
so an engine or viz change that alters a diagram fails until this script is rerun.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

import graphgrad as gg
from graphgrad import nn, optim

DOCS = Path(__file__).resolve().parent
MANIFEST = DOCS / "images.sha256"


class LayerNorm(nn.Module):
    """Layer normalization over the last axis, from mean, sub, mul and sqrt."""

    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(gg.ones(d))
        self.bias = nn.Parameter(gg.zeros(d))
        self.eps = eps

    def forward(self, x):
        centered = x - x.mean(-1, keepdim=True)
        var = (centered * centered).mean(-1, keepdim=True)
        return centered / gg.sqrt(var + self.eps) * self.weight + self.bias


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.out = nn.Linear(d, d)

    def split(self, x):
        b, t, d = x.shape
        return x.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        scores = q @ k.transpose(2, 3) * (1.0 / float(np.sqrt(d // self.heads)))
        mixed = nn.functional.softmax(scores, dim=-1) @ v
        return self.out(mixed.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.ln1, self.attn = LayerNorm(d), SelfAttention(d, heads)
        self.ln2 = LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TransformerEncoder(nn.Module):
    """`layers` pre-norm blocks and a linear classifier of the mean over positions."""

    def __init__(self, d: int = 128, heads: int = 4, layers: int = 12, classes: int = 10):
        super().__init__()
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.norm, self.head = LayerNorm(d), nn.Linear(d, classes)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x).mean(1))


def train_step(model, opt, x, y):
    """A compiled step of `model` (cross-entropy, `opt`), called once on (x, y)."""
    loss_fn = nn.CrossEntropyLoss()

    @gg.compile(backend="numpy")
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step(gg.tensor(x), gg.tensor(y))
    return step


def autodiff_basics():
    """The fit of examples/autodiff_basics.py: (w*x + b - y)**2, SGD."""
    w, b = gg.tensor(5.0, requires_grad=True), gg.tensor(2.0, requires_grad=True)
    opt = optim.SGD([w, b], lr=1e-2)

    @gg.compile(backend="numpy")
    def train_step(x, y):
        opt.zero_grad()
        loss = (w * x + b - y) ** 2
        loss.backward()
        opt.step()
        return loss

    train_step(gg.tensor(2.0), gg.tensor(7.0))
    return train_step


def mlp_digits():
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    x = np.zeros((32, 64), np.float32)
    return train_step(model, optim.Adam(model.parameters(), lr=1e-3), x,
                      np.zeros(32, np.int64))


def transformer(layers: int = 12, d: int = 128):
    gg.manual_seed(0)
    model = TransformerEncoder(d, 4, layers)
    x = np.zeros((2, 8, d), np.float32)
    return train_step(model, optim.Adam(model.parameters(), lr=1e-3), x,
                      np.zeros(2, np.int64))


VIEWS = {"forward": {"part": "forward"}, "backward": {"part": "backward"},
         "optimized": {"optimized": True}}
# model -> (its compiled step, the views drawn of it)
STEPS = {"autodiff_basics": (autodiff_basics, ("forward", "backward", "optimized")),
         "mlp_digits": (mlp_digits, ("forward", "backward", "optimized")),
         "transformer": (transformer, ("forward", "backward"))}


def dot_sources() -> dict[str, str]:
    """image name -> DOT source of that view (every model, each of its views)."""
    sources = {}
    for model, (make, views) in STEPS.items():
        step = make()
        for view in views:
            sources[f"{model}_{view}"] = gg.viz.to_dot(step, **VIEWS[view]).source
    return sources


def checksums(sources: dict[str, str]) -> str:
    return "".join(f"{hashlib.sha256(s.encode()).hexdigest()}  {name}.svg\n"
                   for name, s in sorted(sources.items()))


def main() -> int:
    import graphviz

    sources = dot_sources()
    for name, source in sources.items():
        svg = graphviz.Source(source).pipe(format="svg", encoding="utf-8")
        (DOCS / f"{name}.svg").write_text(svg, encoding="utf-8")
    MANIFEST.write_text(checksums(sources), encoding="utf-8")
    print(f"wrote {len(sources)} images and {MANIFEST.name} in {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

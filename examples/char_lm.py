"""A character-level language model on tinyshakespeare: GRU, LSTM or a small transformer.

    python examples/char_lm.py --out out/                     # GRU, numpy, a few minutes
    python examples/char_lm.py --model transformer --epochs 20
    python examples/char_lm.py --model lstm --backend cupy

The PyTorch recipe: random windows of 64 characters from the first 90% of the text,
an `nn.Module` (embedding -> GRU/LSTM -> linear head, or token + position embeddings ->
pre-LayerNorm transformer blocks with causal self-attention and a GELU MLP -> a head
tied to the token embedding), cross-entropy on the next character, Adam with gradient
clipping. The whole train step (forward, backward, clipping, update) is one
`@gg.compile` graph; the recurrent layers are whole-sequence ops, so it traces in well
under a second whatever the context length. After training it reports the held-out
loss (nats per character; a uniform guess is ln 65 = 4.17), samples text with a
temperature, and writes the step's diagrams and a loss plot.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from pathlib import Path

import numpy as np
from _common import parse_args, setup, write_diagrams
from tqdm import tqdm

import graphgrad as gg
import graphgrad.nn.functional as F
from graphgrad import nn, optim

DATA = Path(__file__).parent / "data" / "tinyshakespeare.txt"


class Corpus:
    """The text as int64 character codes, split 90/10, and random windows from it."""

    def __init__(self, path: Path = DATA):
        text = path.read_text(encoding="utf-8")
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}
        codes = np.array([self.index[c] for c in text], dtype=np.int64)
        cut = int(0.9 * len(codes))
        self.train, self.valid = codes[:cut], codes[cut:]

    def batch(self, split: np.ndarray, batch: int, context: int, rng) -> tuple:
        """(inputs, targets): `batch` windows of `context` characters, targets shifted by 1."""
        starts = rng.integers(0, len(split) - context - 1, size=batch)
        rows = starts[:, None] + np.arange(context + 1)
        windows = split[rows]
        return gg.tensor(windows[:, :-1]), gg.tensor(windows[:, 1:])

    def decode(self, codes) -> str:
        return "".join(self.chars[int(i)] for i in codes)


# ---------------------------------------------------------------------- models

class RecurrentLM(nn.Module):
    """Embedding -> GRU or LSTM (batch first) -> linear head over the characters."""

    def __init__(self, vocab: int, kind: str = "gru", embed: int = 64, hidden: int = 256):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = (nn.GRU if kind == "gru" else nn.LSTM)(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, state=None):
        out, state = self.rnn(self.embed(idx), state)
        return self.head(out), state


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t sees positions <= t only."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (t.reshape(B, T, self.heads, C // self.heads).transpose(1, 2)
                   for t in self.qkv(x).chunk(3, -1))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(dim), CausalSelfAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TransformerLM(nn.Module):
    """Token + position embeddings -> blocks -> LayerNorm -> head tied to the embedding."""

    def __init__(self, vocab: int, context: int = 64, dim: int = 128, heads: int = 4,
                 layers: int = 2):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(gg.randn(context, dim) * 0.02)
        with gg.no_grad():
            self.tok.weight.mul_(0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(dim)

    def forward(self, idx, state=None):
        T = idx.shape[1]
        x = self.tok(idx) + self.pos[:T]
        x = self.ln(self.blocks(x))
        return x @ self.tok.weight.T, None


def make_model(kind: str, vocab: int, context: int) -> nn.Module:
    if kind == "transformer":
        return TransformerLM(vocab, context)
    return RecurrentLM(vocab, kind)


# ---------------------------------------------------------------------- training

def lm_loss(model, x, y):
    logits, _ = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def evaluate(model, corpus: Corpus, args, batches: int = 8) -> float:
    """Mean held-out cross-entropy (nats per character), eagerly, without gradients."""
    model.eval()
    rng = np.random.default_rng(1234)
    with gg.no_grad():
        losses = [lm_loss(model, *corpus.batch(corpus.valid, args.batch_size, args.context,
                                               rng)).item() for _ in range(batches)]
    model.train()
    return float(np.mean(losses))


def sample(model, corpus: Corpus, prompt: str, length: int, temperature: float,
           context: int) -> str:
    """Continue `prompt` one character at a time, drawing from softmax(logits / T)."""
    model.eval()
    codes = [corpus.index[c] for c in prompt]
    state = None
    with gg.no_grad():
        feed = codes
        for _ in range(length):
            if isinstance(model, TransformerLM):
                logits, _ = model(gg.tensor([codes[-context:]]))
            else:
                logits, state = model(gg.tensor([feed]), state)
            probs = F.softmax(logits[0, -1] / temperature, -1)
            nxt = int(gg.multinomial(probs, 1).item())
            codes.append(nxt)
            feed = [nxt]
    model.train()
    return corpus.decode(codes)


def plot(history: dict, path: Path, title: str) -> Path | None:
    """Train and held-out loss per epoch as a PNG, when matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return None
    epochs = range(1, len(history["train_loss"]) + 1)
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(epochs, history["train_loss"], label="train")
    ax.plot(epochs, history["valid_loss"], label="held out")
    ax.axhline(math.log(65), color="grey", linestyle=":", label="uniform guess")
    ax.set(xlabel="epoch", ylabel="nats per character", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _options(p) -> None:
    p.add_argument("--model", choices=("gru", "lstm", "transformer"), default="gru")
    p.add_argument("--steps", type=int, default=100, help="train steps per epoch (default 100)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--context", type=int, default=64, help="characters per window")
    p.add_argument("--lr", type=float, default=None, help="Adam's lr (default per model)")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--sample-length", type=int, default=300)
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads (default 1: the recurrence's GEMMs are small, and "
                        "OpenBLAS's waiting threads slow a busy machine many times over)")


def limit_threads(n: int):
    """Limit the BLAS thread pool to n threads (a no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(n)


def train(model, corpus: Corpus, args) -> tuple[dict, object, float]:
    lr = args.lr or (3e-3 if args.model == "transformer" else 5e-3)
    opt = optim.Adam(model.parameters(), lr=lr)

    @gg.compile(backend=args.backend)
    def train_step(x, y):
        opt.zero_grad()
        loss = lm_loss(model, x, y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    rng = np.random.default_rng(args.seed)
    history = {"train_loss": [], "valid_loss": []}
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        losses = [train_step(*corpus.batch(corpus.train, args.batch_size, args.context,
                                           rng)).item()
                  for _ in tqdm(range(args.steps), desc=f"epoch {epoch}", leave=False)]
        history["train_loss"].append(float(np.mean(losses)))
        history["valid_loss"].append(evaluate(model, corpus, args))
        print(f"epoch {epoch:2d}  train loss {history['train_loss'][-1]:.3f}  "
              f"held-out loss {history['valid_loss'][-1]:.3f} nats/char")
    return history, train_step, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv, __doc__.splitlines()[0], epochs=15, extra=_options)
    setup(args)
    corpus = Corpus()
    model = make_model(args.model, len(corpus.chars), args.context)
    with limit_threads(args.threads):
        history, train_step, seconds = train(model, corpus, args)
    steps = args.epochs * args.steps
    print(f"held-out loss {history['valid_loss'][-1]:.3f} nats/char after {steps} steps of "
          f"{args.batch_size}x{args.context} characters ({seconds:.1f} s on {args.backend}, "
          f"model {args.model})")
    print(f"compile cache: {train_step.cache_info()}")
    text = sample(model, corpus, "ROMEO:\n", args.sample_length, args.temperature,
                  args.context)
    print(f"--- sample (temperature {args.temperature}) ---\n{text}\n---")
    name = f"char_lm_{args.model}"
    write_diagrams(train_step, args.out, name)
    png = plot(history, args.out / f"{name}_training.png", f"char LM ({args.model})")
    if png:
        print(f"plot: {png}")
    return {"valid_loss": history["valid_loss"][-1], "history": history, "sample": text,
            "seconds": seconds, "step": train_step}


if __name__ == "__main__":
    main()

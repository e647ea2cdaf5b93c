"""Per-step time of the sequence models of examples/char_lm.py beside PyTorch eager.

    python benchmarks/zoo_seq.py                  # GRU LM and transformer LM rows
    python benchmarks/zoo_seq.py --rounds 3 --steps 5

Batch 32, context 64, the example's models (GRU: embedding 64, hidden 256; transformer:
2 pre-LayerNorm blocks of width 128, 4 heads, weight-tied head), one training step =
forward, cross-entropy, backward, Adam. Rows: graphgrad compiled (first call = trace +
compile, timed separately), graphgrad eager, and the same model written in PyTorch run
eagerly; BLAS and PyTorch limited to the same thread count. Then the first-call time
of the compiled GRU step for contexts 16, 64 and 256 (one node per layer: flat in T).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import graphgrad as gg
from graphgrad import optim
from graphgrad.bench import blas_threads

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import char_lm  # noqa: E402  (the example's models)

VOCAB, BATCH, CONTEXT = 65, 32, 64


# ---------------------------------------------------------------------- PyTorch mirrors

class TorchRecurrentLM(tnn.Module):
    def __init__(self, kind="gru", embed=64, hidden=256):
        super().__init__()
        self.embed = tnn.Embedding(VOCAB, embed)
        self.rnn = (tnn.GRU if kind == "gru" else tnn.LSTM)(embed, hidden, batch_first=True)
        self.head = tnn.Linear(hidden, VOCAB)

    def forward(self, idx):
        return self.head(self.rnn(self.embed(idx))[0])


class TorchBlock(tnn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = tnn.LayerNorm(dim), tnn.LayerNorm(dim)
        self.qkv, self.proj = tnn.Linear(dim, 3 * dim), tnn.Linear(dim, dim)
        self.mlp = tnn.Sequential(tnn.Linear(dim, 4 * dim), tnn.GELU(approximate="tanh"),
                                 tnn.Linear(4 * dim, dim))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (t.reshape(B, T, self.heads, C // self.heads).transpose(1, 2)
                   for t in self.qkv(self.ln1(x)).chunk(3, -1))
        y = TF.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp(self.ln2(x))


class TorchTransformerLM(tnn.Module):
    def __init__(self, context=CONTEXT, dim=128, heads=4, layers=2):
        super().__init__()
        self.tok = tnn.Embedding(VOCAB, dim)
        self.pos = tnn.Parameter(torch.randn(context, dim) * 0.02)
        self.blocks = tnn.Sequential(*[TorchBlock(dim, heads) for _ in range(layers)])
        self.ln = tnn.LayerNorm(dim)

    def forward(self, idx):
        x = self.tok(idx) + self.pos[:idx.shape[1]]
        return self.ln(self.blocks(x)) @ self.tok.weight.T


# ---------------------------------------------------------------------- steps

def _batch(context, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, VOCAB, size=(BATCH, context + 1))
    return data[:, :-1], data[:, 1:]


def gg_step(kind: str, context: int = CONTEXT, compiled: bool = True):
    model = char_lm.make_model(kind, VOCAB, context)
    opt = optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        opt.zero_grad()
        loss = char_lm.lm_loss(model, x, y)
        loss.backward()
        opt.step()
        return loss

    fn = gg.compile(step) if compiled else step
    x, y = (gg.tensor(a) for a in _batch(context))

    def run():
        return fn(x, y)
    run.compiled = fn if compiled else None
    return run


def torch_step(kind: str):
    model = TorchTransformerLM() if kind == "transformer" else TorchRecurrentLM(kind)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = (torch.tensor(a) for a in _batch(CONTEXT))

    def step():
        opt.zero_grad()
        loss = TF.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        opt.step()
        return loss
    return step


def first_call(kind: str, context: int = CONTEXT) -> tuple[float, float]:
    """(seconds of the first call, seconds of its trace + optimize + lower alone)."""
    step = gg_step(kind, context)
    t0 = time.perf_counter()
    step()
    return time.perf_counter() - t0, step.compiled.cache_info().records[0].seconds


def per_step(step, steps: int, rounds: int) -> float:
    for _ in range(2):
        step()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - t0) / steps)
    return statistics.median(times)


def run(kind: str, steps: int, rounds: int) -> dict:
    first, compile_s = first_call(kind)
    systems = {"graphgrad compiled": gg_step(kind),
               "graphgrad eager": gg_step(kind, compiled=False),
               "pytorch eager": torch_step(kind)}
    for step in systems.values():
        step()
    times = {name: [] for name in systems}
    for _ in range(rounds):  # alternate systems round by round (a busy machine drifts)
        for name, step in systems.items():
            times[name].append(per_step(step, steps, 1))
    medians = {k: statistics.median(v) for k, v in times.items()}
    return {"first": first, "compile": compile_s, **medians}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="*", default=["gru", "transformer"])
    args = parser.parse_args(argv)
    print(f"graphgrad {gg.__version__}, numpy {np.__version__}, torch {torch.__version__}; "
          f"{platform.machine()}; {time.strftime('%Y-%m-%d')}")
    with blas_threads(args.threads) as label:
        print(f"batch {BATCH}, context {CONTEXT}, BLAS/torch threads {label}")
        print(f"{'model':<14}{'compiled ms':>12}{'eager ms':>10}{'torch ms':>10}"
              f"{'compiled/torch':>16}{'first call s':>14}{'of it compile s':>17}")
        for kind in args.models:
            r = run(kind, args.steps, args.rounds)
            c, e, t = r["graphgrad compiled"], r["graphgrad eager"], r["pytorch eager"]
            print(f"{kind + ' LM':<14}{c * 1e3:>12.1f}{e * 1e3:>10.1f}{t * 1e3:>10.1f}"
                  f"{c / t:>15.2f}x{r['first']:>14.2f}{r['compile']:>17.2f}", flush=True)
        firsts = {T: first_call("gru", T) for T in (16, 64, 256)}
        print("GRU LM first call by context (whole call / trace + optimize + lower): "
              + ", ".join(f"T={T}: {a:.2f} s / {b:.2f} s" for T, (a, b) in firsts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

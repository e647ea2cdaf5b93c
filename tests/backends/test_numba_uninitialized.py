"""No buffer of a plan on the Numba backend is read before it is written.

np.empty usually hands out freshly mapped, zeroed pages, so a kernel that reads a buffer
it never wrote mostly reads zeros and passes; once memory is recycled it reads leftovers
(an order-dependent "invalid value encountered in dot", say). Here every allocation the
plan makes is poisoned: the whole plan's `empty` becomes `empty_poisoned` (every byte
0xFF: NaN, -1), and for the per-kernel plan `np.empty`/`np.empty_like` return NaN-filled
floats. Oracle: the same step run eagerly on the NumPy backend from the same weights
(float32 tolerance); with a read before a write the poisoned run gives NaN instead.
"""

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.backends import numba_plan

pytest.importorskip("numba")


def _poisoned_source(generate):
    def source(request, name="plan"):
        text, in_place = generate(request, name)
        text = text.replace(" = empty(", " = empty_poisoned(")
        return text.replace("    add_rows,", "    empty_poisoned, add_rows,"), in_place
    return source


def _model(kind):
    gg.manual_seed(0)
    if kind == "mlp_adam":
        return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(),
                             nn.Linear(16, 4))
    return nn.Sequential(nn.Linear(6, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU(),
                         nn.Linear(16, 4))


def _train(kind, backend):
    model = _model(kind)
    opt = optim.Adam(model.parameters(), lr=0.01)
    ce = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = ce(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = gg.compile(step, backend=backend) if backend else step
    rng = np.random.default_rng(5)
    losses = []
    for _ in range(3):
        x = gg.tensor(rng.standard_normal((8, 6)).astype(np.float32))
        losses.append(float(fn(x, gg.tensor(rng.integers(0, 4, 8))).item()))
    return losses, [p.numpy().copy() for p in model.parameters()], fn


@pytest.mark.parametrize("kind", ["mlp_adam", "batchnorm"])
def test_whole_plan_reads_no_buffer_before_writing_it(kind, monkeypatch):
    monkeypatch.setattr(numba_plan, "generate", _poisoned_source(numba_plan.generate))
    losses, params, fn = _train(kind, "numba")
    assert fn.backend_info() == "whole plan compiled by backend 'numba'"
    assert "empty_poisoned(" in fn.source
    want_losses, want_params, _ = _train(kind, None)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    for p, w in zip(params, want_params):
        np.testing.assert_allclose(p, w, rtol=1e-4, atol=1e-6)


def _nan_filled(allocate):
    def poisoned(*args, **kwargs):
        out = allocate(*args, **kwargs)
        if out.dtype.kind == "f":
            out.fill(np.nan)
        return out
    return poisoned


def test_per_kernel_plan_reads_no_buffer_before_writing_it(monkeypatch):
    """The Transformer encoder layer (batched matmuls: the per-kernel plan, with Numba's
    fused loops writing into buffers the memory planner hands them)."""
    gg.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)
    x = np.random.default_rng(0).standard_normal((5, 3, 8)).astype(np.float32)

    def step(x):
        layer.zero_grad()
        x.requires_grad_(True)
        out = layer(x)
        (out * out).sum().backward()
        return out, x.grad

    want_out, want_gx = (t.numpy() for t in step(gg.tensor(x)))
    layer.to("numba")
    monkeypatch.setattr(np, "empty", _nan_filled(np.empty))
    monkeypatch.setattr(np, "empty_like", _nan_filled(np.empty_like))
    fn = gg.compile(step, backend="numba")
    for _ in range(2):
        out, gx = fn(gg.tensor(x, device="numba"))
        np.testing.assert_allclose(out.numpy(), want_out, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(gx.numpy(), want_gx, rtol=1e-4, atol=1e-5)
    assert fn.backend_info().startswith("per-kernel plan")

"""Scratch arrays reused across kernel calls (backends/workspace.py), and the GRU
kernels that use them. Oracles: object identity for reuse; for the kernels, the same
kernels' results on fresh inputs (a reused scratch array must not carry anything from
one call to the next) and PyTorch 2.13's nn.GRU gradients at a benchmark-like size."""

import threading

import numpy as np
import torch

from graphgrad.backends import seq_kernels, workspace
from graphgrad.backends.workspace import Workspace


def test_same_key_same_array_other_keys_other_arrays():
    ws = Workspace(np)
    a = ws.get("a", (3, 4), np.float32)
    assert ws.get("a", (3, 4), np.float32) is a
    assert ws.get("a", (3, 5), np.float32) is not a
    assert ws.get("a", (3, 4), np.float64) is not a
    assert ws.get("b", (3, 4), np.float32) is not a


def test_each_thread_has_its_own_arrays():
    ws = Workspace(np)
    mine = ws.get("a", (8,), np.float32)
    theirs = []
    t = threading.Thread(target=lambda: theirs.append(ws.get("a", (8,), np.float32)))
    t.start()
    t.join()
    assert theirs[0] is not mine and ws.get("a", (8,), np.float32) is mine


def test_held_bytes_stay_under_the_limit(monkeypatch):
    monkeypatch.setattr(workspace, "LIMIT_BYTES", 1000)
    ws = Workspace(np)
    for k in range(20):
        ws.get(f"t{k}", (100,), np.float32)  # 400 bytes each
        assert ws.nbytes <= 1000
    big = ws.get("big", (1000,), np.float32)  # over the limit alone: not kept
    assert ws.get("big", (1000,), np.float32) is not big


def _operands(T, B, n_in, H, seed):
    rng = np.random.default_rng(seed)
    shapes = [(T, B, n_in), (B, H), (3 * H, n_in), (3 * H, H), (3 * H,), (3 * H,)]
    return [rng.uniform(-0.5, 0.5, s).astype(np.float32) for s in shapes]


def test_gru_kernels_called_in_turn_with_two_shapes_match_fresh_calls():
    """Interleaved calls (shape A, shape B, shape A again) give what a first call gives:
    nothing leaks through the reused scratch arrays."""
    fresh = seq_kernels.kernels(np)
    reused = seq_kernels.kernels(np)
    shape_a, shape_b = (5, 3, 4, 6), (4, 2, 3, 5)
    for shape, seed in ((shape_a, 0), (shape_b, 1), (shape_a, 2), (shape_a, 3)):
        ops = _operands(*shape, seed)
        for reverse in (False, True):
            out = reused["gru_seq"](*ops, reverse=reverse)
            g = np.random.default_rng(seed).standard_normal(out.shape).astype(np.float32)
            g[1:] = 0 if seed % 2 else g[1:]  # the model's case, and every part honoured
            got = reused["gru_seq_backward"](g, *ops, out, reverse=reverse)
            want_out = seq_kernels.kernels(np)["gru_seq"](*ops, reverse=reverse)
            want = fresh["gru_seq_backward"](g, *ops, want_out, reverse=reverse)
            np.testing.assert_array_equal(out, want_out)
            np.testing.assert_array_equal(got, want)


def test_gru_gradients_match_torch_at_the_benchmark_size():
    """T 64, batch 32, input 64, hidden 256 (benchmarks/zoo.py's GRU LM), float32."""
    T, B, n_in, H = 64, 32, 64, 256
    torch.manual_seed(0)
    gru = torch.nn.GRU(n_in, H)
    x = torch.randn(T, B, n_in, requires_grad=True)
    h0 = torch.randn(1, B, H, requires_grad=True)
    y, _ = gru(x, h0)
    gy = torch.randn_like(y)
    y.backward(gy)
    k = seq_kernels.kernels(np)
    weights = [p.detach().numpy() for p in
               (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)]
    ops = [x.detach().numpy(), h0.detach().numpy()[0], *weights]
    out = k["gru_seq"](*ops)
    np.testing.assert_allclose(out[0], y.detach().numpy(), rtol=1e-4, atol=1e-5)
    g = np.zeros_like(out)
    g[0] = gy.numpy()
    flat = k["gru_seq_backward"](g, *ops, out)
    want = [x.grad, h0.grad[0], gru.weight_ih_l0.grad, gru.weight_hh_l0.grad,
            gru.bias_ih_l0.grad, gru.bias_hh_l0.grad]
    start = 0
    for w in want:
        got = flat[start:start + w.numel()].reshape(w.shape)
        start += w.numel()
        np.testing.assert_allclose(got, w.numpy(), rtol=1e-4, atol=2e-4)

"""F.scaled_dot_product_attention and nn.MultiheadAttention against PyTorch 2.13.

Oracle: torch's functions and modules with the same weights (loaded through
`load_state_dict`, which checks the parameter names) and inputs: outputs, returned
attention weights, input and parameter gradients in float32 (rtol 1e-4), eagerly and
compiled.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg
import graphgrad.nn.functional as F
from graphgrad import nn

RTOL, ATOL = 1e-4, 1e-5


def _data(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def _weights(shape):
    return np.cos(np.arange(int(np.prod(shape)))).reshape(shape).astype(np.float32)


MASK = np.array([[True, False, True, True], [True, True, False, True],
                 [False, True, True, True]])


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("kw", [{}, {"is_causal": True}, {"scale": 0.3},
                                {"attn_mask": "bool"}, {"attn_mask": "float"}],
                         ids=["plain", "causal", "scale", "bool_mask", "float_mask"])
def test_sdpa_matches_torch(kw, compiled):
    q, k, v = _data(2, 2, 3, 4), _data(2, 2, 4, 4, seed=1), _data(2, 2, 4, 5, seed=2)
    if kw.get("is_causal"):
        k, v = k[:, :, :3], v[:, :, :3]
    kw_g, kw_t = dict(kw), dict(kw)
    if kw.get("attn_mask") == "bool":
        kw_g["attn_mask"], kw_t["attn_mask"] = gg.tensor(MASK), torch.tensor(MASK)
    elif kw.get("attn_mask") == "float":
        m = _data(3, 4, seed=5)
        kw_g["attn_mask"], kw_t["attn_mask"] = gg.tensor(m), torch.tensor(m)
    ours = [gg.tensor(a, requires_grad=True) for a in (q, k, v)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]

    def step(*xs):
        out = F.scaled_dot_product_attention(*xs, **kw_g)
        (out * gg.tensor(_weights(out.shape))).sum().backward()
        return out, [x.grad for x in xs]

    out, grads = (gg.compile(step) if compiled else step)(*ours)
    ref = torch.nn.functional.scaled_dot_product_attention(*theirs, **kw_t)
    (ref * torch.tensor(_weights(ref.shape))).sum().backward()
    _close(out.numpy(), ref.detach().numpy())
    for g, t in zip(grads, theirs):
        _close(g.numpy(), t.grad.numpy())


def test_sdpa_dropout_keeps_expectation_shape():
    q = gg.ones(1, 1, 4, 8)
    out = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    assert out.shape == (1, 1, 4, 8)
    assert set(np.unique(out.numpy().round(4))) <= {0.0, 0.5, 1.0, 1.5, 2.0}


def _mha_case(batch_first, self_attn, masks, need_avg, compiled):
    gg.manual_seed(0)
    E, H, L, S, N = 8, 2, 3, 4, 2
    module = nn.MultiheadAttention(E, H, batch_first=batch_first)
    ref = torch.nn.MultiheadAttention(E, H, batch_first=batch_first)
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                         for k, v in module.state_dict().items()})
    shape = (lambda n: (N, n, E)) if batch_first else (lambda n: (n, N, E))
    if self_attn:
        arrays = [_data(*shape(S))]
    else:
        arrays = [_data(*shape(L)), _data(*shape(S), seed=1), _data(*shape(S), seed=2)]
    kw_g, kw_t = {"average_attn_weights": need_avg}, {"average_attn_weights": need_avg}
    if "attn" in masks:
        m = ~np.tri(S if self_attn else L, S, dtype=bool)
        kw_g["attn_mask"], kw_t["attn_mask"] = gg.tensor(m), torch.tensor(m)
    if "pad" in masks:
        pad = np.array([[False, False, False, True], [False, True, False, False]])
        kw_g["key_padding_mask"], kw_t["key_padding_mask"] = gg.tensor(pad), torch.tensor(pad)
    ours = [gg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]

    def step(*xs):
        module.zero_grad()
        qkv = xs * 3 if self_attn else xs
        out, w = module(*qkv, **kw_g)
        ((out * gg.tensor(_weights(out.shape))).sum() + (w * w).sum()).backward()
        return out, w, [x.grad for x in xs]

    out, w, grads = (gg.compile(step) if compiled else step)(*ours)
    qkv = theirs * 3 if self_attn else theirs
    rout, rw = ref(*qkv, **kw_t)
    ((rout * torch.tensor(_weights(rout.shape))).sum() + (rw * rw).sum()).backward()
    _close(out.numpy(), rout.detach().numpy())
    _close(w.numpy(), rw.detach().numpy())
    for g, t in zip(grads, theirs):
        _close(g.numpy(), t.grad.numpy())
    rparams = dict(ref.named_parameters())
    for name, p in module.named_parameters():
        _close(p.grad.numpy(), rparams[name].grad.numpy())


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("batch_first, self_attn, masks, need_avg", [
    (False, True, (), True), (True, True, ("attn", "pad"), False),
    (True, False, ("pad",), True), (False, False, ("attn",), True)])
def test_mha_matches_torch(batch_first, self_attn, masks, need_avg, compiled):
    _mha_case(batch_first, self_attn, masks, need_avg, compiled)


def test_mha_names_and_unbatched():
    module = nn.MultiheadAttention(8, 2)
    assert list(module.state_dict()) == list(torch.nn.MultiheadAttention(8, 2).state_dict())
    x = gg.randn(5, 8)
    out, w = module(x, x, x, need_weights=False)
    assert out.shape == (5, 8) and w is None


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_a_fully_masked_query_row_gives_zeros_and_finite_gradients(compiled):
    """PyTorch's scaled_dot_product_attention gives 0 for a query whose every key is
    masked out (and so does MultiheadAttention without weights: its output bias), with
    finite gradients everywhere; a plain softmax would give NaN and spread it."""
    q = _data(2, 1, 3, 4)
    mask = np.array([[True, True, False], [False, False, False], [True, False, True]])

    def ours(qt):
        out = F.scaled_dot_product_attention(qt, qt * 0.5, qt, attn_mask=gg.tensor(mask))
        (out * out).sum().backward()
        return out

    qt = gg.tensor(q, requires_grad=True)
    out = (gg.compile(ours) if compiled else ours)(qt)
    tq = torch.tensor(q, requires_grad=True)
    ref = torch.nn.functional.scaled_dot_product_attention(tq, tq * 0.5, tq,
                                                           attn_mask=torch.tensor(mask))
    (ref * ref).sum().backward()
    _close(out.numpy(), ref.detach().numpy())
    _close(qt.grad.numpy(), tq.grad.numpy())
    assert np.all(out.numpy()[:, :, 1] == 0)

    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(4, 2, batch_first=True)
    gm = nn.MultiheadAttention(4, 2, batch_first=True)
    gm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x, pad = _data(2, 3, 4, seed=1), np.array([[True, True, True], [False, False, True]])

    def mha(xt):
        out, _ = gm(xt, xt, xt, key_padding_mask=gg.tensor(pad), need_weights=False)
        out.sum().backward()
        return out

    out = (gg.compile(mha) if compiled else mha)(gg.tensor(x))
    tout, _ = tm(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(pad), need_weights=False)
    tout.sum().backward()
    _close(out.numpy(), tout.detach().numpy())
    tgrads = dict(tm.named_parameters())
    for name, p in gm.named_parameters():
        _close(p.grad.numpy(), tgrads[name].grad.numpy())


def test_integer_masks_are_refused():
    q = gg.tensor(_data(1, 2, 4))
    with pytest.raises(gg.DtypeError, match="attn_mask must be bool or floating"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=gg.tensor(np.ones((2, 2), np.int64)))
    mha, x = nn.MultiheadAttention(4, 2), gg.tensor(_data(3, 1, 4))
    with pytest.raises(gg.DtypeError, match="key_padding_mask"):
        mha(x, x, x, key_padding_mask=gg.tensor(np.zeros((1, 3), np.int64)))


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_grouped_query_attention_matches_torch(compiled):
    """enable_gqa: 4 query heads share 2 key/value heads (it was accepted and failed
    inside a matmul)."""
    q, k, v = _data(2, 4, 3, 5), _data(2, 2, 6, 5, seed=1), _data(2, 2, 6, 5, seed=2)

    def ours(*xs):
        out = F.scaled_dot_product_attention(*xs, enable_gqa=True, is_causal=True)
        (out * out).sum().backward()
        return out

    gs = [gg.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = (gg.compile(ours) if compiled else ours)(*gs)
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    ref = torch.nn.functional.scaled_dot_product_attention(*ts, enable_gqa=True, is_causal=True)
    (ref * ref).sum().backward()
    _close(out.numpy(), ref.detach().numpy())
    for g, t in zip(gs, ts):
        _close(g.grad.numpy(), t.grad.numpy())
    with pytest.raises(gg.ShapeError, match="cannot be shared evenly"):
        F.scaled_dot_product_attention(gg.tensor(_data(1, 3, 2, 4)), *(gg.tensor(_data(
            1, 2, 2, 4)),) * 2, enable_gqa=True)


def test_attention_weights_are_returned_after_dropout_as_torch():
    gg.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, dropout=0.5)
    x = gg.tensor(_data(5, 1, 8))
    _, weights = mha(x, x, x, average_attn_weights=False)
    w = weights.numpy()
    assert (w == 0).any() and not np.allclose(w.sum(-1), 1)  # zeros, and survivors * 2
    mha.eval()
    _, weights = mha(x, x, x, average_attn_weights=False)
    np.testing.assert_allclose(weights.numpy().sum(-1), 1, rtol=1e-5)

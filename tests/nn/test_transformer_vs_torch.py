"""The Transformer stack against PyTorch 2.13.

Oracle: torch.nn.TransformerEncoderLayer/Encoder/DecoderLayer/Decoder/Transformer built
with the same settings, their state_dict loaded into ours (so the keys must be torch's):
outputs, gradients of every float input and of every parameter, float64 (rtol 1e-8),
eagerly and compiled with `gg.compile`, under float causal masks, bool attention masks
and bool key-padding masks; reprs equal to torch's (ModuleList's "(0-1): 2 x" runs);
dropout off in eval; bad arguments raise GraphgradError subclasses.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn
from graphgrad.errors import GraphgradError

pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched")
RNG = np.random.default_rng(0)
D, H, FF = 8, 2, 12
CAUSAL = np.triu(np.full((5, 5), -np.inf), 1)
PAD = np.zeros((3, 5), bool)
PAD[1, 3:] = True
MEM_PAD = np.zeros((3, 4), bool)
MEM_PAD[2, 0] = True
BOOL_MASK = np.triu(np.ones((5, 4), bool), 2)  # memory mask: query i sees keys < i + 2


def _torch_and_ours(name, *args, **kwargs):
    ours_kwargs = dict(kwargs)
    if kwargs.get("activation") is torch.nn.functional.gelu:
        ours_kwargs["activation"] = gg.nn.functional.gelu
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's nested-tensor notice
        theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    ours = _build_ours(name, args, ours_kwargs).double()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return theirs, ours


def _build_ours(name, args, kwargs):
    if name in ("TransformerEncoder", "TransformerDecoder"):
        layer, n = args
        norm = nn.LayerNorm(D)
        return getattr(nn, name)(_build_ours(layer[0], layer[1], layer[2]), n, norm=norm)
    return getattr(nn, name)(*args, **kwargs)


def _seq(n_len, batch_first):
    x = RNG.standard_normal((n_len, 3, D))
    return x.transpose(1, 0, 2).copy() if batch_first else x


CASES = {  # id: (module name, args, kwargs, inputs builder, mask kwargs)
    "enc-post-relu": ("TransformerEncoderLayer", (D, H, FF), dict(dropout=0.0),
                      dict(src=5), dict(src_mask=CAUSAL, src_key_padding_mask=PAD,
                                        is_causal=True)),
    "enc-pre-gelu-bf": ("TransformerEncoderLayer", (D, H, FF),
                        dict(dropout=0.0, activation="gelu", norm_first=True, batch_first=True,
                             layer_norm_eps=1e-3), dict(src=5),
                        dict(src_key_padding_mask=PAD)),
    "enc-nobias-callable": ("TransformerEncoderLayer", (D, H, FF),
                            dict(dropout=0.0, bias=False,
                                 activation=torch.nn.functional.gelu), dict(src=5), {}),
    "dec-post": ("TransformerDecoderLayer", (D, H, FF), dict(dropout=0.0),
                 dict(tgt=5, memory=4), dict(tgt_mask=CAUSAL, memory_mask=BOOL_MASK,
                                             tgt_key_padding_mask=PAD,
                                             memory_key_padding_mask=MEM_PAD)),
    "dec-pre-bf": ("TransformerDecoderLayer", (D, H, FF),
                   dict(dropout=0.0, norm_first=True, batch_first=True, activation="gelu"),
                   dict(tgt=5, memory=4), dict(tgt_mask=CAUSAL, tgt_is_causal=True)),
}


def _run_torch(module, inputs, masks):
    ts = {k: torch.tensor(v, requires_grad=True) for k, v in inputs.items()}
    out = module(**ts, **{k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                          for k, v in masks.items()})
    r = np.random.default_rng(1).standard_normal(tuple(out.shape))
    (out * torch.tensor(r)).sum().backward()
    grads = {k: p.grad.numpy() for k, p in module.named_parameters() if p.grad is not None}
    return out.detach().numpy(), {k: t.grad.numpy() for k, t in ts.items()}, grads, r


def _run_ours(module, inputs, masks, r, compiled):
    names = list(inputs)

    def step(*xs):
        module.zero_grad()
        for x in xs:
            x.requires_grad_(True)
        out = module(**dict(zip(names, xs)),
                     **{k: gg.tensor(v) if isinstance(v, np.ndarray) else v
                        for k, v in masks.items()})
        (out * gg.tensor(r)).sum().backward()
        return (out,) + tuple(x.grad for x in xs)

    out, *gx = (gg.compile(step) if compiled else step)(*(gg.tensor(v) for v in
                                                         inputs.values()))
    grads = {k: p.grad.numpy() for k, p in module.named_parameters() if p.grad is not None}
    return out.numpy(), dict(zip(names, (g.numpy() for g in gx))), grads


def _check(theirs, ours, inputs, masks, compiled):
    t_out, t_gx, t_grads, r = _run_torch(theirs, inputs, masks)
    g_out, g_gx, g_grads = _run_ours(ours, inputs, masks, r, compiled)
    tol = dict(rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(g_out, t_out, **tol, err_msg="output")
    for k in t_gx:
        np.testing.assert_allclose(g_gx[k], t_gx[k], **tol, err_msg=f"grad of input {k}")
    assert g_grads.keys() == t_grads.keys()
    for k in t_grads:
        np.testing.assert_allclose(g_grads[k], t_grads[k], **tol, err_msg=f"grad of {k}")


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("case", list(CASES))
def test_layer_matches_pytorch(case, compiled):
    name, args, kwargs, lengths, masks = CASES[case]
    theirs, ours = _torch_and_ours(name, *args, **kwargs)
    bf = kwargs.get("batch_first", False)
    inputs = {k: _seq(n, bf) for k, n in lengths.items()}
    _check(theirs, ours, inputs, masks, compiled)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_stacks_match_pytorch(compiled):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc_t = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D, H, FF, 0.0), 2,
                                            norm=torch.nn.LayerNorm(D)).double()
    dec_t = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(D, H, FF, 0.0), 2,
                                        norm=torch.nn.LayerNorm(D)).double()
    for theirs, ours, inputs, masks in [
        (enc_t, nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, FF, 0.0), 2,
                                      norm=nn.LayerNorm(D)).double(),
         dict(src=_seq(5, False)), dict(mask=CAUSAL, src_key_padding_mask=PAD)),
        (dec_t, nn.TransformerDecoder(nn.TransformerDecoderLayer(D, H, FF, 0.0), 2,
                                      norm=nn.LayerNorm(D)).double(),
         dict(tgt=_seq(5, False), memory=_seq(4, False)),
         dict(tgt_mask=CAUSAL, memory_key_padding_mask=MEM_PAD)),
    ]:
        assert repr(ours) == repr(theirs)
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        _check(theirs, ours, inputs, masks, compiled)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("batch_first,norm_first", [(False, False), (True, True)])
def test_transformer_matches_pytorch(batch_first, norm_first, compiled):
    theirs, ours = _torch_and_ours("Transformer", D, H, 2, 1, FF, dropout=0.0,
                                   batch_first=batch_first, norm_first=norm_first)
    mask = nn.Transformer.generate_square_subsequent_mask(4).numpy()
    np.testing.assert_array_equal(
        mask, torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())
    inputs = dict(src=_seq(5, batch_first), tgt=_seq(4, batch_first))
    masks = dict(tgt_mask=mask.astype(np.float64), src_key_padding_mask=PAD,
                 memory_key_padding_mask=PAD, tgt_is_causal=True)
    _check(theirs, ours, inputs, masks, compiled)


def test_dropout_acts_in_training_only():
    theirs, ours = _torch_and_ours("TransformerEncoderLayer", D, H, FF, dropout=0.3)
    x = _seq(5, False)
    gg.manual_seed(0)
    a, b = ours(gg.tensor(x)).numpy(), ours(gg.tensor(x)).numpy()
    assert not np.allclose(a, b)
    theirs.eval()
    ours.eval()
    _check(theirs, ours, dict(src=x), {}, compiled=True)


def test_transformer_initializes_matrices_xavier_uniform():
    m = nn.Transformer(16, 2, 1, 1, 32)
    w = m.encoder.layers[0].linear1.weight.numpy()
    bound = np.sqrt(6.0 / (16 + 32))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound


@pytest.mark.parametrize("make", [
    lambda: nn.TransformerEncoderLayer(D, H, FF)(gg.ones(5, 3, D), is_causal=True),
    lambda: nn.TransformerEncoderLayer(D, H, FF, activation="tanh"),
    lambda: nn.TransformerEncoderLayer(D, 3, FF),
    lambda: nn.Transformer(D, H, 1, 1, FF)(gg.ones(5, 3, D), gg.ones(4, 2, D)),
    lambda: nn.Transformer(D, H, 1, 1, FF)(gg.ones(5, 3, 6), gg.ones(4, 3, 6)),
    lambda: nn.TransformerDecoderLayer(D, H, FF)(gg.ones(5, 3, D), gg.ones(4, 3, D),
                                                 tgt_is_causal=True),
])
def test_bad_arguments_raise_graphgrad_errors(make):
    with pytest.raises(GraphgradError):
        make()

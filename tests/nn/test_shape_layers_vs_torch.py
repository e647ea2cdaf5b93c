"""Padding, resizing and shape layers against PyTorch 2.13.

Oracle: torch.nn modules of the same name with the same settings (and, for Bilinear, the
same weights via torch's state_dict): outputs, input gradients and parameter gradients in
float32 (rtol 1e-4), eagerly and compiled with `gg.compile`; reprs equal to torch's; the
channel structure and 1/(1-p) scaling of channel-wise dropout (its random mask cannot
match torch's generator, so it is checked by its defining properties); bad arguments
raise GraphgradError subclasses.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_compare import compare, rand

import graphgrad as gg
import graphgrad.nn.functional as F
from graphgrad import nn
from graphgrad.errors import GraphgradError

SINGLE_INPUT = [  # (module name, args, kwargs, input shape)
    ("ZeroPad1d", (2,), {}, (2, 3, 5)),
    ("ZeroPad2d", ((1, 2, 0, 3),), {}, (2, 3, 4, 5)),
    ("ConstantPad1d", ((1, 3), 2.5), {}, (3, 5)),
    ("ConstantPad2d", (1, -0.5), {}, (2, 2, 3, 4)),
    ("ReflectionPad1d", ((3, 1),), {}, (2, 3, 5)),
    ("ReflectionPad2d", ((1, 2, 2, 0),), {}, (2, 2, 4, 5)),
    ("ReplicationPad1d", (2,), {}, (2, 3, 4)),
    ("ReplicationPad2d", ((2, 0, 1, 3),), {}, (1, 2, 3, 4)),
    ("CircularPad1d", ((1, 2),), {}, (2, 3, 4)),
    ("CircularPad2d", (1,), {}, (2, 2, 3, 4)),
    ("PixelShuffle", (2,), {}, (2, 8, 3, 4)),
    ("PixelUnshuffle", (2,), {}, (2, 2, 4, 6)),
    ("Unflatten", (1, (2, 3)), {}, (4, 6, 2)),
    ("Upsample", (), dict(scale_factor=2), (2, 2, 3, 4)),
    ("Upsample", (), dict(size=(5, 3)), (1, 2, 3, 4)),
    ("Upsample", (), dict(scale_factor=(1.5, 0.75), mode="nearest-exact"), (1, 2, 4, 5)),
    ("Upsample", (), dict(scale_factor=2, mode="bilinear"), (2, 2, 3, 4)),
    ("Upsample", (), dict(size=(7, 3), mode="bilinear", align_corners=True), (1, 2, 4, 5)),
    ("Upsample", (), dict(scale_factor=1.7, mode="bilinear", align_corners=False), (1, 2, 4, 5)),
    ("Upsample", (), dict(size=5, mode="linear", align_corners=True), (2, 3, 4)),
    ("Upsample", (), dict(scale_factor=0.6, mode="linear"), (2, 3, 7)),
    ("Upsample", (), dict(size=(3, 2), mode="area"), (1, 2, 7, 5)),
    ("Upsample", (), dict(scale_factor=2, mode="area"), (2, 3, 4)),
    ("Identity", (), {}, (2, 3)),
    ("UpsamplingNearest2d", (), dict(scale_factor=2), (1, 2, 3, 4)),
    ("UpsamplingBilinear2d", (), dict(size=(5, 7)), (1, 2, 3, 4)),
    ("Softmax2d", (), {}, (2, 3, 2, 4)),
    ("ChannelShuffle", (3,), {}, (2, 6, 2, 3)),
]
IDS = [f"{n}-{i}" for i, (n, *_) in enumerate(SINGLE_INPUT)]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name,args,kwargs,shape", SINGLE_INPUT, ids=IDS)
def test_module_matches_pytorch(name, args, kwargs, shape, compiled):
    theirs, ours = getattr(torch.nn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    compare(theirs, ours, rand(*shape, seed=len(IDS)), compiled)


@pytest.mark.parametrize("mode,align", [("nearest", None), ("bilinear", False),
                                        ("bilinear", True)])
@pytest.mark.parametrize("size", [(9, 2), (1, 1), (4, 13)])
def test_interpolate_float64_matches_pytorch(size, mode, align):
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5))
    a, b = gg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.interpolate(a, size=size, mode=mode, align_corners=align)
    ref = torch.nn.functional.interpolate(b, size=size, mode=mode, align_corners=align)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    w = np.random.default_rng(4).standard_normal(ref.shape)
    (out * gg.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-12)


TWO_INPUT = [
    ("Bilinear", (3, 4, 5), {}, (2, 6, 3), (2, 6, 4)),
    ("Bilinear", (3, 2, 4), dict(bias=False), (5, 3), (5, 2)),
    ("CosineSimilarity", (), dict(dim=-1), (4, 5), (4, 5)),
    ("PairwiseDistance", (), dict(p=1.0, keepdim=True), (4, 5), (4, 5)),
]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name,args,kwargs,s1,s2", TWO_INPUT,
                         ids=[f"{t[0]}-{i}" for i, t in enumerate(TWO_INPUT)])
def test_two_input_module_matches_pytorch(name, args, kwargs, s1, s2, compiled):
    theirs, ours = getattr(torch.nn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x1, x2 = rand(*s1, seed=1), rand(*s2, seed=2)
    t1, t2 = torch.tensor(x1, requires_grad=True), torch.tensor(x2, requires_grad=True)
    ref = theirs(t1, t2)
    r = rand(*ref.shape, seed=3)
    (ref * torch.tensor(r)).sum().backward()

    def step(a, b):
        ours.zero_grad()
        a.requires_grad_(True)
        b.requires_grad_(True)
        out = ours(a, b)
        (out * gg.tensor(r)).sum().backward()
        return out, a.grad, b.grad

    run = gg.compile(step) if compiled else step
    out, g1, g2 = run(gg.tensor(x1), gg.tensor(x2))
    tol = dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **tol)
    np.testing.assert_allclose(g1.numpy(), t1.grad.numpy(), **tol)
    np.testing.assert_allclose(g2.numpy(), t2.grad.numpy(), **tol)
    for k, p in theirs.named_parameters():
        np.testing.assert_allclose(dict(ours.named_parameters())[k].grad.numpy(),
                                   p.grad.numpy(), **tol)


@pytest.mark.parametrize("cls,shape", [(nn.Dropout1d, (40, 6, 5)), (nn.Dropout2d, (40, 6, 3, 2)),
                                       (nn.Dropout1d, (60, 5))])
def test_channel_dropout_zeroes_whole_channels(cls, shape):
    gg.manual_seed(0)
    m = cls(0.25)
    x = gg.ones(*shape)
    y = m(x).numpy()
    lead = 1 if len(shape) == 2 else 2
    per_channel = y.reshape(*shape[:lead], -1)
    assert set(np.unique(per_channel)) <= {0.0, np.float32(1 / 0.75)}
    assert (per_channel.min(-1) == per_channel.max(-1)).all()  # whole channels
    assert 0.6 < (per_channel[..., 0] != 0).mean() < 0.9
    m.eval()
    np.testing.assert_array_equal(m(x).numpy(), x.numpy())


def test_channel_dropout_compiled_draws_fresh_masks():
    gg.manual_seed(1)
    m = nn.Dropout2d(0.5)
    step = gg.compile(lambda x: m(x) * 1.0)
    x = gg.ones(8, 8, 2, 2)
    a, b = step(x).numpy(), step(x).numpy()
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("cls", [nn.AlphaDropout, nn.FeatureAlphaDropout])
def test_alpha_dropout_keeps_selu_statistics(cls):
    """Oracle: the definition (Klambauer et al.): dropped units sit at SELU's saturation
    -lambda*alpha before the affine map, and a standard normal input keeps mean 0 and
    variance 1; eval mode is the identity; repr as torch's."""
    assert repr(cls(0.2)) == repr(getattr(torch.nn, cls.__name__)(0.2))
    gg.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((400, 50, 4)).astype(np.float32)
    m = cls(0.2)
    y = m(gg.tensor(x)).numpy()
    alpha, p = 1.7580993408473766, 0.2
    a = 1.0 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
    dropped = np.isclose(y, -alpha * a + alpha * a * p, atol=1e-6)
    assert 0.15 < dropped.mean() < 0.25
    np.testing.assert_allclose(y[~dropped], (x * a + alpha * a * p)[~dropped], atol=1e-6)
    assert abs(y.mean()) < 0.05 and abs(y.var() - 1.0) < 0.05
    m.eval()
    np.testing.assert_array_equal(m(gg.tensor(x)).numpy(), x)


def test_dropout2d_on_3d_input_warns_as_pytorch():
    with pytest.warns(UserWarning, match="3D input to dropout2d"):
        F.dropout2d(gg.ones(2, 3, 4), 0.5)


@pytest.mark.parametrize("make", [
    lambda: nn.ZeroPad2d((1, 2, 3)),
    lambda: nn.ReflectionPad1d(2)(gg.ones(2)),
    lambda: nn.PixelShuffle(2)(gg.ones(1, 6, 2, 2)),
    lambda: nn.PixelUnshuffle(2)(gg.ones(1, 2, 3, 4)),
    lambda: nn.PixelShuffle(0)(gg.ones(1, 4, 2, 2)),
    lambda: nn.Unflatten(1, 6),
    lambda: F.interpolate(gg.ones(1, 1, 2, 2)),
    lambda: F.interpolate(gg.ones(1, 1, 2, 2), size=3, scale_factor=2),
    lambda: F.interpolate(gg.ones(1, 1, 2, 2), scale_factor=2, mode="bicubic"),
    lambda: F.interpolate(gg.ones(1, 1, 2), scale_factor=2, mode="bilinear"),
    lambda: F.interpolate(gg.ones(1, 1, 2, 2), scale_factor=2, align_corners=True),
    lambda: F.interpolate(gg.ones(1, 1, 2, 2), size=(2, 0)),
    lambda: F.interpolate(gg.ones(1, 1, 4, 4), size=2, mode="area", align_corners=False),
    lambda: F.dropout1d(gg.ones(2, 3, 4, 5)),
    lambda: F.bilinear(gg.ones(2, 3), gg.ones(2, 4), gg.ones(5, 3, 3)),
    lambda: nn.Bilinear(0, 2, 3),
    lambda: nn.ChannelShuffle(4)(gg.ones(1, 6, 2, 2)),
    lambda: nn.Softmax2d()(gg.ones(2, 3)),
])
def test_bad_arguments_raise_graphgrad_errors(make):
    with pytest.raises(GraphgradError):
        make()

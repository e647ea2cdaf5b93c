"""ConvTranspose1d/2d, RMSNorm, InstanceNorm1d/2d, LocalResponseNorm,
AdaptiveMaxPool1d/2d, LPPool1d/2d and Unfold/Fold against PyTorch 2.13.

Oracle: torch.nn modules of the same name and settings with the same weights (torch's
state_dict loaded): outputs, input gradients, parameter gradients and running statistics
in float32 (rtol 1e-4), eagerly and compiled (torch_compare.py); reprs, state_dict keys
and parameter shapes equal to torch's; PyTorch's pooling indices exactly; the transposed
convolution's gradients also against finite differences (gg.gradcheck, float64); bad
arguments raise GraphgradError subclasses.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_compare import compare, rand

import graphgrad as gg
import graphgrad.nn.functional as F
from graphgrad import nn
from graphgrad.errors import GraphgradError

CASES = [  # (module name, args, kwargs, input shape)
    ("ConvTranspose1d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2),
     (2, 4, 5)),
    ("ConvTranspose1d", (3, 2, 2), dict(dilation=3, bias=False), (3, 4)),
    ("ConvTranspose2d", (3, 4, 3), dict(stride=2, padding=1, output_padding=1), (2, 3, 4, 3)),
    ("ConvTranspose2d", (4, 4, (2, 3)), dict(stride=(1, 2), padding=(1, 0), dilation=(2, 1),
                                            output_padding=(0, 1), groups=4), (1, 4, 3, 4)),
    ("RMSNorm", ((3, 4),), {}, (2, 3, 4)),
    ("RMSNorm", (5,), dict(eps=1e-3, elementwise_affine=False), (2, 5)),
    ("InstanceNorm1d", (3,), {}, (2, 3, 5)),
    ("InstanceNorm1d", (3,), dict(affine=True, track_running_stats=True), (2, 3, 5)),
    ("InstanceNorm2d", (3,), dict(affine=True), (2, 3, 4, 3)),
    ("InstanceNorm2d", (3,), dict(track_running_stats=True, momentum=None), (3, 4, 3)),
    ("AdaptiveMaxPool1d", (3,), {}, (2, 3, 7)),
    ("AdaptiveMaxPool2d", ((3, 2),), {}, (2, 2, 7, 5)),
    ("AdaptiveMaxPool2d", ((None, 4),), {}, (2, 5, 6)),
    ("Unfold", ((2, 3),), dict(padding=1, stride=(1, 2)), (2, 3, 5, 6)),
    ("Unfold", (2,), dict(dilation=(2, 1)), (3, 5, 4)),
    ("Fold", ((5, 6), (2, 3)), dict(padding=1, stride=(1, 2)), (2, 18, 18)),
    ("Fold", ((4, 4), 2), dict(stride=2), (8, 4)),
    ("LocalResponseNorm", (3,), dict(alpha=0.1, k=2.0), (2, 5, 3, 4)),
    ("LocalResponseNorm", (2,), dict(beta=0.5), (2, 4, 6)),
    ("LPPool2d", (2, 3), dict(stride=2), (2, 3, 7, 6)),
    ("LPPool1d", (4, 2), {}, (2, 3, 7)),
    ("LPPool1d", (float("inf"), 3), dict(stride=2, ceil_mode=True), (2, 3, 8)),
]
IDS = [f"{n}-{i}" for i, (n, *_) in enumerate(CASES)]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name,args,kwargs,shape", CASES, ids=IDS)
def test_module_matches_pytorch(name, args, kwargs, shape, compiled):
    theirs, ours = getattr(torch.nn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        assert tuple(ours.state_dict()[k].shape) == tuple(v.shape), k
    compare(theirs, ours, rand(*shape, seed=7), compiled)


@pytest.mark.parametrize("name,shape", [("InstanceNorm1d", (2, 3, 5)),
                                        ("InstanceNorm2d", (2, 3, 4, 3))])
def test_instance_norm_eval_uses_running_statistics(name, shape):
    theirs = getattr(torch.nn, name)(3, affine=True, track_running_stats=True)
    ours = getattr(nn, name)(3, affine=True, track_running_stats=True)
    for seed in range(2):  # train twice so the running statistics move, then evaluate
        theirs.zero_grad()
        compare(theirs, ours, rand(*shape, seed=seed), compiled=False)
    theirs.zero_grad()
    theirs.eval()
    ours.eval()
    compare(theirs, ours, rand(*shape, seed=5) * 3 + 1, compiled=True)


def test_conv_transpose_weight_layout_and_init_bounds_are_pytorchs():
    m = nn.ConvTranspose2d(4, 6, (3, 2), groups=2)
    assert tuple(m.weight.shape) == (4, 3, 3, 2)
    bound = 1 / math.sqrt(3 * 3 * 2)  # fan_in read from (in, out/groups, *k), as torch
    assert np.abs(m.weight.numpy()).max() <= bound
    assert np.abs(m.bias.numpy()).max() <= bound


def test_conv_transpose_output_size_argument_matches_pytorch():
    theirs = torch.nn.ConvTranspose1d(2, 3, 3, stride=3)
    ours = nn.ConvTranspose1d(2, 3, 3, stride=3)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rand(1, 2, 4)
    for size in ([12], [13], [1, 3, 14]):
        np.testing.assert_allclose(ours(gg.tensor(x), output_size=size).numpy(),
                                   theirs(torch.tensor(x), output_size=size).detach().numpy(),
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(GraphgradError, match="valid sizes"):
        ours(gg.tensor(x), output_size=[15])


def test_conv_transpose_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.standard_normal((1, 4, 3, 3)), requires_grad=True)
    w = gg.tensor(rng.standard_normal((4, 1, 2, 3)), requires_grad=True)
    b = gg.tensor(rng.standard_normal(2), requires_grad=True)
    assert gg.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=(0, 1),
                                                           output_padding=1, groups=2),
                        (x, w, b))


@pytest.mark.parametrize("fn,shape,size", [(F.adaptive_max_pool1d, (2, 3, 7), 3),
                                           (F.adaptive_max_pool2d, (2, 2, 7, 5), (3, 4)),
                                           (F.adaptive_max_pool2d, (3, 5, 6), 2)])
def test_adaptive_max_pool_indices_match_pytorch(fn, shape, size):
    x = rand(*shape, seed=3)
    x[..., 0] = x[..., 1]  # ties: PyTorch takes the first maximum
    values, indices = fn(gg.tensor(x), size, return_indices=True)
    ref_v, ref_i = getattr(torch.nn.functional, fn.__name__)(torch.tensor(x), size, True)
    np.testing.assert_array_equal(values.numpy(), ref_v.numpy())
    np.testing.assert_array_equal(indices.numpy(), ref_i.numpy())


def test_instance_norm_feature_mismatch_warns_or_raises_as_pytorch():
    with pytest.warns(UserWarning, match="does not match num_features"):
        nn.InstanceNorm1d(4)(gg.ones(2, 3, 5))
    with pytest.raises(GraphgradError, match="num_features"):
        nn.InstanceNorm1d(4, affine=True)(gg.ones(2, 3, 5))


@pytest.mark.parametrize("make", [
    lambda: nn.ConvTranspose2d(3, 4, 3, groups=2),
    lambda: nn.ConvTranspose2d(2, 4, 3, padding_mode="reflect"),
    lambda: nn.ConvTranspose1d(2, 4, 3, stride=2, output_padding=2)(gg.ones(1, 2, 3)),
    lambda: F.conv_transpose2d(gg.ones(1, 3, 4, 4), gg.ones(2, 2, 3, 3)),
    lambda: nn.RMSNorm(4)(gg.ones(2, 3)),
    lambda: nn.InstanceNorm1d(3)(gg.ones(2, 3, 1)),
    lambda: nn.InstanceNorm2d(3)(gg.ones(2, 3)),
    lambda: F.instance_norm(gg.ones(2, 3, 4), use_input_stats=False),
    lambda: nn.AdaptiveMaxPool2d((0, 2))(gg.ones(1, 1, 4, 4)),
    lambda: nn.AdaptiveMaxPool1d(2)(gg.ones(1, 1, 2, 4, 4)),
    lambda: F.unfold(gg.ones(2, 3), 2),
    lambda: F.fold(gg.ones(1, 8, 5), (4, 5), 2),
    lambda: F.fold(gg.ones(1, 7, 12), (4, 5), 2),
])
def test_bad_arguments_raise_graphgrad_errors(make):
    with pytest.raises(GraphgradError):
        make()


@pytest.mark.parametrize("name,args,kwargs", [
    ("Conv2d", (2, 4, 3), dict(bias=False, padding=1, padding_mode="reflect")),
    ("Conv1d", (2, 4, 3), dict(dilation=2, groups=2)),
    ("LayerNorm", (4,), dict(bias=False)),
    ("MultiheadAttention", (8, 2), {}),
])
def test_existing_layer_reprs_read_as_pytorchs(name, args, kwargs):
    assert repr(getattr(nn, name)(*args, **kwargs)) == \
        repr(getattr(torch.nn, name)(*args, **kwargs))

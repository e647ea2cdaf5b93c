"""Conv1d/Conv2d, max/average/adaptive pooling and their functional forms against
PyTorch 2.13.

Oracle: torch.nn with the same weights (torch's state_dict loaded into graphgrad) and
inputs: outputs, input gradients and parameter gradients agree to float32 rtol 1e-4,
eagerly and compiled (see torch_compare.py). Also PyTorch's parameter names, shapes,
initialization bounds and argument errors.
"""

import math

import numpy as np
import pytest
import torch
from torch_compare import compare, rand

import graphgrad as gg
from graphgrad import nn
from graphgrad.nn import functional as F

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")

# (constructor arguments, input shape): both libraries' classes take the same arguments.
CONV = [
    ("Conv2d", (3, 6, 3), {}, (2, 3, 7, 9)),
    ("Conv2d", (4, 6, (3, 2)), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2),
     (2, 4, 8, 9)),
    ("Conv2d", (3, 4, 4), dict(padding="same"), (2, 3, 6, 7)),
    ("Conv2d", (3, 4, 3), dict(padding="valid", bias=False, stride=2), (2, 3, 7, 8)),
    ("Conv2d", (3, 3, 3), dict(groups=3, padding=1), (2, 3, 5, 5)),
    ("Conv2d", (2, 5, 1), {}, (3, 2, 4, 4)),
    ("Conv1d", (3, 4, 5), dict(stride=2, padding=2), (2, 3, 11)),
    ("Conv1d", (4, 4, 3), dict(padding="same", dilation=2, groups=2), (2, 4, 9)),
    ("Conv1d", (2, 3, 1), dict(padding=1), (2, 2, 5)),  # padding beyond the kernel
    ("Conv2d", (2, 4, 3), dict(stride=2, padding=2, bias=False), (1, 2, 6, 5)),
    ("Conv2d", (3, 4, 3), dict(padding=(1, 2), padding_mode="reflect"), (2, 3, 6, 7)),
    ("Conv2d", (2, 3, 3), dict(padding="same", padding_mode="circular"), (1, 2, 5, 6)),
    ("Conv2d", (2, 3, 3), dict(padding=1, stride=2, padding_mode="replicate"), (1, 2, 7, 6)),
    ("Conv1d", (2, 3, 3), dict(padding=2, padding_mode="reflect", bias=False), (2, 2, 7)),
]
POOL = [
    ("MaxPool2d", (2,), {}, (2, 3, 6, 8)),
    ("MaxPool2d", (3, 2, 1), {}, (2, 2, 7, 7)),
    ("MaxPool2d", (3, 2, 1), dict(ceil_mode=True), (2, 2, 8, 8)),
    ("MaxPool2d", (2,), dict(stride=1, dilation=2), (1, 2, 6, 5)),
    ("MaxPool1d", (3, 2, 1), {}, (2, 3, 10)),
    ("MaxPool1d", (2,), dict(ceil_mode=True), (2, 3, 7)),
    ("AvgPool2d", (2,), {}, (2, 3, 6, 8)),
    ("AvgPool2d", (3, 2, 1), {}, (2, 2, 7, 7)),
    ("AvgPool2d", (3, 2, 1), dict(count_include_pad=False), (2, 2, 7, 7)),
    ("AvgPool2d", (3, 2, 1), dict(ceil_mode=True), (2, 2, 8, 8)),
    ("AvgPool2d", (2,), dict(divisor_override=3), (1, 2, 4, 4)),
    ("AvgPool1d", (3, 2, 1), dict(count_include_pad=False), (2, 3, 10)),
    ("AdaptiveAvgPool2d", ((3, 5),), {}, (2, 3, 7, 10)),
    ("AdaptiveAvgPool2d", (1,), {}, (2, 3, 5, 5)),
    ("AdaptiveAvgPool2d", ((None, 2),), {}, (2, 3, 5, 6)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 10)),
]


def _ids(cases):
    return [f"{name}{args}{kw or ''}" for name, args, kw, _ in cases]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name, args, kwargs, shape", CONV + POOL, ids=_ids(CONV + POOL))
def test_layer_matches_torch(name, args, kwargs, shape, compiled):
    torch.manual_seed(0)
    compare(getattr(torch.nn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs),
            rand(*shape), compiled)


def test_functional_forms_match_torch():
    x = rand(2, 4, 7, 7)
    w, b, w1 = rand(6, 2, 3, 3, seed=1), rand(6, seed=2), rand(3, 4, 3, seed=3)
    tf = torch.nn.functional

    def both(fn):
        out = fn(gg, F)
        ref = fn(torch, tf)
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-4, atol=1e-5)

    def run(fn):
        return both(lambda lib, f: fn(lib, f, *[lib.tensor(a) for a in (x, w, b, w1)]))

    run(lambda lib, f, x, w, b, w1: f.conv2d(x, w, b, stride=2, padding=1, groups=2))
    run(lambda lib, f, x, w, b, w1: f.conv1d(x[0, :, 0], w1, padding="same"))  # unbatched
    run(lambda lib, f, x, w, b, w1: f.max_pool2d(x, 3, 2, 1, ceil_mode=True))
    run(lambda lib, f, x, w, b, w1: f.max_pool1d(x[:, 0], 2))
    run(lambda lib, f, x, w, b, w1: f.avg_pool2d(x[0], 2, ceil_mode=True))
    run(lambda lib, f, x, w, b, w1: f.adaptive_avg_pool2d(x, (2, 3)))


def test_parameter_names_shapes_and_init_follow_torch():
    m = nn.Conv2d(4, 8, (3, 5), groups=2)
    assert [(k, v.shape) for k, v in m.state_dict().items()] == \
        [("weight", (8, 2, 3, 5)), ("bias", (8,))]
    bound = 1 / math.sqrt(2 * 3 * 5)  # kaiming_uniform(a=sqrt(5)) bound = 1/sqrt(fan_in)
    assert np.abs(m.weight.numpy()).max() <= bound and np.abs(m.bias.numpy()).max() <= bound
    assert m.weight.numpy().std() > 0.4 * bound
    assert nn.Conv1d(2, 3, 4, bias=False).bias is None
    t = torch.nn.Conv2d(4, 8, (3, 5), groups=2)
    assert (m.kernel_size, m.stride, m.padding, m.dilation) == \
        (t.kernel_size, t.stride, t.padding, t.dilation)


def test_argument_errors_read_like_torch():
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(gg.ShapeError, match="conv2d.*expected"):
        nn.Conv2d(3, 4, 3)(gg.zeros(3, 5))
    with pytest.raises(gg.ShapeError, match="expects 4 input channels"):
        nn.Conv2d(4, 4, 3)(gg.zeros(1, 3, 5, 5))
    with pytest.raises(gg.ShapeError, match="too small"):
        nn.Conv2d(3, 4, 5)(gg.zeros(1, 3, 3, 3))
    with pytest.raises(gg.ShapeError, match="at most half"):
        nn.MaxPool2d(2, padding=2)(gg.zeros(1, 1, 6, 6))
    with pytest.raises(gg.GraphgradError, match="return_indices"):
        nn.MaxPool2d(2, return_indices=True)(gg.zeros(1, 1, 4, 4))


def test_max_pool_gradient_goes_to_the_first_of_tied_maxima_like_torch():
    x = np.zeros((1, 1, 4, 4), np.float32)  # every window ties; overlapping windows
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(xt, 3, 1).sum().backward()
    xg = gg.tensor(x, requires_grad=True)
    F.max_pool2d(xg, 3, 1).sum().backward()
    np.testing.assert_array_equal(xg.grad.numpy(), xt.grad.numpy())


def test_max_pool_gradient_with_infinite_and_nan_cotangents_like_torch():
    """Non-argmax positions get exactly 0 even where the incoming gradient is inf/NaN."""
    x = rand(1, 2, 4, 4)
    g = np.ones((1, 2, 2, 2), np.float32)
    g[0, 0, 0, 0], g[0, 1, 1, 1] = np.inf, np.nan
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(xt, 2).backward(torch.tensor(g))
    xg = gg.tensor(x, requires_grad=True)
    F.max_pool2d(xg, 2).backward(gg.tensor(g))
    np.testing.assert_array_equal(xg.grad.numpy(), xt.grad.numpy())


def test_max_pool_gradient_goes_where_torch_sends_it_in_windows_with_nan():
    x = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4)
    x[0, 0, 0, 0] = x[0, 0, 1, 1] = np.nan  # two NaNs in one window: torch picks the last
    x[0, 1, 2, 3] = np.nan  # one NaN beside larger numbers
    xt = torch.tensor(x, requires_grad=True)
    out_t = torch.nn.functional.max_pool2d(xt, 2)
    out_t.sum().backward()
    xg = gg.tensor(x, requires_grad=True)
    out = F.max_pool2d(xg, 2)
    out.sum().backward()
    np.testing.assert_array_equal(out.numpy(), out_t.detach().numpy())
    np.testing.assert_array_equal(xg.grad.numpy(), xt.grad.numpy())


@pytest.mark.parametrize("make", [
    lambda L: L.nn.MaxPool2d(3, dilation=2)(L.zeros(1, 1, 4, 8)),
    lambda L: L.nn.AvgPool2d(5)(L.zeros(1, 1, 4, 4)),
    lambda L: L.nn.AdaptiveAvgPool2d((2, 3, 9))(L.zeros(1, 1, 4, 4)),
    lambda L: L.nn.Conv2d(1, 1, 3, dilation=0)(L.zeros(1, 1, 5, 5)),
    lambda L: L.nn.Conv2d(1, 1, 3, stride=0)(L.zeros(1, 1, 5, 5)),
    lambda L: L.nn.Conv2d(1, 1, 7)(L.zeros(1, 1, 5, 5)),
    lambda L: L.nn.Conv2d(1, 1, 3, padding=-1)(L.zeros(1, 1, 5, 5)),
    lambda L: L.nn.Conv2d(2, 2, 3, groups=0),
    lambda L: L.nn.MaxPool2d(0)(L.zeros(1, 1, 4, 4)),
    lambda L: L.nn.MaxPool2d(2, stride=0)(L.zeros(1, 1, 4, 4)),
    lambda L: L.nn.AvgPool2d(2, divisor_override=0)(L.zeros(1, 1, 4, 4)),
    lambda L: L.nn.BatchNorm2d(2, track_running_stats=False)(L.zeros(1, 2, 1, 1)),
], ids=["maxpool_window_too_big", "avgpool_window_too_big", "adaptive_three_sizes",
        "dilation_0", "stride_0", "conv_kernel_too_big", "negative_padding", "groups_0",
        "pool_kernel_0", "pool_stride_0", "divisor_0", "batchnorm_one_value"])
def test_arguments_torch_refuses_are_refused_in_users_terms(make):
    """Each call PyTorch refuses (checked here) is a graphgrad error naming the op or
    argument, not an empty result, a silently different layer or a NumPy traceback."""
    with pytest.raises(Exception):  # noqa: B017  (torch's own error types vary)
        make(torch)
    with pytest.raises(gg.GraphgradError):
        make(gg)

"""`reshape`/`view`/`contiguous` of views decide by PyTorch's strides, as PyTorch does.

Oracle: PyTorch 2.13 running the same chain of views on the same float64 base: the
strides and contiguity of the view; whether `view` raises; whether a write to the
result of `reshape` (or `contiguous()`) reaches the base (values of base and result,
and both version counters); gradients through a reshape that copies; and the same
program under gg.compile against eager.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg

BASE = np.arange(60.0).reshape(3, 4, 5)

CHAINS = {
    "transpose": lambda t: t.transpose(0, 1),
    "slice": lambda t: t[:, 1:3],
    "step": lambda t: t[::2],
    "permute": lambda t: t.permute(2, 0, 1),
    "int": lambda t: t[:, :, 0],
    "unsqueeze_transpose": lambda t: t.unsqueeze(1).transpose(0, 2),
    "expand": lambda t: t[:, :1].expand(3, 4, 5),
    "narrow": lambda t: t.narrow(2, 1, 3),
    "transpose_int": lambda t: t.transpose(1, 2)[:, 1],
    "row": lambda t: t[1],
    "flat_step": lambda t: t.view(12, 5)[::3],
    "slice_last": lambda t: t[..., 1:],
}


def _targets(shape):
    out = [(-1,), shape[:1] + (1,) + shape[1:]]
    if len(shape) >= 2:
        out += [(shape[0], -1), (-1, shape[-1])]
    if len(shape) >= 3:
        out.append((shape[0] * shape[1],) + shape[2:])
    return out


CASES = [pytest.param(name, target, id=f"{name}-{target}")
         for name, chain in CHAINS.items()
         for target in _targets(tuple(chain(torch.tensor(BASE)).shape))]


def _bases():
    return gg.tensor(BASE, dtype="float64"), torch.tensor(BASE)


def _view_or_refusal(t, target, refusal):
    try:
        return t.view(target).numpy()
    except refusal:
        return "refused"


@pytest.mark.parametrize("name", CHAINS)
def test_strides_and_contiguity_are_pytorchs(name):
    ours, theirs = (CHAINS[name](b) for b in _bases())
    assert ours.stride() == theirs.stride()
    assert ours.is_contiguous() == theirs.is_contiguous()


@pytest.mark.parametrize("name, target", CASES)
def test_view_raises_exactly_where_pytorch_does(name, target):
    ours, theirs = (CHAINS[name](b) for b in _bases())
    got = _view_or_refusal(ours, target, gg.ViewError)
    want = _view_or_refusal(theirs, target, RuntimeError)
    if isinstance(want, str) or isinstance(got, str):
        assert got == want
    else:
        np.testing.assert_array_equal(got, want)


def _write_through(make):
    """(base, result, base version, result version) after result.add_(100)."""
    seen = []
    for base in _bases():
        result = make(base)
        result.add_(100.0)
        seen.append((base.numpy().copy(), result.numpy().copy(), base._version,
                     result._version))
    return seen


@pytest.mark.parametrize("name, target", CASES)
def test_reshape_shares_memory_exactly_where_pytorch_does(name, target):
    if name == "expand":
        pytest.skip("an in-place write to an expanded view is refused (tested in test_views)")
    ours, theirs = _write_through(lambda b: CHAINS[name](b).reshape(target))
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", [n for n in CHAINS if n != "expand"])
def test_contiguous_copies_exactly_where_pytorch_does(name):
    ours, theirs = _write_through(lambda b: CHAINS[name](b).contiguous())
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


def _program(lib, x):
    y = x * 1
    r = y.transpose(0, 1).reshape(-1)  # a copy: the write below does not reach y
    r.mul_(3.0)
    f = y[:, 1:].reshape(-1)  # a copy too (merges a sliced dim)
    f.add_(1.0)
    v = y[1].reshape(-1)  # a view: the write reaches y
    v.mul_(2.0)
    return y, r, f


def test_gradients_through_a_copying_reshape_are_pytorchs():
    x = gg.tensor(BASE[0], dtype="float64", requires_grad=True)
    tx = torch.tensor(BASE[0], requires_grad=True)
    ours, theirs = _program(gg, x), _program(torch, tx)
    w = np.linspace(-1, 1, 20)
    sum(((t * t).reshape(-1) * gg.tensor(w[:t.numel()])).sum() for t in ours).backward()
    sum(((t * t).reshape(-1) * torch.tensor(w[:t.numel()])).sum() for t in theirs).backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_compiled_reshape_copies_and_views_as_eagerly():
    step = gg.compile(lambda x: _program(gg, x))
    eager = [t.numpy() for t in _program(gg, gg.tensor(BASE[0], dtype="float64"))]
    for _ in range(2):  # the traced call, then the plan
        got = step(gg.tensor(BASE[0], dtype="float64"))
        for a, b in zip(got, eager):
            np.testing.assert_array_equal(a.numpy(), b)


def test_compiled_view_of_a_transpose_raises_view_error():
    step = gg.compile(lambda x: x.t().view(-1))
    with pytest.raises(gg.ViewError, match="use .reshape"):
        step(gg.ones(2, 3))

"""What an op saves for its gradient, against PyTorch: in-place writes and a second backward.

Oracle: PyTorch 2.13 running the same op on the same float64 inputs (tests/engine/
torch_ops.py maps every differentiable op in the registry to its PyTorch call, so a new
op is covered from its own `samples()` as soon as it is registered). For each sample:

- after the op, each input and the output in turn is changed in place (under no_grad,
  by `copy_` of its own value); then backward. graphgrad must raise where PyTorch does
  (at the write, or at backward: "modified by an inplace operation"), and give PyTorch's
  gradients where it does not;
- backward twice without retain_graph raises iff PyTorch's does (PyTorch refuses only
  when the op saved tensors, which the first backward freed); with retain_graph=True
  both succeed and accumulate the same gradients.
"""

import numpy as np
import pytest
import torch
from gg_reference import sampled_ops, to_tensor
from torch_ops import EXCLUDED, SAVES_A_COPY, TORCH

import graphgrad as gg
from graphgrad.ops import REGISTRY


def _torch_tensor(a):
    arr = np.asarray(a)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float64)
    return torch.from_numpy(arr.copy())


class _Side:
    """One library's way to make the inputs, run the op and recognize its refusals."""

    def __init__(self, lib, make, call, refusal, words):
        self.lib, self.make, self.call = lib, make, call
        self.refusal, self.words = refusal, words

    def inputs(self, sample):
        ts = [self.make(a) for a in sample.args]
        for i in sample.diff:
            ts[i].requires_grad_(True)
        return ts

    def refused(self, exc, what: str) -> bool:
        """Whether `exc` is this library's refusal `what` (any other error propagates)."""
        word = self.words.get(what)
        return isinstance(exc, self.refusal) and (word is None or word in str(exc))


def _sides(op, sample):
    gg_side = _Side(gg, lambda a: to_tensor(a, np.float64),
                    lambda ts: op(*ts, **sample.kwargs), gg.GraphgradError,
                    {"backward": "in-place operation", "twice": "second time"})
    torch_side = _Side(torch, _torch_tensor,
                       lambda ts: TORCH[op.name](*ts, **sample.kwargs), RuntimeError,
                       {"backward": "inplace operation", "twice": "second time"})
    return gg_side, torch_side


def _grads(ts, diff):
    return [None if ts[i].grad is None else ts[i].grad.numpy() for i in diff]


def _after_write(side, sample, target):
    """'write' or 'backward' (where the library refused), or the gradients."""
    ts = side.inputs(sample)
    out = side.call(ts)
    victim = out if target == "out" else ts[target]
    try:
        with side.lib.no_grad():
            victim.copy_(victim.clone())
    except Exception as exc:
        if side.refused(exc, "write"):
            return "write"
        raise
    try:
        out.backward(side.lib.ones_like(out))
    except Exception as exc:
        if side.refused(exc, "backward"):
            return "backward"
        raise
    return _grads(ts, sample.diff)


def _twice(side, sample, retain):
    ts = side.inputs(sample)
    out = side.call(ts)
    out.backward(side.lib.ones_like(out), retain_graph=retain)
    try:
        out.backward(side.lib.ones_like(out))
    except Exception as exc:
        if side.refused(exc, "twice"):
            return "refused"
        raise
    return _grads(ts, sample.diff)


def _same(ours, theirs, what):
    if isinstance(theirs, str) or isinstance(ours, str):
        assert ours == theirs, f"{what}: graphgrad gave {ours!r}, PyTorch {theirs!r}"
        return
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, err_msg=what)


def _cases():
    cases = []
    for op in sampled_ops(differentiable=True):
        if op.name in EXCLUDED:
            continue
        for i, s in enumerate(op.samples()):
            if not s.diff:
                continue
            _, torch_side = _sides(op, s)
            if torch_side.call(torch_side.inputs(s)) is None:
                continue  # no single PyTorch call for this sample (one-sided padding)
            cases.append(pytest.param(op, s, id=f"{op.name}-{i}"))
    return cases


CASES = _cases()


def test_every_differentiable_op_is_compared_or_excluded_in_writing():
    differentiable = {n for n, op in REGISTRY.items() if op.differentiable}
    assert differentiable - set(TORCH) - set(EXCLUDED) == set()
    assert all(REGISTRY[n].saves is not None for n in differentiable), \
        "every differentiable op declares what it saves (Op.saves)"


# PyTorch warns about the layout of gradients of zero-size expanded tensors
pytestmark = pytest.mark.filterwarnings("ignore:grad and param do not obey")


@pytest.mark.parametrize("op, sample", CASES)
def test_in_place_write_after_the_op_raises_iff_pytorch_does(op, sample):
    ours, theirs = _sides(op, sample)
    targets = [i for i, a in enumerate(sample.args) if np.ndim(a) or isinstance(a, np.ndarray)]
    copied = SAVES_A_COPY.get((op.name, tuple(np.shape(a) for a in sample.args)), ((),))[0]
    for target in targets + ["out"]:
        mine, torch_result = _after_write(ours, sample, target), _after_write(theirs, sample,
                                                                               target)
        if target in copied:  # the known difference (see torch_ops.SAVES_A_COPY)
            assert mine == "backward" and not isinstance(torch_result, str)
            continue
        _same(mine, torch_result, f"{op.name} {sample}: in-place write to {target}")


@pytest.mark.parametrize("op, sample", CASES)
def test_backward_twice_raises_iff_pytorch_does(op, sample):
    ours, theirs = _sides(op, sample)
    for retain in (False, True):
        _same(_twice(ours, sample, retain), _twice(theirs, sample, retain),
              f"{op.name} {sample}: backward twice (retain_graph={retain})")

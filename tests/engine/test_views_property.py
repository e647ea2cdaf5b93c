"""Random programs of view-taking and in-place ops give PyTorch's values and gradients.

Oracle: PyTorch 2.13 running the same program on the same float64 data. A program starts
from `y = x * 1` (x a leaf that requires grad) and a scalar leaf `s`; each step either
takes a view of a tensor made so far (slice, narrow, int index, transpose, unsqueeze,
view, reshape: a view or a copy by the strides, as PyTorch decides) or changes one in
place (mul_, add_, fill_, copy_, setitem, +=, clamp_); the loss reads every tensor.
graphgrad must give PyTorch's values for every tensor and PyTorch's gradients for x and
s, eagerly and under gg.compile, and refuse a program (a saved value changed in place,
a `view` the strides do not allow) exactly where PyTorch does.
"""

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphgrad as gg

SHAPE = (4, 6)
X = np.sin(np.arange(24.0)).reshape(SHAPE)

programs = st.lists(st.tuples(*[st.integers(0, 99)] * 4), min_size=1, max_size=8)


def _view(t, contiguous: bool, a: int, b: int, c: int):
    """One of the views valid for t, chosen by a; b and c pick its parameters."""
    kinds = []
    if t.ndim and t.shape[0]:
        kinds += ["slice0", "int0"] if t.ndim > 1 else ["slice0"]
    if t.ndim > 1 and t.shape[1]:
        kinds.append("narrow1")
    if t.ndim > 1:
        kinds.append("transpose")
    if t.ndim < 3:
        kinds.append("unsqueeze")
    if t.ndim > 1:
        kinds += ["flat", "reshape"]
    kind = kinds[a % len(kinds)]
    if kind == "slice0":
        lo = b % t.shape[0]
        return t[lo:lo + 1 + c % (t.shape[0] - lo)], contiguous
    if kind == "int0":
        return t[b % t.shape[0]], contiguous
    if kind == "narrow1":
        lo = b % t.shape[1]
        return t.narrow(1, lo, 1 + c % (t.shape[1] - lo)), False
    if kind == "transpose":
        return t.transpose(0, 1), False
    if kind == "unsqueeze":
        return t.unsqueeze(b % (t.ndim + 1)), contiguous
    if kind == "reshape":
        return t.reshape(-1), True
    return t.view(-1), True  # PyTorch refuses a non-contiguous t (and so must graphgrad)


def _update(t, s, a: int, b: int):
    kind = a % 7
    if kind == 0:
        t.mul_(s)
    elif kind == 1:
        t.add_(s * (b % 5 - 2))
    elif kind == 2:
        t.fill_(b / 10)
    elif kind == 3:
        t.copy_(s * 0.5)
    elif kind == 4 and t.ndim and t.shape[0]:
        t[b % t.shape[0]] = s * 2
    elif kind == 5:
        t += s
    else:
        t.clamp_(max=b / 50)


def _run_program(lib, program, x, s):
    """The program's tensors (y first) and loss, after loss.backward()."""
    tensors = [(x * 1, True)]
    for what, target, b, c in program:
        t, contiguous = tensors[target % len(tensors)]
        if what % 2:
            tensors.append(_view(t, contiguous, what // 2, b, c))
        else:
            _update(t, s, what // 2, b)
    loss = sum((t * t * (k + 1)).sum() for k, (t, _) in enumerate(tensors))
    loss.backward()
    return [t for t, _ in tensors], loss


def _torch(program):
    x = torch.tensor(X, requires_grad=True)
    s = torch.tensor(1.25, dtype=torch.float64, requires_grad=True)
    try:
        tensors, loss = _run_program(torch, program, x, s)
    except RuntimeError:
        return None
    return [t.detach().numpy() for t in tensors], x.grad.numpy(), _grad(s)


def _grad(s):
    return None if s.grad is None else float(s.grad)


def _leaves():
    return (gg.tensor(X, dtype="float64", requires_grad=True),
            gg.tensor(1.25, dtype="float64", requires_grad=True))


def _check(got_values, got_xgrad, got_sgrad, want):
    values, xgrad, sgrad = want
    assert len(got_values) == len(values)
    for g, w in zip(got_values, values):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got_xgrad, xgrad, rtol=1e-9, atol=1e-12)
    assert (got_sgrad is None) == (sgrad is None) or (got_sgrad or 0.0) == (sgrad or 0.0)
    if sgrad is not None and got_sgrad is not None:
        np.testing.assert_allclose(got_sgrad, sgrad, rtol=1e-9, atol=1e-12)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_random_view_programs_match_pytorch_eagerly(program):
    want = _torch(program)
    x, s = _leaves()
    try:
        tensors, _ = _run_program(gg, program, x, s)
    except gg.GraphgradError:
        assert want is None, "graphgrad refused a program that PyTorch runs"
        return
    assert want is not None, "PyTorch refused a program that graphgrad runs"
    _check([t.detach().numpy() for t in tensors], x.grad.numpy(), _grad(s), want)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_random_view_programs_match_pytorch_compiled(program):
    want = _torch(program)
    if want is None:
        return

    @gg.compile
    def step(x, s):
        tensors, loss = _run_program(gg, program, x, s)
        return tuple(tensors)

    for _ in range(2):  # the traced call, then the plan
        x, s = _leaves()
        tensors = step(x, s)
        _check([t.numpy() for t in tensors], x.grad.numpy(), _grad(s), want)

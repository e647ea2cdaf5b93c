"""The fused `layer_norm` and `gelu` ops (and their backward ops) against PyTorch 2.13.

Oracles: (1) torch.nn.functional.layer_norm / gelu on the same float32 values: the
output, and the gradients of sum(out * c) for a fixed c with respect to the input and
the weight and bias (rtol 1e-4), eagerly and compiled (nn.LayerNorm too, with
elementwise_affine and bias on and off); (2) `gg.gradcheck` (central finite differences,
float64) of both ops in reverse and forward mode, and of GELU's second derivative
(through `gelu_backward`'s own rules) against torch's double backward; (3) second
derivatives through layer_norm raise a clear error rather than a wrong number.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import graphgrad as gg
import graphgrad.nn.functional as F
from graphgrad import nn

RNG = np.random.default_rng(0)

#: (input shape, normalized_shape, weight?, bias?, eps)
LN_CASES = {
    "affine": ((4, 5, 8), (8,), True, True, 1e-5),
    "two dims": ((3, 4, 6), (4, 6), True, True, 1e-5),
    "weight only": ((6, 7), (7,), True, False, 1e-3),
    "bias only": ((6, 7), (7,), False, True, 1e-5),
    "no affine": ((2, 3, 5), (3, 5), False, False, 1e-5),
    "whole tensor": ((9,), (9,), True, True, 0.1),
}


def _arrays(shape, normalized, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    w = rng.standard_normal(normalized).astype(np.float32)
    b = rng.standard_normal(normalized).astype(np.float32)
    c = rng.standard_normal(shape).astype(np.float32)
    return x, w, b, c


def _close(ours, theirs):
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-4, atol=1e-5)


def _ln_torch(x, w, b, c, normalized, use_w, use_b, eps):
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True) if use_w else None
    tb = torch.tensor(b, requires_grad=True) if use_b else None
    out = TF.layer_norm(tx, normalized, tw, tb, eps)
    (out * torch.tensor(c)).sum().backward()
    return out, [t.grad for t in (tx, tw, tb) if t is not None]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", list(LN_CASES))
def test_layer_norm_matches_torch(name, compiled):
    shape, normalized, use_w, use_b, eps = LN_CASES[name]
    x, w, b, c = _arrays(shape, normalized)
    t_out, t_grads = _ln_torch(x, w, b, c, normalized, use_w, use_b, eps)
    gx = gg.tensor(x, requires_grad=True)
    gw = gg.tensor(w, requires_grad=True) if use_w else None
    gb = gg.tensor(b, requires_grad=True) if use_b else None
    leaves = [t for t in (gx, gw, gb) if t is not None]

    def step(x, cc):
        out = F.layer_norm(x, normalized, gw, gb, eps)
        (out * cc).sum().backward()
        return out

    run = gg.compile(step) if compiled else step
    out = run(gx, gg.tensor(c))
    _close(out, t_out)
    for ours, theirs in zip(leaves, t_grads):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("affine,bias", [(True, True), (True, False), (False, False)])
def test_layer_norm_module_compiled_training_step_matches_torch(affine, bias):
    """nn.LayerNorm's parameters (state inputs of a compiled step) get torch's grads."""
    x, _, _, c = _arrays((5, 3, 6), (3, 6), seed=3)
    ours = nn.LayerNorm((3, 6), eps=1e-4, elementwise_affine=affine, bias=bias)
    theirs = torch.nn.LayerNorm((3, 6), eps=1e-4, elementwise_affine=affine, bias=bias)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})

    @gg.compile
    def step(x, cc):
        ours.zero_grad()
        out = ours(x)
        (out * cc).sum().backward()
        return out

    gx, tx = gg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = step(gx, gg.tensor(c))
    t_out = theirs(tx)
    (t_out * torch.tensor(c)).sum().backward()
    _close(out, t_out)
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_gelu_matches_torch(approximate, compiled):
    x = (RNG.standard_normal((6, 33)) * 3).astype(np.float32)
    c = RNG.standard_normal((6, 33)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    t_out = TF.gelu(tx, approximate=approximate)
    (t_out * torch.tensor(c)).sum().backward()
    gx = gg.tensor(x, requires_grad=True)

    def step(x, cc):
        out = nn.GELU(approximate=approximate)(x)
        (out * cc).sum().backward()
        return out

    run = gg.compile(step) if compiled else step
    _close(run(gx, gg.tensor(c)), t_out)
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_gelu_chunks_cover_large_inputs():
    """The NumPy kernels run in chunks of 2**15 elements: a size that is not a multiple
    still matches torch at every element (the last, partial chunk included)."""
    x = (RNG.standard_normal(3 * 2 ** 15 + 7) * 3).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    TF.gelu(tx, approximate="tanh").sum().backward()
    gx = gg.tensor(x, requires_grad=True)
    out = F.gelu(gx, approximate="tanh")
    out.sum().backward()
    np.testing.assert_allclose(out.numpy(), TF.gelu(torch.tensor(x), approximate="tanh"),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_kernels_write_into_an_operand(approximate):
    """A fused program may hand the NumPy kernels one of their operands as `out` (a
    gelu_backward writing into x's buffer): the result is the same as into a new array,
    over several chunks, for out = x and out = g, and for gelu's out = x."""
    kernels = gg.backends.get_backend("numpy").kernels
    x = (RNG.standard_normal(2 * 2 ** 15 + 5) * 3).astype(np.float32)
    g = RNG.standard_normal(x.shape).astype(np.float32)
    want_b = kernels["gelu_backward"](g, x, approximate=approximate)
    want_f = kernels["gelu"](x, approximate=approximate)
    for into in ("x", "g"):
        xx, gg_ = x.copy(), g.copy()
        target = xx if into == "x" else gg_
        got = kernels["gelu_backward"](gg_, xx, approximate=approximate, out=target)
        assert got is target
        np.testing.assert_array_equal(got, want_b, err_msg=into)
    xx = x.copy()
    np.testing.assert_array_equal(kernels["gelu"](xx, approximate=approximate, out=xx),
                                  want_f)
    # an out that overlaps x one element off: written aside, then copied in
    buf = np.empty(x.size + 1, np.float32)
    buf[:-1] = x  # (each chunk's output would overwrite the next chunk's first x)
    got = kernels["gelu_backward"](g, buf[:-1], approximate=approximate, out=buf[1:])
    np.testing.assert_array_equal(got, want_b)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_compiled_mlp_with_fused_bias_gelu_matches_torch(approximate):
    """Linear -> GELU -> Linear trained one step compiled: the bias add and GELU are one
    fused chunked program (threads included: 2**18 elements and more), and GELU's
    backward one more; loss, every gradient and the updated weights as torch's."""
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(32, 512), torch.nn.GELU(approximate=approximate),
                              torch.nn.Linear(512, 16))
    model = nn.Sequential(nn.Linear(32, 512), nn.GELU(approximate=approximate),
                          nn.Linear(512, 16))
    model.load_state_dict({k: v.numpy().copy() for k, v in ref.state_dict().items()})
    x = RNG.standard_normal((1024, 32)).astype(np.float32)
    c = RNG.standard_normal((1024, 16)).astype(np.float32)
    opt = gg.optim.SGD(model.parameters(), lr=0.1)

    @gg.compile
    def step(x, c):
        opt.zero_grad()
        loss = (model(x) * c).mean()
        loss.backward()
        opt.step()
        return loss

    t_opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(2):  # the second call runs the cached plan
        t_opt.zero_grad()
        t_loss = (ref(torch.tensor(x)) * torch.tensor(c)).mean()
        t_loss.backward()
        loss = step(gg.tensor(x), gg.tensor(c))
        np.testing.assert_allclose(loss.item(), t_loss.item(), rtol=1e-4, atol=1e-6)
        t_opt.step()
        for (name, p), tp in zip(model.named_parameters(), ref.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-3,
                                       atol=1e-6, err_msg=name)
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-4,
                                       atol=1e-6, err_msg=name)
    assert "gelu_backward" in step.source and "add,gelu" in step.source


def _f64(*shape, seed=0):
    rng = np.random.default_rng(seed)
    return gg.tensor(rng.standard_normal(shape) * 2, dtype="float64", requires_grad=True)


@pytest.mark.parametrize("name", list(LN_CASES))
def test_layer_norm_gradcheck(name):
    shape, normalized, use_w, use_b, eps = LN_CASES[name]
    leaves = [_f64(*shape)] + [_f64(*normalized, seed=k + 1) for k, on in
                               enumerate((use_w, use_b)) if on]

    def fn(x, *affine):
        w = affine[0] if use_w else None
        b = affine[-1] if use_b else None
        return F.layer_norm(x, normalized, w, b, eps)

    assert gg.gradcheck(fn, leaves)
    assert gg.gradcheck(fn, leaves, check_forward=True)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradcheck_first_and_second_order(approximate):
    x = _f64(4, 5)
    assert gg.gradcheck(lambda x: F.gelu(x, approximate), [x])
    assert gg.gradcheck(lambda x: F.gelu(x, approximate), [x], check_forward=True)
    # second order: d/dx of sum(gelu'(x) * c) through gelu_backward's VJP, against torch
    c = np.random.default_rng(5).standard_normal((4, 5))
    (g,) = gg.autograd.grad(F.gelu(x, approximate).sum(), [x], create_graph=True)
    (g * gg.tensor(c)).sum().backward()
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    (tg,) = torch.autograd.grad(TF.gelu(tx, approximate=approximate).sum(), [tx],
                                create_graph=True)
    (tg * torch.tensor(c)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_layer_norm_second_order_is_supported():
    """With create_graph the VJP is written with Tensor ops (values checked against torch
    and finite differences in tests/nn/test_layer_norm_second_order.py)."""
    x = _f64(3, 4)
    (g,) = gg.autograd.grad(F.layer_norm(x, (4,)).pow(3).sum(), [x], create_graph=True)
    g.sum().backward()
    assert x.grad is not None


def test_layer_norm_errors_in_user_terms():
    x = gg.zeros(2, 5)
    with pytest.raises(gg.ShapeError, match="does not end in normalized_shape"):
        F.layer_norm(x, (4,))
    with pytest.raises(gg.ShapeError, match="weight has shape"):
        F.layer_norm(x, (5,), gg.ones(4))
    with pytest.raises(gg.DtypeError, match="float64"):
        F.layer_norm(x, (5,), gg.ones(5, dtype=gg.float64))
    with pytest.raises(gg.GraphgradError, match="approximate"):
        F.gelu(x, approximate="fast")

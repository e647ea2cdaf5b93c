"""The one-op nll_loss behind F.nll_loss / F.cross_entropy / nn.NLLLoss / nn.CrossEntropyLoss.

Oracles: PyTorch 2.13 (values and input gradients; float32 rtol 1e-5, float64 1e-10)
over ignore_index (-100 and a class; hit and not hit), class weights and the three
reductions; finite differences (gg.gradcheck, float64) through the op and its backward;
the same step run eagerly against compiled plans on NumPy, the CuPy CPU emulation and
Numba (float32 rtol 1e-5).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cupy_emulation import fixtures

import graphgrad as gg
import graphgrad.nn.functional as F
from graphgrad import nn
from graphgrad.errors import GraphgradError

cupy_backend = fixtures.cupy_backend  # the fixture, under its name here

RNG = np.random.default_rng(0)
X = RNG.standard_normal((7, 5))
W = RNG.uniform(0.3, 2.0, 5)
TARGETS = {"none hit": np.array([0, 4, 1, 2, 2, 1, 3]),
           "hit": np.array([0, -100, 1, 2, -100, 1, 3]),
           "all hit": np.full(7, -100)}
CASES = [(name, ii, w, red) for name in TARGETS for ii in (-100, 2) for w in (False, True)
         for red in ("none", "mean", "sum")
         if not (name != "none hit" and ii == 2)]  # -100 targets with ignore_index=2 raise


def _tol(dtype):
    return {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}[
        dtype]


def _run_both(fn_name, targets, ignore_index, weighted, reduction, dtype):
    x = X.astype(dtype)
    gx = gg.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    kw = dict(ignore_index=ignore_index, reduction=reduction)
    g_w = gg.tensor(W.astype(dtype)) if weighted else None
    t_w = torch.tensor(W.astype(dtype)) if weighted else None
    if fn_name == "nll_loss":
        ours = F.nll_loss(F.log_softmax(gx, 1), gg.tensor(targets), weight=g_w, **kw)
        theirs = torch.nn.functional.nll_loss(torch.log_softmax(tx, 1), torch.tensor(targets),
                                              weight=t_w, **kw)
    else:
        ours = F.cross_entropy(gx, gg.tensor(targets), weight=g_w, **kw)
        theirs = torch.nn.functional.cross_entropy(tx, torch.tensor(targets), weight=t_w, **kw)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), **_tol(dtype))
    if not np.isnan(theirs.detach().numpy()).any():
        (ours * 1.5).sum().backward()
        (theirs * 1.5).sum().backward()
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), **_tol(dtype))
    return ours


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fn_name", ["nll_loss", "cross_entropy"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-ii{c[1]}-w{int(c[2])}-{c[3]}")
def test_values_and_grads_match_torch(case, fn_name, dtype):
    name, ignore_index, weighted, reduction = case
    _run_both(fn_name, TARGETS[name], ignore_index, weighted, reduction, dtype)


def test_all_ignored_mean_is_nan_as_torch():
    out = _run_both("cross_entropy", TARGETS["all hit"], -100, True, "mean", "float64")
    assert np.isnan(out.item())


def test_the_fused_op_is_what_runs():
    """F.cross_entropy with integer targets is log_softmax and one nll_loss op (no mask
    path of small ops), traced as in eager mode."""
    x, t = gg.tensor(X.astype(np.float32)), gg.tensor(TARGETS["hit"])

    @gg.compile
    def loss(x, t):
        return F.cross_entropy(x, t)
    loss(x, t)
    ops = [d["op"] for _, d in loss.last.optimized.nx.nodes(data=True)]
    assert "nll_loss" in ops and "gather" not in ops and "ne" not in ops, ops


def test_gradcheck_through_op_and_its_backward():
    """Finite differences (float64) through nll_loss, and through its gradient as a
    function of the input and of the upstream gradient (nll_loss_backward's VJP)."""
    x = gg.tensor(X, requires_grad=True)
    w = gg.tensor(W)
    t = gg.tensor(TARGETS["hit"])
    probe = gg.tensor(RNG.standard_normal(X.shape))
    for red in ("none", "mean", "sum"):
        u = gg.tensor(RNG.uniform(0.5, 1.5, (7,) if red == "none" else ()),
                      requires_grad=True)

        def grad_of_loss(x, u, red=red):
            with gg.enable_grad():  # (finite differences call this under no_grad)
                x = x if x.requires_grad else x.detach().requires_grad_(True)
                loss = F.cross_entropy(x, t, weight=w, reduction=red)
                (gx,) = gg.autograd.grad(loss, x, grad_outputs=u, create_graph=True)
                return (gx * probe).sum()
        assert gg.gradcheck(lambda x, red=red: F.cross_entropy(x, t, weight=w, reduction=red),
                            (x,))
        assert gg.gradcheck(grad_of_loss, (x, u))


def test_modules_and_unbatched_input():
    x = X.astype(np.float32)
    t = TARGETS["hit"]
    ours = nn.CrossEntropyLoss(weight=gg.tensor(W.astype(np.float32)), reduction="sum")(
        gg.tensor(x), gg.tensor(t))
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor(W.astype(np.float32)),
                                       reduction="sum")(torch.tensor(x), torch.tensor(t))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5)
    ours = nn.NLLLoss()(gg.tensor(x[0]), gg.tensor(np.array(3)))
    theirs = torch.nn.NLLLoss()(torch.tensor(x[0]), torch.tensor(3))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5)


def test_out_of_range_target_is_an_error():
    with pytest.raises(GraphgradError, match="nll_loss"):
        F.cross_entropy(gg.tensor(X), gg.tensor(np.array([0, 1, 2, 3, 4, 5, 0])))
    with pytest.raises(GraphgradError, match="nll_loss"):
        F.cross_entropy(gg.tensor(X), gg.tensor(np.array([0, 1, 2, 3, 4, -3, 0])))


def _train_step(backend, weighted):
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 5))
    model.to(backend)
    w = gg.tensor(W.astype(np.float32), device=backend) if weighted else None
    loss_fn = nn.CrossEntropyLoss(weight=w)
    opt = gg.optim.SGD(model.parameters(), lr=0.1)

    def step(x, t):
        opt.zero_grad()
        loss = loss_fn(model(x), t)
        loss.backward()
        opt.step()
        return loss
    return step, model


def _compare_eager_compiled(backend):
    x = X.astype(np.float32)
    for weighted in (False, True):
        eager, m_eager = _train_step("numpy", weighted)
        compiled_fn, m_comp = _train_step(backend, weighted)
        compiled = gg.compile(compiled_fn, backend=backend)
        for targets in (TARGETS["none hit"], TARGETS["hit"], TARGETS["none hit"]):
            a = eager(gg.tensor(x), gg.tensor(targets))
            b = compiled(gg.tensor(x, device=backend), gg.tensor(targets, device=backend))
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6)
        for pa, pb in zip(m_eager.parameters(), m_comp.parameters()):
            np.testing.assert_allclose(pb.numpy(), pa.numpy(), rtol=1e-5, atol=1e-6)
    return compiled


def test_compiled_matches_eager_numpy():
    _compare_eager_compiled("numpy")


def test_compiled_matches_eager_cupy(cupy_backend):
    _compare_eager_compiled(cupy_backend.name)  # (Module.to reads a backend object as a dtype)


def test_compiled_matches_eager_numba():
    pytest.importorskip("numba")
    compiled = _compare_eager_compiled("numba")
    assert "nll_rows(" in compiled.source and "nll_rows_backward(" in compiled.source

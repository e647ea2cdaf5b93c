"""L-BFGS and gg.compile: a compiled step that calls LBFGS.step raises a clear error and
changes nothing; a compiled closure driven by an eager LBFGS gives eager's numbers.

Oracles: the state before the failed call (parameter values, `.grad`, optimizer state,
all unchanged, and the error naming LBFGS, what to do, and the user's file:line); for
the compiled closure, torch.optim.LBFGS on the same problem (float64, rtol 1e-8 as in
test_more_optimizers_vs_torch.py) and the same closure run eagerly, with one trace for
every evaluation the line search makes.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import optim


def problem():
    rng = np.random.default_rng(1)
    return rng.standard_normal(3), rng.standard_normal((8, 3)), rng.standard_normal(8)


def gg_closure(opt, w, x, y):
    def closure():
        opt.zero_grad()
        loss = ((gg.tanh(x @ w) - y) ** 2).sum() + 0.1 * (w ** 4).sum()
        loss.backward()
        return loss
    return closure


@pytest.mark.parametrize("evaluate_first", [False, True])
def test_compiled_step_calling_lbfgs_raises_and_changes_nothing(evaluate_first):
    w0, x, y = problem()
    w = gg.tensor(w0, requires_grad=True)
    opt = optim.LBFGS([w])
    closure = gg_closure(opt, w, gg.tensor(x), gg.tensor(y))
    closure()  # a concrete gradient from an earlier eager evaluation
    grad = w.grad.numpy().copy()

    @gg.compile
    def step():
        if evaluate_first:  # a traced backward ran before the optimizer is reached
            closure()
        return opt.step(closure)

    for _ in range(2):  # the failed trace left no plan behind: the error again
        with pytest.raises(gg.TracingError) as caught:
            step()
        message = str(caught.value)
        assert "LBFGS runs eagerly only" in message
        assert "opt.step(gg.compile(closure))" in message
        assert "test_lbfgs_under_compile.py:" in message
        np.testing.assert_array_equal(w.numpy(), w0)
        np.testing.assert_array_equal(w.grad.numpy(), grad)  # concrete, as it was
        assert opt.state == {}


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_compiled_closure_with_eager_lbfgs_matches_torch_and_eager(line_search):
    w0, x, y = problem()
    kwargs = dict(lr=0.5 if line_search is None else 1, max_iter=7, history_size=4,
                  line_search_fn=line_search)
    tw = torch.tensor(w0, requires_grad=True)
    topt = torch.optim.LBFGS([tw], **kwargs)
    tx, ty = torch.tensor(x), torch.tensor(y)

    def tclosure():
        topt.zero_grad()
        loss = (torch.tanh(tx @ tw) - ty).pow(2).sum() + 0.1 * (tw ** 4).sum()
        loss.backward()
        return loss

    runs = {}
    for compiled in (False, True):
        w = gg.tensor(w0, requires_grad=True)
        opt = optim.LBFGS([w], **kwargs)
        closure = gg_closure(opt, w, gg.tensor(x), gg.tensor(y))
        closure = gg.compile(closure) if compiled else closure
        losses = [float(opt.step(closure)) for _ in range(3)]
        runs[compiled] = (w.numpy().copy(), losses, opt.state[w]["func_evals"], closure)
    want_losses = [float(topt.step(tclosure).detach()) for _ in range(3)]
    (w_eager, l_eager, evals_eager, _), (w_comp, l_comp, evals, step) = runs[False], runs[True]
    np.testing.assert_allclose(w_comp, tw.detach().numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(l_comp, want_losses, rtol=1e-9)
    np.testing.assert_allclose(w_comp, w_eager, rtol=1e-12, atol=0)
    np.testing.assert_allclose(l_comp, l_eager, rtol=1e-12)
    assert evals == evals_eager == topt.state[tw]["func_evals"]
    info = step.cache_info()
    assert info.traces == 1 and info.hits == evals - 1, str(info)

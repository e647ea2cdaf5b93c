"""Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop and LBFGS against PyTorch itself.

Oracle: torch.optim (CPU, float64; rtol 1e-5: twelve steps compound the
float64 roundings of two differently ordered gradient computations, while a wrong
formula is off by far more) from the same parameters on the same non-quadratic
loss, eagerly and (except LBFGS, which is eager-only by design) compiled with
`gg.compile`; states compared key by key. Twelve steps, so that RAdam crosses from its
un-rectified early steps (rho_t <= 5) to the rectified ones and Rprop sees sign changes.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import optim

CONFIGS = [
    ("Adadelta", dict(lr=1.0, rho=0.8, weight_decay=0.1)),
    ("Adamax", dict(lr=0.05, weight_decay=0.1)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.05, betas=(0.9, 0.99))),
    ("RAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("ASGD", dict(lr=0.05, t0=4, lambd=1e-2)),
    ("ASGD", dict(lr=0.05, weight_decay=0.1)),
    ("Rprop", dict(lr=0.05)),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2), maximize=True)),
]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)]
STEPS = 12


def problem():
    rng = np.random.default_rng(0)
    return rng.standard_normal((3, 2)), rng.standard_normal((4, 3)), rng.standard_normal((4, 2))


def torch_run(name, kwargs, steps=STEPS):
    w0, x, y = problem()
    w = torch.tensor(w0, requires_grad=True)
    opt = getattr(torch.optim, name)([w], **kwargs)
    tx, ty = torch.tensor(x), torch.tensor(y)
    trajectory = []
    for _ in range(steps):
        opt.zero_grad()
        (torch.tanh(tx @ w) - ty).pow(2).sum().backward()
        opt.step()
        trajectory.append(w.detach().numpy().copy())
    return trajectory, {k: np.asarray(v) for k, v in opt.state[w].items()}


def gg_run(name, kwargs, compiled, steps=STEPS):
    w0, x, y = problem()
    w = gg.tensor(w0, requires_grad=True)
    opt = getattr(optim, name)([w], **kwargs)
    gx, gy = gg.tensor(x), gg.tensor(y)

    def step(x, y):
        opt.zero_grad()
        ((gg.tanh(x @ w) - y) ** 2).sum().backward()
        opt.step()

    step = gg.compile(step) if compiled else step
    trajectory = []
    for _ in range(steps):
        step(gx, gy)
        trajectory.append(w.numpy().copy())
    return trajectory, {k: v.numpy() for k, v in opt.state[w].items()}


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_matches_torch(name, kwargs, compiled):
    want, want_state = torch_run(name, kwargs)
    got, got_state = gg_run(name, kwargs, compiled)
    for i, (g, t) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, t, rtol=1e-5, atol=1e-8, err_msg=f"step {i + 1}")
    assert set(got_state) == set(want_state)
    for key, value in want_state.items():
        np.testing.assert_allclose(got_state[key], value, rtol=1e-5, atol=1e-8, err_msg=key)


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_lbfgs_matches_torch(line_search):
    rng = np.random.default_rng(1)
    w0, x, y = rng.standard_normal(3), rng.standard_normal((8, 3)), rng.standard_normal(8)
    kwargs = dict(lr=0.5 if line_search is None else 1, max_iter=7, history_size=4,
                  line_search_fn=line_search)
    tw, gw = torch.tensor(w0, requires_grad=True), gg.tensor(w0, requires_grad=True)
    topt, gopt = torch.optim.LBFGS([tw], **kwargs), optim.LBFGS([gw], **kwargs)
    tx, ty, gx, gy = torch.tensor(x), torch.tensor(y), gg.tensor(x), gg.tensor(y)

    def tclosure():
        topt.zero_grad()
        loss = (torch.tanh(tx @ tw) - ty).pow(2).sum() + 0.1 * (tw ** 4).sum()
        loss.backward()
        return loss

    def gclosure():
        gopt.zero_grad()
        loss = ((gg.tanh(gx @ gw) - gy) ** 2).sum() + 0.1 * (gw ** 4).sum()
        loss.backward()
        return loss

    for i in range(3):
        tl, gl = topt.step(tclosure), gopt.step(gclosure)
        assert float(gl) == pytest.approx(float(tl.detach()), rel=1e-9)
        np.testing.assert_allclose(gw.numpy(), tw.detach().numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=f"step {i + 1}")
    tstate, gstate = topt.state[tw], gopt.state[gw]
    assert (gstate["func_evals"], gstate["n_iter"]) == (tstate["func_evals"], tstate["n_iter"])


def test_lbfgs_inside_compile_says_it_runs_eagerly():
    w = gg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.LBFGS([w])

    @gg.compile
    def step():
        def closure():
            opt.zero_grad()
            loss = (w ** 2).sum()
            loss.backward()
            return loss
        return opt.step(closure)

    with pytest.raises(gg.TracingError, match="LBFGS runs eagerly only"):
        step()


@pytest.mark.parametrize("name,bad", [("Adamax", dict(lr=-1)), ("NAdam", dict(betas=(1.0, 0.9))),
                                      ("Rprop", dict(etas=(1.5, 1.2))),
                                      ("Adadelta", dict(rho=1.5))])
def test_bad_hyperparameters_raise_like_torch(name, bad):
    with pytest.raises(ValueError):
        getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **bad)
    with pytest.raises(ValueError):
        getattr(optim, name)([gg.zeros(1, requires_grad=True)], **bad)


def test_lbfgs_unknown_line_search_raises_at_step_like_torch():
    w = gg.tensor([1.0], requires_grad=True)
    opt = optim.LBFGS([w], line_search_fn="armijo")  # PyTorch too accepts it here

    def closure():
        opt.zero_grad()
        loss = (w ** 2).sum()
        loss.backward()
        return loss

    with pytest.raises(ValueError, match="only 'strong_wolfe' is supported"):
        opt.step(closure)


def test_a_weight_decay_key_in_a_group_of_an_optimizer_without_one_is_ignored():
    """Rprop has no weight decay in torch; a group's weight_decay applied L2 anyway."""
    result = {}
    for lib in (gg, torch):
        p = lib.nn.Parameter(lib.ones(3))
        opt = lib.optim.Rprop([{"params": [p], "weight_decay": 1.0}], lr=0.1)
        (p * lib.tensor([0.0, 1.0, -1.0])).sum().backward()
        opt.step()
        result[lib] = p.detach().numpy().copy()
    np.testing.assert_allclose(result[gg], result[torch], rtol=1e-6)

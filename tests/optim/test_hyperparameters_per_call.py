"""Float hyperparameters of Adadelta, Adamax, NAdam, RAdam, ASGD and Rprop (and
Adagrad's) are read at every call of a compiled step: changing one between calls costs
no retrace and gives the numbers eager mode and PyTorch give.

Oracles: torch.optim's same optimizer (CPU, float64, rtol 1e-5) on the same
non-quadratic loss with the same changes between the same steps; and the identical
graphgrad step run eagerly, in float32, where the compiled step must round exactly as
eager does: bit for bit on the NumPy backend (`1 - beta1` computed in float32 inside
the plan instead of in Python is off by only ~1e-7 relative, which no tolerance loose
enough for reordered arithmetic would see). Values the
update's Python code branches on (a weight decay switched to or from 0, `maximize`,
`decoupled_weight_decay`) stay guarded: a change retraces, and cache_info() says which.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import optim

# optimizer, constructor arguments, and the changes made between calls: (key, new value)
CASES = {
    "Adadelta": ("Adadelta", dict(lr=1.0, rho=0.8, eps=1e-6, weight_decay=0.1),
                 [("lr", 0.5), ("rho", 0.6), ("eps", 1e-3), ("weight_decay", 0.05)]),
    "Adamax": ("Adamax", dict(lr=0.05, weight_decay=0.1),
               [("lr", 0.02), ("betas", (0.8, 0.99)), ("eps", 1e-3), ("weight_decay", 0.05)]),
    "NAdam": ("NAdam", dict(lr=0.05, weight_decay=0.1),
              [("lr", 0.02), ("betas", (0.8, 0.99)), ("eps", 1e-3), ("weight_decay", 0.05),
               ("momentum_decay", 0.05)]),
    "NAdam-decoupled": ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
                        [("lr", 0.02), ("weight_decay", 0.3), ("betas", (0.85, 0.95))]),
    "RAdam": ("RAdam", dict(lr=0.05, weight_decay=0.1),
              [("lr", 0.02), ("betas", (0.8, 0.95)), ("eps", 1e-3), ("weight_decay", 0.05)]),
    "RAdam-decoupled": ("RAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
                        [("weight_decay", 0.3), ("lr", 0.02), ("betas", (0.9, 0.9))]),
    "ASGD": ("ASGD", dict(lr=0.05, lambd=1e-2, alpha=0.75, t0=4, weight_decay=0.1),
             [("lr", 0.02), ("lambd", 0.05), ("alpha", 0.5), ("t0", 2.0),
              ("weight_decay", 0.05)]),
    "Rprop": ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2)),
              [("lr", 0.02), ("etas", (0.4, 1.3)), ("step_sizes", (1e-2, 0.1))]),
    # (Rprop's lr and Adagrad's initial_accumulator_value only set up the state: a change
    # after the first step does nothing, in PyTorch too, and must not retrace either)
    "Adagrad": ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.5),
                [("initial_accumulator_value", 0.1), ("lr", 0.05), ("lr_decay", 0.02),
                 ("eps", 1e-3)]),
}


def problem(dtype, groups=1):
    """Start weights (one tensor per parameter group: the columns split), inputs, targets."""
    rng = np.random.default_rng(0)
    w0, x, y = (rng.standard_normal(s).astype(dtype) for s in ((3, 2), (4, 3), (4, 2)))
    return (np.split(w0, 2, axis=1) if groups == 2 else [w0]), x, y


def schedule(changes):
    """Two calls, then each change followed by two calls: None for a call."""
    out = [None, None]
    for change in changes:
        out += [change, None, None]
    return out


def loss_of(ws, x, y, tanh):
    """sum((tanh(x @ w) - y)^2), each parameter fitting its own columns of y."""
    total, col = 0.0, 0
    for w in ws:
        total = total + ((tanh(x @ w) - y[:, col:col + w.shape[1]]) ** 2).sum()
        col += w.shape[1]
    return total


def torch_run(name, kwargs, changes, groups=1):
    w0s, x, y = problem(np.float64, groups)
    ws = [torch.tensor(w0, requires_grad=True) for w0 in w0s]
    opt = getattr(torch.optim, name)([{"params": [w]} for w in ws], **kwargs)
    tx, ty = torch.tensor(x), torch.tensor(y)
    trajectory = []
    for change in schedule(changes):
        if change is not None:  # (the last group only, where there are two)
            opt.param_groups[-1][change[0]] = change[1]
            continue
        opt.zero_grad()
        loss_of(ws, tx, ty, torch.tanh).backward()
        opt.step()
        trajectory.append(np.hstack([w.detach().numpy() for w in ws]))
    return trajectory, {f"{i}.{k}": np.asarray(v) for i, w in enumerate(ws)
                        for k, v in opt.state[w].items()}


def gg_run(name, kwargs, changes, compiled, dtype=np.float64, groups=1):
    """The same run in graphgrad; returns the trajectory, the state and the step."""
    w0s, x, y = problem(dtype, groups)
    ws = [gg.tensor(w0, requires_grad=True) for w0 in w0s]
    opt = getattr(optim, name)([{"params": [w]} for w in ws], **kwargs)
    gx, gy = gg.tensor(x), gg.tensor(y)

    def step(x, y):
        opt.zero_grad()
        loss_of(ws, x, y, gg.tanh).backward()
        opt.step()

    step = gg.compile(step) if compiled else step
    trajectory = []
    for change in schedule(changes):
        if change is not None:
            opt.param_groups[-1][change[0]] = change[1]
            continue
        step(gx, gy)
        trajectory.append(np.hstack([w.numpy() for w in ws]))
    return trajectory, {f"{i}.{k}": v.numpy() for i, w in enumerate(ws)
                        for k, v in opt.state[w].items()}, step


def assert_same(got, want, rtol, atol):
    (trajectory, state), (want_trajectory, want_state) = got, want
    for i, (g, t) in enumerate(zip(trajectory, want_trajectory, strict=True)):
        np.testing.assert_allclose(g, t, rtol=rtol, atol=atol, err_msg=f"call {i + 1}")
    assert set(state) == set(want_state)
    for key, value in want_state.items():
        np.testing.assert_allclose(state[key], value, rtol=rtol, atol=atol, err_msg=key)


@pytest.mark.parametrize("case", list(CASES))
def test_changed_hyperparameters_match_torch_without_retrace(case):
    name, kwargs, changes = CASES[case]
    *compiled, step = gg_run(name, kwargs, changes, compiled=True)
    assert_same(compiled, torch_run(name, kwargs, changes), rtol=1e-5, atol=1e-8)
    info = step.cache_info()
    assert info.traces == 1, str(info)


@pytest.mark.parametrize("case", ["Adadelta", "NAdam", "ASGD", "Rprop"])
def test_each_group_reads_its_own_hyperparameters(case):
    """Two groups, the changes made to the second only: the first keeps its values."""
    name, kwargs, changes = CASES[case]
    *compiled, step = gg_run(name, kwargs, changes, compiled=True, groups=2)
    assert_same(compiled, torch_run(name, kwargs, changes, groups=2), rtol=1e-5, atol=1e-8)
    assert step.cache_info().traces == 1


@pytest.mark.parametrize("case", list(CASES))
def test_changed_hyperparameters_round_as_eager_in_float32(case):
    name, kwargs, changes = CASES[case]
    *compiled, step = gg_run(name, kwargs, changes, compiled=True, dtype=np.float32)
    *eager, _ = gg_run(name, kwargs, changes, compiled=False, dtype=np.float32)
    assert compiled[0][0].dtype == np.float32
    assert_same(compiled, eager, rtol=0, atol=0)
    assert step.cache_info().traces == 1


@pytest.mark.parametrize("name,kwargs,key,value,words", [
    ("Adadelta", dict(weight_decay=0.1), "weight_decay", 0.0,
     "Adadelta.param_groups[0]['weight_decay'] changed to 0 (traced with 0.1)"),
    ("ASGD", dict(), "weight_decay", 0.1,
     "ASGD.param_groups[0]['weight_decay'] changed from 0 (traced with 0.0)"),
    ("NAdam", dict(weight_decay=0.1), "decoupled_weight_decay", True,
     "NAdam.param_groups[0]['decoupled_weight_decay'] changed (traced with False)"),
    ("Rprop", dict(), "maximize", True,
     "Rprop.param_groups[0]['maximize'] changed (traced with False)"),
])
def test_a_branched_on_value_retraces_and_says_which(name, kwargs, key, value, words):
    changes = [(key, value)]
    *compiled, step = gg_run(name, dict(lr=0.05, **kwargs), changes, compiled=True)
    assert_same(compiled, torch_run(name, dict(lr=0.05, **kwargs), changes), rtol=1e-5,
                atol=1e-8)
    info = step.cache_info()
    assert info.traces == 2, str(info)
    assert words in info.records[-1].reason


@pytest.mark.parametrize("name", [n for n in optim.__all__
                                  if n not in ("Optimizer", "LBFGS", "lr_scheduler")])
def test_every_float_hyperparameter_is_read_per_call(name):
    """Each number (or tuple of numbers) among an optimizer's defaults is an input of a
    compiled step, not a guard: an optimizer added later must list its own. (LBFGS runs
    eagerly only; booleans such as `maximize` are branched on and stay guarded.)"""
    opt = getattr(optim, name)([gg.zeros(2, requires_grad=True)])
    numbers = [key for key, value in opt.defaults.items()
               if type(value) in (int, float)
               or (type(value) is tuple and all(type(v) in (int, float) for v in value))]
    assert numbers
    assert set(numbers) <= set(opt.dynamic_hyperparameters), (numbers,
                                                              opt.dynamic_hyperparameters)


@pytest.mark.parametrize("dampening", [0.0, 0.1])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_sgd_momentum_raised_from_zero_between_steps_matches_torch(compiled, dampening):
    """A momentum buffer born mid-training starts at the gradient (torch clones it); a
    compiled step traced before gains it and retraces (it was a KeyError, then, with a
    late-made buffer, a compiled step that silently kept copying the gradient)."""
    result = {}
    for lib in (gg, torch):
        p = gg.nn.Parameter(gg.ones(2)) if lib is gg else torch.nn.Parameter(torch.ones(2))
        opt = lib.optim.SGD([p], lr=0.1, momentum=0.0, dampening=dampening)

        def step(p=p, opt=opt, lib=lib):
            opt.zero_grad()
            (p * p * lib.tensor([1.0, 2.0])).sum().backward()
            opt.step()

        run = gg.compile(step) if compiled and lib is gg else step
        run()
        opt.param_groups[0]["momentum"] = 0.9
        for _ in range(3):
            run()
        result[lib] = p.detach().numpy().copy()
    np.testing.assert_allclose(result[gg], result[torch], rtol=1e-5)

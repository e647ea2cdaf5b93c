"""Modules and optimizers as arguments of a compiled step: `step(model, opt, x, y)`.

They are part of the call's signature by identity (as torch.compile guards a module
argument by id): the same objects reuse the plan, other objects trace their own, and
everything that holds for a module reached through a closure holds for one passed in:
hyperparameters read at every call, train()/eval() seen, Python side effects refused.
Oracle: the same step run eagerly on a copy of the same model (float32, 1e-6).
"""

import copy

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn, optim


def _model(seed=0):
    gg.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))


def _step(model, opt, x, y):
    opt.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    opt.step()
    return loss


def _data(seed=1):
    rng = np.random.default_rng(seed)
    return gg.tensor(rng.standard_normal((16, 4)).astype(np.float32)), \
        gg.tensor(rng.standard_normal((16, 1)).astype(np.float32))


def test_a_compiled_step_taking_model_and_optimizer_trains_as_eager_with_one_trace():
    x, y = _data()
    model = _model()
    twin = copy.deepcopy(model)
    opt, twin_opt = optim.Adam(model.parameters(), lr=0.01), optim.Adam(twin.parameters(),
                                                                         lr=0.01)
    step = gg.compile(_step)
    for i in range(4):
        if i == 2:  # a hyperparameter changed between calls is read, not baked in
            opt.param_groups[0]["lr"] = twin_opt.param_groups[0]["lr"] = 0.05
        got = step(model, opt, x, y).item()
        want = _step(twin, twin_opt, x, y).item()
        assert got == pytest.approx(want, rel=1e-6)
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-6, atol=1e-7, err_msg=name)
    assert step.cache_info().traces == 1
    assert "model.0.weight" in step.source  # state named after the argument


def test_other_objects_trace_their_own_plan_and_each_trains_its_own_weights():
    x, y = _data()
    a, b = _model(0), _model(1)
    b_before = [p.numpy().copy() for p in b.parameters()]
    opt_a, opt_b = optim.SGD(a.parameters(), lr=0.1), optim.SGD(b.parameters(), lr=0.1)
    step = gg.compile(_step)
    step(a, opt_a, x, y)
    assert all(np.array_equal(p.numpy(), q) for p, q in zip(b.parameters(), b_before))
    step(b, opt_b, x, y)
    step(a, opt_a, x, y)
    info = step.cache_info()
    assert info.traces == 2 and info.hits == 1
    assert "argument 'model' changed: the Sequential at" in info.records[1].reason
    twin = _model(1)
    _step(twin, optim.SGD(twin.parameters(), lr=0.1), x, y)
    for p, q in zip(b.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-6, atol=1e-7)


def test_train_and_eval_of_a_module_argument_are_seen():
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    x, _ = _data()
    forward = gg.compile(lambda m, x: m(x))
    model.eval()
    np.testing.assert_allclose(forward(model, x).numpy(), model(x).numpy(), rtol=1e-6)
    model.train()
    dropped = forward(model, x).numpy()
    assert (dropped == 0).any()  # dropout is on again: the eval plan is not reused


def test_a_python_side_effect_on_a_module_argument_is_refused():
    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 1)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return self.fc(x)

    model = Counting()
    x, _ = _data()
    with pytest.raises(gg.TracingError, match=r"`m\.calls`"):
        gg.compile(lambda m, x: m(x))(model, x)
    assert model.calls == 0  # restored


def test_modules_inside_containers_and_by_keyword():
    x, y = _data()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    step = gg.compile(lambda parts, x, y: _step(parts["model"], parts["opt"], x, y))
    first = step({"model": model, "opt": opt}, x, y).item()
    second = step({"model": model, "opt": opt}, x=x, y=y).item()
    assert second < first
    twin = _model()
    twin_opt = optim.SGD(twin.parameters(), lr=0.1)
    assert first == pytest.approx(_step(twin, twin_opt, x, y).item(), rel=1e-6)
    assert second == pytest.approx(_step(twin, twin_opt, x, y).item(), rel=1e-6)


# ---------------------------------------------------------------- state tensors as arguments

def _params_step(params, opt, t_u, t_c):
    """"Deep Learning with PyTorch", ch. 5: the parameters and their optimizer passed in."""
    opt.zero_grad()
    w, b = params
    loss = ((w * t_u + b - t_c) ** 2).mean()
    loss.backward()
    opt.step()
    return loss


@pytest.mark.parametrize("make_opt", [lambda p: optim.SGD(p, lr=1e-2),
                                      lambda p: optim.Adam(p, lr=1e-1)])
def test_a_parameter_passed_as_an_argument_is_the_state_its_optimizer_updates(make_opt):
    """Finding: the argument became a fresh input, so opt.step() inside the step updated
    nothing (the loss stayed at its first value). A tensor argument that is also state
    the function reaches is the state itself, as eagerly."""
    t_u = gg.tensor([3.5, 1.4, 5.5, 8.1, 5.6]) * 0.1
    t_c = gg.tensor([0.5, 14.0, 15.0, 28.0, 11.0])
    runs = []
    for compiled in (False, True):
        params = gg.tensor([1.0, 0.0], requires_grad=True)
        opt = make_opt([params])
        step = gg.compile(_params_step) if compiled else _params_step
        runs.append(([step(params, opt, t_u, t_c).item() for _ in range(5)],
                     params.detach().numpy().copy(), sorted(opt.state[params])))
        if compiled:
            assert step.cache_info().traces == 1
    (want, want_p, want_state), (got, got_p, got_state) = runs
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got[-1] < got[0]  # it trains
    np.testing.assert_allclose(got_p, want_p, rtol=1e-6)
    assert got_state == want_state


def test_a_module_weight_argument_with_the_optimizer_in_a_closure_trains_as_eager():
    x, y = _data()
    results = []
    for compiled in (False, True):
        gg.manual_seed(0)
        lin = nn.Linear(4, 1, bias=False)
        opt = optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)

        def step(w, x, y, opt=opt):
            opt.zero_grad()
            loss = ((x @ w.T - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        fn = gg.compile(step) if compiled else step
        results.append(([fn(lin.weight, x, y).item() for _ in range(4)], lin.weight.numpy(),
                        "momentum_buffer" in opt.state[lin.weight]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-6)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-6)
    assert results[1][2] and results[0][2]


def test_another_tensor_in_a_state_arguments_place_traces_and_inputs_stay_inputs():
    """The state argument is in the signature by identity: another tensor there traces its
    own plan (and says why); a leaf requiring grad that is not state stays an input (a
    new one per call does not retrace) and gets its .grad as eagerly."""
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step(w, x):
        opt.zero_grad()
        loss = (model(x * w.sum()) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    fn = gg.compile(step)
    x, _ = _data()
    w0 = model[0].weight
    fn(w0, x)
    fn(w0, x)
    assert fn.cache_info().traces == 1 and fn.cache_info().hits == 1
    for _ in range(3):  # a fresh leaf each call: an input, not state
        w = gg.ones(8, 4, requires_grad=True)
        fn(w, x)
        assert w.grad is not None and w.grad.shape == (8, 4)
    info = fn.cache_info()
    assert info.traces == 2, info.records
    assert "argument 'w' changed" in info.records[-1].reason

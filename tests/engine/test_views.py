"""Views share memory with their base, and in-place ops through them work as in PyTorch.

Oracle: PyTorch 2.13 run on the same float64 data: the base's and every view's values
after the write, the gradients of the leaves, and which programs raise. Each in-place
op is tried on each kind of view, eagerly and under gg.compile.
"""

import operator

import numpy as np
import pytest
import torch

import graphgrad as gg

X = np.arange(12.0).reshape(3, 4) / 7 - 0.5
W = np.cos(np.arange(12.0)).reshape(3, 4)

VIEWS = {
    "slice": lambda y: y[:, 1:3],
    "int": lambda y: y[1],
    "strided": lambda y: y[::2, 1:],
    "reshape": lambda y: y.reshape(2, 6),
    "view": lambda y: y.view(-1),
    "transpose": lambda y: y.transpose(0, 1),
    "permute": lambda y: y.permute(1, 0),
    "T": lambda y: y.T,
    "unsqueeze": lambda y: y.unsqueeze(0),
    "squeeze": lambda y: y[1:2].squeeze(0),
    "narrow": lambda y: y.narrow(1, 1, 2),
    "view_of_view": lambda y: y.T[1:3],
}

INPLACE = {
    "fill_": lambda v, s: v.fill_(2.5),
    "zero_": lambda v, s: v.zero_(),
    "mul_": lambda v, s: v.mul_(s),
    "add_": lambda v, s: v.add_(s * 2),
    "sub_": lambda v, s: v.sub_(s, alpha=3),
    "div_": lambda v, s: v.div_(s),
    "iadd": lambda v, s: operator.iadd(v, s),
    "copy_": lambda v, s: v.copy_(s * 4),
    "clamp_": lambda v, s: v.clamp_(max=0.2),
    "setitem": lambda v, s: v.__setitem__(0, s * 3),
    "exp_": lambda v, s: v.exp_(),
}


def _program(lib, x, s, view, update):
    """y = x * 1; an in-place update through a view; a loss reading y and the views."""
    y = x * 1
    v = view(y)
    other = y[0]  # another view: it must see the write too
    update(v, s)
    w = lib.tensor(W, dtype=lib.float64)
    loss = (y * w).sum() + (v * v).sum() + (other * other * other).sum()
    loss.backward()
    return loss, y, v, other


def _run(lib, view, update):
    x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
    s = lib.tensor(1.5, dtype=lib.float64, requires_grad=True)
    loss, y, v, other = _program(lib, x, s, view, update)
    return [None if t is None else t.detach().numpy()
            for t in (y, v, other, loss, x.grad, s.grad)]


def _close(got, want):
    for g, w in zip(got, want):
        if g is None or w is None:
            assert g is None and w is None
            continue
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("update", INPLACE.values(), ids=INPLACE.keys())
@pytest.mark.parametrize("view", VIEWS.values(), ids=VIEWS.keys())
def test_in_place_through_a_view_matches_pytorch(view, update):
    _close(_run(gg, view, update), _run(torch, view, update))


@pytest.mark.parametrize("update", [INPLACE["mul_"], INPLACE["setitem"], INPLACE["iadd"]],
                         ids=["mul_", "setitem", "iadd"])
@pytest.mark.parametrize("view", [VIEWS["slice"], VIEWS["T"], VIEWS["view_of_view"],
                                  VIEWS["reshape"]], ids=["slice", "T", "view_of_view",
                                                          "reshape"])
def test_compiled_in_place_through_a_view_gives_eager_numbers(view, update):
    def step(x, s):
        loss, y, v, other = _program(gg, x, s, view, update)
        return loss, y

    want = _run(torch, view, update)
    compiled = gg.compile(step)
    for _ in range(2):  # the traced call and a run of the plan
        x = gg.tensor(X, dtype="float64", requires_grad=True)
        s = gg.tensor(1.5, dtype="float64", requires_grad=True)
        loss, y = compiled(x, s)
        np.testing.assert_allclose(y.numpy(), want[0], rtol=1e-10)
        np.testing.assert_allclose(x.grad.numpy(), want[4], rtol=1e-10, atol=1e-12)
        if want[5] is not None:
            np.testing.assert_allclose(s.grad.numpy(), want[5], rtol=1e-10)


def test_the_issue_examples():
    x = gg.tensor(X, requires_grad=True)
    y = x * 2
    y[:, 1:3] += x[:, :2]
    y[0] = y[1] * 2
    (y * y).sum().backward()
    xt = torch.tensor(X, dtype=torch.float32, requires_grad=True)
    yt = xt * 2
    yt[:, 1:3] += xt[:, :2]
    yt[0] = yt[1] * 2
    (yt * yt).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5)
    y = gg.zeros(3, 4)
    v = y[:, 1:3]
    v.fill_(5)
    assert y.tolist() == [[0.0, 5.0, 5.0, 0.0]] * 3


@pytest.mark.parametrize("write", [
    lambda p: p.data.fill_(0), lambda p: p.data.__setitem__(0, 0.0),
    lambda p: p.data.mul_(0.5), lambda p: p.detach().zero_(),
    lambda p: p.data[1:].add_(1.0), lambda p: p.data.T.mul_(2),
    lambda p: p.data[:, 0].copy_(p.data[:, 1]),
], ids=["fill_", "setitem", "mul_", "detach", "slice_add_", "T_mul_", "column_copy_"])
def test_writes_through_data_change_the_parameter(write):
    lin = gg.nn.Linear(3, 2)
    tl = torch.nn.Linear(3, 2)
    with torch.no_grad():
        tl.weight.copy_(torch.from_numpy(lin.weight.numpy()))
    write(lin.weight)
    write(tl.weight)
    assert lin.weight.is_leaf and lin.weight.requires_grad
    np.testing.assert_allclose(lin.weight.numpy(), tl.weight.detach().numpy(), rtol=1e-6)


def test_init_idioms_change_the_weight_with_the_right_statistics():
    m = gg.nn.Linear(400, 300)
    m.weight.data.normal_(0, 0.02)
    w = m.weight.numpy()
    assert abs(w.mean()) < 1e-3 and abs(w.std() - 0.02) < 1e-3
    m.bias.data.uniform_(-3, -1)
    b = m.bias.numpy()
    assert b.min() >= -3 and b.max() < -1 and abs(b.mean() + 2) < 0.2
    assert m.weight.is_leaf and m.weight.requires_grad


def test_a_view_sees_later_writes_to_its_base_and_other_views():
    y = gg.zeros(3, 4)
    t, row, flat = y.T, y[1], y.view(-1)
    y.add_(1)
    row.mul_(3)
    flat[0:2].fill_(7)
    want = torch.zeros(3, 4)
    want.add_(1)
    want[1].mul_(3)
    want.view(-1)[0:2].fill_(7)
    for got, exp in ((y, want), (t, want.T), (row, want[1]), (flat, want.view(-1))):
        np.testing.assert_array_equal(got.numpy(), exp.numpy())


def test_views_share_the_version_counter_but_data_has_its_own():
    y = gg.zeros(3)
    v, d, data = y[1:], y.detach(), y.data
    v.add_(1)
    assert y._version == v._version == d._version == 1
    data.add_(1)
    assert y._version == 1 and y.tolist() == [1.0, 2.0, 2.0]


@pytest.mark.parametrize("program", [
    "y = x * 1; v = y[0]; z = v * v; y.add_(1); z.sum().backward()",
    "y = x.exp(); d = y.detach(); d.mul_(2); y.sum().backward()",
    "y = x * 2; z = y * y; z.sum().backward(); z.sum().backward()",
    "y = (x * x.sum()).tanh(); y.sum().backward(); y.sum().backward()",
    "x.mul_(2)",
    "x[0].mul_(2)",
    "y = x * 1; y.expand(2, 3, 4).add_(1)",
], ids=["saved-view-modified", "saved-result-modified-through-detach", "backward-twice",
        "backward-twice-tanh", "leaf", "view-of-leaf", "expanded"])
def test_errors_where_pytorch_raises(program):
    with pytest.raises(RuntimeError):
        exec(program, {"x": torch.tensor(X, requires_grad=True)})
    with pytest.raises(gg.GraphgradError):
        exec(program, {"x": gg.tensor(X, requires_grad=True)})


@pytest.mark.parametrize("program", [
    "y = x * 1; y[:, 1:3] += x[:, :2]; y.sum().backward()",
    "y = x * 2; y[0] = y[1] * 2; y.sum().backward()",
    "y = x.exp(); y.data.mul_(2); y.sum().backward()",
    "y = x + 1; y.sum().backward(); y.sum().backward()",
    "y = x.mean() + x.sum(); y.backward(); y.backward()",
    "y = x * 2; z = y * y; z.sum().backward(retain_graph=True); z.sum().backward()",
    "y = x * 1; y.exp_(); y.sum().backward()",
    "y = x * 1; y.add_(1); v = y.T; (v * v).sum().backward()",
    "with no_grad(): x[0].mul_(2)",
    "x.data.mul_(2); x.detach()[0] = 1",
], ids=["slice-iadd", "setitem-from-view", "data-write", "add-twice", "mean-twice", "retain-graph",
        "exp_", "view-after-write", "no-grad", "data-of-leaf"])
def test_no_error_where_pytorch_has_none(program):
    tx = torch.tensor(X, requires_grad=True)
    exec(program, {"x": tx, "no_grad": torch.no_grad})
    gx = gg.tensor(X, dtype="float64", requires_grad=True)
    exec(program, {"x": gx, "no_grad": gg.no_grad})
    if tx.grad is not None:
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(gx.detach().numpy(), tx.detach().numpy(), rtol=1e-10)


def test_retain_graph_accumulates():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    assert x.grad.tolist() == [4.0, 8.0]


def test_compiled_writes_through_data_become_state_writes():
    def make():
        gg.manual_seed(3)
        return gg.nn.Linear(3, 2)

    def step(lin, x):
        lin.weight.data.mul_(0.5)
        lin.bias.data[0] = 1.0
        lin.weight.data.T[1].add_(0.25)
        return lin(x).sum()

    eager, traced = make(), make()
    compiled = gg.compile(lambda x: step(traced, x))
    x = gg.ones(4, 3)
    for _ in range(3):
        want = step(eager, x).item()
        assert compiled(x).item() == pytest.approx(want, rel=1e-6)
        np.testing.assert_allclose(traced.weight.numpy(), eager.weight.numpy(), rtol=1e-6)
        np.testing.assert_allclose(traced.bias.numpy(), eager.bias.numpy(), rtol=1e-6)


def test_a_view_made_before_compiling_reads_its_base_live():
    lin = gg.nn.Linear(3, 2)
    wt = lin.weight.T  # kept across calls, as a module attribute might be
    opt = gg.optim.SGD(lin.parameters(), lr=0.1)

    @gg.compile
    def step(x):
        opt.zero_grad()
        loss = (x @ wt).sum()
        loss.backward()
        opt.step()
        return loss

    x = gg.ones(4, 3)
    for _ in range(3):
        before = lin.weight.numpy().copy()
        loss = step(x)
        assert loss.item() == pytest.approx(float((np.ones((4, 3)) @ before.T).sum()), rel=1e-5)
        np.testing.assert_allclose(wt.numpy(), lin.weight.numpy().T)


@pytest.mark.parametrize("update", ["optimizer", "by_hand"])
def test_views_taken_between_compiled_calls_follow_the_parameter(update):
    lin = gg.nn.Linear(3, 2)
    opt = gg.optim.SGD(lin.parameters(), lr=0.1)

    @gg.compile
    def step(x):
        opt.zero_grad()
        (lin(x) ** 2).sum().backward()
        if update == "optimizer":
            opt.step()
            return
        with gg.no_grad():
            lin.weight -= 0.1 * lin.weight.grad
            lin.weight[0] = lin.weight[1] * 2

    x = gg.ones(4, 3)
    for _ in range(3):  # traced, and retraced once the grads exist
        step(x)
    traces = step.cache_info().traces
    data, row = lin.weight.data, lin.weight.T[1]
    for _ in range(2):
        step(x)
        np.testing.assert_array_equal(data.numpy(), lin.weight.numpy())
        np.testing.assert_array_equal(row.detach().numpy(), lin.weight.numpy().T[1])
    assert step.cache_info().traces == traces  # the plan ran: no trace saw these views


def test_a_failed_in_place_op_leaves_the_tensor_usable():
    x = gg.tensor(X, dtype="float64", requires_grad=True)
    y = x.exp()
    with pytest.raises(gg.ShapeError):
        y.add_(gg.ones(5))
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(X))

"""The Numba backend's whole-plan mode: one generated @njit function per compiled step.

Oracles: the same step run eagerly on the NumPy backend from the same initial weights
(float32 tolerance: a compiled step must give eager's numbers), PyTorch for one step of
an MLP with Adam, and the plan's own promises (`backend_info()` names the path and the
reason for a fallback, `source` carries the user's file:line, the generated module sits
in the disk cache). The compiled code is cached on disk, so later runs compile little.
"""

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.backends import numba_codegen

pytest.importorskip("numba")

HERE = Path(__file__).name


def _mlp_step(backend, batchnorm=False, softmax_loss=False):
    gg.manual_seed(0)
    layers = [nn.Linear(5, 16, bias=not batchnorm)]
    layers += [nn.BatchNorm1d(16)] if batchnorm else []
    model = nn.Sequential(*layers, nn.ReLU(), nn.Linear(16, 4))
    opt = optim.Adam(model.parameters(), lr=0.01)
    ce = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        out = model(x)
        loss = -(nn.functional.softmax(out, 1) * out).mean() if softmax_loss else ce(out, y)
        loss.backward()
        opt.step()
        return loss

    return (gg.compile(step, backend=backend) if backend else step), model


def _data(steps=3):
    rng = np.random.default_rng(3)
    return [(gg.tensor(rng.standard_normal((8, 5)).astype(np.float32)),
             gg.tensor(rng.integers(0, 4, 8))) for _ in range(steps)]


def _train(backend, **kw):
    fn, model = _mlp_step(backend, **kw)
    losses = [float(fn(x, y).item()) for x, y in _data()]
    return losses, [p.numpy().copy() for p in model.parameters()], model, fn


@pytest.mark.parametrize("batchnorm", [False, True], ids=["mlp", "batchnorm"])
def test_whole_plan_training_equals_eager_numpy(batchnorm):
    losses, params, model, fn = _train("numba", batchnorm=batchnorm)
    assert fn.backend_info() == "whole plan compiled by backend 'numba'"
    want_losses, want_params, want_model, _ = _train(None, batchnorm=batchnorm)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    for got, want in zip(params, want_params):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-6)
    for (name, got), (_, want) in zip(model.named_buffers(), want_model.named_buffers()):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, err_msg=name)


def test_whole_plan_step_matches_pytorch():
    fn, model = _mlp_step("numba")
    (x, y), = _data(1)
    loss = fn(x, y)
    tm = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    gg.manual_seed(0)
    fresh = _mlp_step(None)[1]
    with torch.no_grad():
        for p, q in zip(tm.parameters(), fresh.parameters()):
            p.copy_(torch.from_numpy(q.numpy().copy()))
    topt = torch.optim.Adam(tm.parameters(), lr=0.01)
    tloss = torch.nn.functional.cross_entropy(tm(torch.from_numpy(x.numpy())),
                                              torch.from_numpy(y.numpy()))
    tloss.backward()
    topt.step()
    assert abs(loss.item() - tloss.item()) < 1e-5
    for p, q in zip(model.parameters(), tm.parameters()):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_source_is_the_generated_function_with_the_users_lines():
    _, _, _, fn = _train("numba")
    source = fn.source
    assert "@njit(cache=True" in source and "def plan(" in source
    assert "gemm(" in source and "for i0 in range(" in source  # BLAS, loops
    assert f"# {HERE}:" in source  # the user's file:line on the generated lines
    assert "the whole plan, compiled by numba" in source  # the wrapper's call


def test_an_op_without_whole_plan_code_falls_back_with_the_reason():
    losses, _, _, fn = _train("numba", softmax_loss=True)
    info = fn.backend_info()
    assert info.startswith("per-kernel plan: backend 'numba' declined the whole plan")
    assert "softmax" in info and HERE in info
    want, _, _, _ = _train(None, softmax_loss=True)
    np.testing.assert_allclose(losses, want, rtol=1e-5)


def test_large_elementwise_plan_runs_parallel_loops_and_equals_eager():
    n = numba_codegen.PARALLEL_MIN + 5
    x0 = np.random.default_rng(0).standard_normal(n).astype(np.float32)

    def value_and_grad(x):
        x.grad = None
        y = (gg.tanh(0.5 * x) * gg.sigmoid(x) + 0.1 * x * x).sum()
        y.backward()
        return y

    fn = gg.compile(value_and_grad, backend="numba")
    x = gg.tensor(x0, requires_grad=True)
    y = fn(x)
    assert "prange(" in fn.source and "parallel=True" in fn.source
    xe = gg.tensor(x0, requires_grad=True)
    ye = value_and_grad(xe)
    np.testing.assert_allclose(y.item(), ye.item(), rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), xe.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_plan_with_threaded_gemms_keeps_its_loops_serial():
    """A GEMM large enough for BLAS's threads: the loops stay serial (two thread pools
    on the same cores slowed the wide MLP's step by half), and the step still equals
    eager."""
    gg.manual_seed(0)
    layer = nn.Linear(256, 256)
    x0 = np.random.default_rng(1).standard_normal((256, 256)).astype(np.float32)

    def step(x):
        layer.zero_grad()
        loss = gg.relu(layer(x)).sum()
        loss.backward()
        return loss

    fn = gg.compile(step, backend="numba")
    loss = fn(gg.tensor(x0))
    assert fn.backend_info() == "whole plan compiled by backend 'numba'"
    assert "prange(" not in fn.source and "parallel=False" in fn.source
    grad = layer.weight.grad.numpy().copy()
    want = step(gg.tensor(x0))
    np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-4)
    np.testing.assert_allclose(grad, layer.weight.grad.numpy(), rtol=1e-4, atol=1e-3)


def _sgd_training(backend):
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(300, 256), nn.ReLU(), nn.Linear(256, 3))
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    fn = gg.compile(step, backend=backend) if backend else step
    rng = np.random.default_rng(2)
    losses = [fn(gg.tensor(rng.standard_normal((16, 300)).astype(np.float32))).item()
              for _ in range(2)]
    return losses, [p.numpy().copy() for p in model.parameters()], fn


def test_column_major_weight_is_updated_column_by_column_and_equals_eager():
    """The first layer's weight is held column-major (passes/layout.py) and updated
    from its transposed gradient: the loop nest runs column by column (unit stride)."""
    losses, params, fn = _sgd_training("numba")
    assert fn.backend_info() == "whole plan compiled by backend 'numba'"
    assert re.search(r"for i1 in prange\(300\):\n +for i0 in range\(256\):", fn.source)
    want_losses, want_params, _ = _sgd_training(None)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    for p, w in zip(params, want_params):
        np.testing.assert_allclose(p, w, rtol=1e-4, atol=1e-6)


def _scalar_fit():
    wt, b = gg.tensor(1.0, requires_grad=True), gg.tensor(0.0, requires_grad=True)
    opt = optim.SGD([wt, b], lr=0.01)

    def step(x, y):
        opt.zero_grad()
        loss = ((wt * x + b - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return step, wt, b


def test_scalar_parameters_between_eager_steps_are_updated_in_place():
    """An eager step leaves NumPy scalars in 0-d parameters; the compiled step takes
    them (as 0-d arrays) and writes its update into them, and the eager and compiled
    steps interleaved give the all-eager numbers."""
    x = gg.tensor(np.arange(5, dtype=np.float32))
    y = gg.tensor(np.linspace(1, 2, 5, dtype=np.float32))
    step, wt, b = _scalar_fit()
    compiled = gg.compile(step, backend="numba")
    losses = [step(x, y).item(), compiled(x, y).item(), step(x, y).item(),
              compiled(x, y).item()]
    assert compiled.backend_info() == "whole plan compiled by backend 'numba'"
    assert "# state written in place" in compiled.source
    ref_step, ref_wt, ref_b = _scalar_fit()
    want = [ref_step(x, y).item() for _ in range(4)]
    np.testing.assert_allclose(losses, want, rtol=1e-6)
    np.testing.assert_allclose([wt.item(), b.item()], [ref_wt.item(), ref_b.item()],
                               rtol=1e-6)
    held = wt.detach()  # shares wt's memory: sees the next update, as in PyTorch
    before = held.item()
    compiled(x, y)
    assert held.item() == wt.item() != before


def test_batch_by_index_and_out_of_bounds_index():
    table = gg.tensor(np.arange(12, dtype=np.float32).reshape(6, 2), requires_grad=True)

    @gg.compile(backend="numba")
    def pick(idx):
        table.grad = None
        rows = table[idx]
        (rows * rows).sum().backward()
        return rows

    rows = pick(gg.tensor(np.array([5, 0, 5])))
    assert pick.backend_info() == "whole plan compiled by backend 'numba'"
    np.testing.assert_array_equal(rows.numpy(), [[10, 11], [0, 1], [10, 11]])
    want = np.zeros((6, 2), np.float32)
    want[0], want[5] = [0, 2], [40, 44]  # repeated rows add up
    np.testing.assert_array_equal(table.grad.numpy(), want)
    with pytest.raises(gg.GraphgradError, match="out of bounds"):
        pick(gg.tensor(np.array([6, 0, 1])))


def test_generated_module_lives_in_the_disk_cache():
    _, _, _, fn = _train("numba")
    plan = fn.last.plan
    module_text = fn.source.split("\n\n", 1)[1] if "\n\n" in fn.source else fn.source
    assert "# generated by graphgrad.backends.numba_plan" in module_text
    cached = [p for p in Path(numba_codegen.cache_dir()).glob("gg_plan_*.py")
              if p.read_text() in fn.source]
    assert cached, "the plan's module is not in the cache folder"
    index = Path(cached[0]).parent / "__pycache__"
    stem = cached[0].stem
    assert any(f.name.startswith(stem) and f.suffix == ".nbi" for f in index.iterdir()) \
        or os.environ.get("NUMBA_CACHE_DIR"), "Numba wrote no cache index for the plan"
    assert plan.backend_info == fn.backend_info()


def test_zero_d_constants_are_written_into_the_function_exactly():
    """0-d constants of every kind are literals of the function (not arguments Numba's
    dispatcher would unbox on every call), each of exactly its value: 1/3 in float32,
    infinities, NaN, an int64 and a bool."""
    consts = {"third": np.float32(1 / 3), "inf": np.float32(np.inf),
              "ninf": np.float32(-np.inf), "nan": np.float32(np.nan), "k": np.int64(7),
              "flag": np.bool_(True)}

    def f(x):
        c = {k: gg.tensor(v) for k, v in consts.items()}
        y = x * c["third"] + gg.minimum(x, c["inf"]) - gg.maximum(x, c["ninf"])
        y = y + gg.where(x > 100, c["nan"], x) + c["k"]
        return gg.where(c["flag"], y, -y), gg.where(x > 0, c["nan"], x), (x > 0).sum() * c["k"]

    fn = gg.compile(f, backend="numba")
    x = gg.tensor(np.linspace(-2, 2, 7, dtype=np.float32))
    got = fn(x)
    assert "whole plan" in fn.backend_info()
    plan = re.search(r"def plan\((.*?)\)", fn.source).group(1)
    assert plan.count("a") == 1  # x alone is passed
    assert "np.float32(0.3333333432674408)" in fn.source and "np.int64(7)" in fn.source
    for g, w in zip(got, f(x)):
        np.testing.assert_array_equal(g.numpy(), w.numpy())


def _np_operands(rng, dtype, m, k, n):
    """a (m, k) and b (k, n) in every layout a plan hands BLAS: C-ordered, F-ordered (a
    transposed matrix) and strided (a slice), each against each."""
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    layouts = (lambda x: x, np.asfortranarray, lambda x: np.repeat(x, 2, axis=1)[:, ::2])
    return [(fa(a), fb(b)) for fa in layouts for fb in layouts]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 4, 5), (1, 7, 1), (33, 1, 17), (1, 1, 1)])
def test_gemm_on_numpys_blas_equals_float64_numpy_in_every_layout(dtype, shape):
    numba_gemm = pytest.importorskip("graphgrad.backends.numba_gemm")
    from graphgrad.backends.numpy_blas import numpy_cblas_gemm

    if not numpy_cblas_gemm():
        pytest.skip("NumPy's BLAS is not an OpenBLAS with 64-bit cblas symbols")
    for a, b in _np_operands(np.random.default_rng(0), dtype, *shape):
        got = numba_gemm.gemm(a, b)
        assert got.dtype == dtype and got.flags.c_contiguous
        np.testing.assert_allclose(got, a.astype(np.float64) @ b.astype(np.float64),
                                   rtol=1e-5, atol=1e-5)


def test_plans_call_np_dot_where_numpys_blas_is_unknown(monkeypatch):
    """Without NumPy's cblas symbols the plan calls Numba's np.dot, with equal results."""
    from graphgrad.backends import numba_plan_ops

    want_losses, want_params, _ = _sgd_training("numba")
    monkeypatch.setattr(numba_plan_ops, "numpy_cblas_gemm", lambda: {})
    losses, params, fn = _sgd_training("numba")
    assert "gemm(" not in fn.source and "= dot(" in fn.source
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    for got, want in zip(params, want_params):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)



def _vector_fit():
    params = gg.tensor(np.array([1.0, 0.0], np.float32), requires_grad=True)
    opt = optim.SGD([params], lr=0.01)

    def step(x, y):
        opt.zero_grad()
        loss = ((params[0] * x + params[1] - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    return step, params


def test_state_updated_in_its_own_array_is_not_returned_and_views_see_it():
    """The seed's temperature fit: the update is written into the parameter's array,
    which the step then does not return; a view and a detached alias the user holds see
    each update, and the numbers, the loss's dtype and the fresh gradients are eager's."""
    x = gg.tensor(np.arange(11, dtype=np.float32))
    y = gg.tensor(np.linspace(1, 3, 11, dtype=np.float32))
    step, params = _vector_fit()
    compiled = gg.compile(step, backend="numba")
    compiled(x, y)
    assert "T_params._value =" not in compiled.source  # not returned, not stored
    step, params = _vector_fit()
    compiled = gg.compile(step, backend="numba")
    view, alias = params[1:], params.detach()
    array = params._value
    losses, grads = [], []
    for _ in range(3):
        loss = compiled(x, y)
        losses.append(loss)
        grads.append(params.grad)
    assert compiled.backend_info() == "whole plan compiled by backend 'numba'"
    assert params._value is array  # updated in place
    ref_step, ref_params = _vector_fit()
    want = [ref_step(x, y) for _ in range(3)]
    for got, w in zip(losses, want):  # each call's loss kept its own value
        assert got.dtype == gg.float32 and got.shape == ()
        np.testing.assert_allclose(got.item(), w.item(), rtol=1e-6)
    assert len({id(g) for g in grads}) == 3  # zero_grad: a new gradient each step
    np.testing.assert_allclose(grads[-1].numpy(), ref_params.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(params.numpy(), ref_params.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(view.numpy(), params.numpy()[1:])
    np.testing.assert_array_equal(alias.numpy(), params.numpy())


def test_state_given_a_new_array_is_returned_and_stored():
    """A state whose new value is not written into its own array (a GEMM's result) is
    returned and stored: the next call and the user read the new value."""
    def make():
        w = gg.tensor(np.eye(3, dtype=np.float32) * 2)
        r = gg.tensor(np.arange(9, dtype=np.float32).reshape(3, 3) / 8)

        def step():
            with gg.no_grad():
                w.copy_(w @ r)
            return w.sum()
        return step, w

    step, w = make()
    compiled = gg.compile(step, backend="numba")
    got = [compiled().item() for _ in range(3)]
    assert compiled.backend_info() == "whole plan compiled by backend 'numba'"
    ref_step, ref_w = make()
    np.testing.assert_allclose(got, [ref_step().item() for _ in range(3)], rtol=1e-6)
    np.testing.assert_allclose(w.numpy(), ref_w.numpy(), rtol=1e-6)

"""Small GEMMs run on one BLAS thread, and leave the thread count as they found it
(backends/numpy_blas.py).

Oracles: OpenBLAS's own thread count (openblas_get_num_threads), read from inside the
GEMM by a spy standing in for np.dot / np.matmul, and before and after; results equal
np.dot's (a GEMM split over threads divides rows or columns, not the sum, so one
thread gives the same numbers); a whole plan pinned once gives the losses of the same
plan pinned GEMM by GEMM.
"""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.backends import numpy_blas
from graphgrad.backends.numpy_backend import NumpyBackend

RNG = np.random.default_rng(3)
pytestmark = pytest.mark.skipif(not numpy_blas.switch(), reason="NumPy links no OpenBLAS")


def spy(monkeypatch, name):
    get, _ = numpy_blas.switch()
    seen, real = [], getattr(np, name)
    monkeypatch.setattr(np, name, lambda a, b: (seen.append(get()), real(a, b))[1])
    return seen


def test_small_gemm_runs_on_one_thread_and_restores_the_count(monkeypatch):
    get, _ = numpy_blas.switch()
    a, b = RNG.random((64, 128), np.float32), RNG.random((128, 128), np.float32)
    want = np.dot(a, b)
    with threadpool_limits(2, user_api="blas"):
        seen = spy(monkeypatch, "dot")
        kernel = numpy_blas.gemm_kernel(a.shape, b.shape)
        np.testing.assert_array_equal(kernel(a, b), want)
        assert seen == [1] and get() == 2
        seen_mm = spy(monkeypatch, "matmul")
        np.testing.assert_array_equal(numpy_blas.matmul(a, b), want)
        assert seen_mm == [1] and get() == 2


def test_large_gemm_and_batched_matmul_keep_the_pool():
    get, _ = numpy_blas.switch()
    assert numpy_blas.gemm_kernel((512, 2048), (2048, 2048)) is np.dot
    with threadpool_limits(2, user_api="blas"):
        x = RNG.random((3, 4, 5))
        np.testing.assert_array_equal(numpy_blas.matmul(x, x.transpose(0, 2, 1)),
                                      np.matmul(x, x.transpose(0, 2, 1)))
        assert get() == 2


def test_a_failing_gemm_still_restores_the_count():
    get, _ = numpy_blas.switch()
    kernel = numpy_blas.gemm_kernel((4, 3), (3, 4))
    with threadpool_limits(2, user_api="blas"):
        with pytest.raises(ValueError):
            kernel(np.ones((4, 3)), np.ones((2, 4)))
        assert get() == 2


def _mlp_step(sizes, batch):
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(),
                          nn.Linear(sizes[1], sizes[2]))
    opt = optim.SGD(model.parameters(), lr=0.1)

    @gg.compile
    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    x = gg.tensor(RNG.standard_normal((batch, sizes[0])).astype(np.float32))
    y = gg.tensor(RNG.standard_normal((batch, sizes[2])).astype(np.float32))
    return step, x, y, model


def test_a_plan_of_small_gemms_pins_blas_once_per_call(monkeypatch):
    """The whole plan runs on one BLAS thread (every GEMM inside sees 1), the count is
    restored after each call, even when the plan fails; the losses are the per-GEMM
    pinned plan's (oracle: the same step with the whole-plan wrapper refused)."""
    get, _ = numpy_blas.switch()
    step, x, y, _ = _mlp_step([16, 32, 4], 8)
    with threadpool_limits(2, user_api="blas"):
        losses = [step(x, y).item() for _ in range(3)]
        run = step.last.plan.run
        assert run.__name__ == "run_pinned"
        namespace, seen = run.__wrapped__.__globals__, []
        gemms = [k for k, v in namespace.items() if v is np.dot]
        assert gemms  # the small GEMMs' kernels became plain np.dot
        for k in gemms:
            monkeypatch.setitem(namespace, k, lambda a, b: (seen.append(get()), np.dot(a, b))[1])
        step(x, y)
        assert len(seen) == len(gemms) and set(seen) == {1} and get() == 2
        with pytest.raises(ValueError):  # a shape error from inside the plan
            run(np.ones((8, 5), np.float32), y.numpy())
        assert get() == 2
    monkeypatch.undo()
    monkeypatch.setattr(NumpyBackend, "wrap_plan", None)  # the per-GEMM pins alone
    again, _, _, _ = _mlp_step([16, 32, 4], 8)
    with threadpool_limits(2, user_api="blas"):
        want = [again(x, y).item() for _ in range(3)]
        assert again.last.plan.run.__name__ != "run_pinned"
    np.testing.assert_allclose(losses, want, rtol=1e-6)


def test_a_classifier_plan_with_its_loss_kernels_is_pinned_whole():
    """Cross-entropy's nll_loss kernels call no BLAS: a small classifier's plan is
    pinned as a whole, and gives the eager losses."""
    gg.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 5))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    compiled = gg.compile(step)
    x = gg.tensor(RNG.standard_normal((6, 8)).astype(np.float32))
    y = gg.tensor(RNG.integers(0, 5, 6))
    got = [compiled(x, y).item() for _ in range(2)]
    assert compiled.last.plan.run.__name__ == "run_pinned"
    assert {"nll_loss", "nll_loss_backward"} <= {compiled.last.optimized[n]["op"]
                                                 for n in compiled.last.optimized.nx}
    assert all(np.isfinite(got)) and got[1] < got[0]


def test_a_plan_with_a_large_gemm_keeps_the_pool_for_it():
    """A large GEMM anywhere in the plan: no whole-plan pinning (it would lose the
    second thread), each small GEMM keeps its own pin."""
    step, x, y, _ = _mlp_step([1024, 2048, 4], 8)  # 8 x 1024 x 2048 > SMALL_GEMM
    step(x, y)
    assert step.last.plan.run.__name__ != "run_pinned"


@pytest.mark.parametrize("layout", ["transposed view", "strided slice view", "contiguous"])
def test_stacked_transposed_right_operand_is_copied_first(monkeypatch, layout):
    """Attention's q @ k^T: a stack of transposed right operands reaches np.matmul as a
    C-ordered copy (NumPy multiplies the transposed stack ~2x slower); the left operand
    and contiguous stacks are passed as they are; the product equals np.matmul's."""
    a = RNG.random((2, 3, 8, 4), np.float32).transpose(0, 2, 1, 3)  # (2, 8, 3, 4) view
    base = RNG.random((2, 8, 6, 4), np.float32)
    b = {"transposed view": base.transpose(0, 1, 3, 2),
         "strided slice view": base[:, :, :5].transpose(0, 1, 3, 2),
         "contiguous": np.ascontiguousarray(base.transpose(0, 1, 3, 2))}[layout]
    seen, real = [], np.matmul
    monkeypatch.setattr(np, "matmul", lambda x, y: (seen.append((x, y)), real(x, y))[1])
    out = numpy_blas.matmul(a, b)
    np.testing.assert_allclose(out, real(a, b), rtol=1e-6)
    (x, y), = seen
    assert x is a and y.flags.c_contiguous
    assert (y is b) == (layout == "contiguous")

"""The NumPy backend's fast paths give the general kernels' answers.

Oracle: plain NumPy written out directly: float64 `np.sum` for the GEMV row/column sums
(float32 within the rounding a length-n sum allows), `np.maximum(x, 0)` for ReLU,
`np.take_along_axis` / `np.add.at` for gather and its gradient, `np.where` bit for bit
for the masking `where`, `x[idx]` for batch indexing; hand-derived values where the
fast path is easy to get wrong (relu(-inf) = 0, relu(nan) = nan).
"""

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.backends import numpy_fusion
from graphgrad.backends.numpy_backend import _all_finite, where_kernel, zeros_of
from graphgrad.backends.numpy_gemv_sum import GEMV_MAX
from graphgrad.ir.fused import FusedProgram, Step

K = gg.backends.get_backend("numpy").kernels
RNG = np.random.default_rng(11)


# ------------------------------------------------------------------ sum as a GEMV
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (64, 10), (3, GEMV_MAX), (GEMV_MAX, 2)])
@pytest.mark.parametrize("axis", [(0,), (1,)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_row_and_column_sums_match_float64(dtype, shape, axis, keepdims):
    x = RNG.random(shape).astype(dtype)
    got = K["sum"](x, axis=axis, keepdims=keepdims)
    want = np.sum(x.astype(np.float64), axis=axis, keepdims=keepdims)
    assert got.dtype == np.dtype(dtype) and got.shape == want.shape
    n = shape[axis[0]]  # positive terms: relative error at most ~n * eps
    rtol = 1e-13 if dtype == "float64" else max(1e-6, n * 6e-8)
    np.testing.assert_allclose(got, want, rtol=rtol)


@pytest.mark.parametrize("order", ["C", "F", "transposed", "strided"])
def test_sums_of_non_contiguous_matrices(order):
    base = RNG.standard_normal((24, 18))
    x = {"C": base, "F": np.asfortranarray(base), "transposed": base.T,
         "strided": base[::2, ::3]}[order]
    for axis in [(0,), (1,)]:
        np.testing.assert_allclose(K["sum"](x, axis=axis, keepdims=False),
                                   np.sum(x, axis=axis), rtol=1e-12, atol=1e-12)


def test_results_are_fresh_writable_arrays():
    """The plan may write into a kernel's result; the cached ones must not change."""
    x = np.arange(12.0).reshape(3, 4)
    for axis, keepdims in [((0,), False), ((0,), True), ((1,), False), ((1,), True)]:
        first = K["sum"](x, axis=axis, keepdims=keepdims)
        assert first.flags.writeable
        first[...] = -1.0
        np.testing.assert_array_equal(K["sum"](x, axis=axis, keepdims=keepdims),
                                      x.sum(axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("shape, axis", [
    ((0, 5), (0,)), ((5, 0), (1,)), ((0, 0), (0,)),  # empty reductions: zeros
    ((5, 0), (0,)), ((0, 5), (1,)),  # empty results
    ((GEMV_MAX + 1, 3), (0,)), ((2, GEMV_MAX + 1), (1,)),  # too long for a GEMV
    ((4, 5), None), ((4, 5), (0, 1)), ((2, 3, 4), (1,)), ((6,), (0,)),  # not a matrix sum
])
def test_other_sums_are_numpy_sums(shape, axis):
    x = RNG.random(shape)
    for keepdims in (False, True):
        got = K["sum"](x, axis=axis, keepdims=keepdims)
        want = np.add.reduce(x, axis=axis, keepdims=keepdims)
        assert np.shape(got) == want.shape
        np.testing.assert_array_equal(got, want)
    if axis is not None and x.size:
        np.testing.assert_allclose(K["sum"](x, axis=axis, keepdims=False),
                                   np.sum(x, axis=axis, dtype=np.float64), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["int32", "int64", "float16"])
def test_other_dtypes_sum_exactly(dtype):
    x = RNG.integers(-50, 50, (9, 7)).astype(dtype)
    for axis in [(0,), (1,)]:
        got = K["sum"](x, axis=axis, keepdims=False)
        np.testing.assert_array_equal(got, np.add.reduce(x, axis=axis))
        np.testing.assert_array_equal(got.astype(np.int64),
                                      x.astype(np.int64).sum(axis=axis[0]))


def test_sums_propagate_nan_and_inf():
    x = np.ones((4, 3))
    x[1, 0], x[2, 2], x[3, 2] = np.nan, np.inf, -np.inf
    with np.errstate(invalid="ignore"):  # inf - inf warns here as in np.sum
        np.testing.assert_array_equal(K["sum"](x, axis=(0,), keepdims=False),
                                      [np.nan, 4.0, np.nan])
        np.testing.assert_array_equal(K["sum"](x, axis=(1,), keepdims=False),
                                      [3.0, np.nan, np.inf, -np.inf])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(64, 16, 8, 8), (3, 2, 5), (2, 3, 4, 5, 2), (1, 4, 1, 1)])
@pytest.mark.parametrize("layout", ["C", "channels-last"])
def test_per_channel_sums_match_float64(dtype, shape, layout):
    """sum over every axis but 1 (batch norm's statistics): two GEMVs with ones."""
    x = RNG.standard_normal(shape).astype(dtype)
    if layout == "channels-last":
        x = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)
    axis = (0,) + tuple(range(2, len(shape)))
    for keepdims in (False, True):
        got = K["sum"](x, axis=axis, keepdims=keepdims)
        want = np.sum(x.astype(np.float64), axis=axis, keepdims=keepdims)
        assert got.dtype == np.dtype(dtype) and got.shape == want.shape
        magnitude = np.sum(np.abs(x.astype(np.float64)), axis=axis, keepdims=keepdims)
        eps = 1e-15 if dtype == "float64" else 1e-6
        assert (np.abs(got - want) <= eps * magnitude + 1e-30).all()


# ------------------------------------------------------------------ relu
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_relu_of_floats_with_nan_and_infinities(dtype):
    x = np.array([-np.inf, -2.5, -0.0, 0.0, 1e-30, 3.0, np.inf, np.nan], dtype)
    got = K["relu"](x)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, np.array([0, 0, 0, 0, 1e-30, 3, np.inf, np.nan],
                                                dtype))
    matrix = RNG.standard_normal((33, 17)).astype(dtype)
    np.testing.assert_array_equal(K["relu"](matrix), np.where(matrix > 0, matrix, 0))
    np.testing.assert_array_equal(K["relu"](matrix.T), np.where(matrix.T > 0, matrix.T, 0))


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_relu_of_integers_and_bools_keeps_the_dtype(dtype):
    x = RNG.integers(-5, 5, 20).astype(dtype)
    got = K["relu"](x)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, np.maximum(x, 0).astype(dtype))


def test_relu_result_is_not_the_cached_zeros():
    x = -np.ones((5, 4), np.float32)
    zeros = zeros_of((5, 4), np.dtype(np.float32))
    first = K["relu"](x)
    assert first is not zeros and not np.shares_memory(first, zeros)
    first[...] = 7.0  # a plan writing into the result must not change the next one
    np.testing.assert_array_equal(K["relu"](x), np.zeros((5, 4), np.float32))
    assert not zeros.flags.writeable and not zeros.any()
    assert float(K["relu"](np.array(-1.0))) == 0.0 and float(K["relu"](np.array(2.0))) == 2.0


def _relu_program(n, dtype, then_double=True):
    dt = np.dtype(dtype)
    steps = [Step("relu", (0,), {}, (n,), dt)]
    if then_double:
        steps.append(Step("add", (1, 1), {}, (n,), dt))
    return FusedProgram((((n,), dt),), tuple(steps), (len(steps),))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_fused_relu_step(dtype):
    n = 1000
    x = (RNG.standard_normal(n) * 4).astype(dtype)
    if dtype.startswith("float"):
        x[:4] = [np.nan, -np.inf, np.inf, -0.0]
    for then_double in (False, True):
        fn = numpy_fusion.compile_program(_relu_program(n, dtype, then_double), K)
        want = np.maximum(x, np.zeros((), dtype))
        want = (want + want).astype(dtype) if then_double else want
        got = fn(x.copy())
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, want)
        buffer = x.copy()  # written in place when the plan hands the input's buffer in
        np.testing.assert_array_equal(fn(buffer, out=(buffer,)), want)


@pytest.mark.parametrize("threads", [1, 2])
def test_fused_relu_in_chunks(monkeypatch, threads):
    monkeypatch.setattr(numpy_fusion, "_threads", lambda: threads)
    n = 2 * numpy_fusion.CHUNK + 1234
    x = RNG.standard_normal(n).astype(np.float32)
    x[::997] = -np.inf
    x[5::1009] = np.nan
    fn = numpy_fusion.compile_program(_relu_program(n, "float32"), K)
    want = 2 * np.maximum(x, np.float32(0))
    np.testing.assert_array_equal(fn(x), want)
    np.testing.assert_array_equal(fn(x, out=(x,)), want)


# ------------------------------------------------------------------ gather
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("n, c", [(1, 1), (6, 10), (64, 3), (0, 4)])
def test_one_pick_per_row_matches_take_along_axis(dtype, n, c):
    x = (RNG.standard_normal((n, c)) * 10).astype(dtype)
    idx = RNG.integers(0, c, (n, 1))
    got = K["gather"](x, idx, axis=1)
    want = np.take_along_axis(x, idx, 1)
    assert got.shape == want.shape == (n, 1) and got.dtype == x.dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(K["gather"](np.asfortranarray(x), idx, axis=1), want)
    g = RNG.standard_normal((n, 1)).astype(dtype)
    reference = np.zeros((n, c), dtype)
    np.add.at(reference, (np.arange(n), idx[:, 0]), g[:, 0])
    back = K["gather_backward"](g, idx, axis=1, shape=(n, c))
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, reference)


@pytest.mark.parametrize("idx_shape, x_shape, axis", [
    ((5, 2), (5, 4), 1),  # two picks per row (duplicates accumulate)
    ((4, 4), (3, 4), 0),  # along axis 0, more picks than rows
    ((3, 1), (3, 4, 2), 1),  # not a matrix
    ((1, 4), (5, 4), 0),  # along axis 0
])
def test_general_gathers_match_numpy(idx_shape, x_shape, axis):
    x = RNG.standard_normal(x_shape)
    idx = RNG.integers(0, x_shape[axis], idx_shape)
    if len(x_shape) == 3:
        idx = idx[..., None].repeat(2, axis=2)
    if idx_shape == (5, 2):
        idx[:, 1] = idx[:, 0]
    np.testing.assert_array_equal(K["gather"](x, idx, axis=axis),
                                  np.take_along_axis(x, idx, axis))
    g = RNG.standard_normal(np.take_along_axis(x, idx, axis).shape)
    reference = np.zeros(x_shape)
    grids = list(np.indices(idx.shape, sparse=True))
    grids[axis] = idx
    np.add.at(reference, tuple(grids), g)
    np.testing.assert_allclose(K["gather_backward"](g, idx, axis=axis, shape=x_shape),
                               reference, rtol=1e-15)


@pytest.mark.parametrize("bad", [-1, -4, 4, 100])
def test_bad_picks_raise_index_error(bad):
    x = np.arange(12.0).reshape(3, 4)
    idx = np.array([[0], [bad], [3]])
    with pytest.raises(IndexError):
        K["gather"](x, idx, axis=1)
    with pytest.raises(IndexError):  # negative ones too: NumPy would wrap them around
        K["gather_backward"](np.ones((3, 1)), idx, axis=1, shape=(3, 4))


def test_compiled_gradient_of_a_gather_rejects_negative_indices():
    """Only the backward gather runs here (the forward is dead code): it must raise as
    the eager forward does, not wrap -1 around to the last column."""
    def grad_only(x, i):
        return gg.autograd.grad(gg.gather(x, 1, i).sum(), [x])[0]

    x = gg.tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    i = gg.tensor([[0], [2], [-1], [1]])
    with pytest.raises(gg.GraphgradError, match="out of bounds"):
        gg.compile(grad_only)(x, i)


def test_cross_entropy_gradient_through_the_fast_gather():
    """d/dlogits mean(-log softmax(z)[y]) = (softmax(z) - onehot(y)) / n."""
    z = RNG.standard_normal((8, 5))
    y = RNG.integers(0, 5, 8)
    logits = gg.tensor(z, requires_grad=True)
    loss = gg.nn.functional.cross_entropy(logits, gg.tensor(y))
    loss.backward()
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(loss.item(), -np.log(p[np.arange(8), y]).mean(), rtol=1e-12)
    np.testing.assert_allclose(logits.grad.numpy(), (p - np.eye(5)[y]) / 8, rtol=1e-12,
                               atol=1e-15)


@pytest.mark.parametrize("index_dtype", ["int32", "uint8", "int16"])
def test_picks_with_narrow_index_dtypes(index_dtype):
    """The bounds check views indices as unsigned of the same width."""
    x = RNG.standard_normal((4, 3))
    idx = np.array([[2], [0], [1], [2]], dtype=index_dtype)
    np.testing.assert_array_equal(K["gather"](x, idx, axis=1), np.take_along_axis(x, idx, 1))
    if index_dtype != "uint8":
        with pytest.raises(IndexError):
            K["gather"](x, np.array([[2], [-1], [1], [2]], dtype=index_dtype), axis=1)


# ------------------------------------------------------------------ log_softmax of short rows
def _log_softmax64(x):
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(64, 10), (1, 1), (3, 32), (5, 33), (0, 4)])
def test_log_softmax_of_short_rows_matches_float64(dtype, shape):
    x = (RNG.standard_normal(shape) * 5).astype(dtype)
    got = K["log_softmax"](x, axis=1)
    assert got.dtype == np.dtype(dtype) and got.shape == shape and got.flags.c_contiguous
    rtol = 1e-13 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(got, _log_softmax64(x.astype(np.float64)), rtol=rtol,
                               atol=rtol)
    np.testing.assert_allclose(K["log_softmax"](x, axis=-1), got, rtol=rtol, atol=rtol)


def test_log_softmax_of_short_rows_with_extreme_logits():
    """Each row is shifted by its own max: a row far below the others keeps its
    precision, -inf logits get probability 0, and a NaN stays in its row."""
    x = np.array([[1000.0, 0.0, -1000.0],
                  [-1e4, -1e4 - 1.0, -1e4 - 2.0],
                  [0.0, -np.inf, 1.0],
                  [np.nan, 0.0, 1.0]], dtype=np.float32)
    got = K["log_softmax"](x, axis=1)
    shifted = np.array([0.0, -1.0, -2.0])
    row1 = shifted - np.log(np.exp(shifted).sum())
    np.testing.assert_allclose(got[0], [0.0, -1000.0, -2000.0], rtol=1e-6)
    np.testing.assert_allclose(got[1], row1, rtol=1e-6)
    assert got[2, 1] == -np.inf and np.isclose(np.exp(got[2]).sum(), 1.0)
    assert np.isnan(got[3]).all()


# ------------------------------------------------------------------ batch indexing
def test_batch_indexing_matches_fancy_indexing():
    x = RNG.standard_normal((10, 3)).astype(np.float32)
    for idx in (np.array([3, 0, 9, 3]), np.array([-1, -10, 2]), np.array([], np.int64),
                np.array([[1, 2], [3, 4]]), np.array([2, 5], np.uint8)):
        np.testing.assert_array_equal(K["index"](x, idx, spec=(("tensor",),)), x[idx])
    mask = np.arange(10) % 3 == 0
    np.testing.assert_array_equal(K["index"](x, mask, spec=(("tensor",),)), x[mask])
    for bad in (np.array([10]), np.array([-11])):
        with pytest.raises(IndexError):
            K["index"](x, bad, spec=(("tensor",),))


# ------------------------------------------------------------------ where as a masking
def _masked_cases():
    rng = np.random.default_rng(3)
    for dtype in ("float32", "float64"):
        c = rng.random((40, 30)) < 0.5
        a = rng.standard_normal((40, 30)).astype(dtype)
        yield "finite", c, a
        for value in (np.nan, np.inf, -np.inf):
            bad = a.copy()
            bad[~c] = value  # only in entries the mask drops
            yield f"{value} dropped", c, bad
        kept = a.copy()
        kept[c] = np.nan
        yield "nan kept", c, kept
        big = a * np.array(1e30 if dtype == "float32" else 1e200, dtype)  # squares overflow
        big[~c] = np.nan
        yield "huge with nan", c, big
        yield "transposed with nan", c.T, bad.T  # not contiguous: the other finite check


@pytest.mark.parametrize("case", range(14))
def test_masking_where_equals_np_where_bit_for_bit(case):
    name, c, a = list(_masked_cases())[case]
    zero = np.zeros((), a.dtype)
    for args in ((c, a, zero), (~c, zero, a)):
        want = np.where(*args)
        with np.errstate(all="raise"):  # the check itself must not overflow
            got = where_kernel(*args)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)
        out = np.empty_like(a)
        with np.errstate(all="raise"):
            np.testing.assert_array_equal(where_kernel(*args, out=out), want, err_msg=name)
        assert K["where"] is where_kernel


def test_the_finite_check_never_passes_a_non_finite_array():
    rng = np.random.default_rng(5)
    for dtype in ("float32", "float64"):
        for size in (1, 7, 1000):
            a = rng.standard_normal(size).astype(dtype)
            assert _all_finite(a) and _all_finite(a.reshape(-1, 1)[::-1])
            for value in (np.nan, np.inf, -np.inf):
                for pos in (0, size // 2, size - 1):
                    bad = a.copy()
                    bad[pos] = value
                    assert not _all_finite(bad)
                    assert not _all_finite(bad[::-1])  # a strided view
    assert _all_finite(np.arange(10)) and _all_finite(np.zeros((0, 3)))


# ------------------------------------------------------------------ specialized kernels
def _specialized_cases():
    x = RNG.standard_normal((6, 4)).astype(np.float32)
    x3 = RNG.standard_normal((2, 3, 4))
    yield "sum", (x,), {"axis": (0,), "keepdims": False}
    yield "sum", (x,), {"axis": (1,), "keepdims": True}
    yield "relu", (x,), {}
    yield "permute", (x,), {"axes": (1, 0)}
    yield "permute", (x3,), {"axes": (2, 0, 1)}
    yield "reshape", (x3,), {"shape": (6, 4)}
    for idx in (np.array([5, 0, 5, -1]), np.array([1, 2], np.uint8)):
        yield "index", (x, idx), {"spec": (("tensor",),)}
    w = RNG.standard_normal((5, 4)).astype(np.float32)
    yield "matmul", (x, w.T), {}  # an (out, in) weight, as nn.Linear stores it
    yield "matmul", (x.T.astype(np.float64), RNG.standard_normal((3, 6)).T), {}


@pytest.mark.parametrize("case", range(10))
def test_specialized_kernels_give_the_general_kernels_answers(case):
    """Lowering binds `NumpyBackend.specialize`'s kernel where it gives one."""
    op, args, attrs = list(_specialized_cases())[case]
    backend = gg.backends.get_backend("numpy")
    special = backend.specialize(op, [(a.shape, a.dtype) for a in args], attrs)
    assert special is not None
    want = K[op](*args, **attrs)
    got = special(*args)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_chunks_reuse_scratch_buffers_and_omp_num_threads_caps_the_threads(monkeypatch):
    """A chunked program writes its temporaries into per-thread scratch buffers (no
    allocation per chunk); its results match the same program run whole."""
    x = gg.tensor(RNG.standard_normal(2 * numpy_fusion.CHUNK + 5).astype(np.float32))
    f = gg.compile(lambda x: gg.tanh(0.5 * x) * gg.sigmoid(x) + 0.1 * x * x)
    got = f(x).numpy()
    fused = [v for k, v in f.last.plan.run.__globals__.items() if k.startswith("fused_")]
    assert "scratch[" in fused[0].source
    xs = x.numpy().astype(np.float64)
    want = np.tanh(0.5 * xs) / (1 + np.exp(-xs)) + 0.1 * xs * xs
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert numpy_fusion._threads() == 1

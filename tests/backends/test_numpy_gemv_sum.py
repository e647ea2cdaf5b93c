"""Sums over a block of leading or trailing dims as a GEMV (backends/numpy_gemv_sum.py).
Oracle: np.add.reduce in float64 on the same values, for C-ordered inputs (the GEMV)
and other layouts (which keep np.add.reduce)."""

import numpy as np
import pytest

from graphgrad.backends.numpy_gemv_sum import GEMV_MAX, full_sum, gemv_sum


@pytest.mark.parametrize("shape, axis", [
    ((32, 64, 128), (2,)), ((32, 64, 512), (0, 1)), ((4, 3, 5, 2), (2, 3)),
    ((4, 3, 5, 2), (0,)), ((0, 5, 3), (2,)), ((2, 3, 4), (1, 2))])
@pytest.mark.parametrize("keepdims", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_end_block_sums_match_add_reduce(shape, axis, keepdims, dtype):
    kernel = gemv_sum(shape, np.dtype(dtype), axis, keepdims)
    assert kernel is not None
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    tol = 1e-4 if dtype == "float32" else 1e-12  # sums of up to 2048 float32 terms
    for layout in (x, np.asfortranarray(x), x[..., ::-1]):  # the GEMV; np.add.reduce
        want = np.add.reduce(layout.astype(np.float64), axis, keepdims=keepdims)
        got = kernel(layout)
        assert got.shape == want.shape and got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("shape, axis", [
    ((4, 3, 5), (1,)),                 # a middle dim: not a block at either end
    ((4, 3, 5), (0, 1, 2)),            # everything: NumPy's scalar result stays
    ((2, GEMV_MAX + 1, 1), (1, 2)),    # too long for a GEMV's accuracy
    ((3, 4, 5, 6), (0, 2)),
    ((3, 4, 5), None)])                # axis None: everything
def test_other_sums_keep_add_reduce(shape, axis):
    assert gemv_sum(shape, np.dtype("float32"), axis, False) is None


@pytest.mark.parametrize("shape, axis", [((11,), None), ((11,), (0,)), ((32, 16), None),
                                         ((4, 3, 5), (0, 1, 2)), ((GEMV_MAX,), None)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_whole_array_sums_as_a_dot_match_add_reduce(shape, axis, dtype):
    """A short array summed whole (a loss's mean) is a dot product with ones."""
    kernel = full_sum(shape, np.dtype(dtype), axis, False)
    assert kernel is not None
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    tol = 1e-4 if dtype == "float32" else 1e-12
    for layout in (x, x.T, x[::-1]):  # contiguous, transposed, strided
        got = kernel(layout)
        assert np.shape(got) == () and np.asarray(got).dtype == np.dtype(dtype)
        want = np.add.reduce(layout.astype(np.float64), axis=None)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    nan = x.copy()
    nan.flat[0] = np.nan
    assert np.isnan(kernel(nan))  # NaN and Inf propagate as through add.reduce


@pytest.mark.parametrize("shape, axis, keepdims, dtype", [
    ((11,), None, True, "float32"),          # keepdims: add.reduce keeps its shape
    ((3, 4), (0,), False, "float32"),        # not every axis
    ((GEMV_MAX + 1,), None, False, "float32"),  # too long for a dot's accuracy
    ((11,), None, False, "int64"),           # integers: add.reduce, exactly
    ((0,), None, False, "float32")])         # empty
def test_other_whole_sums_keep_add_reduce(shape, axis, keepdims, dtype):
    assert full_sum(shape, np.dtype(dtype), axis, keepdims) is None

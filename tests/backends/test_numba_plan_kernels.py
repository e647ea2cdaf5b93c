"""The helpers the Numba whole plans call (backends/numba_plan_kernels.py), directly.

Oracle: NumPy in float64 (`gemm`: a product in float32 within 1e-4 relative), and the
helpers' own promises (C-ordered results, an empty inner dimension giving zeros, no
byte of `empty_poisoned` left as np.empty gave it).
"""

import numpy as np
import pytest

pytest.importorskip("numba")

from graphgrad.backends.numba_plan_kernels import empty_poisoned, gemm  # noqa: E402


def _layouts(x):
    """x as a C array, an F array (a transposed C array) and a strided view."""
    strided = np.repeat(x, 2, axis=1)[:, ::2] if x.shape[1] else x
    return [x, np.asfortranarray(x), strided]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, k, n", [(3, 4, 5), (64, 128, 16), (1, 7, 1), (5, 0, 3)])
def test_gemm_equals_float64_product_for_every_layout(dtype, m, k, n):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    want = a.astype(np.float64) @ b.astype(np.float64)
    for x in _layouts(a):
        for y in _layouts(b):
            got = gemm(x, y)
            assert got.shape == (m, n) and got.dtype == dtype and got.flags.c_contiguous
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_empty_poisoned_sets_every_byte():
    assert np.isnan(empty_poisoned((3, 2), np.float32)).all()
    assert (empty_poisoned((4,), np.int64) == -1).all()

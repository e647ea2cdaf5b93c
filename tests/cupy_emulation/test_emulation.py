"""The CPU emulation of CuPy keeps the CuPy rules the backend's tests rely on.

Oracles: CuPy's documented behaviour (implicit conversion refused with its message,
host arrays refused, 0-d results, wrap-around indexing, atomics in no fixed order,
ElementwiseKernel's "Type is mismatched"/"Out shape is mismatched" and by-reference
binding, RawKernel's bare pointers), NumPy on the same data for values, and the
activation contract (no `cupy` outside an activation).
"""

import subprocess
import sys

import numpy as np
import pytest

from . import SITE, activate, deactivate, is_emulation, usable

pytestmark = pytest.mark.skipif(not usable()[0], reason=f"emulation unusable: {usable()[1]}")


@pytest.fixture
def cp():
    module = activate()
    yield module
    deactivate()


def test_it_is_labelled_and_only_importable_when_activated(cp):
    assert is_emulation(cp) and "not GPU truth" in cp.__graphgrad_emulation__
    code = "import cupy; print(getattr(cupy, '__graphgrad_emulation__', 'real'))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "not GPU truth" not in proc.stdout  # a child without the path: not ours
    assert str(SITE) not in sys.path


def test_no_implicit_conversion_and_no_host_arrays(cp):
    x = cp.arange(4.0)
    for convert in (np.asarray, np.array, lambda a: np.add(a, 1)):
        with pytest.raises(TypeError):
            convert(x)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(x)
    with pytest.raises(TypeError, match="Unsupported type"):
        cp.add(x, np.ones(4))
    with pytest.raises(TypeError, match="Unsupported type"):
        x * np.ones(4)
    assert isinstance(x.sum(), cp.ndarray) and x.sum().shape == ()
    np.testing.assert_array_equal(cp.asnumpy(x * 2), np.arange(4.0) * 2)


def test_indices_wrap_around_instead_of_raising(cp):
    x = cp.arange(5) * 10
    assert cp.asnumpy(x[cp.array([5, 7, -1])]).tolist() == [0, 20, 40]
    assert cp.asnumpy(cp.take(x, cp.array([6]))).tolist() == [10]
    m = cp.arange(6).reshape(2, 3)
    assert cp.asnumpy(cp.take_along_axis(m, cp.array([[3], [4]]), 1)).tolist() == [[0], [4]]


def test_add_at_sums_duplicates_in_no_fixed_order(cp):
    vals = np.array([1e8, 1, -1e8, 1] * 50, np.float32)
    results = set()
    for _ in range(8):
        out = cp.zeros(1, cp.float32)
        cp.add.at(out, cp.zeros(vals.size, cp.int64), cp.asarray(vals))
        results.add(float(out.item()))
    assert len(results) > 1


def test_elementwise_kernel_type_and_shape_rules(cp):
    k = cp.ElementwiseKernel("float32 a, float32 b", "float32 c", "c = a * b", "mul_k")
    x = cp.arange(6, dtype=cp.float32).reshape(2, 3)
    np.testing.assert_array_equal(cp.asnumpy(k(x, x)), cp.asnumpy(x) ** 2)
    with pytest.raises(TypeError, match="Type is mismatched"):
        k(x, x.astype(cp.float64))
    with pytest.raises(TypeError, match="Type is mismatched"):
        k(x, x, cp.empty((2, 3), cp.float64))
    with pytest.raises(ValueError, match="Out shape is mismatched"):
        k(x, x, cp.empty((3,), cp.float32))
    k(x[0], x[1])  # broadcasting (3,) with (3,) is fine; int16 -> float32 safely casts:
    k(x, cp.arange(3, dtype=cp.int16))


def test_elementwise_kernel_binds_by_reference(cp):
    """CuPy's ElementwiseKernel copies no overlapping input: writing x while reading x.T
    reads elements already overwritten (what the backend must avoid)."""
    copy = cp.ElementwiseKernel("float32 a", "float32 b", "b = a", "copy_k")
    x = cp.arange(9, dtype=cp.float32).reshape(3, 3)
    copy(x.T, x)
    assert not np.array_equal(cp.asnumpy(x), np.arange(9, dtype=np.float32).reshape(3, 3).T)


def test_raw_kernel_runs_its_grid_and_checks_arguments(cp):
    src = r"""extern "C" __global__ void twice(const float* x, float* y, long long n) {
      for (long long i = blockIdx.x * blockDim.x + threadIdx.x; i < n;
           i += (long long)gridDim.x * blockDim.x) y[i] = 2 * x[i];
    }"""
    k = cp.RawKernel(src, "twice")
    x, y = cp.arange(1000, dtype=cp.float32), cp.zeros(1000, cp.float32)
    k((3,), (32,), (x, y, np.int64(1000)))
    np.testing.assert_array_equal(cp.asnumpy(y), 2 * np.arange(1000, dtype=np.float32))
    with pytest.raises(TypeError, match="NumPy scalar"):
        k((1,), (1,), (x, y, 1000))
    with pytest.raises(ValueError, match="C-contiguous"):
        k((1,), (1,), (x[::2], y, np.int64(10)))


def test_its_random_stream_is_not_numpys(cp):
    a = cp.asnumpy(cp.random.RandomState(0).random_sample((5,), dtype=np.float64))
    b = np.random.default_rng(0).random(5)
    assert not np.allclose(a, b)
    again = cp.asnumpy(cp.random.RandomState(0).random_sample((5,), dtype=np.float64))
    np.testing.assert_array_equal(a, again)


def test_functions_the_nn_and_sequence_kernels_use(cp):
    x = np.arange(24.0).reshape(2, 3, 4)
    d = cp.asarray(x)
    strided = cp.lib.stride_tricks.as_strided(d, (2, 3, 2, 3), d.strides + (8,))
    assert strided.shape == (2, 3, 2, 3)
    checks = {
        "einsum": (cp.einsum("abc,abc->a", d, d), np.einsum("abc,abc->a", x, x)),
        "tensordot": (cp.tensordot(d, d, axes=([1, 2], [1, 2])),
                      np.tensordot(x, x, axes=([1, 2], [1, 2]))),
        "matmul": (d @ cp.moveaxis(d, 1, 2), x @ np.moveaxis(x, 1, 2)),
        "sort": (cp.sort(-d, axis=2), np.sort(-x, axis=2)),
        "argsort": (cp.argsort(-d, axis=1), np.argsort(-x, axis=1, kind="stable")),
        "cumsum": (cp.cumsum(d, axis=2), np.cumsum(x, axis=2)),
        "pad": (cp.pad(d, ((0, 0), (1, 1), (2, 0))), np.pad(x, ((0, 0), (1, 1), (2, 0)))),
        "take_along_axis": (cp.take_along_axis(d, cp.zeros((2, 3, 1), cp.int64), 2),
                            x[..., :1]),
        "where": (cp.where(d > 5, d, 0.0), np.where(x > 5, x, 0.0)),
        "flip": (cp.flip(d, 1), np.flip(x, 1)),
    }
    for name, (got, want) in checks.items():
        np.testing.assert_allclose(cp.asnumpy(got), want, err_msg=name)
    cp.cuda.Device(0).synchronize()
    cp.cuda.get_current_stream().synchronize()
    assert cp.cuda.runtime.getDeviceCount() == 1

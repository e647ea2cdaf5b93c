"""The Backend contract itself: name, availability, conversion, kernel coverage.

Oracle: backends/base.py. Arrays of every supported dtype (0-d, empty, strided) must
survive `from_numpy` -> `to_numpy` unchanged, `from_numpy` must copy (rule
'from-numpy-copies': changing the caller's array afterwards changes nothing), and
every registered op needs a kernel unless the backend declares it unsupported.
"""

import numpy as np
import pytest

from graphgrad.backends import Backend
from graphgrad.backends.conformance.cases import selected
from graphgrad.backends.conformance.checks import ConformanceFailure, check_array
from graphgrad.backends.conformance.plugin import backend_name
from graphgrad.ops import REGISTRY

pytestmark = pytest.mark.conformance(check="contract")

ARRAYS = {
    "float32": np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4),
    "float64": np.linspace(-3, 3, 12).reshape(3, 4),
    "int64": np.arange(-6, 6, dtype=np.int64).reshape(3, 4),
    "bool": np.arange(12).reshape(3, 4) % 3 == 0,
}


def test_name_and_availability(backend, request):
    assert isinstance(backend, Backend)
    spec = backend_name(request.config)
    if ":" not in spec:  # module:Class registers the class under its own name
        assert backend.name == spec, f"backend.name is {backend.name!r}, installed as {spec!r}"
    ok, reason = type(backend).availability()
    assert ok is True and isinstance(reason, str)


@pytest.mark.parametrize("dtype", sorted(ARRAYS))
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided", "0-d", "empty"])
def test_round_trip(backend, dtype, layout):
    if dtype in backend.unsupported_dtypes:
        pytest.skip(f"unsupported: backend {backend.name!r} declares dtype {dtype} in "
                    "unsupported_dtypes")
    a = ARRAYS[dtype]
    a = {"contiguous": a, "transposed": a.T, "strided": a[::2, ::3], "0-d": a[1, 2],
         "empty": a[:0]}[layout]
    a = np.asarray(a)
    where = f"from_numpy/to_numpy of a {layout} {a.dtype}{list(a.shape)} array"
    x = backend.from_numpy(a)
    check_array(x, where, "from_numpy")
    back = backend.to_numpy(x)
    if not isinstance(back, np.ndarray):
        raise ConformanceFailure(where, f"to_numpy returned {type(back).__name__}, not a "
                                 "numpy.ndarray", "to-numpy")
    if back.dtype != a.dtype or back.shape != a.shape or not np.array_equal(back, a):
        raise ConformanceFailure(where, f"the round trip gave {back.dtype}{list(back.shape)} "
                                 "with other values", "to-numpy",
                                 cause="from_numpy/to_numpy changed the array")


@pytest.mark.parametrize("dtype", sorted(ARRAYS))
@pytest.mark.parametrize("layout", ["contiguous", "0-d"])
def test_from_numpy_copies(backend, dtype, layout):
    if dtype in backend.unsupported_dtypes:
        pytest.skip(f"unsupported: backend {backend.name!r} declares dtype {dtype} in "
                    "unsupported_dtypes")
    a = np.array(ARRAYS[dtype] if layout == "contiguous" else ARRAYS[dtype][1, 2])
    original = a.copy()
    x = backend.from_numpy(a)
    a[...] = np.logical_not(a) if a.dtype == bool else a * 2 + 1
    if not np.array_equal(backend.to_numpy(x), original):
        raise ConformanceFailure(f"from_numpy of a {layout} {a.dtype}{list(a.shape)} array",
                                 "changing the caller's array afterwards changed the "
                                 "backend's array: from_numpy shares its memory",
                                 "from-numpy-copies")


@pytest.mark.parametrize("op", selected(REGISTRY))
def test_kernel_exists(backend, op):
    assert op in backend.kernels, (f"backend {backend.name!r} has no kernel for op {op!r}; "
                                   "add one or list the op in unsupported_ops")

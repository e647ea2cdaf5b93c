"""The Backend contract itself: name, availability, conversion, kernel coverage.

Oracle: backends/base.py. Arrays of every supported dtype (0-d, empty, strided) must
survive `from_numpy` -> `to_numpy` unchanged, and every registered op needs a kernel
unless the backend declares it unsupported.
"""

import numpy as np
import pytest

from graphgrad.backends import Backend
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
    back = backend.to_numpy(backend.from_numpy(a))
    assert isinstance(back, np.ndarray)
    assert back.dtype == a.dtype and back.shape == a.shape
    assert np.array_equal(back, a)


@pytest.mark.parametrize("op", sorted(REGISTRY))
def test_kernel_exists(backend, op):
    assert op in backend.kernels, (f"backend {backend.name!r} has no kernel for op {op!r}; "
                                   "add one or list the op in unsupported_ops")

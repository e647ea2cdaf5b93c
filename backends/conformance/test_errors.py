"""Error behaviour: what a backend must refuse, and how the refusal reads.

Oracle: the contract in backends/base.py. A kernel given operands that do not fit
must raise (graphgrad turns it into a ShapeError naming the op); an op without a
kernel, or one the backend declares unsupported, gives a BackendError naming the
backend and the op; a dtype the backend declares unsupported is refused when an
array of it is converted.
"""

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.backends.conformance.cases import samples_of, selected
from graphgrad.backends.conformance.checks import to_backend
from graphgrad.ops import REGISTRY, Op

pytestmark = pytest.mark.conformance(check="errors")


MISFITS = {"add": [(3,), (4,)], "mul": [(2, 3), (3, 2)], "matmul": [(3, 4), (5, 2)]}


@pytest.mark.parametrize("op, shapes", [(op, MISFITS[op]) for op in selected(MISFITS)])
def test_operands_that_do_not_fit_raise_a_shape_error(backend, op, shapes):
    xs = to_backend(backend, [np.ones(s, np.float32) for s in shapes])
    with pytest.raises(gg.ShapeError, match=op):
        REGISTRY[op](*xs)
        pytest.fail(f"op {op!r} on ({', '.join(f'float32{list(s)}' for s in shapes)}): the "
                    "kernel accepted operands that do not fit instead of raising")


def test_an_op_without_a_kernel_is_a_backend_error(backend):
    op = Op("conformance_no_such_kernel")
    op.infer = lambda x: (x.shape, x.dtype)
    try:
        (x,) = to_backend(backend, [np.ones(2, np.float32)])
        with pytest.raises(gg.BackendError, match=f"{backend.name}.*conformance_no_such_kernel"):
            op(x)
    finally:
        del REGISTRY[op.name]




def test_declared_unsupported_ops_raise_backend_errors(backend):
    ops = [op for op in sorted(backend.unsupported_ops) if op in REGISTRY and samples_of(op)]
    if not ops:
        pytest.skip(f"backend {backend.name!r} declares no unsupported ops")
    for op in ops:
        sample = samples_of(op)[0]
        with pytest.raises(gg.GraphgradError, match=op):
            REGISTRY[op](*to_backend(backend, [np.asarray(a) for a in sample.args]),
                         **sample.kwargs)
            pytest.fail(f"backend {backend.name!r} declares op {op!r} in unsupported_ops, but "
                        f"calling it did not raise: remove its kernel (kernels.pop({op!r}))")


def test_declared_unsupported_dtypes_are_refused(backend):
    if not backend.unsupported_dtypes:
        pytest.skip(f"backend {backend.name!r} declares no unsupported dtypes")
    for dtype in sorted(backend.unsupported_dtypes):
        with pytest.raises(gg.GraphgradError, match=dtype):
            backend.from_numpy(np.zeros(3, dtype=dtype))

"""Every registered op's forward result against a NumPy float64 computation.

Oracle: `gg_reference.REFERENCE`, NumPy float64 implementations written from each op's
definition, run on the op's own `samples()` (broadcasting, 0-d and empty shapes
included). float32 results must agree to float32 resolution; shapes and dtypes must
match the op's shape/dtype rule.
"""

import numpy as np
import pytest
from gg_reference import REFERENCE, float64_args, op_cases, sampled_ops, to_tensor

from graphgrad.ops import REGISTRY
from graphgrad.ops.common import Sample

TOL = {np.dtype("float32"): dict(rtol=1e-5, atol=1e-6),
       np.dtype("float64"): dict(rtol=1e-12, atol=1e-12)}


def test_every_op_has_samples_and_a_reference():
    missing = [name for name, op in REGISTRY.items() if not op.random
               and (op.samples is None or not op.samples() or name not in REFERENCE)]
    assert not missing, f"ops without samples or a NumPy reference: {missing}"


def test_samples_cover_broadcasting_zero_d_and_empty():
    shapes = [np.shape(a) for op in sampled_ops() for s in op.samples() for a in s.args]
    assert () in shapes
    assert any(0 in s for s in shapes)
    binary = [s for op in sampled_ops() if op.elementwise for s in op.samples()
              if len(s.args) == 2 and np.shape(s.args[0]) != np.shape(s.args[1])]
    assert binary


@pytest.mark.parametrize("op, sample", op_cases())
def test_forward_matches_numpy_float64(op, sample):
    for dt in sample.dtypes:
        inputs = [to_tensor(a, dt) for a in sample.args]
        # The reference sees the same (rounded) inputs, computed in float64.
        expected = REFERENCE[op.name](*float64_args(Sample([t.numpy() for t in inputs])),
                                      **sample.kwargs)
        out = op(*inputs, **sample.kwargs)
        shape, dtype = op.infer(*inputs, **sample.kwargs)
        assert out.shape == tuple(shape) == np.shape(expected)
        assert out.dtype == dtype
        got = out.numpy()
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, expected, **TOL[got.dtype])
        else:
            np.testing.assert_array_equal(got, expected)


def test_softmax_family_is_stable_for_large_logits():
    import graphgrad as gg

    x = gg.tensor([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]])
    assert np.isfinite(gg.softmax(x, 1).numpy()).all()
    np.testing.assert_allclose(gg.log_softmax(x, 1).numpy()[0], [0.0, -1000.0, -2000.0])
    np.testing.assert_allclose(gg.logsumexp(x, 1).numpy(), [1000.0, -1e4 + np.log(3)],
                               rtol=1e-6)

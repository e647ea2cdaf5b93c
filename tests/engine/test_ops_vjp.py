"""Every differentiable op's VJP rule against central finite differences in float64.

Oracle: `gg.gradcheck` (central differences, eps 1e-6, in float64) over each op's own
`samples()`, for the argument positions the sample marks as differentiable. Also
checks that non-differentiable ops never record a gradient history.
"""

import numpy as np
import pytest
from gg_reference import op_cases, to_tensor

import graphgrad as gg


def _inputs(sample, dtype=np.float64):
    tensors = [to_tensor(a, dtype) for a in sample.args]
    for i in sample.diff:
        tensors[i].requires_grad_(True)
    return tensors


@pytest.mark.parametrize("op, sample", op_cases(differentiable=True, with_diff=True))
def test_vjp_matches_finite_differences(op, sample):
    assert op.vjp is not None, f"{op.name} is differentiable but has no VJP rule"
    assert gg.gradcheck(lambda *xs: op(*xs, **sample.kwargs), _inputs(sample))


@pytest.mark.parametrize("op, sample", op_cases(differentiable=True, with_diff=True))
def test_vjp_shapes_and_dtypes_match_inputs(op, sample):
    inputs = _inputs(sample, np.float32)
    out = op(*inputs, **sample.kwargs)
    out.backward(gg.ones_like(out))
    for i in sample.diff:
        assert inputs[i].grad.shape == inputs[i].shape
        assert inputs[i].grad.dtype == inputs[i].dtype


@pytest.mark.parametrize("op, sample", op_cases(differentiable=False))
def test_non_differentiable_ops_record_no_history(op, sample):
    tensors = [to_tensor(a, np.float64) for a in sample.args]
    for t in tensors:
        if t.dtype.kind == "f":
            t.requires_grad_(True)
    out = op(*tensors, **sample.kwargs)
    assert not out.requires_grad and out.grad_fn is None

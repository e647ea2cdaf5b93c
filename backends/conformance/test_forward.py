"""Forward results of every registered op against the NumPy float64 reference.

Inputs come from each op's `samples()` in every dtype it takes, laid out contiguously
and strided, scaled large and tiny, and seeded with NaN/Inf (see cases.py). The
kernel must return an array (rule 'array-type') of the shape and dtype the op's
`infer` rule promises ('result-type'), leave its operands unchanged
('no-input-writes'), and agree with the reference to the dtype's tolerance.
"""

import pytest

from graphgrad.backends.conformance.cases import compare, forward_cases
from graphgrad.backends.conformance.checks import (
    ConformanceFailure,
    describe,
    expected_type,
    run_case,
)
from graphgrad.backends.conformance.plugin import record_error

pytestmark = [pytest.mark.conformance(check="forward"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


@pytest.mark.parametrize("case", forward_cases(), ids=str)
def test_forward(backend, case, request):
    out = run_case(backend, case)
    shape, dtype = expected_type(case)
    if out.dtype != dtype:
        raise ConformanceFailure(describe(case), f"result dtype {out.dtype}, the op's rule "
                                 f"says {dtype}", "result-type",
                                 cause="result dtype differs from the op's rule")
    if out.shape != shape:
        raise ConformanceFailure(describe(case), f"result shape {out.shape}, the op's rule "
                                 f"says {shape}", "result-type",
                                 cause="result shape differs from the op's rule")
    expected, magnitude = case.reference()
    rtol, atol = case.tolerance()
    ratio, abs_err, where = compare(out, expected, rtol, atol, magnitude)
    record_error(request.node, ratio, abs_err, f"forward {case.dtype} {case.variant}")
    if ratio > 1.0:
        raise ConformanceFailure(
            describe(case), f"result differs from the NumPy float64 reference {where} "
            f"(|error| {abs_err:.3g}, rtol={rtol:g}, atol={atol:g})",
            cause=f"op {case.op!r}: result differs from the NumPy float64 reference")

"""Forward results of every registered op against the NumPy float64 reference.

Inputs come from each op's `samples()` in every dtype it takes, laid out contiguously
and strided, scaled large and tiny, and seeded with NaN/Inf (see cases.py). The
result must have the shape and dtype the op's `infer` rule promises and agree with
the reference to the dtype's tolerance.
"""

import numpy as np
import pytest

from graphgrad.backends.conformance.cases import compare, forward_cases
from graphgrad.backends.conformance.checks import describe, expected_type, run_case
from graphgrad.backends.conformance.plugin import record_error

pytestmark = [pytest.mark.conformance(check="forward"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


@pytest.mark.parametrize("case", forward_cases(), ids=str)
def test_forward(backend, case, request):
    out = run_case(backend, case)
    assert isinstance(out, np.ndarray), \
        f"{describe(case)}: to_numpy returned {type(out).__name__}, not a NumPy array"
    shape, dtype = expected_type(case)
    assert out.dtype == dtype, (f"{describe(case)}: result dtype {out.dtype}, the op's rule "
                                f"says {dtype}")
    assert out.shape == shape, (f"{describe(case)}: result shape {out.shape}, the op's rule "
                                f"says {shape}")
    expected, magnitude = case.reference()
    rtol, atol = case.tolerance()
    ratio, abs_err, where = compare(out, expected, rtol, atol, magnitude)
    record_error(request.node, ratio, abs_err, f"forward {case.dtype} {case.variant}")
    assert ratio <= 1.0, (f"{describe(case)}: result differs from the NumPy float64 reference "
                          f"{where} (|error| {abs_err:.3g}, rtol={rtol:g}, atol={atol:g})")

"""VJPs on the backend under test against central finite differences (`gg.gradcheck`).

Every differentiable op's samples, in float64, on the backend: the reverse-mode rule
runs with this backend's kernels (including backward-only ones such as
`gather_backward` and `index_backward`), the finite differences with its forward
kernels. Oracle: central differences, eps=1e-6, atol=1e-5, rtol=1e-3. When a check
fails, every kernel it ran is replayed on the NumPy reference (blame.py), and the
failure is blamed on the kernel that disagrees: a broken `gather_backward` is
reported as `gather_backward`, not as `gather`.
"""

import pytest

from graphgrad.backends.conformance.blame import blame, recording
from graphgrad.backends.conformance.cases import vjp_cases
from graphgrad.backends.conformance.checks import ConformanceFailure, describe, to_backend
from graphgrad.backends.conformance.plugin import BLAME, record_error
from graphgrad.gradcheck import check_gradients
from graphgrad.ops import REGISTRY

pytestmark = [pytest.mark.conformance(check="vjp"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


@pytest.mark.parametrize("case", vjp_cases(), ids=str)
def test_vjp(backend, case, request):
    inputs = to_backend(backend, case.arrays())
    for i in case.sample.diff:
        inputs[i].requires_grad_(True)
    op, kwargs = REGISTRY[case.op], case.kwargs()
    where = f"{describe(case)} on backend {backend.name!r}"
    with recording(backend) as calls:
        try:
            result = check_gradients(lambda *xs: op(*xs, **kwargs), inputs)
        except Exception as exc:
            if calls.violations:
                request.node.user_properties.append((BLAME, calls.violations[0].kernel))
                raise calls.violations[0] from exc
            raise ConformanceFailure(where, f"the gradient check raised {type(exc).__name__}: "
                                     f"{exc}") from exc
    if calls.violations:
        request.node.user_properties.append((BLAME, calls.violations[0].kernel))
        raise calls.violations[0]
    if result.worst is not None:
        w = result.worst
        record_error(request.node, w.ratio, abs(w.analytical - w.numerical), "vjp float64")
    if result.passed:
        return
    culprits = blame(calls)
    if not culprits:
        raise ConformanceFailure(where, result.message, cause=f"the VJP of op {case.op!r} "
                                 "is wrong")
    call, problem = culprits[0]
    request.node.user_properties.append((BLAME, call.op))
    raise ConformanceFailure(
        where, f"the gradient is wrong because kernel {call.op!r} is: on {call}, its "
        f"{problem}. (gradcheck: {result.message})",
        cause=f"kernel {call.op!r} disagrees with the NumPy reference")

"""Shared fixtures: every test starts from the same seed and the NumPy backend.

BLAS is limited to one thread while tests run (when threadpoolctl, which comes with
scikit-learn, is installed): the tests use small matrices, for which OpenBLAS's thread
pool only adds contention on a busy machine.
"""

import os

import numpy as np
import pytest
from cupy_emulation import usable as emulation_usable
from cupy_emulation.fixtures import GPU, GPU_REASON

import graphgrad as gg

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None


@pytest.fixture(autouse=True, scope="session")
def _single_threaded_blas():
    if threadpool_limits is None:
        yield
        return
    with threadpool_limits(1):
        yield


@pytest.fixture(autouse=True)
def _seeded():
    gg.manual_seed(0)
    np.random.seed(0)
    gg.set_default_backend("numpy")
    yield
    gg.set_default_backend("numpy")


# In CI (CI=true) a test that skips because a reference is missing is a defect, not a
# pass: PyTorch and scikit-learn are installed by the test command, so such a skip means
# the command is broken. Only skips for hardware this machine lacks (a GPU) stay skips.
_REFERENCES = ("torch", "sklearn", "matplotlib", "dot", "mpirun", "Numba", "numba")


def _fail_missing_reference(report) -> None:
    if not (report.skipped and os.environ.get("CI") == "true"):
        return
    reason = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr)
    if any(name in reason for name in _REFERENCES):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where the test command installs it: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_missing_reference(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield  # a module-level importorskip skips at collection
    _fail_missing_reference(outcome.get_result())


def pytest_report_header(config):
    """Say that the `cupy-emulated` tests run on a CPU emulation of CuPy, not a GPU."""
    ok, why = emulation_usable()
    emulation = ("CPU emulation of CuPy (tests/cupy_emulation) runs the [cupy-emulated] tests:"
                 " not GPU truth" if ok else f"CuPy emulation unusable: {why}")
    gpu = "a CUDA device runs the [cupy-gpu] tests" if GPU else f"no GPU tests ({GPU_REASON})"
    return f"cupy: {emulation}; {gpu}"

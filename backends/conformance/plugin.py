"""The pytest plugin behind `pytest --pyargs graphgrad.backends.conformance --backend NAME`.

pytest loads conftest options only from paths given on the command line, not from
`--pyargs` packages, so the `--backend` option lives here and graphgrad registers this
module under pytest's `pytest11` entry point. Everything it does is limited to the
suite's own tests (marked `conformance`): it picks the backend, turns the backend's
declarations (`unsupported_ops`, `unsupported_dtypes`, `expected_failures`) into skips
and xfails with reasons, and ends the run with a report that leads to the cause:
the failures grouped by shared cause (one contract mistake shows as one line with a
count, not as 44 failing ops), then, as the run's last lines (after pytest's own list
of failures), the per-op table: pass / FAIL / unsupported / expected failure, the
worst error seen, and the kernel a failure is blamed on.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

ENV = "GRAPHGRAD_CONFORMANCE_BACKEND"
SESSION = "graphgrad-conformance-session"
_BACKEND = pytest.StashKey[object]()
#: user property: the op whose kernel a failure is blamed on (blame.py)
BLAME = "conformance_blame"
CAUSE = "conformance_cause"


def pytest_addoption(parser) -> None:
    group = parser.getgroup("graphgrad", "graphgrad backend conformance")
    group.addoption("--backend", dest="graphgrad_backend", metavar="NAME", default=None,
                    help="backend to run graphgrad's conformance suite on: an installed "
                         f"name, or module:Class (default: ${ENV} or numpy)")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "conformance(check): a test of graphgrad's backend "
                                       "conformance suite")
    if not config.pluginmanager.has_plugin(SESSION):
        config.pluginmanager.register(ConformanceSession(config), SESSION)


def backend_name(config) -> str:
    return (config.getoption("graphgrad_backend", default=None) or os.environ.get(ENV)
            or "numpy")


def backend_under_test(config):
    """The backend instance the run checks; `module:Class` registers the class first."""
    if _BACKEND in config.stash:
        return config.stash[_BACKEND]
    from graphgrad.backends import get_backend, register
    from graphgrad.errors import BackendError

    spec = backend_name(config)
    if ":" in spec:
        cls = load_class(spec)
        register(cls.name, cls)
        spec = cls.name
    try:
        backend = get_backend(spec)
    except BackendError as exc:
        raise pytest.UsageError(f"graphgrad conformance: {exc}") from None
    config.stash[_BACKEND] = backend
    return backend


def load_class(spec: str):
    """The class `module.path:Class` names, imported from the current directory too
    (a backend's own folder, before it is installed), or a UsageError saying why not."""
    module, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise pytest.UsageError(
            f"graphgrad conformance: cannot load backend class {spec!r} (looked in "
            f"{os.getcwd()} and sys.path): {type(exc).__name__}: {exc}") from None


# ---------------------------------------------------------------------- declarations

def _identity(item) -> tuple[str, str, object]:
    """(op, check, case) of a conformance test."""
    marker = item.get_closest_marker("conformance")
    check = marker.kwargs.get("check", item.originalname) if marker else item.originalname
    params = getattr(item, "callspec", None)
    params = params.params if params else {}
    case = params.get("case")
    row = marker.kwargs.get("row", "(backend)") if marker else "(backend)"
    op = getattr(case, "op", None) or params.get("op") or row
    if not isinstance(op, str):  # an empty parametrization (no op selected by --ops)
        op = row
    return op, check, case


def declare(backend, items) -> None:
    """Mark the tests of ops/dtypes the backend does not support, and its known failures."""
    from graphgrad.backends.conformance.cases import matching_declaration

    for item in items:
        op, check, case = _identity(item)
        item.user_properties.append(("conformance", (op, check)))
        if op in backend.unsupported_ops:
            item.add_marker(pytest.mark.skip(
                reason=f"unsupported: backend {backend.name!r} declares op {op!r} in "
                       "unsupported_ops"))
            continue
        lacking = sorted(getattr(case, "dtypes_used", set()) & set(backend.unsupported_dtypes))
        if lacking:
            item.add_marker(pytest.mark.skip(
                reason=f"unsupported: backend {backend.name!r} declares dtype "
                       f"{', '.join(lacking)} in unsupported_dtypes"))
            continue
        reason = matching_declaration(dict(backend.expected_failures), op, item.name)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=f"expected failure: {reason}",
                                              strict=False))


def record_error(node, ratio: float, abs_error: float, what: str) -> None:
    """Let the report show this test's worst error (`ratio` = error / tolerance)."""
    node.user_properties.append(("conformance_error", (float(ratio), float(abs_error), what)))


# ---------------------------------------------------------------------- report

@dataclass
class OpRecord:
    counts: dict = field(default_factory=lambda: defaultdict(int))
    failed_checks: set = field(default_factory=set)
    reasons: set = field(default_factory=set)
    worst: tuple = (0.0, 0.0, "")  # (error / tolerance, absolute error, where)
    blamed_by: set = field(default_factory=set)  # ops whose failures this kernel caused
    blames: set = field(default_factory=set)  # kernels this op's failures are blamed on


class ConformanceSession:
    """Per-run state: applies the backend's declarations, collects the per-op report."""

    def __init__(self, config):
        self.config = config
        self.records: dict[str, OpRecord] = {}
        self.causes: dict[str, list[str]] = defaultdict(list)  # cause -> failing ops

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items) -> None:
        mine = [item for item in items if item.get_closest_marker("conformance")]
        if mine:
            declare(backend_under_test(config), mine)

    @pytest.hookimpl(hookwrapper=True)  # old-style: works with every pytest >= 7
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if call.excinfo is not None and item.get_closest_marker("conformance"):
            report.user_properties.append((CAUSE, cause_of(call.excinfo.value)))

    def pytest_runtest_logreport(self, report) -> None:
        props = dict(report.user_properties)
        if "conformance" not in props or (report.when != "call" and report.passed):
            return
        outcome = _outcome(report)
        if report.when == "teardown" and outcome != "failed":
            return
        op, check = props["conformance"]
        rec = self.records.setdefault(op, OpRecord())
        rec.counts[outcome] += 1
        if outcome == "failed":
            rec.failed_checks.add(check)
            self._blame(op, check, props)
        if outcome in ("unsupported", "xfail"):
            rec.reasons.add(_reason(report))
        for name, value in report.user_properties:
            if name == "conformance_error" and value[0] > rec.worst[0]:
                rec.worst = value

    def _blame(self, op: str, check: str, props: dict) -> None:
        culprit = props.get(BLAME)
        if culprit is not None and culprit != op:
            self.records[op].blames.add(culprit)
            self.records.setdefault(culprit, OpRecord()).blamed_by.add(
                f"the vjp of {op}" if check == "vjp" else f"{check} training"
                if check == "compiled" else f"{check} of {op}")
        self.causes[props.get(CAUSE, "(no message)")].append(op)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config) -> None:
        # After pytest's failures, short summary and final counts: the run's last lines.
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if not self.records or terminal is None:
            return
        from graphgrad.backends.conformance.report import format_causes, format_report

        backend = self.config.stash.get(_BACKEND, None)
        name = getattr(backend, "name", backend_name(self.config))
        terminal.write_sep("=", f"graphgrad conformance report: backend {name!r}")
        for line in format_causes(self.causes) + format_report(self.records):
            terminal.write_line(line)


def cause_of(exc: BaseException) -> str:
    """What a failure shares with others of the same mistake: the failure's `cause`
    (checks.py), else its exception type and first line, numbers masked."""
    cause = getattr(exc, "cause", None)
    if cause is None:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        cause = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return re.sub(r"(?<![\w.])-?\d+(\.\d+)?(e[-+]?\d+)?(?!-d)", "#", cause)[:300]


def _outcome(report) -> str:
    if hasattr(report, "wasxfail"):
        return "xpass" if report.passed else "xfail"
    if report.skipped:
        return "unsupported" if _reason(report).startswith("unsupported") else "skipped"
    return report.outcome


def _reason(report) -> str:
    if hasattr(report, "wasxfail"):
        return report.wasxfail.removeprefix("reason: ")
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")

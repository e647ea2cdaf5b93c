"""The per-op table printed at the end of a conformance run.

One line per op: its status (FAIL when any of its tests failed, naming the checks;
pass; unsupported; expected failure), how many tests ended which way, and the worst
error seen relative to the tolerance (1.0 = at the tolerance) with where it was seen.
Declared unsupported ops/dtypes and expected failures are listed with their reasons,
never counted as passed. A failure blamed on another op's kernel (a VJP check that
fails because `gather_backward` is wrong) marks both: the victim's line says which
kernel is to blame, the culprit's line says FAIL even when its own tests pass. Before
the table, failures are grouped by cause, most frequent first, so one contract
mistake that fails many ops reads as one line with a count.
"""

from __future__ import annotations

ORDER = ("passed", "failed", "xfail", "xpass", "unsupported", "skipped")


MAX_CAUSES = 12


def status(rec) -> str:
    c = rec.counts
    if c["failed"] or rec.blamed_by:
        checks = sorted(rec.failed_checks)
        if rec.blames:
            checks = [f"{ch}: kernel {', '.join(sorted(rec.blames))} is wrong"
                      if ch in ("vjp", "compiled") else ch for ch in checks]
        if rec.blamed_by:
            checks.append(f"breaks {', '.join(sorted(rec.blamed_by))}")
        return f"FAIL ({'; '.join(checks)})"
    notes = [f"{c[k]} {k}" for k in ("xfail", "xpass", "unsupported") if c[k]]
    if c["passed"]:
        return "pass" + (f" (also {', '.join(notes)})" if notes else "")
    if c["xfail"] or c["xpass"]:
        return "expected failure" + (f" ({c['xpass']} xpass)" if c["xpass"] else "")
    if c["unsupported"]:
        return "unsupported"
    return "skipped"


def format_report(records: dict) -> list[str]:
    rows = []
    for op in sorted(records, key=lambda o: (o.startswith("("), o)):
        rec = records[op]
        counts = ", ".join(f"{rec.counts[k]} {k}" for k in ORDER if rec.counts[k])
        ratio, abs_err, where = rec.worst
        worst = f"{ratio:.2g}x tol (abs {abs_err:.2g}, {where})" if ratio else "-"
        rows.append((op, status(rec), counts, worst))
    widths = [max(len(r[i]) for r in rows + [("op", "status", "tests", "")]) for i in range(3)]
    lines = [f"{'op':<{widths[0]}}  {'status':<{widths[1]}}  {'tests':<{widths[2]}}  "
             "worst error"]
    lines += [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in rows]
    failed = [op for op, rec in records.items() if rec.counts["failed"] or rec.blamed_by]
    reasons = sorted({(op, r) for op, rec in records.items() for r in rec.reasons})
    if reasons:
        lines.append("declared by the backend:")
        lines += [f"  {op}: {r}" for op, r in reasons]
    total = sum(sum(rec.counts.values()) for rec in records.values())
    lines.append(f"{len(records)} ops, {total} tests: "
                 + (f"FAILED for {', '.join(sorted(failed))}" if failed else "conformant"))
    return lines


def format_causes(causes: dict) -> list[str]:
    """The failures grouped by cause (checks.py), the most frequent first."""
    if not causes:
        return []
    ranked = sorted(causes.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    lines = [f"failures by cause ({sum(len(v) for v in causes.values())} failures, "
             f"{len(causes)} causes):"]
    for cause, ops in ranked[:MAX_CAUSES]:
        names = sorted(set(ops))
        shown = ", ".join(names[:8]) + (f", ... ({len(names)} ops)" if len(names) > 8 else "")
        lines.append(f"  {len(ops):>4} x in {shown}: {cause}")
    if len(ranked) > MAX_CAUSES:
        lines.append(f"  ... and {len(ranked) - MAX_CAUSES} more causes")
    return lines

"""The per-op table printed at the end of a conformance run.

One line per op: its status (FAIL when any of its tests failed, naming the checks;
pass; unsupported; expected failure), how many tests ended which way, and the worst
error seen relative to the tolerance (1.0 = at the tolerance) with where it was seen.
Declared unsupported ops/dtypes and expected failures are listed with their reasons,
never counted as passed.
"""

from __future__ import annotations

ORDER = ("passed", "failed", "xfail", "xpass", "unsupported", "skipped")


def status(rec) -> str:
    c = rec.counts
    if c["failed"]:
        return f"FAIL ({', '.join(sorted(rec.failed_checks))})"
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
    for op in sorted(records, key=lambda o: (o == "(backend)", o)):
        rec = records[op]
        counts = ", ".join(f"{rec.counts[k]} {k}" for k in ORDER if rec.counts[k])
        ratio, abs_err, where = rec.worst
        worst = f"{ratio:.2g}x tol (abs {abs_err:.2g}, {where})" if ratio else "-"
        rows.append((op, status(rec), counts, worst))
    widths = [max(len(r[i]) for r in rows + [("op", "status", "tests", "")]) for i in range(3)]
    lines = [f"{'op':<{widths[0]}}  {'status':<{widths[1]}}  {'tests':<{widths[2]}}  "
             "worst error"]
    lines += [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in rows]
    failed = [op for op, rec in records.items() if rec.counts["failed"]]
    reasons = sorted({(op, r) for op, rec in records.items() for r in rec.reasons})
    if reasons:
        lines.append("declared by the backend:")
        lines += [f"  {op}: {r}" for op, r in reasons]
    total = sum(sum(rec.counts.values()) for rec in records.values())
    lines.append(f"{len(records)} ops, {total} tests: "
                 + (f"FAILED for {', '.join(sorted(failed))}" if failed else "conformant"))
    return lines

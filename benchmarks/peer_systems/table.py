"""The one table of benchmarks/peers.py (Markdown): per workload and system, time per
step at both thread settings with its spread and ratio to hand NumPy, peak RSS and
first-call time."""

from __future__ import annotations

LOSS_RTOL = 1e-3


def fmt_time(t: float | None) -> str:
    if t is None:
        return ""
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.1f} µs"


def _cell(row: dict | None, base: dict | None) -> str:
    if not row:
        return "–"
    if "error" in row:
        return f"n/a ({row['error']})"
    text = f"{fmt_time(row['median'])} ({fmt_time(row['lo'])}–{fmt_time(row['hi'])})"
    if base and "median" in base and base is not row:
        text += f" **{row['median'] / base['median']:.2f}x**"
    return text


def _memory(row: dict | None) -> tuple[str, str]:
    if not row:
        return "–", "–"
    if "error" in row:
        return "n/a", "n/a"
    peak = f"{row['peak']:.0f} (+{row['peak'] - row['before']:.0f})"
    return peak, fmt_time(row["first_call"])


def _flag(row: dict | None, base: dict | None) -> str:
    if not row or not base or "loss" not in row or "loss" not in base:
        return ""
    ok = abs(row["loss"] - base["loss"]) <= LOSS_RTOL * max(1.0, abs(base["loss"]))
    return "" if ok else f" (first loss {row['loss']:.6g} ≠ numpy {base['loss']:.6g})"


def format_table(workloads: dict, timings: dict[str, list[dict]], memory: list[dict]) -> str:
    """Markdown: one row per (workload, system); time columns per thread setting, each
    as median (min–max over rounds) and the ratio to hand NumPy in bold."""
    settings = list(timings)
    by = {t: {(r["workload"], r["system"]): r for r in rows} for t, rows in timings.items()}
    mem = {(r["workload"], r["system"]): r for r in memory}
    head = ["workload", "system", *(f"time/step, {t} threads" for t in settings),
            "peak RSS MB (+ over baseline)", "first call"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, w in workloads.items():
        systems = list(dict.fromkeys([*(s for t in settings for (k, s) in by[t] if k == key),
                                      *(s for (k, s) in mem if k == key)]))
        for s in systems:
            cells = [_cell(by[t].get((key, s)), by[t].get((key, "numpy (hand)")))
                     for t in settings]
            first = by[settings[0]].get((key, s)) if settings else None
            flag = _flag(first, by[settings[0]].get((key, "numpy (hand)")) if settings else None)
            lines.append("| " + " | ".join([w.title if s == systems[0] else "", s + flag,
                                            *cells, *_memory(mem.get((key, s)))]) + " |")
    return "\n".join(lines)

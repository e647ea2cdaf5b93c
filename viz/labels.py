"""DOT text helpers: attribute lists, escaping, and the HTML labels of nodes."""

from __future__ import annotations

import html

import numpy as np

from graphgrad.ir.printer import format_attrs


def attr_list(attrs: dict) -> str:
    """DOT attributes, written directly: graphviz.Digraph.node's generic quoting is the
    slowest part of drawing a 10,000-node graph. HTML labels (`<...>`) stay unquoted."""
    return " ".join(f"{k}={v}" if v.startswith("<") and v.endswith(">")
                    else f'{k}="{escape(v)}"' for k, v in attrs.items())


def escape(value: str) -> str:
    value = value.replace('"', '\\"')
    return value + " " if value.endswith("\\") else value  # a final \ would eat the quote


def const_text(value) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0 and arr.dtype.kind == "f":
        return f"{arr.item():.4g}"
    return format_attrs("const", {"value": value})


def short_attrs(attrs: dict) -> str | None:
    """`k=v` for small attributes; None/False values are defaults, left out as noise."""
    parts = [f"{k}={v}" for k, v in attrs.items()
             if isinstance(v, (int, float, str, bool, tuple)) and v is not False]
    text = ", ".join(parts)
    return text if text and len(text) <= 30 else None


def html_label(title: str, typ: str | None, note: str | None = None, bold: bool = True) -> str:
    head = html.escape(title)
    rows = [f"<b>{head}</b>" if bold else head]
    if note:
        rows.append(f'<font point-size="8" color="#555555">{html.escape(note)}</font>')
    if typ:
        rows.append(f'<font point-size="8" color="#333333">{html.escape(typ)}</font>')
    return "<" + "<br/>".join(rows) + ">"


def name_list(names: list[str], limit: int = 12) -> str:
    """`a, b, c, ... (40 more)`: Graphviz refuses strings over 16,384 characters."""
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")

"""The diagram's visual vocabulary: one place that says what each kind of node looks like.

Kinds: `input` (function arguments), `state` (parameters, buffers, optimizer state),
`scalar` (a Python number read at each call, e.g. a learning rate), `const`, `op`,
`fused`, `get`, plus the diagram-only `write` (where a state value is written),
`output` and `ghost` (a forward value drawn for reference in a backward-only view).
Ops are filled by phase, so forward, backward and optimizer update read apart at a
glance; shapes say what a node *is* (data vs. parameter vs. computation).
"""

from __future__ import annotations

FONT = "Helvetica"

GRAPH_ATTR = {
    "rankdir": "TB", "newrank": "true", "nodesep": "0.22", "ranksep": "0.32",
    "fontname": FONT, "fontsize": "11", "labelloc": "t", "labeljust": "l",
    "outputorder": "edgesfirst", "tooltip": " ",
}
NODE_ATTR = {"fontname": FONT, "fontsize": "10", "margin": "0.06,0.03", "height": "0.3",
             "penwidth": "1"}
EDGE_ATTR = {"fontname": FONT, "fontsize": "8", "arrowsize": "0.6", "color": "#555555"}

# phase -> (fill, border, cluster background, title)
PHASES = {
    "forward": ("#e8f1fb", "#2f6db5", "#f7fafe", "forward"),
    "backward": ("#fde7d3", "#c0611b", "#fffaf5", "backward"),
    "update": ("#dcf1d6", "#2e7d32", "#f6fbf4", "optimizer update"),
    "tangent": ("#ece3f6", "#6a3d9a", "#fbf9fe", "tangent (forward mode)"),
}
OTHER_PHASE = ("#eeeeee", "#666666", "#fafafa", "other")
SPANNING = ("#ece3f6", "#7b5ea7", "#fbf9fe", "several phases")

STATE_FILL, STATE_BORDER = "#cfe0ff", "#1f4e9c"
INPUT_FILL, INPUT_BORDER = "#fff2c4", "#a07900"
CONST_FILL, CONST_BORDER = "#f3f3f3", "#9a9a9a"
OUTPUT_FILL, OUTPUT_BORDER = "#ffffff", "#222222"
FUSED_CLUSTER = {"style": "filled,rounded,bold", "fillcolor": "#f1ebf8", "color": "#7b5ea7",
                 "fontsize": "9", "fontcolor": "#4b3470", "penwidth": "1.2"}
GROUP_CLUSTER = {"style": "rounded,dotted", "color": "#2e7d32", "fontsize": "10",
                 "fontcolor": "#2e7d32", "penwidth": "1.2"}
SCOPE_CLUSTER = {"style": "rounded,dashed", "color": "#7a7a7a", "fontsize": "10",
                 "fontcolor": "#444444", "penwidth": "1"}

# A saved value's edge runs from one phase column to the next: it does not rank the
# backward's nodes below the forward's (as a constraint it could mirror the columns).
SAVED_EDGE = {"style": "dashed", "color": "#8c8c8c", "constraint": "false"}
WRITE_EDGE = {"color": "#2e7d32", "penwidth": "1.6"}
OUTPUT_EDGE = {"color": "#222222", "penwidth": "1.3"}


def phase_colors(phase: str) -> tuple[str, str, str, str]:
    """(fill, border, background, title); a joined phase (`forward+backward`, one fused
    kernel spanning both) is titled by its parts."""
    if phase not in PHASES and "+" in phase:
        return SPANNING[:3] + (" + ".join(phase.split("+")) + " (fused across phases)",)
    return PHASES.get(phase, OTHER_PHASE)


def node_style(kind: str, phase: str) -> dict[str, str]:
    """Graphviz attributes for a node of `kind` computed in `phase`."""
    fill, border, _, _ = phase_colors(phase)
    if kind == "input":
        return {"shape": "box", "style": "filled,rounded,bold", "fillcolor": INPUT_FILL,
                "color": INPUT_BORDER}
    if kind in ("state", "scalar"):
        style = {"shape": "box", "style": "filled,bold", "fillcolor": STATE_FILL,
                 "color": STATE_BORDER}
        return style | ({"fontsize": "8"} if kind == "scalar" else {})
    if kind == "const":
        return {"shape": "box", "style": "filled,rounded", "fillcolor": CONST_FILL,
                "color": CONST_BORDER, "fontsize": "8", "height": "0.2", "fontcolor": "#555555"}
    if kind == "write":
        return {"shape": "box", "style": "filled,bold", "peripheries": "2",
                "fillcolor": STATE_FILL, "color": PHASES["update"][1]}
    if kind == "output":
        return {"shape": "box", "style": "filled,rounded,bold", "fillcolor": OUTPUT_FILL,
                "color": OUTPUT_BORDER}
    if kind == "ghost":
        return {"shape": "box", "style": "dashed,rounded", "color": "#9a9a9a",
                "fontcolor": "#777777", "fontsize": "8"}
    if kind == "fused":
        return {"shape": "box", "style": "filled,bold", "fillcolor": fill, "color": border}
    if kind == "summary":
        return {"shape": "box3d", "style": "filled,bold", "fillcolor": fill, "color": border}
    if kind == "get":
        return {"shape": "box", "style": "filled,rounded", "fillcolor": fill, "color": border,
                "fontsize": "8", "height": "0.2"}
    return {"shape": "box", "style": "filled", "fillcolor": fill, "color": border}


Row = tuple  # (fill, border, text, cell style); fill None: text only


def legend_rows(kinds: set[str], phases: set[str], saved: bool) -> list[Row]:
    """One row per kind of thing this diagram actually contains."""
    rows = []
    if "input" in kinds:
        rows.append((INPUT_FILL, INPUT_BORDER, "input (argument)", "rounded"))
    if kinds & {"state", "scalar"}:
        rows.append((STATE_FILL, STATE_BORDER, "parameter / state (read)", ""))
    if "ref" in kinds:
        rows.append((STATE_FILL, STATE_BORDER, "the same, drawn again near its users",
                     "dashed"))
    if "write" in kinds:
        rows.append((STATE_FILL, PHASES["update"][1], "state written (new value)", ""))
    if "const" in kinds:
        rows.append((CONST_FILL, CONST_BORDER, "constant", "rounded"))
    for phase in PHASES:
        if phase in phases:
            fill, border, _, title = PHASES[phase]
            rows.append((fill, border, f"{title} op", ""))
    if any("+" in p for p in phases):
        rows.append((SPANNING[0], SPANNING[1], "fused kernel spanning phases", ""))
    if "summary" in kinds:
        rows.append(("#ffffff", "#444444", "several ops drawn as one (module, optimizer)",
                     ""))
    if "fused" in kinds:
        rows.append((FUSED_CLUSTER["fillcolor"], FUSED_CLUSTER["color"],
                     "fused group (one kernel)", "rounded"))
    if "ghost" in kinds:
        rows.append(("#ffffff", "#9a9a9a", "value from another view (drawn there)",
                     "dashed"))
    if "output" in kinds:
        rows.append((OUTPUT_FILL, OUTPUT_BORDER, "returned value", "rounded"))
    if "inlined" in kinds:
        rows.append((None, None, "mul(\u00b7, 0.9): scalar constant 0.9 in the label", ""))
    if saved:
        rows.append((None, None, "- - \u2192  dashed edge: forward value used by backward", ""))
    return rows


def legend_label(rows: list[Row]) -> str:
    """An HTML-like label: one swatch and one line of text per row."""
    cells = []
    for fill, border, text, cell_style in rows:
        swatch = "<td></td>" if fill is None else (
            f'<td width="14" height="10" bgcolor="{fill}" color="{border}" border="1"'
            f'{f" style={chr(34)}{cell_style}{chr(34)}" if cell_style else ""}></td>')
        cells.append(f'<tr>{swatch}<td align="left"><font point-size="9">{text}</font></td></tr>')
    return (f'<<table border="0" cellborder="0" cellspacing="2" cellpadding="1">'
            f'<tr><td colspan="2" align="left"><b>legend</b></td></tr>{"".join(cells)}</table>>')

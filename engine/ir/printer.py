"""`str(graph)`: one line per node, readable like a jaxpr or a torch.fx graph."""

from __future__ import annotations

import numpy as np

from ..dtypes import short


def format_type(data: dict) -> str:
    return f"{short(data['dtype'])}[{','.join(map(str, data['shape']))}]"


def format_attrs(op: str, attrs: dict) -> str:
    if op == "const":
        value = attrs["value"]
        return np.array2string(np.asarray(value), threshold=6, separator=",") \
            if np.ndim(value) else repr(np.asarray(value).item())
    if op == "fused":
        return "[" + ",".join(attrs["program"].op_names) + "]"
    return ", ".join(f"{k}={v!r}" for k, v in attrs.items())


def format_node(graph, n: int) -> str:
    data = graph[n]
    op = data["op"]
    args = ", ".join(graph.label(a) for a in graph.args(n))
    attrs = format_attrs(op, data["attrs"])
    if op == "fused":
        call = f"fused{attrs}({args})"
    elif op in ("input", "state"):
        call = op
    elif op == "const":
        call = f"const {attrs}"
    else:
        call = f"{op}({', '.join(x for x in (args, attrs) if x)})"
    comment = [c for c in (data["source"], data["phase"] if data["phase"] != "forward" else None)
               if c]
    lhs = f"{graph.label(n)} : {format_type(data)}"
    line = f"{lhs} = {call}"
    return f"{line:<60}  # {', '.join(comment)}" if comment else line


def format_graph(graph) -> str:
    lines = [format_node(graph, n) for n in graph.topo_order()]
    outs = ", ".join(graph.label(o) for o in graph.outputs)
    lines.append(f"return ({outs})")
    for name, n in graph.state_writes.items():
        lines.append(f"state {name} <- {graph.label(n)}")
    return "\n".join(lines)

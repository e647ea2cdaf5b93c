"""The checked plan that `gg.detect_anomaly()` runs in place of a compiled step's plan.

The step is traced again without passes (so every op keeps its own node and line),
scheduled in creation order (the order eager code runs ops in), with a finiteness
check after each kernel line; it is built once per cache entry. This is the compile
layer's half of anomaly mode: `anomaly.py` (below Tensor) holds the switch, the eager
checks and the messages, and knows nothing of plans.
"""

from __future__ import annotations

from . import anomaly
from .errors import NumericalError
from .plan_cache import Entry
from .runtime import Executable


def checked_entry(compiled, entry):
    """`entry`'s checked plan (see the module docstring), built the first time it is run."""
    if entry.checked is not None:
        return entry.checked
    backend, origins = entry.plan.backend, {}
    with anomaly.recording_origins(origins):
        graph, rebuild, _ = compiled._trace_graph(entry.signature, (*compiled._args, ()),
                                                  backend)
    graph.schedule = sorted(graph.nx)  # creation order: the order eager code runs ops in
    name = getattr(compiled.fn, "__name__", "plan")
    plan = Executable(graph, backend, name, check=plan_checker(graph, backend, origins, name))
    entry.checked = Entry(entry.signature, graph, graph, [], plan, rebuild, entry.guards)
    return entry.checked


def plan_checker(graph, backend, origins: dict, fn_name: str):
    """The `check(node, value, *inputs)` a checked `Executable` calls after each kernel."""

    def check(node, value, *inputs):
        value = backend.to_numpy(value)
        if anomaly.finite(value):
            return
        data = graph[node]
        op = data["op"]
        if op == "fused":
            program = data["attrs"]["program"]
            op, line = f"fused[{','.join(program.op_names)}]", ", ".join(program.sources)
        else:
            line = data["source"] or "<unknown>"
        arrays = [backend.to_numpy(a) for a in inputs]
        report = anomaly.op_report(op, value, arrays)
        phase = data.get("phase") or "forward"
        where = f"in the {phase} graph of compiled `{fn_name}`"
        fwd_op, fwd_line = origins.get(node, (None, None))
        if phase == "backward" and fwd_op is not None:
            raise NumericalError(
                f"{where}, {report} while computing the gradient of `{fwd_op}` at {fwd_line}; "
                f"backward() was called at {line}", op=data["op"], source=fwd_line)
        raise NumericalError(f"{where}, {report} (at {line})", op=data["op"], source=line)

    return check

"""Whole plans handed to a backend that compiles them (`Backend.compile_plan`).

`lower(graph, backend, name)` is what `gg.compile` calls to turn an optimized Graph into
an `Executable`. It always builds the per-kernel plan (runtime.py). When the backend
has a whole-plan compiler, the engine hands it a `PlanRequest` (arrays in, arrays out)
and keeps for itself what only it knows: reading the state from parameters and
optimizer containers, writing it back, and copying results that would alias a kept
buffer. The plan's `run` then becomes a short Python function around the backend's
callable, and `source` shows both. A backend that declines (`PlanUnsupported`, at once
or at the first call) leaves the per-kernel plan in charge, and `backend_info` says
why in one line (also logged at debug level on the `graphgrad` logger): never a silent
change of path.
"""

from __future__ import annotations

import linecache
import logging

import numpy as np

from .backends.base import PlanRequest, PlanUnsupported
from .ir.graph import SOURCE_OPS
from .runtime import (
    Executable,
    _counter,
    _ident,
    _name_values,
    _param_names,
    _returned,
    _state_read,
    _state_write,
    _Writer,
    refresh_views,
)

log = logging.getLogger("graphgrad")


def lower(graph, backend, name: str = "plan") -> Executable:
    """The executable plan for `graph` on `backend`: the backend's whole-plan callable
    where it takes the plan, else the per-kernel plan (see the module docstring)."""
    plan = Executable(graph, backend, name)
    compile_plan = getattr(backend, "compile_plan", None)
    if compile_plan is None:
        plan.backend_info = f"per-kernel plan (backend {backend.name!r} has no whole-plan " \
                            "compiler)"
        return plan
    writer, request = _wrapper(graph, backend, _ident(name, "plan"))
    try:
        core = compile_plan(request)
    except PlanUnsupported as exc:
        _declined(plan, backend, exc)
        return plan
    _install(plan, writer, core)
    return plan


def _declined(plan, backend, exc) -> None:
    plan.backend_info = f"per-kernel plan: backend {backend.name!r} declined the whole " \
                        f"plan: {exc}"
    log.debug("graphgrad: %s", plan.backend_info)


def _wrapper(graph, backend, fn_name: str):
    """The wrapper's writer (state reads, the call, state writes, results) and the
    request naming what the core receives and returns."""
    params = _param_names(graph)
    writer = _Writer(backend, params)
    order = [n for n in (getattr(graph, "schedule", None) or graph.topo_order()) if n in graph]
    _name_values(writer, graph, order, params)
    arguments = [n for n in order if graph[n]["op"] in SOURCE_OPS]
    arguments += [n for n in graph.inputs if n not in arguments]
    for n in arguments:
        if graph[n]["op"] == "state":
            writer.emit(_state_read(writer, graph, n), n, graph[n]["name"])
    _zero_d_as_arrays(writer, graph, arguments)
    grads = [graph.input_grads[i] for i in sorted(graph.input_grads)
             if graph.input_grads[i] is not None]
    # (a result that is an input, a state read or a constant, such as a bias gradient
    # folded to ones, is at hand in the wrapper already: the core does not return it)
    results = [n for n in dict.fromkeys(
        [*graph.outputs, *grads, *(n for n in graph.state_writes.values() if n is not None)])
        if graph[n]["op"] not in SOURCE_OPS]
    request = PlanRequest(graph, tuple(order), tuple(arguments), tuple(results), fn_name)
    writer.request = request
    return writer, request


def _zero_d_as_arrays(writer, graph, arguments) -> None:
    """Lines handing the core every 0-d tensor value as a 0-d array of the backend: an
    eager step on NumPy may leave a NumPy scalar in a parameter (a ufunc on 0-d arrays
    returns one), which compiled code cannot read as an array nor update in place. A
    tensor's own value is replaced by the array (the same number), once. Python numbers
    read through a ScalarRef (`lr`) and constants (arrays already) pass as they are."""
    backend = writer.backend
    array = writer.bind("array_type", type(backend.from_numpy(np.zeros((), np.float32))))
    as_array = writer.bind("as_array", lambda v: backend.from_numpy(backend.to_numpy(v)))
    for n in arguments:
        data = graph[n]
        if tuple(data["shape"]) != () or data["op"] == "const":
            continue
        ref = graph.state_refs.get(data["name"]) if data["op"] == "state" else None
        if ref is not None and ref.kind == "scalar":
            continue
        v = writer.names[n]
        writer.emit(f"if {v}.__class__ is not {array}:")
        if ref is not None and ref.kind == "tensor":
            obj = writer.bind(_ident("T_" + data["name"], "T"), ref.tensor)
            writer.emit(f"    {v} = {obj}._value = {as_array}({v})")
            writer.emit(f"    if {obj}._views: "
                        f"{writer.bind('refresh_views', refresh_views)}({obj})")
        else:
            writer.emit(f"    {v} = {as_array}({v})")


def _install(plan, writer, core) -> None:
    """Generate the wrapper around `core` and make it the plan's `run`."""
    graph, request = plan.graph, writer.request
    core_name = writer.bind("native", core)
    fallback = writer.bind("fallback", lambda exc, *args: _fall_back(plan, exc, args))
    unsupported = writer.bind("PlanUnsupported", PlanUnsupported)
    held = set(getattr(core, "held", ()))  # constants written into its code
    args = ", ".join(writer.names[n] for n in request.arguments if n not in held)
    params = [writer.names[n] for n in graph.inputs]
    in_place = set(getattr(core, "in_place", ()))  # written into their state's array
    returned = [n for n in request.results if n not in in_place]
    targets = ", ".join(writer.names[n] for n in returned)
    writer.emit("try:")
    assign = f"{targets}{',' if len(returned) == 1 else ''} = " if targets else ""
    writer.emit(f"    {assign}{core_name}({args})", None,
                f"the whole plan, compiled by {plan.backend.name}")
    writer.emit(f"except {unsupported} as exc:")
    writer.emit(f"    return {fallback}(exc{''.join(', ' + p for p in params)})")
    for name, n in graph.state_writes.items():
        if n in in_place:
            continue
        writer.emit(_state_write(writer, graph, name, n), None, f"state {name}")
        ref = graph.state_refs[name]
        if ref.kind == "tensor":
            obj = writer.bind(_ident(f"T_{name}", "T"), ref.tensor)
            writer.emit(f"if {obj}._views: {writer.bind('refresh_views', refresh_views)}({obj})")
    results = [*graph.outputs, *(graph.input_grads[i] for i in sorted(graph.input_grads)
                                 if graph.input_grads[i] is not None)]
    outs = ", ".join(_returned(writer, graph, o, k) for k, o in enumerate(results))
    writer.emit(f"return ({outs}{',' if len(results) == 1 else ''})")
    fn_name = writer.free_name(request.name)
    text = "\n".join([f"def {fn_name}({', '.join(params)}):", *writer.lines]) + "\n"
    filename = f"<graphgrad native plan {request.name} #{next(_counter)}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    exec(compile(text, filename, "exec"), writer.namespace)  # noqa: S102
    plan.per_kernel_run, plan.per_kernel_source = plan.run, plan.source
    plan.run = writer.namespace[fn_name]
    plan.source = text + "\n" + getattr(core, "source", "")
    plan.native_filename = filename
    plan.backend_info = f"whole plan compiled by backend {plan.backend.name!r}"


def _fall_back(plan, exc, args):
    """The core declined at its first call: the per-kernel plan from now on."""
    plan.run, plan.source = plan.per_kernel_run, plan.per_kernel_source
    _declined(plan, plan.backend, exc)
    return plan.run(*args)

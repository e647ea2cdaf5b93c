"""The reference interpreter: runs any Graph, node by node, on any backend.

It is slow on purpose-free grounds (a dict lookup per node) and exists so a Graph can
be checked before and after every pass; `gg.compile` lowers graphs to straight-line
code instead (see runtime.py).
"""

from __future__ import annotations

import numpy as np

from ..errors import BackendError


def read_state(ref, data, backend):
    value = ref.read()
    return backend.from_numpy(np.asarray(value, data["dtype"])) if ref.kind == "scalar" \
        else value


def interpret(graph, args, backend, *, write_state: bool = False):
    """(outputs, state writes) as backend arrays; `args` are backend arrays."""
    env: dict[int, object] = {}
    fused_cache: dict[int, object] = {}
    for n in graph.topo_order():
        data = graph[n]
        op, attrs = data["op"], data["attrs"]
        if op == "input":
            env[n] = args[attrs["index"]]
        elif op == "state":
            env[n] = read_state(graph.state_refs[data["name"]], data, backend)
        elif op == "const":
            env[n] = backend.from_numpy(np.asarray(attrs["value"]))
        elif op == "get":
            env[n] = env[graph.args(n)[0]][attrs["index"]]
        else:
            fn = _callable(backend, op, attrs, fused_cache, n)
            call_attrs = {} if op == "fused" else attrs
            env[n] = fn(*[env[a] for a in graph.args(n)], **call_attrs)
    outputs = [env[o] for o in graph.outputs]
    writes = {name: (None if w is None else env[w]) for name, w in graph.state_writes.items()}
    if write_state:
        for name, value in writes.items():
            graph.state_refs[name].write(value)
    return outputs, writes


def _callable(backend, op, attrs, cache, n):
    if op == "fused":
        if n not in cache:
            cache[n] = backend.compile_fused(attrs["program"])
        return cache[n]
    try:
        return backend.kernels[op]
    except KeyError:
        raise BackendError.no_kernel(backend, op) from None

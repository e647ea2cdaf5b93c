"""Constant folding: evaluate at compile time every node whose arguments are constants.

Folding runs the op's kernel on the compilation's target backend and stores the result
(as a NumPy array) in a `const` node. Results larger than FOLD_LIMIT elements are left
alone so folding never turns a cheap broadcast into a large stored array.
"""

from __future__ import annotations

import math

import numpy as np

from ..backends.registry import default_backend
from ..ops.registry import REGISTRY

FOLD_LIMIT = 4096
BROADCAST_FOLD_LIMIT = 1024  # a broadcast folds only into a small constant: kernels
#                              broadcast for free, but a tiny one costs a call per step


def fold_constants(graph, ctx=None):
    backend = _backend(ctx)
    for n in graph.any_topo_order():
        data = graph[n]
        op = REGISTRY.get(data["op"])
        if op is None or op.random or op.name not in backend.kernels:
            continue
        limit = BROADCAST_FOLD_LIMIT if op.name == "broadcast_to" else FOLD_LIMIT
        args = graph.args(n)
        if not args or any(graph[a]["op"] != "const" for a in args):
            continue
        if math.prod(data["shape"]) > limit:
            continue
        values = [backend.from_numpy(np.asarray(graph[a]["attrs"]["value"])) for a in args]
        result = backend.to_numpy(backend.kernels[op.name](*values, **data["attrs"]))
        data["op"], data["attrs"] = "const", {"value": np.asarray(result, data["dtype"])}
        graph.set_args(n, [])
    return graph


def _backend(ctx):
    if ctx is not None and ctx.backend is not None:
        return ctx.backend
    return default_backend()

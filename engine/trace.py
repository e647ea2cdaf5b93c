"""`gg.trace`: run a function once on symbolic inputs and return its Graph.

Also `gg.run_graph` (the reference interpreter with Tensors in and out) and
`gg.differentiate` (reverse-mode autodiff of a Graph, done by replaying it through the
same autodiff eager mode uses, so the two can never disagree).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from . import dtypes
from .autodiff import grad
from .backends.registry import default_backend, get_backend
from .creation import as_tensor
from .ir import tracing
from .ir.graph import SOURCE_OPS, Graph
from .ir.interpreter import interpret
from .naming import is_namable, reachable_named_objects
from .ops.registry import get_op
from .pytree import flatten
from .tensor import Tensor


@dataclass(frozen=True)
class Spec:
    """An example input by shape and dtype only: `gg.Spec((32, 64), "float32")`."""

    shape: tuple
    dtype: object = dtypes.float32
    requires_grad: bool = False

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "dtype", dtypes.as_dtype(self.dtype))


def as_spec(example) -> Spec:
    if isinstance(example, Spec):
        return example
    if isinstance(example, Tensor):
        return Spec(example.shape, example.dtype, example.requires_grad)
    arr = np.asarray(example)
    return Spec(arr.shape, dtypes.from_numpy_dtype(arr.dtype) if arr.dtype.kind != "f"
                or isinstance(example, np.ndarray) else dtypes.float32)


def arg_names(fn, n: int) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"arg{i}" for i in range(n)]


def register_names(tracer, fn, arguments=()) -> None:
    """Name parameters, buffers and optimizer state after the modules `fn` can reach,
    and after the (path, module or optimizer) `arguments` it was called with."""
    named = [(obj, f"{path}." if is_namable(obj) else path) for path, obj in arguments]
    for obj, prefix in named + reachable_named_objects(fn):
        if isinstance(obj, Tensor):
            tracer.names.setdefault(id(obj), prefix)
        elif is_namable(obj):
            tracer.names.setdefault(id(obj), prefix.rstrip(".") or type(obj).__name__)
            for name, t in obj.named_parameters():
                tracer.names.setdefault(id(t), f"{prefix}{name}")
            for name, t in getattr(obj, "named_buffers", lambda: [])():
                tracer.names.setdefault(id(t), f"{prefix}{name}")
            for name, m in getattr(obj, "named_modules", lambda: [])():
                tracer.names.setdefault(id(m), f"{prefix}{name}" if name else
                                        prefix.rstrip(".") or type(m).__name__)


def trace_into(tracer, fn, specs, names, write_back: bool = False):
    """Call fn on symbolic inputs under `tracer`; returns (graph, rebuild-outputs).

    With `write_back`, inputs the function changed in place (`x.add_(1)`, `x[0] = 5`,
    `x.data = ...`) are extra outputs after the function's own, and
    `graph.input_writes` lists their input positions: the caller's tensors get them.
    """
    with tracing.tracing(tracer):
        args = []
        for spec, name in zip(specs, names):
            n = tracer.input(spec, name)
            t = Tensor._symbolic(tracer, n, spec.shape, spec.dtype, tracer.backend)
            t.requires_grad = spec.requires_grad
            args.append(t)
        result = fn(*args)
        leaves, rebuild = flatten(result, lambda x: isinstance(x, Tensor))
        written = [k for k, t in enumerate(args) if t._node != tracer.graph.inputs[k]] \
            if write_back else []
        graph = tracer.finish(leaves + [args[k] for k in written])
        graph.input_writes = written
    return graph, rebuild


def trace(fn, *examples, backend=None) -> Graph:
    """The Graph of `fn` called on inputs shaped like `examples` (Tensors, arrays, Specs)."""
    b = get_backend(backend) if backend is not None else default_backend()
    tracer = tracing.Tracer(b)
    register_names(tracer, fn)
    specs = [as_spec(e) for e in examples]
    graph, _ = trace_into(tracer, fn, specs, arg_names(fn, len(specs)))
    return graph


def run_graph(graph: Graph, *args, backend=None, write_state: bool = False) -> list[Tensor]:
    """Run `graph` with the reference interpreter; Tensors (or arrays) in, Tensors out."""
    b = get_backend(backend) if backend is not None else default_backend()
    arrays = [b.from_numpy(np.asarray(a.numpy() if isinstance(a, Tensor) else a,
                                      graph[n]["dtype"]))
              for a, n in zip(args, graph.inputs)]
    outputs, _ = interpret(graph, arrays, b, write_state=write_state)
    return [Tensor._wrap(o, b) for o in outputs]


def differentiate(graph: Graph, wrt=None) -> Graph:
    """A Graph computing `graph`'s outputs followed by d(output 0)/d(inputs in `wrt`).

    Output 0 must be a scalar. `wrt` lists input positions (all float inputs by default).
    The backward nodes carry `phase="backward"`.
    """
    wrt = [i for i, n in enumerate(graph.inputs) if dtypes.is_float(graph[n]["dtype"])] \
        if wrt is None else list(wrt)

    def replay(*inputs):
        env = {}
        for i, n in enumerate(graph.inputs):
            env[n] = inputs[i]
        for n in graph.topo_order():
            data = graph[n]
            if data["op"] == "input":
                continue
            if data["op"] in SOURCE_OPS:
                env[n] = _source_value(graph, n)
                continue
            env[n] = get_op(data["op"])(*[env[a] for a in graph.args(n)], **data["attrs"])
        outs = [env[o] for o in graph.outputs]
        return outs + list(grad(outs[0], [inputs[i] for i in wrt], allow_unused=True))

    specs = [Spec(graph[n]["shape"], graph[n]["dtype"], i in wrt)
             for i, n in enumerate(graph.inputs)]
    tracer = tracing.Tracer(default_backend())
    names = [graph[n]["name"] or f"arg{i}" for i, n in enumerate(graph.inputs)]
    result, _ = trace_into(tracer, replay, specs, names)
    return result


def _source_value(graph: Graph, n: int) -> Tensor:
    data = graph[n]
    if data["op"] == "const":
        return as_tensor(data["attrs"]["value"])
    ref = graph.state_refs[data["name"]]
    if ref.kind == "scalar":
        return tracing.dynamic_scalar(ref.container, ref.key)
    return ref.tensor if ref.kind == "tensor" else ref.owner.grad

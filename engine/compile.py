"""`gg.compile`: trace a step once per input signature, optimize it, run the flat plan.

The first call with a new signature (input shapes, dtypes and requires_grad, grad
mode) traces the function into a Graph: parameters, buffers, `.grad` and optimizer
state become state reads; `loss.backward()` adds the backward graph; `opt.step()`
adds update nodes as state writes. The graph goes through the pass pipeline and is
lowered to an `Executable`. Later calls check the entry's guards (train/eval mode of
the modules it touched, which grads existed, which parameters required grad) and run
the plan. `fn.cache_info()` says what was traced and why.

The cache holds at most `cache_size` plans (default `CACHE_SIZE`, 8, as torch.compile's
`cache_size_limit`); tracing a ninth signature drops the least recently used plan, with
its buffers and constants, so a loop over ever-new shapes keeps bounded memory.
"""

from __future__ import annotations

import functools
import gc
import inspect
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from . import anomaly as _anomaly
from . import dtypes, grad_mode
from .backends import registry as _backend_registry
from .backends.registry import default_backend, get_backend
from .errors import GraphgradError, SignatureError, TracingError
from .ir import tracing
from .ir.graph import Graph
from .passes import PassContext, run_passes
from .runtime import Executable
from .source import user_source
from .tensor import Tensor
from .trace import Spec, arg_names, register_names, trace_into

CACHE_SIZE = 8  # plans kept per compiled function (least recently used dropped first)


@dataclass
class TraceRecord:
    signature: tuple
    reason: str
    seconds: float


@dataclass
class CacheInfo:
    traces: int
    hits: int
    entries: int
    records: list = field(default_factory=list)
    evictions: int = 0  # plans dropped to keep the cache within its size

    def __str__(self) -> str:
        lines = [f"{self.traces} trace(s), {self.hits} cached call(s), {self.entries} plan(s), "
                 f"{self.evictions} evicted"]
        lines += [f"  trace {i + 1}: {r.reason} ({r.seconds * 1e3:.0f} ms)"
                  for i, r in enumerate(self.records)]
        return "\n".join(lines)


class Entry:
    """One traced signature: its graphs, its plan, and the guards that keep it valid."""

    checked = None  # the plan gg.detect_anomaly() runs instead (built on first use)
    used = 0  # the owner's clock at the last call (least recently used is evicted first)

    def __init__(self, signature, graph, optimized, stats, plan, rebuild, guards):
        self.signature = signature
        self.graph = graph  # as traced (phases forward / backward / update)
        self.optimized = optimized
        self.pass_stats = stats
        self.plan = plan
        self.rebuild = rebuild
        self.guards = guards

    @property
    def source(self) -> str:
        return self.plan.source

    @property
    def forward(self) -> Graph:
        """The traced forward graph (before optimization)."""
        return self.graph.phase("forward")

    @property
    def backward(self) -> Graph:
        """The traced backward graph: what `loss.backward()` added."""
        return self.graph.phase("backward")

    @property
    def update(self) -> Graph:
        """The traced optimizer update (what `opt.step()` added)."""
        return self.graph.phase("update")

    def failed_guard(self) -> str | None:
        for describe, obj, attr, expected in self.guards:
            if (getattr(obj, attr) is None if attr == "_grad" else getattr(obj, attr)) \
                    != expected:
                return describe
        for describe, holds in self.optimized.guards:  # added by passes (e.g. foreach)
            if not holds():
                return describe
        return None

    @property
    def stats(self) -> dict:
        return {
            "nodes_by_phase": self.graph.nodes_by_phase(),
            "kernels_before": self.graph.kernel_count(),
            "kernels_after": self.plan.kernel_calls,
            "nodes_before": len(self.graph),
            "nodes_after": len(self.optimized),
            "passes": [str(s) for s in self.pass_stats],
        }


def _guards(tracer) -> list:
    guards = []
    for m in tracer.modules.values():
        name = tracer.names.get(id(m)) or type(m).__name__
        guards.append((f"module {name!r} training={m.training}", m, "training", m.training))
    for owner, was_none in tracer.grad_reads.values():
        name = tracer.names.get(id(owner), "a tensor")
        guards.append((f"{name}.grad was {'None' if was_none else 'set'}", owner, "_grad",
                       was_none))
    for name, ref in tracer.graph.state_refs.items():
        if ref.kind == "tensor" and ref.tensor.requires_grad:
            guards.append((f"{name}.requires_grad was True", ref.tensor, "requires_grad", True))
    return guards


def _describe_change(old: tuple, new: tuple, names) -> str:
    if old is None:
        return "first call"
    if old[0] != new[0]:
        return f"grad mode changed ({old[0]} -> {new[0]})"
    if len(old[1]) != len(new[1]):
        return f"number of arguments changed ({len(old[1])} -> {len(new[1])})"
    for i, (a, b) in enumerate(zip(old[1], new[1])):
        if a != b:
            name = names[i] if i < len(names) else i
            return f"argument {name!r} changed: {_spec(a)} -> {_spec(b)}"
    return "signature changed"


def _spec(s) -> str:
    if s[0] == "tensor":
        return f"{dtypes.short(s[2])}{list(s[1])}{' requires_grad' if s[3] else ''}"
    return repr(s[1])


class CompiledFunction:
    """A function traced once per signature and run as an optimized plan afterwards."""

    def __init__(self, fn, backend=None, passes="default", debug: bool = False,
                 cache_size: int = CACHE_SIZE):
        if not isinstance(cache_size, int) or cache_size < 1:
            raise GraphgradError(f"gg.compile: cache_size must be a positive int, got "
                                 f"{cache_size!r}", source=user_source())
        self.fn = fn
        self.cache_size = cache_size
        self._clock = 0
        self._evictions = 0
        self.backend_name = backend
        self.passes = passes
        self.debug = debug
        self.entries: dict[tuple, list[Entry]] = {}
        self.last: Entry | None = None
        self._records: list[TraceRecord] = []
        self._hits = 0
        self._last_signature = None
        self._static: dict[tuple, tuple] = {}
        self._args: tuple = ()
        self._backend_key, self._backend_obj = None, None
        functools.update_wrapper(self, fn, updated=())

    # ------------------------------------------------------------------ calling
    @property
    def backend(self):
        return get_backend(self.backend_name) if self.backend_name else default_backend()

    def _current_backend(self):
        key = self.backend_name or _backend_registry._default_name
        if key != self._backend_key:
            self._backend_key, self._backend_obj = key, self.backend
        return self._backend_obj

    def _signature(self, args, backend):
        specs, arrays = [], []
        for a in args:
            if type(a) is Tensor and a._backend is backend and a._value is not None:
                specs.append(("tensor", a.shape, a.dtype, a.requires_grad))
                arrays.append(a._value)
            elif isinstance(a, Tensor):
                if a._value is None:
                    raise TracingError("a compiled function was called with a symbolic tensor",
                                       source=user_source())
                specs.append(("tensor", a.shape, a.dtype, a.requires_grad))
                arrays.append(a._value if a._backend is backend
                              else backend.from_numpy(a._backend.to_numpy(a._value)))
            elif isinstance(a, np.ndarray):
                arr = np.asarray(a, dtypes.from_numpy_dtype(a.dtype))
                specs.append(("tensor", arr.shape, arr.dtype, False))
                arrays.append(backend.from_numpy(arr))
            else:
                specs.append(("static", a))
        return (grad_mode._enabled, tuple(specs)), arrays

    def __call__(self, *args):
        self._args = args
        backend = self._current_backend()
        signature, arrays = self._signature(args, backend)
        reason = None
        for entry in self.entries.get(signature, ()):
            reason = entry.failed_guard()
            if reason is None:
                self._hits += 1
                self._clock += 1
                entry.used = self._clock
                self.last = entry
                return self._run(entry, arrays)
        self._check_arity(args)
        self._check_static(signature)
        if reason is not None:
            reason = f"guard failed: {reason}"
        else:
            reason = _describe_change(self._last_signature, signature,
                                      arg_names(self.fn, len(args)))
        entry = self._trace(signature, args, backend, reason)
        return self._run(entry, arrays)

    def _check_arity(self, args):
        """A call that could not bind to `fn`'s parameters fails here, not inside the trace."""
        try:
            params = inspect.signature(self.fn)
        except (TypeError, ValueError):
            return
        try:
            params.bind(*args)
        except TypeError as e:
            name = getattr(self.fn, "__name__", "the compiled function")
            raise SignatureError(f"compiled function {name}{params} was called with "
                                 f"{len(args)} argument(s): {e}", source=user_source()) from None

    def _check_static(self, signature):
        """Python values among the arguments are baked into the plan; they must not vary."""
        tensors = tuple(s if s[0] == "tensor" else ("static",) for s in signature[1])
        statics = tuple(s[1] for s in signature[1] if s[0] == "static")
        seen = self._static.setdefault(tensors, statics)
        if seen != statics:
            raise TracingError(
                f"{getattr(self.fn, '__name__', 'the compiled function')} was called with "
                f"Python values {statics!r} where an earlier call passed {seen!r}; Python "
                "values are constants of the traced graph. Pass values that change between "
                "calls as tensors (gg.tensor(...)).", source=user_source())

    def _run(self, entry, arrays):
        if _anomaly.enabled:  # gg.detect_anomaly(): a plan that checks every result
            entry = _anomaly.checked_entry(self, entry)
        try:
            outs = entry.plan.run(*arrays)
        except GraphgradError:
            raise
        except Exception as exc:
            raise self._runtime_error(entry, exc) from exc
        backend = entry.plan.backend
        n_out = len(entry.optimized.outputs)
        if entry.optimized.input_grads:
            self._set_input_grads(entry, outs[n_out:], backend)
        return entry.rebuild([Tensor._wrap(o, backend) for o in outs[:n_out]])

    def _set_input_grads(self, entry, grads, backend):
        """Inputs that required grad get their gradient in `.grad` as eagerly: added to
        what was there, or replacing it where the step assigned `x.grad` itself."""
        graph = entry.optimized
        positions = [i for i, s in enumerate(entry.signature[1]) if s[0] == "tensor"]
        grads = iter(grads)
        for k in sorted(graph.input_grads):
            g = None if graph.input_grads[k] is None else next(grads)
            arg = self._args[positions[k]]
            if not isinstance(arg, Tensor):
                continue
            if g is None or k in graph.input_grad_assign or arg._grad is None:
                arg._grad = None if g is None else Tensor._wrap(g, backend)
            else:
                arg._grad = Tensor._wrap(arg._grad._value + g, backend)

    def _runtime_error(self, entry, exc):
        from .ops.registry import REGISTRY, failure_class

        node = entry.plan.node_for_traceback(sys.exc_info()[2])
        if node is None:
            return GraphgradError(f"the compiled plan failed: {exc}")
        graph = entry.optimized
        data = graph[node]
        operands = ", ".join(f"{dtypes.short(graph[a]['dtype'])}{list(graph[a]['shape'])}"
                             for a in graph.args(node))
        kind = failure_class(exc)
        if data["op"] == "fused":
            program = data["attrs"]["program"]
            ops, where = ",".join(program.op_names), ", ".join(program.sources)
            return kind(f"fused[{ops}] failed at run time on operands {operands}: {exc} "
                        f"(ops from {where})", op="fused", source=where)
        op = data["op"]
        return kind(f"{op} failed at run time on operands {operands}: {exc}",
                    op=op if op in REGISTRY else None, source=data["source"])

    # ------------------------------------------------------------------ tracing
    def _trace(self, signature, args, backend, reason) -> Entry:
        # Python's cyclic GC is paused while compiling: tracing and the passes allocate
        # many small objects, and its full collections walk every live one (a fifth of
        # a big graph's first call, for nothing to collect).
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._compile(signature, args, backend, reason)
        finally:
            if paused:
                gc.enable()

    def _compile(self, signature, args, backend, reason) -> Entry:
        t0 = time.perf_counter()
        graph, rebuild, tracer = self._trace_graph(signature, args, backend)
        if self.debug:
            graph.verify()
        guards = _guards(tracer)
        ctx = PassContext(backend=backend, debug=self.debug)
        optimized, stats = run_passes(graph, self.passes, ctx)
        plan = Executable(optimized, backend, getattr(self.fn, "__name__", "plan"))
        entry = Entry(signature, graph, optimized, stats, plan, rebuild, guards)
        self.entries.setdefault(signature, []).append(entry)
        self._clock += 1
        entry.used = self._clock
        self._evict()
        self._records.append(TraceRecord(signature, reason, time.perf_counter() - t0))
        self._last_signature = signature
        self.last = entry
        return entry

    def _trace_graph(self, signature, args, backend):
        """Trace `fn` on symbolic stand-ins for the tensor arguments: (graph, rebuild, tracer)."""
        tracer = tracing.Tracer(backend)
        register_names(tracer, self.fn)
        names = arg_names(self.fn, len(args))
        tensor_pos = [i for i, s in enumerate(signature[1]) if s[0] == "tensor"]
        specs = [Spec(signature[1][i][1], signature[1][i][2], signature[1][i][3])
                 for i in tensor_pos]

        def call(*tensors):
            full = list(args)
            for i, t in zip(tensor_pos, tensors):
                full[i] = t
            return self.fn(*full)

        graph, rebuild = trace_into(tracer, call, specs, [names[i] for i in tensor_pos])
        return graph, rebuild, tracer

    def _evict(self) -> None:
        """Drop least recently used plans until at most `cache_size` remain."""
        plans = [e for group in self.entries.values() for e in group]
        for old in sorted(plans, key=lambda e: e.used)[:max(0, len(plans) - self.cache_size)]:
            group = self.entries[old.signature]
            group.remove(old)
            if not group:
                del self.entries[old.signature]
            self._evictions += 1

    # ------------------------------------------------------------------ introspection
    def cache_info(self) -> CacheInfo:
        return CacheInfo(len(self._records), self._hits,
                         sum(len(v) for v in self.entries.values()), list(self._records),
                         self._evictions)

    @property
    def source(self) -> str:
        """The generated code of the newest plan (like torch.fx's `.code`)."""
        if self.last is None:
            raise TracingError("nothing compiled yet: call the function once first")
        return self.last.source

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter shows the newest plan's diagram (text when it cannot be drawn)."""
        from graphgrad.viz import repr_mimebundle

        return repr_mimebundle(self, include, exclude)


def compile(fn=None, *, backend: str | None = None, passes="default", debug: bool = False,
            cache_size: int = CACHE_SIZE):
    """Trace `fn` once per input signature into an optimized plan (see module docstring).

    At most `cache_size` plans are kept; the least recently used one is dropped first.

    Use as `@gg.compile` or `@gg.compile(backend="numpy", passes="default")`; an
    `nn.Module` can be compiled for inference with `gg.compile(model)`.
    """
    if fn is None:
        return lambda f: compile(f, backend=backend, passes=passes, debug=debug,
                                 cache_size=cache_size)
    if backend is not None:
        get_backend(backend)  # an unknown or unavailable backend fails here, clearly
    return CompiledFunction(fn, backend, passes, debug, cache_size)

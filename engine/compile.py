"""`gg.compile`: trace a step once per input signature, optimize it, run the flat plan.

The first call with a new signature (the arguments' structure, each tensor's shape,
dtype and requires_grad, each Python value, grad mode: engine/arguments.py) traces the
function into a Graph: parameters, buffers, `.grad` and optimizer state become state
reads; `loss.backward()` adds the backward graph; `opt.step()` adds update nodes as
state writes; in-place changes to argument tensors become extra outputs written back to
the caller's tensors. The graph goes through the pass pipeline and is lowered to an
`Executable`. Everything else the trace read from Python is either an input of the plan
(read afresh at every call, like an optimizer's `lr` or `momentum`) or a guard, checked
at every call by one generated function (engine/guards.py); a failed guard traces again
and `fn.cache_info()` says what changed. A trace that raises, or that changed Python
state (engine/side_effects.py), leaves everything as it was.

The cache holds at most `cache_size` plans (default `CACHE_SIZE`, 8, as torch.compile's
`cache_size_limit`); tracing a ninth drops the least recently used plan, with its
buffers, constants and fused kernels, so a loop over ever-new shapes keeps bounded
memory. A function retraced on most calls is warned about once, naming the argument
that keeps changing.
"""

from __future__ import annotations

import collections
import functools
import gc
import inspect
import sys
import time
import warnings
import weakref

import numpy as np

from . import anomaly as _anomaly
from . import checked_plan, dtypes, grad_mode, guards
from .arguments import describe_change, flatten_call, objects, paths, rebuild_call
from .backends import registry as _backend_registry
from .backends.registry import default_backend, get_backend
from .errors import GraphgradError, SignatureError, TracingError
from .fast_call import MISS, build_hit
from .ir import tracing
from .native_plan import lower
from .ops.registry import REGISTRY, failure_class
from .passes import PassContext, run_passes
from .plan_cache import MAX_RECORDS, CacheInfo, Entry, TraceRecord
from .side_effects import Snapshot
from .source import user_source
from .tensor import Tensor
from .trace import Spec, arg_names, register_names, trace_into

CACHE_SIZE = 8  # plans kept per compiled function (least recently used dropped first)

__all__ = ["CACHE_SIZE", "CacheInfo", "CompiledFunction", "Entry", "TraceRecord", "compile"]


class CompiledFunction:
    """A function traced once per signature and run as an optimized plan afterwards."""

    def __init__(self, fn, backend=None, passes="default", debug: bool = False,
                 cache_size: int = CACHE_SIZE):
        if not isinstance(cache_size, int) or cache_size < 1:
            raise GraphgradError(f"gg.compile: cache_size must be a positive int, got "
                                 f"{cache_size!r}", source=user_source())
        self.fn = fn
        self.cache_size = cache_size
        self._clock = 0  # calls that ran a plan: hits and traces (each entry's `used`)
        self._evictions = 0
        self.backend_name = backend
        self.passes = passes
        self.debug = debug
        self.entries: dict[tuple, list[Entry]] = {}
        self.last: Entry | None = None
        self._records: collections.deque = collections.deque(maxlen=MAX_RECORDS)
        self._traces = 0
        self._warned = False
        self._last_signature = None
        self._args: tuple = ((), {})
        self._names = arg_names(fn, 64)
        self._backend_key, self._backend_obj = None, None
        self._hit_entry = None  # the plan engine/fast_call.py tries first (one read)
        self._state_args: dict = {}  # id -> weakref: tensor arguments that are state
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

    @property
    def _hits(self) -> int:
        """Calls that found their plan (every other call traced one)."""
        return self._clock - self._traces

    def __call__(self, *args, **kwargs):
        entry = self._hit_entry  # the last plan, unless anything changed
        if entry is not None and not kwargs:
            fast = entry.fast
            if fast is not None and not _anomaly.enabled:  # the commonest call, in one
                try:
                    out = fast(args)
                except GraphgradError:
                    raise
                except Exception as exc:
                    raise self._runtime_error(entry, exc) from exc
                if out is not MISS:
                    self._clock = entry.used = self._clock + 1  # (a hit: see `_hits`)
                    return out
                entry = None  # (hit would fail the same checks: the general path)
        if entry is not None and not kwargs:
            arrays = entry.hit(args)
            if arrays is not None:
                self._clock = entry.used = self._clock + 1  # (a hit: see `_hits`)
                self._args = (args, kwargs)  # (a lone plan came here only under anomaly mode)
                picks = entry.hit.tensors
                return self._run(entry, arrays,
                                 args if picks is None else [args[i] for i in picks])
        self._args = (args, kwargs)
        backend = self._backend_obj  # (the current backend, unless the default changed)
        if (self.backend_name or _backend_registry._default_name) != self._backend_key:
            backend = self._current_backend()
        signature, arrays, objs = flatten_call(args, kwargs, self._names, backend,
                                               self._state_args)
        entries = self.entries.get(signature, ())
        for entry in entries:
            try:
                valid = entry.valid()
            except Exception:  # noqa: BLE001  (failed_guard says which guard could not run)
                valid = False
            if valid:
                self._clock = entry.used = self._clock + 1
                self.last = entry
                self._set_hit(entry, backend)
                return self._run(entry, arrays, objs)
        self._check_arity(args, kwargs)
        changed = None
        if entries:  # what changed since the plan of this signature used last
            reason = f"guard failed: {max(entries, key=lambda e: e.used).failed_guard()}"
        else:
            reason, changed = describe_change(self._last_signature, signature,
                                              arg_names(self.fn, len(args)))
        try:
            entry = self._trace(signature, (args, kwargs, objs), backend, reason, changed)
        except tracing.StateArgument as found:  # `step(w, x)`, w updated by the optimizer
            self._learn_state_argument(found.tensor)
            return self(*args, **kwargs)  # the same call, that tensor by identity
        self._set_hit(entry, backend)
        return self._run(entry, arrays, objs)

    def _learn_state_argument(self, tensor) -> None:
        """A tensor argument the trace reached as state too (`step(w, x)` with `w` a
        parameter its optimizer updates) is that state, as eagerly, not an input whose
        updates the optimizer never sees: from now on it is in the signature by identity."""
        for key in [k for k, ref in self._state_args.items() if ref() is None]:
            del self._state_args[key]  # (dead tensors: their ids may come back)
        self._state_args[id(tensor)] = weakref.ref(tensor)

    def _set_hit(self, entry, backend) -> None:
        """The next call tries `entry` first, through one generated check of its
        arguments and guards (engine/fast_call.py); built once per entry."""
        if entry.hit is False:
            default = None if self.backend_name else self._backend_key
            entry.hit = build_hit(entry, backend, default)
            entry.fast = getattr(entry.hit, "fast", None)
        self._hit_entry = entry if entry.hit is not None else None

    def _check_arity(self, args, kwargs):
        """A call that could not bind to `fn`'s parameters fails here, not inside the trace."""
        try:
            params = inspect.signature(self.fn)
        except (TypeError, ValueError):
            return
        try:
            params.bind(*args, **kwargs)
        except TypeError as e:
            name = getattr(self.fn, "__name__", "the compiled function")
            raise SignatureError(f"compiled function {name}{params} was called with "
                                 f"{len(args)} argument(s): {e}", source=user_source()) from None

    def _run(self, entry, arrays, objs):
        if _anomaly.enabled:  # gg.detect_anomaly(): a plan that checks every result
            entry = checked_plan.checked_entry(self, entry)
        if entry.input_writes:
            _check_no_aliasing(entry, objs, getattr(self.fn, "__name__", "the step"))
        try:
            outs = entry.plan.run(*arrays)
        except GraphgradError:
            raise
        except Exception as exc:
            raise self._runtime_error(entry, exc) from exc
        backend = entry.plan.backend
        if entry.lone:
            return Tensor._wrap(outs[0], backend)
        n_out = entry.n_outputs
        if entry.plain:  # no write-backs, mode switches or argument grads
            return entry.rebuild([Tensor._wrap(o, backend) for o in outs[:n_out]])
        for module, training in entry.mode_sets:  # train()/eval() inside the step
            object.__setattr__(module, "training", training)
        if entry.input_writes:
            _write_back(entry.input_writes, outs[n_out:], objs, backend)
        if entry.optimized.input_grads:
            n_all = n_out + len(entry.input_writes)
            self._set_input_grads(entry, outs[n_all:], objs, backend)
        return entry.rebuild([Tensor._wrap(o, backend) for o in outs[:n_out]])

    def _set_input_grads(self, entry, grads, objs, backend):
        """Inputs that required grad get their gradient in `.grad` as eagerly: added to
        what was there, or replacing it where the step assigned `x.grad` itself."""
        graph = entry.optimized
        grads = iter(grads)
        for k in sorted(graph.input_grads):
            g = None if graph.input_grads[k] is None else next(grads)
            arg = objs[k]
            if not isinstance(arg, Tensor):
                continue
            if g is None or k in graph.input_grad_assign or arg._grad is None:
                arg._grad = None if g is None else Tensor._wrap(g, backend)
            else:
                arg._grad = Tensor._wrap(arg._grad._value + g, backend)

    def _runtime_error(self, entry, exc):
        node = entry.plan.node_for_traceback(sys.exc_info()[2])
        if node is None:
            return failure_class(exc)(f"the compiled plan failed: {exc}")
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
    def _trace(self, signature, call, backend, reason, changed=None) -> Entry:
        # Python's cyclic GC is paused while compiling: tracing and the passes allocate
        # many small objects, and its full collections walk every live one (a fifth of
        # a big graph's first call, for nothing to collect).
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._compile(signature, call, backend, reason, changed)
        finally:
            if paused:
                gc.enable()

    def _compile(self, signature, call, backend, reason, changed=None) -> Entry:
        t0 = time.perf_counter()
        graph, rebuild, tracer = self._trace_graph(signature, call, backend)
        if self.debug:
            graph.verify()
        ctx = PassContext(backend=backend, debug=self.debug)
        optimized, stats = run_passes(graph, self.passes, ctx)
        plan = lower(optimized, backend, getattr(self.fn, "__name__", "plan"))
        guard_set = guards.GuardSet(guards.collect(tracer, self.fn, graph.mode_sets),
                                    optimized.guards)
        entry = Entry(signature, graph, optimized, stats, plan, rebuild, guard_set)
        self.entries.setdefault(signature, []).append(entry)
        self._clock += 1
        entry.used = self._clock
        self._traces += 1
        self._records.append(TraceRecord(signature, reason, time.perf_counter() - t0,
                                         changed, self._hits + self._traces))
        self._evict()
        self._last_signature = signature
        self.last = entry
        return entry

    def _trace_graph(self, signature, call, backend):
        """Trace `fn` on symbolic stand-ins for the tensor arguments: (graph, rebuild,
        tracer). A trace that raises, or that changed Python state, changes nothing."""
        args, kwargs, objs = call
        tracer = tracing.Tracer(backend)
        tracer.arguments = {id(o): o for o in objs if isinstance(o, Tensor)}
        names = paths(signature, arg_names(self.fn, len(args)))
        held = objects(signature, names)  # modules and optimizers passed in
        register_names(tracer, self.fn, held)
        tensor_pos = [i for i, s in enumerate(signature[3]) if s[0] == "tensor"]
        specs = [Spec(*signature[3][i][1:4]) for i in tensor_pos]

        def traced(*tensors):
            new_args, new_kwargs = rebuild_call(signature, args, kwargs, tensors)
            return self.fn(*new_args, **new_kwargs)

        snapshot = Snapshot(self.fn, held)
        try:
            graph, rebuild = trace_into(tracer, traced, specs, [names[i] for i in tensor_pos],
                                        write_back=True)
            snapshot.check(getattr(self.fn, "__name__", "the compiled function"))
        except BaseException:
            tracer.abort()
            snapshot.restore()
            raise
        graph.mode_sets = snapshot.mode_sets()
        return graph, rebuild, tracer

    def _evict(self) -> None:
        """Drop least recently used plans until at most `cache_size` remain."""
        plans = [e for group in self.entries.values() for e in group]
        excess = len(plans) - self.cache_size
        if excess <= 0:
            return
        for old in sorted(plans, key=lambda e: e.used)[:excess]:
            group = self.entries[old.signature]
            group.remove(old)
            if not group:
                del self.entries[old.signature]
            if old is self._hit_entry:
                self._hit_entry = None
            self._evictions += 1
        self._warn_if_thrashing()

    def _warn_if_thrashing(self) -> None:
        """Once: most recent calls traced (more live signatures than the cache holds)."""
        recent = list(self._records)[-(self.cache_size + 1):]
        calls = self._hits + self._traces
        if self._warned or len(recent) <= self.cache_size \
                or calls - recent[0].call + 1 > 2 * len(recent):
            return
        self._warned = True
        counts = collections.Counter(r.changed for r in recent if r.changed)
        culprit = counts.most_common(1)[0][0] if counts else None
        name = getattr(self.fn, "__name__", "a compiled function")
        what = (f"argument {culprit!r} keeps changing (e.g. {recent[-1].reason.split(': ', 1)[-1]})"
                if culprit else f"the last trace's reason: {recent[-1].reason}")
        warnings.warn(
            f"gg.compile: {name} was traced again on {len(recent)} of its last "
            f"{calls - recent[0].call + 1} calls, more signatures than its cache holds "
            f"(cache_size={self.cache_size}); {what}. Pass values that change as tensors, "
            "keep shapes fixed, or raise cache_size.", stacklevel=5)

    # ------------------------------------------------------------------ introspection
    def cache_info(self) -> CacheInfo:
        return CacheInfo(self._traces, self._hits,
                         sum(len(v) for v in self.entries.values()), list(self._records),
                         self._evictions)

    @property
    def source(self) -> str:
        """The generated code of the newest plan (like torch.fx's `.code`)."""
        if self.last is None:
            raise TracingError("nothing compiled yet: call the function once first")
        return self.last.source

    def backend_info(self) -> str:
        """How the newest plan runs, in one line: the backend's whole-plan code, or the
        per-kernel plan and why (a backend may decline a plan it cannot compile)."""
        if self.last is None:
            raise TracingError("nothing compiled yet: call the function once first")
        return self.last.plan.backend_info

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter shows the newest plan's diagram (text when it cannot be drawn)."""
        # layer: viz draws graphs from above the engine (and needs graphviz); it is loaded
        # only when a notebook asks for the picture
        from graphgrad.viz import repr_mimebundle

        return repr_mimebundle(self, include, exclude)


def _write_back(positions, values, objs, backend) -> None:
    """In-place changes the step made to argument tensors reach the caller's objects, as
    an in-place op does: through a view into its base, into an array the user holds."""
    for k, value in zip(positions, values):
        obj = objs[k]
        if isinstance(obj, Tensor):
            if obj._backend is not backend:
                value = obj._backend.from_numpy(backend.to_numpy(value))
            new = Tensor._wrap(value, obj._backend)
            if new.shape != obj.shape:  # `x.data = ...` of another shape: new memory
                obj._value, obj.shape = value, tuple(value.shape)
                obj._version += 1
                continue
            with grad_mode.no_grad():
                obj._inplace(lambda s, new=new: new)
        else:  # a NumPy array argument
            obj[...] = backend.to_numpy(value)


def _check_no_aliasing(entry, objs, name: str) -> None:
    """A step that writes into an argument in place, called with that argument's memory
    passed again (`step(a, a)`, overlapping views): eagerly the write shows through the
    other; the plan takes them as separate inputs. Refused, never a silent difference."""
    tensors = [(k, o) for k, o in enumerate(objs) if isinstance(o, Tensor)]
    for k in entry.input_writes:
        a = objs[k]
        if not isinstance(a, Tensor):
            continue
        for j, b in tensors:
            if j != k and (a is b or _overlap(a, b)):
                raise TracingError(
                    f"{name}: argument {k} is written in place and shares memory with "
                    f"argument {j} (the same tensor, or views of one): the compiled step "
                    "would read the other's old value. Pass separate tensors (clone() one).",
                    source=user_source())


def _overlap(a: Tensor, b: Tensor) -> bool:
    base_a = a if a._base is None else a._base
    base_b = b if b._base is None else b._base
    if base_a is not base_b:
        return False
    va, vb = a._value, b._value
    return not isinstance(va, np.ndarray) or np.may_share_memory(va, vb)


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
    if not callable(fn):
        raise GraphgradError(f"gg.compile expects a function or a module, got a "
                             f"{type(fn).__name__}", source=user_source())
    return CompiledFunction(fn, backend, passes, debug, cache_size)

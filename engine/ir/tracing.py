"""Tracing: running user code on symbolic tensors to record a Graph.

While a `Tracer` is `current`, every op adds a node instead of running a kernel
(`ops.registry.apply`). Concrete tensors the code touches from outside (parameters,
buffers, optimizer state, `.grad`) become *state reads*; in-place updates of them
become *state writes*. Tracing never changes a concrete tensor: `finish()` restores
whatever Python-side bookkeeping (grads, versions) the traced code touched.
"""

from __future__ import annotations

import contextlib
import sys

from .. import dtypes, grad_mode
from ..arrays import copy_into
from ..errors import TracingError
from ..source import user_source
from .graph import Graph

current: Tracer | None = None


class TensorRef:
    """State held in a tensor object (a parameter, a buffer, optimizer state)."""

    kind = "tensor"

    def __init__(self, tensor):
        self.tensor = tensor

    def read(self):
        return self.tensor._value

    def write(self, value):
        t = self.tensor
        if not (t._exposed and copy_into(t._value, value)):  # (the user's array: in place)
            t._value = value


class GradRef:
    """The `.grad` slot of a tensor (it may be None, or be replaced between calls).

    `fresh`: the step sets the slot to None before filling it (`zero_grad()`), so each
    call leaves a new gradient tensor, as eagerly, and a reference the user kept to the
    last one keeps its values. The tensor object is reused only when nothing else holds
    it (its reference count: the slot's alone), which nobody can tell apart."""

    kind = "grad"
    fresh = False

    def __init__(self, owner):
        self.owner = owner

    def read(self):
        return self.owner._grad._value

    def write(self, value):
        owner = self.owner
        if value is None:
            owner._grad = None
        elif owner._grad is None or (self.fresh and sys.getrefcount(owner._grad) > 2):
            owner._grad = _classes["tensor"]._wrap(value, owner._backend)
        else:
            owner._grad._value = value


#: The classes a Tracer makes symbolic values of. tensor.py, a layer above (it reads
#: `current` on every op), registers them as it loads, so this file imports no Tensor.
_classes: dict[str, type] = {}


def register_tensor_classes(tensor: type, weak_scalar: type) -> None:
    """Make traced values (and `.grad` slots written back) instances of these classes."""
    _classes["tensor"], _classes["weak_scalar"] = tensor, weak_scalar


class ScalarRef:
    """A Python number read from a container at each call (e.g. an optimizer's lr, or
    `betas[0]`: `index` picks an item of a tuple-valued entry; or `fn(container)`, a
    number derived from it, such as `1 - betas[0]`, computed in Python as eagerly)."""

    kind = "scalar"

    def __init__(self, container, key, index=None, fn=None):
        self.container, self.key, self.index, self.fn = container, key, index, fn

    def read(self):
        if self.fn is not None:
            return self.fn(self.container)
        value = self.container[self.key]
        return value if self.index is None else value[self.index]


class StateArgument(TracingError):
    """A tensor argument was reached as state during the trace (the function's optimizer
    or module holds it): the caller traces again with that tensor itself, by identity,
    instead of a stand-in (engine/compile.py)."""

    def __init__(self, tensor):
        super().__init__("a tensor argument is also state the function updates")
        self.tensor = tensor


class Tracer:
    """Records the ops run while it is current into `self.graph`."""

    def __init__(self, backend):
        self.graph = Graph()
        self.backend = backend
        self.phase = "forward"
        self.after_backward = False
        self.scopes: list[str] = []
        self.bindings: dict[int, int] = {}  # id(concrete tensor) -> node standing for it now
        self.keep: dict[int, object] = {}  # keeps those tensors alive so ids stay unique
        self.created: set[int] = set()  # concrete tensors made during the trace
        self.writes: dict[int, object] = {}  # concrete tensors updated in place
        self.saved: dict[int, tuple] = {}  # their bookkeeping before the trace
        self.grad_owners: dict[int, tuple] = {}  # id -> (tensor, grad before the trace)
        self.cleared_grads: set[int] = set()  # ids whose .grad the traced code set to None
        self.names: dict[int, str] = {}  # id(tensor or module) -> user-facing dotted name
        self.modules: dict[int, object] = {}  # modules called: their train()/eval() is guarded
        self.scalars: dict[tuple, object] = {}
        self.grad_reads: dict[int, tuple] = {}  # id(owner) -> (owner, grad was None)
        self.guards: list[tuple] = []  # (description, expression, *objects): see engine/guards
        self.attr_reads: dict[tuple, tuple] = {}  # (id(obj), name) -> (obj, name, value, kind)
        self.new_entries: list[tuple] = []  # (dict, key) added during the trace (undone on error)
        # first state read (position, name) by node and by id(tensor): `_name_of_state`
        self.read_by_node: dict[int, tuple] = {}
        self.read_by_tensor: dict[int, tuple] = {}
        # id -> the caller's tensors the trace runs on stand-ins for: one of them reached
        # as state too (a parameter passed in and updated by its optimizer) is that state
        self.arguments: dict[int, object] = {}
        # id -> NumPy arrays the traced code made tensors of: constants of the plan, so
        # the ones it reaches through globals and objects are guarded (engine/guards.py)
        self.arrays: dict[int, object] = {}
        self.group_reads: dict[tuple, tuple] = {}  # (id(group), key) -> (group, key, value)

    # ------------------------------------------------------------------ nodes
    def add(self, op, args, attrs, shape, dtype, name=None) -> int:
        phase = self.phase
        if phase == "forward" and self.after_backward and not grad_mode._enabled \
                and op not in ("state", "const", "input"):
            phase = "update"  # no_grad code after backward(): a hand-written optimizer step
        return self.graph.add_node(
            op, args, attrs, shape=shape, dtype=dtype, phase=phase,
            source=user_source(), name=name, scope=self.scopes[-1] if self.scopes else None,
        )

    def input(self, tensor_like, name) -> int:
        """A new input node (its tensors' grads become `graph.input_grads`)."""
        n = self.add("input", (), {"index": len(self.graph.inputs)}, tensor_like.shape,
                     tensor_like.dtype, name=name)
        self.graph.inputs.append(n)
        return n

    def node_of(self, t) -> int:
        """The node that stands for tensor `t` at this point of the trace."""
        if t._value is None:
            if t._tracer is not self:
                raise TracingError(
                    "a symbolic tensor from another trace was used here; a traced function "
                    "must not keep tensors from one call to the next",
                    source=user_source(),
                )
            return t._node
        n = self.bindings.get(id(t))
        if n is None:  # a view made before the trace reads its base (engine/views.py)
            n = t._derived_node(self) if t._base is not None else self._read_state(t)
        return n

    def _read_state(self, t) -> int:
        self._check_not_argument(t)
        name = self.unique_name(self.names.get(id(t), "state"))
        return self._state_node(t, name, TensorRef(t))

    def _state_node(self, t, name, ref) -> int:
        # phase: where it is first read (parameters: forward; the backward seed: backward)
        n = self.add("state", (), {}, t.shape, t.dtype, name=name)
        self._index_read(name, n, t if ref.kind == "tensor" else None)
        self.graph.state_reads[name] = n
        self.graph.state_refs[name] = ref
        self.bindings[id(t)] = n
        self.keep[id(t)] = t
        return n

    def unique_name(self, base: str) -> str:
        name, i = base, 1
        while name in self.graph.state_refs:
            name, i = f"{base}_{i}", i + 1
        return name

    def scalar(self, container, key, dtype, index=None, fn=None):  # noqa: PLR0913
        """A Python number that is read afresh at every call (not baked into the plan)."""
        k = (id(container), key, index, dtype)
        n = self.scalars.get(k)
        if n is None:
            label = key if index is None else f"{key}.{index}"
            name = self.unique_name(f"{self.names.get(id(container), 'scalar')}.{label}")
            with self.in_phase("forward"):
                n = self.add("state", (), {"scalar": True}, (), dtype, name=name)
            self._index_read(name, n, None)
            self.graph.state_reads[name] = n
            self.graph.state_refs[name] = ScalarRef(container, key, index, fn)
            self.scalars[k] = n
            self.keep[id(container)] = container
        return _classes["weak_scalar"]._symbolic(self, n, (), dtype, self.backend)

    # ------------------------------------------------------------------ in-place updates
    def assign(self, target, result) -> None:
        n = self.node_of(result)
        if target._value is None:
            target._node = n
            target.shape = result.shape
            return
        if id(target) not in self.writes:
            self.node_of(target)  # the old value stays readable as state
            self.saved[id(target)] = (target._ctx, target.requires_grad, target._version)
            self.writes[id(target)] = target
        self.bindings[id(target)] = n

    def note_created(self, t) -> None:
        self.created.add(id(t))
        self.keep[id(t)] = t

    def _check_not_argument(self, t) -> None:
        if self.arguments.get(id(t)) is t:
            raise StateArgument(t)

    def note_grad_owner(self, owner, writing: bool = True) -> None:
        if id(owner) not in self.grad_owners:
            self._check_not_argument(owner)
            self.grad_owners[id(owner)] = (owner, owner._grad)
            self.keep[id(owner)] = owner
            if writing and owner._value is None and owner._node in self.graph.inputs:
                # `x.grad = ...` before any read: the caller's grad is replaced, not added to
                self.graph.input_grad_assign.add(self.graph.inputs.index(owner._node))

    def note_grad_read(self, owner) -> None:
        """`owner.grad` was read: its current grad tensor (if any) is state, guarded."""
        if id(owner) not in self.grad_owners and owner._value is not None:
            # first touch of a concrete tensor's grad: the value depends on the caller
            self.grad_reads[id(owner)] = (owner, owner._grad is None)
        self.note_grad_owner(owner, writing=False)
        grad = owner._grad
        if grad is None or grad._value is None or id(grad) in self.bindings:
            return
        base = self.names.get(id(owner), "state")
        self._state_node(grad, self.unique_name(f"{base}.grad"), GradRef(owner))

    def note_group_read(self, group, key, value) -> None:
        """The user's code read an optimizer hyperparameter (guarded, engine/guards.py)."""
        self.group_reads.setdefault((id(group), key), (group, key, value))
        self.keep[id(group)] = group

    def note_array(self, array) -> None:
        self.arrays[id(array)] = array

    def note_module(self, module) -> None:
        self.modules[id(module)] = module

    def guard(self, describe: str, expr: str, *objs) -> None:
        """Record a guard: `expr` (with `{0}`, `{1}`... for `objs`) must hold at every call."""
        self.guards.append((describe, expr, objs))

    def note_attr(self, obj, name: str, value, kind: str = "__dict__") -> None:
        """`obj.name` was read while tracing (kind: where it lives: `__dict__` or one of a
        module's registries, `_parameters`, `_buffers`, `_modules`)."""
        key = (id(obj), name)
        if key not in self.attr_reads:
            self.attr_reads[key] = (obj, name, value, kind)
            self.keep[id(obj)] = obj

    def note_new_entry(self, container: dict, key) -> None:
        """`container[key]` was created by the traced code (e.g. optimizer state made on
        the first step): a trace that fails removes it again."""
        self.new_entries.append((container, key))

    # ------------------------------------------------------------------ context
    @contextlib.contextmanager
    def in_phase(self, phase: str):
        prev, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.phase = prev
            self.after_backward |= phase == "backward"

    @contextlib.contextmanager
    def in_scope(self, name: str):
        self.scopes.append(name)
        try:
            yield
        finally:
            self.scopes.pop()

    # ------------------------------------------------------------------ finishing
    def abort(self) -> None:
        """Undo what a trace that raised did to concrete objects: grads, the bookkeeping
        of tensors written in place, entries it created (e.g. optimizer state)."""
        for owner, before in self.grad_owners.values():
            owner._grad = before
        self._restore_written()
        for container, key in reversed(self.new_entries):
            container.pop(key, None)

    def _restore_written(self) -> None:
        for tid, t in self.writes.items():
            t._ctx, t.requires_grad, t._version = self.saved[tid]

    def finish(self, outputs) -> Graph:
        """Record outputs and state writes, restore Python-side state, return the Graph."""
        g = self.graph
        g.outputs = [self.node_of(t) for t in outputs]
        final_grads = {}
        for oid, (owner, before) in self.grad_owners.items():
            final_grads[oid] = owner._grad
            owner._grad = before
        grad_objects = {id(gr) for gr in final_grads.values() if gr is not None}
        self._restore_written()
        for tid, t in self.writes.items():
            if tid in grad_objects:
                continue  # written through its owner's grad slot below
            name = self._name_of_state(t)
            g.state_writes[name] = self.bindings[tid]
        for oid, grad in final_grads.items():
            owner, before = self.grad_owners[oid]
            if owner._value is None and owner._node in g.inputs:
                i = g.inputs.index(owner._node)  # the caller's tensor gets it (CompiledFunction)
                if grad is not None:
                    g.input_grads[i] = self.node_of(grad)
                elif i in g.input_grad_assign:
                    g.input_grads[i] = None  # cleared
                continue
            if grad is None and before is None:
                continue
            name = f"{self.names.get(oid, self._name_of_state(owner))}.grad"
            if name not in g.state_refs:
                g.state_refs[name] = GradRef(owner)
            g.state_refs[name].fresh = grad is not None and oid in self.cleared_grads
            g.state_writes[name] = None if grad is None else self.node_of(grad)
        self._freeze_constants()
        return g

    def _index_read(self, name, n, tensor) -> None:
        entry = (len(self.graph.state_reads), name)
        self.read_by_node.setdefault(n, entry)
        if tensor is not None:
            self.read_by_tensor.setdefault(id(tensor), entry)

    def _name_of_state(self, t) -> str:
        """The first state read standing for t's current node or holding t (indexed: a
        scan of all reads per written tensor made tracing quadratic)."""
        hits = [h for h in (self.read_by_node.get(self.bindings.get(id(t))),
                            self.read_by_tensor.get(id(t))) if h is not None]
        if hits:
            return min(hits)[1]
        name = self.unique_name(self.names.get(id(t), "state"))
        self.graph.state_refs[name] = TensorRef(t)
        return name

    def _freeze_constants(self) -> None:
        """Tensors made during the trace and never written are constants, not state."""
        g = self.graph
        written = {w for w in g.state_writes}
        for name, n in list(g.state_reads.items()):
            ref = g.state_refs[name]
            if ref.kind == "tensor" and id(ref.tensor) in self.created and name not in written:
                data = g[n]
                # Host-side, through the backend: passes and lowering read constants with
                # NumPy, and a device array refuses implicit conversion (CuPy).
                value = ref.tensor._backend.to_numpy(ref.tensor._value)
                data.update(op="const", attrs={"value": value}, name=None)
                del g.state_reads[name], g.state_refs[name]


#: Context-manager factories entered around every trace: layers above `ir` (e.g. `nn`,
#: which records the module attributes a trace reads) register here instead of being
#: imported from below.
trace_hooks: list = []


@contextlib.contextmanager
def tracing(tracer: Tracer):
    """Make `tracer` current for the duration of the block (nested traces are refused)."""
    global current
    if current is not None:
        raise TracingError("gg.compile/gg.trace called while already tracing another function",
                           source=user_source())
    current = tracer
    try:
        with contextlib.ExitStack() as stack:
            for hook in trace_hooks:
                stack.enter_context(hook(tracer))
            yield tracer
    finally:
        current = None


@contextlib.contextmanager
def phase(name: str):
    """Mark the nodes made inside as belonging to `name` (no-op when not tracing)."""
    if current is None:
        yield
    else:
        with current.in_phase(name):
            yield


def name_state(tensor, name: str) -> None:
    """Give a state tensor a readable name in graphs and diagrams (no-op when not tracing)."""
    if current is not None:
        current.names.setdefault(id(tensor), name)


def dynamic_scalar(container, key, index=None, fn=None, dtype=None):
    """`container[key]` (or `container[key][index]`, or `fn(container)` for a number
    derived from it, named `key`), a Python number read at every call of a compiled plan.

    Eagerly it is just that number. Python arithmetic on hyperparameters (`1 - beta1`)
    belongs in `fn`: computed in Python at every call, it stays a weak Python number,
    so `grad * (1 - beta1)` rounds in float32 exactly as eager code does. `dtype` (say
    the parameter's) types the node like the tensors it scales, so no cast is needed
    (a cast shared by every parameter would weld their updates into one fused group);
    the default is float64."""
    if current is None:
        if fn is not None:
            return fn(container)
        value = container[key]
        return value if index is None else value[index]
    return current.scalar(container, key, dtype or dtypes.float64, index, fn)

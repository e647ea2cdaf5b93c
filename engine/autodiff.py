"""Reverse-mode autodiff: one implementation for eager tensors and traced graphs.

Every op result that needs a gradient remembers its op and inputs (`Tensor._ctx`).
`backward` orders those records topologically (iteratively: deep graphs do not hit
Python's recursion limit) and applies each op's VJP rule in reverse. The rules are
written with Tensor ops, so while tracing they add the backward graph's nodes
(marked `phase="backward"`) and with `create_graph=True` they record their own
history, which is what makes higher derivatives work.
"""

from __future__ import annotations

import contextlib
import itertools
import weakref
from collections.abc import Callable

from . import anomaly, grad_mode
from .creation import as_tensor, ones_like
from .errors import AutogradError, ShapeError
from .ir import tracing
from .source import user_source
from .tensor import RETAINING, Ctx, Tensor

_NO_SCOPE = contextlib.nullcontext()


def _topological(roots, follow=lambda x: x.requires_grad) -> list[Tensor]:
    """Recorded tensors reachable from `roots` through inputs that `follow` accepts
    (by default: those that need gradients), inputs before the tensors made from them;
    one tensor per autograd node (a node's inputs may hold a shell of its result: see
    tensor._held)."""
    order, seen = [], set()
    stack = [(r, False) for r in reversed(roots)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if node_key(t) in seen:
            continue
        seen.add(node_key(t))
        stack.append((t, True))
        if t._ctx is not None:
            stack.extend((x, False) for x in reversed(t._ctx.inputs)
                         if follow(x) and node_key(x) not in seen)
    return order


def node_key(t: Tensor) -> int:
    """Which autograd node `t` stands for, as a number: its Ctx's id, or a leaf's own."""
    return id(t._ctx) if t._ctx is not None else id(t)


def _node(t: Tensor):
    """The autograd node a tensor stands for now: its Ctx, or itself for a leaf."""
    return t._ctx if t._ctx is not None else t


def _node_order(roots) -> list:
    """Nodes (Ctx objects and leaf tensors) reachable from `roots`, parents first."""
    order, seen = [], set()
    stack = [(r, False) for r in reversed(roots)]
    while stack:
        n, expanded = stack.pop()
        if expanded:
            order.append(n)
            continue
        if id(n) in seen:
            continue
        seen.add(id(n))
        stack.append((n, True))
        if isinstance(n, Ctx):
            stack.extend((p, False) for p in reversed(n.parents)
                         if p is not None and id(p) not in seen)
    return order


def _leading_to(order, wanted_ids) -> set[int]:
    """Ids of the nodes (in topological `order`) from which a wanted node is reached:
    the only ones whose gradients `grad(outputs, wanted)` has to compute."""
    needed = set(wanted_ids)
    for n in order:
        if isinstance(n, Ctx) and any(id(p) in needed for p in n.parents if p is not None):
            needed.add(id(n))
    return needed


def _check_usable(ctx: Ctx) -> None:
    """PyTorch's two refusals: saved values were freed, or changed in place since."""
    if ctx.released:
        raise AutogradError(
            f"backward through the graph a second time: the values `{ctx.op.name}` saved for "
            "its gradient were freed by the first backward(); pass retain_graph=True to the "
            "first call if you need to backward twice", op=ctx.op.name, source=user_source())
    checks = [(ctx.inputs[i].shape, ctx.inputs[i]._version, v, "an input of")
              for i, v in zip(ctx.saved, ctx.versions)]
    checks += [(t.shape, t._version, v, f"an input of `{by}`, via") for t, v, by in ctx.extra]
    if ctx.out_vc is not None:
        out = None if ctx.out is None else ctx.out()
        checks.append((None if out is None else out.shape, ctx.out_vc[0], ctx.out_version,
                       "the output of"))
    for shape, now, v, what in checks:
        if now != v:
            raise AutogradError(
                f"{what} `{ctx.op.name}`{'' if shape is None else f' (shape {shape})'}, "
                f"which its gradient needs, was changed by an in-place operation after "
                f"{ctx.op.name} ran (its version went from {v} to {now}); use an "
                "out-of-place op or .clone() it first", op=ctx.op.name, source=user_source())


def _output_of(ctx: Ctx, g: Tensor) -> Tensor:
    """The tensor `ctx` made, or (when it is gone, and so its VJP does not read it) a
    stand-in of the cotangent's shape."""
    out = None if ctx.out is None else ctx.out()
    if out is None:
        out = Tensor._symbolic(None, None, g.shape, g.dtype, g._backend)
        out._ctx, out.requires_grad = ctx, True
    return out


def _seed(root: Tensor, gradient) -> Tensor:
    if gradient is None:
        if root.numel() != 1:
            raise AutogradError(
                f"backward() on a tensor of shape {root.shape} needs a `gradient` argument "
                "of the same shape (only scalars get an implicit gradient of 1)",
                source=user_source())
        return ones_like(root)
    g = as_tensor(gradient, root.dtype, like=root)
    if g.shape != root.shape:
        raise ShapeError(f"backward(): gradient of shape {g.shape} does not match the tensor's "
                         f"shape {root.shape}", source=user_source())
    return g


def backprop(roots, seeds, wanted=None, create_graph=False, retain_graph=None,
             retained: bool = False,
             on_leaf: Callable | None = None) -> dict[int, tuple[Tensor, Tensor]]:
    """Cotangents of `roots` (seeded with `seeds`) pushed back to every leaf.

    Returns `{id(tensor): (tensor, gradient)}` for the leaves, for the tensors in `wanted`
    (which may be non-leaves), and with `retained` for non-leaves that `retain_grad()`.
    When `wanted` is given, only the part of the graph that leads to it is walked, and
    leaves outside that part get nothing. Unless `retain_graph` (default:
    `create_graph`), each node frees its saved values as soon as its VJP has run (see
    `_Release`), so a backward holds little more than the cotangents.
    With `on_leaf`, a leaf's gradient (and a retained non-leaf's) goes to
    `on_leaf(tensor, gradient)` as soon as it is complete (the walk is in reverse
    topological order, so nothing adds to it later) instead of into the result: what
    lets `backward()` run post-accumulate-grad hooks, and so data-parallel all-reduces,
    while the rest of the backward pass still runs.
    """
    retain = create_graph if retain_graph is None else retain_graph
    retaining = retained and len(RETAINING) > 0
    wanted_nodes = {id(_node(t)): t for t in wanted or ()}
    grads: dict[int, Tensor] = {}
    for r, s in zip(roots, seeds):
        k = id(_node(r))
        grads[k] = s if k not in grads else grads[k] + s
    results: dict[int, tuple[Tensor, Tensor]] = {}

    def deliver(t: Tensor, g: Tensor) -> None:
        if on_leaf is None:
            results[id(t)] = (t, g)
        else:
            on_leaf(t, g)

    order = _node_order([_node(r) for r in roots])
    needed = None if wanted is None else _leading_to(order, wanted_nodes)
    release = None if retain else _Release(early=tracing.current is None)
    try:
        with tracing.phase("backward"), grad_mode.set_grad_enabled(create_graph), \
                (anomaly.backward_scope() if anomaly.enabled else _NO_SCOPE):
            for n in reversed(order):
                g = grads.pop(id(n), None)
                if g is None:
                    continue
                if GRAD_HOOKS and id(n) in GRAD_HOOKS:
                    g = _run_grad_hooks(GRAD_HOOKS[id(n)], g)
                _record(n, g, results, wanted_nodes, retaining, deliver)
                if isinstance(n, Ctx):
                    with _scope_of(n):
                        _push_back(n, g, grads, needed)
                    if release is not None:
                        release.ran(n)
                del g  # (the cotangent dies with the last gradient made from it)
    finally:
        if release is not None:
            release.finish()
    return results


def _record(n, g: Tensor, results: dict, wanted_nodes: dict, retaining: bool,
            deliver: Callable) -> None:
    """Keep `g` as a result when `n` is the node of a wanted tensor, or `deliver` it
    when `n` is a leaf or the node of a non-leaf that retains its gradient."""
    if id(n) in wanted_nodes:
        t = wanted_nodes[id(n)]
        results[id(t)] = (t, g)
    elif not isinstance(n, Ctx):
        deliver(n, g)
    elif retaining and n in RETAINING and n.out is not None and n.out() is not None:
        deliver(n.out(), g)


class _Release:
    """Frees what the nodes of one backward saved (backward without retain_graph).

    Eagerly each node frees its values right after its VJP ran (PyTorch does the same),
    so the walk's peak is the cotangents, not the whole graph. A result that a parent
    reads as its own (tanh's) may have been held only by the freed node's inputs (see
    tensor._held): it waits in `pending` until that parent has run, and goes back to
    its consumers if the parent is never walked (a later backward may walk it: PyTorch
    frees only what it ran). While tracing, symbols cost nothing and a node's result
    says which module its backward belongs to (_scope_of): nodes are freed at the end."""

    def __init__(self, early: bool):
        self.early = early
        self.walked: list[Ctx] = []
        self.pending: dict[int, tuple[Tensor, list]] = {}

    def ran(self, ctx: Ctx) -> None:
        """ctx's VJP has run."""
        self.pending.pop(id(ctx), None)
        if self.early:
            self._free(ctx)
        else:
            self.walked.append(ctx)

    def finish(self) -> None:
        """The walk is over (or failed): free the rest, give back the pending results."""
        for ctx in self.walked:
            self._free(ctx)
        for ctx in self.walked:
            self.pending.pop(id(ctx), None)
        for out, consumers in self.pending.values():
            for ctx, i in consumers:
                ctx.inputs = ctx.inputs[:i] + (out,) + ctx.inputs[i + 1:]
        self.pending.clear()

    def _free(self, ctx: Ctx) -> None:
        for i, p in enumerate(ctx.parents):
            if isinstance(p, Ctx) and p.out_version is not None:
                out = None if p.out is None else p.out()
                if out is not None:
                    self.pending.setdefault(id(p), (out, []))[1].append((ctx, i))
        ctx.release()


def _scope_of(ctx: Ctx):
    """While tracing, the backward nodes of ctx's op belong to the module that made its
    output (so diagrams cluster the backward pass by module too)."""
    tracer = tracing.current
    out = None if tracer is None or ctx.out is None else ctx.out()
    if out is None or out._value is not None or out._tracer is not tracer \
            or out._node not in tracer.graph:
        return _NO_SCOPE
    scope = tracer.graph[out._node]["scope"]
    return tracer.in_scope(scope) if scope else _NO_SCOPE


def _push_back(ctx: Ctx, g: Tensor, grads: dict, needed) -> None:
    """Apply ctx's VJP to `g` and add the results to its parents' cotangents."""
    _check_usable(ctx)
    out = _output_of(ctx, g)
    if anomaly.enabled:  # gg.detect_anomaly() names the op whose gradient this is
        anomaly.differentiating(out)
    for x, p, gx in zip(ctx.inputs, ctx.parents, ctx.op.vjp(g, out, *ctx.inputs, **ctx.attrs)):
        if gx is None or p is None or needed is not None and id(p) not in needed:
            continue
        if callable(gx):
            gx = gx()
        if gx.dtype != x.dtype:
            gx = gx.astype(x.dtype)
        prev = grads.get(id(p))
        grads[id(p)] = gx if prev is None else prev + gx


def backward(root, gradient=None, retain_graph=None, create_graph: bool = False,
             grad_tensors=None, inputs=None) -> None:
    """Accumulate d(root)/d(leaf) into `.grad` of every leaf that requires grad; `root`
    may be a sequence of tensors, with a sequence of gradients (`gg.autograd.backward`).

    As in PyTorch, each leaf is accumulated (and its post-accumulate-grad hooks run) as
    soon as its gradient is complete, while the walk goes on; callbacks queued meanwhile
    (`queue_callback`) run once the whole walk is done. With `inputs` (a tensor or a
    sequence), only those accumulate a gradient, leaves or not."""
    roots = list(root) if isinstance(root, (list, tuple)) else [root]
    gradient = grad_tensors if gradient is None else gradient
    gradients = list(gradient) if isinstance(gradient, (list, tuple)) else [gradient]
    if len(gradients) == 1 and len(roots) > 1 and gradients[0] is None:
        gradients = gradients * len(roots)
    if len(gradients) != len(roots):
        raise AutogradError(f"backward: {len(roots)} tensors and {len(gradients)} gradients",
                            source=user_source())
    for k, r in enumerate(roots):
        if not r.requires_grad:
            which = f"element {k} of the tensors" if len(roots) > 1 else "a tensor"
            raise AutogradError(
                f"backward() on {which} that does not require grad: none of the tensors it "
                "was computed from has requires_grad=True (or it was computed under "
                "gg.no_grad())", source=user_source())
    with tracing.phase("backward"):
        seeds = [_seed(r, g) for r, g in zip(roots, gradients)]

    def accumulate(leaf: Tensor, g: Tensor) -> None:
        with grad_mode.set_grad_enabled(create_graph):
            eager = not create_graph and tracing.current is None
            if eager:  # a tensor of its own around the gradient's array (not a view of it)
                g = Tensor._wrap(g._value, g._backend)
            elif not create_graph:
                g = g.detach()
            # (`.grad` of a leaf: while tracing, reading it makes the old grad state; a
            # non-leaf named in `inputs` has its `_grad` read without the non-leaf warning)
            old = leaf.grad if leaf._ctx is None else leaf._grad
            if old is None:
                leaf.grad = g
            elif not eager or old._base is not None:
                leaf.grad = old + g
            else:  # into the same tensor, as torch: a reference kept to .grad sees the sum
                old.add_(g)
            for hook in list(_post_accumulate_hooks.get(id(leaf), {}).values()):
                hook(leaf)

    _callbacks.append([])
    try:
        if inputs is None:
            backprop(roots, seeds, create_graph=create_graph, retain_graph=retain_graph,
                     retained=True, on_leaf=accumulate)
        else:
            inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
            got = backprop(roots, seeds, wanted=inputs, create_graph=create_graph,
                           retain_graph=retain_graph, on_leaf=lambda t, g: None)
            for t in inputs:
                if id(t) in got:
                    accumulate(t, got[id(t)][1])
        queued = _callbacks[-1]
        while queued:  # a callback may queue another
            queued.pop(0)()
    finally:
        _callbacks.pop()


#: One list per `backward()` in progress (innermost last): the callbacks it runs at its end.
_callbacks: list[list[Callable]] = []


def queue_callback(callback: Callable[[], None]) -> None:
    """Run `callback()` when the `backward()` now in progress has finished its walk (PyTorch's
    `Variable._execution_engine.queue_callback`): data-parallel training waits there for
    the all-reduces its hooks started, so the communication overlaps the rest of the walk."""
    if not _callbacks:
        raise AutogradError("queue_callback() outside backward(): callbacks are queued by "
                            "hooks that run during a backward pass", source=user_source())
    _callbacks[-1].append(callback)


# ----------------------------------------------------------------- gradient hooks
#: id(leaf) -> {handle id: hook}; entries leave with their tensor (weakref.finalize).
_post_accumulate_hooks: dict[int, dict[int, Callable]] = {}
_hook_ids = itertools.count()


#: id(node) -> {handle id: hook}: `Tensor.register_hook`, called with the gradient
#: flowing into the node (a leaf tensor, or the Ctx that made a non-leaf). gg.compile
#: guards the entries of a plan's state tensors (engine/guards.py).
GRAD_HOOKS: dict[int, dict[int, Callable]] = {}


class RemovableHandle:
    """What registering a hook returns: `handle.remove()` takes the hook away."""

    def __init__(self, key: int, hook_id: int, table: dict | None = None):
        self._key, self._id = key, hook_id
        self._table = _post_accumulate_hooks if table is None else table

    def remove(self) -> None:
        hooks = self._table.get(self._key, {})
        hooks.pop(self._id, None)
        if not hooks:  # no empty entries: a compiled plan's guard reads the keys alone
            self._table.pop(self._key, None)


def _add_hook(table: dict, owner, hook: Callable) -> RemovableHandle:
    key = id(owner)
    if key not in table:
        table[key] = {}
        weakref.finalize(owner, table.pop, key, None)
    handle = RemovableHandle(key, next(_hook_ids), table)
    table[key][handle._id] = hook
    return handle


def register_hook(t: Tensor, hook: Callable) -> RemovableHandle:
    """Call `hook(grad)` whenever a gradient with respect to `t` is computed; a tensor it
    returns replaces the gradient (PyTorch's `Tensor.register_hook`: inspecting or
    clipping gradients on their way back)."""
    if not t.requires_grad:
        raise AutogradError("cannot register a hook on a tensor that doesn't require "
                            "gradient", source=user_source())
    return _add_hook(GRAD_HOOKS, t._ctx if t._ctx is not None else t, hook)


def _run_grad_hooks(hooks: dict, g: Tensor) -> Tensor:
    for hook in list(hooks.values()):
        out = hook(g)
        if out is not None:
            if not isinstance(out, Tensor) or out.shape != g.shape:
                raise AutogradError(f"a gradient hook returned {type(out).__name__} "
                                    f"{getattr(out, 'shape', '')}; it must return None or a "
                                    f"tensor of the gradient's shape {g.shape}",
                                    source=user_source())
            g = out
    return g


Tensor.register_hook = register_hook


def register_post_accumulate_grad_hook(leaf: Tensor, hook: Callable) -> RemovableHandle:
    """Call `hook(leaf)` each time `backward()` has accumulated into `leaf.grad` (PyTorch's
    `Tensor.register_post_accumulate_grad_hook`: where data-parallel training averages
    gradients). While tracing, what the hook computes becomes part of the plan."""
    if not leaf.is_leaf or not leaf.requires_grad:
        raise AutogradError("post-accumulate-grad hooks go on leaf tensors that require grad",
                            source=user_source())
    return _add_hook(_post_accumulate_hooks, leaf, hook)


# Tensor methods that are autograd: registered here, as the ops register theirs, because
# this layer sits above tensor.py
Tensor.backward = backward
Tensor.register_post_accumulate_grad_hook = register_post_accumulate_grad_hook


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         allow_unused: bool = False):
    """d(outputs)/d(inputs) as a tuple, without touching any `.grad` (torch.autograd.grad)."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    for o in outputs:
        if not o.requires_grad:
            raise AutogradError("grad(): an output does not require grad", source=user_source())
    with tracing.phase("backward"):
        seeds = [_seed(o, g) for o, g in zip(outputs, grad_outputs)]
    found = backprop(outputs, seeds, wanted=inputs, create_graph=create_graph,
                     retain_graph=retain_graph)
    result = []
    for x in inputs:
        g = found.get(id(x), (None, None))[1]
        if g is None and not allow_unused:
            raise AutogradError(
                f"grad(): an input of shape {x.shape} was not used to compute the outputs; "
                "pass allow_unused=True to get None for it", source=user_source())
        result.append(g if g is None or create_graph else g.detach())
    return tuple(result)

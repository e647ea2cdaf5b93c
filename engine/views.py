"""Views and in-place ops: writes through a view reach its base, as in PyTorch.

A view (a basic-indexing slice, a reshape, a permute, an expand, `.detach()`, `.data`)
remembers its base and the view steps `(op, attrs, expands)` that derive it from the
base (`Tensor._mark_view`); base and views share one version counter (`.data` keeps
its own, as in PyTorch). Values are never written into arrays: an in-place op computes
its result out of place, and a write through a view is *functionalized*:

1. the view's new value is scattered into a new value of the base, with ordinary ops
   (`where`/`index_backward` for a slice, the inverse reshape or permute), so the
   base's autograd history is rewritten to flow through the written region;
2. the base is rebound to it (`Tensor._assign`): while tracing, that is a state write
   when the base is a parameter or a buffer;
3. every live view of the base is derived again from the base's new value, and a
   linked view gets its history from the base (PyTorch regenerates a view's grad_fn).

The same code runs eagerly and while tracing, so `gg.compile` sees ordinary ops and
state writes and gives eager's numbers.
"""

from __future__ import annotations

import weakref

import numpy as np

from . import dtypes, forward_ad, grad_mode
from .arrays import copy_into
from .creation import as_tensor
from .errors import AutogradError, DtypeError, ShapeError
from .ir import tracing
from .ops.elementwise import cast, where
from .ops.registry import apply
from .ops.shape import index_backward_op, index_op, permute_op, reshape_op
from .source import user_source
from .tensor import RETAINING, Tensor


def detached_alias(self: Tensor, share_version: bool) -> Tensor:
    """`.detach()` (sharing the version counter) and `.data` (with one of its own): a view
    of the whole that autograd does not follow; writes through it change the base's
    value, never its history."""
    tracer = tracing.current
    if tracer is not None:  # symbolic, so reads of it see the base's current node
        t = Tensor._symbolic(tracer, tracer.node_of(self), self.shape, self.dtype,
                             self._backend)
    else:
        t = Tensor._wrap(self._value, self._backend)
    self._mark_view(t, None, linked=False)
    if not share_version:
        t._vc = [0]
    return t


def mark_view(self: Tensor, view: Tensor, step, linked: bool = True) -> None:
    """Record that `view` shares this tensor's memory (`step`: the (op, attrs) that
    made it, None for an alias of the whole): same base, same version counter."""
    base = self if self._base is None else self._base
    view._base = base
    view._steps = self._steps if step is None else self._steps + (step,)
    view._linked = linked and self._linked
    view._vc = self._vc
    views = base._views
    if views is None:
        base._views = views = []
    elif len(views) > 32 and len(views) & (len(views) - 1) == 0:  # prune dead, amortized
        views[:] = [r for r in views if r() is not None]
    views.append(weakref.ref(view))


def alias(self: Tensor) -> Tensor:
    """A new Tensor object standing for this one's current value and history (the
    value an in-place op reads); it takes over the history's node as its output."""
    tracer = tracing.current
    if tracer is not None:
        t = Tensor._symbolic(tracer, tracer.node_of(self), self.shape, self.dtype,
                             self._backend)
    else:
        t = Tensor._wrap(self._concrete("an in-place update"), self._backend)
    t.requires_grad = self.requires_grad
    t._ctx = self._ctx
    if t._ctx is not None:
        t._ctx.out = weakref.ref(t)
    t._version = self._version
    return t


def check_leaf_write(self: Tensor) -> None:
    """PyTorch's rule: a leaf that requires grad (or a view of one) is changed in place
    only under no_grad."""
    if not grad_mode._enabled:
        return
    base = self if self._base is None or not self._linked else self._base
    if base.requires_grad and base._ctx is None or self.requires_grad and self._ctx is None:
        what = "a leaf tensor" if base is self else "a view of a leaf tensor"
        raise AutogradError(
            f"{what} that requires grad was changed in place while grad mode is on; "
            "wrap the update in `with gg.no_grad():` (or write through `.data`)",
            source=user_source(),
        )


def assign(self: Tensor, result: Tensor, check_leaf: bool = True,
           in_place: bool = False) -> Tensor:
    """Make `self` hold `result`'s value and history (the core of every in-place op;
    `in_place`: an in-place op's, which keeps an exposed tensor's memory, `store`)."""
    if check_leaf:
        self._check_leaf_write()
        if result.shape != self.shape:
            raise ShapeError(
                f"in-place result of shape {result.shape} does not fit a tensor of shape "
                f"{self.shape}", source=user_source())
    if result.dtype != self.dtype:
        result = cast(result, self.dtype)
    tracer = tracing.current
    if tracer is not None:
        tracer.assign(self, result)
    elif in_place:
        store(self, result._value)
    else:
        self._value = result._value
        self.shape = result.shape
    took = grad_mode._enabled and (result.requires_grad or self._ctx is not None)
    if took:
        if self._ctx is not None and self._ctx in RETAINING and result._ctx is not None:
            RETAINING.add(result._ctx)  # retain_grad() holds for the new value (PyTorch's)
        self._ctx = result._ctx
        self.requires_grad = result.requires_grad or self.requires_grad
    self._version += 1
    ctx = self._ctx
    if took and ctx is not None:  # self is that node's output now, at this version
        ctx.out = weakref.ref(self)
        if ctx.out_vc is not None:  # the result's memory is self's now
            ctx.out_vc, ctx.out_version = self._vc, self._version
    return self


def inplace(self: Tensor, fn, *args) -> Tensor:
    """`self <- fn(current value of self, *args)`: the core of every in-place method."""
    self._check_leaf_write()
    if self._base is not None and any(step[2] for step in self._steps):
        raise ShapeError(
            f"in-place update of an expanded tensor of shape {self.shape}: more than one of "
            "its elements refers to the same memory location; clone() it first",
            source=user_source())
    source = self._alias()
    if forward_ad._levels:  # forward mode: the update's tangent replaces self's
        forward_ad.share_tangents(self, source)
    try:
        result = fn(source, *args)
    except BaseException:
        if self._ctx is not None:  # nothing was written: self is still that node's output
            self._ctx.out = weakref.ref(self)
        raise
    if forward_ad._levels:
        forward_ad.share_tangents(result, self)
    # floats into an integer tensor, numbers into a bool one: torch refuses these
    if dtypes.category(result.dtype) > dtypes.category(self.dtype):
        raise DtypeError(f"result type {result.dtype} can't be cast to the desired output type "
                         f"{self.dtype}: an in-place op keeps its tensor's dtype (as in "
                         "PyTorch; use the out-of-place op, or cast first)", source=user_source())
    if self._base is None:
        _check_shape(self, result)
        self._assign(result, check_leaf=False, in_place=True)
        refresh_views(self)
    else:
        _write_through(self, result)
    return self


def _check_shape(view: Tensor, result: Tensor) -> None:
    if result.shape != view.shape:
        raise ShapeError(f"in-place result of shape {result.shape} does not fit a tensor of "
                         f"shape {view.shape}", source=user_source())


def _write_through(view: Tensor, result: Tensor) -> None:
    """Write `result` (the view's new value) into the view's base, then refresh views."""
    _check_shape(view, result)
    if result.dtype != view.dtype:
        result = result.astype(view.dtype)
    base = view._base
    if view._linked:
        base._assign(_scatter(base._alias(), view._steps, result), check_leaf=False,
                     in_place=True)
    else:  # .data / .detach(): the base's value changes, its history does not
        with grad_mode.no_grad():
            new_base = _scatter(base, view._steps, result)
        _set_value(base, new_base)
        view._version += 1
    refresh_views(base)


def overwrite(old: Tensor, result: Tensor) -> Tensor:
    """`result` written over `old` by an op that ignores old's value (fill_, copy_):
    PyTorch keeps old in the graph with a zero gradient, and so do we."""
    if not grad_mode._enabled or not old.requires_grad:
        return result
    true = Tensor._wrap(old._backend.from_numpy(np.array(True)), old._backend)
    return where(true, result, old)


def _set_value(t: Tensor, value: Tensor) -> None:
    tracer = tracing.current
    if tracer is not None:
        ctx, req = t._ctx, t.requires_grad
        tracer.assign(t, value)
        t._ctx, t.requires_grad = ctx, req
    else:
        store(t, value._value)


def store(t: Tensor, array) -> None:
    """t's value becomes `array`: written into t's own array where the user holds that
    array too (`.numpy()`, `from_numpy`: PyTorch's shared memory), else rebound (an
    in-place op computes out of place; nobody else can tell)."""
    if not (t._exposed and copy_into(t._value, array)):
        t._value = array
        t.shape = tuple(array.shape)


def _scatter(base: Tensor, steps, value: Tensor) -> Tensor:
    """The base's new value when the view `steps` of it takes `value`."""
    if not steps:
        return value
    op, attrs, _ = steps[0]
    mid = apply(op, (base,), attrs)
    new_mid = _scatter(mid, steps[1:], value)
    name = op.name
    if name in ("reshape", "broadcast_to"):  # broadcast_to here adds size-1 dims only
        return reshape_op(new_mid, shape=base.shape) if new_mid.shape != base.shape else new_mid
    if name == "permute":
        return permute_op(new_mid, axes=tuple(np.argsort(attrs["axes"]).tolist()))
    spec = attrs["spec"]
    placed = index_backward_op(new_mid, spec=spec, shape=base.shape)
    return where(region(base, spec), placed, base)


def region(base: Tensor, spec, index_tensors=()) -> Tensor:
    """A boolean tensor of the base's shape, true where `base[spec]` reads."""
    return coverage(base, spec, index_tensors) > 0


def coverage(base: Tensor, spec, index_tensors=()) -> Tensor:
    """How many times `base[spec]` reads each element of the base (float32, base's
    shape): 0 outside it, more than 1 where an index repeats."""
    with grad_mode.no_grad():
        ones = as_tensor(np.ones(base.shape, np.float32), like=base)
        sel = index_op(ones, *index_tensors, spec=spec)
        return index_backward_op(sel, *index_tensors, spec=spec, shape=base.shape)


def replay(base: Tensor, steps) -> Tensor:
    """The view `steps` of `base`, recorded as ordinary ops."""
    t = base
    for op, attrs, _ in steps:
        t = apply(op, (t,), attrs)
    return t


def refresh_views(base: Tensor) -> None:
    """Derive every live view of `base` again from its new value (see the module doc)."""
    refs = base._views
    if not refs:
        return
    live = [v for v in (r() for r in refs) if v is not None]
    refs[:] = [r for r in refs if r() is not None]
    tracer = tracing.current
    enabled = grad_mode._enabled
    for v in live:
        with grad_mode.set_grad_enabled(enabled and v._linked):
            t = replay(base, v._steps)
        if tracer is not None:
            _set_value(v, t)
        else:
            v._value = t._value
        if enabled and v._linked:
            v._ctx = t._ctx
            if t._ctx is not None:
                t._ctx.out = weakref.ref(v)
            v.requires_grad = t.requires_grad


def derived_node(t: Tensor, tracer) -> int | None:
    """While tracing: the node for a concrete view made before the trace, derived from
    its base's current node (so it reads the base's state, never a stale copy)."""
    if t._base is None:
        return None
    with grad_mode.no_grad():
        v = replay(t._base, t._steps)
    tracer.bindings[id(t)] = v._node
    tracer.keep[id(t)] = t
    return v._node


Tensor._mark_view = mark_view
Tensor._detached_alias = detached_alias
Tensor._alias = alias
Tensor._check_leaf_write = check_leaf_write
Tensor._assign = assign
Tensor._inplace = inplace
Tensor._derived_node = derived_node

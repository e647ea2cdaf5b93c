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

from . import forward_ad, grad_mode
from .errors import ShapeError
from .ir import tracing
from .ops.elementwise import where
from .ops.registry import apply
from .ops.shape import index_backward_op, index_op, permute_op, reshape_op
from .source import user_source
from .tensor import Tensor


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
    result = fn(source, *args)
    if forward_ad._levels:
        forward_ad.share_tangents(result, self)
    if self._base is None:
        _check_shape(self, result)
        self._assign(result, check_leaf=False)
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
        new_base = _scatter(base._alias(), view._steps, result)
        base._assign(new_base, check_leaf=False)
    else:  # .data / .detach(): the base's value changes, its history does not
        with grad_mode.no_grad():
            new_base = _scatter(base, view._steps, result)
        _set_value(base, new_base)
        view._version += 1
    refresh_views(base)


def _set_value(t: Tensor, value: Tensor) -> None:
    tracer = tracing.current
    if tracer is not None:
        ctx, req = t._ctx, t.requires_grad
        tracer.assign(t, value)
        t._ctx, t.requires_grad = ctx, req
    else:
        t._value = value._value


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
    return where(_region(base, spec), placed, base)


def _region(base: Tensor, spec) -> Tensor:
    """A boolean tensor of the base's shape, true where the slice `spec` reads."""
    from .creation import as_tensor

    with grad_mode.no_grad():
        ones = as_tensor(np.ones(base.shape, np.float32), like=base)
        sel = index_op(ones, spec=spec)
        return index_backward_op(sel, spec=spec, shape=base.shape) > 0


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


Tensor._inplace = inplace
Tensor._derived_node = derived_node

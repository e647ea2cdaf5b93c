"""Dual tensors for forward mode: aliases of primals that carry tangents at a level.

`gg.func.jvp` (and the JVP rules of the fused recurrent ops, which differentiate their
reference implementation) seed a `forward_ad` level with these. They are built from an
op (an alias records `identity` for reverse mode), so they live above the op groups,
while `forward_ad.py` itself sits below the op registry.
"""

from __future__ import annotations

from .. import forward_ad, grad_mode
from ..creation import as_tensor
from ..errors import AutogradError, ShapeError
from ..forward_ad import Level
from ..ir import tracing
from ..source import user_source
from ..tensor import Ctx, Tensor
from .elementwise import identity_op


def alias(x: Tensor) -> Tensor:
    """A new Tensor object for x's value (no copy, no node) that gradients flow through.

    Transforms differentiate with respect to aliases, so the same tensor passed twice,
    or used outside the function too, is never confused; tangents x has at the levels
    already entered carry over.
    """
    tracer = tracing.current
    if tracer is not None:
        a = Tensor._symbolic(tracer, tracer.node_of(x), x.shape, x.dtype, x._backend)
    else:
        a = Tensor._wrap(x._concrete("a function transform"), x._backend)
    if x.requires_grad and grad_mode.is_grad_enabled():
        a.requires_grad = True
        a._ctx = Ctx(identity_op, (x,), {}, a)
    for level in forward_ad.active_levels():
        t = level.tangent(x)
        if t is not None:
            level.set_tangent(a, t)
    return a


def make_dual(level: Level, primal: Tensor, tangent) -> Tensor:
    """An alias of `primal` whose tangent at `level` is `tangent` (None: zero)."""
    dual = alias(primal)
    if tangent is None:
        return dual
    if primal.dtype.kind != "f":
        raise AutogradError(f"jvp: a tangent was given for a {primal.dtype.name} primal; only "
                            "floating-point inputs have tangents", source=user_source())
    t = as_tensor(tangent, primal.dtype, like=primal)
    if t.shape != primal.shape:
        raise ShapeError(f"jvp: tangent of shape {t.shape} for a primal of shape "
                         f"{primal.shape}; they must match", source=user_source())
    level.set_tangent(dual, t)
    return dual

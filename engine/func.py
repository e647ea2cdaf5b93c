"""`gg.func`: composable function transforms, in the manner of `torch.func` / JAX.

- `jvp(fn, primals, tangents)`: forward mode (dual numbers, see `forward_ad.py`);
- `vjp(fn, *primals)`, `grad(fn)`, `value_and_grad(fn)`: reverse mode (`autodiff.py`);
- `jacobian(fn, mode=...)`, `hessian(fn)`, `hvp(fn, primals, tangents)`: built from them.

Transforms nest freely (`grad(grad(f))`, `jvp(grad(f), ...)`, `grad` of a function that
calls `jvp`), because both modes run the ops' rules as ordinary Tensor ops: an inner
transform's rules are themselves differentiated by the outer one. Everything works
eagerly and under `gg.trace`/`gg.compile`, where tangent nodes carry `phase="tangent"`
and backward nodes `phase="backward"`.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Sequence

import numpy as np

from . import autodiff, dtypes, forward_ad, grad_mode
from .creation import as_tensor
from .errors import AutogradError
from .ir import tracing
from .ops import dual
from .ops.common import zeros_tangent
from .ops.shape import reshape, stack
from .pytree import flatten
from .source import user_source
from .tensor import Tensor

__all__ = ["jvp", "vjp", "grad", "value_and_grad", "jacobian", "hessian", "hvp"]


def _is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def _as_tuple(xs) -> tuple[tuple, bool]:
    """(tuple of items, whether a single item was given)."""
    if isinstance(xs, (tuple, list)):
        return tuple(xs), False
    return (xs,), True


# ---------------------------------------------------------------------- forward mode

def jvp(fn: Callable, primals, tangents, *, has_aux: bool = False):
    """`(fn(*primals), J @ tangents)`: outputs and their tangents, by forward mode.

    `primals` and `tangents` are tuples lined up with fn's arguments (a single Tensor
    is accepted for one argument); a None tangent is zero. Outputs may be a Tensor or
    a nested tuple/list/dict of them; the tangents come back in the same structure.
    With `has_aux`, fn returns `(output, aux)` and jvp returns `(output, tangent, aux)`.
    """
    primals, _ = _as_tuple(primals)
    tangents, _ = _as_tuple(tangents)
    if len(primals) != len(tangents):
        raise AutogradError(f"jvp: {len(primals)} primals but {len(tangents)} tangents",
                            source=user_source())
    primals = tuple(as_tensor(p) for p in primals)
    with forward_ad.new_level() as level:
        with tracing.phase("tangent"):
            duals = [dual.make_dual(level, p, t) for p, t in zip(primals, tangents)]
        with _transform(duals):
            result = fn(*duals)
        out, aux = result if has_aux else (result, None)
        leaves, rebuild = flatten(out, _is_tensor)
        with tracing.phase("tangent"):
            tangent_leaves = [zeros_tangent(o) if level.tangent(o) is None else level.tangent(o)
                              for o in leaves]
    keep = _keep_graph(leaves + tangent_leaves)
    out, tangent_out = _released(out, keep), _released(rebuild(tangent_leaves), keep)
    return (out, tangent_out, _released(aux, keep)) if has_aux else (out, tangent_out)


# ---------------------------------------------------------------------- reverse mode

def _differentiable_inputs(args, argnums):
    """args with those at argnums replaced by aliases that require grad."""
    xs = [as_tensor(a) if i in argnums else a for i, a in enumerate(args)]
    for i in argnums:
        if not dtypes.is_float(xs[i].dtype):
            raise AutogradError(f"argument {i} has dtype {xs[i].dtype.name}; only "
                                "floating-point arguments can be differentiated",
                                source=user_source())
        xs[i] = dual.alias(xs[i]).requires_grad_(True)
    return xs


# Every alias a transform differentiates with respect to, and the ones whose transform
# is still running (innermost last). A finished transform's aliases are dead ends: results
# that only reach them need no history, so a top-level transform returns plain tensors.
_aliases: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_live: list[set[int]] = []


@contextlib.contextmanager
def _transform(aliases):
    """The scope of one transform, whose own aliases do not count as outside users."""
    for a in aliases:
        _aliases[id(a)] = a
    _live.append({id(a) for a in aliases})
    try:
        yield
    finally:
        _live.pop()


def _keep_graph(outputs) -> bool:
    """Whether results must stay differentiable: something outside the transforms that
    are running now, or in an enclosing one, sees them (an outer grad or jvp, or
    parameters that require grad). Call it outside the transform's own scope."""
    if forward_ad.is_active():
        return True
    live = set().union(*_live)
    roots = [o for o in outputs if isinstance(o, Tensor) and o.requires_grad]
    return any(t._ctx is None and (id(t) not in _aliases or id(t) in live)
               for t in autodiff._topological(roots))


def _pullback(outputs, inputs, cotangents, keep: bool):
    """Gradients of outputs (seeded with cotangents) for each of inputs (zeros if unused)."""
    live = [(o, c) for o, c in zip(outputs, cotangents) if o.requires_grad]
    grads = [None] * len(inputs)
    if live:
        with grad_mode.enable_grad():
            grads = autodiff.grad([o for o, _ in live], list(inputs), [c for _, c in live],
                                  retain_graph=True,
                                  create_graph=keep, allow_unused=True)
    with tracing.phase("backward"):
        return [zeros_tangent(x) if g is None else g for x, g in zip(inputs, grads)]


def _released(tree, keep: bool):
    """The user's copy of a transform's outputs: detached unless someone outside needs
    their history (so a top-level `grad` returns plain tensors, as torch.func does)."""
    if keep:
        return tree
    leaves, rebuild = flatten(tree, _is_tensor)
    return rebuild([t.detach() for t in leaves])


def vjp(fn: Callable, *primals, has_aux: bool = False):
    """`(fn(*primals), vjp_fn)`; `vjp_fn(cotangents)` gives one gradient per primal.

    `cotangents` matches the structure of fn's output (a Tensor for a Tensor output).
    """
    argnums = tuple(range(len(primals)))
    with grad_mode.enable_grad():
        xs = _differentiable_inputs(primals, argnums)
        with _transform(xs):
            result = fn(*xs)
    out, aux = result if has_aux else (result, None)
    leaves, _ = flatten(out, _is_tensor)
    keep = _keep_graph(leaves)

    def vjp_fn(cotangents) -> tuple:
        cots, _ = flatten(cotangents, _is_tensor)
        if len(cots) != len(leaves):
            raise AutogradError(f"vjp_fn: {len(cots)} cotangents for {len(leaves)} outputs",
                                source=user_source())
        return tuple(_released(_pullback(leaves, xs, cots, keep), keep))

    out = _released(out, keep)
    return (out, vjp_fn, _released(aux, keep)) if has_aux else (out, vjp_fn)


def value_and_grad(fn: Callable, argnums: int | Sequence[int] = 0, *,
                   has_aux: bool = False) -> Callable:
    """A function returning `(fn(*args), gradient of fn w.r.t. args[argnums])`.

    fn must return a scalar (with `has_aux`, `(scalar, aux)`, and the value is that
    pair). An int `argnums` gives one gradient, a tuple gives a tuple.
    """
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)

    def wrapped(*args):
        with grad_mode.enable_grad():
            xs = _differentiable_inputs(args, nums)
            with _transform(xs):
                result = fn(*xs)
            out = result[0] if has_aux else result
            if not isinstance(out, Tensor) or out.numel() != 1:
                raise AutogradError(
                    "grad: the function must return a tensor with one element, got "
                    + (f"shape {out.shape}" if isinstance(out, Tensor) else type(out).__name__),
                    source=user_source())
        own = [xs[i] for i in nums]
        keep = _keep_graph([out])
        grads = _released(_pullback([out], own, [None], keep), keep)
        return _released(result, keep), grads[0] if single else tuple(grads)

    return wrapped


def grad(fn: Callable, argnums: int | Sequence[int] = 0, *, has_aux: bool = False) -> Callable:
    """The gradient of scalar-valued fn w.r.t. args[argnums], as a function.

    Composable: `grad(grad(f))` is the second derivative, `jvp(grad(f), ...)` a
    Hessian-vector product. With `has_aux`, returns `(gradient, aux)`.
    """
    vg = value_and_grad(fn, argnums, has_aux=has_aux)

    def wrapped(*args):
        value, g = vg(*args)
        return (g, value[1]) if has_aux else g

    return wrapped


# ---------------------------------------------------------------------- Jacobians

def jacobian(fn: Callable, argnums: int | Sequence[int] = 0, *, mode: str = "auto") -> Callable:
    """The Jacobian of fn w.r.t. args[argnums], as a function.

    Each block has shape `output.shape + input.shape`. `mode="reverse"` takes one VJP
    per output element, `"forward"` one JVP per input element; `"auto"` picks forward
    mode when the inputs have fewer elements than the outputs (the few-inputs,
    many-outputs case forward mode is made for), reverse mode otherwise. Outputs may
    be a Tensor or a tuple of Tensors; an int argnums gives one block per output, a
    tuple a tuple of blocks.
    """
    if mode not in ("auto", "forward", "reverse"):
        raise AutogradError(f"jacobian: mode must be 'auto', 'forward' or 'reverse', got "
                            f"{mode!r}", source=user_source())
    single_arg = isinstance(argnums, int)
    nums = (argnums,) if single_arg else tuple(argnums)

    def wrapped(*args):
        if mode == "forward":
            blocks, single_out = _jacobian_forward(fn, args, nums)
        else:
            with grad_mode.enable_grad():
                xs = _differentiable_inputs(args, nums)
                with _transform(xs):
                    outs, single_out = _as_tuple(fn(*xs))
            n_in = sum(xs[i].numel() for i in nums)
            if mode == "auto" and n_in < sum(o.numel() for o in outs):
                blocks, _ = _jacobian_forward(fn, args, nums)
            else:
                own = [xs[i] for i in nums]
                keep = _keep_graph(outs)
                blocks = _released(_jacobian_reverse(outs, own, keep), keep)
        per_out = [b[0] if single_arg else tuple(b) for b in blocks]
        return per_out[0] if single_out else tuple(per_out)

    return wrapped


def _basis(x: Tensor, phase: str):
    """The standard basis of x's space, one tensor of x's shape and dtype at a time."""
    for j in range(x.numel()):
        e = np.zeros(x.numel(), dtype=x.dtype)
        e[j] = 1
        with tracing.phase(phase):
            seed = as_tensor(e.reshape(x.shape), like=x)
        yield seed


def _assemble(columns, out: Tensor, x: Tensor, rows: bool) -> Tensor:
    """Stack per-element derivatives (rows: VJPs, else JVP columns) into one block of
    shape out.shape + x.shape."""
    with tracing.phase("backward" if rows else "tangent"):
        if not columns:
            return zeros_tangent(out, out.shape + x.shape)
        stacked = stack(columns, 0 if rows else -1)  # rows: (n_out,) + x.shape
        return reshape(stacked, out.shape + x.shape)



def _jacobian_reverse(outs, xs, keep):
    """One VJP per output element (a row of the Jacobian each)."""
    blocks = []
    for o in outs:
        rows = [[] for _ in xs]
        for e in _basis(o, "backward"):
            for k, g in enumerate(_pullback([o], xs, [e], keep)):
                rows[k].append(g)
        blocks.append([_assemble(r, o, x, rows=True) for r, x in zip(rows, xs)])
    return blocks


def _jacobian_forward(fn, args, nums):
    """One JVP per input element (a column of the Jacobian each)."""
    primals = [as_tensor(a) for a in args]
    outs, single_out, cols = None, False, {}
    for i in nums:
        for e in _basis(primals[i], "tangent"):
            tangents = [e if p == i else None for p in range(len(primals))]
            out, t_out = jvp(fn, tuple(primals), tuple(tangents))
            outs, single_out = _as_tuple(out)
            for k, t in enumerate(_as_tuple(t_out)[0]):
                cols.setdefault((k, i), []).append(t)
    if outs is None:  # every input is empty: one plain call gives the output shapes
        outs, single_out = _as_tuple(fn(*primals))
    blocks = [[_assemble(cols.get((k, i), []), o, primals[i], rows=False) for i in nums]
              for k, o in enumerate(outs)]
    return blocks, single_out


def hessian(fn: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Hessian of scalar-valued fn, as forward-over-reverse `jacobian(grad(fn))`.

    For one argument of shape s the result has shape s + s; for a tuple argnums, a
    tuple of tuples of blocks.
    """
    return jacobian(grad(fn, argnums), argnums, mode="forward")


def hvp(fn: Callable, primals, tangents):
    """`(fn(*primals), H @ tangents)`: a Hessian-vector product without the Hessian.

    Forward over reverse: the JVP of the gradient, one forward and one backward pass.
    `tangents` lines up with `primals`; the product comes back in the same structure.
    """
    primals, single = _as_tuple(primals)
    tangents, _ = _as_tuple(tangents)
    argnums = tuple(range(len(primals)))
    (value, _), (_, products) = jvp(value_and_grad(fn, argnums), primals, tangents)
    return value, products[0] if single else products

"""Helpers the op definitions share: promotion, broadcasting, axes, sample inputs."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np

from .. import dtypes
from ..creation import as_tensor
from ..errors import DtypeError, IndexingError, ShapeError
from ..source import user_source
from ..tensor import Tensor


def promote(*xs) -> list[Tensor]:
    """Tensors of one common dtype (PyTorch's rule); Python scalars become constants."""
    if len(xs) == 2:  # (most calls: two tensors of one dtype, nothing to do)
        a, b = xs
        if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype == b.dtype \
                and not a.weak and not b.weak:
            return [a, b]
    like = next((x for x in xs if isinstance(x, Tensor)), None)
    dt = dtypes.result_type(xs)
    return [as_tensor(x, dt, like) for x in xs]


def promote_float(*xs) -> list[Tensor]:
    """Like `promote`, but integers and bools become the default float dtype."""
    like = next((x for x in xs if isinstance(x, Tensor)), None)
    dt = dtypes.result_type(xs)
    if not dtypes.is_float(dt):
        dt = dtypes.default_float
    return [as_tensor(x, dt, like) for x in xs]


def broadcast_shapes(*shapes, op: str = "broadcast") -> tuple[int, ...]:
    if len(shapes) == 2 and shapes[0] == shapes[1]:  # (most calls: nothing to broadcast)
        return tuple(shapes[0])
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(-ndim, 0):
        sizes = {s[i] for s in shapes if len(s) >= -i and s[i] != 1}
        if len(sizes) > 1:
            shown = " and ".join(str(tuple(s)) for s in shapes)
            raise ShapeError(f"{op}: shapes {shown} cannot be broadcast together", op=op,
                             source=user_source())
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def same_dtype(op: str, *xs) -> np.dtype:
    if len(xs) == 2 and xs[0].dtype == xs[1].dtype:
        return xs[0].dtype
    dts = {x.dtype for x in xs}
    if len(dts) != 1:
        raise DtypeError(f"{op}: operands have different dtypes "
                         f"{', '.join(dtypes.short(x.dtype) for x in xs)}", op=op,
                         source=user_source())
    return dts.pop()


def normalize_axes(axis, ndim: int, op: str) -> tuple[int, ...] | None:
    """A sorted tuple of non-negative axes, or None for 'all axes'."""
    if axis is None:
        return None
    try:
        axes = [operator.index(a) for a in
                ((axis,) if isinstance(axis, (int, np.integer)) else tuple(axis))]
    except TypeError:
        raise ShapeError(f"{op}: dim must be an int or a tuple of ints, got {axis!r}", op=op,
                         source=user_source()) from None
    out = []
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise IndexingError(f"{op}: dim {a} is out of range for a {ndim}-d tensor",
                                op=op, source=user_source())
        out.append(a % max(ndim, 1))
    if len(set(out)) != len(out) and ndim:
        raise ShapeError(f"{op}: dim {out[0] if out.count(out[0]) > 1 else out[-1]} appears "
                         "multiple times in the list of dims", op=op, source=user_source())
    if ndim == 0:
        return ()  # dim 0 / -1 of a 0-d tensor is the tensor itself: reduce over no axis
    return tuple(sorted(out))


def normalize_axis(axis: int, ndim: int, op: str) -> int:
    axes = normalize_axes(axis, ndim, op)
    return axes[0] if axes else 0


def reduced_shape(shape, axes, keepdims) -> tuple[int, ...]:
    if axes is None:
        axes = tuple(range(len(shape)))
    if keepdims:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def unbroadcast(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum a broadcast gradient back to the shape of the input it flowed into.

    It calls the Tensor methods `sum` and `reshape`, which the reduction and shape groups
    register on Tensor: this helper sits below those groups and imports neither.
    """
    if g.shape == shape:
        return g
    lead = len(g.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    out = g.sum(axes) if axes else g
    return out.reshape(shape) if out.shape != shape else out


# ---------------------------------------------------------------------- sample inputs

@dataclass
class Sample:
    """One call of an op for tests and the conformance suite (NumPy float64 inputs).

    `args` are arrays (or Python scalars) fed through the public function `fn`;
    `diff` lists the positions whose gradient is checked by finite differences.
    """

    args: tuple
    kwargs: dict = field(default_factory=dict)
    diff: tuple[int, ...] = (0,)
    dtypes: tuple = (dtypes.float32, dtypes.float64)
    note: str = ""

    def __repr__(self) -> str:
        shapes = ",".join(str(np.shape(a)) for a in self.args)
        return f"Sample({shapes}{' ' + self.note if self.note else ''})"


def rand_array(shape, low=-2.0, high=2.0, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed + 7 * len(shape) + int(np.prod(shape)))
    return rng.uniform(low, high, size=shape)


UNARY_SHAPES = [(3, 4), (), (5,), (0, 3), (2, 3, 4)]
BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 1), (4,)), ((), (2, 3)), ((2, 3, 4), (3, 1)),
                 ((0, 3), (3,))]


def unary_samples(low=-2.0, high=2.0):
    def samples():
        return [Sample((rand_array(s, low, high),)) for s in UNARY_SHAPES]
    return samples


def binary_samples(low=-2.0, high=2.0, low_b=None, high_b=None):
    lb = low if low_b is None else low_b
    hb = high if high_b is None else high_b

    def samples():
        return [Sample((rand_array(a, low, high, 1), rand_array(b, lb, hb, 2)), diff=(0, 1))
                for a, b in BINARY_SHAPES]
    return samples


# ---------------------------------------------------------------------- forward-mode helpers

def tangent_sum(*terms):
    """The sum of the non-zero tangent terms (None stands for zero; all None gives None)."""
    out = None
    for t in terms:
        if t is not None:
            out = t if out is None else out + t
    return out


def zeros_tangent(x: Tensor, shape=None) -> Tensor:
    """Zeros of x's dtype and backend, in x's shape or `shape` (an explicit zero tangent
    or gradient, where rules must pass one per operand), without allocating (the Tensor
    method `broadcast_to`, registered by the shape group above this helper)."""
    return as_tensor(0, x.dtype, like=x).broadcast_to(x.shape if shape is None else shape)


def linear_jvp(op):
    """The JVP of an op linear in its first input (the rest are indices): op of the tangent."""
    def jvp(tangents, out, x, *rest, **attrs):
        return None if tangents[0] is None else op(tangents[0], *rest, **attrs)
    return jvp

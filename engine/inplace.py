"""The in-place methods PyTorch users write (`p.sub_(lr * p.grad)`, `buf.mul_(m)`).

Each is one expression handed to `Tensor._inplace` (engine/views.py), which computes it
out of place from an alias of the tensor's current value and then rebinds the tensor
(or, for a view, its base) to the result: the same code path eagerly (a version bump
that autograd checks) and while tracing (a state write when the tensor is a parameter,
a buffer or optimizer state).
"""

from __future__ import annotations

from . import dtypes
from .creation import as_tensor, full, rand, randn
from .ops.elementwise import identity, where
from .ops.index_put import index_put_op
from .ops.rounding import div
from .ops.shape import (
    _index_spec,
    bool_key,
    broadcast_to,
    index_backward_op,
    index_op,
    split_ints,
)
from .tensor import Tensor, tensor_method
from .views import overwrite, region


@tensor_method()
def add_(self, other, alpha=1) -> Tensor:
    return self._inplace(lambda s, o: s + (o if alpha == 1 else o * alpha), other)


@tensor_method()
def sub_(self, other, alpha=1) -> Tensor:
    return self._inplace(lambda s, o: s - (o if alpha == 1 else o * alpha), other)


@tensor_method()
def mul_(self, other) -> Tensor:
    return self._inplace(lambda s, o: s * o, other)


@tensor_method()
def div_(self, other, *, rounding_mode: str | None = None) -> Tensor:
    if rounding_mode is not None:
        return self._inplace(lambda s, o: div(s, o, rounding_mode=rounding_mode), other)
    return self._inplace(lambda s, o: s / o, other)


@tensor_method()
def pow_(self, other) -> Tensor:
    return self._inplace(lambda s, o: s ** o, other)


@tensor_method()
def clamp_(self, min=None, max=None) -> Tensor:
    return self._inplace(lambda s: s.clamp(min, max))


@tensor_method()
def addcmul_(self, a, b, value=1) -> Tensor:
    return self._inplace(lambda s: s + value * a * b)


@tensor_method()
def addcdiv_(self, a, b, value=1) -> Tensor:
    return self._inplace(lambda s: s + value * a / b)


@tensor_method()
def lerp_(self, end, weight) -> Tensor:
    return self._inplace(lambda s: s + weight * (end - s))


@tensor_method()
def copy_(self, src) -> Tensor:
    """Copy `src` (broadcast, cast) into this tensor; never aliases src's buffer."""
    return self._inplace(
        lambda s: overwrite(s, identity(broadcast_to(src, s.shape)).astype(s.dtype)))


@tensor_method()
def fill_(self, value) -> Tensor:
    return self._inplace(
        lambda s: overwrite(s, full(s.shape, value, dtype=s.dtype, backend=s._backend)))


@tensor_method()
def zero_(self) -> Tensor:
    return fill_(self, 0)


Tensor.__iadd__ = add_
Tensor.__isub__ = sub_
Tensor.__imul__ = mul_
Tensor.__itruediv__ = div_


def _unary_(name: str, fn) -> None:
    """`t.exp_()` and friends: the out-of-place op, written back in place."""
    setattr(Tensor, name, lambda self: self._inplace(fn))


for _name in ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "neg"):
    _unary_(f"{_name}_", lambda s, _name=_name: getattr(s, _name)())


@tensor_method()
def masked_fill_(self, mask, value) -> Tensor:

    return self._inplace(lambda s: where(mask, value, s).astype(s.dtype))  # (value cast)


def _draw(kind: str, like: Tensor, generator=None) -> Tensor:
    """Samples in float64 (as nn.init draws them, so both give the same numbers), moved to
    `like`'s backend."""

    draw = (randn if kind == "normal" else rand)(*like.shape, dtype=dtypes.float64,
                                                 generator=generator)
    if draw._value is not None and draw._backend is not like._backend:
        draw = draw.to(like._backend.name)
    return draw


@tensor_method()
def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    """Fill with samples of N(mean, std^2) (`m.weight.data.normal_(0, 0.02)`)."""
    return self._inplace(lambda s: overwrite(s, _draw("normal", s, generator) * std + mean))


@tensor_method()
def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator=None) -> Tensor:
    """Fill with samples uniform in [a, b)."""
    return self._inplace(lambda s: overwrite(s, _draw("uniform", s, generator) * (b - a) + a))


@tensor_method()
def bernoulli_(self, p=0.5, *, generator=None) -> Tensor:
    """Fill with 1 with probability `p` (a number or a tensor), else 0."""
    return self._inplace(lambda s: overwrite(s, (_draw("uniform", s, generator) < p)
                                             .astype(s.dtype)))


def setitem(self, key, value) -> None:
    """`x[key] = value`: the selected elements take `value` (broadcast), in place."""
    flag = bool_key(key)
    if flag is not None:  # x[True] = v writes all of x; x[False] = v nothing (PyTorch)
        if flag:
            setitem(self, Ellipsis, value)
        return
    spec, tensors = _index_spec(self, key)
    split = split_ints(spec)
    if split is not None:  # `x[0, :, [1, 2]] = v` is `x[0][:, [1, 2]] = v`, as PyTorch's
        _put(index_op(self, spec=split[0]), split[1], tensors, value)
        return
    _put(self, spec, tensors, value)


def _put(self, spec, tensors, value) -> None:
    def update(s):
        v = as_tensor(value, s.dtype, like=s)
        if v.dtype != s.dtype:
            v = v.astype(s.dtype)
        target = index_op(s, *tensors, spec=spec).shape
        if v.ndim > len(target) and all(d == 1 for d in v.shape[:v.ndim - len(target)]):
            v = v.reshape(v.shape[v.ndim - len(target):])  # leading 1s dropped (PyTorch)
        if tensors:  # where an index repeats, the last write stays (index_put)
            return index_put_op(s, v, *tensors, spec=spec)
        # basic indexing: each element at most once
        placed = index_backward_op(broadcast_to(v, target), spec=spec, shape=s.shape)
        return where(region(s, spec), placed, s)

    self._inplace(update)


Tensor.__setitem__ = setitem

"""NumPy kernels bound to one node's attributes when a plan is lowered.

A generic kernel called as `sum(v, axis=(0,), keepdims=False)` or
`index(v, spec=(("int", 0),))` parses its keywords, and rebuilds what they stand for
(an index tuple, a dtype), at every call: microseconds that dominate a step on tiny
arrays (a temperature fit's 11 points). Here each such op gets a closure made once per
node, called with the arrays alone; `NumpyBackend.specialize` consults `bind` after its
own shape-driven choices. Each builder returns None where it adds nothing.
"""

from __future__ import annotations

import numpy as np

from graphgrad.backends.base import Expression, Inline
from graphgrad.ops.shape import index_tuple


def _reduce(kernel, arg_types, attrs):
    axis, keepdims = attrs["axis"], attrs["keepdims"]
    if not isinstance(getattr(kernel, "__self__", None), np.ufunc):
        return lambda x: kernel(x, axis=axis, keepdims=keepdims)
    # ufunc.reduce(array, axis, dtype, out, keepdims): positional, no keyword parsing
    return Inline(kernel, axis, None, None, keepdims)


def _constant_key(spec):
    """The index tuple of a spec without tensor places (ints, slices, None, ...), or None."""
    if any(item[0] == "tensor" for item in spec):
        return None
    return index_tuple(spec, ())


def _index(kernel, arg_types, attrs):
    spec = attrs["spec"]
    key = _constant_key(spec)
    if key is not None:
        if all(type(k) is int for k in key) and len(key) == len(arg_types[0][0]):
            # one element (`params[0]`): a 0-d view rather than a NumPy scalar, which
            # every ufunc it meets later takes ~0.4 us slower than a 0-d array
            key = (*key, Ellipsis)
        if not _plain_key(key):  # (numpy ints in a slice: no literal to write out)
            return lambda x: x[key]
        return Expression(f"{{0}}[{key!r}]", lambda x: x[key])
    if spec == (("tensor",),) and np.dtype(arg_types[1][1]).kind in "iu":
        # x[idx], a batch drawn by index: `take` skips fancy indexing's generality
        return Expression("{0}.take({1}, 0)", lambda x, idx: x.take(idx, axis=0))
    return lambda x, *arrays: x[index_tuple(spec, arrays)]


def _plain_key(key) -> bool:
    """Whether an index tuple reads back from its repr: Python ints, None, Ellipsis and
    slices of ints and None."""
    def plain(k):
        return k is None or k is Ellipsis or type(k) is int
    return all(plain(k) or type(k) is slice and all(plain(v) for v in
                                                    (k.start, k.stop, k.step))
               for k in key)


def _permute(kernel, arg_types, attrs):
    axes = tuple(int(a) for a in attrs["axes"])
    if axes == (1, 0):
        return Expression("{0}.T", lambda x: x.T)
    return Expression(f"{{0}}.transpose({axes!r})", lambda x: x.transpose(axes))


def _reshape(kernel, arg_types, attrs):
    shape = tuple(int(d) for d in attrs["shape"])
    return Expression(f"{{0}}.reshape({shape!r})", lambda x: x.reshape(shape))


def _index_backward(kernel, arg_types, attrs):
    key = _constant_key(attrs["spec"])
    if key is None:  # tensor indices may repeat: the kernel's np.add.at stays
        return None
    shape, zeros = tuple(attrs["shape"]), np.zeros

    def scatter(g):  # basic indexing reaches each element at most once: assignment
        out = zeros(shape, g.dtype)
        out[key] = g
        return out
    return scatter


def _axis_only(kernel, arg_types, attrs):
    return Inline(kernel, attrs["axis"])


def _concat(kernel, arg_types, attrs):
    axis, concatenate = attrs["axis"], np.concatenate
    return lambda *xs: concatenate(xs, axis)


def _gather_backward(kernel, arg_types, attrs):
    axis, shape = attrs["axis"], tuple(attrs["shape"])
    return lambda g, idx: kernel(g, idx, axis, shape)


def _pow_scalar(kernel, arg_types, attrs):
    exponent = np.dtype(arg_types[0][1]).type(attrs["exponent"])
    if attrs["exponent"] == 2:
        return lambda x: x * x  # the same rounding as power(x, 2): one multiply
    power = np.power
    return lambda x: power(x, exponent)


def _broadcast_to(kernel, arg_types, attrs):
    shape, broadcast_to = tuple(attrs["shape"]), np.broadcast_to
    return lambda x: broadcast_to(x, shape)


BUILDERS = {
    "sum": _reduce, "max": _reduce, "min": _reduce,
    "index": _index, "index_backward": _index_backward,
    "softmax": _axis_only, "log_softmax": _axis_only, "gather": _axis_only,
    "gather_backward": _gather_backward, "concat": _concat,
    "pow_scalar": _pow_scalar, "broadcast_to": _broadcast_to,
    "permute": _permute, "reshape": _reshape,
}


def bind(op: str, kernel, arg_types, attrs: dict):
    """`kernel` for `op` with `attrs` bound up front (see the module docstring), or None."""
    builder = BUILDERS.get(op)
    return builder(kernel, arg_types, attrs) if builder else None

"""Elementwise ops: arithmetic, math functions, comparisons, where/clamp, casts.

Each op is defined once, its rules right under it. The public functions promote their
operands to one dtype (PyTorch's rule) before calling the op, so kernels never see mixed
dtypes. Elementwise ops broadcast like NumPy; their VJPs sum back to each input's shape.
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..creation import as_tensor
from ..errors import DtypeError, GraphgradError
from ..source import user_source
from ..tensor import Tensor, tensor_method
from .common import (
    Sample,
    binary_samples,
    broadcast_shapes,
    promote,
    promote_float,
    rand_array,
    same_dtype,
    tangent_sum,
    unary_samples,
    unbroadcast,
)
from .common import unbroadcast as _ub
from .registry import RESULT, Op, saves, saves_none, saves_others


def _same_as_input(x):
    return x.shape, x.dtype


def _broadcast(name, out_dtype=None):
    def infer(*xs):
        dt = same_dtype(name, *xs)
        return broadcast_shapes(*(x.shape for x in xs), op=name), out_dtype or dt
    return infer


def _unary(name, vjp, samples=None, differentiable=True, jvp=None):
    op = Op(name, elementwise=True, differentiable=differentiable)
    op.infer = _same_as_input
    op.vjp = vjp
    op.jvp = jvp
    op.samples = samples or unary_samples()
    op.operands, op.result = ("x",), "x's shape and dtype"
    return op


def _on(tangent, term):
    """term(tangent), or None for a zero tangent (so zero terms cost no ops)."""
    return None if tangent is None else term(tangent)


def _smooth(name, derivative, samples=None):
    """A differentiable unary op given by its derivative d(out, x): VJP g*d, JVP t*d."""
    return _unary(name, lambda g, out, x: (g * derivative(out, x),), samples,
                  jvp=lambda t, out, x: t[0] * derivative(out, x))


def _binary(name, vjp, samples=None, jvp=None):
    op = Op(name, elementwise=True)
    op.infer = _broadcast(name)
    op.vjp = vjp
    op.jvp = jvp
    op.samples = samples or binary_samples()
    op.operands = ("x", "y")
    op.result = ("the broadcast of x's and y's shapes (NumPy's rules); their dtype (the "
                 "engine promotes both operands to one dtype first)")
    return op


# ---------------------------------------------------------------------- arithmetic

add_op = _binary("add", lambda g, out, x, y: (_ub(g, x.shape), _ub(g, y.shape)),
                 jvp=lambda t, out, x, y: tangent_sum(t[0], t[1]))
sub_op = _binary("sub", lambda g, out, x, y: (_ub(g, x.shape), _ub(-g, y.shape)),
                 jvp=lambda t, out, x, y: tangent_sum(t[0], None if t[1] is None else -t[1]))
mul_op = _binary("mul", lambda g, out, x, y: (lambda: _ub(g * y, x.shape),
                                               lambda: _ub(g * x, y.shape)),
                 jvp=lambda t, out, x, y: tangent_sum(_on(t[0], lambda tx: tx * y),
                                                      _on(t[1], lambda ty: x * ty)))
div_op = _binary("div", lambda g, out, x, y: (lambda: _ub(g / y, x.shape),
                                               lambda: _ub(-g * (x / y) / y, y.shape)),
                 binary_samples(low_b=0.5, high_b=2.0),
                 jvp=lambda t, out, x, y: tangent_sum(_on(t[0], lambda tx: tx / y),
                                                      _on(t[1], lambda ty: -ty * out / y)))
neg_op = _unary("neg", lambda g, out, x: (-g,), jvp=lambda t, out, x: -t[0])
# what each VJP reads (Op.saves): sums and negation only shapes, a product the other factor
add_op.saves = sub_op.saves = neg_op.saves = saves_none
mul_op.saves = saves_others
# PyTorch's div saves y for x's gradient, x and y for y's (so y's reads no result)
div_op.saves = lambda need: (0, 1) if need[1] else (1,) if need[0] else ()
add_op.document("x + y")
sub_op.document("x - y (never called on bool)")
mul_op.document("x * y")
div_op.document("x / y, true division (float operands)")
neg_op.document("-x (never called on bool)")


def _no_bool(op):
    """Bools have no subtraction or negation (NumPy and PyTorch refuse them too)."""
    infer = op.infer

    def checked(*xs):
        if any(x.dtype == dtypes.bool_ for x in xs):
            raise DtypeError(f"{op.name} is not defined for bool tensors "
                             f"({', '.join(dtypes.short(x.dtype) for x in xs)}); use "
                             "logical_not / logical_xor, or convert with .long() first",
                             op=op.name)
        return infer(*xs)
    op.infer = checked


_no_bool(sub_op)
_no_bool(neg_op)


def _log_base(out, x):
    """d(x**y)/dy = x**y log x, taken as 0 where x <= 0 (no real logarithm there)."""
    return where(x > 0, out * log(where(x > 0, x, 1.0)), 0.0)


pow_op = _binary(
    "pow",
    lambda g, out, x, y: (
        lambda: _ub(g * y * x ** (y - 1), x.shape),
        lambda: _ub(g * _log_base(out, x), y.shape)),
    binary_samples(low=0.5, high=2.0),
    jvp=lambda t, out, x, y: tangent_sum(_on(t[0], lambda tx: tx * y * x ** (y - 1)),
                                         _on(t[1], lambda ty: ty * _log_base(out, x))),
)

pow_op.document("x ** y elementwise (NumPy's power)")
pow_op.saves = lambda need: (0, 1, RESULT) if need[1] else (0, 1)
pow_scalar_op = Op("pow_scalar", elementwise=True)
pow_scalar_op.infer = lambda x, exponent: (x.shape, x.dtype)
pow_scalar_op.document("x ** exponent, the exponent taken in x's dtype "
                       "(np.power(x, x.dtype.type(exponent)))", result="x's shape and dtype",
                       exponent="int | float: the exponent, any real number")


def _pow_scalar_vjp(g, out, x, exponent):
    if exponent in (0, 1, 2):  # exact and cheap; x ** -1 at x = 0 must not poison x ** 0
        return (g * 0.0 if exponent == 0 else g if exponent == 1 else g * 2 * x,)
    return (g * exponent * pow_scalar_op(x, exponent=exponent - 1),)


pow_scalar_op.vjp = _pow_scalar_vjp
pow_scalar_op.saves = saves(0)
pow_scalar_op.jvp = lambda t, out, x, exponent: _pow_scalar_vjp(t[0], out, x, exponent)[0]
pow_scalar_op.samples = lambda: [Sample((rand_array(s, 0.5, 2.0),), {"exponent": e})
                                 for s in [(3, 4), (), (0, 2)] for e in (0, 1, 2, 3, 0.5, -1.5)] + [
    Sample((rand_array((5,)),), {"exponent": 3}, note="negative base")]


def add(a, b, alpha=1) -> Tensor:
    a, b = promote(a, b if alpha == 1 else b * alpha)
    return add_op(a, b)


def sub(a, b, alpha=1) -> Tensor:
    a, b = promote(a, b if alpha == 1 else b * alpha)
    return sub_op(a, b)


def mul(a, b) -> Tensor:
    return mul_op(*promote(a, b))


def div(a, b) -> Tensor:
    return div_op(*promote_float(a, b))


def neg(x) -> Tensor:
    return neg_op(x)


def pow(x, exponent) -> Tensor:
    """`x ** exponent`; a Python-number exponent stays an attribute (cheap, exact VJP)."""
    if isinstance(exponent, (int, float)) and isinstance(x, Tensor):
        if isinstance(exponent, float) and not dtypes.is_float(x.dtype):
            x = x.float()
        elif x.dtype == dtypes.bool_:
            x = x.long()  # bool ** int is int64 (PyTorch); NumPy would return int8
        return pow_scalar_op(x, exponent=exponent)
    x, exponent = promote(x, exponent)
    if x.dtype == dtypes.bool_:
        x, exponent = x.long(), exponent.long()
    return pow_op(x, exponent)


tensor_method("add")(add)
tensor_method("sub")(sub)
tensor_method("mul")(mul)
tensor_method("div")(div)
tensor_method("neg")(neg)
tensor_method("pow")(pow)
Tensor.__add__ = add
Tensor.__radd__ = lambda self, other: add(other, self)
Tensor.__sub__ = sub
Tensor.__rsub__ = lambda self, other: sub(other, self)
Tensor.__mul__ = mul
Tensor.__rmul__ = lambda self, other: mul(other, self)
Tensor.__truediv__ = div
Tensor.__rtruediv__ = lambda self, other: div(other, self)
Tensor.__neg__ = neg
Tensor.__pos__ = lambda self: self
Tensor.__pow__ = pow
Tensor.__rpow__ = lambda self, other: pow_op(*promote(other, self))


# ---------------------------------------------------------------------- math functions

exp_op = _smooth("exp", lambda out, x: out)
log_op = _smooth("log", lambda out, x: 1 / x, unary_samples(0.1, 3.0))
log1p_op = _smooth("log1p", lambda out, x: 1 / (x + 1), unary_samples(-0.5, 3.0))
sqrt_op = _smooth("sqrt", lambda out, x: 0.5 / out, unary_samples(0.1, 3.0))
abs_op = _smooth("abs", lambda out, x: sign(x))
sin_op = _smooth("sin", lambda out, x: cos(x))
cos_op = _smooth("cos", lambda out, x: -sin(x))
tanh_op = _smooth("tanh", lambda out, x: 1 - out * out)
sigmoid_op = _smooth("sigmoid", lambda out, x: out * (1 - out),
                     lambda: [Sample((rand_array(s, -6, 6),)) for s in ((3, 4), (), (0,))]
                     + [Sample((np.array([-100.0, -30.0, 0.0, 30.0, 100.0]),), diff=(),
                               note="saturation")])
relu_op = _unary("relu", lambda g, out, x: (relu_backward_op(g, out),),
                 jvp=lambda t, out, x: where(x > 0, t[0], 0.0))
# relu's VJP as one op on (g, saved result), like PyTorch's threshold_backward: the mask
# is computed in the backward, inside the kernel, so the forward emits nothing for it
relu_backward_op = Op("relu_backward", elementwise=True)
relu_backward_op.infer = _broadcast("relu_backward")
relu_backward_op.vjp = lambda gg, out, g, y: (_ub(relu_backward_op(gg, y), g.shape), None)
relu_backward_op.jvp = lambda t, out, g, y: _on(t[0], lambda tg: relu_backward_op(tg, y))
relu_backward_op.saves = saves(1)
relu_backward_op.operands = ("g", "y")
relu_backward_op.result = "the broadcast of g's and y's shapes; their dtype"
relu_backward_op.samples = lambda: [
    Sample((rand_array(s), rand_array(s, seed=1)), diff=(0,)) for s in ((3, 4), (), (0, 3))]
erf_op = _smooth("erf", lambda out, x: (2 / math.sqrt(math.pi)) * exp(-x * x))
sign_op = _unary("sign", None, differentiable=False)
# what each VJP reads (Op.saves), as PyTorch saves it: the input, or the result
log_op.saves = log1p_op.saves = abs_op.saves = sin_op.saves = cos_op.saves = erf_op.saves = \
    saves(0)
exp_op.saves = sqrt_op.saves = tanh_op.saves = sigmoid_op.saves = relu_op.saves = saves(RESULT)
exp_op.document("e ** x")
log_op.document("natural logarithm of x (NaN below 0, -inf at 0)")
log1p_op.document("log(1 + x), accurate for tiny x")
sqrt_op.document("square root of x (NaN below 0)")
abs_op.document("|x| (int64 stays int64)")
sin_op.document("sine of x (radians)")
cos_op.document("cosine of x (radians)")
tanh_op.document("hyperbolic tangent of x")
sigmoid_op.document("1 / (1 + e ** -x), without overflow for large |x|")
relu_op.document("max(x, 0) (NaN stays NaN; bool stays bool)")
relu_backward_op.document("g where y > 0, else 0 (relu's gradient from its result y; a NaN "
                          "or Inf in g where y <= 0 gives 0)")
erf_op.document("the error function, 2/sqrt(pi) * integral of e ** -t**2 from 0 to x")
sign_op.document("-1, 0 or 1 by the sign of x, in x's dtype (NaN for NaN)")


def _float_unary(op):
    def fn(x) -> Tensor:
        (x,) = promote_float(x)
        return op(x)
    fn.__name__ = op.name
    fn.__doc__ = f"Elementwise {op.name} (integers are promoted to float32)."
    return tensor_method()(fn)


exp = _float_unary(exp_op)
log = _float_unary(log_op)
log1p = _float_unary(log1p_op)
sqrt = _float_unary(sqrt_op)
sin = _float_unary(sin_op)
cos = _float_unary(cos_op)
tanh = _float_unary(tanh_op)
sigmoid = _float_unary(sigmoid_op)
erf = _float_unary(erf_op)


@tensor_method()
def abs(x) -> Tensor:
    return abs_op(x)


@tensor_method()
def relu(x) -> Tensor:
    return relu_op(x)


@tensor_method()
def sign(x) -> Tensor:
    return sign_op(x)


Tensor.__abs__ = abs


# ---------------------------------------------------------------------- min/max, where, clamp

def _tie_split(mask_gt):
    def vjp(g, out, x, y):
        half = g * 0.5
        gx = where(mask_gt(x, y), g, where(x == y, half, 0.0))
        gy = where(mask_gt(y, x), g, where(x == y, half, 0.0))
        return _ub(gx, x.shape), _ub(gy, y.shape)
    return vjp


def _tie_samples():
    tied = rand_array((3, 4))
    other = np.where(rand_array((3, 4), seed=5) > 0, tied, rand_array((3, 4), seed=6))
    return binary_samples()() + [Sample((tied, other), diff=(0, 1), note="ties")]


def _tie_split_jvp(mask_gt):
    def jvp(t, out, x, y):
        tx = zeros_scalar(x) if t[0] is None else t[0]
        ty = zeros_scalar(y) if t[1] is None else t[1]
        return where(mask_gt(x, y), tx, where(x == y, (tx + ty) * 0.5, ty))
    return jvp


maximum_op = _binary("maximum", _tie_split(lambda a, b: a > b), _tie_samples,
                     jvp=_tie_split_jvp(lambda a, b: a > b))
minimum_op = _binary("minimum", _tie_split(lambda a, b: a < b), _tie_samples,
                     jvp=_tie_split_jvp(lambda a, b: a < b))
maximum_op.saves = minimum_op.saves = saves(0, 1)
add_op.commutative = mul_op.commutative = True
maximum_op.commutative = minimum_op.commutative = True  # (NaN propagates either way)
maximum_op.document("the larger of x and y elementwise; NaN propagates (np.maximum, not fmax)")
minimum_op.document("the smaller of x and y elementwise; NaN propagates (np.minimum)")


@tensor_method()
def maximum(a, b) -> Tensor:
    return maximum_op(*promote(a, b))


@tensor_method()
def minimum(a, b) -> Tensor:
    return minimum_op(*promote(a, b))


where_op = Op("where", elementwise=True)


def _where_infer(c, a, b):
    if c.dtype != dtypes.bool_:
        raise DtypeError(f"where: the condition must be bool, got {dtypes.short(c.dtype)}",
                         op="where")
    return broadcast_shapes(c.shape, a.shape, b.shape, op="where"), same_dtype("where", a, b)


where_op.infer = _where_infer
where_op.document("x where cond is true, else y (np.where)", operands=("cond", "x", "y"),
                  result="the broadcast of the three shapes; x's dtype (cond is bool, x and y "
                         "share one dtype)")
where_op.vjp = lambda g, out, c, a, b: (
    None, _ub(where_op(c, g, zeros_scalar(g)), a.shape), _ub(where_op(c, zeros_scalar(g), g),
                                                            b.shape))
where_op.saves = saves(0)
where_op.jvp = lambda t, out, c, a, b: where_op(
    c, zeros_scalar(a) if t[1] is None else t[1], zeros_scalar(b) if t[2] is None else t[2])
where_op.samples = lambda: [
    Sample((np.asarray(rand_array(sc) > 0), rand_array(sa, seed=1), rand_array(sb, seed=2)),
           diff=(1, 2))
    for sc, sa, sb in [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), ()), ((), (2,), (2,))]]


def zeros_scalar(like: Tensor) -> Tensor:
    return as_tensor(0, like.dtype, like)


def where(condition, x, y) -> Tensor:
    """`x` where `condition` holds, else `y` (broadcast; x and y promoted together)."""
    x, y = promote(x, y)
    condition = as_tensor(condition, like=x)
    if condition.dtype != dtypes.bool_:  # PyTorch refuses too: 0.5 is not a truth value
        raise DtypeError(f"where expected condition to be a boolean tensor, but got a tensor "
                         f"with dtype {dtypes.short(condition.dtype)} (compare it, e.g. "
                         "`cond != 0`)", op="where", source=user_source())
    return where_op(condition, x, y)


Tensor.where = lambda self, condition, other: where(condition, self, other)

clamp_op = Op("clamp", elementwise=True)
clamp_op.infer = lambda x, min, max: (x.shape, x.dtype)
clamp_op.document("x limited to [min, max] (np.clip); a bound that is None is not applied",
                  result="x's shape and dtype",
                  min="float | int | None: the lower bound (a Python number of x's kind), "
                      "None for no lower bound",
                  max="float | int | None: the upper bound, None for no upper bound (at "
                      "least one bound is given)")
clamp_op.saves = saves(0)
clamp_op.vjp = lambda g, out, x, min, max: (where(_within(x, min, max), g, 0.0),)
clamp_op.jvp = lambda t, out, x, min, max: where(_within(x, min, max), t[0], 0.0)
clamp_op.samples = lambda: [Sample((rand_array((3, 4)),), {"min": -0.5, "max": 0.7}),
                            Sample((rand_array((5,)),), {"min": 0.1, "max": None}),
                            Sample((rand_array(()),), {"min": None, "max": 0.3})]


def _within(x, lo, hi):
    inside = None
    if lo is not None:
        inside = x >= lo
    if hi is not None:
        upper = x <= hi
        # `&` is logical_and, which the logic group (above this one) registers on Tensor
        inside = upper if inside is None else inside & upper
    return inside


@tensor_method()
def clamp(x, min=None, max=None) -> Tensor:
    """Limit values to [min, max] (either bound may be None); gradient flows inside."""
    if min is None and max is None:
        raise GraphgradError("clamp: at least one of min and max must be given", op="clamp",
                             source=user_source())
    if isinstance(min, Tensor) or isinstance(max, Tensor):  # elementwise bounds
        out = x if min is None else maximum(x, min)
        return out if max is None else minimum(out, max)
    if not dtypes.is_float(x.dtype) and any(isinstance(b, float) for b in (min, max)):
        x = x.astype(dtypes.float32)  # an integer tensor with a float bound: float, as torch
    cast_ = float if dtypes.is_float(x.dtype) else int
    return clamp_op(x, min=None if min is None else cast_(min),
                    max=None if max is None else cast_(max))


tensor_method("clip")(clamp)


# ---------------------------------------------------------------------- casts and copies

cast_op = Op("cast", elementwise=True)
cast_op.infer = lambda x, dtype: (x.shape, dtype)
cast_op.document("x converted to dtype (NumPy's astype: float to int truncates toward 0, "
                 "nonzero to bool is True); always a new array", result="x's shape; dtype",
                 dtype="numpy.dtype: the result's dtype (float32, float64, int64 or bool)")
cast_op.vjp = lambda g, out, x, dtype: (
    cast_op(g, dtype=x.dtype) if dtypes.is_float(x.dtype) else None,)
cast_op.jvp = lambda t, out, x, dtype: cast_op(t[0], dtype=dtype)
cast_op.saves = saves_none
cast_op.samples = lambda: [Sample((rand_array((3, 4)),), {"dtype": dtypes.float64}),
                           Sample((rand_array((3,)) * 5,), {"dtype": dtypes.int64}, diff=()),
                           Sample((rand_array((2, 3)),), {"dtype": dtypes.bool_}, diff=()),
                           Sample((rand_array(()),), {"dtype": dtypes.float32})]


@tensor_method("astype")
def cast(x: Tensor, dtype) -> Tensor:
    dtype = dtypes.as_dtype(dtype)
    return x if x.dtype == dtype else cast_op(x, dtype=dtype)


identity_op = _unary("identity", lambda g, out, x: (g,), jvp=lambda t, out, x: t[0])
identity_op.saves = saves_none
identity_op.document("a copy of x in a new buffer (never x itself or a view of it)")


@tensor_method("clone")
def identity(x: Tensor) -> Tensor:
    """A copy of `x` (its own buffer) that gradients flow through unchanged."""
    return identity_op(x)


__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "log1p", "sqrt", "abs", "sin",
    "cos", "tanh", "sigmoid", "relu", "erf", "sign", "maximum", "minimum", "where", "clamp",
    "cast",
    "unbroadcast",
]

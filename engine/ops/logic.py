"""Comparisons and logic: elementwise ops with bool results and no gradient.

Comparisons promote their operands like arithmetic does (`int_tensor < 0.5` compares as
float32); the logical ops read any dtype as bool (nonzero is true).
"""

from __future__ import annotations

from .. import dtypes
from ..creation import as_tensor
from ..errors import UnsupportedError
from ..source import user_source
from ..tensor import Tensor, tensor_method
from .common import Sample, binary_samples, promote, rand_array
from .elementwise import _broadcast, cast
from .registry import Op


def _compare(name, method, against_none=None):
    """The op and its function; `against_none`: what `x == None` answers (torch: a bool,
    not an elementwise error), for eq and ne."""
    op = Op(name, elementwise=True, differentiable=False)
    op.infer = _broadcast(name, dtypes.bool_)
    op.samples = binary_samples()
    op.operands = ("x", "y")
    op.result = "the broadcast of x's and y's shapes; bool (x and y share one dtype)"

    def fn(a, b) -> Tensor:
        if b is None and against_none is not None:
            return against_none
        return op(*promote(a, b))
    fn.__name__ = name
    setattr(Tensor, method, fn)
    return op, tensor_method(name)(fn)


eq_op, eq = _compare("eq", "__eq__", against_none=False)
ne_op, ne = _compare("ne", "__ne__", against_none=True)
lt_op, lt = _compare("lt", "__lt__")
le_op, le = _compare("le", "__le__")
gt_op, gt = _compare("gt", "__gt__")
ge_op, ge = _compare("ge", "__ge__")
for _op, _symbol in ((eq_op, "=="), (ne_op, "!="), (lt_op, "<"), (le_op, "<="), (gt_op, ">"),
                     (ge_op, ">=")):
    _op.document(f"x {_symbol} y elementwise (IEEE: comparisons with NaN are false, != true)")

logical_not_op = Op("logical_not", elementwise=True, differentiable=False)
logical_not_op.infer = lambda x: (x.shape, dtypes.bool_)
logical_not_op.samples = lambda: [Sample((rand_array((3, 4)) > 0,), diff=())]
logical_and_op = Op("logical_and", elementwise=True, differentiable=False)
logical_and_op.infer = _broadcast("logical_and", dtypes.bool_)
logical_and_op.samples = lambda: [Sample((rand_array((3, 4)) > 0, rand_array((4,)) > 0),
                                         diff=())]
logical_or_op = Op("logical_or", elementwise=True, differentiable=False)
logical_or_op.infer = _broadcast("logical_or", dtypes.bool_)
logical_or_op.samples = logical_and_op.samples
eq_op.commutative = ne_op.commutative = True
logical_and_op.commutative = logical_or_op.commutative = True
logical_not_op.document("not x (bool operands)", result="x's shape; bool")
logical_and_op.document("x and y (bool operands)", operands=("x", "y"),
                        result="the broadcast of x's and y's shapes; bool")
logical_or_op.document("x or y (bool operands)", operands=("x", "y"),
                       result="the broadcast of x's and y's shapes; bool")


def _as_bool(x, like=None):
    if not isinstance(x, Tensor):  # a Python bool or number: `mask & True`
        return as_tensor(bool(x), dtypes.bool_, like=like)
    return x if x.dtype == dtypes.bool_ else cast(x, dtypes.bool_)


@tensor_method()
def logical_not(x) -> Tensor:
    return logical_not_op(_as_bool(x))


@tensor_method()
def logical_and(a, b) -> Tensor:
    return logical_and_op(_as_bool(a, b), _as_bool(b, a))


@tensor_method()
def logical_or(a, b) -> Tensor:
    return logical_or_op(_as_bool(a, b), _as_bool(b, a))


def _bool_only(symbol: str, *xs) -> None:
    """`&`, `|`, `~` are logical on bool tensors; on integers PyTorch computes bits, which
    graphgrad has no ops for: refused rather than answered as logic (5 & 3 is 1, not
    True)."""
    for x in xs:
        dtype = getattr(x, "dtype", None)
        plain_int = isinstance(x, int) and not isinstance(x, bool)
        if plain_int or (dtype is not None and dtype != dtypes.bool_):
            name = str(dtype or type(x).__name__)
            article = "an" if name[0] in "aeiou" else "a"
            raise UnsupportedError(f"'{symbol}' on {article} {name} operand: "
                                   "graphgrad's bitwise operators take bool tensors only "
                                   "(compare first, e.g. `(x > 0) & (y > 0)`)",
                                   op=f"'{symbol}'", source=user_source())


def _invert(x) -> Tensor:
    _bool_only("~", x)
    return logical_not(x)


def _and(a, b) -> Tensor:
    _bool_only("&", a, b)
    return logical_and(a, b)


def _or(a, b) -> Tensor:
    _bool_only("|", a, b)
    return logical_or(a, b)


Tensor.__invert__ = _invert
Tensor.__and__ = Tensor.__rand__ = _and
Tensor.__or__ = Tensor.__ror__ = _or


__all__ = ["eq", "ne", "lt", "le", "gt", "ge", "logical_not", "logical_and", "logical_or"]

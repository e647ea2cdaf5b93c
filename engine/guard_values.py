"""How one value is guarded: the Guard record, and comparing what a trace saw with what
is there at a later call (plain values by equality, containers by value, state objects
by identity, NumPy arrays a plan holds as constants by their values).

engine/guard_bindings.py finds the values a step reaches; engine/guards.py collects the
guards of a trace and generates their check.
"""

from __future__ import annotations

import collections
import copy
import enum
import warnings
from dataclasses import dataclass

import numpy as np

from .naming import is_state_holder
from .source import user_stacklevel
from .tensor import Tensor


@dataclass(frozen=True)
class Guard:
    """`expr` is a Python expression with `{0}`, `{1}`, ... standing for `objs`."""

    describe: str
    expr: str
    objs: tuple = ()


def is_plain_value(value) -> bool:
    """Values compared by equality in a guard (numbers, NumPy scalars, strings, None,
    enum members, tuples of them); anything else is compared by identity."""
    if value is None or type(value) in (bool, int, float, str, complex) \
            or isinstance(value, (np.generic, enum.Enum)):
        return True
    return type(value) is tuple and all(is_plain_value(v) for v in value)


def equal_expr(read: str, value) -> str:
    """`read` (a guard expression) still holds `value`, which is {1} of the guard: by
    identity for None, bools and enum members, by type and value for NumPy scalars."""
    if value is None or type(value) is bool or isinstance(value, enum.Enum):
        return f"{read} is {{1}}"
    if isinstance(value, np.generic):
        return f"type({read}) is type({{1}}) and {read} == {{1}}"
    return f"{read} == {{1}}"


MISSING = object()


MAX_COMPARED = 4096  # a NumPy array the plan holds as a constant: compared at every call


def array_guards(where: str, read: str, objs: tuple):
    """`read` (over objs: its container, then the array) is the same NumPy array, with
    the values the trace made a constant of (a small one, compared at every call)."""
    array = objs[1]
    if array.size <= MAX_COMPARED:
        yield Guard(f"{where} changed (a NumPy array the plan holds as a constant)",
                    f"{read} is {{1}} and {{{len(objs)}}}({{1}})", (*objs, _SameArray(array)))
        return
    yield Guard(f"{where} is a different NumPy array", f"{read} is {{1}}", objs)
    warnings.warn(
        f"gg.compile: the step makes a tensor of the NumPy array {where} "
        f"{list(array.shape)}: the plan holds its values as a constant, and arrays this "
        f"large (over {MAX_COMPARED} elements) are not compared at every call, so a change "
        "made to it in place later is not seen. Pass it as an argument, or hold it in a "
        "tensor.", stacklevel=user_stacklevel())


class _SameArray:
    """The values of an array, as a guard compares them (NaN equal to NaN)."""

    def __init__(self, array):
        self.copy = np.array(array, copy=True)

    def __call__(self, array) -> bool:
        return array.shape == self.copy.shape and array.dtype == self.copy.dtype and \
            bool(np.array_equal(array, self.copy, equal_nan=array.dtype.kind in "fc"))


MAX_ITEMS = 4096  # a container guarded by value holds at most this many plain values


def is_plain_container(value) -> bool:
    """Lists, tuples and dicts of plain values, nested, MAX_ITEMS in all at most."""
    return _plain_items(value, MAX_ITEMS) is not None


def _plain_items(value, budget: int) -> int | None:
    """The budget left after counting value's plain items, or None (not plain, too big)."""
    if isinstance(value, (list, tuple, collections.deque)) and not _is_namedtuple_like(value):
        items = value
    elif isinstance(value, dict):
        if not all(is_plain_value(k) for k in value):
            return None
        items = value.values()
    else:
        return None
    for v in items:
        budget -= 1
        if budget < 0:
            return None
        if not is_plain_value(v):
            budget = _plain_items(v, budget)
            if budget is None:
                return None
    return budget


def holds_state(value) -> bool:
    """A list, tuple or dict (nested) of tensors, modules or optimizers and plain values,
    MAX_ITEMS in all at most, holding at least one of the former."""
    return type(value) in (list, tuple, dict) and SameItems.snapshot(value, [MAX_ITEMS]) \
        is not None and not is_plain_container(value)


class SameItems:
    """A guard's check that a container holds the same state objects (by identity) and
    equal plain values as when traced (`parts["model"] = Net()` retraces)."""

    def __init__(self, value):
        self.expected = self.snapshot(value, [MAX_ITEMS])

    @staticmethod
    def snapshot(value, budget):
        if is_state(value):
            return ("is", value)
        if is_plain_value(value):
            return ("==", value)
        if type(value) not in (list, tuple, dict):
            return None
        pairs = value.items() if type(value) is dict else enumerate(value)
        items = []
        for k, v in pairs:
            budget[0] -= 1
            item = SameItems.snapshot(v, budget) if budget[0] >= 0 else None
            if item is None:
                return None
            items.append((k, item))
        return (type(value), tuple(items))

    def __call__(self, value) -> bool:
        return self._same(self.expected, value)

    def _same(self, expected, value) -> bool:
        kind, held = expected
        if kind == "is":
            return value is held
        if kind == "==":
            return type(value) is type(held) and value == held
        if type(value) is not kind or len(value) != len(held):
            return False
        if kind is dict:
            return all(k in value and self._same(e, value[k]) for k, e in held)
        return all(self._same(e, v) for (_, e), v in zip(held, value))


def _is_namedtuple_like(value) -> bool:
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


def snapshot(value):
    """A snapshot a guard compares with (containers are compared by value, nested)."""
    return copy.deepcopy(value) if isinstance(value, (list, dict, collections.deque)) \
        else value


def short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_state(value) -> bool:
    return isinstance(value, Tensor) or is_state_holder(value)

"""Python state a trace must not change: counters, lists, scheduler steps, attributes.

A compiled function's Python code runs once, when it is traced; the plan replays only
tensor operations. A Python side effect inside the step (`scheduler.step()`, `count +=
1`, `history.append(loss)`, `self.calls += 1`) would therefore happen once and then
silently never again. So before a trace we take a shallow snapshot of the Python state
the function can reach (its globals and closure variables, the attributes of the
objects they hold, the items of lists and dicts, a few levels deep); after the trace we
compare, and any difference restores the snapshot and raises a TracingError that names
what changed and says what to do. Tensors are not part of the snapshot: their changes
are traced (state writes), and objects may declare attributes a trace legitimately
fills in (`traced_mutable_attributes`, e.g. an optimizer's lazily created `state`).
"""

from __future__ import annotations

import collections
import copy
import functools
import inspect
import random
import sys
import types

import numpy as np

from .errors import TracingError
from .source import user_source
from .tensor import Tensor

MAX_DEPTH = 6  # globals -> object -> attribute -> list/dict -> item ...
MAX_ITEMS = 4096  # longer lists and dicts: only their length is compared
MAX_OBJECTS = 2000

_SKIP = (Tensor, type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
         types.MethodType, str, bytes, int, float, complex, bool, type(None), range)


class Snapshot:
    """Shallow copies of the mutable Python state reachable from `fn`."""

    def __init__(self, fn, arguments=()):
        """`arguments`: (path, object) of the modules and optimizers fn was called with."""
        self.entries: list[tuple] = []  # (label, kind, container, saved)
        self._seen: set[int] = set()
        for label, obj in arguments:
            self._visit(label, obj, 1)
        for label, container, key in roots(fn):
            self._take(label, "binding", (container, key), _get(container, key))
            self._visit(label, _get(container, key), 1)
        self._rng = (random.getstate(), np.random.get_state())

    def rng_changed(self) -> bool:
        """Whether Python's or NumPy's global random generator was drawn from."""
        py, legacy = self._rng
        return random.getstate() != py or not _equal_state(legacy, np.random.get_state())

    def _take(self, label, kind, target, saved) -> None:
        self.entries.append((label, kind, target, saved))

    def _visit(self, label, obj, depth) -> None:  # noqa: PLR0911
        if id(obj) not in self._seen and isinstance(obj, _RNGS):
            self._seen.add(id(obj))
            self._take(label, "rng", obj, copy.deepcopy(_rng_state(obj)))
            return
        if id(obj) not in self._seen and _is_iterator(obj):  # `next(it)` in the step
            self._seen.add(id(obj))
            self._take(label, "iter", obj, _iter_state(obj))
            return
        if isinstance(obj, types.ModuleType) and user_module(obj) and id(obj) not in self._seen \
                and depth <= MAX_DEPTH:  # a counter kept on a config module
            self._seen.add(id(obj))
            saved = {k: v for k, v in vars(obj).items() if not k.startswith("__")}
            self._take(label, "attrs", obj, saved)
            return
        if depth > MAX_DEPTH or isinstance(obj, _SKIP) or id(obj) in self._seen \
                or len(self._seen) > MAX_OBJECTS or hasattr(obj, "__wrapped__") \
                or type(obj).__module__.startswith(("numpy", "networkx")):
            return
        self._seen.add(id(obj))
        if isinstance(obj, (list, dict, set, collections.deque)):
            saved = _copy(obj)
            self._take(label, "items", obj, saved)
            if saved[1] is not None:
                items = obj.items() if isinstance(obj, dict) else enumerate(obj) \
                    if isinstance(obj, list) else ()
                for k, v in items:
                    self._visit(f"{label}[{k!r}]", v, depth + 1)
            return
        if isinstance(obj, tuple):
            for i, v in enumerate(obj):
                self._visit(f"{label}[{i}]", v, depth + 1)
            return
        attrs = getattr(obj, "__dict__", None)
        if not isinstance(attrs, dict):
            return
        skip = set(getattr(type(obj), "traced_mutable_attributes", ()))
        saved = {k: v for k, v in attrs.items() if k not in skip}
        self._take(label, "attrs", obj, saved)
        for k, v in saved.items():
            self._visit(f"{label}.{k}", v, depth + 1)

    def changes(self) -> list[str]:
        """What differs from the snapshot now (labels in the user's names)."""
        out = []
        for label, kind, target, saved in self.entries:
            if kind == "binding":
                if _get(*target) is not saved:
                    out.append(label)
            elif kind == "items":
                if not _same(_copy(target), saved):
                    out.append(_item_label(label, target, saved))
            elif kind == "rng":
                if not _equal_state(_rng_state(target), saved):
                    kind = "Python" if isinstance(target, random.Random) else "NumPy"
                    out.append(f"{label} (a {kind} random generator)")
            elif kind == "iter":
                if _iter_state(target) != saved:
                    out.append(f"{label} (an iterator the step advanced)")
            else:
                skip = set(getattr(type(target), "traced_mutable_attributes", ()))
                now = {k: v for k, v in target.__dict__.items() if k not in skip}
                if isinstance(target, types.ModuleType):
                    now = {k: v for k, v in now.items() if not k.startswith("__")}
                if now.keys() != saved.keys() or any(now[k] is not saved[k] for k in now):
                    keys = sorted(k for k in {*now, *saved} if now.get(k) is not saved.get(k))
                    if keys == ["training"] and hasattr(target, "named_parameters"):
                        continue  # train()/eval(): replayed by the plan (`mode_sets`)
                    out += [f"{label}.{k}" for k in keys[:3]] or [label]
        return out

    def mode_sets(self) -> list[tuple]:
        """(module, training) for the modules whose train()/eval() mode the traced code
        set: the plan sets them again at every call, as the code would."""
        out = []
        for _label, kind, target, saved in self.entries:
            if kind == "attrs" and hasattr(target, "named_parameters") \
                    and target.__dict__.get("training") is not saved.get("training"):
                out.append((target, target.__dict__.get("training")))
        return out

    def restore(self) -> None:
        random.setstate(self._rng[0])
        np.random.set_state(self._rng[1])
        for _label, kind, target, saved in reversed(self.entries):
            if kind == "binding":
                _set(*target, saved)
            elif kind == "items" and saved[1] is not None:
                _restore_items(target, saved)
            elif kind == "rng":
                _set_rng_state(target, saved)
            elif kind == "iter":
                pass  # (an iterator cannot be rewound; the error says it was advanced)
            elif kind == "attrs":
                skip = set(getattr(type(target), "traced_mutable_attributes", ()))
                for k in [k for k in target.__dict__ if k not in skip and k not in saved]:
                    del target.__dict__[k]
                target.__dict__.update(saved)

    def check(self, fn_name: str) -> None:
        """Raise (after restoring the snapshot) if the trace changed Python state."""
        changed = self.changes()
        if self.rng_changed():
            changed.append("the global random state (random / numpy.random)")
        if not changed:
            return
        self.restore()
        what = ", ".join(f"`{c}`" for c in changed[:4])
        raise TracingError(
            f"{fn_name} changed Python state while it was traced: {what}. A compiled "
            "function's Python code runs only once, when it is traced, so the change would "
            "not happen on later calls. Do it outside the compiled function: call "
            "scheduler.step() after the compiled step, keep counters outside (or in a "
            "tensor), return values you want to collect (append them after the call), and "
            "draw random numbers with gg.rand/gg.randn (ops of the plan).",
            source=user_source())


_RNGS = (np.random.Generator, np.random.RandomState, random.Random)


def _rng_state(rng):
    if isinstance(rng, np.random.Generator):
        return rng.bit_generator.state
    return rng.get_state() if isinstance(rng, np.random.RandomState) else rng.getstate()


def _set_rng_state(rng, state) -> None:
    if isinstance(rng, np.random.Generator):
        rng.bit_generator.state = state
    elif isinstance(rng, np.random.RandomState):
        rng.set_state(state)
    else:
        rng.setstate(state)


def _is_iterator(obj) -> bool:
    """A generator or an iterator of Python's own (a list's, itertools.count, ...)."""
    return isinstance(obj, types.GeneratorType) or (
        hasattr(type(obj), "__next__") and type(obj).__module__ in ("builtins", "itertools"))


def _iter_state(obj):
    """Where an iterator stands (compared before and after the trace)."""
    if isinstance(obj, types.GeneratorType):
        frame = obj.gi_frame
        return None if frame is None else (frame.f_lasti, tuple(map(id, frame.f_locals.values())))
    try:
        return repr(obj.__reduce__())
    except (TypeError, AttributeError):
        return None


def user_module(obj) -> bool:
    """A module of the user's own (a config module), not a library's or Python's."""
    path = getattr(obj, "__file__", None) or ""
    if not path:  # made in code (types.ModuleType): the user's, unless built in
        return obj.__name__ not in sys.builtin_module_names
    return obj.__name__.split(".")[0] not in LIBRARIES \
        and "site-packages" not in path and not path.startswith(_PREFIXES)


_PREFIXES = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})
#: Top-level packages whose objects are never the user's state (guard_bindings.py too)
LIBRARIES = frozenset({"numpy", "graphgrad", "networkx", "torch", "builtins", "math",
                       "random", "collections", "functools", "itertools", "typing"})


def roots(fn):
    """(label, container, key) for the globals and closure cells fn (and the functions it
    calls, two levels down) reads: `container` is a cell (key None) or a globals dict."""
    out, frontier, seen = [], [fn], {id(fn)}
    for _ in range(3):
        nxt = []
        for f in frontier:
            while isinstance(f, functools.partial):  # gg.compile(partial(step, model))
                f = f.func
            target = inspect.unwrap(f) if callable(f) else f
            code = getattr(target, "__code__", None)
            if code is None:
                continue
            for name, cell in zip(code.co_freevars, getattr(target, "__closure__", None) or ()):
                out.append((name, cell, None))
                nxt += _functions_in(_get(cell, None), seen)
            globs = getattr(target, "__globals__", {})
            for name in _global_names(code):
                if name in globs:
                    out.append((name, globs, name))
                    nxt += _functions_in(globs[name], seen)
        frontier = nxt
    return out


def _global_names(code) -> dict:
    """The names a code object and the lambdas, comprehensions and inner functions in it
    use (in order, once each): the globals among them are read by fn's own code."""
    names, codes = {}, [code]
    while codes:
        c = codes.pop(0)
        names.update(dict.fromkeys(c.co_names))
        codes += [k for k in c.co_consts if inspect.iscode(k)]
    return names


def _functions_in(obj, seen) -> list:
    """obj, when it is a user function not yet seen: graphgrad's own functions are left
    out (their module globals are the library's state, not the user's: guarding them
    would retrace on the library's own caches)."""
    if id(obj) in seen or not inspect.isfunction(obj) \
            or (getattr(obj, "__module__", None) or "").startswith("graphgrad"):
        return []
    seen.add(id(obj))
    return [obj]


def _equal_state(a, b) -> bool:
    """Equality of random-generator states (nested dicts/tuples holding arrays)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal_state(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_equal_state(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return a == b


def _item_label(label, target, saved) -> str:
    """`label['key']` for the first changed key of a dict, else `label`."""
    if isinstance(target, dict) and saved[1] is not None:
        before = dict(saved[1])
        for k in {*target, *before}:
            if target.get(k, _EMPTY) is not before.get(k, _EMPTY):
                return f"{label}[{k!r}]"
    return label


def _get(container, key):
    if isinstance(container, types.CellType):
        try:
            return container.cell_contents
        except ValueError:
            return _EMPTY
    return container.get(key, _EMPTY)


def _set(container, key, value) -> None:
    if isinstance(container, types.CellType):
        if value is not _EMPTY:
            container.cell_contents = value
    elif value is _EMPTY:
        container.pop(key, None)
    else:
        container[key] = value


_EMPTY = object()


def _copy(obj) -> tuple:
    """(length, shallow copy of the items, or None past MAX_ITEMS)."""
    if len(obj) > MAX_ITEMS:
        return len(obj), None
    return len(obj), list(obj.items()) if isinstance(obj, dict) else list(obj)


def _same(now, saved) -> bool:
    if now[0] != saved[0] or (now[1] is None) != (saved[1] is None):
        return False
    return now[1] is None or all(_identical(a, b) for a, b in zip(now[1], saved[1]))


def _identical(a, b) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):  # dict items
        return len(a) == len(b) and all(x is y for x, y in zip(a, b))
    return a is b


def _restore_items(target, saved) -> None:
    saved = saved[1]
    if isinstance(target, dict):
        target.clear()
        target.update(saved)
    elif isinstance(target, list):
        target[:] = saved
    elif isinstance(target, collections.deque):
        target.clear()
        target.extend(saved)
    else:
        target.clear()
        target.update(saved)

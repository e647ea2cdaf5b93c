"""Guards: what a compiled plan assumed about Python objects, checked before every call.

A trace reads Python values that are not inputs of the plan: which module object sits
at `model.fc2`, a layer's `p` or `eps`, which parameters an optimizer group holds,
which tensor is `opt.state[p]["exp_avg"]`, a state tensor's shape and dtype. Each such
read becomes a `Guard`: one Python expression over objects bound when the plan is
built, and a sentence in the user's words for `cache_info()`.

All guards of a plan are generated into a single function, `def check(): return g0 and
g1 and ...` (the way torch.compile's dynamo generates guard code), so a call pays a few
dozen nanoseconds per guard and no Python loop. Only when that returns False are the
guards evaluated one by one, to say which failed.
"""

from __future__ import annotations

import collections
import copy
import enum
import functools
import inspect
import itertools
import linecache
import types
import warnings
from dataclasses import dataclass

import numpy as np

from .autodiff import GRAD_HOOKS
from .naming import is_state_holder
from .side_effects import roots, user_module
from .source import user_stacklevel
from .tensor import Tensor

_counter = itertools.count()


@dataclass(frozen=True)
class Guard:
    """`expr` is a Python expression with `{0}`, `{1}`, ... standing for `objs`."""

    describe: str
    expr: str
    objs: tuple = ()


class GuardSet:
    """The guards of one plan, compiled into one function (`check`) plus explanations."""

    def __init__(self, guards, extra=()):
        self.guards = _dedupe(guards)
        self.extra = list(extra)  # (description, callable) pairs, e.g. from passes
        # `_item`: a param group's own item, read in C (its __getitem__ records reads
        # while tracing: engine/optim/optimizer.py's ParamGroup)
        namespace: dict = {"_item": dict.__getitem__}
        exprs = [_bind(g, namespace) for g in self.guards]
        body = " and ".join(f"({e})" for e in exprs) or "True"
        source = f"def check():\n    return {body}\n"
        filename = f"<graphgrad guards #{next(_counter)}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102
        self.check = namespace["check"]
        self.valid = self.check if not self.extra else self._valid
        self.source = source
        self._filename = filename
        self._exprs = exprs
        self._namespace = namespace

    @property
    def expressions(self) -> list[str]:
        """Each guard's expression over `namespace` (engine/fast_call.py joins them with
        the argument checks into one function)."""
        return list(self._exprs)

    @property
    def namespace(self) -> dict:
        """The objects the guard expressions name."""
        return self._namespace

    def _valid(self) -> bool:
        return self.check() and all(holds() for _, holds in self.extra)

    def failed(self) -> str | None:
        """The first failed guard's description, or None when the plan may run."""
        try:
            ok = self.check()
        except Exception:  # noqa: BLE001  (e.g. an attribute the plan relied on was deleted)
            ok = False
        if ok:
            for describe, holds in self.extra:
                if not holds():
                    return describe
            return None
        for guard, expr in zip(self.guards, self._exprs):
            try:
                ok = eval(expr, self._namespace)  # noqa: S307  (our own generated text)
            except Exception:  # noqa: BLE001  (a guard that cannot even run has failed)
                ok = False
            if not ok:
                return guard.describe
        return "a guard failed"

    def __del__(self):
        linecache.cache.pop(getattr(self, "_filename", None), None)


def _dedupe(guards) -> list[Guard]:
    seen, out = set(), []
    for g in guards:
        key = (g.expr, tuple(id(o) for o in g.objs))
        if key not in seen:
            seen.add(key)
            out.append(g)
    return out


def _bind(guard: Guard, namespace: dict) -> str:
    names = []
    by_id = namespace.setdefault("__ids__", {})
    for obj in guard.objs:
        name = by_id.get(id(obj))
        if name is None:
            name = by_id[id(obj)] = f"o{len(by_id)}"
            namespace[name] = obj
        names.append(name)
    return guard.expr.format(*names)


def is_plain_value(value) -> bool:
    """Values compared by equality in a guard (numbers, NumPy scalars, strings, None,
    enum members, tuples of them); anything else is compared by identity."""
    if value is None or type(value) in (bool, int, float, str, complex) \
            or isinstance(value, (np.generic, enum.Enum)):
        return True
    return type(value) is tuple and all(is_plain_value(v) for v in value)


def _equal_expr(read: str, value) -> str:
    """`read` (a guard expression) still holds `value`, which is {1} of the guard: by
    identity for None, bools and enum members, by type and value for NumPy scalars."""
    if value is None or type(value) is bool or isinstance(value, enum.Enum):
        return f"{read} is {{1}}"
    if isinstance(value, np.generic):
        return f"type({read}) is type({{1}}) and {read} == {{1}}"
    return f"{read} == {{1}}"


# ---------------------------------------------------------------------- from a trace
def collect(tracer, fn, mode_sets=()) -> list[Guard]:
    """Every guard a finished trace implies (see the module docstring). Modules whose
    train()/eval() mode the traced code set itself (`mode_sets`) need no mode guard."""
    set_mode = {id(m) for m, _ in mode_sets}
    guards = [Guard(*g) for g in tracer.guards]  # recorded while tracing (e.g. optimizers)
    guards += [g for g in _module_guards(tracer) if id(g.objs[0]) not in set_mode]
    guards += [g for g in _attribute_guards(tracer)
               if not (g.expr.startswith("{0}.get('training'") and id(g.objs[0]) in
                       {id(m.__dict__) for m, _ in mode_sets})]
    guards += _grad_guards(tracer)
    guards += _state_guards(tracer)
    guards += _hook_guards(tracer)
    guards += _group_read_guards(tracer)
    read_names = code_names(fn, tracer.modules.values())
    arrays = tracer.arrays
    guards += _binding_guards(fn, tracer.names, read_names, arrays,
                              _user_classes(tracer.modules.values()))
    guards += _object_attribute_guards(tracer, read_names, arrays)
    return guards


def _object_attribute_guards(tracer, read_names, arrays):
    """A plain object a module holds (`self.config`) and the trace read: its attributes
    the code names are guarded as a global's are; so is a NumPy array it holds that the
    trace made a tensor of."""
    for obj, attr, value, kind in tracer.attr_reads.values():
        where = f"{_name(tracer, obj)}.{attr}"
        if kind != "__dict__":
            continue
        if id(value) in arrays:
            yield from _array_guards(where, f"{{0}}.get({attr!r})", (obj.__dict__, value))
        elif _followed(value) and not isinstance(value, types.ModuleType):
            yield from _attribute_bindings(where, value, read_names, 1, arrays)


MAX_COMPARED = 4096  # a NumPy array the plan holds as a constant: compared at every call
#                     up to this size; a larger one is guarded by identity, with a warning


def _array_guards(where: str, read: str, objs: tuple):
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


def _name(tracer, obj, default=None) -> str:
    return tracer.names.get(id(obj)) or default or type(obj).__name__


def _module_guards(tracer):
    for m in tracer.modules.values():
        yield Guard(f"module {_name(tracer, m)!r} was traced with training={m.training} "
                    "(train()/eval() changed)", f"{{0}}.training is {m.training}", (m,))


def _attribute_guards(tracer):
    for obj, attr, value, kind in tracer.attr_reads.values():
        owner = _name(tracer, obj)
        where = f"{owner}.{attr}" if owner else attr
        if kind == "missing":  # looked up and not found (`getattr(self, "x", None)`)
            d = obj.__dict__
            tables = [d] + [d[k] for k in ("_parameters", "_buffers", "_modules") if k in d]
            yield Guard(f"{where} was absent when traced (it is set now)",
                        f"all({attr!r} not in t for t in {{1}})", (obj, tables))
            continue
        table = obj.__dict__[kind] if kind != "__dict__" else obj.__dict__
        if kind != "__dict__":
            yield Guard(f"{where} is a different object than when traced (a {kind[1:-1]} "
                        "was replaced or removed)", f"{{0}}.get({attr!r}) is {{1}}",
                        (table, value))
        elif is_plain_value(value):
            op = "is" if value is None or type(value) is bool else "=="
            yield Guard(f"{where} changed (traced with {value!r})",
                        f"{{0}}.get({attr!r}, {{2}}) {op} {{1}}", (table, value, _MISSING))
        elif _is_plain_container(value):  # a list changed in place is still the same list
            yield Guard(f"{where} changed (traced with {_short(value)})",
                        f"{{0}}.get({attr!r}, {{2}}) == {{1}}", (table, _copy(value), _MISSING))
        else:
            yield Guard(f"{where} is a different object than when traced",
                        f"{{0}}.get({attr!r}) is {{1}}", (table, value))
            if attr in ("_parameters", "_buffers", "_modules"):
                yield Guard(f"{where} changed (a submodule, parameter or buffer was added, "
                            "removed or replaced)", "list(map(id, {0}.values())) == {1} "
                            "and list({0}) == {2}", (value, [id(v) for v in value.values()],
                                                     list(value)))


_MISSING = object()


def _grad_guards(tracer):
    for owner, was_none in tracer.grad_reads.values():
        name = _name(tracer, owner, "a tensor")
        yield Guard(f"{name}.grad was {'None' if was_none else 'set'} when traced",
                    f"({{0}}._grad is None) is {was_none}", (owner,))


def _state_guards(tracer):
    """Each state tensor keeps the shape, dtype and requires_grad the plan was built for
    (a parameter frozen when traced and unfrozen later, as fine-tuning does, retraces)."""
    for name, ref in tracer.graph.state_refs.items():
        if ref.kind != "tensor" or id(ref.tensor) in tracer.created:
            continue
        t = ref.tensor
        yield Guard(f"{name} changed shape or dtype (traced as {t.dtype.name}{list(t.shape)})",
                    "{0}.shape == {1} and {0}.dtype is {2}", (t, t.shape, t.dtype))
        rg = bool(t._requires_grad)
        yield Guard(f"{name}.requires_grad was {rg} when traced",
                    f"{{0}}._requires_grad is {rg}", (t,))


def _group_read_guards(tracer):
    """Hyperparameters the user's code read from a param group: equal at every call."""
    for group, key, value in tracer.group_reads.values():
        if is_plain_value(value) or _is_plain_container(value):
            yield Guard(f"param group value {key!r} changed (the step read it: traced with "
                        f"{_short(value)})", _equal_expr(f"{{0}}.get({key!r})", value),
                        (group, _copy(value)))


def _hook_guards(tracer):
    """The gradient hooks of the state tensors are those the trace ran (a hook registered
    on a parameter after the trace, or removed, retraces): one check for all of them."""
    ids = frozenset(id(ref.tensor) for ref in tracer.graph.state_refs.values()
                    if ref.kind == "tensor" and ref.tensor._requires_grad)
    if not ids:
        return
    describe = "a gradient hook was registered on, or removed from, a state tensor"
    if GRAD_HOOKS.keys().isdisjoint(ids):  # the common case: one C call per step
        yield Guard(describe, "{1}.keys().isdisjoint({0})", (ids, GRAD_HOOKS))
    else:
        yield Guard(describe, "{0}()", (_SameHooks(ids),))


class _SameHooks:
    """Whether the hooks registered on these tensors are those there were when traced."""

    def __init__(self, ids: frozenset):
        self.ids = ids
        self.expected = {i: tuple(GRAD_HOOKS[i]) for i in ids & GRAD_HOOKS.keys()}

    def __call__(self) -> bool:
        present = self.ids & GRAD_HOOKS.keys()
        return present == self.expected.keys() and all(
            tuple(GRAD_HOOKS[i]) == hooks for i, hooks in self.expected.items())


def _user_classes(modules) -> list[type]:
    """The traced modules' own classes and user bases: the globals their methods read
    (`self.fc(x) * SCALE` in forward) and the class attributes they read are guarded as
    the step's globals are."""
    return list(dict.fromkeys(klass for cls in {type(m) for m in modules}
                              for klass in cls.__mro__
                              if klass.__module__.split(".")[0] not in _LIBRARIES))


def _binding_guards(fn, names, read_names=frozenset(), arrays=None,  # noqa: PLR0913
                    classes=()):
    """Globals and closure variables the function (or a helper it calls) reads: those
    holding modules, optimizers or tensors hold the same objects at every call (`model =
    Net()` again means a new trace); those holding Python values (numbers, strings,
    NumPy scalars, enum members, lists and dicts of them, nested: `if config["clip"]:`)
    hold equal values, since the trace ran Python code on them once; those holding other
    objects (a trainer's `self`, an argparse Namespace, a dataclass, a config module)
    hold the same object, whose attributes the code names (`read_names`) are guarded
    the same way, a few levels down (`args.model.lr`)."""
    arrays = arrays or {}
    methods = [v for cls in classes for v in vars(cls).values() if inspect.isfunction(v)]
    owner = getattr(fn, "__self__", None)
    if owner is None and _followed(fn) and callable(fn) and not isinstance(fn, type):
        owner, methods = fn, [*methods, type(fn).__call__]  # a compiled callable object
    if owner is not None:
        yield from _attribute_bindings("self", owner, read_names, 1, arrays)
    bound = []
    while isinstance(fn, functools.partial):  # the objects a partial binds, followed alike
        bound += [*fn.args, *fn.keywords.values()]
        fn = fn.func
    for k, value in enumerate(bound):
        if _followed(value) and not isinstance(value, types.ModuleType):
            yield from _attribute_bindings(f"partial argument {k}", value, read_names, 1,
                                           arrays)
    for cls in classes:  # class attributes the modules' code reads (`self.scale`)
        yield from _attribute_bindings(cls.__name__, cls, read_names, MAX_LEVELS, arrays)
    bindings = roots(fn)
    seen = {(id(c), k) for _, c, k in bindings}
    for method in methods:
        bindings += [b for b in roots(method) if (id(b[1]), b[2]) not in seen
                     and not seen.add((id(b[1]), b[2]))]
    for var, container, key in bindings:
        is_cell = key is None
        try:
            value = container.cell_contents if is_cell else container[key]
        except (ValueError, KeyError):
            continue
        read = "{0}.cell_contents" if is_cell else f"{{0}}.get({key!r})"
        kind = "variable" if is_cell else "global"
        if _is_state_holder(value):
            yield Guard(f"the {kind} {var!r} now holds a different object",
                        f"{read} is {{1}}", (container, value))
            if isinstance(getattr(value, "param_groups", None), list):  # `opt.loss_scale`
                yield from _attribute_bindings(var, value, read_names - _OPTIMIZER_OWN, 1,
                                               arrays, force=True)
        elif is_plain_value(value) or _is_plain_container(value):
            yield Guard(f"the {kind} {var!r} changed (traced with {_short(value)})",
                        _equal_expr(read, value), (container, _copy(value)))
        elif _holds_state(value):
            yield Guard(f"the {kind} {var!r} changed (an item was replaced, added or "
                        "removed)", f"{{2}}({read})", (container, None, _SameItems(value)))
        elif id(value) in arrays:
            yield from _array_guards(f"the {kind} {var!r}", read, (container, value))
        elif _followed(value):
            if not isinstance(value, types.ModuleType):
                yield Guard(f"the {kind} {var!r} now holds a different object",
                            f"{read} is {{1}}", (container, value))
            yield from _attribute_bindings(var, value, read_names, 1, arrays)


MAX_ITEMS = 4096  # a container guarded by value holds at most this many plain values
MAX_LEVELS = 3  # attributes of attributes ... of a global guarded this deep


def _is_plain_container(value) -> bool:
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


def _holds_state(value) -> bool:
    """A list, tuple or dict (nested) of tensors, modules or optimizers and plain values,
    MAX_ITEMS in all at most, holding at least one of the former."""
    return type(value) in (list, tuple, dict) and _SameItems.snapshot(value, [MAX_ITEMS]) \
        is not None and not _is_plain_container(value)


class _SameItems:
    """A guard's check that a container holds the same state objects (by identity) and
    equal plain values as when traced (`parts["model"] = Net()` retraces)."""

    def __init__(self, value):
        self.expected = self.snapshot(value, [MAX_ITEMS])

    @staticmethod
    def snapshot(value, budget):
        if _is_state_holder(value):
            return ("is", value)
        if is_plain_value(value):
            return ("==", value)
        if type(value) not in (list, tuple, dict):
            return None
        pairs = value.items() if type(value) is dict else enumerate(value)
        items = []
        for k, v in pairs:
            budget[0] -= 1
            item = _SameItems.snapshot(v, budget) if budget[0] >= 0 else None
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


def _copy(value):
    """A snapshot a guard compares with (containers are compared by value, nested)."""
    return copy.deepcopy(value) if isinstance(value, (list, dict, collections.deque)) \
        else value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _followed(obj) -> bool:
    """A plain object whose attributes a guard follows (not a class, function, module of
    a library or anything callable)."""
    if isinstance(obj, types.ModuleType):  # the user's own (a config module), no library
        return user_module(obj) and obj.__name__.split(".")[0] not in _LIBRARIES
    if isinstance(obj, type):  # a config class (`Cfg.scale`): the user's own
        return obj.__module__.split(".")[0] not in _LIBRARIES
    attrs = getattr(obj, "__dict__", None)
    library = type(obj).__module__.split(".")[0]
    return isinstance(attrs, dict) and not _is_state_holder(obj) \
        and not isinstance(obj, (types.FunctionType, types.MethodType)) \
        and (library not in _LIBRARIES or library == "graphgrad" and not callable(obj))
    # (graphgrad's own plain objects too: a scheduler's last_epoch read in the step)


_LIBRARIES = frozenset({"numpy", "graphgrad", "networkx", "torch", "builtins", "math",
                        "random", "collections", "functools", "itertools", "typing"})


_OPTIMIZER_OWN = frozenset({"param_groups", "state", "defaults"})  # guarded on their own


def _attribute_bindings(var, obj, read_names, level, arrays,  # noqa: PLR0913
                        force: bool = False):
    """Guards on the attributes of a plain object (see _binding_guards): modules,
    optimizers and tensors it holds by identity (all of them); Python values and other
    plain objects by the names the code reads."""
    attrs = obj.__dict__  # (a class's: a read-only live view of it)
    module = isinstance(obj, types.ModuleType)
    call = vars(type(obj)).get("__call__")  # a callable object: what its call reads
    if not module and not force and not isinstance(obj, type) and inspect.isfunction(call):
        read_names = read_names | _names_of([call.__code__])
    for key, value in list(attrs.items())[:64] if not module else ():
        if _is_state_holder(value):
            yield Guard(f"{var}.{key} now holds a different object",
                        f"{{0}}.get({key!r}) is {{1}}", (attrs, value))
    if not module and not isinstance(obj, type):  # read through the class: stays so
        for key in [k for k in read_names if k not in attrs
                    and is_plain_value(getattr(type(obj), k, _MISSING))][:64]:
            yield Guard(f"{var}.{key} was the class's when traced (now set on the object, "
                        f"or the class's changed)", f"{{0}}.get({key!r}, {{2}}) is {{2}} and "
                        f"{_equal_expr(f'{{3}}.{key}', getattr(type(obj), key))}",
                        (attrs, getattr(type(obj), key), _MISSING, type(obj)))
    for key in [k for k in attrs if k in read_names][:64]:
        value = attrs[key]
        read = f"{{0}}.get({key!r}, {{2}})"
        if _is_state_holder(value):
            if module:
                yield Guard(f"{var}.{key} now holds a different object", f"{read} is {{1}}",
                            (attrs, value, _MISSING))
        elif is_plain_value(value) or _is_plain_container(value):
            yield Guard(f"{var}.{key} changed (traced with {_short(value)})",
                        _equal_expr(read, value), (attrs, _copy(value), _MISSING))
        elif _holds_state(value):
            yield Guard(f"{var}.{key} changed (an item was replaced, added or removed)",
                        f"{{3}}({read})", (attrs, None, _MISSING, _SameItems(value)))
        elif id(value) in arrays:
            yield from _array_guards(f"{var}.{key}", f"{{0}}.get({key!r})", (attrs, value))
        elif not module and level < MAX_LEVELS and _followed(value):
            yield Guard(f"{var}.{key} now holds a different object", f"{read} is {{1}}",
                        (attrs, value, _MISSING))
            yield from _attribute_bindings(f"{var}.{key}", value, read_names, level + 1,
                                           arrays)


def _class_names(cls) -> frozenset[str]:
    """The names the methods of a user class (and its user bases) use."""
    codes = [v.__code__ for klass in cls.__mro__
             if klass.__module__.split(".")[0] not in _LIBRARIES
             for v in vars(klass).values() if inspect.isfunction(v)]
    return _names_of(codes)


def _names_of(codes) -> frozenset[str]:
    names: set[str] = set()
    codes = list(codes)
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes += [c for c in code.co_consts if inspect.iscode(c)]
    return frozenset(names)


def code_names(fn, modules=()) -> frozenset[str]:
    """The names the code of fn, the functions its globals and closures hold, and the
    methods of the traced modules' classes use (attribute names among them)."""
    codes = []
    for f in [fn, *(_get_value(c, k) for _, c, k in roots(fn))]:
        while isinstance(f, functools.partial):
            f = f.func
        target = inspect.unwrap(f) if callable(f) else f
        code = getattr(getattr(target, "__func__", target), "__code__", None)
        if code is not None:
            codes.append(code)
    names = _names_of(codes)
    for cls in {type(m) for m in modules}:
        names |= _class_names(cls)
    return names


def _get_value(container, key):
    try:
        return container.cell_contents if key is None else container[key]
    except (ValueError, KeyError):
        return None


def _is_state_holder(value) -> bool:
    return isinstance(value, Tensor) or is_state_holder(value)

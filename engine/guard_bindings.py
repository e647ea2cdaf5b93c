"""What a step reaches from Python, guarded: its globals and closure variables (and the
functions it calls), the objects they hold a few attributes deep (config objects and
modules, trainers, callable objects, classes), what a `functools.partial` binds, and the
globals and class attributes of the traced modules' own methods. Attributes are followed
by the names the code uses (`code_names`), so a counter the step never reads is no guard.
"""

from __future__ import annotations

import functools
import inspect
import types

from .guard_values import (
    MISSING,
    Guard,
    SameItems,
    array_guards,
    equal_expr,
    holds_state,
    is_plain_container,
    is_plain_value,
    is_state,
    short,
    snapshot,
)
from .side_effects import LIBRARIES, roots, user_module


def user_classes(modules) -> list[type]:
    """The traced modules' own classes and user bases: the globals their methods read
    (`self.fc(x) * SCALE` in forward) and the class attributes they read are guarded as
    the step's globals are."""
    return list(dict.fromkeys(klass for cls in {type(m) for m in modules}
                              for klass in cls.__mro__
                              if klass.__module__.split(".")[0] not in LIBRARIES))


def binding_guards(fn, names, read_names=frozenset(), arrays=None,  # noqa: PLR0913
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
    if owner is None and followed(fn) and callable(fn) and not isinstance(fn, type):
        owner, methods = fn, [*methods, type(fn).__call__]  # a compiled callable object
    if owner is not None:
        yield from attribute_bindings("self", owner, read_names, 1, arrays)
    bound = []
    while isinstance(fn, functools.partial):  # the objects a partial binds, followed alike
        bound += [*fn.args, *fn.keywords.values()]
        fn = fn.func
    for k, value in enumerate(bound):
        if followed(value) and not isinstance(value, types.ModuleType):
            yield from attribute_bindings(f"partial argument {k}", value, read_names, 1,
                                           arrays)
    for cls in classes:  # class attributes the modules' code reads (`self.scale`)
        yield from attribute_bindings(cls.__name__, cls, read_names, MAX_LEVELS, arrays)
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
        if is_state(value):
            yield Guard(f"the {kind} {var!r} now holds a different object",
                        f"{read} is {{1}}", (container, value))
            if isinstance(getattr(value, "param_groups", None), list):  # `opt.loss_scale`
                yield from attribute_bindings(var, value, read_names - _OPTIMIZER_OWN, 1,
                                               arrays, force=True)
        elif is_plain_value(value) or is_plain_container(value):
            yield Guard(f"the {kind} {var!r} changed (traced with {short(value)})",
                        equal_expr(read, value), (container, snapshot(value)))
        elif holds_state(value):
            yield Guard(f"the {kind} {var!r} changed (an item was replaced, added or "
                        "removed)", f"{{2}}({read})", (container, None, SameItems(value)))
        elif id(value) in arrays:
            yield from array_guards(f"the {kind} {var!r}", read, (container, value))
        elif followed(value):
            if not isinstance(value, types.ModuleType):
                yield Guard(f"the {kind} {var!r} now holds a different object",
                            f"{read} is {{1}}", (container, value))
            yield from attribute_bindings(var, value, read_names, 1, arrays)


MAX_LEVELS = 3  # attributes of attributes ... of a global guarded this deep


def followed(obj) -> bool:
    """An object whose attributes a guard follows: the user's own module, class or plain
    object (a callable one too), or a plain object of graphgrad's (a scheduler); never a
    function, a module, optimizer or tensor (guarded on their own), or a library's."""
    if isinstance(obj, types.ModuleType):  # the user's own (a config module), no library
        return user_module(obj)
    if isinstance(obj, type):  # a config class (`Cfg.scale`): the user's own
        return obj.__module__.split(".")[0] not in LIBRARIES
    attrs = getattr(obj, "__dict__", None)
    library = type(obj).__module__.split(".")[0]
    return isinstance(attrs, dict) and not is_state(obj) \
        and not isinstance(obj, (types.FunctionType, types.MethodType)) \
        and (library not in LIBRARIES or library == "graphgrad" and not callable(obj))


_OPTIMIZER_OWN = frozenset({"param_groups", "state", "defaults"})  # guarded on their own


def attribute_bindings(var, obj, read_names, level, arrays,  # noqa: PLR0913
                        force: bool = False):
    """Guards on the attributes of a plain object (see binding_guards): modules,
    optimizers and tensors it holds by identity (all of them); Python values and other
    plain objects by the names the code reads."""
    attrs = obj.__dict__  # (a class's: a read-only live view of it)
    module = isinstance(obj, types.ModuleType)
    call = vars(type(obj)).get("__call__")  # a callable object: what its call reads
    if not module and not force and not isinstance(obj, type) and inspect.isfunction(call):
        read_names = read_names | _names_of([call.__code__])
    for key, value in list(attrs.items())[:64] if not module else ():
        if is_state(value):
            yield Guard(f"{var}.{key} now holds a different object",
                        f"{{0}}.get({key!r}) is {{1}}", (attrs, value))
    if not module and not isinstance(obj, type):  # read through the class: stays so
        for key in [k for k in read_names if k not in attrs
                    and is_plain_value(getattr(type(obj), k, MISSING))][:64]:
            yield Guard(f"{var}.{key} was the class's when traced (now set on the object, "
                        f"or the class's changed)", f"{{0}}.get({key!r}, {{2}}) is {{2}} and "
                        f"{equal_expr(f'{{3}}.{key}', getattr(type(obj), key))}",
                        (attrs, getattr(type(obj), key), MISSING, type(obj)))
    for key in [k for k in attrs if k in read_names][:64]:
        value = attrs[key]
        read = f"{{0}}.get({key!r}, {{2}})"
        if is_state(value):
            if module:
                yield Guard(f"{var}.{key} now holds a different object", f"{read} is {{1}}",
                            (attrs, value, MISSING))
        elif is_plain_value(value) or is_plain_container(value):
            yield Guard(f"{var}.{key} changed (traced with {short(value)})",
                        equal_expr(read, value), (attrs, snapshot(value), MISSING))
        elif holds_state(value):
            yield Guard(f"{var}.{key} changed (an item was replaced, added or removed)",
                        f"{{3}}({read})", (attrs, None, MISSING, SameItems(value)))
        elif id(value) in arrays:
            yield from array_guards(f"{var}.{key}", f"{{0}}.get({key!r})", (attrs, value))
        elif not module and level < MAX_LEVELS and followed(value):
            yield Guard(f"{var}.{key} now holds a different object", f"{read} is {{1}}",
                        (attrs, value, MISSING))
            yield from attribute_bindings(f"{var}.{key}", value, read_names, level + 1,
                                           arrays)


def class_names(cls) -> frozenset[str]:
    """The names the methods of a user class (and its user bases) use."""
    codes = [v.__code__ for klass in cls.__mro__
             if klass.__module__.split(".")[0] not in LIBRARIES
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
        names |= class_names(cls)
    return names


def _get_value(container, key):
    try:
        return container.cell_contents if key is None else container[key]
    except (ValueError, KeyError):
        return None

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

import itertools
import linecache
from dataclasses import dataclass

from .naming import is_state_holder
from .side_effects import roots
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
        namespace: dict = {}
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
    """Values compared by equality in a guard (numbers, strings, None, tuples of them);
    anything else is compared by identity."""
    if value is None or type(value) in (bool, int, float, str, complex):
        return True
    return type(value) is tuple and all(is_plain_value(v) for v in value)


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
    guards += _binding_guards(fn, tracer.names)
    return guards


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


def _binding_guards(fn, names):
    """Globals and closure variables the function (or a helper it calls) reads: those
    holding modules, optimizers or tensors hold the same objects at every call (`model =
    Net()` again means a new trace), as do the attributes of plain objects they hold
    (a trainer's `self.model`); those holding Python values (numbers, strings, small
    lists and dicts of them: `if config["clip"]:`) hold equal values, since the trace
    ran Python code on them once."""
    owner = getattr(fn, "__self__", None)
    if owner is not None:
        yield from _attribute_bindings("self", owner)
    for var, container, key in roots(fn):
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
        elif is_plain_value(value) or _is_plain_container(value):
            yield Guard(f"the {kind} {var!r} changed (traced with {_short(value)})",
                        f"{read} == {{1}}", (container, _copy(value)))
        else:
            yield from _attribute_bindings(var, value)


def _is_plain_container(value) -> bool:
    if type(value) in (list, tuple) and len(value) <= 32:
        return all(is_plain_value(v) for v in value)
    if type(value) is dict and len(value) <= 32:
        return all(is_plain_value(k) and is_plain_value(v) for k, v in value.items())
    return False


def _copy(value):
    return dict(value) if type(value) is dict else list(value) if type(value) is list \
        else value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _attribute_bindings(var, obj):
    attrs = getattr(obj, "__dict__", None)
    if not isinstance(attrs, dict) or isinstance(obj, type) or _is_state_holder(obj) \
            or callable(obj):
        return
    for key, value in list(attrs.items())[:64]:
        if _is_state_holder(value):
            yield Guard(f"{var}.{key} now holds a different object",
                        f"{{0}}.get({key!r}) is {{1}}", (attrs, value))


def _is_state_holder(value) -> bool:
    return isinstance(value, Tensor) or is_state_holder(value)

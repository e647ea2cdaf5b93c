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

This file collects a trace's guards and builds that check; engine/guard_values.py says
how one value is compared, engine/guard_bindings.py finds what the step reaches from
Python (globals, closures, the objects they hold).
"""

from __future__ import annotations

import itertools
import linecache
import types

from .autodiff import GRAD_HOOKS
from .guard_bindings import attribute_bindings, binding_guards, code_names, followed, user_classes
from .guard_values import (  # noqa: F401  (is_plain_value: for engine/optim/guards.py)
    MISSING,
    Guard,
    array_guards,
    equal_expr,
    is_plain_container,
    is_plain_value,
    short,
    snapshot,
)

_counter = itertools.count()


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
    guards += binding_guards(fn, tracer.names, read_names, arrays,
                              user_classes(tracer.modules.values()))
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
            yield from array_guards(where, f"{{0}}.get({attr!r})", (obj.__dict__, value))
        elif followed(value) and not isinstance(value, types.ModuleType):
            yield from attribute_bindings(where, value, read_names, 1, arrays)


#                     up to this size; a larger one is guarded by identity, with a warning






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
                        f"{{0}}.get({attr!r}, {{2}}) {op} {{1}}", (table, value, MISSING))
        elif is_plain_container(value):  # a list changed in place is still the same list
            yield Guard(f"{where} changed (traced with {short(value)})",
                        f"{{0}}.get({attr!r}, {{2}}) == {{1}}", (table, snapshot(value), MISSING))
        else:
            yield Guard(f"{where} is a different object than when traced",
                        f"{{0}}.get({attr!r}) is {{1}}", (table, value))
            if attr in ("_parameters", "_buffers", "_modules"):
                yield Guard(f"{where} changed (a submodule, parameter or buffer was added, "
                            "removed or replaced)", "list(map(id, {0}.values())) == {1} "
                            "and list({0}) == {2}", (value, [id(v) for v in value.values()],
                                                     list(value)))




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
        if is_plain_value(value) or is_plain_container(value):
            yield Guard(f"param group value {key!r} changed (the step read it: traced with "
                        f"{short(value)})", equal_expr(f"{{0}}.get({key!r})", value),
                        (group, snapshot(value)))


def _hook_guards(tracer):
    """The gradient hooks of the state tensors are those the trace ran (a hook registered
    on a parameter after the trace, or removed, retraces): one check for all of them."""
    ids = frozenset(id(ref.tensor) for ref in tracer.graph.state_refs.values()
                    if ref.kind == "tensor" and ref.tensor._requires_grad)
    if not ids:
        return
    describe = "a gradient hook was registered on, or removed from, a state tensor"
    if GRAD_HOOKS.keys().isdisjoint(ids):  # the common case: no hook anywhere, or
        # none on these tensors (one C call per step)
        yield Guard(describe, "(not {1} or {1}.keys().isdisjoint({0}))", (ids, GRAD_HOOKS))
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






















    # (graphgrad's own plain objects too: a scheduler's last_epoch read in the step)

















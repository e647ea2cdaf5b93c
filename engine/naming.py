"""Finding the modules and tensors a function can reach, to name graph state after them.

A traced step usually refers to its model through a closure or a global (`model`,
`loss_fn`, `opt`), sometimes through a helper function it calls. We look at the
function's free variables and globals, and into the functions found there (a few levels
deep), so parameters print as `0.weight` rather than `state_3`.
"""

from __future__ import annotations

import inspect

from .tensor import Tensor

MAX_DEPTH = 3


def is_namable(obj) -> bool:
    """Whether obj is module-like: its *class* defines `named_parameters` (an instance
    whose `__getattr__` answers every name, a mock or proxy, is not)."""
    return callable(getattr(type(obj), "named_parameters", None))


def is_state_holder(obj) -> bool:
    """Whether obj is a module or an optimizer (duck-typed, a third party's as well)."""
    return is_namable(obj) or isinstance(getattr(obj, "param_groups", None), list)


def _referenced(fn) -> list[tuple[str, object]]:
    """(name, object) for fn's free variables, the globals it uses and its `self`."""
    target = inspect.unwrap(fn)
    code = getattr(target, "__code__", None)
    if code is None:
        return []
    refs = []
    closure = getattr(target, "__closure__", None) or ()
    for name, cell in zip(code.co_freevars, closure):
        try:
            refs.append((name, cell.cell_contents))
        except ValueError:  # a free variable not bound yet
            continue
    globs = getattr(target, "__globals__", {})
    refs += [(name, globs[name]) for name in code.co_names if name in globs]
    self_obj = getattr(fn, "__self__", None)
    if self_obj is not None:
        refs.append(("self", self_obj))
    return refs


def reachable_named_objects(fn):
    """(object, prefix) for modules fn can reach (fn itself, if a module), and
    (tensor, variable name) for tensors it refers to directly."""
    if is_namable(fn):
        return [(fn, "")]
    tensors, modules, seen = [], [], {id(fn)}
    frontier = [fn]
    for _ in range(MAX_DEPTH):
        next_frontier = []
        for f in frontier:
            for name, obj in _referenced(f):
                if id(obj) in seen:
                    continue
                seen.add(id(obj))
                if isinstance(obj, Tensor):
                    tensors.append((obj, name))
                elif is_namable(obj):
                    modules.append((name, obj))
                elif inspect.isfunction(obj) or inspect.ismethod(obj):
                    next_frontier.append(obj)
        frontier = next_frontier
    single = len(modules) == 1
    return tensors + [(obj, "" if single else f"{name}.") for name, obj in modules]

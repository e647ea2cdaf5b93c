"""The compiled call's fast path: one generated check that the last plan may run as is.

Most calls of a compiled step repeat the previous call: the same number of tensor
arguments, each with the shape, dtype and requires_grad it had, on a backend whose
arrays the plan takes, with grad mode and every guard as before. The general path
(engine/arguments.py) builds the call's signature, hashes it, looks its plans up and
then evaluates their guards: a few microseconds per call, as much as a whole
temperature-fit step spends in its kernels. Here the last plan used gets one generated
function (the way torch.compile's dynamo generates guard code) that compares the
arguments with the plan's signature and evaluates the plan's guards in a single
expression, and returns
the arguments' arrays, or None when anything differs; the caller then takes the
general path, which finds the right plan or traces one and says why. Nothing is
checked less: the expression holds every argument check of the signature and every
guard of the plan.
"""

from __future__ import annotations

import itertools

from . import grad_mode
from .backends import registry as _backend_registry
from .tensor import Tensor

_counter = itertools.count()
MISS = object()  # what `fast` returns when the call is not the plan's (the general path)


def positional_tensors(signature) -> int | None:
    """How many arguments a signature of positional tensors, modules and optimizers has
    (the calls the fast path serves), or None for any other signature."""
    _, tree, kw, specs = signature
    if kw or len(specs) != len(tree) or any(
            (t, s[0]) not in (("T", "tensor"), ("S", "object")) for t, s in zip(tree, specs)):
        return None
    return len(tree)


def build_hit(entry, backend, default_backend: str | None):
    """`hit(args) -> tuple of arrays | None` for `entry` (see the module docstring).
    `default_backend` is the registry's default name the plan was chosen under, for a
    function compiled without a named backend (None: it names its backend)."""
    signature = entry.signature
    n = positional_tensors(signature)
    if n is None:
        return None
    guards = entry.guards
    ns = dict(guards.namespace)
    # the backends whose tensors the plan reads as they are (a backend loaded later:
    # its tensors take the general path)
    taken = frozenset(b for b in (backend, *_backend_registry._instances.values())
                      if backend.takes_arrays_of(b))
    ns.update(_Tensor=Tensor, _TAKEN=taken, _grad_mode=grad_mode,
              _registry=_backend_registry)
    terms = [f"len(args) == {n}", f"_grad_mode._enabled == {signature[0]!r}"]
    if default_backend is not None:
        ns["_default"] = default_backend
        terms.append("_registry._default_name == _default")
    unpack = ""
    if n:
        names = [f"a{i}" for i in range(n)]
        unpack = f"            {', '.join(names)}, = args\n"
    tensors = []
    for i, spec in enumerate(signature[3]):
        if spec[0] == "object":  # a module, optimizer or state tensor: by identity
            ns[f"_O{i}"] = spec[2].obj
            terms.append(f"a{i} is _O{i}")
            continue
        tensors.append(i)
        _, shape, dtype, requires_grad = spec
        ns[f"_S{i}"], ns[f"_D{i}"], ns[f"_R{i}"] = shape, dtype, requires_grad
        # (NumPy's dtypes of the builtin types are one object each: `is` first)
        terms.append(f"type(a{i}) is _Tensor and a{i}._backend in _TAKEN and a{i}._value is not "
                     f"None and a{i}.shape == _S{i} and (a{i}.dtype is _D{i} or "
                     f"a{i}.dtype == _D{i}) and a{i}._requires_grad == _R{i}")
    for k, (_, holds) in enumerate(guards.extra):
        ns[f"_extra{k}"] = holds
    checks = " and ".join(f"({t})" for t in terms[2:]) or "True"
    guard_terms = [f"({e})" for e in guards.expressions]
    guard_terms += [f"_extra{k}()" for k in range(len(guards.extra))]
    values = ", ".join(f"a{i}._value" for i in tensors)
    # a guard that cannot even run (an attribute the plan relied on was deleted) has
    # failed: the general path evaluates it again and says which it was
    source = (
        "def hit(args):\n"
        "    try:\n"
        f"        if {terms[0]} and {terms[1]}:\n"
        f"{unpack}"
        f"            if {checks} and {' and '.join(guard_terms) or 'True'}:\n"
        f"                return ({values}{',' if len(tensors) == 1 else ''})\n"
        "    except Exception:\n"
        "        pass\n"
        "    return None\n")
    if entry.lone:  # the check, the plan's run and the result's wrapping in one call
        ns.update(_plan=entry.plan, _wrap=Tensor._wrap, MISS=MISS)
        names = ", ".join(f"v{i}" for i in tensors)
        lines = ["", "", "def fast(args):", "    try:",
                 f"        if not ({terms[0]} and {terms[1]}):", "            return MISS"]
        lines += [f"        {', '.join(f'a{i}' for i in range(n))}, = args"] if n else []
        lines += [f"        if not ({checks} and {' and '.join(guard_terms) or 'True'}):",
                  "            return MISS"]
        lines += [f"        {names} = {values}"] if tensors else []
        lines += ["    except Exception:", "        return MISS",
                  "    plan = _plan  # (its run may be swapped: a backend declining at first call)",
                  f"    return _wrap(plan.run({names})[0], plan.backend)", ""]
        source += "\n".join(lines)
    exec(compile(source, f"<graphgrad fast call #{next(_counter)}>", "exec"), ns)  # noqa: S102  (our own generated text)
    hit = ns["hit"]
    hit.source = source
    # the caller's tensors by input position (write-backs, input grads), when some
    # arguments are objects
    hit.tensors = None if len(tensors) == n else tuple(tensors)
    hit.fast = ns.get("fast")
    return hit


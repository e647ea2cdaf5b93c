"""The arguments of a compiled call: flattened into tensors and Python values, as eager.

A compiled function takes what the same function takes eagerly: tensors (or NumPy
arrays), Python numbers, strings and None, and (nested) lists, tuples and dicts of them,
positionally or by keyword; and modules and optimizers (`step(model, opt, x, y)`).
`flatten_call` turns one call into its *signature* (the structure, each tensor's
shape/dtype/requires_grad, each Python value itself: a new signature traces again) and
the list of tensor leaves, which become the plan's inputs. Python values are constants
of the plan, so a different value is a different signature (as torch.compile
specializes on them). A module or optimizer is in the signature by identity, as one
reached through a closure is by its guards: the same objects reuse the plan, others
trace their own. So is a tensor argument that the trace found to be the function's
state as well (`step(params, x)` with `params` updated by the optimizer inside): it is
that state, read and updated in place, as eagerly. Anything else gets a SignatureError
naming the argument.
"""

from __future__ import annotations

import numpy as np

from . import dtypes, grad_mode
from .errors import SignatureError, TracingError
from .naming import is_state_holder
from .source import user_source
from .tensor import Tensor

_PLAIN = (int, float, bool, str, complex, type(None))


_FLAT_TREES: dict[int, tuple] = {}  # n -> ("T",) * n: the tree of n tensor arguments


def flat_tree(n: int) -> tuple:
    """The signature's tree for n positional tensor arguments (shared, so equal ones hash
    and compare fast)."""
    tree = _FLAT_TREES.get(n)
    if tree is None:
        tree = _FLAT_TREES[n] = ("T",) * n
    return tree


def flatten_call(args, kwargs, names, backend, state=None):
    """(signature, arrays, objects) for a call: see the module docstring. `arrays` are
    the tensor leaves' arrays on `backend` (the plan's inputs), `objects` the caller's
    tensors (or NumPy arrays) they came from, written back to after in-place changes.
    `state`: {id: weakref} of tensors that are the function's state (a parameter its
    optimizer updates): such an argument is in the signature by identity, as a module
    is, and the trace uses the tensor itself."""
    if not kwargs:  # the common call: tensors on (or shared by) the plan's backend
        specs, arrays = [], []
        for a in args:
            if type(a) is not Tensor or a._value is None or (
                    a._backend is not backend and not backend.takes_arrays_of(a._backend)) \
                    or (state and id(a) in state):
                break
            specs.append(("tensor", a.shape, a.dtype, a._requires_grad))
            arrays.append(a._value)
        else:
            tree = _FLAT_TREES.get(len(args)) or flat_tree(len(args))
            return (grad_mode._enabled, tree, (), tuple(specs)), arrays, args
    specs, leaves = [], []
    state = state or {}
    tree = tuple(_walk(a, names[i] if i < len(names) else f"arg{i}", specs, leaves, backend,
                       state) for i, a in enumerate(args))
    kw = tuple((k, _walk(v, k, specs, leaves, backend, state)) for k, v in kwargs.items())
    return ((grad_mode._enabled, tree, kw, tuple(specs)), [a for _, a in leaves],
            [o for o, _ in leaves])


def _walk(a, path, specs, leaves, backend, state):  # noqa: PLR0913
    if isinstance(a, Tensor):
        if a._value is None:
            raise TracingError(f"a compiled function was called with a symbolic tensor as "
                               f"argument {path!r}", source=user_source())
        ref = state.get(id(a))
        if ref is not None and ref() is a:
            specs.append(("object", type(a), Identity(a)))
            return "S"
        array = a._value if a._backend is backend or backend.takes_arrays_of(a._backend) \
            else backend.from_numpy(a._backend.to_numpy(a._value))
        specs.append(("tensor", a.shape, a.dtype, a._requires_grad))
        leaves.append((a, array))
        return "T"
    if isinstance(a, np.ndarray):
        arr = np.asarray(a, dtypes.from_numpy_dtype(a.dtype))
        specs.append(("tensor", arr.shape, arr.dtype, False))
        leaves.append((a, backend.from_numpy(arr)))
        return "T"
    if isinstance(a, _PLAIN):
        specs.append(("static", type(a), a))
        return "S"
    if is_state_holder(a):
        specs.append(("object", type(a), Identity(a)))
        return "S"
    if isinstance(a, (list, tuple)) and type(a) in (list, tuple) or _is_namedtuple(a):
        return (type(a), tuple(_walk(v, f"{path}[{i}]", specs, leaves, backend, state)
                               for i, v in enumerate(a)))
    if type(a) is dict:
        return (dict, tuple((k, _walk(v, f"{path}[{k!r}]", specs, leaves, backend, state))
                            for k, v in a.items()))
    kind = type(a).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    raise SignatureError(
        f"argument {path!r} of a compiled function is {article} {kind}; a compiled "
        "function takes tensors, NumPy arrays, Python numbers, strings, None, modules, "
        "optimizers and (nested) lists, tuples and dicts of them. Reach other objects "
        "through a global or a closure instead.", source=user_source())


class Identity:
    """An object in a signature, equal only to itself (a module's own __eq__, if any,
    is not consulted): holding it keeps its id from being reused while a plan is."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __eq__(self, other) -> bool:
        return type(other) is Identity and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __repr__(self) -> str:
        return f"the {type(self.obj).__name__} at {id(self.obj):#x}"


def objects(signature, leaf_paths) -> list[tuple[str, object]]:
    """(path, object) of each module, optimizer or state tensor argument of a signature,
    given the paths of its leaves (`paths`)."""
    return [(path, spec[2].obj) for path, spec in zip(leaf_paths, signature[3])
            if spec[0] == "object"]


def _is_namedtuple(a) -> bool:
    return isinstance(a, tuple) and hasattr(type(a), "_fields")


def rebuild_call(signature, args, kwargs, tensors):
    """The call's (args, kwargs) with the tensor leaves replaced by `tensors` (in order)."""
    it = iter(tensors)
    _, tree, kw, _ = signature
    new_args = [_build(t, a, it) for t, a in zip(tree, args)]
    new_kwargs = {k: _build(t, kwargs[k], it) for k, t in kw}
    return new_args, new_kwargs


def _build(tree, value, it):
    if tree == "T":
        return next(it)
    if tree == "S":
        return value
    kind, items = tree
    if kind is dict:
        return {k: _build(t, value[k], it) for k, t in items}
    built = [_build(t, v, it) for t, v in zip(items, value)]
    return kind(*built) if hasattr(kind, "_fields") else kind(built)


def paths(signature, names) -> list[str]:
    """The path of every leaf (tensor or Python value) in the signature, in order."""
    out: list[str] = []
    _, tree, kw, _ = signature
    for i, t in enumerate(tree):
        _walk_paths(t, names[i] if i < len(names) else f"arg{i}", out)
    for k, t in kw:
        _walk_paths(t, k, out)
    return out


def _walk_paths(t, path: str, out: list) -> None:
    # a module function: a nested closure calling itself would be a reference cycle
    if t in ("T", "S"):
        out.append(path)
        return
    kind, items = t
    if kind is dict:
        for k, sub in items:
            _walk_paths(sub, f"{path}[{k!r}]", out)
    else:
        for i, sub in enumerate(items):
            _walk_paths(sub, f"{path}[{i}]", out)


def describe_change(old, new, names) -> tuple[str, str | None]:
    """(why a new signature was traced, the argument that changed or None)."""
    if old is None:
        return "first call", None
    if old[0] != new[0]:
        return f"grad mode changed ({old[0]} -> {new[0]})", None
    before = dict(zip(paths(old, names), old[3]))
    after = dict(zip(paths(new, names), new[3]))
    structure = "the structure of the arguments changed (number, nesting or keywords)"
    if before.keys() != after.keys():
        return structure, None
    for path, b in after.items():  # (a tensor argument that is state: by identity)
        if before[path] != b:
            return f"argument {path!r} changed: {_spec(before[path])} -> {_spec(b)}", path
    return (structure if old[1:3] != new[1:3] else "signature changed"), None


def _spec(s) -> str:
    if s[0] == "tensor":
        return f"{dtypes.short(s[2])}{list(s[1])}{' requires_grad' if s[3] else ''}"
    return repr(s[2])  # a value, or an object's Identity

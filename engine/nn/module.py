"""`Module`: the base class of layers and models, with PyTorch's registration rules.

Assigning a `Parameter` or a `Module` as an attribute registers it (buffers go through
`register_buffer`); `named_parameters()`, `state_dict()` and `repr()` walk the children in
assignment order and use dotted names (`0.weight`), exactly like `torch.nn.Module`, so
graphs and checkpoints read the same. While `gg.compile` traces a call, the call opens a
scope named after the module, which the IR and the diagrams use to group nodes.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict, namedtuple
from collections.abc import Iterator, Mapping

from .. import dtypes, grad_mode
from ..creation import tensor
from ..device import device as Device
from ..device import names_a_device
from ..errors import ArgumentError, ArgumentTypeError, SerializationError
from ..ir import tracing
from ..source import user_source
from ..tensor import Tensor
from .parameter import Parameter


def _traced_getattribute(self, name: str):
    """Module attribute reads while tracing (installed only then): a compiled plan
    assumes the values it saw (guards in engine/guards.py)."""
    value = object.__getattribute__(self, name)
    tracer = tracing.current
    if tracer is not None and name[:2] != "__":
        d = object.__getattribute__(self, "__dict__")
        if name in d:
            tracer.note_attr(self, name, value)
    return value


@contextlib.contextmanager
def _record_attribute_reads(tracer):
    Module.__getattribute__ = _traced_getattribute
    try:
        yield
    finally:
        del Module.__getattribute__


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer: subclass it, assign parameters/submodules, write forward."""

    training: bool

    def __new__(cls, *args, **kwargs):
        # `sigma = nn.ReLU; sigma(x)`: the class called on a tensor would build a module
        # with the tensor as a setting and fail later with a confusing message.
        if any(isinstance(a, Tensor) for a in args):
            name = cls.__name__
            raise ArgumentTypeError(f"nn.{name} is a class, and it was called on a tensor: "
                                    f"make the module first, then call it (`layer = "
                                    f"nn.{name}(...)`, then `layer(x)`)", source=user_source())
        return super().__new__(cls)

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  '"forward" function')

    def __call__(self, *args, **kwargs):
        tracer = tracing.current
        if tracer is None:
            return self.forward(*args, **kwargs)
        tracer.note_module(self)
        with tracer.in_scope(tracer.names.get(id(self)) or type(self).__name__):
            return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ registration
    def _registry(self, kind: str) -> OrderedDict:
        reg = self.__dict__.get(kind)
        if reg is None:
            raise AttributeError(f"cannot assign {kind[1:-1]}s before {type(self).__name__}"
                                 ".__init__() called super().__init__()")
        return reg

    def _check_name(self, name, kind: str, registry: str) -> None:
        """torch's checks on a registered name: a non-empty string without '.', not an
        attribute of another kind already."""
        if not isinstance(name, str):
            raise ArgumentTypeError(f"{kind} name should be a string, got "
                                    f"{type(name).__name__}", source=user_source())
        if not name or "." in name:
            raise ArgumentError(f"{kind} name can't be empty or contain \".\", got {name!r}",
                                source=user_source())
        if name in self.__dict__ and name not in getattr(self, registry, {}):
            raise ArgumentError(f"attribute '{name}' already exists", source=user_source())

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        self._check_name(name, "parameter", "_parameters")
        params = self._registry("_parameters")
        if param is not None and not isinstance(param, Parameter):
            raise ArgumentTypeError(f"cannot assign '{type(param).__name__}' object to "
                                    f"parameter '{name}' (gg.nn.Parameter or None required)",
                                    source=user_source())
        self._forget(name, keep="_parameters")
        params[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        self._check_name(name, "buffer", "_buffers")
        buffers = self._registry("_buffers")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise ArgumentTypeError(f"cannot assign '{type(tensor).__name__}' object to "
                                    f"buffer '{name}' (gg.Tensor or None required)",
                                    source=user_source())
        self._forget(name, keep="_buffers")
        buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        modules = self._registry("_modules")
        if isinstance(module, type) and issubclass(module, Module):
            raise ArgumentTypeError(f"{name!r}: nn.{module.__name__} is a class; pass a "
                                    f"module instance, nn.{module.__name__}()",
                                    source=user_source())
        if module is not None and not isinstance(module, Module):
            raise ArgumentTypeError(f"{type(module).__name__} is not a Module subclass",
                                    source=user_source())
        self._forget(name, keep="_modules")
        modules[name] = module

    register_module = add_module

    def _forget(self, name: str, keep: str | None = None) -> None:
        # Re-registering under the same kind keeps the entry where it is (a dict
        # assignment), so `seq[0] = ...` and `m.weight = Parameter(...)` keep PyTorch's
        # order in children, parameters and state_dict().
        self.__dict__.pop(name, None)
        for kind in ("_parameters", "_buffers", "_modules"):
            if kind != keep:
                self.__dict__[kind].pop(name, None)
        self._non_persistent.discard(name)

    def __setattr__(self, name: str, value) -> None:
        d = self.__dict__
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif name in d.get("_parameters", ()):
            self.register_parameter(name, value)  # None is allowed, a plain tensor is not
        elif isinstance(value, Module):
            self.add_module(name, value)
        elif name in d.get("_modules", ()):
            self.add_module(name, value)
        elif name in d.get("_buffers", ()):
            self.register_buffer(name, value, persistent=name not in d["_non_persistent"])
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        d = self.__dict__
        for kind in ("_parameters", "_buffers", "_modules"):
            reg = d.get(kind)
            if reg is not None and name in reg:
                if tracing.current is not None:  # a compiled plan assumes this object
                    tracing.current.note_attr(self, name, reg[name], kind)
                return reg[name]
        if tracing.current is not None:  # `getattr(self, "shift", None)`: guarded absent
            tracing.current.note_attr(self, name, None, "missing")
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        if any(name in d.get(k, ()) for k in ("_parameters", "_buffers", "_modules")):
            self._forget(name)
        else:
            object.__delattr__(self, name)

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """(dotted name, module) for this module and every descendant, depth first."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                sub = f"{prefix}.{name}" if prefix else name
                yield from child.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, kind: str, prefix: str, recurse: bool):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, t in mod.__dict__[kind].items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Parameter) pairs, each parameter once (shared ones are not repeated)."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        mod = self
        for part in target.split(".") if target else []:
            child = mod._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(mod).__name__} has no submodule `{part}` "
                                     f"(looking up `{target}`)")
            mod = child
        return mod

    def apply(self, fn) -> Module:
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> Module:
        """Set training mode here and, through each child's own `train` (which a
        subclass may override: a frozen BatchNorm), below."""
        if not isinstance(mode, bool):
            raise ArgumentError(f"training mode is expected to be boolean, got {mode!r}",
                                source=user_source())
        object.__setattr__(self, "training", mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the accumulated gradients (set them to None, or to zeros in place)."""
        for p in self.parameters():
            zero_grad_of(p, set_to_none)

    # ------------------------------------------------------------------ state dicts
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """Parameters and persistent buffers by dotted name (detached unless keep_vars)."""
        out = OrderedDict() if destination is None else destination
        for base, mod in _state_walk(self, prefix):  # (the prefix as given, as torch)
            for name, p in mod._parameters.items():
                if p is not None:
                    out[base + name] = p if keep_vars else p.detach()
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    out[base + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy `state_dict`'s values into this module's tensors in place.

        The Parameter objects stay the same (optimizers and compiled steps keep working).
        Shape mismatches are always an error; missing and unexpected keys are an error
        when `strict`, and are returned either way.
        """
        if not isinstance(state_dict, Mapping):
            raise SerializationError(
                f"load_state_dict for {type(self).__name__} expects a dict of tensors (from "
                f"state_dict() or gg.load), got {type(state_dict).__name__}",
                op="load_state_dict", source=user_source())
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        for key, target in own.items():
            if key in state_dict:
                if not hasattr(state_dict[key], "shape"):
                    errors.append(f"expected a tensor for {key} in the checkpoint, got "
                                  f"{type(state_dict[key]).__name__}.")
                    continue
                shape = tuple(state_dict[key].shape)
                if shape != target.shape:
                    errors.append(f"size mismatch for {key}: copying a param with shape "
                                  f"{shape} from checkpoint, the shape in current model is "
                                  f"{target.shape}.")
        if strict and unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: " + _quoted(unexpected) + ".")
        if strict and missing:
            errors.insert(0, "Missing key(s) in state_dict: " + _quoted(missing) + ".")
        if errors:
            raise SerializationError(f"Error(s) in loading state_dict for "
                                     f"{type(self).__name__}:\n\t" + "\n\t".join(errors),
                                     op="load_state_dict", source=user_source())
        with grad_mode.no_grad():
            for key, target in own.items():
                if key in state_dict:
                    target.copy_(_on_backend_of(state_dict[key], target))
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ moving and casting
    def to(self, target=None, *, dtype=None, device=None) -> Module:
        """Move to a backend (`"cupy"`) and/or cast floating tensors (`gg.float64`) in place.

        Parameter and buffer objects are kept (only their data changes), so an optimizer
        made before or after the move keeps working.
        """
        if target is not None:
            if names_a_device(target):
                device = target
            else:
                dtype = target
        for t in list(self.parameters()) + list(self.buffers()):
            _convert_in_place(t, device, dtype)
        return self

    def float(self) -> Module:
        return self.to(dtypes.float32)

    def double(self) -> Module:
        return self.to(dtypes.float64)

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, device=None) -> Module:
        """Parameters and buffers onto the CuPy backend (`"cuda"`), in place."""
        return self.to("cuda" if device is None else Device("cuda", device)
                       if isinstance(device, int) else Device(device))

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _indent(repr(m), 2) for key, m in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"


def _state_walk(module, prefix: str):
    """(prefix, module) for the module and every submodule under each name it is held by
    (torch's state_dict recursion: a submodule registered twice appears twice)."""
    yield prefix, module
    for name, child in module._modules.items():
        if child is not None:
            yield from _state_walk(child, f"{prefix}{name}.")


def zero_grad_of(p: Tensor, set_to_none: bool) -> None:
    """Clear one tensor's gradient (shared by Module.zero_grad and Optimizer.zero_grad)."""
    if set_to_none:
        p.grad = None
        return
    g = p.grad
    if g is not None:
        with grad_mode.no_grad():
            if g._ctx is not None or g.requires_grad:
                g.detach_()
            g.zero_()


def _quoted(keys) -> str:
    return ", ".join(f'"{k}"' for k in keys)


def _indent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


def _on_backend_of(value, target: Tensor) -> Tensor:
    """`value` (a Tensor or array) as a Tensor on `target`'s backend."""
    if not isinstance(value, Tensor):
        return tensor(value, device=target._backend)
    if value._backend is not target._backend:
        return value.to(target._backend.name)
    return value


def _convert_in_place(t: Tensor, device, dtype) -> None:
    new = t.detach()
    if device is not None:
        new = new.to(device)
    if dtype is not None and dtypes.is_float(t.dtype):
        new = new.astype(dtype)
    if new._value is t._value and new.dtype == t.dtype:
        return
    t._value, t._backend, t.dtype, t.shape = new._value, new._backend, new.dtype, new.shape
    t._version += 1
    if t._grad is not None:
        g = t._grad.detach()
        g = g.to(device) if device is not None else g
        t._grad = g.astype(t.dtype)


tracing.trace_hooks.append(_record_attribute_reads)

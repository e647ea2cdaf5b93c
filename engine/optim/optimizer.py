"""`Optimizer`: parameter groups, per-parameter state, and a `step` that compiles.

A subclass gives `_init_state(p, group)` (the state tensors, made concrete and zeroed
the first time a parameter is stepped) and `_update(p, grad, state, group)` (PyTorch's
single-tensor update, written with in-place Tensor ops); `step` hands it the gradient
already negated for `maximize` and with L2 weight decay added (unless the subclass
decays weights itself: `decoupled_weight_decay`). Because state tensors are
created once and afterwards only updated in place, a step traced by `gg.compile` sees
them as state that it reads and writes; the learning rate is read through
`tracing.dynamic_scalar` so that schedulers keep working on a compiled step.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
from collections import defaultdict
from collections.abc import Callable, Mapping

from .. import grad_mode
from ..errors import ArgumentError, ArgumentTypeError, SerializationError, UnsupportedError
from ..ir import tracing
from ..nn.module import _on_backend_of, zero_grad_of
from ..source import user_source
from ..tensor import Tensor
from .guards import guard_optimizer, guard_param_state


def check_nonnegative(*named) -> None:
    """PyTorch's argument checks: each `(name, value)` pair must not be negative."""
    for name, value in named:
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, Tensor)):
            raise ArgumentTypeError(f"Invalid {name}: {value!r:.40} is a "
                                    f"{type(value).__name__}, not a number",
                                    source=user_source())
        if value < 0.0:
            raise ArgumentError(f"Invalid {name}: {value}", source=user_source())


def hyper(group: dict, key: str, like: Tensor, index=None, fn=None):
    """A hyperparameter that scales `like`-typed tensors (e.g. `momentum` in `buf *
    momentum`), read at every call of a compiled step (`tracing.dynamic_scalar`, typed
    like `like` so it needs no cast); eagerly the plain Python number."""
    return tracing.dynamic_scalar(group, key, index, fn, like.dtype)


class ParamGroup(dict):
    """A param group: a dict whose hyperparameters, read by the user's own code inside a
    compiled step (`if opt.param_groups[0]["lr"] < 0.01:`), are guarded: a later change
    retraces, as a value the trace branched on must (the optimizer's own reads are plan
    inputs and need none). The recording `__getitem__`/`get` are installed only while
    tracing (`_record_group_reads`), so a plan's per-call reads stay plain dict reads."""

    __slots__ = ()


def _traced_getitem(self, key):
    value = dict.__getitem__(self, key)
    tracer = tracing.current
    if tracer is not None and tracer.phase != "update" and key != "params":
        tracer.note_group_read(self, key, value)
    return value


def _traced_get(self, key, default=None):
    return self[key] if key in self else default


@contextlib.contextmanager
def _record_group_reads(tracer):
    ParamGroup.__getitem__, ParamGroup.get = _traced_getitem, _traced_get
    try:
        yield
    finally:
        del ParamGroup.__getitem__, ParamGroup.get


tracing.trace_hooks.append(_record_group_reads)


class Optimizer:
    """Base class: holds `param_groups` (dicts of params + hyperparameters) and `state`."""

    #: True where `_update` applies weight decay to the weights itself (AdamW).
    decoupled_weight_decay = False
    #: Hyperparameters `_update` reads with `tracing.dynamic_scalar` (or `hyper`): a
    #: compiled step reads them at every call. (Also those read only by `_init_state`, as
    #: Rprop's `lr`: state is made while tracing, so a later change reaches a compiled step
    #: exactly when it reaches eager code.) Any other hyperparameter is guarded (a change
    #: retraces).
    dynamic_hyperparameters: tuple = ("lr",)
    #: Dynamic hyperparameters the update's Python code branches on (`momentum != 0`):
    #: a change to or from zero retraces.
    branched_on_zero: tuple = ("momentum", "dampening", "weight_decay", "lr_decay")
    #: Attributes a traced step may change in Python (state is created on first use).
    traced_mutable_attributes = ("state",)

    def __init_subclass__(cls, **kwargs):
        """Every optimizer takes PyTorch's implementation flags (`foreach`, `fused`,
        `capturable`, `differentiable`): one code path serves all here, so the first two
        are accepted and make no difference; the other two would change what a step
        computes and are refused unless False."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def __init__(self, *args, foreach=None, fused=None, capturable=False,
                      differentiable=False, **kw):
            for name, on in (("capturable", capturable), ("differentiable", differentiable)):
                if on:
                    raise UnsupportedError(f"{cls.__name__}: {name}=True is not supported "
                                           "(leave it False)", source=user_source())
            init(self, *args, **kw)
        cls.__init__ = __init__

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        # (a parameter not stepped yet reads as {}, as torch's defaultdict)
        self.state: dict[Tensor, dict] = defaultdict(dict)
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise ArgumentTypeError("params argument given to the optimizer should be an "
                                    "iterable of Tensors or dicts, but got a Tensor",
                                    source=user_source())
        groups = list(params)
        if not groups:
            raise ArgumentError("optimizer got an empty parameter list", source=user_source())
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group: dict) -> None:
        group = ParamGroup(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        if group["params"] and all(isinstance(p, tuple) and len(p) == 2
                                   and isinstance(p[0], str) for p in group["params"]):
            # model.named_parameters(): PyTorch 2.13 keeps the names beside the tensors
            group["param_names"] = [name for name, _ in group["params"]]
            group["params"] = [p for _, p in group["params"]]
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise ArgumentTypeError(f"optimizer can only optimize Tensors, got "
                                        f"{type(p).__name__}", source=user_source())
            if not p.is_leaf:
                raise ArgumentError("can't optimize a non-leaf Tensor", source=user_source())
            if id(p) in seen:
                raise ArgumentError("some parameters appear in more than one parameter group",
                                    source=user_source())
            seen.add(id(p))
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups.append(group)

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                zero_grad_of(p, set_to_none)

    def step(self, closure: Callable | None = None):
        """One update of every parameter that has a gradient (under no_grad)."""
        loss = None
        if closure is not None:
            with grad_mode.enable_grad():
                loss = closure()
        with grad_mode.no_grad(), tracing.phase("update"):
            if tracing.current is not None:
                guard_optimizer(tracing.current, self)
            for i, group in enumerate(self.param_groups):
                tracing.name_state(group, f"{type(self).__name__}.param_groups.{i}")
                for p in group["params"]:
                    grad = p.grad
                    if grad is None:
                        continue
                    if group.get("maximize", False):
                        grad = -grad
                    # (an optimizer without weight decay, as Rprop, ignores a group's key
                    # of that name, as in torch)
                    if "weight_decay" in self.defaults and group.get("weight_decay", 0) != 0 \
                            and not self._decoupled(group):
                        grad = grad + p * hyper(group, "weight_decay", p)
                    self._update(p, grad, self._state_of(p, group), group)
        return loss

    def _decoupled(self, group: dict) -> bool:
        """Whether `_update` decays the weights itself: the class's choice (AdamW), or the
        group's `decoupled_weight_decay` setting where the optimizer has one (NAdam)."""
        return group.get("decoupled_weight_decay", self.decoupled_weight_decay)

    def _state_of(self, p: Tensor, group: dict) -> dict:
        state = self.state.get(p)
        tracer = tracing.current
        if not state:  # (None, or {} made by reading opt.state[p] before any step)
            state = self.state[p] = self._init_state(p, group)
            if tracer is not None:
                tracer.note_new_entry(self.state, p)
        else:
            self._complete_state(p, group, state)
        if tracer is not None:
            guard_param_state(tracer, self, p, state)
        if tracer is not None and id(p) in tracer.names:
            for key, t in state.items():
                tracing.name_state(t, f"{tracer.names[id(p)]}.{key}")
        return state

    def _init_state(self, p: Tensor, group: dict) -> dict:
        return {}

    def _complete_state(self, p: Tensor, group: dict, state: dict) -> None:
        """Add to an existing state the entries a changed hyperparameter now needs (SGD's
        momentum buffer when momentum leaves 0), before the step is guarded on it."""

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _update")

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict:
        """{'state': {index: {name: tensor}}, 'param_groups': [...]} like PyTorch's."""
        index, groups, start = {}, [], 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = list(range(start, start + len(group["params"])))
            index.update({id(p): i for i, p in zip(packed["params"], group["params"])})
            start += len(group["params"])
            groups.append(packed)
        state = {index[id(p)]: {k: v.detach().clone() if isinstance(v, Tensor) else v
                                for k, v in st.items()}
                 for p, st in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and state; existing state tensors are updated in place."""
        try:
            self._load_state_dict(state_dict)
        except SerializationError as e:
            raise e.locate(user_source(), "load_state_dict") from None

    def _load_state_dict(self, state_dict: dict) -> None:
        is_map = isinstance(state_dict, Mapping)
        groups = state_dict.get("param_groups") if is_map else None
        if not isinstance(groups, (list, tuple)) or not isinstance(state_dict.get("state"),
                                                                   Mapping) \
                or not all(isinstance(g, Mapping) and "params" in g for g in groups):
            keys = f" with keys {list(state_dict)}" if is_map else ""
            raise SerializationError(
                f"{type(self).__name__}.load_state_dict expects what state_dict() returns, "
                "{'state': {...}, 'param_groups': [{'params': [...], ...}]}; got a "
                f"{type(state_dict).__name__}{keys}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise SerializationError("loaded state dict has a different number of parameter "
                                     f"groups ({len(saved_groups)} vs {len(self.param_groups)})")
        by_index = {}
        for group, saved in zip(self.param_groups, saved_groups):
            if len(saved["params"]) != len(group["params"]):
                raise SerializationError("loaded state dict contains a parameter group that "
                                         "doesn't match the size of optimizer's group")
            by_index.update(zip(saved["params"], group["params"]))
        loaded = set()
        for key, saved_state in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                raise SerializationError(f"loaded optimizer state names parameter {key}, "
                                         "which no parameter group holds")
            self._load_param_state(p, saved_state)
            loaded.add(id(p))
        for p in [p for p in self.state if id(p) not in loaded]:
            del self.state[p]  # the loaded state replaces ours, as PyTorch's
        for group, saved in zip(self.param_groups, saved_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})

    def _load_param_state(self, p: Tensor, saved: dict) -> None:
        state = self.state.setdefault(p, {})
        for key in [k for k in state if k not in saved]:
            del state[key]
        with grad_mode.no_grad():
            for key, value in saved.items():
                if not isinstance(value, Tensor) and not hasattr(value, "shape"):
                    state[key] = value
                    continue
                value = _on_backend_of(value, p)
                if key != "step" and value.dtype.kind == "f":
                    value = value.astype(p.dtype)
                current = state.get(key)
                if isinstance(current, Tensor) and current.shape == value.shape:
                    current.copy_(value)
                else:
                    state[key] = value.clone()

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])


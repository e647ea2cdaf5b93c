"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from ..creation import zeros, zeros_like
from ..errors import ArgumentError
from ..ir import tracing
from ..ops.elementwise import where
from ..source import user_source
from ..tensor import Tensor
from .optimizer import Optimizer, check_nonnegative, hyper


class SGD(Optimizer):
    """PyTorch's SGD. With momentum m and dampening d:

        g = grad + weight_decay * p
        buf = g (first step), else m * buf + (1 - d) * g
        g = g + m * buf (nesterov), else buf
        p = p - lr * g

    The first-step special case is a `where` on a step counter (kept only when d != 0;
    with d == 0 a zero-initialized buffer gives the same result), so the compiled step
    needs no Python branch.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        check_nonnegative(("learning rate", lr), ("momentum value", momentum),
                          ("weight_decay value", weight_decay))
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ArgumentError("Nesterov momentum requires a momentum and zero dampening",
                                source=user_source())
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _init_state(self, p: Tensor, group: dict) -> dict:
        if group["momentum"] == 0:
            return {}
        state = {"momentum_buffer": zeros_like(p)}
        if group["dampening"] != 0:
            state["step"] = zeros((), device=p._backend)
        return state

    def _complete_state(self, p: Tensor, group: dict, state: dict) -> None:
        if group["momentum"] != 0 and "momentum_buffer" not in state:  # momentum left 0
            state.update(self._init_state(p, group))

    dynamic_hyperparameters = ("lr", "momentum", "dampening", "weight_decay")

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        lr = tracing.dynamic_scalar(group, "lr")
        if group["momentum"] != 0:
            momentum = hyper(group, "momentum", p)
            buf, step = state["momentum_buffer"], state.get("step")
            damped = grad if group["dampening"] == 0 else \
                grad * hyper(group, "1-dampening", p, fn=lambda g: 1 - g["dampening"])
            if step is None:  # (made with dampening 0: a zero buffer's first step gives grad)
                buf.mul_(momentum).add_(damped)
            else:  # the first step gives grad undampened (torch clones it)
                buf.copy_(where(step == 0, grad, buf * momentum + damped))
                step.add_(1)
            grad = grad + buf * momentum if group["nesterov"] else buf
        p.sub_(grad * lr)

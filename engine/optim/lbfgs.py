"""L-BFGS (Liu & Nocedal, 1989), PyTorch's variant: a closure re-evaluates the loss; each
`step` runs up to `max_iter` quasi-Newton iterations on the flattened parameters, with
the two-loop recursion over the last `history_size` curvature pairs, and a fixed step
or the strong Wolfe line search (`line_search.py`).

Its iterations branch on the loss's value, so L-BFGS runs eagerly only: inside
`gg.compile` it raises a TracingError saying so (and the failed trace changes nothing).
The closure may be compiled, `opt.step(gg.compile(closure))`: each evaluation is then
one call of the plan, and the iterations around it stay in Python.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import grad_mode
from ..creation import zeros
from ..errors import ArgumentError, TracingError
from ..ir import tracing
from ..ops.shape import cat
from ..source import user_source
from ..tensor import Tensor
from .line_search import strong_wolfe
from .optimizer import Optimizer, check_nonnegative


class LBFGS(Optimizer):
    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = None):
        check_nonnegative(("learning rate", lr))
        super().__init__(params, dict(
            lr=lr, max_iter=max_iter, max_eval=max_iter * 5 // 4 if max_eval is None
            else max_eval, tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
            history_size=history_size, line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ArgumentError("LBFGS doesn't support per-parameter options (parameter groups)",
                                source=user_source())
        self._params = self.param_groups[0]["params"]

    # -------------------------------------------------------------- flat parameters
    def _flat_grad(self) -> Tensor:
        return cat([zeros(p.numel(), dtype=p.dtype) if p.grad is None else p.grad.reshape(-1)
                    for p in self._params])

    def _add_to_params(self, t: float, d: Tensor) -> None:
        offset = 0
        for p in self._params:
            n = p.numel()
            p.add_(d[offset:offset + n].reshape(p.shape) * t)
            offset += n

    def _evaluate_at(self, closure, x: list[Tensor], t: float, d: Tensor):
        self._add_to_params(t, d)
        loss = float(closure())
        g = self._flat_grad()
        for p, saved in zip(self._params, x):
            p.copy_(saved)
        return loss, g

    # ------------------------------------------------------------------- the step
    def step(self, closure: Callable):  # type: ignore[override]
        """Up to `max_iter` iterations; returns the loss of the closure's first call."""
        if tracing.current is not None:
            raise TracingError("LBFGS runs eagerly only: its iterations branch on the loss's "
                               "value; call opt.step(closure) outside gg.compile (the closure "
                               "itself may be compiled: opt.step(gg.compile(closure)))",
                               op="LBFGS.step", source=user_source())
        if closure is None:
            raise ArgumentError("LBFGS.step needs a closure that re-evaluates the model and "
                                "returns the loss", source=user_source())
        if self.param_groups[0]["line_search_fn"] not in (None, "strong_wolfe"):
            raise ArgumentError("only 'strong_wolfe' is supported", source=user_source())
        with grad_mode.no_grad():
            return self._step(grad_mode.enable_grad()(closure))

    def _step(self, closure):
        group = self.param_groups[0]
        state = self.state.setdefault(self._params[0], {"func_evals": 0, "n_iter": 0})
        orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if float(g.abs().max()) <= group["tolerance_grad"]:
            return orig_loss
        for n_iter in range(1, group["max_iter"] + 1):
            state["n_iter"] += 1
            d = self._direction(state, g, group["history_size"])
            state["prev_flat_grad"], state["prev_loss"] = g.clone(), loss
            t = group["lr"]
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(g.abs().sum())) * group["lr"]
            gtd = float((g * d).sum())
            if gtd > -group["tolerance_change"]:
                break
            loss, g, t, ls_evals = self._move(closure, d, t, loss, g, gtd, group,
                                              last=n_iter == group["max_iter"], evals=evals)
            state["d"], state["t"] = d, t
            evals += ls_evals
            state["func_evals"] += ls_evals
            if self._converged(group, n_iter, evals, g, d, t, loss, state["prev_loss"]):
                break
        return orig_loss

    def _move(self, closure, d, t, loss, g, gtd, group, last, evals):
        """Take the step along `d`: with the line search, or by `t` and one evaluation."""
        if group["line_search_fn"] == "strong_wolfe":
            x = [p.clone() for p in self._params]
            loss, g, t, n = strong_wolfe(lambda s: self._evaluate_at(closure, x, s, d), d, t,
                                         loss, g, gtd, max_ls=group["max_eval"] - evals)
            self._add_to_params(t, d)
            return loss, g, t, n
        self._add_to_params(t, d)
        if last:
            return loss, g, t, 0
        loss = float(closure())
        return loss, self._flat_grad(), t, 1

    @staticmethod
    def _converged(group, n_iter, evals, g, d, t, loss, prev_loss) -> bool:
        return (n_iter == group["max_iter"] or evals >= group["max_eval"]
                or float(g.abs().max()) <= group["tolerance_grad"]
                or float((d * t).abs().max()) <= group["tolerance_change"]
                or abs(loss - prev_loss) < group["tolerance_change"])

    @staticmethod
    def _direction(state: dict, g: Tensor, history_size: int) -> Tensor:
        """-H g by the two-loop recursion, after adding the newest curvature pair."""
        if state["n_iter"] == 1:
            state.update(old_dirs=[], old_stps=[], ro=[], H_diag=1.0)
            return -g
        y = g - state["prev_flat_grad"]
        s = state["d"] * state["t"]
        ys = float((y * s).sum())
        if ys > 1e-10:
            if len(state["old_dirs"]) == history_size:
                for key in ("old_dirs", "old_stps", "ro"):
                    state[key].pop(0)
            state["old_dirs"].append(y)
            state["old_stps"].append(s)
            state["ro"].append(1.0 / ys)
            state["H_diag"] = ys / float((y * y).sum())
        dirs, stps, ro = state["old_dirs"], state["old_stps"], state["ro"]
        q = -g
        al = [0.0] * len(dirs)
        for i in reversed(range(len(dirs))):
            al[i] = float((stps[i] * q).sum()) * ro[i]
            q = q - dirs[i] * al[i]
        r = q * state["H_diag"]
        for i in range(len(dirs)):
            be_i = float((dirs[i] * r).sum()) * ro[i]
            r = r + stps[i] * (al[i] - be_i)
        return r

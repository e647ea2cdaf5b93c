"""`gg.gradcheck`: autodiff derivatives against central finite differences, in float64.

Like `torch.autograd.gradcheck`: the inputs that require grad are copied to float64,
the numerical Jacobian of every float output comes from central differences
`(f(x + eps) - f(x - eps)) / 2 eps` one input element at a time, and the analytical
one from reverse mode (`autodiff.grad`), one output element at a time (or, for large
outputs, as vector-Jacobian products with random cotangents). With
`check_forward=True` forward mode (`gg.func.jvp`) is checked the same way.

A failure names the worst element (output and input index, both values) and the op to
blame: the check re-runs each op recorded in the function's graph on its own, so a
wrong VJP rule deep inside a composition is named, not only the output's `grad_fn`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import dtypes, func, grad_mode
from .autodiff import _topological, grad
from .creation import from_numpy
from .errors import GradcheckError
from .tensor import Tensor

FULL_JACOBIAN_LIMIT = 64  # output elements; beyond it, random cotangents (one backward each)
N_RANDOM_COTANGENTS = 3


@dataclass
class Mismatch:
    """The worst disagreement between an analytical and a numerical derivative."""

    mode: str  # "reverse" or "forward"
    output: int
    input: int
    out_index: tuple | str  # an element index, or "random cotangent"
    in_index: tuple | str
    analytical: float
    numerical: float
    ratio: float  # |a - n| / (atol + rtol |n|): above 1 fails


@dataclass
class GradcheckResult:
    """What `check_gradients` found; `gradcheck` turns it into True/False or an error."""

    passed: bool
    worst: Mismatch | None = None
    ops: list[str] = field(default_factory=list)  # ops recorded in the function's graph
    culprit: str | None = None  # the op whose own derivative fails, when one does
    message: str = ""


def gradcheck(fn: Callable, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, check_forward: bool = False,
              fast_mode: bool | None = None) -> bool:
    """Check `fn`'s derivatives at `inputs` against central finite differences (float64).

    `inputs` is a Tensor or a tuple; the float tensors with `requires_grad=True` (or NumPy
    float arrays) are differentiated, the rest passed through. Returns True, or on failure
    raises `GradcheckError` naming the worst element and the op to blame (False when
    `raise_exception=False`). `fast_mode` (default: for large outputs) compares
    vector-Jacobian products with random cotangents instead of whole Jacobians.
    """
    result = check_gradients(fn, inputs, eps=eps, atol=atol, rtol=rtol,
                             check_forward=check_forward, fast_mode=fast_mode)
    if result.passed:
        return True
    if raise_exception:
        raise GradcheckError(result.message, op=result.culprit)
    return False


def check_gradients(fn: Callable, inputs, eps: float = 1e-6, atol: float = 1e-5,
                    rtol: float = 1e-3, check_forward: bool = False,
                    fast_mode: bool | None = None) -> GradcheckResult:
    """The work of `gradcheck`, returned as a `GradcheckResult` (used by conformance)."""
    args, diff = _prepare(inputs)
    with grad_mode.enable_grad():
        outputs = _float_outputs(fn(*args))
    ops = _recorded_ops(outputs)
    numerical = _numerical_jacobian(fn, args, diff, [o.numel() for o in outputs], eps)
    if fast_mode is None:
        fast_mode = sum(o.numel() for o in outputs) > FULL_JACOBIAN_LIMIT
    checks = [("reverse", _reverse_compare(outputs, args, diff, numerical, fast_mode))]
    if check_forward:
        checks.append(("forward", _forward_compare(fn, args, diff, numerical, outputs)))
    worst = None
    for mode, pairs in checks:
        for m in _mismatches(mode, pairs, atol, rtol):
            if worst is None or m.ratio > worst.ratio:
                worst = m
    if worst is None or worst.ratio <= 1.0:
        return GradcheckResult(True, worst, ops)
    culprit = _blame(outputs, worst.mode, eps, atol, rtol)
    result = GradcheckResult(False, worst, ops, culprit)
    result.message = _describe(result, eps, atol, rtol)
    return result


# ---------------------------------------------------------------------- inputs and outputs

def _prepare(inputs) -> tuple[list, list[int]]:
    """float64 leaf copies of the differentiated inputs; their positions."""
    items = [inputs] if isinstance(inputs, (Tensor, np.ndarray)) else list(inputs)
    args, diff = [], []
    for i, x in enumerate(items):
        if isinstance(x, np.ndarray) and x.dtype.kind == "f":
            x = from_numpy(x.astype(np.float64)).requires_grad_(True)
        if isinstance(x, Tensor) and x.requires_grad and dtypes.is_float(x.dtype):
            x = x.detach().astype(dtypes.float64).requires_grad_(True)
            diff.append(i)
        args.append(x)
    if not diff:
        raise GradcheckError("gradcheck: no input requires grad; pass float tensors with "
                             "requires_grad=True (or NumPy float arrays) to differentiate")
    return args, diff


def _float_outputs(out) -> list[Tensor]:
    outs = [out] if isinstance(out, Tensor) else list(out)
    if not all(isinstance(o, Tensor) for o in outs):
        raise GradcheckError("gradcheck: the function must return a Tensor or a tuple of "
                             f"Tensors, got {type(out).__name__}")
    return [o for o in outs if dtypes.is_float(o.dtype)]


def _recorded_ops(outputs) -> list[str]:
    roots = [o for o in outputs if o.requires_grad]
    return list(dict.fromkeys(t._ctx.op.name for t in _topological(roots) if t._ctx))


def _with_value(x: Tensor, array: np.ndarray) -> Tensor:
    return Tensor._wrap(x._backend.from_numpy(array), x._backend)


def _evaluate(fn, args) -> list[np.ndarray]:
    with grad_mode.no_grad():
        return [np.asarray(o.numpy(), dtype=np.float64) for o in _float_outputs(fn(*args))]


# ---------------------------------------------------------------------- numerical side

def _numerical_jacobian(fn, args, diff, out_sizes, eps) -> dict[tuple[int, int], np.ndarray]:
    """{(output, input): J} with J of shape (output elements, input elements)."""
    jac: dict[tuple[int, int], np.ndarray] = {}
    n_out = len(out_sizes)
    for i in diff:
        base = args[i].numpy().astype(np.float64)
        cols: list[list[np.ndarray]] = [[] for _ in range(n_out)]
        for j in range(base.size):
            plus, minus = base.copy(), base.copy()
            plus.flat[j] += eps
            minus.flat[j] -= eps
            f_plus = _evaluate(fn, _replace(args, i, _with_value(args[i], plus)))
            f_minus = _evaluate(fn, _replace(args, i, _with_value(args[i], minus)))
            for k in range(n_out):
                cols[k].append(((f_plus[k] - f_minus[k]) / (2 * eps)).reshape(-1))
        for k in range(n_out):
            jac[k, i] = np.stack(cols[k], axis=1) if cols[k] else np.zeros((out_sizes[k], 0))
    return jac


def _replace(args, i, value):
    out = list(args)
    out[i] = value
    return out


# ---------------------------------------------------------------------- analytical side

def _reverse_compare(outputs, args, diff, numerical, fast_mode):
    """Yield (output, input, analytical rows, numerical rows, row labels) per pair."""
    xs = [args[i] for i in diff]
    rng = np.random.default_rng(0)
    for k, out in enumerate(outputs):
        n = out.numel()
        if fast_mode:
            cotangents = [rng.standard_normal(n) for _ in range(N_RANDOM_COTANGENTS)]
            labels = ["random cotangent"] * len(cotangents)
        else:
            cotangents = list(np.eye(n))
            labels = [_index(r, out.shape) for r in range(n)]
        rows = {i: [] for i in diff}
        for u in cotangents:
            for i, g in zip(diff, _vjp(out, xs, u)):
                rows[i].append(g)
        for i in diff:
            num = numerical[k, i]
            num_rows = np.stack([u @ num for u in cotangents]) if cotangents else num
            yield k, i, np.array(rows[i]).reshape(num_rows.shape), num_rows, labels, args[i].shape


def _vjp(out: Tensor, xs: list[Tensor], u: np.ndarray) -> list[np.ndarray]:
    if not out.requires_grad:
        return [np.zeros(x.numel()) for x in xs]
    seed = _with_value(out, u.reshape(out.shape).astype(out.dtype))
    grads = grad(out, xs, grad_outputs=seed, retain_graph=True, allow_unused=True)
    result = []
    for x, g in zip(xs, grads):
        if g is None:
            result.append(np.zeros(x.numel()))
            continue
        if tuple(g.shape) != tuple(x.shape):
            raise GradcheckError(f"gradcheck: the gradient for an input of shape {x.shape} has "
                                 f"shape {tuple(g.shape)} (ops: {', '.join(_recorded_ops([out]))})",
                                 op=out._ctx.op.name if out._ctx else None)
        result.append(g.numpy().astype(np.float64).reshape(-1))
    return result


def _forward_compare(fn, args, diff, numerical, outputs):
    """Yield comparison pairs for forward mode: J e_j by `gg.func.jvp`, one input element
    at a time (one-hot tangents)."""
    primals = tuple(args[p].detach() for p in diff)

    def of_diff(*ds):
        full = list(args)
        for p, d in zip(diff, ds):
            full[p] = d
        return fn(*full)

    for i in diff:
        x, cols = args[i], []
        for j in range(x.numel()):
            onehot = np.zeros(x.numel())
            onehot[j] = 1.0
            tangents = tuple(_with_value(x, onehot.reshape(x.shape)) if p == i else None
                             for p in diff)
            _, tangent_out = func.jvp(of_diff, primals, tangents)
            cols.append([o.numpy().astype(np.float64).reshape(-1)
                         for o in _float_outputs(tangent_out)])
        for k, out in enumerate(outputs if cols else []):
            labels = [_index(r, out.shape) for r in range(out.numel())]
            analytical = np.stack([c[k] for c in cols], axis=1)
            yield k, i, analytical, numerical[k, i], labels, x.shape


def _mismatches(mode, pairs, atol, rtol):
    for k, i, analytical, numerical, labels, in_shape in pairs:
        if analytical.size == 0:
            continue
        diff = np.abs(analytical - numerical)
        both_nan = np.isnan(analytical) & np.isnan(numerical)
        ratio = np.where(both_nan, 0.0, diff / (atol + rtol * np.abs(numerical)))
        ratio = np.where(np.isnan(ratio), np.inf, ratio)
        r, c = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        yield Mismatch(mode, k, i, labels[r], _index(c, in_shape),
                       float(analytical[r, c]), float(numerical[r, c]), float(ratio[r, c]))


def _index(flat: int, shape) -> tuple:
    return tuple(int(v) for v in np.unravel_index(flat, shape)) if shape else ()


# ---------------------------------------------------------------------- blame and report

def _blame(outputs, mode, eps, atol, rtol) -> str | None:
    """The first op (inputs first) whose own rule for `mode` fails at the values it saw."""
    roots = [o for o in outputs if o.requires_grad]
    for t in _topological(roots):
        ctx = t._ctx
        if ctx is None or not ctx.op.differentiable:
            continue
        if sum(x.numel() for x in ctx.inputs) > 256:
            continue
        inputs = [x.detach().requires_grad_(x.requires_grad and dtypes.is_float(x.dtype))
                  for x in ctx.inputs]
        if not any(x.requires_grad for x in inputs):
            continue
        try:
            local = check_gradients(lambda *xs, op=ctx.op, attrs=ctx.attrs: op(*xs, **attrs),
                                    inputs, eps=eps, atol=atol, rtol=rtol,
                                    check_forward=mode == "forward")
        except Exception:  # an op the isolated check cannot run is simply not blamed
            continue
        if not local.passed and local.worst.mode == mode:
            return ctx.op.name
    return None


def _describe(result: GradcheckResult, eps, atol, rtol) -> str:
    w = result.worst
    where = f"output {w.output}{_show(w.out_index)}"
    wrt = f"input {w.input}{_show(w.in_index)}"
    rule = "VJP" if w.mode == "reverse" else "JVP"
    blame = (f"the {rule} of op `{result.culprit}` is wrong at the values it saw"
             if result.culprit else f"the output was made by `{result.ops[-1]}`"
             if result.ops else "the output does not depend on the inputs through any op")
    return (f"gradcheck failed ({w.mode} mode): d {where} / d {wrt}: analytical "
            f"{w.analytical:.6g}, numerical {w.numerical:.6g} (|difference| "
            f"{abs(w.analytical - w.numerical):.3g} exceeds atol + rtol*|numerical| = "
            f"{atol + rtol * abs(w.numerical):.3g}; eps={eps:g}); {blame}; "
            f"ops involved: {', '.join(result.ops) or 'none'}")


def _show(index) -> str:
    if not isinstance(index, tuple):
        return f" ({index})"
    return f"[{', '.join(map(str, index))}]" if index else ""

"""Numba source for one plan node at a time: the emitters of numba_plan.py.

Each emitter writes the lines computing one node of the plan into the generated `@njit`
function: elementwise groups as loop nests over the output's shape (broadcast inputs
index 0 along their size-1 dimensions; every step in registers, as numba_codegen.py's
expressions), reductions as loops with a float64 (or int64) accumulator, matmul as
`np.dot` (BLAS), shape ops as NumPy views, and a few indexing and loss ops as the
helpers of numba_plan_kernels.py. A node no emitter covers raises `PlanUnsupported`
naming the op, its operands and the user's line.

Values of shape () are Numba scalars inside the function (a loss, a step counter, a
learning rate); every other value is an array of the node's shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from graphgrad.ir.fused import FusedProgram, Step, slice_program, split_by_output_shape
from graphgrad.ops.registry import REGISTRY

from .base import PlanUnsupported
from .cuda_codegen import UnsupportedFusion
from .numba_codegen import expression
from .numpy_blas import numpy_cblas_gemm

PARALLEL_MIN = 1 << 16  # a loop nest this large runs under prange (numba_plan._Gen)
_REGISTER = re.compile(r"\br(\d+)\b")


def np_dtype(dtype) -> str:
    name = np.dtype(dtype).name
    return "np.bool_" if name == "bool" else f"np.{name}"


def _index(out_shape, shape) -> str:
    """The index of an operand of `shape` inside a loop nest over `out_shape`."""
    lead = len(out_shape) - len(shape)
    parts = ["0" if s == 1 and out_shape[lead + k] != 1 else f"i{lead + k}"
             for k, s in enumerate(shape)]
    return ", ".join(parts)


def loop_nest(gen, program, in_names, out_names, out_shape, comment) -> None:
    """Lines computing a fused elementwise `program` whose outputs have `out_shape`
    into `out_names` (allocated here unless `gen.alias` names the buffer it is written into).
    Registers are named per nest (`r<nest>_<k>`): Numba types a name once per function.
    Steps on 0-d values only (an optimizer's bias correction) run once, before the loops."""
    nest = next(gen.nests)

    def reg(text: str) -> str:
        return _REGISTER.sub(lambda m: f"r{nest}_{m.group(1)}", text)

    scalar_out = out_shape == ()
    by_column = _by_column(gen, program, in_names, out_names, out_shape)
    for name, (_, dtype) in zip(out_names, program.output_types):
        if not scalar_out and name not in gen.alias:
            if by_column:  # a new output in the order the loops write it
                gen.emit(f"{name} = empty({tuple(out_shape)[::-1]!r}, {np_dtype(dtype)}).T")
                gen.column_major.add(name)
            else:
                gen.emit(f"{name} = empty({tuple(out_shape)!r}, {np_dtype(dtype)})")
    invariant = {i for i, (shape, _) in enumerate(program.input_types) if tuple(shape) == ()}
    for i in sorted(invariant):
        gen.emit(reg(f"r{i}") + f" = {in_names[i]}")
    lines = _step_lines(program, invariant, comment)
    for line, source in lines[0]:
        gen.emit(reg(line), comment=source)
    depth = len(out_shape)
    size = int(np.prod(out_shape, dtype=np.int64))
    for k, d in enumerate(reversed(range(depth)) if by_column else range(depth)):
        kind = "prange" if k == 0 and size >= gen.parallel_min else "range"
        gen.parallel |= kind == "prange"
        gen.emit(f"{'    ' * k}for i{d} in {kind}({out_shape[d]}):")
    pad = "    " * depth
    for i, ((shape, _), name) in enumerate(zip(program.input_types, in_names)):
        if i not in invariant:
            gen.emit(f"{pad}{reg(f'r{i}')} = {name}[{_index(out_shape, shape)}]")
    for line, source in lines[1]:
        gen.emit(pad + reg(line), comment=source)
    here = ", ".join(f"i{d}" for d in range(depth))
    for name, r in zip(out_names, program.outputs):
        value = reg(f"r{r}")
        gen.emit(f"{name} = {value}" if scalar_out else f"{pad}{name}[{here}] = {value}")


def _by_column(gen, program, in_names, out_names, out_shape) -> bool:
    """Whether a 2-d loop nest should run column by column: when most of the full-size
    arrays it reads and writes are column-major (an update of a weight held in Fortran
    order from its transposed gradient). Row by row, each of their reads would stride
    across memory (~70x slower for a 2048x784 update)."""
    if len(out_shape) != 2:
        return False
    full = [name for (shape, _), name in zip(program.input_types, in_names)
            if tuple(shape) == tuple(out_shape)]
    full += [name for name in out_names if name in gen.alias]
    by_column = sum(name in gen.column_major for name in full)
    return by_column * 2 > len(full)


def _step_lines(program, invariant: set, comment) -> tuple[list, list]:
    """(lines before the loops, lines inside them) for the program's steps, each with
    its source; `invariant` grows by the steps whose arguments all are."""
    before, inside = [], []
    for i, step in enumerate(program.steps):
        try:
            expr = expression(program, step)
        except UnsupportedFusion as exc:
            raise PlanUnsupported(f"{exc} ({step.source or comment})") from None
        r = program.n_inputs + i
        if all(a in invariant for a in step.args):
            invariant.add(r)
            before.append((f"r{r} = {expr}", step.source))
        else:
            inside.append((f"r{r} = {expr}", step.source))
    return before, inside


def fused(gen, n) -> None:
    graph = gen.graph
    program = graph[n]["attrs"]["program"]
    args = graph.args(n)
    outs = gen.fused_outputs(n, len(program.outputs))
    parts = split_by_output_shape(program)
    for k, (sub, ins, positions) in enumerate(parts):
        # a buffer a later part still reads is not written by this one (base.run_parts)
        later = {args[i] for _, ins_, _ in parts[k + 1:] for i in ins_}
        gen.plan_reuse(n, args, outs, positions, later)
        live, used = slice_program(sub, sub.outputs)
        loop_nest(gen, live, [gen.names[args[ins[u]]] for u in used],
                  [outs[j] for j in positions], tuple(sub.output_types[0][0]),
                  graph[n]["source"])


def elementwise(gen, n) -> None:
    """An elementwise op left unfused: a one-step program."""
    graph, data = gen.graph, gen.graph[n]
    args = graph.args(n)
    types = tuple((tuple(graph[a]["shape"]), graph[a]["dtype"]) for a in args)
    step = Step(data["op"], tuple(range(len(args))), dict(data["attrs"]),
                tuple(data["shape"]), data["dtype"], data["source"])
    program = FusedProgram(types, (step,), (len(args),))
    loop_nest(gen, program, [gen.names[a] for a in args], [gen.names[n]],
              tuple(data["shape"]), data["source"])


def reduce_sum(gen, n, mean: bool = False) -> None:
    graph, data = gen.graph, gen.graph[n]
    (x,), attrs = graph.args(n), data["attrs"]
    shape, name, xn = tuple(graph[x]["shape"]), gen.names[n], gen.names[x]
    axes = attrs.get("axis")
    axes = tuple(range(len(shape))) if axes is None else \
        tuple(a % len(shape) for a in (axes if isinstance(axes, tuple) else (axes,)))
    kind = np.dtype(data["dtype"]).kind
    acc_dtype = "np.float64" if kind == "f" else "np.int64"
    count = int(np.prod([shape[a] for a in axes], dtype=np.int64))
    scale = f" / {count}" if mean else ""
    if shape == ():
        gen.emit(f"{name} = {np_dtype(data['dtype'])}({xn}{scale})", comment=data["source"])
        return
    kept = tuple(1 if d in axes else s for d, s in enumerate(shape))
    size = int(np.prod(shape, dtype=np.int64))
    full = len(axes) == len(shape)
    acc = f"acc{n}"
    gen.emit(f"{acc} = {acc_dtype}(0)" if full else f"{acc} = zeros({kept!r}, {acc_dtype})",
             comment=data["source"])
    for d, s in enumerate(shape):
        kind_ = "prange" if d == 0 and full and size >= gen.parallel_min else "range"
        gen.parallel |= kind_ == "prange"
        gen.emit(f"{'    ' * d}for i{d} in {kind_}({s}):")
    here = ", ".join(f"i{d}" for d in range(len(shape)))
    where = ", ".join("0" if d in axes else f"i{d}" for d in range(len(shape)))
    target = acc if full else f"{acc}[{where}]"
    gen.emit(f"{'    ' * len(shape)}{target} += {xn}[{here}]")
    out_shape = tuple(data["shape"])
    if full and out_shape == ():
        gen.emit(f"{name} = {np_dtype(data['dtype'])}({acc}{scale})")
    elif full:
        gen.emit(f"{name} = full({out_shape!r}, {acc}{scale}, {np_dtype(data['dtype'])})")
    else:
        gen.emit(f"{name} = ({acc}{scale}).astype({np_dtype(data['dtype'])})"
                 f".reshape({out_shape!r})")


def matmul(gen, n) -> None:
    graph, data = gen.graph, gen.graph[n]
    a, b = graph.args(n)
    ranks = (len(graph[a]["shape"]), len(graph[b]["shape"]))
    if not all(1 <= r <= 2 for r in ranks) or np.dtype(data["dtype"]).kind != "f" \
            or 0 in graph[a]["shape"] or 0 in graph[b]["shape"]:
        gen.unsupported(n, "matmul beyond non-empty float vectors and matrices")
    dtypes = {graph[a]["dtype"], graph[b]["dtype"], data["dtype"]}
    # 2-d GEMMs on NumPy's own BLAS where it is known (numba_gemm.py), else np.dot
    call = "gemm" if ranks == (2, 2) and len(dtypes) == 1 and str(data["dtype"]) in \
        numpy_cblas_gemm() else "dot"
    gen.emit(f"{gen.names[n]} = {call}({gen.names[a]}, {gen.names[b]})",
             comment=data["source"])


def permute(gen, n) -> None:
    (x,), axes = gen.graph.args(n), tuple(gen.graph[n]["attrs"]["axes"])
    # `.T` keeps Numba's layout known (C <-> F): np.dot then needs no copy
    view = ".T" if axes == (1, 0) else f".transpose({axes!r})"
    gen.emit(f"{gen.names[n]} = {gen.names[x]}{view}",
             comment=gen.graph[n]["source"])
    if axes == (1, 0) and gen.names[x] not in gen.column_major:
        gen.column_major.add(gen.names[n])


def reshape(gen, n) -> None:
    graph, data = gen.graph, gen.graph[n]
    (x,), shape = graph.args(n), tuple(data["shape"])
    xn, name = gen.names[x], gen.names[n]
    if graph[x]["shape"] == ():
        line = f"{name} = full({shape!r}, {xn}, {np_dtype(data['dtype'])})"
    elif shape == ():
        line = f"{name} = contiguous({xn}).reshape(-1)[0]"
    else:
        line = f"{name} = contiguous({xn}).reshape({shape!r})"
    gen.emit(line, comment=data["source"])


def concat(gen, n) -> None:
    graph, data = gen.graph, gen.graph[n]
    args = [gen.names[a] for a in graph.args(n)]
    if any(graph[a]["shape"] == () for a in graph.args(n)):
        gen.unsupported(n, "concat of 0-d values")
    items = ", ".join(f"contiguous({a})" for a in args)
    gen.emit(f"{gen.names[n]} = concatenate(({items},), axis={data['attrs']['axis']})",
             comment=data["source"])


def _spec_index(spec) -> str | None:
    """The Python text of a basic index (ints and slices), None for anything else."""
    parts = []
    for item in spec:
        if item[0] == "int":
            parts.append(repr(item[1]))
        elif item[0] == "slice":
            parts.append(":".join("" if v is None else repr(v) for v in item[1:]))
        else:
            return None
    return ", ".join(parts) + ("," if len(parts) == 1 else "")


def index(gen, n) -> None:
    graph, data = gen.graph, gen.graph[n]
    x, *rest = graph.args(n)
    spec = data["attrs"]["spec"]
    if spec == (("tensor",),) and len(rest) == 1 and len(graph[rest[0]]["shape"]) == 1 \
            and np.dtype(graph[rest[0]]["dtype"]).kind in "iu":
        gen.emit(f"{gen.names[n]} = take_rows({gen.names[x]}, {gen.names[rest[0]]})",
                 comment=data["source"])
        return
    text = _spec_index(spec)
    if text is None or rest or graph[x]["shape"] == ():
        gen.unsupported(n, f"index {spec!r}")
    value = f"{gen.names[x]}[{text}]"
    if data["shape"] != ():
        value = f"contiguous({value})"
    gen.emit(f"{gen.names[n]} = {value}", comment=data["source"])


def check_index(gen, n) -> None:
    graph, data = gen.graph, gen.graph[n]
    (idx,), attrs = graph.args(n), data["attrs"]
    if graph[idx]["shape"] == ():
        gen.unsupported(n, "check_index of a 0-d index")
    message = f"{attrs['op']}: an index is out of range [0, {attrs['bound']})"
    gen.emit(f"if not in_range({gen.names[idx]}, {attrs['bound']}):", comment=data["source"])
    gen.emit(f"    raise IndexError({message!r})")
    gen.emit(f"{gen.names[n]} = {gen.names[idx]}")


def index_backward(gen, n) -> None:
    graph, data = gen.graph, gen.graph[n]
    g, *rest = graph.args(n)
    attrs, name = data["attrs"], gen.names[n]
    spec, shape = attrs["spec"], tuple(attrs["shape"])
    gen.emit(f"{name} = zeros({shape!r}, {np_dtype(data['dtype'])})", comment=data["source"])
    if spec == (("tensor",),) and len(rest) == 1 and len(graph[rest[0]]["shape"]) == 1 \
            and np.dtype(graph[rest[0]]["dtype"]).kind in "iu" and graph[g]["shape"] != ():
        gen.emit(f"add_rows({name}, {gen.names[rest[0]]}, {gen.names[g]})")
        return
    text = _spec_index(spec)
    if text is None or rest or shape == ():
        gen.unsupported(n, f"index_backward {spec!r}")
    gen.emit(f"{name}[{text}] = {gen.names[g]}")


def log_softmax(gen, n) -> None:
    graph, data = gen.graph, gen.graph[n]
    (x,) = graph.args(n)
    shape = graph[x]["shape"]
    if len(shape) != 2 or data["attrs"]["axis"] not in (1, -1) or 0 in shape:
        gen.unsupported(n, "log_softmax beyond the last axis of a non-empty matrix")
    gen.emit(f"{gen.names[n]} = log_softmax_rows({gen.names[x]})", comment=data["source"])


def _row_picks(gen, n, x_shape, idx) -> bool:
    graph = gen.graph
    return (gen.graph[n]["attrs"]["axis"] in (1, -1) and len(x_shape) == 2
            and tuple(graph[idx]["shape"]) == (x_shape[0], 1)
            and np.dtype(graph[idx]["dtype"]).kind in "iu")


def gather(gen, n) -> None:
    x, idx = gen.graph.args(n)
    if not _row_picks(gen, n, gen.graph[x]["shape"], idx):
        gen.unsupported(n, "gather beyond one pick per row of a matrix")
    gen.emit(f"{gen.names[n]} = gather_rows({gen.names[x]}, {gen.names[idx]})",
             comment=gen.graph[n]["source"])


def gather_backward(gen, n) -> None:
    g, idx = gen.graph.args(n)
    shape = tuple(gen.graph[n]["attrs"]["shape"])
    if not _row_picks(gen, n, shape, idx):
        gen.unsupported(n, "gather beyond one pick per row of a matrix")
    gen.emit(f"{gen.names[n]} = gather_rows_backward({gen.names[g]}, {gen.names[idx]}, "
             f"{shape[1]})", comment=gen.graph[n]["source"])


def _nll_operands(gen, n, classes, first=1) -> str:
    """target, weight (ones without one), ignore_index, has_ignore, mode: nll_rows' tail
    (the target is argument `first` of node n, the weight the next if any)."""
    graph, data = gen.graph, gen.graph[n]
    target, *weight = graph.args(n)[first:]
    attrs = data["attrs"]
    if weight:
        w = gen.names[weight[0]]
    else:
        w = f"full(({classes},), 1.0, {np_dtype(data['dtype'])})"
    ignore = attrs["ignore_index"]
    mode = ("none", "mean", "sum").index(attrs["reduction"])
    return f"{gen.names[target]}, {w}, {0 if ignore is None else int(ignore)}, " \
           f"{ignore is not None}, {mode}"


def nll_loss(gen, n) -> None:
    logp = gen.graph.args(n)[0]
    call = f"nll_rows({gen.names[logp]}, " \
           f"{_nll_operands(gen, n, gen.graph[logp]['shape'][1])})"
    scalar = gen.graph[n]["attrs"]["reduction"] != "none"
    gen.emit(f"{gen.names[n]} = {call}{'[0]' if scalar else ''}",
             comment=gen.graph[n]["source"])


def nll_loss_backward(gen, n) -> None:
    g = gen.graph.args(n)[0]
    classes = gen.graph[n]["attrs"]["classes"]
    g_rows = gen.names[g] if gen.graph[g]["shape"] else \
        f"full((1,), {gen.names[g]}, {np_dtype(gen.graph[n]['dtype'])})"  # 0-d: a scalar
    gen.emit(f"{gen.names[n]} = nll_rows_backward({g_rows}, "
             f"{_nll_operands(gen, n, classes)}, {classes})", comment=gen.graph[n]["source"])


def cross_entropy_backward(gen, n) -> None:
    g, logp = gen.graph.args(n)[:2]
    classes = gen.graph[logp]["shape"][1]
    g_rows = gen.names[g] if gen.graph[g]["shape"] else \
        f"full((1,), {gen.names[g]}, {np_dtype(gen.graph[n]['dtype'])})"  # 0-d: a scalar
    grad = f"nll_rows_backward({g_rows}, {_nll_operands(gen, n, classes, 2)}, {classes})"
    gen.emit(f"{gen.names[n]} = log_softmax_rows_backward({grad}, {gen.names[logp]})",
             comment=gen.graph[n]["source"])


#: op name -> emitter(gen, node); elementwise ops of the registry are added below
EMITTERS: dict[str, Callable] = {
    "fused": fused, "sum": reduce_sum, "mean": lambda g, n: reduce_sum(g, n, mean=True),
    "matmul": matmul, "permute": permute, "reshape": reshape, "concat": concat,
    "index": index, "index_backward": index_backward, "log_softmax": log_softmax,
    "gather": gather, "gather_backward": gather_backward, "check_index": check_index,
    "nll_loss": nll_loss, "nll_loss_backward": nll_loss_backward,
    "cross_entropy_backward": cross_entropy_backward,
}
for _name, _op in REGISTRY.items():
    if getattr(_op, "elementwise", False):
        EMITTERS.setdefault(_name, elementwise)

"""Compiling a fused elementwise program to one NumPy function over reused buffers.

The function calls NumPy's vectorized ufuncs step by step (never a Python loop over
elements), writing each result into a buffer that is already dead: a temporary of
an earlier step or, for the program's outputs, a buffer the plan hands in through
`out=` (e.g. the parameter an optimizer step overwrites). So a 10-op group allocates
one or two arrays instead of ten.

Large groups whose operands all have the output's shape (or are scalars) run in
cache-sized chunks, split over two threads: NumPy releases the GIL inside ufuncs, and
a chunk's temporaries stay in cache instead of streaming through memory ten times. A
group with outputs of several shapes (the updates of all parameters, welded by a shared
learning rate) is first split into one function per shape. Chunks write straight into
the state they update when it shares the operands' memory order. A program ending with
a full sum (a loss over its terms) sums each chunk and adds the partial sums in chunk
order: the summed array is never written out.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from graphgrad.ir.fused import is_full_sum, split_by_output_shape

from .base import run_parts
from .numpy_backend import sigmoid32, where_kernel, zeros_of

# op -> ufunc name (called as np.<ufunc>(*args, out=...))
UFUNCS = {
    "add": "add", "sub": "subtract", "mul": "multiply", "div": "true_divide",
    "neg": "negative", "pow": "power", "exp": "exp", "log": "log", "log1p": "log1p",
    "sqrt": "sqrt", "abs": "absolute", "sin": "sin", "cos": "cos", "tanh": "tanh",
    "sign": "sign", "maximum": "maximum", "minimum": "minimum", "eq": "equal",
    "ne": "not_equal", "lt": "less", "le": "less_equal", "gt": "greater",
    "ge": "greater_equal", "logical_not": "logical_not", "logical_and": "logical_and",
    "logical_or": "logical_or",
}

# 0-d steps run as operators on NumPy scalars: ~10x cheaper than a ufunc call on a 0-d
# array, with the same float32/float64 rounding (the bias corrections of Adam, say).
SCALAR_OPERATORS = {"add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}",
                    "div": "{0} / {1}", "neg": "-{0}", "pow": "{0} ** {1}",
                    "maximum": "max({0}, {1})", "minimum": "min({0}, {1})"}

CHUNK = 1 << 17  # elements per chunk: measured best here (fewer Python calls, still cached)
PARALLEL_MIN = 1 << 18  # below this, threads cost more than they save
_pool = None
_CPUS = os.cpu_count() or 1  # (read once: ~7 µs a call here, it reads /sys)


def _threads() -> int:
    """Two threads where there are two cores, or fewer where OMP_NUM_THREADS says so
    (as PyTorch's intra-op threads follow it; read at each call, as they do)."""
    try:
        limit = int(os.environ.get("OMP_NUM_THREADS", "2"))
    except ValueError:
        limit = 2
    return max(1, min(2, limit, _CPUS))


def _executor():
    global _pool
    if _pool is None:  # (the calling thread runs one range itself)
        _pool = ThreadPoolExecutor(max(1, _threads() - 1), thread_name_prefix="graphgrad-fused")
    return _pool


def _last_reads(program) -> dict[int, int]:
    n_in = program.n_inputs
    last = {}
    for i, step in enumerate(program.steps):
        for a in step.args:
            last[a] = i
    for o in program.outputs:
        last[o] = len(program.steps)
    for r in range(n_in + len(program.steps)):
        last.setdefault(r, -1)
    return last


# ops whose NumPy kernel takes `out=`, which may be one of its arguments (it reads each
# element before writing it): a fused step of them gets buffers as inline steps do
OUT_KERNELS = {"gelu", "gelu_backward", "relu_backward"}


def _writes_out(step) -> bool:
    return _inline(step) or step.op in OUT_KERNELS


def _inline(step) -> bool:
    """Whether a step is written as ufunc calls (else it calls the backend's kernel)."""
    return step.op in UFUNCS or step.op in ("relu", "identity", "where") \
        or is_full_sum(step) or (
        step.op == "pow_scalar" and step.attrs["exponent"] == 2) or (
        step.op == "sigmoid" and np.dtype(step.dtype) == np.float32)


def _scalar_line(step, args, target) -> str | None:
    """A 0-d step written on NumPy scalars, or None when it has no scalar form."""
    if step.shape or step.op not in SCALAR_OPERATORS and step.op not in (
            "cast", "sqrt", "exp", "log", "pow_scalar"):
        return None
    if step.op in SCALAR_OPERATORS:
        expr = SCALAR_OPERATORS[step.op].format(*args)
        if step.op in ("maximum", "minimum"):  # keep NumPy's NaN propagation
            expr = f"np.{UFUNCS[step.op]}({', '.join(args)})"
        return f"{target} = {expr}"
    if step.op == "cast":
        return f"{target} = np.{np.dtype(step.attrs['dtype']).name}({args[0]})"
    if step.op == "pow_scalar":
        return f"{target} = {args[0]} ** np.{np.dtype(step.dtype).name}" \
               f"({step.attrs['exponent']!r})"
    return f"{target} = np.{UFUNCS[step.op]}({args[0]})"


def _on_scalars(program, step) -> bool:
    return all(not program.register_type(a)[0] for a in step.args)


def _is_scalar_step(program, step) -> bool:
    return _on_scalars(program, step) and _scalar_line(step, ["x"] * len(step.args), "y") \
        is not None


def _inputs_of_scalar_steps(program) -> set[int]:
    return {a for step in program.steps if _is_scalar_step(program, step)
            for a in step.args if a < program.n_inputs}


def _step_line(step, args, target, out_expr, zeros=None) -> str:
    # `out` positionally, and only when there is one: the ufunc call parses no keywords
    # (~0.05 us a step on small arrays)
    out = "" if out_expr == "None" else f", {out_expr}"
    if step.op in ("maximum", "minimum", "relu") and out:
        out = f", out={out_expr}"  # (NumPy deprecates a positional out for these two)
    if step.op in UFUNCS:
        return f"{target} = u_{UFUNCS[step.op]}({', '.join(args)}{out})"
    if step.op == "sigmoid" and np.dtype(step.dtype) == np.float32:
        # (a 0-d step runs on NumPy scalars, which cannot be written into: no out)
        return f"{target} = sigmoid32({args[0]}{out if step.shape else ''})"
    if step.op == "relu":  # a zero of the step's dtype: a Python 0 would make bools int64
        if np.dtype(step.dtype).kind == "f":  # an array of zeros: NumPy's fast loop
            zero = zeros or f"zeros_of({args[0]}.shape, {args[0]}.dtype)"
        else:
            zero = f"np.{np.dtype(step.dtype).name}(0)"
        return f"{target} = u_maximum({args[0]}, {zero}{out})"
    if step.op == "pow_scalar" and step.attrs["exponent"] == 2:
        return f"{target} = u_multiply({args[0]}, {args[0]}{out})"
    if step.op == "identity":
        return f"{target} = copy({args[0]}, {out_expr})"
    if is_full_sum(step):  # (of a whole array, or in chunks of any shape: axis None)
        return f"{target} = u_add.reduce({args[0]}, None)"
    if step.op == "where":
        return f"{target} = where({', '.join(args)}, {out_expr})"
    kw = ", ".join(f"{k}={k}_{target}" for k in step.attrs)
    if step.op in OUT_KERNELS and out_expr != "None":
        kw = ", ".join(([kw] if kw else []) + [f"out={out_expr}"])
    return f"{target} = k_{step.op}({', '.join(args + ([kw] if kw else []))})"


def _where(c, a, b, out):
    """where(c, a, b), into `out` when it is given and the select is a masking."""
    return where_kernel(c, a, b, out=None if out is c else out)


def _copy(a, out):
    if out is None:  # C order unless `a` is Fortran-ordered: a reshape follows most copies
        return np.array(a, order="A")
    np.copyto(out, a)
    return out


def _stacked_sums(program) -> dict[int, int]:
    """Summed register -> its row in one stack, for a program with two or more full
    sums of arrays of one shape and dtype (a loss and the gradients of a scalar fit).
    Each array is written into its row and the rows are summed by one
    `add.reduce(..., axis=1)` where the first of these sums was: on small arrays a
    reduction's call costs ~1 us, more than its work, and each row is summed as the
    array alone would be. Only arrays made before that point, by a step that writes
    into the out= it is given, and not outputs of the program. Empty when none apply."""
    n_in, outputs = program.n_inputs, set(program.outputs)
    groups: dict[tuple, list[int]] = {}
    first: dict[tuple, int] = {}  # where each group's reduction goes
    for i, step in enumerate(program.steps):
        if not is_full_sum(step) or step.args[0] < n_in or step.args[0] in outputs:
            continue
        a = step.args[0]
        maker = program.steps[a - n_in]
        if not _inline(maker) or maker.op in ("where", "sum") or not maker.shape:
            continue
        key = (tuple(maker.shape), np.dtype(maker.dtype))
        if a - n_in < first.setdefault(key, i) and a not in groups.setdefault(key, []):
            groups[key].append(a)
    best = max(groups.values(), key=len, default=[])
    return {a: j for j, a in enumerate(best)} if len(best) >= 2 else {}


def generate(program, kernels, fixed_shapes: bool = True) -> tuple[str, dict]:
    """Source of `fused(r0, r1, ..., out=None, scratch=None)` and its namespace. With
    `fixed_shapes` (not run in chunks), arrays a step needs for its shape are bound up
    front; without (run in chunks), each temporary of the chunk's shape is written into
    `scratch[k]`, a buffer the caller keeps from chunk to chunk (`ns["SCRATCH"]` lists
    their dtypes): no allocation, and no fresh pages to fault in, per chunk."""
    n_in = program.n_inputs
    last = _last_reads(program)
    ns = {"np": np, "copy": _copy, "where": _where, "zeros_of": zeros_of,
          "sigmoid32": sigmoid32}
    ns.update((f"u_{name}", getattr(np, name)) for name in UFUNCS.values())
    out_pos = {r: k for k, r in enumerate(program.outputs)}
    lines = [f"def fused({', '.join(f'r{i}' for i in range(n_in))}{',' if n_in else ''} "
             f"out=None, scratch=None):"]
    ns["SCRATCH"] = scratch = []
    chunk_shape = None if fixed_shapes else program.extent(program.outputs[0])
    lines.append(f"    outs = out if out is not None else (None,) * {len(program.outputs)}")
    # 0-d inputs read by 0-d steps get a NumPy-scalar twin `s<a>` for them; steps over
    # arrays keep the 0-d array, which NumPy's ufuncs take ~0.2 us faster than a scalar.
    scalar_inputs = _inputs_of_scalar_steps(program)
    for a in scalar_inputs:
        lines.append(f"    s{a} = r{a}[()] if type(r{a}) is ndarray else r{a}")
    ns["ndarray"] = np.ndarray
    stacked = _stacked_sums(program) if fixed_shapes else {}
    if stacked:
        sh, dt = program.register_type(next(iter(stacked)))
        ns["STACK_SHAPE"], ns["STACK_DTYPE"] = (len(stacked), *sh), np.dtype(dt)
        lines.append("    stack = np.empty(STACK_SHAPE, STACK_DTYPE)")
        for a in stacked:
            last[a] = len(program.steps)  # (no later step may take its buffer)
        sums = [(n_in + i, stacked[step.args[0]]) for i, step in enumerate(program.steps)
                if is_full_sum(step) and step.args[0] in stacked]  # (an array summed
        # twice, without cse, has two)
    free: list[int] = []  # dead temporaries (registers made by this function)
    for i, step in enumerate(program.steps):
        r = n_in + i
        args = [f"r{a}" for a in step.args]
        if stacked and is_full_sum(step) and step.args[0] in stacked:
            if r == sums[0][0]:  # all of them, where the first one was; (indexing makes
                # scalars ~0.2 us faster each than unpacking)
                rows = "stack" if len(sh) == 1 else f"stack.reshape({len(stacked)}, -1)"
                lines.append(f"    totals = u_add.reduce({rows}, 1)")
                lines += [f"    r{t} = totals[{j}]" for t, j in sums]
            continue
        scalar = _scalar_line(step, [f"s{a}" if a in scalar_inputs else f"r{a}"
                                     for a in step.args], f"r{r}") \
            if _on_scalars(program, step) else None
        if scalar is not None:
            lines.append("    " + scalar)
            continue
        if not _inline(step):
            ns[f"k_{step.op}"] = kernels[step.op]
            for k, v in step.attrs.items():
                ns[f"{k}_r{r}"] = v
        out_expr = "None"
        if step.shape and r in out_pos:  # (0-d results are NumPy scalars: nothing to reuse)
            later_inputs = [f"r{a}" for a in range(n_in) if last[a] > i]
            lines.append(f"    o = outs[{out_pos[r]}]")
            if later_inputs:
                clash = " or ".join(f"o is {x}" for x in later_inputs)
                lines.append(f"    if o is not None and ({clash}): o = None")
            out_expr = "o"
        if r in stacked:
            out_expr = f"stack[{stacked[r]}]"
        # Temporaries that die at this very step come first: a ufunc may write in place.
        dying = [a for a in dict.fromkeys(step.args) if a >= n_in and last[a] == i
                 and a not in out_pos and program.register_type(a)[0]]
        if out_expr == "None" and step.shape and _writes_out(step):
            for buf in dying + free:
                sh, dt = program.register_type(buf)
                if tuple(sh) == tuple(step.shape) and np.dtype(dt) == np.dtype(step.dtype):
                    (dying if buf in dying else free).remove(buf)
                    out_expr = f"r{buf}"
                    break
        if out_expr == "None" and _writes_out(step) and tuple(step.shape) == chunk_shape \
                and r not in out_pos:
            out_expr = f"scratch[{len(scratch)}]"
            scratch.append(np.dtype(step.dtype))
        zeros = None
        if fixed_shapes and step.op == "relu" and step.shape:
            zeros = f"ZEROS_{r}"
            ns[zeros] = zeros_of(tuple(step.shape), np.dtype(step.dtype))
        lines.append("    " + _step_line(step, args, f"r{r}", out_expr, zeros))
        free.extend(dying)
        if last[r] == i and r not in out_pos and step.shape:
            free.append(r)
    outs = ", ".join(f"r{o}" for o in program.outputs)
    lines.append(f"    return {outs}")
    return "\n".join(lines) + "\n", ns


def _chunkable(program) -> bool:
    """Large, and every operand and output has the output's shape or is a scalar."""
    shape = program.extent(program.outputs[0])
    if int(np.prod(shape, dtype=np.int64)) < 2 * CHUNK:
        return False
    if any(program.extent(r) != shape for r in program.outputs):
        return False
    regs = [program.register_type(r)[0] for r in range(program.n_inputs + len(program.steps))]
    return all(tuple(s) == tuple(shape) or int(np.prod(s, dtype=np.int64)) == 1 for s in regs)


def _trailing(s, shape) -> int | None:
    """How many trailing dims of `shape` a register of shape `s` spans, where `s` is
    those dims with leading 1s (a bias of a Linear layer: (512,) of (2048, 512));
    None where it is anything else."""
    dims = tuple(s)
    while dims and dims[0] == 1:
        dims = dims[1:]
    if dims and len(dims) < len(shape) and dims == tuple(shape[len(shape) - len(dims):]):
        return len(dims)
    return None


def _row_width(program) -> int | None:
    """For a large program whose registers have the output's shape, are scalars, or
    span the same trailing dims of it (a bias added before an activation: the GELU of
    a transformer's MLP), the number of elements those dims hold: the program then runs
    in chunks of whole rows of that width, the trailing operands broadcasting along the
    rows. None where it does not apply."""
    shape = program.extent(program.outputs[0])
    if int(np.prod(shape, dtype=np.int64)) < 2 * CHUNK or \
            any(program.extent(r) != shape for r in program.outputs):
        return None
    spans = set()
    for r in range(program.n_inputs + len(program.steps)):
        s = tuple(program.register_type(r)[0])
        if s != shape and int(np.prod(s, dtype=np.int64)) != 1:
            spans.add(_trailing(s, shape))
    if len(spans) != 1 or None in spans:
        return None
    width = int(np.prod(shape[len(shape) - spans.pop():], dtype=np.int64))
    return width if width <= CHUNK // 4 else None


def compile_program(program, kernels):
    """A callable for `program` (see the module docstring)."""
    parts = split_by_output_shape(program)
    if len(parts) > 1 and any(_chunkable(sub) for sub, _, _ in parts):
        # e.g. SGD's updates of differently shaped parameters, welded by their shared
        # lr: one function per shape, so that the large ones run in chunks
        return run_parts([(compile_program(sub, kernels), ins, outs)
                          for sub, ins, outs in parts], len(program.outputs))
    width = 1 if _chunkable(program) else _row_width(program)
    if all(step.op == "identity" for step in program.steps):
        width = None  # a copy is one pass: chunks would only add calls (and threads)
    source, ns = generate(program, kernels, fixed_shapes=width is None)
    exec(compile(source, "<graphgrad fused numpy>", "exec"), ns)  # noqa: S102
    fused = ns["fused"]
    fused.source = source
    if width is None:
        return fused
    chunked = _chunked_runner(program, fused, ns["SCRATCH"], width)
    chunked.source = source
    return chunked


def _chunked_runner(program, fused, scratch_dtypes, width: int):
    """`fused` run over chunks of CHUNK elements (width 1: of the flattened arrays) or of
    whole rows of `width` elements (the operands of fewer dims broadcast along them).
    Operands that are not all contiguous in one order (a transposed view: attention's
    heads merged back) are chunked along their leading axis as they are, strided: the
    ufuncs read them in place, with no copy made first."""
    shape = program.extent(program.outputs[0])
    dtypes = [d for _, d in program.output_types]
    # outputs that are full sums: each chunk returns its partial sum, added up at the end
    sums = [r >= program.n_inputs and is_full_sum(program.steps[r - program.n_inputs])
            for r in program.outputs]
    size = int(np.prod(shape, dtype=np.int64))
    kinds = [_operand_kind(s, shape) for s, _ in program.input_types]
    single = len(dtypes) == 1
    rows = size // width
    inner = int(np.prod(shape[1:], dtype=np.int64))
    layouts = {  # layout -> (units, units per chunk, scratch shape)
        "flat": (size, CHUNK, (CHUNK,)),
        "rows": (rows, max(1, CHUNK // width), (max(1, CHUNK // width), width)),
        "strided": (shape[0] if shape else 1, max(1, CHUNK // max(inner, 1)),
                    (max(1, CHUNK // max(inner, 1)),) + shape[1:]),
    }

    def run_range(views, out_views, aliases, partials, lo, hi, layout):
        _, step, scratch_shape = layouts[layout]
        buffers = [np.empty(scratch_shape, dt) for dt in scratch_dtypes]  # reused by chunks
        for start in range(lo, hi, step):
            stop = min(start + step, hi)
            scratch = buffers if stop - start == step else [b[:stop - start] for b in buffers]
            part = [a[start:stop] if k == "full" else a for a, k in zip(views, kinds)]
            # an output updating an input in place gets that input's very chunk, so the
            # function's own checks (`o is r2`) see the overlap, and where they decline
            # it (a later step still reads the input), the chunk's result is copied in
            outs = tuple(None if o is None else o[start:stop] if i is None else part[i]
                         for o, i in zip(out_views, aliases))
            results = fused(*part, out=outs, scratch=scratch)
            for j, (o, r) in enumerate(zip(outs, (results,) if single else results)):
                if sums[j]:
                    partials[j][start] = r
                elif r is not o:
                    o[...] = r

    def chunked(*arrays, out=None):
        order = _common_order([a for a, k in zip(arrays, kinds) if k == "full"])
        if width > 1 and order == "F":  # rows need C order
            order = None
        layout = "strided" if order is None else "flat" if width == 1 else "rows"
        targets = []
        for k, dt in enumerate(dtypes):
            t = out[k] if out is not None and not sums[k] else None
            if not sums[k] and (t is None or not _in_place_ok(t, arrays, order)):
                t = np.empty(shape, dt, order=order or "C")
            targets.append(t)
        views = [_chunk_view(a, k, order, width, layout) for a, k in zip(arrays, kinds)]
        out_views = [None if t is None else _chunk_view(t, "full", order or "C", width, layout)
                     for t in targets]
        aliases = [next((i for i, a in enumerate(arrays) if a is t), None) for t in targets]
        partials = [{} for _ in targets]  # per sum output: chunk start -> its partial sum
        units, step, _ = layouts[layout]
        threads = _threads() if size >= PARALLEL_MIN and units >= 2 * step else 1
        bounds = [units * i // threads // step * step for i in range(threads)] + [units]
        # the pool takes all ranges but the first, which this thread runs itself: it is
        # running already (a woken worker may wait for a core on a busy machine)
        jobs = [_executor().submit(run_range, views, out_views, aliases, partials, lo, hi,
                                   layout) for lo, hi in zip(bounds[1:-1], bounds[2:])]
        try:
            run_range(views, out_views, aliases, partials, bounds[0], bounds[1], layout)
        finally:
            for job in jobs:
                job.result()
        for k, dt in enumerate(dtypes):
            if sums[k]:  # added in chunk order: the same number with one thread or two
                targets[k] = np.add.reduce(
                    np.array([partials[k][s] for s in sorted(partials[k])], dtype=dt))
        return targets[0] if single else tuple(targets)

    return chunked


def _operand_kind(s, shape) -> str:
    """'full' (the output's shape), 'scalar' (one element) or 'row' (trailing dims)."""
    if tuple(s) == tuple(shape):
        return "full"
    return "scalar" if int(np.prod(s, dtype=np.int64)) == 1 else "row"


def _chunk_view(a, kind: str, order, width: int, layout: str):
    """An operand as the chunks index it: flat (width 1) or (rows, width) when full, 0-d
    when a scalar, (width,) when it spans trailing dims (broadcast along the rows); in
    the strided layout, full and row operands as they are."""
    if kind == "scalar":
        return np.asarray(a).reshape(())
    if layout == "strided":
        return a
    if kind == "row":
        return np.ascontiguousarray(a).reshape(-1)
    flat = a.reshape(-1, order=order)
    return flat if width == 1 else flat.reshape(-1, width)


def _common_order(arrays) -> str | None:
    """"C" or "F" when every array is contiguous in that order (then the chunks are
    slices of their memory, in place), else None (strided chunks of the leading axis)."""
    if all(a.flags.c_contiguous for a in arrays):
        return "C"
    if all(a.flags.f_contiguous for a in arrays):
        return "F"
    return None


def _in_place_ok(target, arrays, order) -> bool:
    """Whether chunks may write into `target`: it must be contiguous in the chunks'
    order, and may overlap an input only by being that very array (an update in place,
    which reads each element before the same chunk writes it)."""
    if not (target.flags.f_contiguous if order == "F" else target.flags.c_contiguous):
        return False
    return not any(a is not target and np.may_share_memory(a, target) for a in arrays
                   if isinstance(a, np.ndarray))

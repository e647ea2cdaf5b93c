"""`graphgrad render SCRIPT.py:NAME --input-shape 32,64 --input-shape 32:int64 -o out.svg`.

NAME is a function (traced on inputs of the given shapes), an `nn.Module` instance
or class (anything callable with `parameters()`; a class is instantiated with no
arguments), or a `gg.compile`'d function (drawn from its cache when it has been
called in the script, else traced). For a model, the diagram shows its forward pass
and, unless `--part forward`, the backward pass of `output.sum()` (that `sum` is
labelled as the implicit loss). `--per-parameter-updates`, `--show-dead` and
`--module-depth N` choose what the default view summarizes or hides.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
from pathlib import Path

from graphgrad.errors import GraphgradError
from graphgrad.ir import tracing

from .api import render


def parse_spec(text: str):
    """`32,64` -> Spec((32, 64), float32); `32:int64` -> Spec((32,), int64); `:f64` a scalar."""
    from graphgrad.trace import Spec

    shape_text, _, dtype = text.partition(":")
    try:
        shape = tuple(int(s) for s in shape_text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise GraphgradError(f"--input-shape {text!r}: expected comma-separated sizes, e.g. "
                             "32,64 or 32:int64") from None
    return Spec(shape, dtype or "float32")


def load_object(target: str):
    """The object named by `SCRIPT.py:NAME` (NAME may be dotted), running the script."""
    script, sep, name = target.rpartition(":")
    if not sep or not script or not name:
        raise GraphgradError(f"{target!r}: expected SCRIPT.py:FUNCTION_OR_MODEL")
    path = Path(script)
    if not path.is_file():
        raise GraphgradError(f"{script}: no such file")
    spec = importlib.util.spec_from_file_location(f"_graphgrad_render_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            names = sorted(n for n in vars(module) if not n.startswith("_"))
            raise GraphgradError(f"{script} has no {name!r}; it defines: {', '.join(names)}")
        obj = getattr(obj, part)
    return obj


IMPLICIT_LOSS = "implicit loss: output.sum(), differentiated by the diagram"


def name_node(t, name: str) -> None:
    """While tracing, give the node of symbolic tensor `t` a name the diagram shows."""
    tracer = tracing.current
    if tracer is not None and t._value is None and t._tracer is tracer:
        tracer.graph[t._node]["name"] = name


def is_model(obj) -> bool:
    return callable(obj) and callable(getattr(obj, "parameters", None))


def graph_of(obj, specs, part: str, optimized: bool = False):
    """What to draw for `obj`: a compiled function as is, else a Graph traced from `specs`."""
    import graphgrad as gg

    if inspect.isclass(obj) and callable(getattr(obj, "parameters", None)):
        try:
            obj = obj()
        except TypeError as e:
            raise GraphgradError(f"cannot create {obj.__name__}() without arguments ({e}); "
                                 "name an instance made in the script instead") from None
    if getattr(obj, "last", None) is not None and hasattr(obj, "entries"):
        return obj
    if not callable(obj):
        raise GraphgradError(f"cannot draw a {type(obj).__name__}: name a function or a model")
    fn = obj.fn if hasattr(obj, "entries") else obj  # an uncalled compiled fn: trace its body
    if is_model(fn) and part != "forward":
        model = fn

        def fn(*inputs):
            out = model(*inputs)
            loss = out.sum()
            name_node(loss, IMPLICIT_LOSS)
            loss.backward()
            return out

        try:  # name the inputs after the model's own arguments (x, not inputs)
            fn.__signature__ = inspect.signature(getattr(model, "forward", model))
        except (TypeError, ValueError):
            pass
    if not specs:
        raise GraphgradError("give the input shapes to trace with, e.g. --input-shape 32,64 "
                             "(one per argument; add :int64 for integer inputs)")
    graph = gg.trace(fn, *specs)
    return optimize(graph) if optimized else graph


def optimize(graph):
    """`graph` after gg.compile's default pass pipeline (fusion included)."""
    from graphgrad.backends.registry import default_backend
    from graphgrad.passes import PassContext, run_passes

    optimized, _ = run_passes(graph, "default", PassContext(backend=default_backend()))
    return optimized


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="graphgrad render", description=__doc__.split("\n\n")[0])
    p.add_argument("target", help="SCRIPT.py:FUNCTION_OR_MODEL")
    p.add_argument("--input-shape", action="append", default=[], metavar="SHAPE[:DTYPE]",
                   help="one per argument, e.g. 32,64 or 32:int64 (repeat)")
    p.add_argument("-o", "--output", help="output file: .svg, .png, .pdf or .dot "
                   "(default NAME.svg)")
    p.add_argument("--part", default="both", choices=["forward", "backward", "update", "both"])
    p.add_argument("--optimized", action="store_true",
                   help="draw a compiled function's optimized graph (fused groups)")
    p.add_argument("--no-scopes", action="store_true", help="no module clusters")
    p.add_argument("--no-legend", action="store_true")
    p.add_argument("--rankdir", default="TB", choices=["TB", "LR", "BT", "RL"])
    p.add_argument("--per-parameter-updates", action="store_true",
                   help="draw each parameter's optimizer update (default: one per optimizer)")
    p.add_argument("--show-dead", action="store_true",
                   help="draw values no result depends on (e.g. unused input gradients)")
    p.add_argument("--module-depth", type=int, default=None, metavar="N",
                   help="draw modules nested deeper than N as one node each "
                        "(default: only when the view would be too big)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        specs = [parse_spec(s) for s in args.input_shape]
        obj = graph_of(load_object(args.target), specs, args.part, args.optimized)
        output = args.output or f"{args.target.rpartition(':')[2]}.svg"
        path = render(obj, output, part=args.part, optimized=args.optimized,
                      scopes=not args.no_scopes, legend=not args.no_legend,
                      rankdir=args.rankdir, dead=args.show_dead,
                      updates="parameter" if args.per_parameter_updates else "optimizer",
                      module_depth=args.module_depth)
    except GraphgradError as e:
        print(f"graphgrad render: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0

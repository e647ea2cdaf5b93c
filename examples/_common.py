"""What every example shares: its command line, its backend and seed, and its diagrams.

Each example is run as `python examples/NAME.py [--backend B] [--epochs N] [--out DIR]`
and exposes `main(argv) -> dict` (what it learned) so tests can run it in-process.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import graphgrad as gg
import graphgrad.viz  # noqa: F401  (makes gg.viz available)


def parse_args(argv: list[str] | None, description: str, epochs: int,
               extra=None) -> argparse.Namespace:
    """The options every example takes (`--backend`, `--epochs`, `--out`, `--seed`).

    `extra(parser)` adds an example's own options.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backend", default="numpy",
                        help="backend to train on (see `graphgrad backends`; default numpy)")
    parser.add_argument("--epochs", type=int, default=epochs,
                        help=f"training epochs (default {epochs})")
    parser.add_argument("--out", type=Path, default=Path("out"),
                        help="folder for the diagrams and plots (default out/)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    if extra is not None:
        extra(parser)
    return parser.parse_args(argv)


def setup(args: argparse.Namespace) -> None:
    """Make `args.backend` the default for new tensors, seed it, and create `args.out`.

    A backend that cannot run here ends the example with argparse's one-line error (and
    exit status 2), saying why and what is available, not with a traceback."""
    try:
        gg.set_default_backend(args.backend)
    except gg.BackendError as e:
        message = str(e).replace(f" (at {e.source})", "")
        print(f"{Path(sys.argv[0]).name}: error: --backend {args.backend}: {message}",
              file=sys.stderr)
        raise SystemExit(2) from None
    gg.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)


def render(obj, path: Path, **options) -> Path:
    """Draw `obj` to `path` with gg.viz; without Graphviz's `dot`, write its DOT source.

    The example then still finishes, and says how to install Graphviz.
    """
    try:
        return gg.viz.render(obj, path, **options)
    except gg.viz.GraphvizMissing as e:
        print(f"note: {e}", file=sys.stderr)
        return path.with_suffix(".dot")


def write_diagrams(obj, out: Path, name: str, parts=("forward", "backward")) -> list[Path]:
    """Draw each part of `obj`'s graph to `out/NAME_PART.svg` and say where they went."""
    written = [render(obj, out / f"{name}_{part}.svg", part=part) for part in parts]
    print("diagrams: " + ", ".join(str(p) for p in written))
    return written


def add_distributed_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the processes of `mpirun -n N` (the global "
                             "batch is split over the ranks; rank 0 prints)")


def data_parallel(args: argparse.Namespace, model, train_set, batch_size: int):
    """`(model, loader options, is_main)`: with `--distributed`, the model wrapped in
    DistributedDataParallel and each rank reading its share of every global batch;
    otherwise the model as it is and a shuffled loader."""
    if not getattr(args, "distributed", False):
        return model, dict(batch_size=batch_size, shuffle=True, drop_last=True), True
    import graphgrad.distributed as dist

    group = dist.init()
    if batch_size % group.size:
        raise SystemExit(f"--batch-size {batch_size} must divide over {group.size} ranks")
    sampler = dist.DistributedSampler(train_set, seed=args.seed, drop_last=True)
    options = dict(batch_size=batch_size // group.size, sampler=sampler, drop_last=True)
    return dist.DistributedDataParallel(model), options, group.rank == 0

"""Graph passes: separate, composable rewrites run by the pass manager.

Each pass is a function `pass_(graph, ctx) -> Graph` in its own module. A pass may
rewrite the graph it is given in place and return it; callers that need the input
kept pass a copy (`run_passes` does). `ctx` carries what a pass may need to know about
the compilation (the target backend, for constant folding), never a concrete backend
module.
"""

from .manager import DEFAULT_PIPELINE, PassContext, PassStats, available_passes, run_passes

__all__ = ["DEFAULT_PIPELINE", "PassContext", "PassStats", "available_passes", "run_passes"]

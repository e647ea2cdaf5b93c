"""graphgrad.viz: Graphviz diagrams of forward and backward graphs.

    gg.viz.to_dot(obj, part="both")        -> graphviz.Digraph
    gg.viz.render(obj, "step.svg")         -> writes svg / png / pdf / dot
    graphgrad render model.py:train_step --input-shape 32,64 --input-shape 32:int64

`obj` is a Graph, a gg.compile'd function, or an eager Tensor. viz only reads
Graphs; nothing runs in it. Real models stay legible by default: one update node per
optimizer (`updates="parameter"` draws each parameter's), no dead values
(`dead=True`), modules deeper than `module_depth` drawn as one node each (chosen
automatically when a view would pass `max_nodes` computed nodes).
"""

from .api import (
    GraphvizMissing,
    dot_available,
    render,
    repr_mimebundle,
    repr_svg,
    resolve,
    to_dot,
)
from .dot import graph_to_dot
from .eager import graph_of_tensors

__all__ = ["GraphvizMissing", "dot_available", "graph_of_tensors", "graph_to_dot", "render",
           "repr_mimebundle", "repr_svg", "resolve", "to_dot"]

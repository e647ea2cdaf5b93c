"""Phases read left to right in execution order: forward, backward, optimizer update.

Oracle: the phases' execution order, checked on the x extent of each phase cluster's
outline in the SVG that `dot` lays out. Graphviz reorders clusters freely unless the
diagram pins them: without the ordering spine the two-layer step comes out mirrored.
"""

import re
import xml.etree.ElementTree as ET

import pytest
from viz_helpers import FULL, mlp_adam_step, needs_dot, traced, two_layer_sgd_step

import graphgrad as gg
from graphgrad.viz import to_dot

SVG = "{http://www.w3.org/2000/svg}"


def phase_extents(svg: str) -> dict[str, tuple[float, float]]:
    """phase -> (left, right) of its cluster's outline."""
    out = {}
    for g in ET.fromstring(svg).iter(f"{SVG}g"):
        classes = (g.get("class") or "").split()
        if "gg-phase" in classes:
            phase = next(c for c in classes if c.startswith("phase-")).removeprefix("phase-")
            outline = next(g.iter(f"{SVG}path"), None)
            if outline is None:  # Element truthiness is its child count: compare with None
                outline = next(g.iter(f"{SVG}polygon"))
            coords = outline.get("d") or outline.get("points")
            xs = [float(x) for x in re.findall(r"(-?[\d.]+),-?[\d.]+", coords)]
            out[phase] = (min(xs), max(xs))
    return out


def steps():
    step, _ = two_layer_sgd_step()
    yield "two-layer SGD", gg.trace(step, gg.Spec((5, 4)), gg.Spec((5, 3)))
    step, _ = mlp_adam_step()
    yield "MLP Adam", traced(step)


@needs_dot
@pytest.mark.parametrize("name", ["two-layer SGD", "MLP Adam"])
def test_forward_then_backward_then_update(name):
    graph = dict(steps())[name]
    extents = phase_extents(to_dot(graph, **FULL).pipe(format="svg", encoding="utf-8"))
    assert set(extents) == {"forward", "backward", "update"}
    assert extents["forward"][1] < extents["backward"][0]
    assert extents["backward"][1] < extents["update"][0]

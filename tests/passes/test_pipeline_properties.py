"""Every pass, alone and in the whole pipeline, preserves results (property tests).

Oracle: the unoptimized graph run by the reference interpreter, in float64, on random
expression programs with their gradients; every optimized graph must also pass
`verify()`.
"""

import numpy as np
from hypothesis import given, settings
from random_programs import build, inputs_for, programs

import graphgrad as gg
from graphgrad.passes import PassContext, run_passes

PIPELINES = [["dce"], ["cse"], ["fold"], ["simplify"], ["fusion"], ["memory"],
             ["fusion", "memory"], "default"]
# (pipeline, backend the passes are told about): NumPy's fused programs take full sums
CONTEXTS = [(p, None) for p in PIPELINES] + [(p, "numpy") for p in (["fusion"], "default")]


def _graph(shapes, instrs):
    specs = [gg.Spec(s, "float64") for s in shapes]
    return gg.differentiate(gg.trace(build(instrs), *specs))


@settings(max_examples=40, deadline=None)
@given(programs())
def test_each_pass_preserves_values_and_gradients(program):
    shapes, instrs = program
    graph = _graph(shapes, instrs).verify()
    args = inputs_for(shapes)
    expected = [t.numpy() for t in gg.run_graph(graph, *args)]
    for pipeline, backend in CONTEXTS:
        ctx = PassContext(backend=backend and gg.backends.get_backend(backend), debug=True)
        optimized, _ = run_passes(graph, pipeline, ctx)
        optimized.verify()
        got = [t.numpy() for t in gg.run_graph(optimized, *args)]
        for e, g in zip(expected, got):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12,
                                       err_msg=f"{pipeline} {backend}")


@settings(max_examples=25, deadline=None)
@given(programs())
def test_compiled_step_matches_eager(program):
    """gg.compile with the default pipeline gives eager's value and input gradients."""
    shapes, instrs = program
    fn = build(instrs)
    args = inputs_for(shapes, seed=1)

    def step(*xs):
        loss = fn(*xs)
        loss.backward()
        return loss

    eager_in = [gg.tensor(a, dtype="float64", requires_grad=True) for a in args]
    eager = step(*eager_in)
    compiled_in = [gg.tensor(a, dtype="float64", requires_grad=True) for a in args]
    got = gg.compile(step)(*compiled_in)
    np.testing.assert_allclose(got.numpy(), eager.numpy(), rtol=1e-10)
    for e, c in zip(eager_in, compiled_in):
        if e.grad is None:
            assert c.grad is None
        else:
            np.testing.assert_allclose(c.grad.numpy(), e.grad.numpy(), rtol=1e-9, atol=1e-12)

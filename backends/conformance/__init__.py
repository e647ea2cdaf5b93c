"""graphgrad's backend conformance suite: a pytest plugin any backend can run.

    graphgrad conformance NAME [--ops exp,sum] [pytest options]
    pytest --pyargs graphgrad.backends.conformance --backend NAME

For every registered op it calls the op's kernel on the op's `samples()` (every dtype
the op takes; broadcasting, 0-d, empty and strided inputs; large and tiny magnitudes;
NaN/Inf) and compares with the NumPy float64 reference, checking on the way the rules
one call can break (the result is an array of the op's shape and dtype; the operands
come back unchanged); checks VJPs against finite differences (`gg.gradcheck` on the
backend), blaming a failure on the kernel that disagrees with the reference; fused
elementwise programs against the same steps unfused (with `out=` buffers, fresh or
aliasing inputs, and Python-number inputs); each optional member on its own
(`specialize`, `pack`/`views`, `column_major`); `from_numpy` copying; random ops;
error behaviour; and short compiled training steps (training.py) against the NumPy
backend. Every failure names the op and operands, and the contract rule it breaks
(`graphgrad.backends.base.RULES`). A backend's `unsupported_ops`, `unsupported_dtypes`
and `expected_failures` become skips and xfails with reasons; the run ends with the
failures grouped by cause and the per-op report, its last lines. `opref.py` generates
the op reference (`graphgrad ops`, docs/ops.md).
"""

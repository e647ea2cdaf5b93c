"""graphgrad's backend conformance suite: a pytest plugin any backend can run.

    graphgrad conformance NAME
    pytest --pyargs graphgrad.backends.conformance --backend NAME

For every registered op it runs the op's `samples()` (every dtype the op takes;
broadcasting, 0-d, empty and strided inputs; large and tiny magnitudes; NaN/Inf)
against the NumPy float64 reference, checks VJPs against finite differences
(`gg.gradcheck` on the backend), fused elementwise programs against the same steps
unfused, result shapes and dtypes, random ops, conversions and error behaviour.
A backend's `unsupported_ops`, `unsupported_dtypes` and `expected_failures` become
skips and xfails with reasons; the run ends with a per-op report.
"""

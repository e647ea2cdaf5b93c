"""How a tensor prints: PyTorch's layout, so printouts read like the tutorials'.

Floats get one shared format per tensor, as PyTorch chooses it: whole numbers print as
`1.`; others with 4 decimals (`1.5000`); scientific notation (`1.0000e-05`) when the
nonzero magnitudes span more than a factor 1000, or reach past 1e8 or below 1e-4. Every
entry is right-aligned to the widest nonzero finite one. Integers and bools align to the
widest entry. Past 1000 elements, each dimension shows its first and last 3 entries.
"""

from __future__ import annotations

import math

import numpy as np

THRESHOLD, EDGE, LINEWIDTH, PRECISION = 1000, 3, 80, 4


def format_values(arr: np.ndarray, prefix: str = "tensor(") -> str:
    """The body of a tensor's repr: `[1.5000, 2.0000]`, `5.5000`, `[]`."""
    if arr.size == 0:
        return "[]"
    shown = _summarized(arr) if arr.size > THRESHOLD else arr
    fmt = _float_format(shown) if arr.dtype.kind == "f" else _plain_format(shown)
    text = np.array2string(arr, separator=", ", prefix=prefix, formatter={"all": fmt},
                           threshold=THRESHOLD, edgeitems=EDGE, max_line_width=LINEWIDTH)
    return text.replace(", ...,", ",  ...,")  # PyTorch's gap around the ellipsis


def _summarized(arr: np.ndarray) -> np.ndarray:
    """The entries a summarized printout shows (the first and last EDGE of each axis)."""
    for axis, n in enumerate(arr.shape):
        if n > 2 * EDGE:
            arr = np.concatenate([arr.take(range(EDGE), axis),
                                  arr.take(range(n - EDGE, n), axis)], axis)
    return arr


def _plain_format(shown: np.ndarray):
    width = max(len(str(v)) for v in shown.reshape(-1).tolist())
    return lambda v: str(v).rjust(width)


def _float_format(shown: np.ndarray):
    values = shown.reshape(-1).astype(np.float64)
    finite = np.abs(values[np.isfinite(values) & (values != 0)])
    spread = finite.size and (finite.max() / finite.min() > 1000.0 or finite.max() > 1e8)
    whole = bool(np.all(finite == np.ceil(finite)))
    if whole:
        text = (lambda v: f"{v:.{PRECISION}e}") if spread else (lambda v: f"{v:.0f}.")
    elif spread or finite.min() < 1e-4:
        text = lambda v: f"{v:.{PRECISION}e}"  # noqa: E731
    else:
        text = lambda v: f"{v:.{PRECISION}f}"  # noqa: E731
    signed = values[np.isfinite(values) & (values != 0)]
    width = max((len(text(v)) for v in signed.tolist()), default=1)

    def fmt(v) -> str:
        v = float(v)
        s = text(v) if math.isfinite(v) else ("nan" if math.isnan(v) else
                                                 "inf" if v > 0 else "-inf")
        return s.rjust(width)
    return fmt

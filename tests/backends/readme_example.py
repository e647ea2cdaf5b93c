"""The backend of README's "Writing a backend" section, and the run it shows.

    cd tests/backends && python readme_example.py

prints the tail of `graphgrad conformance readme_example:MyBackend --ops ...`, the
README's snippet. The backend starts from NumpyBackend, as README suggests, and
replaces two kernels: exp (computing in float64, a bug the run reports) and a
float32 sum whose 0-d result comes back as a Python float (another); erf is declared
unsupported.
"""

import shlex
import subprocess
import sys

import numpy as np

from graphgrad.backends.numpy_backend import NumpyBackend


class MyBackend(NumpyBackend):
    name = "mine"
    unsupported_ops = frozenset({"erf"})  # reported as unsupported, not as failures

    def __init__(self):
        super().__init__()
        del self.kernels["erf"]
        self.kernels["exp"] = lambda x: np.exp(x.astype(np.float64))  # bug: float64 out
        self.kernels["sum"] = lambda x, axis, keepdims: _sum(x, axis, keepdims)


def _sum(x, axis, keepdims):
    out = np.add.reduce(x, axis=axis, keepdims=keepdims)
    return float(out) if np.ndim(out) == 0 else out  # bug: a Python float for 0-d


COMMAND = ["graphgrad", "conformance", "readme_example:MyBackend", "--ops", "erf,exp,sum"]


def snippet() -> str:
    """The command, one failure message per cause, and the report (the run's end)."""
    proc = subprocess.run([sys.executable, "-m", "graphgrad.cli", *COMMAND[1:]],
                          capture_output=True, text=True)
    out = proc.stdout
    messages = [line.split("ConformanceFailure: ", 1)[1] for line in out.splitlines()
                if line.startswith("E ") and "ConformanceFailure: " in line]
    firsts = [next(m for m in messages if m.startswith(f"op {op!r}")) for op in ("exp", "sum")]
    report = out[out.rindex("=", 0, out.index(" graphgrad conformance report")) - 40:]
    report = report[report.index("\n", 1) + 1 if report.startswith("\n") else 0:]
    return "\n".join(["$ " + shlex.join(COMMAND), "...", *(f"E  {m[:150]}..." for m in firsts),
                      "...", report.strip()[report.strip().index("="):]])


if __name__ == "__main__":
    print(snippet())

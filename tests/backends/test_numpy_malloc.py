"""The NumPy backend keeps freed array memory in the process (backends/numpy_malloc.py).

Oracle: the operating system's own count of minor page faults (getrusage) over a loop
that allocates and frees the same arrays call after call, as a training step does;
each case runs in a fresh interpreter, since the setting is once per process.
"""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="glibc's malloc is a Linux matter")

PROBE = """
import resource, numpy as np, graphgrad as gg
from graphgrad.backends import numpy_malloc
gg.backends.get_backend("numpy")
def step():  # a step's activations: 4-16 MB arrays made and dropped in turn
    a = np.ones((1024, 1024), np.float32); b = np.ones((2048, 1024), np.float32)
    c = np.ones((4096, 1024), np.float32); del a; d = b + 1; del b, c, d
for _ in range(3): step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20): step()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
print(numpy_malloc.tune(), faults)
"""


def _probe(**env_extra):
    import os

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "GRAPHGRAD_MALLOC")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    tuned, faults = out.stdout.split()
    return tuned == "True", float(faults)


def test_the_backend_keeps_freed_arrays_warm():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    tuned, faults = _probe()
    assert tuned
    assert faults < 100, f"{faults} page faults per step (glibc defaults: ~2000)"


def test_the_user_can_keep_mallocs_defaults():
    tuned, faults = _probe(GRAPHGRAD_MALLOC="default")
    assert not tuned
    assert faults > 500  # glibc's defaults hand the memory back: the cost it avoids
    assert not _probe(MALLOC_TRIM_THRESHOLD_="1000000")[0]  # the user's own setting wins

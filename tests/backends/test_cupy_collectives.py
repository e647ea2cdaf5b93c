"""Data-parallel training on the CuPy backend goes through NCCL and gives NumPy's numbers.

Runs under the CPU EMULATION of CuPy (`[cupy-emulated]`: its `cupy.cuda.nccl` works on
host memory) and, marked gpu, on a real device (`[cupy-gpu]`: a one-rank NCCL
communicator, the check issue 24 asks of a one-GPU machine). Oracle: the same DDP
training (a process group of one, so no MPI is needed) on the NumPy backend, eager and
compiled, for 3 steps of Adam (float32 tolerance), and the backend's own record that a
communicator was made for the group (NCCL was used, not a shortcut).
"""

import numpy as np
import pytest
from cupy_emulation import fixtures

import graphgrad as gg
import graphgrad.distributed as dist
from graphgrad import nn, optim
from graphgrad.backends.cupy_collectives import _nccl
from graphgrad.ops.collective import LocalGroup

cupy_backend = fixtures.cupy_backend


class OneProcess(LocalGroup):
    """A group of one of its own (the backend keeps one communicator per group)."""


def train(backend: str, compiled: bool, group) -> list[np.ndarray]:
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    model = dist.DistributedDataParallel(model.to(backend), bucket_cap_mb=0.0001,
                                         process_group=group)
    opt = optim.Adam(model.parameters(), lr=0.01)

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = gg.compile(step, backend=backend) if compiled else step
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = gg.tensor(rng.standard_normal((5, 6)).astype(np.float32)).to(backend)
        step(x, gg.tensor(rng.integers(0, 3, 5)).to(backend))
    return [p.numpy() for p in model.parameters()]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_ddp_on_cupy_goes_through_nccl_and_matches_numpy(cupy_backend, compiled):
    group = OneProcess()
    got = train("cupy", compiled, group)
    want = train("numpy", compiled, OneProcess())
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    if _nccl() is not None:
        assert group in cupy_backend.all_reduce_start.__self__.comms

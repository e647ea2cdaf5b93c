"""The CPU emulation of `cupy.cuda.nccl` keeps the real wrapper's API and NCCL's semantics.

Oracles: CuPy's Cython signatures in cupy_backends/cuda/libs/nccl.pyx (`commId` a tuple
of 128 chars; pointers, counts, enums and the stream plain integers, so a `Stream`
object instead of `stream.ptr` is a TypeError; `available`; NcclError's
'NAME: text' message), NCCL's documented collective semantics, and NumPy on the same
data. One rank runs in-process; two ranks run nccl_run.py under `mpirun -n 2`.
Everything here is an EMULATION (host memory, MPI): nothing says anything about a GPU.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from . import activate, deactivate, subprocess_env, usable

pytestmark = pytest.mark.skipif(not usable()[0], reason=f"emulation unusable: {usable()[1]}")
MPIRUN = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")


@pytest.fixture
def cp():
    module = activate()
    yield module
    deactivate()


def test_the_module_and_its_id_look_like_cupys(cp):
    from cupy.cuda import nccl

    assert nccl.available and nccl.get_version() >= 2000
    uid = nccl.get_unique_id()
    assert isinstance(uid, tuple) and len(uid) == 128
    assert all(-128 <= c <= 127 for c in uid)
    assert (nccl.NCCL_FLOAT32, nccl.NCCL_SUM, nccl.NCCL_AVG) == (7, 0, 4)
    with pytest.raises(TypeError, match="expected tuple"):
        nccl.NcclCommunicator(1, list(uid), 0)
    with pytest.raises(nccl.NcclError, match="NCCL_ERROR_INVALID_ARGUMENT"):
        nccl.NcclCommunicator(1, uid, 1)


def test_a_one_rank_communicator_runs_every_collective(cp):
    from cupy.cuda import nccl

    comm = nccl.NcclCommunicator(1, nccl.get_unique_id(), 0)
    assert (comm.rank_id(), comm.size(), comm.device_id()) == (0, 1, 0)
    stream = cp.cuda.get_current_stream()
    x, out = cp.arange(5, dtype=cp.float64), cp.zeros(5, cp.float64)
    comm.allReduce(x.data.ptr, out.data.ptr, 5, nccl.NCCL_FLOAT64, nccl.NCCL_SUM, stream.ptr)
    np.testing.assert_array_equal(cp.asnumpy(out), np.arange(5.0))
    comm.bcast(out.data.ptr, 5, nccl.NCCL_FLOAT64, 0, stream.ptr)
    g = cp.zeros(5, cp.float64)
    comm.allGather(x.data.ptr, g.data.ptr, 5, nccl.NCCL_FLOAT64, stream.ptr)
    np.testing.assert_array_equal(cp.asnumpy(g), np.arange(5.0))
    with pytest.raises(TypeError, match="integer is required"):  # the Stream, not .ptr
        comm.allReduce(x.data.ptr, out.data.ptr, 5, nccl.NCCL_FLOAT64, nccl.NCCL_SUM, stream)
    comm.destroy()
    with pytest.raises(nccl.NcclError, match="destroyed"):
        comm.allReduce(x.data.ptr, out.data.ptr, 5, nccl.NCCL_FLOAT64, nccl.NCCL_SUM, 0)


def test_the_backend_runs_its_collectives_through_nccl(cp, monkeypatch):
    """graphgrad's CuPy kernels on a group of one: the NCCL id goes through the group's
    host broadcast, one communicator per group, allReduce/bcast on device pointers."""
    from cupy.cuda import nccl

    from graphgrad.backends.cupy_collectives import NcclCollectives
    from graphgrad.ops.collective import LocalGroup

    calls, sent = [], []
    for name in ("allReduce", "bcast"):
        real = getattr(nccl.NcclCommunicator, name)
        monkeypatch.setattr(nccl.NcclCommunicator, name,
                            lambda self, *a, real=real, name=name: (calls.append((name, a[-1])),
                                                                    real(self, *a))[1])

    class Group(LocalGroup):
        def broadcast_host(self, buf, src):
            sent.append((buf.dtype, buf.shape, src))
            return buf

    nccl_ops, group = NcclCollectives(cp), Group()
    x = cp.array(np.arange(6, dtype=np.float32).reshape(2, 3))
    for op in ("sum", "avg", "max"):
        out = nccl_ops.all_reduce(x, op=op, group=group)
        assert out is not x and out.shape == (2, 3)
        np.testing.assert_array_equal(cp.asnumpy(out), cp.asnumpy(x))
    np.testing.assert_array_equal(cp.asnumpy(nccl_ops.broadcast(x, src=0, group=group)),
                                  cp.asnumpy(x))
    wait = nccl_ops.all_reduce_start(x, "avg", group)  # on the collectives' own stream
    np.testing.assert_array_equal(cp.asnumpy(wait()), cp.asnumpy(x))
    current = cp.cuda.get_current_stream().ptr
    assert [c[0] for c in calls] == ["allReduce"] * 3 + ["bcast", "allReduce"]
    assert {c[1] for c in calls[:4]} == {current} and calls[4][1] != current
    assert sent == [(np.dtype(np.int8), (128,), 0)]  # the id, once, from rank 0
    with pytest.raises(Exception, match="NCCL has no bool type"):
        nccl_ops.all_reduce(cp.array(np.ones(2, bool)), op="sum", group=group)


@pytest.mark.skipif(MPIRUN is None, reason="mpirun (mpi4py + mpich wheels) missing")
def test_two_ranks_over_mpi():
    script = Path(__file__).with_name("nccl_run.py")
    proc = subprocess.run([MPIRUN, "-n", "2", sys.executable, str(script)],
                          capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    # (both ranks print to one pipe: their lines may interleave)
    assert proc.stdout.count("ok") == 2 and not proc.stdout.replace("ok", "").split()


def test_a_collective_whose_peer_never_comes_times_out_and_aborts(cp, monkeypatch):
    """The deadline's logic (the emulation's collectives finish at once, so the event
    that never passes, as behind a missing peer, is simulated)."""
    import graphgrad as gg
    from graphgrad.backends.cupy_collectives import NcclCollectives
    from graphgrad.ops.collective import LocalGroup

    class Comm:
        aborted = 0

        def allReduce(self, *args):  # noqa: N802
            pass

        def abort(self):
            Comm.aborted += 1

    class Pair(LocalGroup):
        rank, size, timeout = 1, 2, 0.1

    monkeypatch.setattr(cp.cuda.Event, "done", property(lambda self: False))
    nccl_ops, group = NcclCollectives(cp), Pair()
    x = cp.arange(3, dtype=cp.float32)
    for run in (lambda: nccl_ops.all_reduce(x, "sum", group),
                lambda: nccl_ops.all_reduce_start(x, "avg", group)()):
        nccl_ops.comms[group] = Comm()
        with pytest.raises(gg.DistributedError, match=r"all_reduce \(NCCL\) on rank 1 of 2 "
                                                      r"timed out after 0.1 s"):
            run()
        assert group not in nccl_ops.comms
    assert Comm.aborted == 2

"""Checks of the emulated `cupy.cuda.nccl` across ranks, run by test_nccl_emulation.py as
`mpirun -n 2 python nccl_run.py` with the emulation on PYTHONPATH (CPU EMULATION: the
collectives run over MPI on host memory). Prints `ok` from every rank that passes.

Oracle: NumPy on every rank's known input (rank r holds r + 1 + arange), and NCCL's
documented semantics for allReduce, reduce, bcast, broadcast, allGather, reduceScatter.
"""

import sys

import cupy
import numpy as np
from cupy.cuda import nccl
from mpi4py import MPI

world = MPI.COMM_WORLD
rank, size = world.Get_rank(), world.Get_size()
uid = world.bcast(nccl.get_unique_id() if rank == 0 else None, root=0)  # as CuPy's docs do
comm = nccl.NcclCommunicator(size, uid, rank)
assert (comm.rank_id(), comm.size()) == (rank, size)
stream = cupy.cuda.get_current_stream().ptr
f32 = nccl.NCCL_FLOAT32
inputs = [r + 1 + np.arange(6, dtype=np.float32) for r in range(size)]
x = cupy.array(inputs[rank])

out = cupy.zeros(6, cupy.float32)
comm.allReduce(x.data.ptr, out.data.ptr, 6, f32, nccl.NCCL_SUM, stream)
np.testing.assert_array_equal(cupy.asnumpy(out), sum(inputs))
comm.allReduce(out.data.ptr, out.data.ptr, 6, f32, nccl.NCCL_MAX, stream)  # in place
np.testing.assert_array_equal(cupy.asnumpy(out), sum(inputs))
comm.allReduce(x.data.ptr, out.data.ptr, 6, f32, nccl.NCCL_AVG, stream)
np.testing.assert_allclose(cupy.asnumpy(out), sum(inputs) / size)

red = cupy.zeros(6, cupy.float32)
comm.reduce(x.data.ptr, red.data.ptr, 6, f32, nccl.NCCL_MIN, 1, stream)
np.testing.assert_array_equal(cupy.asnumpy(red), inputs[0] if rank == 1 else np.zeros(6))

b = cupy.array(inputs[rank])
comm.bcast(b.data.ptr, 6, f32, 1, stream)
np.testing.assert_array_equal(cupy.asnumpy(b), inputs[1])
c = cupy.zeros(6, cupy.float32)
comm.broadcast(x.data.ptr, c.data.ptr, 6, f32, 0, stream)
np.testing.assert_array_equal(cupy.asnumpy(c), inputs[0])

g = cupy.zeros(6 * size, cupy.float32)
comm.allGather(x.data.ptr, g.data.ptr, 6, f32, stream)
np.testing.assert_array_equal(cupy.asnumpy(g), np.concatenate(inputs))
part = 6 // size  # (run with a size that divides 6)
s = cupy.zeros(part, cupy.float32)
comm.reduceScatter(x.data.ptr, s.data.ptr, part, f32, nccl.NCCL_SUM, stream)
np.testing.assert_array_equal(cupy.asnumpy(s), sum(inputs)[rank * part:(rank + 1) * part])

# ids made on each rank (never exchanged) are refused, as NCCL's rendezvous would fail
try:
    nccl.NcclCommunicator(size, nccl.get_unique_id(), rank)
except nccl.NcclError as e:
    assert "different unique ids" in str(e)
else:
    sys.exit("own ids were accepted")
comm.destroy()
print("ok", flush=True)

"""The process group: every process of a data-parallel job, over MPI (mpi4py).

`mpirun -n N python train.py` starts the processes; `init()` joins them. Collectives
move host arrays with mpi4py's buffer-protocol calls (`Iallreduce`, `Ibcast`: no
pickling) and wait for them with a deadline, so a rank whose peers died or never arrive
gets a DistributedError instead of hanging. An exception that escapes any rank's script
prints which rank failed and aborts the whole job (`MPI.Abort`), so the other ranks end
too. GPU backends run their collectives through NCCL and use the group only to agree on
the NCCL id (see the CuPy backend).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from ..errors import DistributedError
from ..source import user_source

#: Seconds a collective may wait for the other ranks (`init(timeout=...)`,
#: or the GRAPHGRAD_DIST_TIMEOUT environment variable).
DEFAULT_TIMEOUT = float(os.environ.get("GRAPHGRAD_DIST_TIMEOUT", 300))
#: Seconds a failing rank waits, after printing why, before it aborts the job.
ABORT_GRACE_SECONDS = 0.5


class ProcessGroup:
    """The ranks of one job. `rank`, `size`; the host collectives the backends call."""

    def __init__(self, comm, mpi, timeout: float):
        self.comm, self.mpi, self.timeout = comm, mpi, float(timeout)
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self._ops = {"sum": mpi.SUM, "avg": mpi.SUM, "max": mpi.MAX, "min": mpi.MIN}

    def __repr__(self) -> str:  # shown in printed graphs: all_reduce(%g, group=mpi[2])
        return f"mpi[{self.size}]"

    def _wait(self, request, what: str) -> None:
        # MPI progresses a request only inside MPI calls: spin on Test() for the first
        # 50 ms (a healthy collective ends well within it), then poll gently until the
        # deadline.
        start = time.monotonic()
        deadline, spin_until = start + self.timeout, start + 0.05
        pause = 1e-4
        while not request.Test():
            now = time.monotonic()
            if now < spin_until:
                continue
            if now > deadline:
                raise DistributedError(
                    f"{what} on rank {self.rank} of {self.size} timed out after "
                    f"{self.timeout:g} s: another rank failed or did not reach the same "
                    "collective (raise the limit with gg.distributed.init(timeout=...))",
                    source=user_source())
            time.sleep(pause)
            pause = min(pause * 2, 1e-2)

    def all_reduce_host(self, buf: np.ndarray, op: str) -> np.ndarray:
        """Reduce a contiguous host array over all ranks, in place; returns it."""
        return self.start_all_reduce_host(buf, op)()

    def start_all_reduce_host(self, buf: np.ndarray, op: str):
        """Start reducing a contiguous host array over all ranks, in place (MPI
        `Iallreduce`), and return `wait() -> buf`: the array must not be touched until
        then. Compute in between overlaps the communication (as far as the MPI library
        progresses it on its own: MPICH does much of it inside the wait)."""
        request = self.comm.Iallreduce(self.mpi.IN_PLACE, buf, op=self._ops[op]) \
            if self.size > 1 else None

        def wait() -> np.ndarray:
            if request is not None:
                self._wait(request, "all_reduce")
            if op == "avg":
                np.divide(buf, buf.dtype.type(self.size), out=buf)
            return buf

        return wait

    def broadcast_host(self, buf: np.ndarray, src: int) -> np.ndarray:
        """Rank `src`'s values into every rank's contiguous host array, in place."""
        if self.size > 1:
            self._wait(self.comm.Ibcast(buf, root=src), "broadcast")
        return buf

    def barrier(self) -> None:
        if self.size > 1:
            self._wait(self.comm.Ibarrier(), "barrier")

    def abort_on_failure(self) -> None:
        """Make an uncaught exception on this rank say so and end every rank."""
        previous = sys.excepthook

        def hook(kind, value, tb):
            # the line that names the rank first, then the traceback, then a moment for
            # mpirun to forward them: Abort ends every rank, and output still on its way
            # through mpirun's forwarding is lost (seen on a loaded machine)
            sys.stderr.write(f"graphgrad.distributed: rank {self.rank} of {self.size} failed "
                             f"with {kind.__name__}: {value}; aborting all ranks\n")
            sys.stderr.flush()
            previous(kind, value, tb)
            sys.stderr.flush()
            time.sleep(ABORT_GRACE_SECONDS)
            self.comm.Abort(1)

        sys.excepthook = hook


def connect(timeout: float) -> ProcessGroup:
    """The group of all processes `mpirun` started (one process alone: a group of one)."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise DistributedError(f"gg.distributed needs mpi4py and an MPI library ({e}); "
                               'install them with pip install -e ".[mpi]"') from None
    return ProcessGroup(MPI.COMM_WORLD, MPI, timeout)

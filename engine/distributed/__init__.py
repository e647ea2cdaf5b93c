"""`gg.distributed`: data-parallel training over MPI (CPUs) or NCCL (GPUs).

    mpirun -n 2 python train.py

    import graphgrad.distributed as dist
    dist.init()                                   # join the processes mpirun started
    model = dist.DistributedDataParallel(model)   # rank 0's weights everywhere
    sampler = dist.DistributedSampler(dataset)    # each rank its share of the data
    ...                                           # the usual step: gradients are averaged
                                                  # during loss.backward()

`all_reduce`, `broadcast` and `barrier` work in place on tensors as PyTorch's
`torch.distributed` calls do. Collectives give up after a timeout (default 300 s,
`init(timeout=...)`) with a DistributedError instead of hanging; an exception on one
rank ends every rank.
"""

from __future__ import annotations

from ..grad_mode import no_grad
from ..ops import collective
from ..tensor import Tensor
from ..utils.data.distributed import DistributedSampler  # noqa: I001  (needs .state first)
from .ddp import DistributedDataParallel
from .state import destroy, group, init, is_initialized


class ReduceOp:
    """PyTorch's names for the reductions `all_reduce` takes."""

    SUM, AVG, MAX, MIN = "sum", "avg", "max", "min"


def rank() -> int:
    return group().rank


def world_size() -> int:
    return group().size


get_rank, get_world_size = rank, world_size
init_process_group = init
destroy_process_group = destroy


def all_reduce(tensor: Tensor, op: str = ReduceOp.SUM, group_=None) -> None:
    """Every rank's `tensor` becomes the reduction over all ranks (in place)."""
    with no_grad():
        tensor.copy_(collective.all_reduce(tensor.detach(), op, group_ or group()))


def broadcast(tensor: Tensor, src: int = 0, group_=None) -> None:
    """Every rank's `tensor` becomes rank `src`'s (in place)."""
    with no_grad():
        tensor.copy_(collective.broadcast(tensor.detach(), src, group_ or group()))


def barrier() -> None:
    """Wait until every rank gets here."""
    group().barrier()


__all__ = ["init", "init_process_group", "is_initialized", "destroy", "destroy_process_group",
           "rank", "world_size", "get_rank", "get_world_size", "all_reduce", "broadcast",
           "barrier", "ReduceOp", "DistributedDataParallel", "DistributedSampler", "group"]

"""`DistributedDataParallel`: the same model on every rank, gradients averaged in backward.

As PyTorch's: wrapping broadcasts rank 0's parameters and buffers to every rank, so all
start equal; each parameter gets a post-accumulate-grad hook, and once every gradient of
a *bucket* (parameters in reverse order, up to `bucket_cap_mb`, one dtype) is ready, the
bucket's gradients are concatenated into one flat buffer, averaged with one
`all_reduce`, and written back to the parameters' `.grad`. `backward()` runs the hooks
as each gradient is complete, so a bucket's all-reduce is issued while the rest of the
backward pass still runs. Eagerly, on a backend that can start a collective and wait
later (`Backend.all_reduce_start`: NumPy's MPI `Iallreduce`), the hook only starts it and
the averaged gradients are written back when the backward walk ends
(`autodiff.queue_callback`), as PyTorch's reducer does. The hooks are ordinary tensor
code, so under `gg.compile` the all-reduces are ops in the plan, each placed as soon as
its bucket's gradients exist, and waited for only where the update needs them.
"""

from __future__ import annotations

from ..autodiff import queue_callback
from ..errors import DistributedError
from ..grad_mode import no_grad
from ..nn.module import Module
from ..ops.collective import all_reduce, broadcast
from ..ops.shape import cat
from ..source import user_source
from ..tensor import Tensor
from . import state


def _buckets(params, cap_bytes: int) -> list[list]:
    """Parameters in reverse order (gradients arrive roughly last layer first), cut into
    runs of one dtype and at most `cap_bytes` (a larger parameter gets a bucket alone)."""
    out, size = [], 0
    for p in reversed(params):
        nbytes = p.numel() * p.dtype.itemsize
        if not out or out[-1][0].dtype != p.dtype or size + nbytes > cap_bytes:
            out.append([])
            size = 0
        out[-1].append(p)
        size += nbytes
    return out


class DistributedDataParallel(Module):
    """Data-parallel training of `module` over the process group (see the module doc)."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group=None,
                 bucket_cap_mb: float = 25, find_unused_parameters: bool = False, **unused):
        super().__init__()
        if find_unused_parameters:
            raise DistributedError("find_unused_parameters=True is not supported: every "
                                   "parameter that requires grad must get a gradient",
                                   source=user_source())
        self.module = module
        object.__setattr__(self, "_group", process_group or state.group())
        object.__setattr__(self, "_broadcast_buffers", broadcast_buffers)
        params = [p for p in module.parameters() if p.requires_grad]
        buckets = _buckets(params, int(bucket_cap_mb * 2 ** 20))
        object.__setattr__(self, "_bucket_list", buckets)
        object.__setattr__(self, "_bucket_of", {id(p): i for i, b in enumerate(buckets)
                                                for p in b})
        object.__setattr__(self, "_ready", [set() for _ in buckets])
        object.__setattr__(self, "_pending", [])  # (bucket, wait, backend): started eagerly
        self._sync(list(module.parameters()) + list(module.buffers()))
        for p in params:
            p.register_post_accumulate_grad_hook(self._grad_ready)

    def _sync(self, tensors) -> None:
        """Every rank's tensors become rank 0's (in place)."""
        with no_grad():
            for t in tensors:
                t.copy_(broadcast(t.detach(), 0, self._group))

    def forward(self, *args, **kwargs):
        if self._pending:
            raise DistributedError(
                "DistributedDataParallel: the previous backward() stopped before its end "
                "(it raised), leaving started all-reduces unfinished; the ranks' gradients "
                "can no longer be averaged consistently", source=user_source())
        if any(self._ready):
            raise DistributedError(
                "DistributedDataParallel: the previous backward() left gradients unreduced: "
                "some parameters that require grad got no gradient (every rank must use "
                "every parameter in each step)", source=user_source())
        if self._broadcast_buffers and self.training:
            self._sync(list(self.module.buffers()))
        return self.module(*args, **kwargs)

    def _grad_ready(self, p) -> None:
        i = self._bucket_of[id(p)]
        ready = self._ready[i]
        ready.add(id(p))
        if len(ready) == len(self._bucket_list[i]):
            ready.clear()
            self._reduce(self._bucket_list[i])

    def _reduce(self, bucket) -> None:
        with no_grad():
            flat = cat([p.grad.reshape(-1) for p in bucket])
            start = getattr(flat._backend, "all_reduce_start", None)
            if flat._value is None or start is None:  # traced (the plan overlaps it), or
                _write_back(bucket, all_reduce(flat, "avg", self._group))  # blocking
                return
            if not self._pending:
                queue_callback(self._finish)
            self._pending.append((bucket, start(flat._value, "avg", self._group),
                                  flat._backend))

    def _finish(self) -> None:
        """End of backward: wait for the all-reduces the hooks started, in order."""
        pending, self._pending[:] = list(self._pending), []
        with no_grad():
            for bucket, wait, backend in pending:
                _write_back(bucket, Tensor._wrap(wait(), backend))


def _write_back(bucket, flat: Tensor) -> None:
    """Each parameter's `.grad` becomes its part of the averaged flat buffer (a view)."""
    offset = 0
    for p in bucket:
        n = p.numel()
        p.grad = flat[offset:offset + n].reshape(p.shape)
        offset += n

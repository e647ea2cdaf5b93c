"""Data-parallel communication overlaps the backward pass: buckets go out as they fill.

Oracle: the order of events, recorded by a process group of one (no MPI) whose
collectives log when they start and when they are waited for, against the order the
gradients become ready (post-accumulate-grad hooks registered before DDP's). Eagerly,
each bucket's all-reduce must start right when its last gradient is accumulated, before
the first layer's gradient exists, and be waited for only after the backward walk.
Compiled, the plan's schedule must start each all-reduce right after its bucket's
flattened gradients exist, and wait for all of them only after the last matmul of the
backward pass. The numbers of both paths are checked against one process under mpirun
in test_data_parallel.py.
"""

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.distributed as dist
from graphgrad import nn, optim
from graphgrad.ops.collective import LocalGroup


class RecordingGroup(LocalGroup):
    """A group of one that logs its collectives into `events`."""

    def __init__(self, events):
        self.events = events

    def start_all_reduce_host(self, buf, op):
        self.events.append(("start", buf.size))

        def wait():
            self.events.append(("wait", buf.size))
            return buf

        return wait

    def all_reduce_host(self, buf, op):
        return self.start_all_reduce_host(buf, op)()


def mlp():
    gg.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(),
                         nn.Linear(16, 3))


def test_eager_buckets_start_as_they_fill_and_are_waited_for_after_the_walk():
    events = []
    model = mlp()
    params = list(model.parameters())
    for i, p in enumerate(params):  # before DDP's hooks: logged just before they run
        p.register_post_accumulate_grad_hook(lambda p, i=i: events.append(("ready", i)))
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.0003,
                                       process_group=RecordingGroup(events))
    index = {id(p): i for i, p in enumerate(params)}
    buckets = [{index[id(p)] for p in b} for b in ddp._bucket_list]
    assert len(buckets) >= 3
    nn.functional.cross_entropy(ddp(gg.randn(4, 8)), gg.tensor([0, 1, 2, 0])).backward()

    kinds = [e[0] for e in events]
    assert kinds.count("start") == kinds.count("wait") == len(buckets)
    last_ready = max(i for i, e in enumerate(events) if e[0] == "ready")
    assert min(i for i, e in enumerate(events) if e[0] == "wait") > last_ready
    starts = [i for i, e in enumerate(events) if e[0] == "start"]
    for k, s in enumerate(starts):  # the k-th start: right when the k-th bucket is full
        ready = {e[1] for e in events[:s] if e[0] == "ready"}
        assert sum(b <= ready for b in buckets) == k + 1
        assert events[s - 1][0] == "ready"
        assert events[s - 1][1] in next(b for b in buckets if b <= ready and
                                        not b <= ready - {events[s - 1][1]})
    assert starts[0] < last_ready  # the first bucket left before the first layer's grad
    for p, q in zip(params, mlp().parameters()):
        assert p.grad is not None and p.grad.shape == q.shape


def test_the_plan_starts_each_all_reduce_when_its_bucket_is_ready_and_waits_late():
    events = []
    model = dist.DistributedDataParallel(mlp(), bucket_cap_mb=0.0003,
                                         process_group=RecordingGroup(events))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    @gg.compile
    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    x, y = gg.randn(4, 8), gg.tensor([0, 1, 2, 0])
    step(x, y)
    graph = step.last.optimized
    order = graph.schedule
    pos = {n: i for i, n in enumerate(order)}
    reduces = [n for n in order if graph[n]["op"] == "all_reduce"]
    assert len(reduces) == len(model._bucket_list)
    for n in reduces:  # right after the flat bucket: nothing unrelated in between
        (flat,) = graph.args(n)
        assert graph[flat]["op"] == "concat" and pos[n] == pos[flat] + 1
        assert pos[flat] == max(pos[a] for a in graph.args(flat)) + 1
    matmuls = [pos[n] for n in order if graph[n]["op"] == "matmul"]
    assert pos[reduces[0]] < max(matmuls)  # issued while backward still runs
    source = step.last.source.splitlines()
    last_matmul = max(i for i, line in enumerate(source) if "= matmul" in line)
    starts = [i for i, line in enumerate(source) if "all_reduce_start(" in line]
    waits = [i for i, line in enumerate(source) if "wait for the all_reduce" in line]
    assert len(starts) == len(waits) == len(reduces)
    assert starts[0] < last_matmul < min(waits)

    events.clear()
    step(x, y)
    kinds = [e[0] for e in events]
    assert kinds == ["start"] * len(reduces) + ["wait"] * len(reduces)


def test_overlap_gives_the_blocking_numbers():
    """The split plan (start/wait) against the same step with the blocking kernel."""
    def run(overlap):
        model = dist.DistributedDataParallel(mlp(), bucket_cap_mb=0.0003,
                                             process_group=RecordingGroup([]))
        opt = optim.Adam(model.parameters(), lr=0.01)
        backend = gg.backends.get_backend("numpy")
        saved = type(backend).all_reduce_start
        if not overlap:
            type(backend).all_reduce_start = None
        try:
            @gg.compile
            def step(x, y):
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                return loss

            rng = np.random.default_rng(0)
            for _ in range(3):
                step(gg.tensor(rng.standard_normal((4, 8)).astype(np.float32)),
                     gg.tensor(rng.integers(0, 3, 4)))
            assert ("all_reduce_start(" in step.last.source) == overlap
        finally:
            type(backend).all_reduce_start = saved
        return [p.numpy().copy() for p in model.parameters()]

    for a, b in zip(run(True), run(False), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_backward_that_raises_after_a_start_is_reported_at_the_next_step():
    model = mlp()
    first = next(iter(model.parameters()))  # its gradient is the last to be ready

    def fail(p):
        raise RuntimeError("planted")

    first.register_post_accumulate_grad_hook(fail)
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.0003,
                                       process_group=RecordingGroup([]))
    with pytest.raises(RuntimeError, match="planted"):
        ddp(gg.randn(2, 8)).sum().backward()
    with pytest.raises(gg.DistributedError, match="stopped before its end"):
        ddp(gg.randn(2, 8))

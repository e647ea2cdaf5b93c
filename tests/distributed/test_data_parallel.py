"""Data-parallel training under `mpirun` gives one process's numbers.

Oracle: the same 50 steps run by one process on the whole global batch of 64 (no DDP):
with N ranks each taking 64/N rows, DistributedDataParallel's averaged gradients equal
the full batch's, so parameters must agree (rtol 1e-5), eagerly and compiled, for SGD
with momentum and Adam; 4 ranks on this 2-core machine oversubscribe it (correctness
only). A failing or hanging rank must end the job with a message naming a rank.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.distributed as dist
from graphgrad import nn

RUN = Path(__file__).with_name("ddp_run.py")
MPIRUN = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")
needs_mpi = pytest.mark.skipif(MPIRUN is None, reason="mpirun (mpi4py + mpich wheels) missing")


def launch(n, *args, timeout=240):
    return subprocess.run([MPIRUN, "-n", str(n), sys.executable, str(RUN), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def params(path):
    with np.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = {}
    for opt in ("sgd", "adam"):
        path = tmp_path_factory.mktemp("ref") / f"{opt}.npz"
        proc = subprocess.run([sys.executable, str(RUN), path, opt, "single"],
                              capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, proc.stderr
        out[opt] = params(path)
    return out


@needs_mpi
@pytest.mark.parametrize("n,opt,mode", [(2, "sgd", "eager"), (2, "adam", "eager"),
                                        (2, "sgd", "compiled"), (2, "adam", "compiled"),
                                        (4, "sgd", "compiled"), (4, "adam", "eager")])
def test_ranks_train_like_one_process_on_the_global_batch(reference, tmp_path, n, opt, mode):
    path = tmp_path / "out.npz"
    proc = launch(n, path, opt, mode)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for got, want in zip(params(path), reference[opt], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@needs_mpi
def test_a_failing_rank_ends_every_rank_and_is_named(tmp_path):
    proc = launch(2, tmp_path / "x.npz", "sgd", "compiled", 1, timeout=120)
    assert proc.returncode != 0
    assert "rank 1 of 2 failed with RuntimeError: a planted failure in step 3" in proc.stderr


@needs_mpi
def test_a_hanging_rank_times_the_others_out(tmp_path):
    proc = launch(2, tmp_path / "x.npz", "sgd", "eager", 1, 1, timeout=120)
    assert proc.returncode != 0
    assert "on rank 0 of 2 timed out after 2 s" in proc.stderr


def test_one_process_is_a_group_of_one_and_the_plan_holds_the_all_reduce():
    dist.init()
    assert dist.world_size() >= 1 and 0 <= dist.rank() < dist.world_size()
    model = dist.DistributedDataParallel(nn.Linear(3, 2))
    t = gg.tensor([1.0, 2.0])
    dist.all_reduce(t, dist.ReduceOp.AVG)
    assert t.tolist() == [1.0, 2.0]
    assert list(model.state_dict()) == ["module.weight", "module.bias"]

    @gg.compile
    def step(x):
        loss = model(x).sum()
        loss.backward()
        return loss

    step(gg.ones(4, 3))
    assert "all_reduce" in str(step.last.graph)


def test_a_parameter_left_without_gradient_is_reported():
    dist.init()
    model = dist.DistributedDataParallel(nn.Linear(3, 2))
    model.module.weight.sum().backward()  # the bias gets no gradient

    with pytest.raises(gg.DistributedError, match="left gradients unreduced"):
        model(gg.ones(1, 3))


def test_distributed_sampler_matches_torch():
    from torch.utils.data import DistributedSampler as TorchSampler

    from graphgrad.utils.data.distributed import DistributedSampler

    data = list(range(10))
    for drop_last in (False, True):
        for r in range(3):
            ours = DistributedSampler(data, num_replicas=3, rank=r, shuffle=False,
                                      drop_last=drop_last)
            theirs = TorchSampler(data, num_replicas=3, rank=r, shuffle=False,
                                  drop_last=drop_last)
            assert list(ours) == list(theirs) and len(ours) == len(theirs)
    shards = [set(DistributedSampler(data, num_replicas=2, rank=r, seed=5)) for r in (0, 1)]
    assert shards[0] | shards[1] == set(data) and not shards[0] & shards[1]


@needs_mpi
def test_the_digits_example_trains_on_two_processes_and_rank_0_prints(tmp_path):
    script = Path(__file__).resolve().parents[2] / "examples" / "mlp_digits.py"
    proc = subprocess.run([MPIRUN, "-n", "2", sys.executable, str(script), "--distributed",
                           "--epochs", "2", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("held-out accuracy") == 1
    assert "on numpy x 2 processes" in proc.stdout
    accuracy = float(proc.stdout.split("held-out accuracy ")[1].split("%")[0])
    assert accuracy > 70

"""Data-parallel training under `mpirun` gives one process's numbers.

Oracle: the same 50 steps run by one process on the whole global batch of 64 (no DDP):
with N ranks each taking 64/N rows, DistributedDataParallel's averaged gradients equal
the full batch's, so parameters must agree (rtol 1e-5), eagerly and compiled, for SGD
with momentum and Adam; 4 ranks on this 2-core machine oversubscribe it (correctness
only). The CuPy rows run the CuPy backend and its NCCL collectives under the test
suite's CPU EMULATION of CuPy (ids `cupy-emulated`: NCCL over MPI on host memory, never
GPU truth), with a one-rank communicator (one process) and with two ranks, against one
emulated-CuPy process. A failing or hanging rank must end the job with a message naming
a rank. Each launch runs all its configurations in one set of processes (starting MPI
processes is the slow part).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cupy_emulation import LABEL, subprocess_env, usable

import graphgrad as gg
import graphgrad.distributed as dist
from graphgrad import nn

RUN = Path(__file__).with_name("ddp_run.py")
MPIRUN = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")
needs_mpi = pytest.mark.skipif(MPIRUN is None, reason="mpirun (mpi4py + mpich wheels) missing")
EMULATION_OK = usable()[0]
ONE = ["numpy:sgd:single", "numpy:adam:single"]
ONE_CUPY = ["cupy:sgd:single", "cupy:adam:single", "cupy:sgd:eager", "cupy:adam:compiled"]
TWO = ["numpy:sgd:eager", "numpy:adam:eager", "numpy:sgd:compiled", "numpy:adam:compiled"]
TWO_CUPY = ["cupy:sgd:eager", "cupy:adam:compiled"]
FOUR = ["numpy:sgd:compiled", "numpy:adam:eager"]


def launch(n, out, configs, *options, timeout=300):
    """Run ddp_run.py over `configs` in one launch (n=0: one process without mpirun)."""
    command = [sys.executable, str(RUN), str(out), *configs, *options]
    if n:
        command = [MPIRUN, "-n", str(n), *command]
    env = subprocess_env() if any(c.startswith("cupy") for c in configs) else None
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def params(path):
    with np.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """ranks -> folder of results, each launch made once, when a test first asks."""
    made = {}

    def get(n):
        if n not in made:
            configs = {0: ONE + (ONE_CUPY if EMULATION_OK else []),
                       2: TWO + (TWO_CUPY if EMULATION_OK else []), 4: FOUR}[n]
            out = tmp_path_factory.mktemp(f"ranks{n}")
            proc = launch(n, out, configs)
            assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
            made[n] = out
        return made[n]

    return get


def _id(case):
    n, config = case
    return f"{n}-{config.replace('cupy:', LABEL + ':')}"


CASES = [(1, c) for c in ONE_CUPY if not c.endswith("single")] + \
    [(2, c) for c in TWO + TWO_CUPY] + [(4, c) for c in FOUR]


@needs_mpi
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_ranks_train_like_one_process_on_the_global_batch(runs, case):
    n, config = case
    backend, opt, _ = config.split(":")
    if backend == "cupy" and not EMULATION_OK:
        pytest.skip(f"CuPy emulation unusable: {usable()[1]}")
    got = params(runs(0 if n == 1 else n) / f"{config.replace(':', '-')}.npz")
    want = params(runs(0) / f"{backend}-{opt}-single.npz")
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@needs_mpi
def test_a_failing_rank_ends_every_rank_and_is_named(tmp_path):
    proc = launch(2, tmp_path, ["numpy:sgd:compiled"], "--fail-rank", "1", timeout=120)
    assert proc.returncode != 0
    assert "rank 1 of 2 failed with RuntimeError: a planted failure in step 3" in proc.stderr


@needs_mpi
def test_a_hanging_rank_times_the_others_out(tmp_path):
    proc = launch(2, tmp_path, ["numpy:sgd:eager"], "--fail-rank", "1", "--hang",
                  timeout=120)
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
@pytest.mark.parametrize("example,epochs,floor", [("mlp_digits", 2, 70), ("cnn_digits", 1, 60)])
def test_the_digits_examples_train_on_two_processes_and_rank_0_prints(tmp_path, example,
                                                                      epochs, floor):
    script = Path(__file__).resolve().parents[2] / "examples" / f"{example}.py"
    proc = subprocess.run([MPIRUN, "-n", "2", sys.executable, str(script), "--distributed",
                           "--epochs", str(epochs), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("held-out accuracy") == 1
    assert proc.stdout.count("epoch  1") == 1
    assert "on numpy x 2 processes" in proc.stdout
    accuracy = float(proc.stdout.split("held-out accuracy ")[1].split("%")[0])
    assert accuracy > floor

"""Mutation testing of the conformance suite: each planted bug must fail it.

Oracle: the bugs themselves. Each class in broken_backends.py is a copy of the NumPy
backend with one realistic bug (a wrong dtype, a dropped keepdims, a kernel writing
into its input; a specialized kernel, fused kernel, `from_numpy`, `pack`, `views` or
`column_major` breaking the compiled path's rules; ...). The suite runs on each,
restricted to the ops (`--ops`) and checks (`-k`) that bear on the bug, all in one
interpreter (mutant_runs.py) to stay fast; it must exit 1 and name the op or the
contract rule broken. `MUTANTS` is also the table the issue's closing note lists.
"""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

# mutant class -> (ops whose cases are generated, -k expression selecting the checks
# that must catch it, text the failure output must contain)
MUTANTS = {
    "WrongDtype": ("exp", "forward", "result dtype float64, the op's rule says float32"),
    "WrongVJP": ("index", "vjp", "kernel 'index_backward' is"),
    "SpecializeDropsKeepdims": ("sum", "test_specialize", "'specialize-agrees'"),
    "SpecializePermuteAsTranspose": ("permute", "test_specialize", "'specialize-agrees'"),
    "SpecializeMatmulAsDot": ("matmul", "test_specialize", "'specialize-agrees'"),
    "FromNumpyAliases": ("add", "from_numpy_copies", "'from-numpy-copies'"),
    "FusedOutOverwritesInput": ("add", "out_aliasing", "'out-aliasing'"),
    "ViewsCopy": ("add", "pack_copies", "'views-share-memory'"),
    "PackAliasesOne": ("add", "pack_copies", "'pack-copies'"),
    "ColumnMajorTransposes": ("add", "column_major", "(the transpose?)"),
    "FusedComputesFloat64": ("add", "fused_chain", "program declares float32"),
    "ToNumpyScalar": ("add", "round_trip", "'to-numpy'"),
    "SeedIgnored": ("rand*", "seeding", "the same seed gave different numbers"),
    "ReluInPlace": ("relu", "forward", "kernel modified its input 0"),
    "SumPythonFloat": ("sum", "forward", "kernel returned a Python float"),
    "MulNeedsArrays": ("mul", "python", "'python-numbers'"),
    "GatherBackwardAssigns": ("gather", "vjp", "kernel 'gather_backward' is"),
    "SoftmaxUnshifted": ("softmax", "forward", "op 'softmax'"),
    "LogSoftmaxLastAxis": ("log_softmax", "forward", "op 'log_softmax'"),
    "MaxDropsKeepdims": ("max", "forward", "result shape"),
    "ArgmaxInt32": ("argmax", "forward", "result dtype int32"),
    "MatmulAsDot": ("matmul", "forward", "op 'matmul'"),
    "MaximumIgnoresNaN": ("maximum", "forward", "op 'maximum'"),
    "ClampNeedsBothBounds": ("clamp", "forward", "kernel raised TypeError"),
    "ConcatFirstAxis": ("concat", "forward", "op 'concat'"),
    "AbsFloatForInts": ("abs", "forward", "result dtype float64, the op's rule says int64"),
    "OneHotFloat": ("one_hot", "forward", "result dtype float64"),
    "RandintInclusive": ("randint", "support", "randint drew outside [-3, 5)"),
    "CastKeepsDtype": ("cast", "forward", "op 'cast'"),
    "CastNeedsArray": ("cast", "python", "'python-numbers'"),
    "IdentityReturnsInput": ("identity", "forward", "'new-result'"),
}


@pytest.fixture(scope="module")
def runs():
    plan = [[f"broken_backends:{m}", ops, k] for m, (ops, k, _) in MUTANTS.items()]
    proc = subprocess.run([sys.executable, os.path.join(HERE, "mutant_runs.py"),
                           json.dumps(plan)], capture_output=True, text=True, cwd=HERE,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_the_suite_catches_the_mutant(runs, mutant):
    status, output = runs[f"broken_backends:{mutant}"]
    expected = MUTANTS[mutant][2]
    assert status == 1, f"{mutant} passed the suite:\n{output[-3000:]}"
    assert expected in output, f"{mutant}: {expected!r} not in\n{output[-5000:]}"
    report = output[output.index("graphgrad conformance report"):]
    assert "FAILED for" in report.splitlines()[-1], report  # the table is the run's end

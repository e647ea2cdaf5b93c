"""A tensor and the NumPy array it shares memory with see each other's writes, as
PyTorch documents for `torch.from_numpy` and `Tensor.numpy()`: both directions, through
views, through an optimizer's update, eagerly and compiled (numpy and numba backends).
`t.data = other` gives t new memory, which the old array no longer follows.

Oracle: the same sequence run with torch.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg

SEQUENCES = {
    "from_numpy, then in-place ops": lambda L, a: (
        L.from_numpy(a).add_(1).mul_(3), a),
    "from_numpy, then setitem": lambda L, a: (L.from_numpy(a).__setitem__(0, 7.0), a),
    "numpy() of a tensor, then in-place": lambda L, a: _then(
        L.tensor(a), lambda t, n: (t.add_(2), t.__setitem__(1, 5.0))),
    "numpy() of a view, then the base in place": lambda L, a: _then(
        L.tensor(a).reshape(2, 2), lambda t, n: t.sub_(4), view=lambda t: t[0]),
    "numpy() of a detached alias, then the base in place": lambda L, a: _then(
        L.tensor(a), lambda t, n: t.mul_(-1), view=lambda t: t.detach()),
    "data = other: new memory": lambda L, a: _then(
        L.tensor(a), lambda t, n: (setattr(t, "data", L.ones(4)), t.add_(1))),
}


def _then(t, change, view=lambda t: t):
    n = view(t).numpy()
    change(t, n)
    return t, n


@pytest.mark.parametrize("name", SEQUENCES)
def test_shared_memory_as_torch(name):
    ours = SEQUENCES[name](gg, np.arange(4, dtype=np.float32))
    theirs = SEQUENCES[name](torch, np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(ours[1], theirs[1])


@pytest.mark.parametrize("backend", ["eager", "numpy", "numba"])
def test_a_parameters_numpy_array_follows_the_optimizer(backend):
    if backend == "numba":
        pytest.importorskip("numba")
    results = []
    for lib in (torch, gg):
        p = lib.zeros(3, requires_grad=True)
        seen = p.detach().numpy()
        opt = lib.optim.SGD([p], lr=0.5, momentum=0.9)

        def step(x, lib=lib, p=p, opt=opt):
            opt.zero_grad()
            (p * x).sum().backward()
            opt.step()
        if lib is gg and backend != "eager":
            step = gg.compile(step, backend=backend)
        for _ in range(3):
            step(lib.tensor([1.0, 2.0, 3.0]))
        results.append(seen.copy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)

"""BatchNorm2d, LayerNorm, GroupNorm, Embedding and F.layer_norm/group_norm/batch_norm/
embedding against PyTorch 2.13.

Oracle: torch.nn with the same weights and buffers (torch's state_dict loaded into
graphgrad) and inputs: outputs, input gradients, parameter gradients and updated
running statistics agree to float32 rtol 1e-4, eagerly and compiled (torch_compare.py).
Also PyTorch's parameter/buffer names, initialization, padding_idx's zero gradient and
the clear errors for what is not supported.
"""

import numpy as np
import pytest
import torch
from cupy_emulation import fixtures
from torch_compare import compare, rand

import graphgrad as gg
from graphgrad import nn
from graphgrad.nn import functional as F

emulated_cupy = fixtures.emulated_cupy

LAYERS = [
    ("BatchNorm2d", (3,), {}, (4, 3, 5, 5)),
    ("BatchNorm2d", (3,), dict(affine=False, momentum=None), (4, 3, 2, 3)),
    ("LayerNorm", (9,), {}, (2, 3, 9)),
    ("LayerNorm", ((7, 9),), dict(elementwise_affine=False), (2, 7, 9)),
    ("LayerNorm", (9,), dict(bias=False, eps=1e-3), (4, 9)),
    ("GroupNorm", (2, 4), {}, (3, 4, 5, 5)),
    ("GroupNorm", (4, 4), dict(affine=False), (3, 4, 6)),
    ("GroupNorm", (1, 4), {}, (2, 4, 3, 3)),
]


def _perturbed(module):
    """Weights and running statistics away from their ones/zeros defaults."""
    with torch.no_grad():
        for t in module.state_dict().values():
            if t.dtype.is_floating_point:
                t.add_(torch.rand(t.shape) * 0.5)
    return module


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name, args, kwargs, shape", LAYERS,
                         ids=[f"{n}{a}{k or ''}" for n, a, k, _ in LAYERS])
def test_layer_matches_torch_in_training(name, args, kwargs, shape, compiled):
    torch.manual_seed(0)
    compare(_perturbed(getattr(torch.nn, name)(*args, **kwargs)),
            getattr(nn, name)(*args, **kwargs), rand(*shape), compiled)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_batchnorm2d_in_eval_mode_uses_running_statistics(compiled):
    torch.manual_seed(0)
    t, g = _perturbed(torch.nn.BatchNorm2d(3)), nn.BatchNorm2d(3)
    t.eval(), g.eval()
    compare(t, g, rand(2, 3, 4, 4), compiled)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding_matches_torch(padding_idx, compiled):
    torch.manual_seed(0)
    idx = np.array([[0, 3, 9, 3], [9, 1, 0, 0]])
    t = torch.nn.Embedding(10, 5, padding_idx=padding_idx)
    g = nn.Embedding(10, 5, padding_idx=padding_idx)
    compare(t, g, idx, compiled, int_input=True)
    if padding_idx is not None:  # the padding row's gradient is zero, the others are not
        assert not g.weight.grad.numpy()[padding_idx].any()
        assert g.weight.grad.numpy()[3].any()


def test_names_buffers_and_init_follow_torch():
    for name, args in [("BatchNorm2d", (3,)), ("LayerNorm", ((2, 3),)), ("GroupNorm", (2, 4)),
                       ("Embedding", (6, 3))]:
        ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
        assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
            [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()], name
    bn = nn.BatchNorm2d(3)
    assert bn.num_batches_tracked.dtype == gg.int64
    ln = nn.LayerNorm(4)
    assert (ln.weight.numpy() == 1).all() and (ln.bias.numpy() == 0).all()
    emb = nn.Embedding(2000, 8, padding_idx=1)
    w = emb.weight.numpy()
    assert not w[1].any() and abs(w.std() - 1) < 0.05  # N(0, 1), padding row zeroed


def test_functional_forms_match_torch():
    x, w, b = rand(2, 4, 3, 5), rand(5, seed=1), rand(5, seed=2)
    tf = torch.nn.functional
    xt, wt, bt = torch.tensor(x), torch.tensor(w), torch.tensor(b)
    xg, wg, bg = gg.tensor(x), gg.tensor(w), gg.tensor(b)

    def close(a, ref):
        np.testing.assert_allclose(a.numpy(), ref.numpy(), rtol=1e-4, atol=1e-5)

    close(F.layer_norm(xg, (5,), wg, bg), tf.layer_norm(xt, (5,), wt, bt))
    close(F.group_norm(xg, 2, wg[:4], bg[:4]), tf.group_norm(xt, 2, wt[:4], bt[:4]))
    rm, rv = rand(4, seed=3), np.abs(rand(4, seed=4)) + 0.5
    close(F.batch_norm(xg, gg.tensor(rm), gg.tensor(rv), wg[:4], bg[:4]),
          tf.batch_norm(xt, torch.tensor(rm), torch.tensor(rv), wt[:4], bt[:4]))
    idx = np.array([[1, 0], [2, 2]])
    close(F.embedding(gg.tensor(idx), xg[0, 0]), tf.embedding(torch.tensor(idx), xt[0, 0]))


def test_unsupported_options_and_bad_shapes_are_clear_errors():
    w = gg.randn(5, 3)
    with pytest.raises(gg.GraphgradError, match="max_norm is not supported"):
        F.embedding(gg.tensor([1, 2]), w, max_norm=1.0)
    with pytest.raises(gg.DtypeError, match="integer"):
        F.embedding(gg.tensor([1.0]), w)
    with pytest.raises(gg.ShapeError, match="BatchNorm2d: expected 4D input"):
        nn.BatchNorm2d(3)(gg.zeros(2, 3))
    with pytest.raises(gg.ShapeError, match="normalized_shape"):
        nn.LayerNorm(4)(gg.zeros(2, 5))
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(3, 4)


def test_a_negative_embedding_index_is_an_index_error_as_in_torch():
    emb = gg.nn.Embedding(4, 2)
    with pytest.raises(IndexError, match="index -1 is out of range"):
        emb(gg.tensor(np.array([0, -1])))
    with pytest.raises(IndexError), torch.no_grad():  # the reference agrees
        torch.nn.Embedding(4, 2)(torch.tensor([0, -1]))


@pytest.mark.parametrize("backend", ["numpy", "numba", "cupy"])
def test_compiled_embedding_and_index_select_refuse_a_negative_index(backend, request):
    """Compiled, the index is a traced value: the check runs in the plan (check_index),
    else NumPy's take would wrap -1 to the last row. Plain tensor indexing still wraps."""
    if backend == "numba":
        pytest.importorskip("numba")
    if backend == "cupy":  # under the CPU emulation of CuPy
        request.getfixturevalue("emulated_cupy")
    emb = gg.nn.Embedding(5, 3).to(backend)

    def step(i, j):
        return emb(i).sum() + emb.weight.index_select(0, j).sum() + emb.weight[j].sum()

    fn = gg.compile(step, backend=backend)
    i, j = gg.tensor([1, 4]).to(backend), gg.tensor([0, 2]).to(backend)
    want = step(i, j).item()
    assert fn(i, j).item() == pytest.approx(want, rel=1e-6)
    for bad in ((gg.tensor([1, -1]), j), (i, gg.tensor([-5, 0])), (gg.tensor([5, 0]), j)):
        with pytest.raises(IndexError, match="out of (range|bounds)"):
            fn(*(t.to(backend) for t in bad)).item()
    w = emb.weight.detach().numpy()
    want = w[[1, 4]].sum() + 2 * w[[4, 0]].sum()
    got = gg.compile(lambda i, j: emb(i).sum() + emb.weight[j].sum() * 2, backend=backend)(
        i, gg.tensor([-1, 0]).to(backend))
    assert got.item() == pytest.approx(want, rel=1e-5)  # x[-1] is the last row


def test_from_pretrained_shares_the_tensors_memory_as_torch(recwarn):
    W = gg.tensor(np.ones((3, 2), np.float32))
    emb = gg.nn.Embedding.from_pretrained(W)
    W.add_(1.0)
    np.testing.assert_array_equal(emb.weight.numpy(), np.full((3, 2), 2.0))
    assert not emb.weight.requires_grad and not recwarn.list

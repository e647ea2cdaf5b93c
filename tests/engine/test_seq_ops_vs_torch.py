"""The tensor ops around sequence models against PyTorch 2.13: split, chunk, unbind,
narrow, flip, roll, index_select, masked_fill, tril, triu, F.pad, cumsum, einsum, norm,
sort, argsort, topk, multinomial.

Oracle: the torch function on the same float32 input: outputs (and indices) and the
input gradient of sum(out * w) for fixed weights w (rtol 1e-4), eagerly and compiled.
multinomial: frequencies over many draws against the given probabilities.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg
import graphgrad.nn.functional as F

X = np.random.default_rng(0).standard_normal((4, 5, 6)).astype(np.float32)
IDX = np.array([4, 0, 2, 2])
MASK = np.random.default_rng(1).random((5, 6)) > 0.5

CASES = {
    "split": (lambda x: gg.split(x, 2, 1), lambda x: torch.split(x, 2, 1)),
    "split_sizes": (lambda x: x.split([1, 4, 1], -1), lambda x: x.split([1, 4, 1], -1)),
    "chunk": (lambda x: x.chunk(3, 2), lambda x: x.chunk(3, 2)),
    "unbind": (lambda x: gg.unbind(x, 1), lambda x: torch.unbind(x, 1)),
    "narrow": (lambda x: x.narrow(2, 1, 3), lambda x: x.narrow(2, 1, 3)),
    "flip": (lambda x: gg.flip(x, (0, 2)), lambda x: torch.flip(x, (0, 2))),
    "roll": (lambda x: gg.roll(x, (2, -1), (1, 2)), lambda x: torch.roll(x, (2, -1), (1, 2))),
    "roll_flat": (lambda x: x.roll(7), lambda x: x.roll(7)),
    "index_select": (lambda x: x.index_select(1, gg.tensor(IDX)),
                     lambda x: x.index_select(1, torch.tensor(IDX))),
    "masked_fill": (lambda x: x.masked_fill(gg.tensor(MASK), -2.5),
                    lambda x: x.masked_fill(torch.tensor(MASK), -2.5)),
    "tril": (lambda x: gg.tril(x, -1), lambda x: torch.tril(x, -1)),
    "triu": (lambda x: x.triu(1), lambda x: x.triu(1)),
    "pad_constant": (lambda x: F.pad(x, (1, 2, 0, 1), value=0.5),
                     lambda x: torch.nn.functional.pad(x, (1, 2, 0, 1), value=0.5)),
    "pad_crop": (lambda x: F.pad(x, (-1, 2)), lambda x: torch.nn.functional.pad(x, (-1, 2))),
    "pad_reflect": (lambda x: F.pad(x, (2, 3), mode="reflect"),
                    lambda x: torch.nn.functional.pad(x, (2, 3), mode="reflect")),
    "pad_replicate": (lambda x: F.pad(x, (2, 1, 1, 3), mode="replicate"),
                      lambda x: torch.nn.functional.pad(x, (2, 1, 1, 3), mode="replicate")),
    "pad_circular": (lambda x: F.pad(x, (2, 1), mode="circular"),
                     lambda x: torch.nn.functional.pad(x, (2, 1), mode="circular")),
    "cumsum": (lambda x: gg.cumsum(x, 1), lambda x: torch.cumsum(x, 1)),
    "einsum": (lambda x: gg.einsum("bij,bkj->bik", x, x), lambda x: torch.einsum(
        "bij,bkj->bik", x, x)),
    "einsum_sum": (lambda x: gg.einsum("bij->j", x), lambda x: torch.einsum("bij->j", x)),
    "norm": (lambda x: gg.norm(x), lambda x: torch.norm(x)),
    "norm_p3": (lambda x: x.norm(3, dim=1), lambda x: x.norm(3, dim=1)),
    "linalg_norm_inf": (lambda x: gg.linalg.norm(x, float("inf"), dim=-1),
                        lambda x: torch.linalg.norm(x, float("inf"), dim=-1)),
    "vector_norm_1": (lambda x: gg.linalg.vector_norm(x, 1, dim=(0, 2), keepdim=True),
                      lambda x: torch.linalg.vector_norm(x, 1, dim=(0, 2), keepdim=True)),
    "sort": (lambda x: gg.sort(x, 1), lambda x: torch.sort(x, stable=True, dim=1)),
    "sort_desc": (lambda x: x.sort(-1, descending=True),
                  lambda x: x.sort(stable=True, dim=-1, descending=True)),
    "argsort": (lambda x: gg.argsort(x, 0), lambda x: torch.argsort(x, stable=True, dim=0)),
    "topk": (lambda x: gg.topk(x, 3, 2), lambda x: torch.topk(x, 3, 2)),
    "topk_smallest": (lambda x: x.topk(2, 1, largest=False), lambda x: x.topk(2, 1, largest=False)),
}


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name, compiled):
    ours_fn, torch_fn = CASES[name]

    def step(x):
        outs = _flat(ours_fn(x))
        loss = sum((o * gg.tensor(np.cos(np.arange(o.numel())).reshape(o.shape)
                                  .astype(np.float32))).sum() for o in outs if o.dtype.kind == "f")
        if not isinstance(loss, int):
            loss.backward()
        return outs, x.grad

    x = gg.tensor(X, requires_grad=True)
    outs, grad = (gg.compile(step) if compiled else step)(x)
    t = torch.tensor(X, requires_grad=True)
    routs = _flat(torch_fn(t))
    floats = [o for o in routs if o.dtype.is_floating_point]
    if floats:
        sum((o * torch.tensor(np.cos(np.arange(o.numel())).reshape(o.shape)
                              .astype(np.float32))).sum() for o in floats).backward()
    assert len(outs) == len(routs)
    for o, r in zip(outs, routs):
        assert o.shape == tuple(r.shape)
        np.testing.assert_allclose(o.numpy(), r.detach().numpy(), rtol=1e-4, atol=1e-5)
    if floats:
        np.testing.assert_allclose(grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fn", [lambda x: gg.cumsum(x, 0), lambda x: gg.einsum("ij,jk->ik", x, x.T),
                                lambda x: gg.topk(x, 2, 1)[0], lambda x: gg.norm(x, 3, dim=1),
                                lambda x: F.pad(x, (1, 2), mode="reflect")],
                         ids=["cumsum", "einsum", "topk", "norm", "pad"])
def test_gradcheck_float64(fn):
    x = gg.tensor(np.random.default_rng(2).standard_normal((3, 4)), dtype="float64",
                  requires_grad=True)
    assert gg.gradcheck(fn, (x,), check_forward=True)


@pytest.mark.parametrize("replacement", [True, False])
def test_multinomial_frequencies(replacement):
    gg.manual_seed(0)
    p = np.array([0.1, 0.0, 0.6, 0.3])
    probs = gg.tensor(np.tile(p, (4000, 1)), dtype="float64")
    draws = gg.multinomial(probs, 2 if not replacement else 3, replacement=replacement).numpy()
    assert draws.dtype == np.int64 and not (draws == 1).any()
    if replacement:
        freq = np.bincount(draws.reshape(-1), minlength=4) / draws.size
        np.testing.assert_allclose(freq, p, atol=0.02)
    else:
        assert (draws[:, 0] != draws[:, 1]).all()
        first = np.bincount(draws[:, 0], minlength=4) / len(draws)
        np.testing.assert_allclose(first, p, atol=0.03)


def test_multinomial_compiled_draws_fresh_samples():
    probs = gg.softmax(gg.randn(2, 6), -1)
    step = gg.compile(lambda p: gg.multinomial(p, 5, replacement=True))
    a, b = step(probs).numpy(), step(probs).numpy()
    assert a.shape == (2, 5) and (a != b).any()


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("fns", [
    (lambda x: x.norm(dim=1), lambda x: x.norm(dim=1)),
    (lambda x: x.norm(3, dim=1), lambda x: x.norm(3, dim=1)),
    (lambda x: gg.norm(x * 0), lambda x: torch.norm(x * 0)),
    (lambda x: F.normalize(x, dim=1), lambda x: torch.nn.functional.normalize(x, dim=1)),
], ids=["p2", "p3", "all_zero", "normalize"])
def test_norm_gradient_at_zero_is_torchs_not_nan(fns, compiled):
    """A row of zeros (padding): torch's norm backward gives 0 there (normalize: 1/eps),
    where sqrt(sum(x^2))'s chain rule gives 0 * inf = NaN."""
    ours, theirs = fns
    x0 = np.array([[0, 0, 0], [3, 4, 1], [0, -2, 0]], np.float32)

    def step(x):
        (ours(x) * gg.tensor(np.float32(1.5))).sum().backward()
        return x.grad

    x = gg.tensor(x0, requires_grad=True)
    grad = (gg.compile(step) if compiled else step)(x)
    t = torch.tensor(x0, requires_grad=True)
    (theirs(t) * 1.5).sum().backward()
    np.testing.assert_allclose(grad.numpy(), t.grad.numpy(), rtol=1e-5)


def test_bitwise_operators_are_logic_on_bools_and_refused_on_integers():
    """`&`, `|`, `~` on bool tensors (and Python bools) are torch's logic; on integers
    torch computes bits, which graphgrad has no ops for: a clear refusal, never a bool
    answer (5 & 3 would have been True, torch gives 1)."""
    a, b = np.array([True, False, True]), np.array([True, True, False])
    ga, gb, ta, tb = gg.tensor(a), gg.tensor(b), torch.tensor(a), torch.tensor(b)
    for ours, theirs in [(ga & gb, ta & tb), (ga | gb, ta | tb), (~ga, ~ta),
                         (ga & True, ta & True), (False | ga, False | ta)]:
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    five = gg.tensor(np.array([5, 10], np.uint8))
    for make in (lambda: five & five, lambda: five | five, lambda: ~five, lambda: ga & 3):
        with pytest.raises(gg.UnsupportedError, match="bool tensors only"):
            make()


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_sort_and_topk_name_their_parts_and_take_0d_tensors(compiled):
    """`.values` / `.indices` as torch.return_types; a 0-d tensor sorts to itself."""
    def f(x):
        top, srt = gg.topk(x, 2), x.sort(descending=True)
        zero = gg.tensor(2.0)
        return (top.values, top.indices, srt.values, srt.indices, zero.sort().values,
                zero.argsort(), zero.topk(1).indices)

    x = np.array([3.0, 1.0, 2.0], np.float32)
    got = (gg.compile(f) if compiled else f)(gg.tensor(x))
    t, z = torch.tensor(x), torch.tensor(2.0)
    want = (t.topk(2).values, t.topk(2).indices, t.sort(descending=True).values,
            t.sort(descending=True).indices, z.sort().values, z.argsort(), z.topk(1).indices)
    for g, w in zip(got, want):
        assert g.shape == tuple(w.shape)
        np.testing.assert_array_equal(g.numpy(), w.numpy())


@pytest.mark.parametrize("case", [
    lambda L, d: L.tensor(np.array([200, 100], np.uint8)).sum(dtype=d(L, "uint8")),
    lambda L, d: L.tensor(np.array([200, 100], np.uint8)).sum(dtype=d(L, "int32")),
    lambda L, d: L.tensor(np.array([[200, 100]], np.int32)).sum(1, dtype=d(L, "uint8")),
    lambda L, d: L.tensor(np.array([200, 100], np.int32)).cumsum(0, dtype=d(L, "uint8")),
    lambda L, d: L.tensor(np.array([1.5, 2.5], np.float32)).cumsum(0, dtype=d(L, "int64")),
    lambda L, d: L.tensor(np.array([5, 10], np.int32)).clamp(min=6.5),
    lambda L, d: L.tensor(np.array([5, 10], np.uint8)).clamp(max=7.5),
    lambda L, d: L.tensor(np.array([5, 10], np.int32)).clamp(L.tensor(6.5)),
    lambda L, d: L.tensor(np.array([5, 10], np.int32)).clamp(6, 8),
], ids=["sum_uint8", "sum_int32", "sum_dim_uint8", "cumsum_uint8", "cumsum_float_to_int",
        "clamp_int_float_min", "clamp_uint8_float_max", "clamp_tensor_bound", "clamp_int"])
def test_integer_dtypes_of_reductions_and_clamp_follow_torch(case):
    """A narrower integer `dtype=` wraps as torch's does (it was ignored: uint64 300), and
    an integer tensor clamped by a float is float (it was truncated)."""
    def dt(lib, name):
        return getattr(lib, name)

    ours, theirs = case(gg, dt), case(torch, dt)
    assert np.dtype(ours.dtype) == theirs.numpy().dtype
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_nan_sorts_as_the_largest_value_and_max_passes_its_gradient_to_it(compiled):
    nan = float("nan")
    x0 = np.array([[3, nan, 1, nan], [2, 0, nan, 5], [1, 2, 3, 4]], np.float32)

    def f(lib, x):
        desc, asc = x.sort(dim=1, descending=True, stable=True), x.sort(dim=1, stable=True)
        top = x.topk(2, dim=1)
        loss = x.max() + (x.max(1)[0] if lib is gg else x.max(1).values).sum()
        return desc.indices, asc.indices, top.indices, loss

    def ours(x):
        out = f(gg, x)
        out[-1].backward()
        return out

    x = gg.tensor(x0, requires_grad=True)
    got = (gg.compile(ours) if compiled else ours)(x)
    t = torch.tensor(x0, requires_grad=True)
    want = f(torch, t)
    want[-1].backward()
    for g, w in zip(got[:3], want[:3]):
        np.testing.assert_array_equal(g.numpy(), w.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_einsum_broadcasts_size_one_dims_and_checks_its_output(compiled):
    """A batch of 1 against a batch of 4 broadcasts as in torch (eager backward failed,
    compiled refused); an output letter no input has is a clear error (a KeyError)."""
    a = np.ones((1, 2, 3), np.float32)
    b = np.random.default_rng(0).random((4, 3, 5)).astype(np.float32)

    def ours(x, y):
        out = gg.einsum("bij,bjk->bik", x, y)
        (out * out).sum().backward()
        return out

    gs = [gg.tensor(v, requires_grad=True) for v in (a, b)]
    out = (gg.compile(ours) if compiled else ours)(*gs)
    ts = [torch.tensor(v, requires_grad=True) for v in (a, b)]
    ref = torch.einsum("bij,bjk->bik", *ts)
    (ref * ref).sum().backward()
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-5)
    for g, t in zip(gs, ts):
        np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=1e-5)
    with pytest.raises(gg.ShapeError, match="'z' is not"):
        gg.einsum("ij,jk->iz", gg.ones(2, 2), gg.ones(2, 2))


@pytest.mark.parametrize("op", [
    lambda x: x.add_(1.5), lambda x: x.mul_(2.5), lambda x: x.sub_(0.5),
    lambda x: x.clamp_(min=6.5), lambda x: (x > 5).add_(1),
], ids=["add_float", "mul_float", "sub_float", "clamp_float", "bool_add_int"])
def test_in_place_ops_that_would_change_the_dtype_are_refused_as_in_torch(op):
    """int32 x.add_(1.5) was truncated to int silently; torch refuses it."""
    with pytest.raises(RuntimeError):
        op(torch.tensor([5, 10], dtype=torch.int32))
    with pytest.raises(gg.DtypeError, match="can't be cast"):
        op(gg.tensor(np.array([5, 10], np.int32)))


def test_in_place_ops_that_keep_the_dtype_cast_as_torch():
    for make in (lambda L, x: x.add_(1), lambda L, x: x.masked_fill_(x > 5, 1.5),
                 lambda L, x: x.copy_(L.tensor([1.7, 2.2]))):
        ours = make(gg, gg.tensor(np.array([5, 10], np.int32)))
        theirs = make(torch, torch.tensor([5, 10], dtype=torch.int32))
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        assert ours.numpy().dtype == np.int32


@pytest.mark.parametrize("probs, n", [([-1.0, 2.0], 1), ([0.0, 0.0], 1), ([float("nan"), 1.0], 1),
                                      ([1.0, float("inf")], 1), ([1.0, 2.0], 0),
                                      ([1.0, 2.0], 1.5)],
                         ids=["negative", "all_zero", "nan", "inf", "zero_samples", "float_n"])
def test_multinomial_refuses_what_torch_refuses(probs, n):
    """These drew samples (from garbage weights) or failed inside slicing."""
    with pytest.raises((RuntimeError, TypeError)):
        torch.multinomial(torch.tensor(probs), n)
    with pytest.raises(gg.GraphgradError):
        gg.multinomial(gg.tensor(probs), n)


@pytest.mark.parametrize("mode", [None, "floor", "trunc"])
@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_div_rounding_modes_match_torch(mode, dtype):
    a, b = np.array([7, -7, 5, 6], dtype), np.array([2, 2, -3, 4], dtype)
    ours = gg.div(gg.tensor(a), gg.tensor(b), rounding_mode=mode)
    theirs = torch.div(torch.tensor(a), torch.tensor(b), rounding_mode=mode)
    assert np.dtype(ours.dtype) == theirs.numpy().dtype
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_array_equal(gg.tensor(a).div(gg.tensor(b), rounding_mode=mode).numpy(),
                                  theirs.numpy())


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_assigning_through_a_repeated_index_writes_once(compiled):
    """x[[0, 0]] = 5 gave 10 and x[i] += 1 with i repeated counted twice: the scatter
    summed the duplicates. torch writes each element once."""
    def f(lib, idx):
        x = lib.zeros(4)
        x[idx] = 5.0
        y = lib.zeros(4)
        y[idx] = y[idx] + 1
        z = lib.ones(4)
        z[idx] *= 3
        w = lib.zeros(4)
        w[1:3] = 2.0
        return x, y, z, w

    idx = np.array([0, 0, 2])
    ours = (gg.compile(lambda i: f(gg, i)) if compiled else (lambda i: f(gg, i)))(
        gg.tensor(idx))
    for g, t in zip(ours, f(torch, torch.tensor(idx))):
        np.testing.assert_array_equal(g.numpy(), t.numpy())


def test_masks_are_bool_and_a_uint8_index_tensor_is_a_mask_as_in_torch():
    """masked_select with an integer mask gathered by position ([20, 10, 20]); torch
    refuses it. A uint8 index tensor is a (deprecated) mask to torch: [10, 30]."""
    x, tx = gg.tensor([10.0, 20.0, 30.0]), torch.tensor([10.0, 20.0, 30.0])
    with pytest.raises(RuntimeError):
        tx.masked_select(torch.tensor([1, 0, 1]))
    with pytest.raises(gg.DtypeError, match="bool mask"):
        x.masked_select(gg.tensor([1, 0, 1]))
    with pytest.warns(DeprecationWarning):
        picked = x[gg.tensor(np.array([1, 0, 1], np.uint8))]
    np.testing.assert_array_equal(picked.numpy(), [10.0, 30.0])


@pytest.mark.parametrize("make", [lambda L: L.tensor([1, 0, -1]) // L.tensor([0, 1, 1]),
                                  lambda L: L.tensor([1, -1]) % 0,
                                  lambda L: L.div(L.tensor([7]), L.tensor([0]),
                                                  rounding_mode="trunc")],
                         ids=["floordiv", "remainder", "div_trunc"])
def test_integer_division_by_zero_raises_as_in_torch(make):
    """It gave -2**63 (or the dividend) with only NumPy's RuntimeWarning."""
    with pytest.raises(RuntimeError):
        make(torch)
    with pytest.raises(gg.NumericalError, match="division by zero"):
        make(gg)


@pytest.mark.filterwarnings("ignore:var\\(\\)|std\\(\\)|Degrees of freedom")
@pytest.mark.parametrize("values, correction", [([1.0, 2.0], 2), ([1.0, 2.0], 3),
                                                ([1.0, 1.0], 2), ([5.0], 1)])
def test_variance_without_degrees_of_freedom_is_torchs(values, correction):
    """The sum of squares over max(0, N - correction): inf, or NaN when all are equal
    (it was always NaN)."""
    for name in ("var", "std"):
        ours = getattr(gg.tensor(values), name)(correction=correction)
        theirs = getattr(torch.tensor(values), name)(correction=correction)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_from_numpy_shares_the_arrays_memory_as_torch():
    for dtype in (np.float32, np.float64, np.int64, np.int32, np.bool_):
        arr = np.zeros(3, dtype)
        t, tt = gg.from_numpy(arr), torch.from_numpy(arr)
        arr[1] = 1
        np.testing.assert_array_equal(t.numpy(), tt.numpy())
        assert t.numpy().dtype == tt.numpy().dtype


@pytest.mark.parametrize("make", [
    lambda L: L.ones(2, 3).flip((0, 0)),
    lambda L: L.ones(2).masked_fill(L.tensor([True, False]), L.tensor([5.0, 6.0])),
    lambda L: L.tensor(np.array([1, 2], np.uint8)).masked_fill(L.tensor([True, False]), 300),
], ids=["flip_twice", "masked_fill_tensor_value", "masked_fill_overflow"])
def test_calls_torch_refuses_are_refused(make):
    """Each was answered: flipped once, broadcast the value, wrapped 300 to 44."""
    with pytest.raises(RuntimeError):
        make(torch)
    with pytest.raises(gg.GraphgradError):
        make(gg)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_over_all_dims_with_keepdim_keeps_every_dim_as_torch(name):
    x = np.array([[1.0, 5.0], [3.0, 4.0]], np.float32)
    for keepdim in (True, False):
        ours = getattr(gg.tensor(x), name)(keepdim=keepdim)
        theirs = getattr(torch.tensor(x), name)(keepdim=keepdim)
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_comparing_with_none_is_a_bool_as_torch():
    for lib in (gg, torch):
        x = lib.tensor([1.0, 2.0])
        assert (x == None) is False and (x != None) is True  # noqa: E711

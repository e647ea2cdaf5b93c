"""Elementwise ops at the ends of their range, against float64 truth and PyTorch.

Unit tests sample ops around zero, where an approximation with a small *absolute* error
passes any tolerance; users feed them saturated logits. The NumPy backend's float32
sigmoid once cancelled in 1 + tanh (sigmoid(-20) came out 0, so binary_cross_entropy
gave 100 where PyTorch gives 20), and its float32 erf had an absolute error that was
6% of erf(1e-6). Each op here runs eagerly and compiled (NumPy, and Numba where
installed) on values from -1e4 to 1e4, the infinities and NaN, and must be within a few
float32 ulp of the float64 result, or no further from it than PyTorch's float32 result
is (4x its error: PyTorch's own formulas cancel in places too, GELU's exact form for one);
so must the gradients, on the finite values.
NumPy's floating-point warnings on infinite inputs are a separate matter (PyTorch never
warns) and are not what this file checks.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg

F, TF = gg.nn.functional, torch.nn.functional

VALUES = np.array([-1e4, -200, -104, -100, -88, -50, -20, -17, -10, -5, -1, -1e-3, -1e-6,
                   0, 1e-6, 1e-3, 0.5, 1, 5, 10, 17, 20, 50, 88, 100, 200, 1e4,
                   np.inf, -np.inf, np.nan], np.float32)


OPS = {
    "sigmoid": (gg.sigmoid, torch.sigmoid),
    "tanh": (gg.tanh, torch.tanh),
    "erf": (gg.erf, torch.erf),
    "logsigmoid": (F.logsigmoid, TF.logsigmoid),
    "softplus": (F.softplus, TF.softplus),
    "silu": (F.silu, TF.silu),
    "gelu": (F.gelu, TF.gelu),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: TF.gelu(x, approximate="tanh")),
    "log_of_sigmoid": (lambda x: gg.log(gg.sigmoid(x)), lambda x: torch.log(torch.sigmoid(x))),
    "bce_with_logits_1": (
        lambda x: F.binary_cross_entropy_with_logits(x, gg.ones_like(x), reduction="none"),
        lambda x: TF.binary_cross_entropy_with_logits(x, torch.ones_like(x),
                                                      reduction="none")),
    "bce_with_logits_0": (
        lambda x: F.binary_cross_entropy_with_logits(x, gg.zeros_like(x), reduction="none"),
        lambda x: TF.binary_cross_entropy_with_logits(x, torch.zeros_like(x),
                                                      reduction="none")),
    "bce_of_sigmoid": (
        lambda x: F.binary_cross_entropy(gg.sigmoid(x), gg.ones_like(x), reduction="none"),
        lambda x: TF.binary_cross_entropy(torch.sigmoid(x), torch.ones_like(x),
                                          reduction="none")),
    "bce_with_logits_pos_weight": (
        lambda x: F.binary_cross_entropy_with_logits(x, gg.ones_like(x), reduction="none",
                                                     pos_weight=gg.tensor(2.5)),
        lambda x: TF.binary_cross_entropy_with_logits(x, torch.ones_like(x), reduction="none",
                                                      pos_weight=torch.tensor(2.5,
                                                                              dtype=x.dtype))),
    "elu": (F.elu, TF.elu),
    "selu": (F.selu, TF.selu),
    "celu": (lambda x: F.celu(x, 2.0), lambda x: TF.celu(x, 2.0)),
    "sqrt": (gg.sqrt, torch.sqrt),
    "rsqrt": (gg.rsqrt, torch.rsqrt),
    "pow_minus_1_5": (lambda x: x ** -1.5, lambda x: x ** -1.5),
    "sinh": (gg.sinh, torch.sinh),
    "cosh": (gg.cosh, torch.cosh),
    "exp2": (gg.exp2, torch.exp2),
    "log_softmax": (lambda x: F.log_softmax(gg.stack([x, gg.zeros_like(x)], 1), dim=1),
                    lambda x: TF.log_softmax(torch.stack([x, torch.zeros_like(x)], 1), dim=1)),
    "logsumexp": (lambda x: gg.logsumexp(gg.stack([x, gg.zeros_like(x)], 1), dim=1),
                  lambda x: torch.logsumexp(torch.stack([x, torch.zeros_like(x)], 1), dim=1)),
}
MODES = ["eager", "numpy"] + (["numba"] if "numba" in gg.backends.available() else [])


def _run(op, mode, x):
    fn = OPS[op][0]
    if mode == "eager":
        return fn(x).numpy()
    return gg.compile(lambda v: fn(v * 1.0), backend=mode)(x).numpy()  # (* 1.0: fused)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", sorted(OPS))
def test_op_holds_its_precision_at_the_ends_of_its_range(op, mode):
    values = VALUES[~np.isnan(VALUES)] if op == "bce_of_sigmoid" else VALUES  # (torch refuses)
    reference = OPS[op][1]
    with torch.no_grad():
        truth = reference(torch.tensor(values, dtype=torch.float64)).numpy()
        theirs = reference(torch.tensor(values)).numpy().astype(np.float64)
    ours = _run(op, mode, gg.tensor(values)).astype(np.float64)
    # (atol: PyTorch's float64 BCE with logits is log(1 + 2e-22) = 0 at x = -50)
    bad = np.nonzero(~(_close(ours, truth, theirs, atol=1e-20) | (ours == theirs)))[0]
    assert not bad.size, (f"{op} ({mode}) at x = {values[bad].tolist()}: "
                          f"{ours[bad].tolist()}, float64 {truth[bad].tolist()}, "
                          f"PyTorch float32 {theirs[bad].tolist()}")


def _close(ours, truth, theirs, atol):
    """Within a few float32 ulp of float64 (or `atol`), or no further than PyTorch's
    float32 result; NaN only where PyTorch's float32 is NaN too. Where float64 PyTorch
    gives NaN there is no reference (it gives NaN for BCE with logits at -inf, whose
    limit is inf)."""
    with np.errstate(all="ignore"):
        error, their_error = np.abs(ours - truth), np.abs(theirs - truth)
        return np.isnan(truth) | np.where(
            np.isnan(ours), np.isnan(theirs),
            (ours == truth) | (error <= 4e-7 * np.abs(truth) + atol) | (error <= 4 * their_error))


# finite inputs, inside float32's range for the exponentials' results and gradients
GRAD_VALUES = VALUES[np.isfinite(VALUES) & (np.abs(VALUES) <= 88)]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", sorted(set(OPS) - {"log_of_sigmoid", "bce_of_sigmoid"}))
def test_gradient_holds_its_precision_at_the_ends_of_the_range(op, mode):
    """The gradients where the function saturates: BCE with logits once had the gradient
    1 - sigmoid(-x) at target 0 (0 below x ~ -17, PyTorch: sigmoid(x)), and ELU's went
    through 1 - tanh^2 (0 below x ~ -10)."""
    fn, reference = OPS[op]
    grads = []
    for dtype in (torch.float64, torch.float32):
        t = torch.tensor(GRAD_VALUES, dtype=dtype, requires_grad=True)
        reference(t).sum().backward()
        grads.append(t.grad.numpy().astype(np.float64))

    def value_and_grad(x):
        x.grad = None
        loss = fn(x * 1.0).sum()
        loss.backward()
        return loss
    x = gg.tensor(GRAD_VALUES, requires_grad=True)
    (value_and_grad if mode == "eager" else gg.compile(value_and_grad, backend=mode))(x)
    ours = x.grad.numpy().astype(np.float64)
    bad = np.nonzero(~_close(ours, grads[0], grads[1], atol=1e-15))[0]
    assert not bad.size, (f"d {op} ({mode}) at x = {GRAD_VALUES[bad].tolist()}: "
                          f"{ours[bad].tolist()}, float64 {grads[0][bad].tolist()}, "
                          f"PyTorch float32 {grads[1][bad].tolist()}")


@pytest.mark.parametrize("mode", MODES)
def test_saturated_logits_give_pytorchs_losses(mode):
    """The case users meet: a confident wrong prediction costs its logit, not 100."""
    x = gg.tensor(np.array([-20.0, -15.0, 3.0], np.float32))
    y = gg.tensor(np.array([1.0, 1.0, 0.0], np.float32))

    def loss(x):
        return F.binary_cross_entropy(gg.sigmoid(x * 1.0), y, reduction="none")
    got = (loss if mode == "eager" else gg.compile(loss, backend=mode))(x).numpy()
    np.testing.assert_allclose(got, [20.0, 15.0, 3.0485876], rtol=1e-6)
    ends = gg.tensor(np.array([-np.inf, np.inf], np.float32))
    sig = (gg.sigmoid if mode == "eager" else
           gg.compile(lambda v: gg.sigmoid(v * 1.0), backend=mode))(ends).numpy()
    assert sig.tolist() == [0.0, 1.0]


@pytest.mark.parametrize("mode", MODES)
def test_cumsum_of_float32_adds_up_in_float64_as_pytorch(mode):
    values = np.random.default_rng(0).uniform(0.5, 1.5, 65536).astype(np.float32)
    fn = (lambda v: gg.cumsum(v * 1.0, 0))
    ours = (fn if mode == "eager" else gg.compile(fn, backend=mode))(gg.tensor(values))
    want = torch.cumsum(torch.tensor(values), 0).numpy()
    np.testing.assert_allclose(ours.numpy(), want, rtol=1e-7)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", MODES)
def test_xlogy_value_and_gradients_where_x_is_zero_as_pytorch(mode):
    # (left out: x = 0, y = inf, where PyTorch's value is 0 and its x-gradient inf)
    xs = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 2.0], np.float32)
    ys = np.array([0.0, 0.0, np.nan, np.nan, 2.0, -1.0, 3.0], np.float32)

    def value_and_grads(x, y):
        x.grad = y.grad = None
        out = gg.xlogy(x * 1.0, y * 1.0)
        out.sum().backward()
        return out
    x, y = gg.tensor(xs, requires_grad=True), gg.tensor(ys, requires_grad=True)
    out = (value_and_grads if mode == "eager" else gg.compile(value_and_grads, backend=mode))(x, y)
    tx, ty = torch.tensor(xs, requires_grad=True), torch.tensor(ys, requires_grad=True)
    want = torch.xlogy(tx, ty)
    want.sum().backward()
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(y.grad.numpy()[1:], ty.grad.numpy()[1:], rtol=1e-6)  # (0, 0): NaN



@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("loss", ["smooth_l1_loss", "huber_loss"])
def test_robust_losses_have_pytorchs_gradient_at_infinite_errors(loss, mode):
    """The quadratic branch not taken once multiplied its zero cotangent by an infinite
    error: NaN, where PyTorch's gradient is the linear branch's."""
    values = np.array([-np.inf, -1e30, -3.0, -0.5, 0.0, 0.5, 3.0, 1e30, np.inf], np.float32)

    def value_and_grad(x):
        x.grad = None
        out = getattr(F, loss)(x * 1.0, gg.zeros_like(x), reduction="sum")
        out.backward()
        return out
    x = gg.tensor(values, requires_grad=True)
    (value_and_grad if mode == "eager" else gg.compile(value_and_grad, backend=mode))(x)
    t = torch.tensor(values, requires_grad=True)
    getattr(TF, loss)(t, torch.zeros_like(t), reduction="sum").backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())

"""In-place updates: allowed on leaves under no_grad, refused (clearly) otherwise.

Oracle: PyTorch's semantics, hand-checked values: the seed's update
`params -= lr * params.grad` under `no_grad` keeps `params` a leaf that requires grad;
changing such a leaf in place with grad mode on is an error naming the fix; changing a
tensor a recorded op still needs is caught at backward time.
"""

import pytest

import graphgrad as gg


def _leaf():
    w = gg.tensor([1.0, 2.0], requires_grad=True)
    (w * 3).sum().backward()
    return w


@pytest.mark.parametrize("update, expected", [
    (lambda w: w.__isub__(0.1 * w.grad), [0.7, 1.7]),
    (lambda w: w.sub_(w.grad), [-2.0, -1.0]),
    (lambda w: w.add_(w.grad, alpha=2), [7.0, 8.0]),
    (lambda w: w.mul_(2.0), [2.0, 4.0]),
    (lambda w: w.div_(2.0), [0.5, 1.0]),
    (lambda w: w.copy_(gg.tensor([5.0, 6.0])), [5.0, 6.0]),
    (lambda w: w.zero_(), [0.0, 0.0]),
    (lambda w: w.fill_(4.0), [4.0, 4.0]),
    (lambda w: w.clamp_(max=1.5), [1.0, 1.5]),
    (lambda w: w.__setitem__(0, 9.0), [9.0, 2.0]),
])
def test_leaf_updates_under_no_grad(update, expected):
    w = _leaf()
    with gg.no_grad():
        result = update(w)
    assert w.tolist() == pytest.approx(expected)
    assert result is None or result is w
    assert w.is_leaf and w.requires_grad and w.grad_fn is None
    w.grad = None
    (w * w).sum().backward()  # still a usable leaf
    assert w.grad.tolist() == pytest.approx([2 * v for v in expected])


@pytest.mark.parametrize("update", [
    lambda w: w.sub_(1.0), lambda w: w.add_(1.0), lambda w: w.mul_(2.0),
    lambda w: w.copy_(gg.ones(2)), lambda w: w.zero_(), lambda w: w.__setitem__(0, 1.0),
    lambda w: w.__iadd__(1.0),
])
def test_leaf_updates_with_grad_on_are_refused(update):
    w = _leaf()
    with pytest.raises(gg.AutogradError, match=r"in place.*no_grad.*test_inplace\.py:\d+"):
        update(w)
    assert w.tolist() == [1.0, 2.0]


def test_plain_tensors_update_in_place_anywhere():
    t = gg.zeros(3)
    t += 1
    t[1] = 5.0
    t.mul_(2)
    assert t.tolist() == [2.0, 10.0, 2.0] and not t.requires_grad


def test_in_place_on_a_saved_tensor_is_caught_at_backward():
    a = gg.tensor([1.0, 2.0], requires_grad=True)
    b = a * 2
    c = b * b
    b.add_(1.0)
    with pytest.raises(gg.AutogradError, match="changed by an in-place operation"):
        c.sum().backward()


def test_in_place_on_a_non_leaf_joins_the_graph():
    a = gg.tensor([1.0, 2.0], requires_grad=True)
    b = a * 2
    b.mul_(3.0)
    b.sum().backward()
    assert a.grad.tolist() == [6.0, 6.0]


def test_gradient_descent_step_matches_hand_computation():
    w = gg.tensor(5.0, requires_grad=True)
    loss = (w * 2 + 2 - 7) ** 2
    loss.backward()
    with gg.no_grad():
        w -= 0.01 * w.grad
    assert w.item() == pytest.approx(5.0 - 0.01 * 20.0)
    w.grad.zero_()
    assert w.grad.item() == 0.0

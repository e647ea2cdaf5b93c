"""no_grad / enable_grad / set_grad_enabled as context managers and decorators.

Oracle: PyTorch's documented semantics: results made with grad mode off have
`requires_grad == False` and no history; modes nest and restore on exit (also when
the block raises); `set_grad_enabled(False)` called plainly switches the mode.
"""

import pytest
import torch

import graphgrad as gg


def test_no_grad_context():
    x = gg.tensor([1.0], requires_grad=True)
    with gg.no_grad():
        y = x * 2
        assert not gg.is_grad_enabled()
    assert gg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert (x * 2).requires_grad


def test_decorators():
    x = gg.tensor([1.0], requires_grad=True)

    @gg.no_grad()
    def off():
        return x * 2

    @gg.enable_grad()
    def on():
        return x * 2

    @gg.set_grad_enabled(False)
    def off_too():
        return x * 2

    assert gg.is_grad_enabled()  # decorating does not switch the mode
    assert not off().requires_grad and not off_too().requires_grad
    with gg.no_grad():
        assert on().requires_grad
        assert not gg.is_grad_enabled()
    assert off.__name__ == "off"


def test_nesting_and_restoring():
    x = gg.tensor([1.0], requires_grad=True)
    with gg.no_grad():
        with gg.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
        with gg.set_grad_enabled(True):
            assert gg.is_grad_enabled()
    with pytest.raises(ZeroDivisionError), gg.no_grad():
        raise ZeroDivisionError
    assert gg.is_grad_enabled()


def test_set_grad_enabled_as_a_plain_call():
    try:
        gg.set_grad_enabled(False)
        assert not gg.is_grad_enabled()
        assert not (gg.tensor([1.0], requires_grad=True) * 2).requires_grad
    finally:
        gg.set_grad_enabled(True)
    assert gg.is_grad_enabled()


def test_backward_through_no_grad_result_is_refused():
    x = gg.tensor([1.0], requires_grad=True)
    with gg.no_grad():
        y = (x * 2).sum()
    with pytest.raises(gg.AutogradError, match="no_grad"):
        y.backward()


def test_decorators_cover_generators_and_work_without_parentheses_as_torch():
    """A decorated generator runs each step in the mode (it ran with grad on: the call
    only made the generator); `@gg.no_grad` without parentheses decorates too."""
    for lib in (gg, torch):
        w = lib.ones(2, requires_grad=True)

        @lib.no_grad()
        def steps(w=w):
            yield w * 2
            yield w * 3

        @lib.no_grad
        def bare(w=w):
            return w * 2

        @lib.enable_grad
        def on(w=w):
            return w * 2

        assert [t.requires_grad for t in steps()] == [False, False]
        assert not bare().requires_grad and bare.__name__ == "bare"
        with lib.no_grad():
            assert on().requires_grad
        assert lib.is_grad_enabled()


def test_requires_grad_cannot_be_turned_off_on_a_computed_tensor():
    """It was accepted and silently cut the graph (requires_grad_(False) refused it)."""
    x = gg.ones(2, requires_grad=True)
    y = x * 3
    with pytest.raises(gg.AutogradError, match="leaf"):
        y.requires_grad = False
    assert y.requires_grad
    leaf = gg.ones(2, requires_grad=True)
    leaf.requires_grad = False
    assert not leaf.requires_grad

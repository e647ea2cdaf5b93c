"""gg.compile with modules: inference on a compiled nn.Module, train()/eval() switches,
and a DataLoader's smaller last batch. Oracle: the same module run eagerly."""

import numpy as np

import graphgrad as gg
from graphgrad import nn


def _model():
    gg.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Dropout(0.5), nn.Linear(7, 2))


def test_compiled_module_for_inference_matches_eager():
    model = _model().eval()
    x = gg.randn(4, 5)
    fast = gg.compile(model)
    with gg.no_grad():
        np.testing.assert_allclose(fast(x).numpy(), model(x).numpy(), rtol=1e-6)
    state = fast.last.graph.state_reads
    assert {"0.weight", "0.bias", "3.weight", "3.bias"} <= set(state)


def test_switching_train_and_eval_retraces_once_each_and_says_why():
    model = _model()
    fast = gg.compile(model)
    x = gg.randn(4, 5)
    with gg.no_grad():
        model.eval()
        a = fast(x)
        model.train()
        fast(x)
        model.eval()
        b = fast(x)
    np.testing.assert_allclose(a.numpy(), b.numpy())
    info = fast.cache_info()
    assert info.traces == 2 and info.hits == 1
    assert "guard failed: module" in info.records[1].reason and "training=False" in \
        info.records[1].reason


def test_dropout_in_train_mode_draws_fresh_masks_each_call():
    model = _model().train()
    fast = gg.compile(model)
    x = gg.randn(64, 5)
    with gg.no_grad():
        first, second = fast(x).numpy(), fast(x).numpy()
    assert not np.allclose(first, second)
    assert fast.cache_info().traces == 1


def test_smaller_last_batch_of_a_dataloader_retraces_once():
    model = _model().eval()
    fast = gg.compile(model)
    data = gg.data.TensorDataset(gg.randn(10, 5), gg.zeros(10, dtype="int64"))
    loader = gg.data.DataLoader(data, batch_size=4)
    with gg.no_grad():
        for _ in range(2):
            for x, _ in loader:
                np.testing.assert_allclose(fast(x).numpy(), model(x).numpy(), rtol=1e-6)
    info = fast.cache_info()
    assert info.traces == 2 and "changed: f32[4, 5] -> f32[2, 5]" in info.records[1].reason

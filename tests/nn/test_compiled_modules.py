"""Modules under `gg.compile`: same numbers as eager, module scopes in the graph.

Oracle: the same code run eagerly from the same seed. Dropout draws through the `rand`
op, so a compiled step draws a fresh mask per call in eager order; BatchNorm's running
statistics are state written in place; train()/eval() switches are guarded.
"""

import numpy as np

import graphgrad as gg
from graphgrad import nn, optim

STEPS = 100  # the bar: same parameters after 100 steps (rtol 1e-5, float32)


def make():
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.25),
                          nn.Linear(6, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt


def data():
    rng = np.random.default_rng(3)
    return [(gg.tensor(rng.standard_normal((8, 5)), dtype="float32"),
             gg.tensor(rng.standard_normal((8, 2)), dtype="float32")) for _ in range(3)]


def run(compiled):
    model, opt = make()

    def train_step(x, y):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    def predict(x):
        return model(x)

    step = gg.compile(train_step) if compiled else train_step
    pred = gg.compile(predict) if compiled else predict
    batches = data()
    gg.manual_seed(11)
    losses = [step(*batches[i % len(batches)]).item() for i in range(STEPS)]
    model.eval()
    preds = pred(batches[0][0]).numpy()
    model.train()
    more = step(*batches[1]).item()
    return model, losses + [more], preds, step


def test_batchnorm_and_dropout_training_matches_eager():
    m1, l1, p1, _ = run(compiled=False)
    m2, l2, p2, step = run(compiled=True)
    np.testing.assert_allclose(l2, l1, rtol=1e-5)
    np.testing.assert_allclose(p2, p1, rtol=1e-5, atol=1e-6)
    sd1, sd2 = m1.state_dict(), m2.state_dict()
    for key in sd1:
        np.testing.assert_allclose(sd2[key].numpy(), sd1[key].numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    assert m2[1].num_batches_tracked.item() == STEPS + 1
    assert step.cache_info().traces == 1


def test_graph_nodes_carry_module_scopes_and_buffer_state():
    _, _, _, step = run(compiled=True)
    graph = step.last.graph
    scopes = {graph[n]["scope"] for n in graph.nx.nodes} - {None}
    assert {"0", "1", "3", "4"} <= {s.split(".")[-1] for s in scopes}
    writes = set(graph.state_writes)
    for buf in ("1.running_mean", "1.running_var", "1.num_batches_tracked"):
        assert any(w.endswith(buf) for w in writes), (buf, writes)
    assert "rand" in {graph[n]["op"] for n in graph.nx.nodes}

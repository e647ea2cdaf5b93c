"""The pass manager: named pipelines, statistics, verification, third-party passes."""

import pytest

import graphgrad as gg
from graphgrad.passes import PassContext, manager, run_passes


def _graph():
    return gg.trace(lambda x: gg.tanh(x * 1.0) + gg.tanh(x * 1.0), gg.Spec((3,)))


def test_stats_report_nodes_and_kernels_per_pass():
    _, stats = run_passes(_graph(), "default")
    assert [s.name for s in stats] == list(manager.DEFAULT_PIPELINE)
    cse = stats[2]
    assert cse.kernels_after < cse.kernels_before
    assert all(s.seconds >= 0 for s in stats) and "nodes" in str(stats[0])


def test_none_and_custom_lists():
    g = _graph()
    same, stats = run_passes(g, "none")
    assert stats == [] and len(same) == len(g)
    _, stats = run_passes(g, ["cse", "dce"])
    assert [s.name for s in stats] == ["cse", "dce"]


def test_unknown_pass_is_a_clear_error():
    with pytest.raises(gg.GraphgradError, match="unknown pass 'nope'; known passes: dce"):
        run_passes(_graph(), ["nope"])


def test_third_party_pass_from_entry_points(monkeypatch):
    calls = []

    def my_pass(graph, ctx):
        calls.append(len(graph))
        return graph

    class FakeEntryPoint:
        name = "mine"

        def load(self):
            return my_pass

    monkeypatch.setattr(manager, "entry_points",
                        lambda group: [FakeEntryPoint()] if group == manager.GROUP else [])
    assert "mine" in manager.available_passes()
    run_passes(_graph(), ["cse", "mine"])
    assert calls


def test_debug_mode_verifies_after_every_pass():
    def breaking_pass(graph, ctx):
        graph.nx.nodes[graph.outputs[0]]["shape"] = (99,)
        return graph

    with pytest.raises(gg.GraphError, match="recorded type"):
        run_passes(_graph(), [breaking_pass], PassContext(debug=True))


def test_compile_accepts_a_pass_list():
    f = gg.compile(lambda x: gg.exp(x) * 1.0, passes=["simplify", "dce"])
    assert f(gg.zeros(2)).numpy().tolist() == [1.0, 1.0]
    assert [s.name for s in f.last.pass_stats] == ["simplify", "dce"]

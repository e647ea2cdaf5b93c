"""The `foreach` pass: one update kernel over flat parameter and optimizer-state buffers.

Oracle: the same training step run eagerly (every parameter updated by its own ops,
the formulas themselves being checked against PyTorch in tests/optim), given the same
data and the same manipulations between steps (replaced parameter values, an eager
step, a step count that comes apart). For `FusedProgram.canonical`, NumPy evaluating
the expression the two programs were written from.
"""

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.backends import registry
from graphgrad.backends.numpy_backend import NumpyBackend
from graphgrad.passes import PassContext, run_passes
from graphgrad.passes import foreach as foreach_pass

OPTIMIZERS = {
    "adam": lambda ps: optim.Adam(ps, lr=1e-3),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-3, weight_decay=0.05),
    "sgd momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=1e-3),
}
UP_TO_FUSION = ["simplify", "fold", "cse", "simplify", "dce", "fusion"]
WITHOUT_FOREACH = UP_TO_FUSION + ["layout", "memory"]


def digits_batches(n=4, size=32):
    """Digits-like data: 8x8 images with 17 grey levels, ten classes."""
    rng = np.random.default_rng(7)
    return [(gg.tensor((rng.integers(0, 17, (size, 64)) / 16).astype(np.float32)),
             gg.tensor(rng.integers(0, 10, size))) for _ in range(n)]


class Run:
    """The digits MLP and one optimizer, stepped eagerly or compiled."""

    def __init__(self, make_opt=OPTIMIZERS["adam"], compiled=True, passes="default",
                 device=None, groups=False):
        gg.manual_seed(0)
        self.model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128),
                                   nn.ReLU(), nn.Linear(128, 10))
        if device is not None:
            self.model.to(device)
        params = list(self.model.parameters())
        if groups:
            params = [{"params": params[:2], "lr": 1e-3}, {"params": params[2:], "lr": 5e-3}]
        self.opt = make_opt(params)
        self.loss_fn = nn.CrossEntropyLoss()
        self.device = device
        self.data = digits_batches()
        self.calls = 0
        self.step = gg.compile(self.train_step, passes=passes, backend=device) \
            if compiled else self.train_step

    def train_step(self, x, y):
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.opt.step()
        return loss

    def run(self, steps, step=None):
        losses = []
        for _ in range(steps):
            x, y = self.data[self.calls % len(self.data)]
            if self.device is not None:
                x, y = x.to(self.device), y.to(self.device)
            losses.append((step or self.step)(x, y).item())
            self.calls += 1
        return losses

    @property
    def params(self):
        return list(self.model.parameters())

    @property
    def graph(self):
        return self.step.last.optimized


def assert_same_state(eager, compiled, rtol=1e-5):
    for p1, p2 in zip(eager.params, compiled.params):
        np.testing.assert_allclose(p2.numpy(), p1.numpy(), rtol=rtol, atol=1e-7)
        s1, s2 = eager.opt.state[p1], compiled.opt.state[p2]
        assert set(s1) == set(s2)
        for key in s1:
            np.testing.assert_allclose(s2[key].numpy(), s1[key].numpy(), rtol=rtol,
                                       atol=1e-7, err_msg=key)


def update_kernels(graph):
    """The update's kernels over arrays (a 0-d kernel computing a factor every parameter
    shares, such as AdamW's 1 - lr * weight_decay, is not counted)."""
    return [n for n in graph.nx if graph[n]["op"] == "fused" and graph[n]["phase"] == "update"
            and any(shape for shape, _ in graph[n]["attrs"]["program"].output_types)]


def flat_refs(graph):
    return [ref for ref in graph.state_refs.values() if ref.kind == "flat"]


def ref_of(graph, tensor):
    """The flat state that holds `tensor` (exactly one)."""
    (ref,) = [r for r in flat_refs(graph) if any(t is tensor for t in r.tensors)]
    return ref


def ids(tensors):
    return {id(t) for t in tensors}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_one_update_kernel_matches_eager_after_30_steps(name):
    eager, compiled = Run(OPTIMIZERS[name], compiled=False), Run(OPTIMIZERS[name])
    np.testing.assert_allclose(compiled.run(30), eager.run(30), rtol=1e-5)
    assert_same_state(eager, compiled)
    compiled.graph.verify()
    assert len(update_kernels(compiled.graph)) == 1
    assert compiled.step.cache_info().traces == 1


@pytest.mark.parametrize("name", ["adam", "adam amsgrad decay"])
def test_adam_state_lives_in_flat_buffers(name):
    """Adam's six per-parameter update kernels (after `fusion`) become one over flat
    buffers: the parameters, and each array of state, are views of one buffer."""
    make = OPTIMIZERS.get(name) or (lambda ps: optim.Adam(ps, lr=1e-3, amsgrad=True,
                                                          weight_decay=0.1))
    eager, compiled = Run(make, compiled=False), Run(make)
    np.testing.assert_allclose(compiled.run(30), eager.run(30), rtol=1e-5)
    assert_same_state(eager, compiled)
    graph = compiled.graph
    fused, _ = run_passes(compiled.step.last.graph, UP_TO_FUSION,
                          PassContext(backend=compiled.step.backend))
    assert len(update_kernels(fused)) == 6 and len(update_kernels(graph)) == 1
    bases = {id(p._value.base) for p in compiled.params}
    assert len(bases) == 1 and compiled.params[0]._value.base is not None
    param_ref = ref_of(graph, compiled.params[0])
    assert ids(param_ref.tensors) == ids(compiled.params)
    assert param_ref.flat is compiled.params[0]._value.base
    assert param_ref.flat.size == sum(p.numel() for p in compiled.params)
    for t, view in zip(param_ref.tensors, param_ref.views):
        assert t._value is view
    state_keys = [k for k, v in compiled.opt.state[compiled.params[0]].items() if v.ndim]
    assert len(flat_refs(graph)) == 1 + len(state_keys)
    for key in state_keys:
        tensors = [compiled.opt.state[p][key] for p in compiled.params]
        assert len({id(t._value.base) for t in tensors}) == 1
        assert tensors[0]._value.base is not param_ref.flat
        assert tensors[0]._value.base is ref_of(graph, tensors[0]).flat


def test_each_flat_buffer_holds_one_role():
    """Each flat buffer gathers one role (all parameters, or all first moments), never a
    mix of parameters and moments."""
    compiled = Run()
    compiled.run(2)
    state = [compiled.opt.state[p] for p in compiled.params]
    roles = {frozenset(ids(compiled.params))} | {
        frozenset(ids(s[key] for s in state)) for key in ("exp_avg", "exp_avg_sq")}
    assert {frozenset(ids(r.tensors)) for r in flat_refs(compiled.graph)} == roles


def test_replaced_parameter_values_are_used_by_the_next_compiled_step():
    eager, compiled = Run(compiled=False), Run()
    for run in (eager, compiled):
        run.run(5)
    rng = np.random.default_rng(3)
    new_weight = rng.standard_normal((128, 64)).astype(np.float32) * 0.05
    new_bias = rng.standard_normal(10).astype(np.float32)
    for run in (eager, compiled):
        run.model[0].weight.data = gg.tensor(new_weight)
        run.model[4].bias.data = gg.tensor(new_bias)
    assert compiled.model[0].weight._value.base is None  # no longer a view of the buffer
    losses = [run.run(1)[0] for run in (eager, compiled)]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-6)
    assert_same_state(eager, compiled)
    # one Adam step moves each entry by about lr (1e-3): it started from the new values
    assert np.abs(compiled.model[0].weight.numpy() - new_weight).max() < 2e-3
    assert compiled.model[0].weight._value.base is compiled.model[2].weight._value.base
    np.testing.assert_allclose(compiled.run(5), eager.run(5), rtol=1e-5)
    assert_same_state(eager, compiled)
    assert compiled.step.cache_info().traces == 1


def test_loaded_state_dicts_are_used_by_the_next_compiled_step():
    """Loading a donor's model and optimizer state (7 steps in) makes the run continue
    the donor's: the batches line up (7 and 3 calls are both 3 mod 4)."""
    eager, compiled, donor = Run(compiled=False), Run(), Run(compiled=False)
    donor.run(7)
    for run in (eager, compiled):
        run.run(3)
        run.model.load_state_dict(donor.model.state_dict())
        run.opt.load_state_dict(donor.opt.state_dict())
    losses = compiled.run(4)
    np.testing.assert_allclose(losses, eager.run(4), rtol=1e-5)
    np.testing.assert_allclose(losses, donor.run(4), rtol=1e-5)
    assert_same_state(eager, compiled)
    assert_same_state(donor, compiled)
    assert compiled.opt.state[compiled.params[0]]["step"].item() == 11.0


def test_an_eager_step_between_compiled_steps_is_seen():
    eager, compiled = Run(compiled=False), Run()
    np.testing.assert_allclose(compiled.run(3), eager.run(3), rtol=1e-5)
    eager.run(1)
    compiled.run(1, step=compiled.train_step)  # the same function, not compiled
    np.testing.assert_allclose(compiled.run(3), eager.run(3), rtol=1e-5)
    assert_same_state(eager, compiled)


def test_two_compiled_steps_over_the_same_parameters_stay_consistent():
    """Two plans, each with its own flat buffer over the same tensors, take turns."""
    eager, compiled = Run(compiled=False), Run()
    other = gg.compile(lambda x, y: compiled.train_step(x, y))
    for i in range(6):
        eager.run(1)
        compiled.run(1, step=other if i % 2 else None)
    assert_same_state(eager, compiled)


def test_a_parameter_read_after_the_update_sees_its_old_value():
    """A snapshot taken before opt.step() must not see the in-place flat update."""
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = optim.Adam(model.parameters(), lr=0.1)

    def train_step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        snapshot = model[0].weight * 1.0 + model[2].bias.sum()
        opt.step()
        return loss, snapshot

    step = gg.compile(train_step)
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.standard_normal((5, 8)).astype(np.float32))
    y = gg.tensor(rng.integers(0, 3, 5))
    for _ in range(3):
        before = model[0].weight.numpy() + model[2].bias.numpy().sum()
        _, snapshot = step(x, y)
        np.testing.assert_allclose(snapshot.numpy(), before, rtol=1e-6)
        assert not np.allclose(model[0].weight.numpy() + model[2].bias.numpy().sum(), before)
    assert len(update_kernels(step.last.optimized)) == 1


def set_step(run, index, value):
    with gg.no_grad():
        run.opt.state[run.params[index]]["step"].fill_(value)


def test_steps_that_come_apart_retrace_and_still_match_eager():
    eager, compiled = Run(compiled=False), Run()
    for run in (eager, compiled):
        run.run(3)
        set_step(run, 1, 5.0)
    np.testing.assert_allclose(compiled.run(4), eager.run(4), rtol=1e-5)
    assert_same_state(eager, compiled)
    info = compiled.step.cache_info()
    assert info.traces == 2
    assert info.records[-1].reason.startswith("guard failed: the per-parameter state")
    assert "came apart" in info.records[-1].reason
    # retraced with the odd parameter on its own: two update kernels now
    assert len(update_kernels(compiled.graph)) == 2
    assert compiled.opt.state[compiled.params[1]]["step"].item() == 9.0
    assert compiled.opt.state[compiled.params[0]]["step"].item() == 7.0


def test_steps_moved_together_keep_the_plan():
    """Equal steps (all set to 10) satisfy the guard: no retrace, and the bias
    corrections follow the new count."""
    eager, compiled = Run(compiled=False), Run()
    for run in (eager, compiled):
        run.run(2)
        for i in range(len(run.params)):
            set_step(run, i, 10.0)
    np.testing.assert_allclose(compiled.run(3), eager.run(3), rtol=1e-5)
    assert_same_state(eager, compiled)
    assert compiled.step.cache_info().traces == 1
    assert compiled.opt.state[compiled.params[5]]["step"].item() == 13.0


def test_loading_optimizer_state_with_unequal_steps_retraces():
    eager, compiled = Run(compiled=False), Run()
    for run in (eager, compiled):
        run.run(2)
        saved = run.opt.state_dict()
        saved["state"][4]["step"] = gg.tensor(np.float32(40.0))
        run.opt.load_state_dict(saved)
    np.testing.assert_allclose(compiled.run(3), eager.run(3), rtol=1e-5)
    assert_same_state(eager, compiled)
    assert "guard failed" in compiled.step.cache_info().records[-1].reason


def test_parameters_over_foreach_max_keep_their_own_kernel(monkeypatch):
    monkeypatch.setattr(foreach_pass, "FOREACH_MAX", 2000)
    eager, compiled = Run(compiled=False), Run()
    np.testing.assert_allclose(compiled.run(10), eager.run(10), rtol=1e-5)
    assert_same_state(eager, compiled)
    graph = compiled.graph
    graph.verify()
    # model.0.weight (8192) and model.2.weight (16384) alone, the other four merged
    assert len(update_kernels(graph)) == 3
    model = compiled.model
    param_ref = ref_of(graph, model[4].weight)
    assert ids(param_ref.tensors) == ids([model[0].bias, model[2].bias, model[4].weight,
                                          model[4].bias])
    for big in (model[0].weight, model[2].weight):
        assert not any(big is t for r in flat_refs(graph) for t in r.tensors)
        assert big._value.base is None
    assert all(t._value.base is param_ref.flat for t in param_ref.tensors)


def test_param_groups_with_different_learning_rates_are_not_merged():
    eager, compiled = Run(compiled=False, groups=True), Run(groups=True)
    np.testing.assert_allclose(compiled.run(10), eager.run(10), rtol=1e-5)
    assert_same_state(eager, compiled)
    graph = compiled.graph
    assert len(update_kernels(graph)) == 2
    params = compiled.params
    assert ids(ref_of(graph, params[0]).tensors) == ids(params[:2])
    assert ids(ref_of(graph, params[2]).tensors) == ids(params[2:])


@pytest.mark.parametrize("passes", ["none", WITHOUT_FOREACH], ids=["none", "no-foreach"])
def test_pipelines_without_foreach_give_the_same_results(passes):
    default, other = Run(), Run(passes=passes)
    np.testing.assert_allclose(other.run(10), default.run(10), rtol=1e-5)
    assert_same_state(default, other)
    assert not flat_refs(other.graph)
    assert other.params[0]._value.base is None
    if passes != "none":
        assert len(update_kernels(other.graph)) == len(other.params)


class NoFlatBackend(NumpyBackend):
    name = "numpy_noflat"
    flat_state = False


@pytest.fixture(scope="module")
def noflat():
    registry.register(NoFlatBackend.name, NoFlatBackend)
    yield gg.backends.get_backend(NoFlatBackend.name)
    registry._factories.pop(NoFlatBackend.name, None)
    registry._instances.pop(NoFlatBackend.name, None)


def _snapshot(graph):
    return (sorted(graph.nx.nodes(data="op")), sorted(graph.nx.edges(keys=True)),
            dict(graph.state_reads), dict(graph.state_writes), list(graph.state_refs),
            len(graph.guards))


def test_a_backend_without_flat_state_leaves_the_graph_alone(noflat):
    run = Run()
    run.run(1)
    fused, _ = run_passes(run.step.last.graph, UP_TO_FUSION, PassContext(backend=noflat))
    before = _snapshot(fused)
    assert len(update_kernels(fused)) == 6
    for ctx in (PassContext(backend=noflat), None):
        assert _snapshot(foreach_pass.merge_foreach(fused, ctx)) == before
    # the same graph on the NumPy backend is merged: the check above can fail
    merged = foreach_pass.merge_foreach(fused.copy(), PassContext(backend=run.step.backend))
    assert len(update_kernels(merged)) == 1 and merged.guards


def test_a_backend_without_flat_state_compiles_per_parameter_kernels(noflat):
    eager, compiled = Run(compiled=False), Run(device=NoFlatBackend.name)
    np.testing.assert_allclose(compiled.run(5), eager.run(5), rtol=1e-5)
    assert_same_state(eager, compiled)
    assert len(update_kernels(compiled.graph)) == 6
    assert not flat_refs(compiled.graph) and not compiled.graph.guards


def _program(order):
    """out0 = x * y + exp(z), out1 = tanh(x * y), with the inputs in `order` (a
    permutation of "xyz") and the exp step first or last."""
    from graphgrad.ir.fused import FusedProgram, Step

    f64, shape = np.dtype("float64"), (5,)
    x, y, z = (order.index(c) for c in "xyz")
    if order == "xyz":  # mul, exp, add, tanh
        steps = [("mul", (x, y)), ("exp", (z,)), ("add", (3, 4)), ("tanh", (3,))]
    else:  # exp, mul, add, tanh: the same expression traced in another order
        steps = [("exp", (z,)), ("mul", (x, y)), ("add", (4, 3)), ("tanh", (4,))]
    return FusedProgram(((shape, f64),) * 3,
                        tuple(Step(op, args, {}, shape, f64) for op, args in steps), (5, 6))


def test_canonical_programs_of_one_expression_are_equal_and_compute_it():
    backend = gg.backends.get_backend("numpy")
    rng = np.random.default_rng(0)
    values = {c: rng.standard_normal(5) for c in "xyz"}
    expected = [values["x"] * values["y"] + np.exp(values["z"]),
                np.tanh(values["x"] * values["y"])]
    results, keys = [], set()
    for order in ("xyz", "zyx", "yzx"):
        program = _program(order)
        args = [values[c] for c in order]
        raw = backend.compile_fused(program)(*args)  # the program as written is right
        for got, want in zip(raw, expected):
            np.testing.assert_allclose(got, want, rtol=1e-14)
        canonical, old = program.canonical()
        assert sorted(old) == [0, 1, 2]
        keys.add(canonical.key)
        results.append(backend.compile_fused(canonical)(*[args[i] for i in old]))
    assert len({_program(o).key for o in ("xyz", "zyx", "yzx")}) == 3  # differ as written
    assert len(keys) == 1
    for result in results:
        for got, want in zip(result, expected):
            np.testing.assert_allclose(got, want, rtol=1e-14)


def test_canonical_keeps_unused_inputs_at_the_end():
    from graphgrad.ir.fused import FusedProgram, Step

    f32, shape = np.dtype("float32"), (3,)
    program = FusedProgram(((shape, f32),) * 3, (Step("neg", (2,), {}, shape, f32),), (3,))
    canonical, old = program.canonical()
    assert old == [2, 0, 1]
    assert canonical.steps[0].args == (0,) and canonical.outputs == (3,)
    x = np.arange(3, dtype=np.float32)
    out = gg.backends.get_backend("numpy").compile_fused(canonical)(x, x + 1, x + 2)
    np.testing.assert_array_equal(out, -x)


def test_weight_and_bias_updates_canonicalize_to_one_program_modulo_shape():
    run = Run()
    run.run(1)
    fused, _ = run_passes(run.step.last.graph, UP_TO_FUSION,
                          PassContext(backend=run.step.backend))
    programs = [fused[n]["attrs"]["program"] for n in update_kernels(fused)]
    assert len(programs) == 6

    def modulo_shape(program):
        inputs, steps, outputs = program.canonical()[0].key
        return (tuple((bool(s), d) for s, d in inputs),
                tuple(s[:3] + (bool(s[3]),) + s[4:] for s in steps), outputs)

    assert len({modulo_shape(p) for p in programs}) == 1

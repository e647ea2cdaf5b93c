"""A training world built twice (eager and compiled) and the changes users make to it.

`World(opt_name, compiled)` holds a small model (Linear, BatchNorm1d, ReLU, Dropout,
Linear, and a scale parameter the optimizer does not hold at first), an optimizer and
a training step `step(x, y, scale)`, compiled with `gg.compile` or left eager. Each
entry of `MUTATIONS` is a change a user makes between two calls (a hyperparameter, the
optimizer's state or groups, a layer, a parameter, a buffer, an attribute, train/eval,
the arguments); it returns False where it does not apply to that world. Both worlds get
the same changes and the same seed before every call (so Dropout draws the same mask),
and `snapshot(world)` lists every number that must agree: the returned loss,
parameters, gradients, buffers and optimizer state. Used by test_eager_equivalence.py
and test_mutation_catalogue.py.
"""

from __future__ import annotations

import functools

import numpy as np

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.optim.lr_scheduler import StepLR

OPTIMIZERS = {
    "sgd_momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
    "sgd_dampening": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1,
                                          weight_decay=0.01),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.05),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.05, lr_decay=0.01),
}
# The optimizers added after the five, whose float hyperparameters are read at
# every call too (drawn by their own differential test, so the five keep their share).
MORE_OPTIMIZERS = {
    "adadelta": lambda ps: optim.Adadelta(ps, lr=0.5, rho=0.9, weight_decay=0.01),
    "adamax": lambda ps: optim.Adamax(ps, lr=0.01),
    "nadam": lambda ps: optim.NAdam(ps, lr=0.01, weight_decay=0.01),
    "radam": lambda ps: optim.RAdam(ps, lr=0.01, weight_decay=0.01,
                                    decoupled_weight_decay=True),
    "asgd": lambda ps: optim.ASGD(ps, lr=0.05, t0=3),
    "rprop": lambda ps: optim.Rprop(ps, lr=0.01),
}
ALL_OPTIMIZERS = {**OPTIMIZERS, **MORE_OPTIMIZERS}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.bn = nn.BatchNorm1d(8)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(8, 3)
        self.scale = nn.Parameter(gg.ones(()))

    def forward(self, x):
        return self.fc2(self.drop(gg.relu(self.bn(self.fc1(x))))) * self.scale


def batch(seed: int, n: int = 6):
    rng = np.random.default_rng(seed)
    return (gg.tensor(rng.standard_normal((n, 4)).astype(np.float32)),
            gg.tensor(rng.integers(0, 3, n)))


class World:
    """A model, an optimizer and a step function (see the module docstring)."""

    def __init__(self, opt_name: str, compiled: bool):
        gg.manual_seed(0)
        self.opt_name = opt_name
        self.model = model = Net()
        self.opt = opt = ALL_OPTIMIZERS[opt_name]([p for n, p in model.named_parameters()
                                               if n != "scale"])
        loss_fn = nn.CrossEntropyLoss()

        def train_step(x, y, scale):
            opt.zero_grad()
            loss = loss_fn(model(x), y) * scale
            loss.backward()
            opt.step()
            return loss

        self.step = gg.compile(train_step) if compiled else train_step
        self.scale = 1.0
        self.batch_size = 6
        self.calls = 0
        self.added_group = False
        self.sched = None

    def call(self):
        self.calls += 1
        x, y = batch(self.calls, self.batch_size)
        gg.manual_seed(100 + self.calls)  # the same Dropout mask eagerly and compiled
        return self.step(x, y, self.scale)


def snapshot(world: World, loss) -> dict[str, np.ndarray]:
    """Every number that must agree between the eager and the compiled world."""
    out = {"loss": loss.numpy()}
    for name, p in world.model.named_parameters():
        out[name] = p.numpy()
        out[f"{name}.grad"] = None if p.grad is None else p.grad.numpy()
    for name, b in world.model.named_buffers():
        out[name] = b.numpy()
    for i, group in enumerate(world.opt.param_groups):
        for j, p in enumerate(group["params"]):
            out[f"group{i}.{j}"] = p.numpy()
            for key, v in sorted(world.opt.state.get(p, {}).items()):
                out[f"group{i}.{j}.{key}"] = v.numpy() if isinstance(v, gg.Tensor) else v
    return out


def assert_same(eager: dict, compiled: dict, context: str = "") -> None:
    assert eager.keys() == compiled.keys(), context
    for key, want in eager.items():
        got = compiled[key]
        if want is None or got is None:
            assert want is None and got is None, f"{context}: {key}"
            continue
        np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64),
                                   rtol=1e-5, atol=1e-6, err_msg=f"{context}: {key}")


# ---------------------------------------------------------------------- the catalogue
def _group(w):
    return w.opt.param_groups[0]


def _set_hyper(key, value, kinds=None):
    def mutate(w):
        if key not in _group(w) or (kinds and w.opt_name not in kinds):
            return False
        _group(w)[key] = value
        return True
    return mutate


def _state_entry(key, make):
    def mutate(w):
        p = w.model.fc1.weight
        state = w.opt.state.get(p)
        if not state or key not in state:
            return False
        with gg.no_grad():
            state[key] = make(state[key])
        return True
    return mutate


def _module_attr(path, attr, value):
    def mutate(w):
        setattr(w.model.get_submodule(path), attr, value)
        return True
    return mutate


def _seeded(make):
    def build():
        gg.manual_seed(1234)
        return make()
    return build


def _lr_times(f):
    def mutate(w):
        for g in w.opt.param_groups:
            g["lr"] = g["lr"] * f
        return True
    return mutate


def _scheduler_step(w):
    if w.sched is None:
        w.sched = StepLR(w.opt, step_size=1, gamma=0.7)
    w.sched.step()
    return True


def _one_cycle_momentum(w):  # what OneCycleLR does to SGD's momentum / Adam's beta1
    g = _group(w)
    if "momentum" in g and g["momentum"] != 0:
        g["momentum"] = 0.85 if g["momentum"] != 0.85 else 0.95
    elif "betas" in g:
        g["betas"] = (0.85 if g["betas"][0] != 0.85 else 0.95, g["betas"][1])
    else:
        return False
    return True


def _weight_decay_scaled(w):  # a nonzero weight decay changed to another nonzero value
    if not _group(w).get("weight_decay"):
        return False
    _group(w)["weight_decay"] *= 2
    return True


def _decoupled_toggled(w):  # NAdam and RAdam: a switch the update branches on
    if "decoupled_weight_decay" not in _group(w):
        return False
    _group(w)["decoupled_weight_decay"] = not _group(w)["decoupled_weight_decay"]
    return True


def _nesterov(w):
    g = _group(w)
    if w.opt_name != "sgd_momentum" or g["momentum"] == 0 or g["dampening"] != 0:
        return False
    g["nesterov"] = not g["nesterov"]
    return True


def _maximize(w):
    _group(w)["maximize"] = not _group(w)["maximize"]
    return True


def _state_clear(w):
    w.opt.state.clear()
    return True


def _state_drop_one(w):
    return w.opt.state.pop(w.model.fc2.bias, None) is not None


def _state_roundtrip(w):
    w.opt.load_state_dict(w.opt.state_dict())
    return True


def _add_param_group(w):
    if w.added_group:
        return False
    w.opt.add_param_group({"params": [w.model.scale], "lr": 0.02})
    w.added_group = True
    return True


def _remove_param(w):
    params = _group(w)["params"]
    if not any(p is w.model.fc2.bias for p in params):
        return False
    _group(w)["params"] = [p for p in params if p is not w.model.fc2.bias]
    return True


def _remove_param_in_place(w):
    params = _group(w)["params"]
    for k, p in enumerate(params):
        if p is w.model.bn.bias:
            del params[k]
            return True
    return False


def _replace_group_dict(w):
    w.opt.param_groups[0] = dict(_group(w))
    return True


def _replace_layer(w):
    w.model.fc2 = _seeded(lambda: nn.Linear(8, 3))()
    return True


def _replace_parameter(w):
    w.model.fc1.bias = nn.Parameter(_seeded(lambda: gg.randn(8))())
    return True


def _drop_bias(w):
    if w.model.fc2.bias is None:
        return False
    w.model.fc2.bias = None
    return True


def _replace_buffer(w):
    w.model.bn.running_mean = _seeded(lambda: gg.randn(8))()
    return True


def _reset_running_stats(w):
    w.model.bn.reset_running_stats()
    return True


def _train_eval(w):
    w.model.train(not w.model.training)
    return True


def _freeze_param(w):
    w.model.fc1.bias.requires_grad_(not w.model.fc1.bias.requires_grad)
    return True


def _data_assign(w):
    w.model.fc1.weight.data = _seeded(lambda: gg.randn(8, 4) * 0.3)()
    return True


def _data_in_place(w):
    with gg.no_grad():
        w.model.fc2.weight.mul_(0.9)
    return True


def _hand_update(w):
    p = w.model.fc1.weight
    p.data = p.data - 0.01
    return True


def _load_model_state(w):
    state = {k: v * 1.01 for k, v in w.model.state_dict().items()
             if k != "bn.num_batches_tracked"}
    state["bn.num_batches_tracked"] = w.model.bn.num_batches_tracked
    w.model.load_state_dict(state)
    return True


def _scale_arg(w):
    w.scale = 0.5 if w.scale == 1.0 else 1.0
    return True


def _batch_size(w):
    w.batch_size = 5 if w.batch_size == 6 else 6
    return True


def _grad_preset(w):
    w.model.fc1.weight.grad = gg.ones(8, 4)  # zero_grad() in the step sets it to None
    return True


def _new_scale_param(w):
    w.model.scale = nn.Parameter(gg.full((), 0.5))
    return True


MUTATIONS = {
    "lr_halved": _lr_times(0.5),
    "lr_doubled": _lr_times(2.0),
    "scheduler_step": _scheduler_step,
    "one_cycle_momentum": _one_cycle_momentum,
    "momentum_changed": _set_hyper("momentum", 0.5),
    "momentum_to_zero": _set_hyper("momentum", 0),
    "dampening_changed": _set_hyper("dampening", 0.3, ["sgd_dampening"]),
    "weight_decay_set": _set_hyper("weight_decay", 0.01),
    "weight_decay_to_zero": _set_hyper("weight_decay", 0.0),
    "nesterov_toggled": _nesterov,
    "maximize_toggled": _maximize,
    "betas_changed": _set_hyper("betas", (0.8, 0.99)),
    "eps_changed": _set_hyper("eps", 1e-3),
    "alpha_changed": _set_hyper("alpha", 0.9),
    "lr_decay_changed": _set_hyper("lr_decay", 0.1),
    "lr_decay_to_zero": _set_hyper("lr_decay", 0.0),
    "state_step_replaced": _state_entry("step", lambda t: gg.tensor(50.0)),
    "state_step_in_place": _state_entry("step", lambda t: t.fill_(20.0)),
    "exp_avg_replaced": _state_entry("exp_avg", lambda t: gg.ones(*t.shape) * 0.1),
    "momentum_buffer_replaced": _state_entry("momentum_buffer",
                                             lambda t: gg.ones(*t.shape) * 0.1),
    "square_avg_scaled_in_place": _state_entry("square_avg", lambda t: t.mul_(2.0)),
    "adagrad_sum_replaced": _state_entry("sum", lambda t: gg.ones(*t.shape)),
    "state_cleared": _state_clear,
    "state_of_one_param_dropped": _state_drop_one,
    "optimizer_state_dict_reloaded": _state_roundtrip,
    "param_group_added": _add_param_group,
    "param_removed_from_group": _remove_param,
    "param_deleted_from_group_list": _remove_param_in_place,
    "param_group_dict_replaced": _replace_group_dict,
    "layer_replaced": _replace_layer,
    "parameter_replaced": _replace_parameter,
    "bias_removed": _drop_bias,
    "buffer_replaced": _replace_buffer,
    "running_stats_reset": _reset_running_stats,
    "dropout_p_changed": _module_attr("drop", "p", 0.5),
    "dropout_p_to_zero": _module_attr("drop", "p", 0.0),
    "bn_momentum_changed": _module_attr("bn", "momentum", 0.5),
    "bn_momentum_none": _module_attr("bn", "momentum", None),
    "bn_eps_changed": _module_attr("bn", "eps", 1e-2),
    "train_eval_toggled": _train_eval,
    "requires_grad_toggled": _freeze_param,
    "data_assigned": _data_assign,
    "parameter_scaled_in_place": _data_in_place,
    "hand_written_data_update": _hand_update,
    "model_state_dict_loaded": _load_model_state,
    "python_number_argument_changed": _scale_arg,
    "batch_size_changed": _batch_size,
    "grad_preset_between_calls": _grad_preset,
    "unoptimized_parameter_replaced": _new_scale_param,
}


# Changes added with the optimizers after the five: their hyperparameters (and
# two more for every optimizer). Kept apart so that the differential draw over
# MUTATIONS stays what it was; `applicable` and the named tests cover both.
MORE_MUTATIONS = {
    "weight_decay_scaled": _weight_decay_scaled,
    "decoupled_weight_decay_toggled": _decoupled_toggled,
    "rho_changed": _set_hyper("rho", 0.7),
    "momentum_decay_changed": _set_hyper("momentum_decay", 0.02),
    "lambd_changed": _set_hyper("lambd", 0.01),
    "t0_changed": _set_hyper("t0", 1.0),
    "etas_changed": _set_hyper("etas", (0.4, 1.3)),
    "step_sizes_changed": _set_hyper("step_sizes", (1e-4, 0.02)),
    "initial_accumulator_value_changed": _set_hyper("initial_accumulator_value", 0.3),
}
CATALOGUE = {**MUTATIONS, **MORE_MUTATIONS}

# Changes of a float hyperparameter's value that no update branches on: each is an input
# of the plan, so it must cost no retrace (a switch to or from 0 is not among them).
FLOAT_HYPERPARAMETERS = (
    "lr_halved", "lr_doubled", "scheduler_step", "one_cycle_momentum", "momentum_changed",
    "dampening_changed", "weight_decay_scaled", "betas_changed", "eps_changed",
    "alpha_changed", "lr_decay_changed", "rho_changed", "momentum_decay_changed",
    "lambd_changed", "t0_changed", "etas_changed", "step_sizes_changed",
    "initial_accumulator_value_changed")


@functools.cache
def applicable(opt_name: str, catalogue: str = "all") -> tuple[str, ...]:
    """The changes that apply to a world with this optimizer (after a step), from the
    whole CATALOGUE, or from the issue's MUTATIONS only (`catalogue="issue"`)."""
    names = []
    for name, mutate in (MUTATIONS if catalogue == "issue" else CATALOGUE).items():
        world = World(opt_name, compiled=False)
        world.call()
        if mutate(world):
            names.append(name)
    return tuple(names)

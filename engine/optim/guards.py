"""What a compiled training step assumes about its optimizer, as guards.

Float hyperparameters the update reads with `tracing.dynamic_scalar` (the optimizer's
`dynamic_hyperparameters`: `lr`, `momentum`, `betas`, `eps`, ...) are inputs of the
plan: changing one between calls costs nothing. What the traced Python code *branched*
on is guarded instead, so a change retraces: whether such a value is zero (`momentum
!= 0` decides whether a momentum buffer exists), every other hyperparameter's value
(`nesterov`, `maximize`, `amsgrad`, ...), which dicts `param_groups` holds and which
parameters each holds, and which tensors `opt.state[p]` holds.
"""

from __future__ import annotations

from ..guards import is_plain_value


def _name(tracer, opt) -> str:
    return tracer.names.get(id(opt)) or type(opt).__name__


def guard_optimizer(tracer, opt) -> None:
    """Guards on `opt.param_groups` (its groups, their parameters and hyperparameters)."""
    name, groups = _name(tracer, opt), opt.param_groups
    tracer.guard(f"{name}.param_groups changed (a group was added or removed)",
                 f"{{0}}.param_groups is {{1}} and len({{1}}) == {len(groups)}", opt, groups)
    dynamic = set(opt.dynamic_hyperparameters)
    branched = set(opt.branched_on_zero)
    for i, group in enumerate(groups):
        where = f"{name}.param_groups[{i}]"
        params = group["params"]
        tracer.guard(f"{where} was replaced", f"{{0}}[{i}] is {{1}}", groups, group)
        if len(params) <= 8:  # a few identity checks beat building a list of ids
            same = " and ".join(f"{{1}}[{k}] is {{{k + 2}}}" for k in range(len(params)))
            tracer.guard(f"the parameters in {where} changed",
                         f"{{0}}['params'] is {{1}} and len({{1}}) == {len(params)}"
                         + (f" and {same}" if same else ""), group, params, *params)
        else:
            tracer.guard(f"the parameters in {where} changed",
                         "{0}['params'] is {1} and list(map(id, {1})) == {2}",
                         group, params, [id(p) for p in params])
        for key, value in group.items():
            if key != "params":
                _guard_hyperparameter(tracer, where, group, key, value, key in dynamic,
                                      key in branched)


def _guard_hyperparameter(tracer, where, group, key, value, dynamic, branched) -> None:
    if dynamic and (_is_number(value) or type(value) is tuple) and not branched:
        return  # an input of the plan, never branched on: any value works
    if dynamic and _is_number(value):  # an input; only a switch to/from 0 retraces
        tracer.guard(f"{where}[{key!r}] changed {'to' if value else 'from'} 0 (traced with "
                     f"{value!r})", f"{{0}}[{key!r}] {'!=' if value != 0 else '=='} 0", group)
    elif dynamic and type(value) is tuple and all(_is_number(v) for v in value):
        zeros = tuple(v != 0 for v in value)
        tracer.guard(f"{where}[{key!r}] changed to or from 0 (traced with {value!r})",
                     f"len({{0}}[{key!r}]) == {len(value)} and "
                     f"tuple(v != 0 for v in {{0}}[{key!r}]) == {zeros!r}", group)
    elif is_plain_value(value):
        op = "is" if value is None or type(value) is bool else "=="
        tracer.guard(f"{where}[{key!r}] changed (traced with {value!r})",
                     f"{{0}}[{key!r}] {op} {{1}}", group, value)
    else:
        tracer.guard(f"{where}[{key!r}] is a different object",
                     f"{{0}}.get({key!r}) is {{1}}", group, value)


def _is_number(value) -> bool:
    return type(value) in (int, float)


def guard_param_state(tracer, opt, p, state: dict) -> None:
    """Guards on `opt.state[p]`: the same dict, holding the same tensors. (An empty
    state, as plain SGD's, is read by nothing: no guard.)"""
    if not state:
        return
    tracer.guard(f"{_name(tracer, opt)}.state was replaced", "{0}.state is {1}", opt, opt.state)
    where = f"{_name(tracer, opt)}.state[{tracer.names.get(id(p), 'a parameter')}]"
    tracer.guard(f"{where} was replaced or cleared", "{0}.get({1}) is {2}", opt.state, p, state)
    tracer.guard(f"{where} gained or lost an entry (traced with {sorted(state)})",
                 f"len({{0}}) == {len(state)}", state)
    for key, value in state.items():
        tracer.guard(f"{where}[{key!r}] is a different object (traced with a "
                     f"{type(value).__name__})", f"{{0}}.get({key!r}) is {{1}}", state, value)

"""The first three steps of each optimizer on a small quadratic.

Oracle: the update rules as written in PyTorch's documentation (the algorithm boxes of
torch.optim.SGD/Adam/AdamW/RMSprop/Adagrad), re-implemented here in NumPy float64,
independent of graphgrad. The loss is f(p) = sum(a p^2 / 2 + c p), so grad = a p + c.
"""

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import optim

P0 = np.array([1.0, -2.0, 0.5])
A = np.array([1.0, 2.0, 3.0])
C = np.array([0.5, -0.3, 0.1])


def grad_at(p):
    return A * p + C


def graphgrad_steps(make, dtype="float64", steps=3):
    p = gg.tensor(P0, dtype=dtype, requires_grad=True)
    a, c = gg.tensor(A, dtype=dtype), gg.tensor(C, dtype=dtype)
    opt = make([p])
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = (a * p * p * 0.5 + c * p).sum()
        loss.backward()
        opt.step()
        out.append(p.numpy().astype(np.float64))
    return out


def sgd_ref(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    p, b, out = P0.copy(), None, []
    for t in range(1, 4):
        g = grad_at(p)
        g = -g if maximize else g
        g = g + weight_decay * p
        if momentum:
            b = g if t == 1 else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
        out.append(p)
    return out


def adam_ref(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             decoupled=False):
    p, m, v, vmax, out = P0.copy(), 0.0, 0.0, 0.0, []
    b1, b2 = betas
    for t in range(1, 4):
        g = grad_at(p)
        if decoupled:
            p = p - lr * weight_decay * p
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        if amsgrad:
            vmax = np.maximum(vmax, v)
            v_hat = vmax / (1 - b2 ** t)
        else:
            v_hat = v / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


def rmsprop_ref(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    p, v, gavg, b, out = P0.copy(), 0.0, 0.0, 0.0, []
    for _ in range(3):
        g = grad_at(p) + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        v_tilde = v
        if centered:
            gavg = alpha * gavg + (1 - alpha) * g
            v_tilde = v - gavg * gavg
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (np.sqrt(v_tilde) + eps)
        out.append(p)
    return out


def adagrad_ref(lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    p, s, out = P0.copy(), initial_accumulator_value, []
    for t in range(1, 4):
        clr = lr / (1 + (t - 1) * lr_decay)
        g = grad_at(p) + weight_decay * p
        s = s + g * g
        p = p - clr * g / (np.sqrt(s) + eps)
        out.append(p)
    return out


CASES = [
    ("sgd plain", lambda ps: optim.SGD(ps, lr=0.1), lambda: sgd_ref(0.1)),
    ("sgd momentum", lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
     lambda: sgd_ref(0.1, 0.9)),
    ("sgd dampening", lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.3),
     lambda: sgd_ref(0.1, 0.9, 0.3)),
    ("sgd nesterov", lambda ps: optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True),
     lambda: sgd_ref(0.05, 0.8, nesterov=True)),
    ("sgd weight decay", lambda ps: optim.SGD(ps, lr=0.1, momentum=0.5, weight_decay=0.2),
     lambda: sgd_ref(0.1, 0.5, weight_decay=0.2)),
    ("sgd maximize", lambda ps: optim.SGD(ps, lr=0.1, maximize=True),
     lambda: sgd_ref(0.1, maximize=True)),
    ("adam", lambda ps: optim.Adam(ps, lr=0.1), lambda: adam_ref(0.1)),
    ("adam betas eps", lambda ps: optim.Adam(ps, lr=0.05, betas=(0.5, 0.8), eps=1e-3),
     lambda: adam_ref(0.05, (0.5, 0.8), 1e-3)),
    ("adam weight decay", lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.3),
     lambda: adam_ref(0.1, weight_decay=0.3)),
    ("adam amsgrad", lambda ps: optim.Adam(ps, lr=0.1, betas=(0.3, 0.5), amsgrad=True),
     lambda: adam_ref(0.1, (0.3, 0.5), amsgrad=True)),
    ("adamw", lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.3),
     lambda: adam_ref(0.1, weight_decay=0.3, decoupled=True)),
    ("adamw default decay", lambda ps: optim.AdamW(ps, lr=0.1),
     lambda: adam_ref(0.1, weight_decay=0.01, decoupled=True)),
    ("rmsprop", lambda ps: optim.RMSprop(ps, lr=0.01), lambda: rmsprop_ref(0.01)),
    ("rmsprop centered", lambda ps: optim.RMSprop(ps, lr=0.01, alpha=0.9, centered=True),
     lambda: rmsprop_ref(0.01, 0.9, centered=True)),
    ("rmsprop momentum", lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.7, weight_decay=0.1),
     lambda: rmsprop_ref(0.01, momentum=0.7, weight_decay=0.1)),
    ("rmsprop centered momentum",
     lambda ps: optim.RMSprop(ps, lr=0.02, alpha=0.8, eps=1e-4, momentum=0.5, centered=True),
     lambda: rmsprop_ref(0.02, 0.8, 1e-4, momentum=0.5, centered=True)),
    ("adagrad", lambda ps: optim.Adagrad(ps, lr=0.1), lambda: adagrad_ref(0.1)),
    ("adagrad decay", lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.5, weight_decay=0.1,
                                                initial_accumulator_value=0.2),
     lambda: adagrad_ref(0.1, 0.5, 0.1, 0.2)),
]


@pytest.mark.parametrize("name,make,ref", CASES, ids=[c[0] for c in CASES])
def test_first_three_steps_match_the_documented_formulas(name, make, ref):
    got = graphgrad_steps(make)
    for step, (g, r) in enumerate(zip(got, ref()), 1):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14, err_msg=f"step {step}")


@pytest.mark.parametrize("name,make,ref", CASES[::3], ids=[c[0] for c in CASES[::3]])
def test_float32_parameters_follow_the_same_formulas(name, make, ref):
    got = graphgrad_steps(make, dtype="float32")
    for g, r in zip(got, ref()):
        np.testing.assert_allclose(g, r, rtol=2e-6, atol=1e-6)


def test_the_steps_are_not_trivial():
    # Guards the oracle itself: every case moves the parameters, differently per case.
    finals = {name: tuple(np.round(ref()[-1], 12)) for name, _, ref in CASES}
    assert all(not np.allclose(f, P0) for f in finals.values())
    assert len(set(finals.values())) == len(finals)

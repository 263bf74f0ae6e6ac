"""SGD: golden steps computed by hand, momentum conventions, functional form."""

from __future__ import annotations

import numpy as np

from descentlab.optim import GD, SGD, ArrayParam, sgd


def test_plain_step() -> None:
    p = ArrayParam([1.0, -2.0])
    opt = SGD([p], lr=0.1, weight_decay=0.5)
    p.grad = np.array([1.0, 1.0])
    opt.step()  # g + lambda theta = [1.5, 0.0]
    np.testing.assert_allclose(p.data, [0.85, -2.0])
    assert opt.state[p] == {}
    assert GD is SGD


def test_momentum_first_step_copies_grad_then_dampens() -> None:
    p = ArrayParam([0.0])
    opt = SGD([p], lr=1.0, momentum=0.9, dampening=0.5)
    p.grad = np.array([2.0])
    opt.step()  # b = g (no dampening at t=1)
    assert opt.state[p]["momentum_buffer"][0] == 2.0
    assert p.data[0] == -2.0
    assert opt.state[p]["momentum_buffer"] is not p.grad
    p.grad = np.array([1.0])
    opt.step()  # b = 0.9*2 + 0.5*1 = 2.3
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [2.3])
    np.testing.assert_allclose(p.data, [-4.3])


def test_nesterov_and_maximize() -> None:
    p = ArrayParam([0.0])
    opt = SGD([p], lr=0.1, momentum=0.5, nesterov=True, maximize=True)
    p.grad = np.array([1.0])
    opt.step()  # g=-1, b=-1, d = g + 0.5 b = -1.5
    np.testing.assert_allclose(p.data, [0.15])


def test_functional_form_updates_in_place() -> None:
    x = np.array([1.0, 2.0])
    state: dict = {}
    sgd([x], [np.array([1.0, 1.0])], [state], lr=0.5, momentum=0.9)
    np.testing.assert_allclose(x, [0.5, 1.5])
    np.testing.assert_allclose(state["momentum_buffer"], [1.0, 1.0])

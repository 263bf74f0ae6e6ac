"""Adagrad and AdagradNorm: golden steps computed by hand."""

from __future__ import annotations

import numpy as np

from descentlab.optim import Adagrad, AdagradNorm, ArrayParam, adagrad_norm


def test_adagrad_two_steps_with_lr_decay() -> None:
    p = ArrayParam([1.0])
    opt = Adagrad([p], lr=1.0, lr_decay=1.0, initial_accumulator_value=1.0, eps=0.0)
    assert opt.state[p]["sum"][0] == 1.0 and opt.state[p]["step"] == 0
    p.grad = np.array([np.sqrt(3.0)])
    opt.step()  # s = 4, step = sqrt(3)/2
    np.testing.assert_allclose(p.data, [1.0 - np.sqrt(3.0) / 2])
    p.grad = np.array([np.sqrt(5.0)])
    opt.step()  # s = 9, eta_2 = 1/2, step = sqrt(5)/3/2
    np.testing.assert_allclose(p.data, [1.0 - np.sqrt(3.0) / 2 - np.sqrt(5.0) / 6])
    assert opt.state[p]["step"] == 2


def test_adagrad_norm_one_accumulator_for_the_group() -> None:
    a, b = ArrayParam([0.0, 0.0]), ArrayParam([0.0])
    opt = AdagradNorm([a, b], lr=1.0, eps=1e-10)
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    opt.step()  # ||g||^2 = 25 over the whole group
    np.testing.assert_allclose(a.data, [-3.0 / 5, 0.0], rtol=1e-9)
    np.testing.assert_allclose(b.data, [-4.0 / 5], rtol=1e-9)
    assert opt.state[a]["sum_sq_norm"] == 25.0
    assert b not in opt.state  # the group's scalar lives with its first parameter
    a.grad, b.grad = np.array([0.0, 0.0]), np.array([0.0])
    opt.step()
    np.testing.assert_allclose(a.data, [-0.6, 0.0], rtol=1e-9)
    assert opt.state[a]["step"] == 2


def test_adagrad_norm_zero_gradient_is_finite() -> None:
    x = np.zeros(3)
    state: dict = {}
    adagrad_norm([x], [np.zeros(3)], state, lr=1.0)
    assert np.all(x == 0) and state["sum_sq_norm"] == 0.0

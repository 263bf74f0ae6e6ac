"""RMSprop: golden steps computed by hand (plain, centered, momentum)."""

from __future__ import annotations

import numpy as np

from descentlab.optim import ArrayParam, RMSprop


def test_first_step_is_about_ten_lr() -> None:
    p = ArrayParam([0.0])
    opt = RMSprop([p], lr=0.01, eps=0.0)
    p.grad = np.array([3.0])
    opt.step()  # v = 0.01 * 9, step = 0.01 * 3 / 0.3
    np.testing.assert_allclose(p.data, [-0.1], rtol=1e-14)


def test_centered_with_momentum() -> None:
    p = ArrayParam([0.0])
    opt = RMSprop([p], lr=0.1, alpha=0.5, eps=0.0, momentum=0.5, centered=True)
    p.grad = np.array([2.0])
    opt.step()  # v = 2, gbar = 1, D = sqrt(2 - 1) = 1, b = 2
    np.testing.assert_allclose(opt.state[p]["grad_avg"], [1.0])
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [2.0])
    np.testing.assert_allclose(p.data, [-0.2])
    p.grad = np.array([0.0])
    opt.step()  # v = 1, gbar = .5, D = sqrt(.75), b = 0.5*2 + 0 = 1
    np.testing.assert_allclose(p.data, [-0.3])

"""Adadelta: a golden step computed by hand."""

from __future__ import annotations

import numpy as np

from descentlab.optim import Adadelta, ArrayParam


def test_first_two_steps() -> None:
    rho, eps = 0.9, 1e-6
    p = ArrayParam([1.0])
    opt = Adadelta([p], lr=1.0, rho=rho, eps=eps)
    p.grad = np.array([2.0])
    opt.step()
    v = (1 - rho) * 4.0
    delta = np.sqrt(eps) / np.sqrt(v + eps) * 2.0
    u = (1 - rho) * delta**2
    np.testing.assert_allclose(p.data, [1.0 - delta], rtol=1e-14)
    np.testing.assert_allclose(opt.state[p]["square_avg"], [v], rtol=1e-14)
    np.testing.assert_allclose(opt.state[p]["acc_delta"], [u], rtol=1e-14)
    p.grad = np.array([1.0])
    opt.step()
    v2 = rho * v + (1 - rho) * 1.0
    delta2 = np.sqrt(u + eps) / np.sqrt(v2 + eps) * 1.0
    np.testing.assert_allclose(p.data, [1.0 - delta - delta2], rtol=1e-14)

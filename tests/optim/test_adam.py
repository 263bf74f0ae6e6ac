"""Adam, AdamW, NAdam: golden steps computed by hand."""

from __future__ import annotations

import numpy as np

from descentlab.optim import Adam, AdamW, ArrayParam, NAdam


def test_adam_first_step_is_lr_times_sign() -> None:
    p = ArrayParam([1.0, -1.0])
    opt = Adam([p], lr=0.1, eps=0.0)
    p.grad = np.array([5.0, -1e-3])
    opt.step()  # mhat = g, vhat = g^2
    np.testing.assert_allclose(p.data, [0.9, -0.9], rtol=1e-14)
    assert opt.state[p]["step"] == 1


def test_amsgrad_keeps_the_max_of_raw_v() -> None:
    p = ArrayParam([0.0])
    opt = Adam([p], lr=0.1, betas=(0.0, 0.5), eps=0.0, amsgrad=True)
    p.grad = np.array([4.0])
    opt.step()  # v = 8
    p.grad = np.array([0.0])
    opt.step()  # v = 4, vmax = 8, m = 0 -> no move
    np.testing.assert_allclose(opt.state[p]["max_exp_avg_sq"], [8.0])
    np.testing.assert_allclose(opt.state[p]["exp_avg_sq"], [4.0])
    np.testing.assert_allclose(p.data, [-0.1])


def test_adamw_decays_before_the_step_and_adam_couples() -> None:
    p = ArrayParam([2.0])
    opt = AdamW([p], lr=0.1, weight_decay=0.5, eps=0.0)
    p.grad = np.array([1.0])
    opt.step()  # theta = 2 (1 - 0.05) = 1.9, then - 0.1
    np.testing.assert_allclose(p.data, [1.8], rtol=1e-14)
    q = ArrayParam([2.0])
    opt = Adam([q], lr=0.1, weight_decay=0.5, eps=0.0)
    q.grad = np.array([-1.5])
    opt.step()  # g + lambda theta = -0.5 -> step +0.1
    np.testing.assert_allclose(q.data, [2.1], rtol=1e-14)


def test_nadam_first_step() -> None:
    b1, psi, lr = 0.9, 4e-3, 0.1
    p = ArrayParam([0.0])
    opt = NAdam([p], lr=lr, eps=0.0)
    p.grad = np.array([2.0])
    opt.step()
    mu1 = b1 * (1 - 0.5 * 0.96**psi)
    mu2 = b1 * (1 - 0.5 * 0.96 ** (2 * psi))
    m, d = 0.2, 2.0  # m = (1-b1) g, D = sqrt(vhat) = |g|
    expected = -lr * (1 - mu1) / (1 - mu1) * 2.0 / d - lr * mu2 / (1 - mu1 * mu2) * m / d
    np.testing.assert_allclose(p.data, [expected], rtol=1e-13)
    np.testing.assert_allclose(opt.state[p]["mu_product"], mu1, rtol=1e-15)

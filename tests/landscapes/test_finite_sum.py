"""Finite-sum problems: per-sample gradients, exact mini-batch means, known solutions."""

import numpy as np
import pytest

from descentlab import landscapes
from descentlab.landscapes import (
    EIGHT_X,
    EIGHT_Y,
    LinearRegression,
    LogisticRegression,
    eight_points,
    logistic_regression,
)


def test_eight_points_least_squares_solution():
    f = eight_points()
    assert f.n_samples == 8 and len(EIGHT_X) == len(EIGHT_Y) == 8
    A = np.stack([EIGHT_X, np.ones(8)], axis=1)
    np.testing.assert_allclose(f.solution, np.linalg.lstsq(A, EIGHT_Y, rcond=None)[0])
    np.testing.assert_allclose(f.minima, [f.solution])
    assert np.abs(f.grad(f.solution)).max() < 1e-12
    w, b = 1.5, -0.5
    assert f.value([w, b]) == pytest.approx(np.mean((w * EIGHT_X + b - EIGHT_Y) ** 2))
    assert landscapes.get("eight_points").n_samples == 8


@pytest.mark.parametrize("make", [eight_points, lambda: logistic_regression(n=30, seed=1)])
def test_minibatch_gradient_is_the_exact_mean_of_per_sample_gradients(make):
    f = make()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 2))
    per = f.sample_grads(X)  # (6, n, 2)
    assert per.shape == (6, f.n_samples, 2)
    for idx in ([0], [3, 1], rng.permutation(f.n_samples)[:5]):
        idx = np.asarray(idx)
        np.testing.assert_allclose(f.grad(X, idx), per[:, idx].mean(axis=1), rtol=1e-13)
        np.testing.assert_allclose(f.value(X, idx), f.sample_values(X)[:, idx].mean(axis=1))
    np.testing.assert_allclose(f.grad(X), per.mean(axis=1), rtol=1e-13, atol=1e-15)
    h = 1e-6
    fd = np.stack([(f.value(X + h * e) - f.value(X - h * e)) / (2 * h) for e in np.eye(2)], -1)
    np.testing.assert_allclose(f.grad(X), fd, rtol=1e-6, atol=1e-7)


def test_losses_match_pytorch():
    import torch

    f = eight_points()
    wb = np.array([0.7, -0.2])
    pred = torch.tensor(wb[0] * EIGHT_X + wb[1])
    assert f.value(wb) == pytest.approx(
        torch.nn.functional.mse_loss(pred, torch.tensor(EIGHT_Y)).item(), rel=1e-14
    )
    g = logistic_regression(n=20, seed=3)
    z = torch.tensor(1.3 * g.x - 0.4)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(z, torch.tensor(g.y))
    assert g.value([1.3, -0.4]) == pytest.approx(ref.item(), rel=1e-13)


def test_logistic_solution_and_separable_case():
    f = logistic_regression(n=40, seed=0)
    assert f.solution is not None and f.minima_known
    assert np.abs(f.grad(f.solution)).max() < 1e-10
    sep = LogisticRegression([-2.0, -1.0, 1.0, 2.0], [0, 0, 1, 1])
    assert sep.solution is None and not sep.minima_known


def test_invalid_data_and_indices():
    with pytest.raises(ValueError, match="same length"):
        LinearRegression([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="labels y must be 0 or 1"):
        LogisticRegression([1.0, 2.0], [0, 2])
    f = eight_points()
    with pytest.raises(ValueError, match=r"idx must lie in \[0, 7\]"):
        f.grad([0.0, 0.0], idx=[8])
    with pytest.raises(ValueError, match="non-empty 1-D array"):
        f.grad([0.0, 0.0], idx=[])

from __future__ import annotations

import numpy as np

import descentlab as dl


def test_hand_written_derivative_that_is_right_passes():
    f = lambda x: np.sum(x**2 * np.sin(x))
    df = lambda x: 2 * x * np.sin(x) + x**2 * np.cos(x)
    result = dl.gradcheck(f, np.array([0.3, -1.2, 2.0]), df)
    assert result.passed and bool(result)
    assert result.max_abs_error < 1e-7
    assert result.checks == 3 + 8


def test_wrong_derivative_fails_and_says_where():
    f = lambda x: np.sum(x**3)
    wrong = lambda x: 3 * x**2 * np.array([1.0, 1.0, 1.1])
    result = dl.gradcheck(f, np.array([1.0, 2.0, 3.0]), wrong)
    assert not result.passed
    assert result.where == "index (2,)"
    assert abs(result.analytic - 29.7) < 1e-9 and abs(result.numeric - 27.0) < 1e-4
    assert "FAILED" in str(result)


def test_autograd_gradient_is_checked_when_no_df_given():
    x = np.random.default_rng(1).standard_normal((3, 4))
    result = dl.gradcheck(lambda t: (t.tanh() * t.exp()).sum(), x)
    assert result.passed and result.max_rel_error < 1e-6


def test_large_inputs_sample_coordinates():
    x = np.linspace(-1, 1, 1000)
    result = dl.gradcheck(lambda t: (t**2).sum(), x, max_coordinates=50, directions=3)
    assert result.passed and result.checks == 53


def test_shape_mismatch_is_reported():
    import pytest

    with pytest.raises(ValueError, match=r"df\(x\) has shape \(2,\), but x has shape \(3,\)"):
        dl.gradcheck(lambda x: np.sum(x), np.ones(3), lambda x: np.ones(2))

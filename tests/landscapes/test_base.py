"""Landscape, penalties (L1/L2 reshaping the surface) and user functions."""

import numpy as np
import pytest

import descentlab.autograd as ag
from descentlab import landscapes
from descentlab.landscapes import Landscape, from_function


def test_landscape_validates_its_inputs():
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        Landscape("bad", 0, np.sum, np.sign)
    with pytest.raises(ValueError, match="bounds must have shape"):
        Landscape("bad", 2, np.sum, np.sign, bounds=[[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="lr must be a positive number"):
        Landscape("bad", 2, np.sum, np.sign, lr=-1)
    with pytest.raises(ValueError, match="minima must have shape"):
        Landscape("bad", 2, np.sum, np.sign, minima=[[1, 2, 3]])
    with pytest.raises(TypeError, match="array of numbers"):
        landscapes.get("booth").value("abc")
    f = Landscape("bowl", 2, lambda X: (X**2).sum(-1), lambda X: 2 * X, bounds=[-1, 1])
    assert f.bounds.tolist() == [[-1, 1], [-1, 1]]
    assert f.start.tolist() == [0, 0] and "bowl" in repr(f)
    assert f.check_grad() < 1e-8


def test_l2_penalty_moves_the_minimum_of_booth_as_computed_by_hand():
    f = landscapes.get("booth")
    pen = f.with_penalty(l2=1.0)
    X = np.random.default_rng(0).normal(size=(5, 2))
    np.testing.assert_allclose(pen.value(X), f.value(X) + (X**2).sum(-1))
    np.testing.assert_allclose(pen.grad(X), f.grad(X) + 2 * X)
    # booth + |x|^2 is a quadratic: (H + 2I) x = b with H = [[10, 8], [8, 10]], b = (34, 38)
    expected = np.linalg.solve([[12.0, 8.0], [8.0, 12.0]], [34.0, 38.0])
    assert pen.minima_known
    np.testing.assert_allclose(pen.minima[0], expected, atol=1e-6)
    assert pen.minimum_values[0] == pytest.approx(pen.value(expected), abs=1e-10)
    assert f.with_penalty() is f


def test_l1_penalty_makes_a_sparse_minimum():
    # f = (x - 2)^2 + (y - 0.3)^2 with l1 = 1: soft thresholding gives (1.5, 0)
    f = landscapes.from_formula("(x - 2)**2 + (y - 0.3)**2")
    pen = f.with_penalty(l1=1.0)
    np.testing.assert_allclose(pen.minima[0], [1.5, 0.0], atol=1e-6)
    assert pen.grad([1.0, 0.0])[1] == 2 * (0 - 0.3)  # subgradient 0 of |y| at y = 0
    assert "1*|x|_1" in pen.formula
    with pytest.raises(ValueError, match="l1 must be a non-negative"):
        f.with_penalty(l1=-1)


def test_penalty_on_the_saddle_creates_a_minimum_when_l2_exceeds_one():
    s = landscapes.get("saddle")
    assert np.allclose(s.with_penalty(l2=1.5).minima, [[0.0, 0.0]], atol=1e-6)
    weak = s.with_penalty(l2=0.5)  # still unbounded below: no minimum found
    assert not weak.minima_known and weak.minima.shape == (0, 2)


def test_penalized_himmelblau_keeps_four_basins():
    pen = landscapes.get("himmelblau").with_penalty(l2=0.1)
    assert len(pen.minima) == 4
    assert np.abs(pen.grad(pen.minima)).max() < 1e-5
    assert np.all(pen.minimum_values > 0)


def test_from_function_with_array_or_separate_arguments():
    g1 = from_function(
        lambda X: (X**2).sum(axis=-1) + ag.sin(X[..., 0]), dim=3, bounds=[-2, 2], name="mine"
    )
    X = np.random.default_rng(2).normal(size=(4, 3))
    np.testing.assert_allclose(g1.grad(X), 2 * X + np.cos(X[:, :1]) * [1, 0, 0])
    assert g1.name == "mine" and g1.bounds.shape == (3, 2) and not g1.minima_known
    g2 = from_function(lambda x, y: x**2 * y)
    assert g2.dim == 2 and g2.grad([2.0, 3.0]).tolist() == [12.0, 4.0]
    g3 = from_function(lambda x: x**3, dim=1)
    assert g3.grad(2.0) == pytest.approx(12.0) and g3.value([1.0, 2.0]).tolist() == [1.0, 8.0]
    with pytest.raises(ValueError, match="dim is needed"):
        from_function(lambda X: X.sum())
    # one value for the whole batch: read as scipy's f(x) of one point, point by point
    np.testing.assert_array_equal(
        from_function(lambda X: X.sum(), dim=2).grad(np.ones((3, 2))), np.ones((3, 2))
    )
    with pytest.raises(ValueError, match="f must return a Tensor of shape"):
        from_function(lambda X: X * 2.0, dim=2).grad(np.ones((3, 2)))
    with pytest.raises(TypeError, match="function of arrays"):
        from_function(3, dim=1)

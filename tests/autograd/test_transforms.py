from __future__ import annotations

import numpy as np
import pytest

import descentlab as dl
from descentlab import autograd as ag


def test_grad_of_scalar_function():
    df = dl.grad(lambda x: (x**3).sum())
    np.testing.assert_allclose(df(np.array([1.0, -2.0])), [3.0, 12.0])
    assert dl.grad(lambda x: x * x)(3.0) == pytest.approx(6.0)
    assert isinstance(dl.grad(lambda x: x * x)(3.0), float)


def test_value_and_grad_and_argnums():
    f = lambda x, y: (x * y).sum() + ag.sin(x).sum()
    value, g = dl.value_and_grad(f, argnums=(0, 1))(np.array([0.5, 1.0]), np.array([2.0, 3.0]))
    assert value == pytest.approx(0.5 * 2 + 3 + np.sin(0.5) + np.sin(1.0))
    np.testing.assert_allclose(g[0], [2 + np.cos(0.5), 3 + np.cos(1.0)])
    np.testing.assert_allclose(g[1], [0.5, 1.0])
    assert dl.grad(f, argnums=1)(np.array([1.0]), np.array([4.0])) == pytest.approx([1.0])


def test_grad_works_inside_no_grad_and_on_constants():
    with dl.no_grad():
        assert dl.grad(lambda x: x * x)(2.0) == pytest.approx(4.0)
    np.testing.assert_array_equal(dl.grad(lambda x: 5.0)(np.ones(2)), np.zeros(2))


def test_grad_of_non_scalar_output_is_an_error():
    with pytest.raises(ValueError, match=r"scalar, got shape \(2,\)"):
        dl.grad(lambda x: x * 2)(np.ones(2))


def test_integer_inputs_are_differentiated_as_float():
    np.testing.assert_allclose(dl.grad(lambda x: (x * x).sum())(np.array([1, 2])), [2.0, 4.0])

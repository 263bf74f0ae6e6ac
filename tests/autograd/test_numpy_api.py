"""NumPy's functions on Tensors (``__array_ufunc__`` / ``__array_function__``): values and
gradients against PyTorch, clear errors for functions without a rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import descentlab as dl
from descentlab import autograd as ag
from descentlab.autograd import numpy_api

RNG = np.random.default_rng(3)


def check(np_fn, torch_fn, *arrays, rtol=1e-12):
    """np_fn on Tensors returns a Tensor whose value and gradient equal torch_fn's."""
    ours = [dl.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = np_fn(*ours)
    ref = torch_fn(*theirs)
    assert isinstance(out, ag.Tensor), type(out)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=rtol, atol=1e-15)
    cot = RNG.standard_normal(out.shape)
    out.backward(cot)
    ref.backward(torch.tensor(cot))
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=rtol, atol=1e-15)


def test_the_issue_example_differentiates_numpy_code():
    x = RNG.standard_normal(5)
    g = dl.grad(lambda x: np.sum(np.sin(x) ** 2))(x)
    np.testing.assert_allclose(g, 2 * np.sin(x) * np.cos(x), rtol=1e-14)


X = RNG.standard_normal((3, 4))
P = np.abs(RNG.standard_normal((3, 4))) + 0.5
V = RNG.standard_normal(4)

UNARY = [
    ("sin", np.sin, torch.sin, X),
    ("cos", np.cos, torch.cos, X),
    ("tanh", np.tanh, torch.tanh, X),
    ("exp", np.exp, torch.exp, X),
    ("log", np.log, torch.log, P),
    ("sqrt", np.sqrt, torch.sqrt, P),
    ("abs", np.abs, torch.abs, X),
    ("absolute", np.absolute, torch.abs, X),
    ("square", np.square, torch.square, X),
    ("negative", np.negative, torch.neg, X),
    ("positive", np.positive, lambda a: a * 1, X),
    ("power", lambda a: np.power(a, 3), lambda a: a**3, X),
    ("mean", np.mean, torch.mean, X),
    ("mean-axis", lambda a: np.mean(a, axis=-1, keepdims=True), lambda a: a.mean(-1, True), X),
    ("sum", np.sum, torch.sum, X),
    ("sum-axis", lambda a: np.sum(a, axis=(0, -1)), lambda a: a.sum((0, -1)), X),
    ("sum-axis0", lambda a: np.sum(a, axis=0), lambda a: a.sum(0), X),
    ("max", np.max, torch.amax, X),
    ("amax", lambda a: np.amax(a, axis=1), lambda a: torch.amax(a, 1), X),
    ("min", lambda a: np.min(a, axis=0), lambda a: torch.amin(a, 0), X),
    ("amin", np.amin, torch.amin, X),
    ("clip", lambda a: np.clip(a, -0.5, 0.5), lambda a: torch.clamp(a, -0.5, 0.5), X),
    ("clip-kw", lambda a: np.clip(a, min=-0.5), lambda a: torch.clamp(a, min=-0.5), X),
    ("transpose", np.transpose, lambda a: a.T, X),
    ("transpose-axes", lambda a: np.transpose(a, (-1, 0)), lambda a: a.permute(-1, 0), X),
    ("reshape", lambda a: np.reshape(a, (2, -1)), lambda a: a.reshape(2, -1), X),
    ("norm-vector", np.linalg.norm, torch.linalg.norm, V),
    ("norm-2", lambda a: np.linalg.norm(a, 2), lambda a: torch.linalg.vector_norm(a, 2), V),
    ("norm-1", lambda a: np.linalg.norm(a, 1), lambda a: torch.linalg.vector_norm(a, 1), V),
    (
        "norm-inf",
        lambda a: np.linalg.norm(a, np.inf),
        lambda a: torch.linalg.vector_norm(a, float("inf")),
        V,
    ),
    ("norm-fro", lambda a: np.linalg.norm(a, "fro"), lambda a: torch.linalg.norm(a, "fro"), X),
    ("norm-frobenius-default", np.linalg.norm, torch.linalg.norm, X),
    ("norm-axis", lambda a: np.linalg.norm(a, axis=-1), lambda a: torch.linalg.norm(a, dim=-1), X),
]


@pytest.mark.parametrize(("name", "np_fn", "torch_fn", "x"), UNARY, ids=[u[0] for u in UNARY])
def test_numpy_function_on_a_tensor_matches_torch(name, np_fn, torch_fn, x):
    check(np_fn, torch_fn, x)


BINARY = [
    ("add", np.add, torch.add),
    ("subtract", np.subtract, torch.sub),
    ("multiply", np.multiply, torch.mul),
    ("divide", np.divide, torch.div),
    ("true_divide", np.true_divide, torch.div),
    ("maximum", np.maximum, torch.maximum),
    ("minimum", np.minimum, torch.minimum),
    ("power", np.power, torch.pow),
]


@pytest.mark.parametrize(("name", "np_fn", "torch_fn"), BINARY, ids=[b[0] for b in BINARY])
def test_binary_numpy_ufuncs_broadcast_like_torch(name, np_fn, torch_fn):
    check(np_fn, torch_fn, P, RNG.standard_normal(4))


def test_matmul_dot_where_concatenate_stack():
    A, B = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 2))
    check(np.matmul, torch.matmul, A, B)
    check(lambda a, b: a @ b, torch.matmul, A, B)
    check(np.dot, torch.matmul, A, B)
    check(np.dot, torch.dot, V, V)
    check(np.dot, torch.mv, A, V)
    cond = RNG.random((3, 4)) > 0.5
    check(
        lambda a, b: np.where(cond, a, b), lambda a, b: torch.where(torch.tensor(cond), a, b), X, V
    )
    check(lambda a, b: np.concatenate([a, b], axis=-1), lambda a, b: torch.cat([a, b], -1), A, X)
    check(lambda a, b: np.stack([a, b], axis=-1), lambda a, b: torch.stack([a, b], -1), X, P)
    check(
        lambda a: np.concatenate([a, a], axis=None), lambda a: torch.cat([a.ravel(), a.ravel()]), X
    )


def test_ndarray_on_the_left_gives_a_tensor():
    t = dl.tensor(V, requires_grad=True)
    A = RNG.standard_normal((3, 4))
    for result in (V + t, V - t, V * t, V / (t * t + 1), A @ t, np.float64(2.0) * t):
        assert isinstance(result, ag.Tensor)
    (A @ t).sum().backward()
    np.testing.assert_allclose(t.grad, A.sum(axis=0))


def test_comparisons_and_tests_give_plain_boolean_arrays():
    t = dl.tensor([1.0, np.nan, -2.0], requires_grad=True)
    for result in (np.isnan(t), np.isfinite(t), np.greater(t, 0), V[:3] < t, np.equal(t, t)):
        assert isinstance(result, np.ndarray) and result.dtype == bool
    sign = np.sign(t)
    assert isinstance(sign, ag.Tensor) and not sign.requires_grad


def test_asarray_gives_the_values_and_shape_helpers_work():
    t = dl.tensor(X, requires_grad=True)
    np.testing.assert_array_equal(np.asarray(t), X)
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert np.shape(t) == (3, 4) and np.ndim(t) == 2 and np.size(t) == 12
    assert isinstance(np.zeros_like(t), ag.Tensor)
    assert float(np.sum(np.ones_like(t))) == 12.0


def test_a_function_without_a_rule_raises_a_type_error_naming_it_and_the_supported_ones():
    t = dl.tensor(X, requires_grad=True)
    with pytest.raises(TypeError, match=r"np\.cumsum has no gradient rule.*np\.sum"):
        np.cumsum(t)
    with pytest.raises(TypeError, match=r"np\.arctan2 has no gradient rule.*supported: "):
        np.arctan2(t, t)
    with pytest.raises(TypeError, match=r"np\.linalg\.det has no gradient rule"):
        np.linalg.det(t)
    with pytest.raises(TypeError, match=r"np\.add\.reduce"):
        np.add.reduce(t)
    with pytest.raises(TypeError, match="out="):
        np.add(t, t, out=np.empty((3, 4)))
    with pytest.raises(TypeError, match=r"ord=2\) of a matrix"):
        np.linalg.norm(t, 2)
    with pytest.raises(TypeError, match="dtype"):
        np.sum(t, dtype=np.float32)


def test_nothing_falls_back_to_an_object_array():
    t = dl.tensor(V, requires_grad=True)
    for fn in (np.sin, np.exp, np.tanh, np.sqrt):
        out = fn(t * t)
        assert isinstance(out, ag.Tensor) and out.dtype == np.float64


def test_every_listed_rule_is_reachable():
    t = dl.tensor(P, requires_grad=True)
    numpy_api.apply_ufunc(np.add, "__call__", (t, 1.0), {})
    assert np.sin in numpy_api.UFUNCS and np.linalg.norm in numpy_api.FUNCTIONS
    for name in ("np.abs", "np.true_divide", "np.linalg.norm", "np.matmul", "np.where"):
        assert name in numpy_api._supported()


def test_from_function_accepts_a_numpy_written_function():
    from descentlab.landscapes import from_function

    f = from_function(lambda X: np.sum(np.sin(X) ** 2, axis=-1), dim=2)
    X = RNG.standard_normal((5, 2))
    np.testing.assert_allclose(f.grad(X), np.sin(2 * X), rtol=1e-13)


def test_docstring_examples_run():
    import doctest

    from descentlab.autograd import transforms

    for module in (numpy_api, transforms):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted >= 1, module.__name__

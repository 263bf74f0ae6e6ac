"""clip_grad_norm_ / clip_grad_value_ match torch.nn.utils."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from descentlab.optim import ArrayParam, clip_grad_norm_, clip_grad_value_


def _pair(rng, scale):
    shapes = [(3,), (2, 4), (5,)]
    grads = [scale * rng.normal(size=s) for s in shapes]
    ours = []
    for g in grads:
        p = ArrayParam(np.zeros(g.shape))
        p.grad = g.copy()
        ours.append(p)
    theirs = []
    for g in grads:
        t = torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
        t.grad = torch.from_numpy(g.copy())
        theirs.append(t)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize(("scale", "max_norm"), [(1.0, 0.5), (1.0, 100.0), (1e-8, 1e-9)])
def test_clip_grad_norm_matches_torch(rng, norm_type, scale, max_norm) -> None:
    ours, theirs = _pair(rng, scale)
    n = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    tn = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert n == pytest.approx(float(tn), rel=1e-14)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-14, atol=0)


def test_clip_grad_norm_uses_the_1e6_term(rng) -> None:
    p = ArrayParam([0.0, 0.0])
    p.grad = np.array([3.0, 4.0])
    assert clip_grad_norm_([p], 1.0) == 5.0
    np.testing.assert_allclose(p.grad, np.array([3.0, 4.0]) / (5.0 + 1e-6), rtol=1e-15)


def test_clip_grad_norm_skips_missing_grads_and_single_param() -> None:
    a, b = ArrayParam([1.0]), ArrayParam([1.0])
    a.grad = np.array([-10.0])
    assert clip_grad_norm_([a, b], 2.0) == 10.0
    assert b.grad is None
    assert clip_grad_norm_(a, 2.0) == pytest.approx(2.0 - 2e-7, rel=1e-6)
    assert clip_grad_norm_([b], 1.0) == 0.0
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm_([a], -1.0)


def test_clip_grad_value_matches_torch(rng) -> None:
    ours, theirs = _pair(rng, 2.0)
    clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())
        assert np.max(np.abs(p.grad)) == 0.7
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_(ours, -0.1)


def _torch_param(grad):
    t = torch.zeros(np.shape(grad), dtype=torch.float64, requires_grad=True)
    if grad is not None:
        t.grad = torch.tensor(np.asarray(grad), dtype=torch.float64)
    return t


def test_clip_grad_value_clips_a_numpy_scalar_gradient_like_torch() -> None:
    p = ArrayParam(np.array(3.0))
    p.grad = 2 * p.data  # a NumPy scalar, not an array
    assert not isinstance(p.grad, np.ndarray)
    clip_grad_value_([p], 1.5)
    t = _torch_param(6.0)
    torch.nn.utils.clip_grad_value_([t], 1.5)
    assert isinstance(p.grad, np.ndarray) and p.grad.shape == ()
    assert float(p.grad) == float(t.grad) == 1.5


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_of_a_numpy_scalar_gradient_matches_torch(norm_type) -> None:
    p = ArrayParam(np.array(3.0))
    p.grad = 2 * p.data
    t = _torch_param(6.0)
    n = clip_grad_norm_([p], 1.0, norm_type=norm_type)
    tn = torch.nn.utils.clip_grad_norm_([t], 1.0, norm_type=norm_type)
    assert n == float(tn) == 6.0
    np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-15)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 0.0, float("inf"), -float("inf")])
def test_clip_grad_norm_without_any_gradient_is_zero_like_torch(norm_type) -> None:
    ours = [ArrayParam(np.zeros(())), ArrayParam(np.zeros(3))]
    theirs = [_torch_param(None), _torch_param(None)]
    tn = torch.nn.utils.clip_grad_norm_([t for t in theirs], 1.0, norm_type=norm_type)
    assert clip_grad_norm_(ours, 1.0, norm_type=norm_type) == float(tn) == 0.0
    assert all(p.grad is None for p in ours)
    assert clip_grad_norm_([], 1.0, norm_type=norm_type) == 0.0


def test_clip_grad_value_without_any_gradient_raises_like_torch() -> None:
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_value_([_torch_param(None)], 1.0)
    with pytest.raises(RuntimeError, match="no gradient"):
        clip_grad_value_([ArrayParam(np.zeros(3)), ArrayParam(np.zeros(()))], 1.0)
    with pytest.raises(RuntimeError, match="no gradient"):
        clip_grad_value_([], 1.0)


def test_clip_grad_norm_with_nan_gradient_matches_torch() -> None:
    g = np.array([np.nan, 1.0, 2.0])
    for norm_type in (2.0, float("inf")):
        p, t = ArrayParam(np.zeros(3)), _torch_param(g)
        p.grad = g.copy()
        with np.errstate(invalid="ignore"):
            n = clip_grad_norm_([p], 1.0, norm_type=norm_type)
        tn = torch.nn.utils.clip_grad_norm_([t], 1.0, norm_type=norm_type)
        assert np.isnan(n) and np.isnan(float(tn))
        np.testing.assert_array_equal(p.grad, t.grad.numpy())

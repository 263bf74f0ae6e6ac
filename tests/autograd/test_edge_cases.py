"""Regression tests: axes handling and PyTorch's edge-case gradient conventions (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import descentlab as dl
from descentlab import autograd as ag

INF, NAN = np.inf, np.nan
RNG = np.random.default_rng(7)


def compare(fn_dl, fn_torch, *arrays, cotangent=None, rtol=1e-12):
    """Same float64 inputs and cotangent into both; values and gradients must agree
    (NaN where torch has NaN, infinities of the same sign)."""
    ours = [dl.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    with np.errstate(all="ignore"):
        out = fn_dl(*ours)
        ref = fn_torch(*theirs)
        assert out.shape == tuple(ref.shape)
        np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=rtol, atol=0)
        cot = np.ones(out.shape) if cotangent is None else np.asarray(cotangent, np.float64)
        out.backward(cot)
        ref.backward(torch.tensor(cot))
    for o, t in zip(ours, theirs):
        got = np.zeros(o.shape) if o.grad is None else o.grad
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=rtol, atol=0)


# ------------------------------------------------------------------------- axes
def test_transpose_with_a_negative_axis_is_the_identity_with_its_gradient():
    x = RNG.standard_normal((2, 2, 2))
    w = RNG.standard_normal((2, 2, 2))
    t = dl.tensor(x, requires_grad=True)
    (t.transpose(0, 1, -1) * w).sum().backward()
    np.testing.assert_array_equal(t.grad, w)  # was permuted: argsort of (0, 1, -1)


@pytest.mark.parametrize("axes", [(0, 1, -1), (-1, 0, 1), (2, -3, -2), (-2, -1, -3)])
def test_transpose_negative_axes_match_torch_permute(axes):
    compare(
        lambda a: a.transpose(*axes),
        lambda a: a.permute(*axes),
        RNG.standard_normal((2, 3, 4)),
        cotangent=RNG.standard_normal(tuple(np.array([2, 3, 4])[list(axes)])),
    )


def test_transpose_refuses_bad_axes():
    t = dl.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="repeated"):
        t.transpose(0, -2)
    with pytest.raises(ValueError, match="out of bounds"):
        t.transpose(0, 2)
    with pytest.raises(ValueError, match="do not match"):
        t.transpose(0)


REDUCE_AXES = [None, 0, -1, -2, (0, -1), (-1, 0), (-3, 1), (), (0, 1, 2)]


@pytest.mark.parametrize("axis", REDUCE_AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_with_negative_and_tuple_axes_match_torch(axis, keepdims):
    x = RNG.standard_normal((2, 3, 4))
    dims = tuple(range(3)) if axis is None else axis
    out_shape = np.sum(x, axis=axis, keepdims=keepdims).shape
    cot = RNG.standard_normal(out_shape)
    if dims == ():  # torch reads dim=() as "all dimensions"; NumPy as "none"
        compare(lambda a: a.sum(axis, keepdims), lambda a: a * 1.0, x, cotangent=cot)
        return
    compare(lambda a: a.sum(axis, keepdims), lambda a: a.sum(dims, keepdims), x, cotangent=cot)
    compare(lambda a: a.mean(axis, keepdims), lambda a: a.mean(dims, keepdims), x, cotangent=cot)
    compare(
        lambda a: a.max(axis, keepdims), lambda a: torch.amax(a, dims, keepdims), x, cotangent=cot
    )
    compare(
        lambda a: a.min(axis, keepdims), lambda a: torch.amin(a, dims, keepdims), x, cotangent=cot
    )
    compare(
        lambda a: ag.logsumexp(a, axis, keepdims),
        lambda a: torch.logsumexp(a, dims, keepdims),
        x,
        cotangent=cot,
    )


def test_reductions_refuse_repeated_or_out_of_range_axes():
    t = dl.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="repeated"):
        t.sum(axis=(1, -1))
    with pytest.raises(ValueError, match="out of bounds"):
        t.mean(axis=-3)


@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_softmax_family_with_negative_axes_matches_torch(axis):
    x = RNG.standard_normal((3, 5))
    cot = RNG.standard_normal((3, 5))
    compare(lambda a: a.softmax(axis), lambda a: torch.softmax(a, axis), x, cotangent=cot)
    compare(lambda a: a.log_softmax(axis), lambda a: torch.log_softmax(a, axis), x, cotangent=cot)


@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_concatenate_and_stack_with_negative_axes_match_torch(axis):
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 3))
    out = np.concatenate([a, b], axis=axis)
    compare(
        lambda x, y: ag.concatenate([x, y], axis=axis),
        lambda x, y: torch.cat([x, y], axis),
        a,
        b,
        cotangent=RNG.standard_normal(out.shape),
    )
    for ax in (axis, -3 if axis == -2 else axis):
        out = np.stack([a, b], axis=ax)
        compare(
            lambda x, y, ax=ax: ag.stack([x, y], axis=ax),
            lambda x, y, ax=ax: torch.stack([x, y], ax),
            a,
            b,
            cotangent=RNG.standard_normal(out.shape),
        )


def test_shape_ops_with_negative_axes_match_torch():
    x = RNG.standard_normal((2, 1, 3))
    compare(
        lambda a: a.reshape(-1, 2),
        lambda a: a.reshape(-1, 2),
        x,
        cotangent=RNG.standard_normal((3, 2)),
    )
    compare(
        lambda a: np.squeeze(a, -2),
        lambda a: a.squeeze(-2),
        x,
        cotangent=RNG.standard_normal((2, 3)),
    )
    compare(
        lambda a: np.expand_dims(a, -1),
        lambda a: a.unsqueeze(-1),
        x,
        cotangent=RNG.standard_normal((2, 1, 3, 1)),
    )
    compare(
        lambda a: np.moveaxis(a, -1, 0),
        lambda a: torch.movedim(a, -1, 0),
        x,
        cotangent=RNG.standard_normal((3, 2, 1)),
    )
    compare(
        lambda a: np.moveaxis(a, (0, -1), (-1, 0)),
        lambda a: torch.movedim(a, (0, -1), (-1, 0)),
        x,
        cotangent=RNG.standard_normal((3, 1, 2)),
    )
    compare(
        lambda a: np.swapaxes(a, 0, -1),
        lambda a: torch.swapaxes(a, 0, -1),
        x,
        cotangent=RNG.standard_normal((3, 1, 2)),
    )
    compare(
        lambda a: np.broadcast_to(a, (4, 2, 5, 3)),
        lambda a: a.expand(4, 2, 5, 3),
        x,
        cotangent=RNG.standard_normal((4, 2, 5, 3)),
    )


def test_indexing_with_repeats_booleans_and_mixed_indices_matches_torch():
    x = RNG.standard_normal((4, 3))
    idx = np.array([0, 2, 2, 0, 3])
    compare(lambda a: a[idx], lambda a: a[idx], x, cotangent=RNG.standard_normal((5, 3)))
    compare(
        lambda a: a[1:, idx[:2]], lambda a: a[1:, idx[:2]], x, cotangent=RNG.standard_normal((3, 2))
    )
    mask = x > 0
    compare(
        lambda a: a[mask],
        lambda a: a[torch.tensor(mask)],
        x,
        cotangent=RNG.standard_normal(int(mask.sum())),
    )
    compare(
        lambda a: a[[1, 1], [-1, -1]],
        lambda a: a[[1, 1], [-1, -1]],
        x,
        cotangent=np.array([2.0, 3.0]),
    )


# --------------------------------------------------------------- pow conventions
def test_zeroth_power_has_zero_gradient_even_at_zero():
    compare(lambda a: a**0, lambda a: a**0, [0.0, 1.0, -2.0])
    compare(lambda a, b: a**b, lambda a, b: a**b, [0.0, 3.0], [0.0, 0.0])


def test_pow_with_negative_base_gives_nan_like_torch():
    base, expo = [-2.0, -2.0, -0.5], [0.5, 2.0, 3.0]
    compare(lambda a, b: a**b, lambda a, b: a**b, base, expo)  # d/da NaN for x=0.5, d/dx NaN
    compare(lambda b: (-2.0) ** b, lambda b: (-2.0) ** b, [0.5, 2.0])


def test_pow_at_zero_base_matches_torch():
    compare(lambda a, b: a**b, lambda a, b: a**b, [0.0, 0.0, 0.0, 0.0], [2.0, 1.0, 0.0, -1.0])
    compare(lambda b: 0.0**b, lambda b: 0.0**b, [0.5, 0.0, -1.0])  # 0, 0, -inf
    compare(lambda a: a**0.5, lambda a: a**0.5, [0.0, 4.0])  # inf at 0
    compare(lambda a: a**-1.0, lambda a: a**-1.0, [0.0, 2.0])


def test_sqrt_at_zero_gives_inf_like_torch():
    compare(lambda a: a.sqrt(), torch.sqrt, [0.0, 4.0])
    g = ag.grad(lambda x: x.sqrt().sum())(np.array([0.0]))
    assert g[0] == np.inf


# ---------------------------------------------- relu, abs, maximum, minimum, max
def test_relu_with_infinite_upstream_gradient_gives_zero_not_nan():
    compare(lambda a: a.relu(), torch.relu, [-1.0, 0.0, 1.0, NAN], cotangent=[INF, INF, INF, 1.0])


def test_abs_at_zero_with_infinite_upstream_is_nan_like_torch():
    compare(lambda a: a.abs(), torch.abs, [0.0, 1.0, -2.0], cotangent=[INF, INF, -INF])
    compare(lambda a: a.abs(), torch.abs, [0.0, 0.0], cotangent=[1.0, -3.0])  # 0 at the kink


MAX_CASES = [
    ([1.0, 2.0, 2.0, NAN, 1.0, NAN], [2.0, 1.0, 2.0, 1.0, NAN, NAN]),
    ([-INF, INF, 0.0], [-INF, INF, -0.0]),
]


@pytest.mark.parametrize(("a", "b"), MAX_CASES)
@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_ties_and_nan_route_like_torch(a, b, name):
    ours, theirs = getattr(ag, name), getattr(torch, name)
    compare(ours, theirs, a, b, cotangent=np.arange(1.0, len(a) + 1))


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_with_infinite_upstream_give_zero_to_the_loser(name):
    ours, theirs = getattr(ag, name), getattr(torch, name)
    compare(ours, theirs, [1.0, 3.0, 2.0], [2.0, 1.0, 2.0], cotangent=[INF, INF, 1.0])


def test_maximum_broadcasts_like_torch():
    a, b = RNG.standard_normal((3, 1)), RNG.standard_normal((4,))
    b[1] = a[2, 0]  # a tie across the broadcast
    compare(ag.maximum, torch.maximum, a, b, cotangent=RNG.standard_normal((3, 4)))


@pytest.mark.parametrize("axis", [None, 0, -1])
def test_max_and_min_share_ties_and_spread_nan_like_amax(axis):
    x = np.array([[1.0, 3.0, 3.0], [NAN, 2.0, 0.0]])
    dims = (0, 1) if axis is None else axis
    shape = np.max(x, axis=axis).shape
    cot = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
    compare(lambda a: a.max(axis), lambda a: torch.amax(a, dims), x, cotangent=cot)
    compare(lambda a: a.min(axis), lambda a: torch.amin(a, dims), -x, cotangent=cot)
    ties = np.array([[2.0, 2.0, 1.0], [0.0, 5.0, 5.0]])
    compare(lambda a: a.max(axis), lambda a: torch.amax(a, dims), ties, cotangent=cot)


def test_full_max_differs_from_torch_max_only_at_nan_as_documented():
    x = dl.tensor([1.0, NAN, 3.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        x.max().backward()
    assert np.isnan(x.grad).all()  # torch.amax; torch.max(x) sends it to the NaN entry
    assert "torch.max(x)" in ag.max.__doc__


# ------------------------------------------------------------- clip, norm, lse
def test_clip_passes_the_gradient_at_its_bounds_like_clamp():
    x = [0.0, 1.0, 0.5, -1.0, 2.0, NAN]
    compare(lambda a: np.clip(a, 0, 1), lambda a: torch.clamp(a, 0, 1), x)
    compare(lambda a: ag.clip(a, None, 0.5), lambda a: torch.clamp(a, max=0.5), x)


def test_norm_at_zero_has_zero_gradient_like_torch():
    compare(lambda a: np.linalg.norm(a), torch.linalg.norm, [0.0, 0.0])
    compare(
        lambda a: np.linalg.norm(a, axis=-1),
        lambda a: torch.linalg.norm(a, dim=-1),
        [[0.0, 0.0], [3.0, 4.0]],
    )


def test_logsumexp_of_infinities_matches_torch():
    compare(lambda a: ag.logsumexp(a, 0), lambda a: torch.logsumexp(a, 0), [-INF, -INF])
    compare(lambda a: ag.logsumexp(a, 0), lambda a: torch.logsumexp(a, 0), [INF, 1.0])
    compare(lambda a: ag.logsumexp(a, 0), lambda a: torch.logsumexp(a, 0), [-INF, 1.0])

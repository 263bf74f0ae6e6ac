"""Every primitive's gradient equals PyTorch autograd's (float64) and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import descentlab as dl
from descentlab import autograd as ag

RNG = np.random.default_rng(0)


def rand(*shape, positive=False):
    x = RNG.standard_normal(shape)
    return np.abs(x) + 0.5 if positive else x


def compare(fn_dl, fn_torch, *arrays, rtol=1e-10):
    """Run both on the same float64 inputs, backprop a random cotangent, compare."""
    ours = [dl.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn_dl(*ours)
    ref = fn_torch(*theirs)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=rtol, atol=1e-12)
    cot = RNG.standard_normal(out.shape)
    out.backward(cot)
    ref.backward(torch.tensor(cot))
    for o, t in zip(ours, theirs):
        assert o.grad.dtype == np.float64
        np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=rtol, atol=1e-12)


BINARY_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((2, 1, 4), (3, 1)),
    ((), (2, 3)),
    ((5, 1), (1, 6)),
]


@pytest.mark.parametrize("sa,sb", BINARY_SHAPES)
@pytest.mark.parametrize(
    "op",
    [
        (lambda a, b: a + b, lambda a, b: a + b),
        (lambda a, b: a - b, lambda a, b: a - b),
        (lambda a, b: a * b, lambda a, b: a * b),
        (lambda a, b: a / b, lambda a, b: a / b),
        (ag.maximum, torch.maximum),
        (ag.minimum, torch.minimum),
    ],
    ids=["add", "sub", "mul", "div", "maximum", "minimum"],
)
def test_binary_ops_broadcast(op, sa, sb):
    a, b = rand(*sa), rand(*sb, positive=True)
    compare(op[0], op[1], a, b)


@pytest.mark.parametrize("sa,sb", BINARY_SHAPES)
def test_pow_tensor_exponent(sa, sb):
    compare(lambda a, b: a**b, lambda a, b: a**b, rand(*sa, positive=True), rand(*sb))


@pytest.mark.parametrize("p", [2, 3, 0.5, -1, -2.5])
def test_pow_scalar_exponent(p):
    compare(lambda a: a**p, lambda a: a**p, rand(3, 4, positive=True))


def test_rpow_and_reverse_operators():
    compare(lambda a: 2.0**a, lambda a: 2.0**a, rand(3))
    compare(lambda a: 1.5 - a, lambda a: 1.5 - a, rand(3))
    compare(lambda a: 2.0 / a, lambda a: 2.0 / a, rand(3, positive=True))


UNARY = [
    ("neg", lambda a: -a, lambda a: -a, False),
    ("exp", lambda a: a.exp(), torch.exp, False),
    ("log", lambda a: a.log(), torch.log, True),
    ("sqrt", lambda a: a.sqrt(), torch.sqrt, True),
    ("abs", lambda a: a.abs(), torch.abs, False),
    ("sin", lambda a: a.sin(), torch.sin, False),
    ("cos", lambda a: a.cos(), torch.cos, False),
    ("tanh", lambda a: a.tanh(), torch.tanh, False),
    ("sigmoid", lambda a: a.sigmoid(), torch.sigmoid, False),
    ("relu", lambda a: a.relu(), torch.relu, False),
]


@pytest.mark.parametrize("name,ours,theirs,positive", UNARY, ids=[u[0] for u in UNARY])
def test_unary_ops(name, ours, theirs, positive):
    compare(ours, theirs, rand(4, 5, positive=positive))


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((3, 4), (4, 5)),
        ((4,), (4, 5)),
        ((3, 4), (4,)),
        ((4,), (4,)),
        ((2, 3, 4), (4, 5)),
        ((2, 3, 4), (2, 4, 5)),
        ((3, 4), (2, 4, 5)),
        ((2, 1, 3, 4), (5, 4, 2)),
    ],
)
def test_matmul_including_batched(sa, sb):
    compare(lambda a, b: a @ b, lambda a, b: a @ b, rand(*sa), rand(*sb))


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(axis, keepdims):
    x = rand(3, 4, 5)
    dims = axis if axis is not None else tuple(range(3))
    compare(lambda a: a.sum(axis, keepdims), lambda a: a.sum(dim=dims, keepdim=keepdims), x)
    compare(lambda a: a.mean(axis, keepdims), lambda a: a.mean(dim=dims, keepdim=keepdims), x)
    compare(lambda a: a.max(axis, keepdims), lambda a: torch.amax(a, dim=dims, keepdim=keepdims), x)


def test_reshape_transpose_T():
    x = rand(2, 3, 4)
    compare(lambda a: a.reshape(4, 6), lambda a: a.reshape(4, 6), x)
    compare(lambda a: a.transpose(2, 0, 1), lambda a: a.permute(2, 0, 1), x)
    compare(lambda a: a.T, lambda a: a.permute(2, 1, 0), x)


@pytest.mark.parametrize(
    "index",
    [
        np.s_[1],
        np.s_[:, 1:3],
        np.s_[..., ::2],
        np.s_[None, 0],
        (np.array([0, 2, 2, 1]),),
        (np.array([0, 1, 1]), np.array([2, 0, 2])),
    ],
    ids=["int", "slice", "ellipsis-step", "newaxis", "int-array-repeats", "pairs"],
)
def test_getitem(index):
    compare(lambda a: a[index], lambda a: a[index], rand(3, 4))


def test_concatenate_stack_where():
    a, b = rand(2, 3), rand(4, 3)
    compare(lambda x, y: ag.concatenate([x, y], axis=0), lambda x, y: torch.cat([x, y], 0), a, b)
    c, d = rand(2, 3), rand(2, 3)
    compare(lambda x, y: ag.stack([x, y], axis=1), lambda x, y: torch.stack([x, y], 1), c, d)
    cond = RNG.random((2, 3)) > 0.5
    compare(
        lambda x, y: ag.where(cond, x, y),
        lambda x, y: torch.where(torch.tensor(cond), x, y),
        c,
        rand(3),
    )


def test_composed_softmax_log_softmax_logsumexp():
    x = rand(4, 6)
    compare(lambda a: a.softmax(axis=1), lambda a: torch.softmax(a, 1), x)
    compare(lambda a: a.log_softmax(axis=0), lambda a: torch.log_softmax(a, 0), x)
    compare(lambda a: ag.logsumexp(a, axis=1), lambda a: torch.logsumexp(a, 1), x)


def test_log_softmax_is_stable_for_huge_logits():
    x = dl.tensor(np.array([[1e4, 0.0, -1e4]]), requires_grad=True)
    y = x.log_softmax(axis=1)
    assert np.all(np.isfinite(y.data))
    y.sum().backward()
    assert np.all(np.isfinite(x.grad))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fused_cross_entropy_equals_composed_twin_and_torch(reduction):
    z, y = rand(7, 5), RNG.integers(0, 5, 7)

    def composed(a):
        losses = -a.log_softmax(axis=1)[np.arange(7), y]
        return {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]

    compare(
        lambda a: ag.softmax_cross_entropy(a, y, reduction),
        lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(y), reduction=reduction),
        z,
    )
    ours = dl.tensor(z, requires_grad=True)
    twin = dl.tensor(z, requires_grad=True)
    cot = RNG.standard_normal(() if reduction != "none" else (7,))
    ag.softmax_cross_entropy(ours, y, reduction).backward(cot)
    composed(twin).backward(cot)
    np.testing.assert_allclose(ours.grad, twin.grad, rtol=1e-12, atol=1e-14)


def test_cross_entropy_with_probability_targets_matches_torch():
    z = rand(6, 4)
    q = RNG.random((6, 4))
    q /= q.sum(1, keepdims=True)
    compare(
        lambda a: ag.softmax_cross_entropy(a, q),
        lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(q)),
        z,
    )


@pytest.mark.parametrize("name,ours,theirs,positive", UNARY, ids=[u[0] for u in UNARY])
def test_unary_ops_match_finite_differences(name, ours, theirs, positive):
    x = rand(3, 2, positive=positive)
    if name in ("abs", "relu"):
        x = x + np.sign(x) * 0.1  # stay away from the kink
    result = dl.gradcheck(lambda a: (ours(a) * np.arange(1.0, 7.0).reshape(3, 2)).sum(), x)
    assert result.passed, str(result)


def test_matmul_and_broadcast_ops_match_finite_differences():
    w = rand(4, 3)
    result = dl.gradcheck(
        lambda a: ((a @ w).tanh() + a.sum(axis=1, keepdims=True)).sum(), rand(2, 4)
    )
    assert result.passed, str(result)


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_linear_equals_composed_twin_and_torch(shape, bias):
    x, w, b = rand(*shape), rand(3, 4), rand(3)
    if bias:
        compare(lambda a, c, d: ag.linear(a, c, d), lambda a, c, d: a @ c.T + d, x, w, b)
        compare(
            lambda a, c, d: ag.linear(a, c, d),
            lambda a, c, d: torch.nn.functional.linear(a, c, d),
            x,
            w,
            b,
        )
    else:
        compare(lambda a, c: ag.linear(a, c), lambda a, c: a @ c.T, x, w)

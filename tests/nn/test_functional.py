"""Losses: PyTorch parity, stability for huge logits, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import descentlab as dl
from descentlab.nn import functional as F

RNG = np.random.default_rng(2)


def _grad_pair(ours_fn, torch_fn, x):
    a = dl.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    la, lb = ours_fn(a), torch_fn(b)
    la.backward()
    lb.backward()
    return la.item(), lb.item(), a.grad, b.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_losses_match_torch(reduction):
    z = RNG.standard_normal((9, 4))
    y = RNG.integers(0, 4, 9)
    t = torch.tensor(y)
    cases = [
        (lambda a: F.cross_entropy(a, y, reduction),
         lambda b: torch.nn.functional.cross_entropy(b, t, reduction=reduction)),
        (lambda a: F.nll_loss(F.log_softmax(a, 1), y, reduction),
         lambda b: torch.nn.functional.nll_loss(torch.log_softmax(b, 1), t, reduction=reduction)),
        (lambda a: F.mse_loss(a, np.ones((9, 4)), reduction),
         lambda b: torch.nn.functional.mse_loss(b, torch.ones(9, 4, dtype=torch.float64), reduction=reduction)),
    ]
    target = (RNG.random((9, 4)) > 0.5).astype(np.float64)
    cases.append((
        lambda a: F.binary_cross_entropy_with_logits(a, target, reduction),
        lambda b: torch.nn.functional.binary_cross_entropy_with_logits(
            b, torch.tensor(target), reduction=reduction),
    ))
    for ours, theirs in cases:
        va, vb, ga, gb = _grad_pair(ours, theirs, z)
        assert va == pytest.approx(vb, rel=1e-12)
        np.testing.assert_allclose(ga, gb, rtol=1e-10, atol=1e-15)


def test_one_hot_targets_equal_integer_labels():
    z = RNG.standard_normal((5, 3))
    y = np.array([0, 2, 1, 1, 0])
    assert F.cross_entropy(z, np.eye(3)[y]).item() == pytest.approx(F.cross_entropy(z, y).item())


def test_losses_are_finite_for_logits_of_1e4():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], dtype=np.float32)
    for loss_fn in (
        lambda a: F.cross_entropy(a, np.array([1, 0])),
        lambda a: F.binary_cross_entropy_with_logits(a, np.ones((2, 3), np.float32)),
        lambda a: F.nll_loss(F.log_softmax(a, 1), np.array([1, 0])),
    ):
        a = dl.tensor(z, requires_grad=True)
        loss = loss_fn(a)
        loss.backward()
        assert np.isfinite(loss.item()) and np.all(np.isfinite(a.grad))
    assert F.cross_entropy(z, np.array([1, 0])).item() == pytest.approx(2e4)


def test_labels_out_of_range_name_the_label_and_range():
    z = np.zeros((3, 10))
    with pytest.raises(ValueError, match=r"label 10 is out of range for 10 classes .*\[0, 9\]"):
        F.cross_entropy(z, np.array([1, 10, 2]))
    with pytest.raises(ValueError, match=r"label -1"):
        F.nll_loss(z, np.array([1, -1, 2]))
    with pytest.raises(ValueError, match="2 labels for 3 rows"):
        F.cross_entropy(z, np.array([1, 2]))
    with pytest.raises(TypeError, match="integers"):
        F.cross_entropy(z, np.array([1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(z, np.array([1, 2, 0]), reduction="avg")


def test_accuracy():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert F.accuracy(scores, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert F.accuracy(np.array([2.0, -1.0]), np.array([1, 0])) == 1.0

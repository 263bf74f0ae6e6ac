"""Stateless forms of the layers and losses (like ``torch.nn.functional``).

Losses take logits (unnormalised scores) and integer labels or one-hot rows,
with ``reduction`` "mean" (default), "sum" or "none", and are numerically
stable: logits of 1e4 give a finite loss and gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from descentlab.autograd import Tensor, ops
from descentlab.autograd.tensor import lift

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


# ---------------------------------------------------------------- activations
def relu(x: Any) -> Tensor:
    """max(x, 0)."""
    return ops.relu(x)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    x = lift(x)
    return ops.where(x.data > 0, x, x * negative_slope)


def sigmoid(x: Any) -> Tensor:
    """1 / (1 + e^-x)."""
    return ops.sigmoid(x)


def tanh(x: Any) -> Tensor:
    return ops.tanh(x)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x_i) / sum_j exp(x_j) along ``axis``."""
    return ops.softmax(x, axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x_i - log sum_j exp(x_j), with the log-sum-exp shift for stability."""
    return ops.log_softmax(x, axis)


ACTIVATIONS = {"relu": relu, "leaky_relu": leaky_relu, "sigmoid": sigmoid, "tanh": tanh}


def linear(x: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b, with W of shape (out, in) as in PyTorch."""
    return ops.linear(x, weight, bias)


def dropout(
    x: Any,
    p: float = 0.5,
    training: bool = True,
    rng: np.random.Generator | None = None,
    mask: np.ndarray | None = None,
) -> Tensor:
    """Inverted dropout (Srivastava et al. 2014).

    In training each entry is kept with probability 1 - p and scaled by
    1 / (1 - p), so the expected output equals the input; in evaluation it is
    the identity. ``mask`` (booleans, True = keep, broadcastable to x) fixes
    which entries survive.
    """
    check_dropout_p(p)
    x = lift(x)
    if not training or p == 0:
        return x
    if mask is None:
        mask = keep_mask(rng or np.random.default_rng(), x.shape, p)
    scale = np.asarray(1 / (1 - p), dtype=x.dtype) if p < 1 else np.asarray(0, dtype=x.dtype)
    return x * (np.asarray(mask, dtype=x.dtype) * scale)


def keep_mask(rng: np.random.Generator, shape: tuple[int, ...], p: float) -> np.ndarray:
    """Booleans, True with probability 1 - p (to within 2^-32), drawn from raw random bits.

    Thirty-two random bits per entry compared with p 2^32: half the cost of
    drawing uniform floats, and the generator's state advances deterministically.
    """
    n = int(np.prod(shape))
    bits = rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]
    return (bits >= np.uint32(min(p * 2.0**32, 2.0**32 - 1))).reshape(shape)


def check_dropout_p(p: float) -> None:
    if not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"dropout probability p must be in [0, 1), got {p!r}")


# --------------------------------------------------------------------- losses
def cross_entropy(
    logits: Any, target: Any, reduction: str = "mean", label_smoothing: float = 0.0
) -> Tensor:
    """Softmax cross-entropy: mean over samples of -log softmax(z_i)[y_i].

    ``target`` is integer labels of shape (n,) or class probabilities (n, C).
    One fused node: its gradient is (softmax(z) - onehot(y)) / n.
    """
    return ops.softmax_cross_entropy(logits, target, reduction, label_smoothing)


def nll_loss(log_probs: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: -log_probs[i, y_i], given log-probabilities."""
    log_probs = lift(log_probs)
    target = np.asarray(getattr(target, "data", target))
    n, classes = log_probs.shape
    if target.shape != (n,):
        raise ValueError(f"expected {n} integer labels, got target of shape {target.shape}")
    if n and (target.min() < 0 or target.max() >= classes):
        bad = target[(target < 0) | (target >= classes)][0]
        raise ValueError(
            f"label {bad} is out of range for {classes} classes "
            f"(expected labels in [0, {classes - 1}])"
        )
    return _reduce(-log_probs[np.arange(n), target], reduction)


def mse_loss(prediction: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error (y_hat - y)^2."""
    prediction = lift(prediction)
    target = lift(target, prediction)
    if prediction.shape != target.shape:
        raise ValueError(
            f"mse_loss needs prediction and target of the same shape, got {prediction.shape} "
            f"and {target.shape}"
        )
    diff = prediction - target
    return _reduce(diff * diff, reduction)


def binary_cross_entropy_with_logits(logits: Any, target: Any, reduction: str = "mean") -> Tensor:
    """-(y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))), computed stably as
    max(z, 0) - z y + log(1 + exp(-|z|))."""
    logits = lift(logits)
    target = lift(target, logits)
    if logits.shape != target.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits needs logits and target of the same shape, "
            f"got {logits.shape} and {target.shape}"
        )
    losses = ops.relu(logits) - logits * target + ops.log(1 + ops.exp(-ops.abs(logits)))
    return _reduce(losses, reduction)


LOSSES = {
    "cross_entropy": cross_entropy,
    "mse": mse_loss,
    "bce_with_logits": binary_cross_entropy_with_logits,
    "nll": nll_loss,
}


def accuracy(scores: Any, target: Any) -> float:
    """Fraction of rows whose largest score is at the true label."""
    scores = np.asarray(getattr(scores, "data", scores))
    target = np.asarray(getattr(target, "data", target))
    if target.ndim == 2:
        target = target.argmax(axis=1)
    if len(scores) != len(target):
        raise ValueError(f"{len(scores)} predictions for {len(target)} labels")
    if len(target) == 0:
        return float("nan")
    if scores.ndim == 1 or scores.shape[1] == 1:
        predicted = (scores.reshape(-1) > 0).astype(target.dtype)
    else:
        predicted = scores.argmax(axis=1)
    return float(np.mean(predicted == target))

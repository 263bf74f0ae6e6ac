"""Stateless forms of the layers and losses (like ``torch.nn.functional``).

Losses have torch's names, arguments and defaults (``weight``, ``ignore_index``,
``label_smoothing``, ``pos_weight``, ``beta``, ``delta``; ``reduction`` "mean",
"sum" or "none", by keyword) and match it in float64 values and gradients.
Classification losses take logits (unnormalised scores) with integer labels or
class probabilities, with the class axis 1 as in torch ((N, C) or (N, C, d1, ...)),
and are numerically stable: logits of 1e4 give a finite loss and gradient.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from descentlab.autograd import Tensor, ops
from descentlab.autograd.tensor import Grad, TensorLike, lift, make_result

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        if losses.size == 0:  # torch: NaN, without a warning
            return losses.sum() * np.asarray(np.nan, losses.dtype)
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


def relu_dropout(
    x: Any,
    p: float = 0.5,
    training: bool = True,
    rng: np.random.Generator | None = None,
    mask: np.ndarray | None = None,
) -> Tensor:
    """``dropout(relu(x), p, training, rng, mask)`` in one node and fewer passes.

    The same values, gradients and random draws as the two calls (``nn.MLP`` and
    ``nn.Sequential`` use it for a ReLU followed by a Dropout in training).
    """
    check_dropout_p(p)
    if not training or p == 0:
        return ops.relu(x)
    x = lift(x)
    if mask is None:
        mask = keep_mask(rng or np.random.default_rng(), x.shape, p)
    return ops.relu_dropout(x, mask, 1 / (1 - p) if p < 1 else 0.0)


def keep_mask(rng: np.random.Generator, shape: tuple[int, ...], p: float) -> np.ndarray:
    """Booleans, True with probability 1 - p (to within 2^-32), drawn from raw random bits.

    Thirty-two random bits per entry compared with p 2^32: half the cost of
    drawing uniform floats, and the generator's state advances deterministically.
    """
    n = math.prod(shape)
    bits = rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]
    return (bits >= np.uint32(min(p * 2.0**32, 2.0**32 - 1))).reshape(shape)


def check_dropout_p(p: float) -> None:
    if not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"dropout probability p must be in [0, 1), got {p!r}")


# --------------------------------------------------------------------- losses
# Shapes follow torch.nn.functional: class scores are (C,), (N, C) or (N, C, d1, ...),
# with class labels (), (N,) or (N, d1, ...); the class axis is 1. Internally they
# become M = N * d1 * ... rows of C scores.


def _array(x: TensorLike) -> np.ndarray:
    return np.asarray(x.data if isinstance(x, Tensor) else x)


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _class_rows(x: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    """Scores as (M, C) rows, and the shape of one loss per row (the label shape)."""
    if x.ndim == 0:
        raise ValueError(
            "class scores must have a class axis: shape (C,), (N, C) or "
            "(N, C, d1, ...), got a scalar"
        )
    if x.ndim == 1:
        return ops.reshape(x, (1, x.shape[0])), ()
    if x.ndim == 2:
        return x, (x.shape[0],)
    classes = x.shape[1]
    rows = ops.reshape(ops.moveaxis(x, 1, -1), (-1, classes))
    return rows, (x.shape[0], *x.shape[2:])


def _prob_rows(q: np.ndarray) -> np.ndarray:
    if q.ndim == 1:
        return q.reshape(1, -1)
    return q if q.ndim == 2 else np.moveaxis(q, 1, -1).reshape(-1, q.shape[1])


def _labels(
    target: np.ndarray, shape: tuple[int, ...], label_shape: tuple[int, ...], ignore_index: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Integer labels, checked against the scores' shape and class count, as one row,
    and where they equal ``ignore_index`` (None if nowhere)."""
    classes = shape[0] if len(shape) == 1 else shape[1]
    if target.shape != label_shape:
        if len(shape) == 2 and target.ndim == 1:
            raise ValueError(f"{len(target)} labels for {shape[0]} rows of logits")
        raise ValueError(
            f"target of shape {target.shape} does not fit input of shape {shape}: expected "
            f"class labels of shape {label_shape} or class probabilities of shape {shape}"
        )
    if target.dtype.kind not in "iu":
        raise TypeError(f"class labels must be integers, got dtype {target.dtype}")
    labels = target.reshape(-1)
    if labels.size == 0 or (
        ops._largest_unsigned(labels) < classes and not 0 <= ignore_index < classes
    ):
        return labels, None  # the common case, checked in one pass
    ignored = labels == ignore_index
    bad = ~ignored & ((labels < 0) | (labels >= classes))
    if bad.any():
        also = f" or ignore_index={ignore_index}" if ignore_index != -100 else ""
        raise ValueError(
            f"label {labels[bad][0]} is out of range for {classes} classes "
            f"(expected labels in [0, {classes - 1}]{also})"
        )
    return labels, (ignored if ignored.any() else None)


def _class_weight(weight: TensorLike | None, classes: int, dtype: np.dtype) -> np.ndarray | None:
    if weight is None:
        return None
    if isinstance(weight, str):
        raise TypeError(
            f"weight must be an array of class weights, got {weight!r}; pass reduction= by keyword"
        )
    w = _array(weight).astype(dtype, copy=False)
    if w.shape != (classes,):
        raise ValueError(
            f"weight must hold one value per class: expected shape ({classes},), got {w.shape}"
        )
    return w


def _mean_by(total: Tensor, denominator: float) -> Tensor:
    """total / denominator; when nothing counts, NaN with a zero gradient, as torch
    (and without NumPy's 0/0 warning)."""
    if denominator == 0:
        return total * np.asarray(0, total.dtype) + np.asarray(np.nan, total.dtype)
    return total / np.asarray(denominator, total.dtype)


def _weighted_nll(
    log_probs: Tensor,
    labels: np.ndarray,
    weight: np.ndarray | None,
    ignore_index: int,
    reduction: str,
    label_smoothing: float = 0.0,
) -> Tensor:
    """-w_y log p_y per row (0 for ignored rows), with label smoothing; mean divides by
    the summed weights w_y of the rows that count."""
    m, classes = log_probs.shape
    keep = labels != ignore_index
    safe = np.where(keep, labels, 0)
    w_row = (weight[safe] if weight is not None else np.ones(m, log_probs.dtype)) * keep
    w_row = w_row.astype(log_probs.dtype, copy=False)
    losses = -(log_probs[np.arange(m), safe] * w_row)
    if label_smoothing:
        scaled = log_probs if weight is None else log_probs * weight
        smooth = -(ops.sum(scaled, axis=1) * keep.astype(log_probs.dtype))
        losses = losses * (1.0 - label_smoothing) + smooth * (label_smoothing / classes)
    if reduction == "mean":
        return _mean_by(losses.sum(), float(w_row.sum()))
    return losses.sum() if reduction == "sum" else losses


def _shaped(losses: Tensor, reduction: str, label_shape: tuple[int, ...]) -> Tensor:
    return ops.reshape(losses, label_shape) if reduction == "none" else losses


def cross_entropy(
    input: TensorLike,
    target: TensorLike,
    weight: TensorLike | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    r"""Softmax cross-entropy of class scores (logits) z against labels y or probabilities q.

    With p = softmax(z) over the classes (axis 1), class weights w (default 1),
    smoothing eps and C classes:

        labels:         l_n = -(1 - eps) w_{y_n} log p_{n,y_n} - (eps / C) sum_c w_c log p_{n,c}
        probabilities:  l_n = -sum_c w_c q'_{n,c} log p_{n,c},   q' = (1 - eps) q + eps / C

    ``reduction="mean"`` divides the sum by sum_n w_{y_n} for labels (the number of
    counted rows when unweighted) and by the number of rows for probabilities; rows
    labelled ``ignore_index`` count for nothing. Shapes: ``input`` (C,), (N, C) or
    (N, C, d1, ...); ``target`` labels (), (N,) or (N, d1, ...), or floating
    probabilities of the input's shape. Without weights and ignored rows this is one
    fused node with gradient (p - q') / n, as ``torch.nn.functional.cross_entropy``.
    """
    if (
        type(input) is Tensor
        and type(target) is np.ndarray
        and weight is None
        and reduction == "mean"
        and not label_smoothing
        and ignore_index == -100
        and input.ndim == 2
        and target.ndim == 1
        and target.dtype.kind in "iu"
        and 0 < len(target) == input.shape[0]
        and ops._largest_unsigned(target) < input.shape[1]
    ):
        # the training step's case (labels for a batch of rows, none ignored), checked in
        # one pass: the fused node directly (a step's every call costs several times its
        # warm cost, its data having pushed the interpreter's out of the caches)
        return ops._softmax_cross_entropy(input, target, None, "mean")
    x = lift(input)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    rows, label_shape = _class_rows(x)
    classes = rows.shape[1]
    w = _class_weight(weight, classes, x.dtype)
    t = _array(target)
    if t.dtype.kind == "f" and t.shape == x.shape:
        if ignore_index != -100:
            raise ValueError("ignore_index needs class labels, not class probabilities")
        q = _prob_rows(t).astype(x.dtype, copy=False)
        if w is None:
            return _shaped(
                ops.softmax_cross_entropy(rows, q, reduction, label_smoothing),
                reduction,
                label_shape,
            )
        if label_smoothing:
            q = q * (1.0 - label_smoothing) + label_smoothing / classes
        losses = -ops.sum(log_softmax(rows, axis=1) * (q * w), axis=1)
        if reduction == "mean":
            return _mean_by(losses.sum(), float(len(q)))
        return _shaped(losses.sum() if reduction == "sum" else losses, reduction, label_shape)
    labels, ignored = _labels(t, x.shape, label_shape, ignore_index)
    if w is None and ignored is None:
        return _shaped(
            ops.softmax_cross_entropy(rows, labels, reduction, label_smoothing),
            reduction,
            label_shape,
        )
    losses = _weighted_nll(
        log_softmax(rows, axis=1), labels, w, ignore_index, reduction, label_smoothing
    )
    return _shaped(losses, reduction, label_shape)


def nll_loss(
    input: TensorLike,
    target: TensorLike,
    weight: TensorLike | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    r"""Negative log-likelihood of log-probabilities: l_n = -w_{y_n} input[n, y_n].

    Shapes, ``weight``, ``ignore_index`` and the weighted mean (sum / sum_n w_{y_n})
    as :func:`cross_entropy`, which equals ``nll_loss(log_softmax(z, axis=1), y)``.
    """
    x = lift(input)
    _check_reduction(reduction)
    rows, label_shape = _class_rows(x)
    labels, _ = _labels(_array(target), x.shape, label_shape, ignore_index)
    w = _class_weight(weight, rows.shape[1], x.dtype)
    return _shaped(_weighted_nll(rows, labels, w, ignore_index, reduction), reduction, label_shape)


def _same_shape(name: str, prediction: Tensor, target: Tensor) -> None:
    if prediction.shape != target.shape:
        raise ValueError(
            f"{name} needs input and target of the same shape, got {prediction.shape} "
            f"and {target.shape}"
        )


def _broadcast_weight(
    name: str, weight: TensorLike | None, shape: tuple[int, ...], dtype: np.dtype
) -> np.ndarray | None:
    if weight is None:
        return None
    if isinstance(weight, str):
        raise TypeError(f"{name} must be an array, got {weight!r}; pass reduction= by keyword")
    w = _array(weight).astype(dtype, copy=False)
    try:
        fits = np.broadcast_shapes(w.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{name} of shape {w.shape} does not broadcast to the input's shape {shape}"
        )
    return w


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|), accurate and finite for any x."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def binary_cross_entropy_with_logits(
    input: TensorLike,
    target: TensorLike,
    weight: TensorLike | None = None,
    *,
    reduction: str = "mean",
    pos_weight: TensorLike | None = None,
) -> Tensor:
    r"""Binary cross-entropy of logits z against targets y in [0, 1], in one stable node:

        l = w [ -p_w y log sigmoid(z) - (1 - y) log(1 - sigmoid(z)) ]
          = w [ p_w y softplus(-z) + (1 - y) softplus(z) ],
        softplus(x) = max(x, 0) + log1p(e^-|x|)

        dl/dz = w [ (1 - y) sigmoid(z) - p_w y sigmoid(-z) ]     (= w (sigmoid(z) - y) for p_w = 1)

    so confident predictions keep full relative precision (z = 20, y = 1 gives
    e^-20 to the last bit) and z = 0, y = 1 has gradient -1/2. ``weight`` (w) and
    ``pos_weight`` (p_w, the weight of positives, e.g. one per class on the last axis)
    broadcast to the input's shape and are constants; the mean is over all entries.
    """
    z = lift(input)
    y = lift(target, z)
    _check_reduction(reduction)
    _same_shape("binary_cross_entropy_with_logits", z, y)
    w = _broadcast_weight("weight", weight, z.shape, z.dtype)
    pw = _broadcast_weight("pos_weight", pos_weight, z.shape, z.dtype)
    zd, yd = z.data, y.data.astype(z.dtype, copy=False)
    sp_neg, sp_pos = _softplus(-zd), _softplus(zd)
    positive = yd * sp_neg if pw is None else pw * yd * sp_neg
    losses = positive + (1 - yd) * sp_pos
    if w is not None:
        losses = losses * w

    def backward(g: Grad) -> tuple[Grad | None, Grad | None]:
        scale = g if w is None else g * w
        if isinstance(g, Tensor):  # create_graph: the same formula from differentiable ops
            s, s_neg = ops.sigmoid(z), ops.sigmoid(-z)
            spn = ops.log(1 + ops.exp(-ops.abs(z))) + ops.relu(-z)
            pos_z, pos_y = (s_neg, spn) if pw is None else (s_neg * pw, spn * pw)
            gz = ((1 - y) * s - y * pos_z) * scale
            gy = (pos_y - (spn + z)) * scale
            return gz, (gy if y.requires_grad else None)
        sig, sig_neg = _sigmoid(zd), _sigmoid(-zd)
        to_z, to_y = (sig_neg, sp_neg) if pw is None else (pw * sig_neg, pw * sp_neg)
        dz = ((1 - yd) * sig - yd * to_z) * scale
        dy = (to_y - sp_pos) * scale
        return dz, (dy if y.requires_grad else None)

    out = make_result(np.asarray(losses, dtype=z.dtype), (z, y), backward)
    return _reduce(out, reduction)


_BCE_EPS = float(np.float32(1e-12))  # torch's floor of p (1 - p) in the gradient
_LOG_FLOOR = -100.0  # torch's floor of log p and log(1 - p)


def binary_cross_entropy(
    input: TensorLike,
    target: TensorLike,
    weight: TensorLike | None = None,
    *,
    reduction: str = "mean",
) -> Tensor:
    r"""Binary cross-entropy of probabilities p in [0, 1] against targets y, as torch:

        l = -w [ y max(log p, -100) + (1 - y) max(log1p(-p), -100) ]
        dl/dp = w (p - y) / max(p (1 - p), 1e-12)

    The floors keep p = 0 or 1 finite. Prefer :func:`binary_cross_entropy_with_logits`
    on logits, which is exact where sigmoid(z) rounds to 0 or 1.
    """
    p = lift(input)
    y = lift(target, p)
    _check_reduction(reduction)
    _same_shape("binary_cross_entropy", p, y)
    pd, yd = p.data, y.data.astype(p.dtype, copy=False)
    outside = ~((pd >= 0) & (pd <= 1))
    if outside.any():
        raise ValueError(
            f"binary_cross_entropy needs probabilities in [0, 1], got "
            f"{float(pd[outside].flat[0])!r}; for logits use "
            "binary_cross_entropy_with_logits"
        )
    w = _broadcast_weight("weight", weight, p.shape, p.dtype)
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(pd), _LOG_FLOOR)
        log_q = np.maximum(np.log1p(-pd), _LOG_FLOOR)
    losses = -(yd * log_p + (1 - yd) * log_q)
    if w is not None:
        losses = losses * w

    def backward(g: Grad) -> tuple[Grad | None, Grad | None]:
        scale = g if w is None else g * w
        # under create_graph the denominator is taken as a constant
        pv, yv = (p, y) if isinstance(g, Tensor) else (pd, yd)
        gp = (pv - yv) / np.maximum(pd * (1 - pd), _BCE_EPS) * scale
        gy = (log_q - log_p) * scale
        return gp, (gy if y.requires_grad else None)

    out = make_result(np.asarray(losses, dtype=p.dtype), (p, y), backward)
    return _reduce(out, reduction)


def mse_loss(input: TensorLike, target: TensorLike, *, reduction: str = "mean") -> Tensor:
    """Squared error (x - y)^2 per entry."""
    x = lift(input)
    y = lift(target, x)
    _check_reduction(reduction)
    _same_shape("mse_loss", x, y)
    diff = x - y
    return _reduce(diff * diff, reduction)


def l1_loss(input: TensorLike, target: TensorLike, *, reduction: str = "mean") -> Tensor:
    """Absolute error |x - y| per entry; its gradient sign(x - y) is 0 where x = y."""
    x = lift(input)
    y = lift(target, x)
    _check_reduction(reduction)
    _same_shape("l1_loss", x, y)
    return _reduce(ops.abs(x - y), reduction)


def smooth_l1_loss(
    input: TensorLike, target: TensorLike, *, reduction: str = "mean", beta: float = 1.0
) -> Tensor:
    r"""Smooth L1 (Girshick, Fast R-CNN 2015), d = x - y:

        l = d^2 / (2 beta)  if |d| < beta,   |d| - beta / 2  otherwise;

    ``beta`` = 0 is the L1 loss. Equals :func:`huber_loss` / beta.
    """
    x = lift(input)
    y = lift(target, x)
    _check_reduction(reduction)
    _same_shape("smooth_l1_loss", x, y)
    if not beta >= 0:
        raise ValueError(f"smooth_l1_loss needs beta >= 0, got {beta!r}")
    d = x - y
    ad = ops.abs(d)
    if beta == 0:
        return _reduce(ad, reduction)
    quadratic = d * d * np.asarray(0.5 / beta, x.dtype)
    return _reduce(
        ops.where(ad.data < beta, quadratic, ad - np.asarray(0.5 * beta, x.dtype)), reduction
    )


def huber_loss(
    input: TensorLike, target: TensorLike, *, reduction: str = "mean", delta: float = 1.0
) -> Tensor:
    r"""Huber loss (Huber 1964), d = x - y:

    l = d^2 / 2  if |d| < delta,   delta (|d| - delta / 2)  otherwise.
    """
    x = lift(input)
    y = lift(target, x)
    _check_reduction(reduction)
    _same_shape("huber_loss", x, y)
    if not delta > 0:
        raise ValueError(f"huber_loss needs delta > 0, got {delta!r}")
    d = x - y
    ad = ops.abs(d)
    quadratic = d * d * np.asarray(0.5, x.dtype)
    linear_part = (ad - np.asarray(0.5 * delta, x.dtype)) * np.asarray(delta, x.dtype)
    return _reduce(ops.where(ad.data < delta, quadratic, linear_part), reduction)


LOSSES = {
    "cross_entropy": cross_entropy,
    "mse": mse_loss,
    "bce_with_logits": binary_cross_entropy_with_logits,
    "nll": nll_loss,
    "bce": binary_cross_entropy,
    "l1": l1_loss,
    "smooth_l1": smooth_l1_loss,
    "huber": huber_loss,
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

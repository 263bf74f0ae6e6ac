"""Loss modules, thin wrappers of the functions in ``functional`` (as ``torch.nn``'s)."""

from __future__ import annotations

from typing import Any

import numpy as np

from descentlab.autograd import Tensor
from descentlab.autograd.tensor import TensorLike
from descentlab.nn import functional as F
from descentlab.nn.module import Module


def _constant(value: TensorLike | None) -> np.ndarray | None:
    return None if value is None else np.array(getattr(value, "data", value))


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F._check_reduction(reduction)
        self.reduction = reduction

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction}


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits against class labels or probabilities.

    See :func:`functional.cross_entropy` for the formula, shapes and the weighted mean.
    """

    def __init__(
        self,
        weight: TensorLike | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        if isinstance(weight, str):  # the old positional CrossEntropyLoss("sum")
            raise TypeError(
                f"weight must be an array of class weights, got {weight!r}; "
                "pass reduction= by keyword"
            )
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
        self.weight = _constant(weight)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return F.cross_entropy(
            input,
            target,
            self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )

    def config(self) -> dict[str, Any]:
        return {
            "reduction": self.reduction,
            "label_smoothing": self.label_smoothing,
            "ignore_index": self.ignore_index,
            "weight": None if self.weight is None else self.weight.tolist(),
        }


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (see :func:`functional.nll_loss`)."""

    def __init__(
        self, weight: TensorLike | None = None, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        if isinstance(weight, str):
            raise TypeError(
                f"weight must be an array of class weights, got {weight!r}; "
                "pass reduction= by keyword"
            )
        super().__init__(reduction)
        self.weight = _constant(weight)
        self.ignore_index = int(ignore_index)

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return F.nll_loss(
            input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction
        )

    def config(self) -> dict[str, Any]:
        return {
            "reduction": self.reduction,
            "ignore_index": self.ignore_index,
            "weight": None if self.weight is None else self.weight.tolist(),
        }


class MSELoss(_Loss):
    """Mean squared error (x - y)^2."""

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error |x - y|."""

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """d^2 / (2 beta) for |d| < beta, else |d| - beta / 2 (see :func:`functional.smooth_l1_loss`)."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        if not beta >= 0:
            raise ValueError(f"smooth_l1_loss needs beta >= 0, got {beta!r}")
        self.beta = float(beta)

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "beta": self.beta}


class HuberLoss(_Loss):
    """d^2 / 2 for |d| < delta, else delta (|d| - delta / 2) (see :func:`functional.huber_loss`)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        if not delta > 0:
            raise ValueError(f"huber_loss needs delta > 0, got {delta!r}")
        self.delta = float(delta)

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "delta": self.delta}


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits, computed stably
    (see :func:`functional.binary_cross_entropy_with_logits`)."""

    def __init__(
        self,
        weight: TensorLike | None = None,
        reduction: str = "mean",
        pos_weight: TensorLike | None = None,
    ) -> None:
        if isinstance(weight, str):
            raise TypeError(f"weight must be an array, got {weight!r}; pass reduction= by keyword")
        super().__init__(reduction)
        self.weight = _constant(weight)
        self.pos_weight = _constant(pos_weight)

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )

    def config(self) -> dict[str, Any]:
        return {
            "reduction": self.reduction,
            "weight": None if self.weight is None else self.weight.tolist(),
            "pos_weight": None if self.pos_weight is None else self.pos_weight.tolist(),
        }


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities (see :func:`functional.binary_cross_entropy`)."""

    def __init__(self, weight: TensorLike | None = None, reduction: str = "mean") -> None:
        if isinstance(weight, str):
            raise TypeError(f"weight must be an array, got {weight!r}; pass reduction= by keyword")
        super().__init__(reduction)
        self.weight = _constant(weight)

    def forward(self, input: TensorLike, target: TensorLike) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)

    def config(self) -> dict[str, Any]:
        return {
            "reduction": self.reduction,
            "weight": None if self.weight is None else self.weight.tolist(),
        }

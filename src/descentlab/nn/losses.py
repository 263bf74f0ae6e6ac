"""Loss modules, thin wrappers of the functions in ``functional``."""

from __future__ import annotations

from typing import Any

from descentlab.autograd import Tensor
from descentlab.nn import functional as F
from descentlab.nn.module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction}


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits against integer labels (or one-hot rows)."""

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: Any, target: Any) -> Tensor:
        return F.cross_entropy(logits, target, self.reduction, self.label_smoothing)

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "label_smoothing": self.label_smoothing}


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities."""

    def forward(self, log_probs: Any, target: Any) -> Tensor:
        return F.nll_loss(log_probs, target, self.reduction)


class MSELoss(_Loss):
    """Mean squared error."""

    def forward(self, prediction: Any, target: Any) -> Tensor:
        return F.mse_loss(prediction, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits, computed stably."""

    def forward(self, logits: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, target, self.reduction)

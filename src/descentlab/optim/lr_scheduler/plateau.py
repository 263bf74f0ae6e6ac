"""Reduce the learning rate when a monitored metric stops improving."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from descentlab.optim.base import LearningRate, Optimizer
from descentlab.optim.lr_scheduler.base import _check_optimizer, _copy

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau:
    """Divide the lr by 1/``factor`` when a metric has stopped improving for ``patience`` epochs.

    ``step(metric)`` takes the monitored value (``mode="min"`` for a loss). A value
    counts as better than the best if it beats it by ``threshold`` (relative in
    ``"rel"`` mode, absolute in ``"abs"``); after a reduction, ``cooldown`` epochs
    pass before bad epochs are counted again. lr never goes below ``min_lr``, and
    changes smaller than ``eps`` are ignored.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: list[float] | float = 0,
        eps: float = 1e-8,
    ) -> None:
        if not 0 <= factor < 1.0:
            raise ValueError(f"Invalid factor value: {factor!r}; expected a number in [0, 1)")
        _check_optimizer(optimizer)
        if patience < 0:
            raise ValueError(f"Invalid patience value: {patience!r}; expected an integer >= 0")
        if cooldown < 0:
            raise ValueError(f"Invalid cooldown value: {cooldown!r}; expected an integer >= 0")
        self.optimizer = optimizer
        self.factor = factor
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(
                    f"expected {len(optimizer.param_groups)} min_lrs, got {len(min_lr)}"
                )
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = [_copy(g["lr"]) for g in optimizer.param_groups]
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"Invalid mode value: {mode!r}; expected 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"Invalid threshold_mode value: {threshold_mode!r}; expected 'rel' or 'abs'"
            )
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        """True while bad epochs are being ignored after a reduction."""
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics: float) -> None:
        """Record the metric of one epoch and reduce the lr if it has plateaued."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [_copy(g["lr"]) for g in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"the optimizer has {len(groups)} parameter groups but min_lr has "
                    f"{len(self.min_lrs)} entries"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = group["lr"]
            if isinstance(old, np.ndarray):
                new = np.maximum(old * self.factor, min_lr)
                group["lr"] = np.where(old - new > self.eps, new, old)
            else:
                lowered = max(float(old) * self.factor, min_lr)
                if float(old) - lowered > self.eps:
                    group["lr"] = lowered

    def get_last_lr(self) -> list[LearningRate]:
        """The learning rates after the most recent ``step``."""
        return self._last_lr

    def state_dict(self) -> dict[str, object]:
        """Every attribute except the optimizer."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, object]) -> None:
        """Restore the attributes saved by :meth:`state_dict`."""
        self.__dict__.update(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)

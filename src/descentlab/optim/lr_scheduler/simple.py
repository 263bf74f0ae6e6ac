"""Schedules with a closed form in the epoch t: step and exponential decays, warm-ups,
polynomial and 1/t decays, cosine annealing (with or without warm restarts).

Each is computed recursively from the current lr where PyTorch does so (they chain
with other changes of ``group["lr"]``) and has its closed form for ``step(epoch)``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable

import numpy as np

from descentlab.optim.base import LearningRate, Optimizer
from descentlab.optim.lr_scheduler.base import (
    LRScheduler,
    _check_gamma,
    _check_nonnegative_int,
    _check_positive_int,
    _copy,
    _is_real,
)

__all__ = [
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "ExponentialLR",
    "InverseTimeLR",
    "LinearLR",
    "MultiStepLR",
    "PolynomialLR",
    "StepLR",
]


class StepLR(LRScheduler):
    """eta_t = eta_0 * gamma^floor(t / step_size): decay by ``gamma`` every ``step_size`` epochs."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        _check_positive_int("step_size", step_size)
        _check_gamma(gamma)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[LearningRate]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[LearningRate]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each epoch listed in ``milestones``."""

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        _check_gamma(gamma)
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[LearningRate]:
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [g["lr"] * factor for g in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[LearningRate]:
        passed = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma**passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """eta_t = eta_0 * gamma^t."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        _check_gamma(gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[LearningRate]:
        if self._is_initial:
            return self._current_lrs()
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[LearningRate]:
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """eta_t = eta_min + (eta_0 - eta_min) (1 + cos(pi t / T_max)) / 2.

    Computed recursively from the current lr, exactly as PyTorch does (so it
    composes with other changes of ``group["lr"]``). Loshchilov & Hutter, SGDR, ICLR 2017.
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        _check_positive_int("T_max", T_max)
        if not eta_min >= 0:
            raise ValueError(f"Invalid eta_min value: {eta_min!r}; expected a number >= 0")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[LearningRate]:
        groups = self.optimizer.param_groups
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and t > 0:
            return [
                eta_min + (base - eta_min) * (1 + math.cos(t * math.pi / T)) / 2
                for base in self.base_lrs
            ]
        if (t - 1 - T) % (2 * T) == 0:
            return [
                g["lr"] + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
                for base, g in zip(self.base_lrs, groups)
            ]
        return [
            (1 + math.cos(math.pi * t / T))
            / (1 + math.cos(math.pi * (t - 1) / T))
            * (g["lr"] - eta_min)
            + eta_min
            for g in groups
        ]

    def _closed_form_lr(self) -> list[LearningRate]:
        cos = math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (base - self.eta_min) * (1 + cos) / 2 for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Linear warm-up: the factor goes from ``start_factor`` to ``end_factor`` in ``total_iters``.

    eta_t = eta_0 * (s + (e - s) * min(t, T) / T).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if not 0 < start_factor <= 1:
            raise ValueError(
                f"Invalid start_factor value: {start_factor!r}; expected a number in (0, 1]"
            )
        if not 0 <= end_factor <= 1:
            raise ValueError(
                f"Invalid end_factor value: {end_factor!r}; expected a number in [0, 1]"
            )
        _check_positive_int("total_iters", total_iters)
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[LearningRate]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [g["lr"] * self.start_factor for g in groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        s, e = self.start_factor, self.end_factor
        factor = 1.0 + (e - s) / (self.total_iters * s + (self.last_epoch - 1) * (e - s))
        return [g["lr"] * factor for g in groups]

    def _closed_form_lr(self) -> list[LearningRate]:
        s, e, T = self.start_factor, self.end_factor, self.total_iters
        return [base * (s + (e - s) * min(T, self.last_epoch) / T) for base in self.base_lrs]


class InverseTimeLR(LRScheduler):
    """eta_t = eta_0 / (1 + k t): the classic 1/t decay of stochastic approximation."""

    def __init__(self, optimizer: Optimizer, k: float, last_epoch: int = -1) -> None:
        if not (isinstance(k, (int, float, np.floating)) and k >= 0):
            raise ValueError(f"Invalid k value: {k!r}; expected a number >= 0")
        self.k = k
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[LearningRate]:
        return [base / (1 + self.k * self.last_epoch) for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """eta_t = eta_0 * factor for t < total_iters, then eta_0 (a constant warm-up).

    Chainable: at t = 0 the current lr is multiplied by ``factor`` and at
    t = ``total_iters`` divided by it again (so, as in PyTorch, ``total_iters=0``
    keeps the factor for ever).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        factor: float = 1.0 / 3,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if not (_is_real(factor) and 0 <= factor <= 1):
            raise ValueError(f"Invalid factor value: {factor!r}; expected a number in [0, 1]")
        _check_nonnegative_int("total_iters", total_iters)
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[LearningRate]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [g["lr"] * self.factor for g in groups]
        if self.last_epoch != self.total_iters:
            return self._current_lrs()
        if self.factor == 0:  # nothing to divide: restore eta_0 (PyTorch divides by zero)
            return [_copy(base) for base in self.base_lrs]
        return [g["lr"] * (1.0 / self.factor) for g in groups]

    def _closed_form_lr(self) -> list[LearningRate]:
        done = self.last_epoch >= self.total_iters
        return [base * (self.factor + done * (1 - self.factor)) for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """eta_t = eta_0 * (1 - min(t, T) / T)^power: polynomial decay to 0 in ``total_iters`` = T.

    Computed recursively, eta_t = eta_{t-1} * ((1 - t/T) / (1 - (t-1)/T))^power, as
    PyTorch does; ``power`` = 1 is a linear decay.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        total_iters: int = 5,
        power: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        _check_positive_int("total_iters", total_iters)
        if not (_is_real(power) and 0 <= power < math.inf):
            raise ValueError(f"Invalid power value: {power!r}; expected a finite number >= 0")
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[LearningRate]:
        t, T = self.last_epoch, self.total_iters
        if self._is_initial or t > T:
            return self._current_lrs()
        factor = ((1.0 - t / T) / (1.0 - (t - 1) / T)) ** self.power
        return [g["lr"] * factor for g in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[LearningRate]:
        T = self.total_iters
        return [base * (1.0 - min(T, self.last_epoch) / T) ** self.power for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    r"""SGDR: cosine annealing with warm restarts (Loshchilov & Hutter, ICLR 2017).

        eta_t = eta_min + (eta_0 - eta_min) (1 + cos(pi T_cur / T_i)) / 2

    T_cur counts the epochs since the last restart; at T_cur = T_i the lr jumps
    back to eta_0 and the next period is T_{i+1} = T_mult T_i (T_0 first).
    ``step(epoch)`` accepts a fractional epoch (e.g. ``epoch + i / n_batches`` to
    anneal within an epoch); ``step()`` adds one.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        _check_positive_int("T_0", T_0)
        _check_positive_int("T_mult", T_mult)
        if not (_is_real(eta_min) and 0 <= eta_min < math.inf):
            raise ValueError(f"Invalid eta_min value: {eta_min!r}; expected a number >= 0")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur: float = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[LearningRate]:
        cos = math.cos(math.pi * self.T_cur / self.T_i)
        return [self.eta_min + (base - self.eta_min) * (1 + cos) / 2 for base in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Advance one epoch, or go to ``epoch`` (>= 0, may be fractional)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if not (_is_real(epoch) and 0 <= epoch < math.inf):
                raise ValueError(f"Invalid epoch value: {epoch!r}; expected a number >= 0")
            T_0, m = self.T_0, self.T_mult
            if epoch < T_0:
                self.T_i = T_0
                self.T_cur = epoch
            elif m == 1:
                self.T_cur = epoch % T_0
            else:
                # restarts happen at T_0 (m^n - 1) / (m - 1): solve for the period n
                n = int(math.log(epoch / T_0 * (m - 1) + 1, m))
                self.T_cur = epoch - T_0 * (m**n - 1) / (m - 1)
                self.T_i = T_0 * m**n
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

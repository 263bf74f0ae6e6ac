"""Learning-rate schedules with PyTorch's semantics (``torch.optim.lr_scheduler``).

A schedule sets ``group["lr"]`` of every parameter group of an optimizer; call
``scheduler.step()`` once per epoch (or per step), *after* ``optimizer.step()``.
At construction it records ``group["initial_lr"]`` (eta_0) and sets the
learning rate for epoch 0; ``last_epoch`` counts the calls to ``step()``.
Learning rates may be NumPy arrays (one per batched problem); every formula
acts elementwise.

>>> opt = SGD([ArrayParam([1.0])], lr=0.1)
>>> sched = StepLR(opt, step_size=2, gamma=0.5)
>>> for epoch in range(4):
...     opt.step(); sched.step()
>>> sched.get_last_lr()
[0.025]
"""

from __future__ import annotations

import math
import types
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import numpy as np

from descentlab.optim.base import Optimizer
from descentlab.optim.registry import HyperParam

__all__ = [
    "SCHEDULES",
    "CosineAnnealingLR",
    "ExponentialLR",
    "InverseTimeLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "ReduceLROnPlateau",
    "ScheduleSpec",
    "StepLR",
    "get_schedule",
]


def _copy(lr: Any) -> Any:
    return lr.copy() if isinstance(lr, np.ndarray) else lr


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


class LRScheduler:
    """Base class: subclasses define ``get_lr()`` from ``last_epoch`` and the current lrs."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", _copy(group["lr"]))
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when "
                        "resuming a scheduler with last_epoch >= 0"
                    )
        self.base_lrs = [_copy(g["initial_lr"]) for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[Any]:
        """The learning rates for epoch ``last_epoch`` (called by ``step``)."""
        raise NotImplementedError

    def _current_lrs(self) -> list[Any]:
        return [_copy(g["lr"]) for g in self.optimizer.param_groups]

    def step(self) -> None:
        """Advance one epoch and set every group's ``lr``."""
        self._step_count += 1
        self.last_epoch += 1
        values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def get_last_lr(self) -> list[Any]:
        """The learning rates most recently set, one per parameter group."""
        return self._last_lr

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the attributes saved by :meth:`state_dict`."""
        self.__dict__.update(state_dict)


class LambdaLR(LRScheduler):
    """eta_t = eta_0 * lr_lambda(t); ``lr_lambda`` is one function or one per group."""

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(
                    f"Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}"
                )
            self.lr_lambdas = list(lr_lambda)
        else:
            if not callable(lr_lambda):
                raise TypeError(f"lr_lambda must be callable, got {type(lr_lambda).__name__}")
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        """As the base class; plain functions are not saved (callable objects' dicts are)."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        out["lr_lambdas"] = [
            None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
            for fn in self.lr_lambdas
        ]
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        lambdas = state_dict.pop("lr_lambdas")
        self.__dict__.update(state_dict)
        for fn, saved in zip(self.lr_lambdas, lambdas):
            if saved is not None:
                fn.__dict__.update(saved)


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Invalid {name} value: {value!r}; expected an integer >= 1")


def _check_gamma(gamma: Any) -> None:
    if not (isinstance(gamma, (int, float, np.floating)) and gamma > 0):
        raise ValueError(f"Invalid gamma value: {gamma!r}; expected a number > 0")


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

    def get_lr(self) -> list[Any]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]


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

    def get_lr(self) -> list[Any]:
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [g["lr"] * factor for g in self.optimizer.param_groups]


class ExponentialLR(LRScheduler):
    """eta_t = eta_0 * gamma^t."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        _check_gamma(gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        if self._is_initial:
            return self._current_lrs()
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]


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

    def get_lr(self) -> list[Any]:
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

    def get_lr(self) -> list[Any]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [g["lr"] * self.start_factor for g in groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        s, e = self.start_factor, self.end_factor
        factor = 1.0 + (e - s) / (self.total_iters * s + (self.last_epoch - 1) * (e - s))
        return [g["lr"] * factor for g in groups]


class InverseTimeLR(LRScheduler):
    """eta_t = eta_0 / (1 + k t): the classic 1/t decay of stochastic approximation."""

    def __init__(self, optimizer: Optimizer, k: float, last_epoch: int = -1) -> None:
        if not (isinstance(k, (int, float, np.floating)) and k >= 0):
            raise ValueError(f"Invalid k value: {k!r}; expected a number >= 0")
        self.k = k
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        return [base / (1 + self.k * self.last_epoch) for base in self.base_lrs]


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
                new = max(float(old) * self.factor, min_lr)
                if float(old) - new > self.eps:
                    group["lr"] = new

    def get_last_lr(self) -> list[Any]:
        """The learning rates after the most recent ``step``."""
        return self._last_lr

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the attributes saved by :meth:`state_dict`."""
        self.__dict__.update(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)


class ScheduleSpec(NamedTuple):
    """A schedule choice: its class and its hyperparameters (other than the optimizer)."""

    cls: type
    hyperparameters: dict[str, HyperParam]

    def build(self, optimizer: Optimizer, **overrides: Any) -> Any:
        """Construct the schedule with defaults from ``hyperparameters`` and ``overrides``."""
        unknown = set(overrides) - set(self.hyperparameters)
        if unknown:
            raise ValueError(
                f"unknown hyperparameter(s) {sorted(unknown)} for {self.cls.__name__}; "
                f"expected some of {sorted(self.hyperparameters)}"
            )
        kwargs = {name: hp.default for name, hp in self.hyperparameters.items()}
        kwargs.update(overrides)
        return self.cls(optimizer, **kwargs)


def _hp(name, type_, default, low=None, high=None, log=False, help="", choices=()):
    return HyperParam(name, type_, default, low, high, log, help, choices)


SCHEDULES: dict[str, ScheduleSpec] = {
    "step": ScheduleSpec(StepLR, {
        "step_size": _hp("step_size", "int", 30, 1, 10_000, help="epochs between decays"),
        "gamma": _hp("gamma", "float", 0.1, 1e-3, 1.0, help="factor of each decay"),
    }),
    "exponential": ScheduleSpec(ExponentialLR, {
        "gamma": _hp("gamma", "float", 0.99, 0.5, 1.0, help="factor per epoch"),
    }),
    "cosine": ScheduleSpec(CosineAnnealingLR, {
        "T_max": _hp("T_max", "int", 100, 1, 100_000, help="epochs of the half cosine"),
        "eta_min": _hp("eta_min", "float", 0.0, 0.0, 1.0, help="lr reached at T_max"),
    }),
    "linear": ScheduleSpec(LinearLR, {
        "start_factor": _hp("start_factor", "float", 1.0 / 3, 1e-3, 1.0, help="factor at t=0"),
        "end_factor": _hp("end_factor", "float", 1.0, 0.0, 1.0, help="factor from total_iters"),
        "total_iters": _hp("total_iters", "int", 5, 1, 100_000, help="length of the warm-up"),
    }),
    "inverse_time": ScheduleSpec(InverseTimeLR, {
        "k": _hp("k", "float", 0.01, 1e-5, 10.0, True, help="eta_t = eta_0 / (1 + k t)"),
    }),
    "plateau": ScheduleSpec(ReduceLROnPlateau, {
        "mode": _hp("mode", "choice", "min", help="minimize or maximize the metric",
                    choices=("min", "max")),
        "factor": _hp("factor", "float", 0.1, 1e-3, 0.999, help="factor of each reduction"),
        "patience": _hp("patience", "int", 10, 0, 1000, help="bad epochs tolerated"),
        "threshold": _hp("threshold", "float", 1e-4, 0.0, 1.0, help="least improvement"),
        "cooldown": _hp("cooldown", "int", 0, 0, 1000, help="epochs ignored after a cut"),
        "min_lr": _hp("min_lr", "float", 0.0, 0.0, 1.0, help="lower bound of the lr"),
    }),
}


def get_schedule(name: str) -> ScheduleSpec:
    """Look up a schedule by name (case, ``-`` and ``_`` ignored)."""
    key = str(name).lower().replace("-", "_")
    aliases = {"steplr": "step", "exp": "exponential", "cos": "cosine", "warmup": "linear",
               "inversetime": "inverse_time", "inverse": "inverse_time",
               "reduce_on_plateau": "plateau"}
    key = aliases.get(key.replace("_", ""), aliases.get(key, key))
    if key not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}")
    return SCHEDULES[key]

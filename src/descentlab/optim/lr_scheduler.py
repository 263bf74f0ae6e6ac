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

import dataclasses
import math
import types
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypedDict

import numpy as np

from descentlab.optim.base import Optimizer
from descentlab.optim.registry import HyperParam

__all__ = [
    "SCHEDULES",
    "SWALR",
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "InverseTimeLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "ScheduleSpec",
    "SequentialLR",
    "StepLR",
    "cyclic",
    "get_schedule",
    "one_cycle",
    "parse_schedule",
    "schedule_for_epochs",
    "warmup_cosine",
]


def _copy(lr: Any) -> Any:
    return lr.copy() if isinstance(lr, np.ndarray) else lr


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


class LRScheduler:
    """Base class: subclasses define ``get_lr()`` from ``last_epoch`` and the current lrs.

    ``get_lr`` is the *chainable* form (it may read the current ``group["lr"]``, so
    several schedules compose); ``_closed_form_lr`` gives eta_t from eta_0 alone and
    serves ``step(epoch)`` and :class:`SequentialLR`'s hand-over at a milestone.
    """

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
        self._initial_step()

    def _initial_step(self) -> None:
        """Reset the step count and set the lrs of epoch ``last_epoch + 1`` (0 when new)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[Any]:
        """The learning rates for epoch ``last_epoch`` (called by ``step``)."""
        raise NotImplementedError

    def _closed_form_lr(self) -> list[Any]:
        """eta at ``last_epoch`` from the base lrs alone; schedules without one recurse."""
        return self.get_lr()

    def _current_lrs(self) -> list[Any]:
        return [_copy(g["lr"]) for g in self.optimizer.param_groups]

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch and set every group's ``lr``.

        ``step(epoch)`` jumps to ``epoch`` using the closed form where there is one
        (PyTorch deprecates the argument but still honours it).
        """
        self._step_count += 1
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            values = self._closed_form_lr()
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


def _lambda_list(
    optimizer: Optimizer, lr_lambda: Callable[[int], float] | list[Callable[[int], float]]
) -> list[Callable[[int], float]]:
    if isinstance(lr_lambda, (list, tuple)):
        if len(lr_lambda) != len(optimizer.param_groups):
            raise ValueError(
                f"Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}"
            )
        fns = list(lr_lambda)
    else:
        fns = [lr_lambda] * len(optimizer.param_groups)
    for fn in fns:
        if not callable(fn):
            raise TypeError(f"lr_lambda must be callable, got {type(fn).__name__}")
    return fns


class _LambdaState:
    """State dicts for schedules holding functions: plain functions are not saved, the
    ``__dict__`` of callable objects is."""

    lr_lambdas: list[Callable[[int], float]]

    def state_dict(self) -> dict[str, Any]:
        """As the base class; plain functions are not saved (callable objects' dicts are)."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        out["lr_lambdas"] = [
            None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
            for fn in self.lr_lambdas
        ]
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the attributes (and the callable objects' dicts) saved by ``state_dict``."""
        state_dict = dict(state_dict)
        lambdas = state_dict.pop("lr_lambdas")
        self.__dict__.update(state_dict)
        for fn, saved in zip(self.lr_lambdas, lambdas):
            if saved is not None:
                fn.__dict__.update(saved)


class LambdaLR(_LambdaState, LRScheduler):
    """eta_t = eta_0 * lr_lambda(t); ``lr_lambda`` is one function or one per group."""

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        self.lr_lambdas = _lambda_list(optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaState, LRScheduler):
    """eta_t = eta_{t-1} * lr_lambda(t) for t >= 1: multiply the current lr by a factor.

    ``lr_lambda`` is one function of the epoch or one per group; the lr of epoch 0
    is left as it is.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        self.lr_lambdas = _lambda_list(optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        if self._is_initial:
            return self._current_lrs()
        return [
            g["lr"] * fn(self.last_epoch)
            for fn, g in zip(self.lr_lambdas, self.optimizer.param_groups)
        ]


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

    def _closed_form_lr(self) -> list[Any]:
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

    def get_lr(self) -> list[Any]:
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [g["lr"] * factor for g in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[Any]:
        passed = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma**passed for base in self.base_lrs]


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

    def _closed_form_lr(self) -> list[Any]:
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

    def _closed_form_lr(self) -> list[Any]:
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

    def get_lr(self) -> list[Any]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [g["lr"] * self.start_factor for g in groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        s, e = self.start_factor, self.end_factor
        factor = 1.0 + (e - s) / (self.total_iters * s + (self.last_epoch - 1) * (e - s))
        return [g["lr"] * factor for g in groups]

    def _closed_form_lr(self) -> list[Any]:
        s, e, T = self.start_factor, self.end_factor, self.total_iters
        return [base * (s + (e - s) * min(T, self.last_epoch) / T) for base in self.base_lrs]


class InverseTimeLR(LRScheduler):
    """eta_t = eta_0 / (1 + k t): the classic 1/t decay of stochastic approximation."""

    def __init__(self, optimizer: Optimizer, k: float, last_epoch: int = -1) -> None:
        if not (isinstance(k, (int, float, np.floating)) and k >= 0):
            raise ValueError(f"Invalid k value: {k!r}; expected a number >= 0")
        self.k = k
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        return [base / (1 + self.k * self.last_epoch) for base in self.base_lrs]


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _check_nonnegative_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"Invalid {name} value: {value!r}; expected an integer >= 0")


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

    def get_lr(self) -> list[Any]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [g["lr"] * self.factor for g in groups]
        if self.last_epoch != self.total_iters:
            return self._current_lrs()
        if self.factor == 0:  # nothing to divide: restore eta_0 (PyTorch divides by zero)
            return [_copy(base) for base in self.base_lrs]
        return [g["lr"] * (1.0 / self.factor) for g in groups]

    def _closed_form_lr(self) -> list[Any]:
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

    def get_lr(self) -> list[Any]:
        t, T = self.last_epoch, self.total_iters
        if self._is_initial or t > T:
            return self._current_lrs()
        factor = ((1.0 - t / T) / (1.0 - (t - 1) / T)) ** self.power
        return [g["lr"] * factor for g in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[Any]:
        T = self.total_iters
        return [base * (1.0 - min(T, self.last_epoch) / T) ** self.power for base in self.base_lrs]


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


# ------------------------------------------------------------- composite schedules
def _check_schedulers(owner: str, optimizer: Optimizer, schedulers: list[Any]) -> None:
    if len(schedulers) < 1:
        raise ValueError(f"{owner} expects at least one scheduler, got none")
    for i, sched in enumerate(schedulers):
        if not hasattr(sched, "optimizer"):
            raise TypeError(
                f"{owner}: schedulers[{i}] ({type(sched).__name__}) has no optimizer attribute"
            )
        if isinstance(sched, ReduceLROnPlateau):
            raise ValueError(  # noqa: TRY004 (PyTorch raises ValueError here too)
                f"{owner} does not support ReduceLROnPlateau (schedulers[{i}]): its step "
                "needs the metric"
            )
        if sched.optimizer is not optimizer:
            raise ValueError(
                f"{owner} expects all schedulers to belong to the same optimizer, but "
                f"schedulers[{i}] ({type(sched).__name__}) has another one"
            )


def _undo_one_step(scheduler: Any) -> None:
    inner = getattr(scheduler, "_schedulers", None)
    if inner is not None:
        for sched in inner:
            _undo_one_step(sched)
    elif hasattr(scheduler, "last_epoch"):
        scheduler.last_epoch -= 1


def _nested_state(scheduler: Any) -> dict[str, Any]:
    out = {k: v for k, v in scheduler.__dict__.items() if k not in ("optimizer", "_schedulers")}
    out["_schedulers"] = [s.state_dict() for s in scheduler._schedulers]
    return out


def _load_nested_state(scheduler: Any, state_dict: dict[str, Any]) -> None:
    state_dict = dict(state_dict)
    inner = state_dict.pop("_schedulers")
    scheduler.__dict__.update(state_dict)
    for sched, saved in zip(scheduler._schedulers, inner):
        sched.load_state_dict(saved)


class SequentialLR(LRScheduler):
    """Run ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]``, and so on.

    At milestone m_i the next schedule starts afresh: it is set to its epoch 0
    (closed form, from eta_0), so ``SequentialLR([LinearLR(...), CosineAnnealingLR(...)],
    [w])`` is a linear warm-up of w epochs followed by a cosine decay.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedulers: list[LRScheduler],
        milestones: list[int],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        schedulers, milestones = list(schedulers), list(milestones)
        _check_schedulers(type(self).__name__, optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"SequentialLR expects one milestone fewer than schedulers, got "
                f"{len(schedulers)} schedulers and {len(milestones)} milestones"
            )
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = _copy(group["initial_lr"])
        # every schedule made one initial step when it was built: take them back
        _undo_one_step(self)
        first = self._schedulers[bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:  # type: ignore[override]
        """Advance one epoch in the schedule that is active now."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            sched._update_lr(0)
        else:
            sched.step()
        self._last_lr = sched.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        """Own attributes, and the state dict of each schedule under ``_schedulers``."""
        return _nested_state(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore own attributes and each schedule's state."""
        _load_nested_state(self, state_dict)


class ChainedScheduler(LRScheduler):
    """Step several schedules together; their (chainable) changes of the lr compose.

    E.g. ``ChainedScheduler([ConstantLR(opt, 0.1, 2), ExponentialLR(opt, 0.9)])``
    gives eta_t = eta_0 * 0.9^t * (0.1 for t < 2, else 1).
    """

    def __init__(
        self, schedulers: Iterable[LRScheduler], optimizer: Optimizer | None = None
    ) -> None:
        schedulers = list(schedulers)
        if len(schedulers) < 1:
            raise ValueError("ChainedScheduler expects at least one scheduler, got none")
        owner = optimizer if optimizer is not None else getattr(schedulers[0], "optimizer", None)
        if not isinstance(owner, Optimizer):
            raise TypeError(f"{type(owner).__name__} is not an Optimizer")
        _check_schedulers(type(self).__name__, owner, schedulers)
        self._schedulers = schedulers
        self.optimizer = owner
        self._last_lr = self._current_lrs()

    def step(self) -> None:  # type: ignore[override]
        """Step every schedule, in order."""
        for sched in self._schedulers:
            sched.step()
        self._last_lr = self._current_lrs()

    def state_dict(self) -> dict[str, Any]:
        """Own attributes, and the state dict of each schedule under ``_schedulers``."""
        return _nested_state(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore own attributes and each schedule's state."""
        _load_nested_state(self, state_dict)


# ----------------------------------------------------------------- cyclic schedules
def _per_group(name: str, optimizer: Optimizer, value: Any) -> list[Any]:
    """One value per parameter group: a list of that length, or one value repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(
                f"{name} must have one value per parameter group: got {len(value)} values "
                f"for {len(optimizer.param_groups)} groups"
            )
        return [_copy(v) for v in value]
    return [_copy(value) for _ in optimizer.param_groups]


def _uses_beta1(optimizer: Optimizer) -> bool:
    """Whether momentum cycling sets ``betas[0]`` (Adam-like) rather than ``momentum``."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ValueError(
            f"cycle_momentum needs an optimizer with momentum or betas; "
            f"{type(optimizer).__name__} has neither (pass cycle_momentum=False)"
        )
    return "betas" in optimizer.defaults


def _set_momentum(group: dict[str, Any], use_beta1: bool, value: Any) -> None:
    if use_beta1:
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


def _init_momentum_cycle(
    sched: Any, optimizer: Optimizer, base_momentum: Any, max_momentum: Any, fresh: bool
) -> None:
    sched.use_beta1 = _uses_beta1(optimizer)
    sched.base_momentums = _per_group("base_momentum", optimizer, base_momentum)
    sched.max_momentums = _per_group("max_momentum", optimizer, max_momentum)
    if fresh:
        for top, low, group in zip(sched.max_momentums, sched.base_momentums,
                                   optimizer.param_groups):
            _set_momentum(group, sched.use_beta1, top)
            group["max_momentum"] = top
            group["base_momentum"] = low


class _MomentumCycle(LRScheduler):
    """Schedules that also move each group's momentum (``betas[0]`` for Adam-like ones)."""

    use_beta1: bool
    base_momentums: list[Any]
    max_momentums: list[Any]


_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


class CyclicLR(_MomentumCycle):
    r"""Cyclical learning rate (Smith, "Cyclical Learning Rates for Training Neural
    Networks", WACV 2017), stepped once per *batch*.

    The lr goes linearly from ``base_lr`` up to ``max_lr`` in ``step_size_up`` steps
    and back down in ``step_size_down`` (default: the same), a cycle of
    L = up + down steps. With c = floor(1 + t / L), x = 1 + t / L - c in [0, 1)
    and r = up / L:

        h_t = x / r if x <= r else (x - 1) / (r - 1)       (0 -> 1 -> 0 over a cycle)
        eta_t = base_lr + (max_lr - base_lr) * h_t * s

    where the amplitude scale s is 1 (``"triangular"``), 1 / 2^(c-1) (``"triangular2"``,
    halved each cycle) or gamma^t (``"exp_range"``), or ``scale_fn(c)`` /
    ``scale_fn(t)`` for a custom ``scale_fn`` with ``scale_mode`` "cycle" / "iterations".
    With ``cycle_momentum`` the momentum (``betas[0]`` for Adam-like optimizers) moves
    the other way: beta_t = max_momentum - (max_momentum - base_momentum) * h_t * s.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr: float | list[float],
        max_lr: float | list[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: str = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.8,
        max_momentum: float | list[float] = 0.9,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        base_lrs = _per_group("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = _copy(lr)
        self.max_lrs = _per_group("max_lr", optimizer, max_lr)
        if not (_is_real(step_size_up) and step_size_up > 0):
            raise ValueError(f"Invalid step_size_up value: {step_size_up!r}; expected > 0")
        if step_size_down is not None and not (_is_real(step_size_down) and step_size_down >= 0):
            raise ValueError(f"Invalid step_size_down value: {step_size_down!r}; expected >= 0")
        self.step_size_up = step_size_up
        self.step_size_down = step_size_down
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if mode not in _CYCLIC_MODES and scale_fn is None:
            raise ValueError(f"Invalid mode value: {mode!r}; expected one of {_CYCLIC_MODES} "
                             "or a scale_fn")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(
                f"Invalid scale_mode value: {scale_mode!r}; expected 'cycle' or 'iterations'"
            )
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        if scale_fn is None:
            self.scale_mode = "iterations" if mode == "exp_range" else "cycle"
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            _init_momentum_cycle(self, optimizer, base_momentum, max_momentum, last_epoch == -1)
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def scale_fn(self, x: float) -> float:
        """The amplitude scale s at cycle (or step) x."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def get_lr(self) -> list[Any]:
        t = self.last_epoch
        cycle = math.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle
        r = self.step_ratio
        h = x / r if x <= r else (x - 1) / (r - 1)
        s = self.scale_fn(cycle if self.scale_mode == "cycle" else t)
        lrs = [base + (top - base) * h * s for base, top in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, low, top in zip(
                self.optimizer.param_groups, self.base_momentums, self.max_momentums
            ):
                _set_momentum(group, self.use_beta1, top - (top - low) * h * s)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        """As the base class; a plain ``scale_fn`` is not saved (a callable object's dict is)."""
        out = super().state_dict()
        fn = out.pop("_scale_fn_custom")
        out["_scale_fn_custom"] = (
            None if fn is None or isinstance(fn, types.FunctionType) else dict(fn.__dict__)
        )
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the attributes (and a callable ``scale_fn``'s dict) saved by ``state_dict``."""
        state_dict = dict(state_dict)
        saved_fn = state_dict.pop("_scale_fn_custom", None)
        self.__dict__.update(state_dict)
        if saved_fn is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(saved_fn)


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

    def get_lr(self) -> list[Any]:
        cos = math.cos(math.pi * self.T_cur / self.T_i)
        return [self.eta_min + (base - self.eta_min) * (1 + cos) / 2 for base in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:  # type: ignore[override]
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


class _Phase(TypedDict):
    """One phase of :class:`OneCycleLR`: its last step, and the group keys it goes between."""

    end_step: float
    start_lr: str
    end_lr: str
    start_momentum: str
    end_momentum: str


class OneCycleLR(_MomentumCycle):
    r"""The 1cycle policy (Smith & Topin, "Super-Convergence", 2018), stepped once per batch.

    With eta_max = ``max_lr``, eta_0 = eta_max / ``div_factor`` and eta_min =
    eta_0 / ``final_div_factor``, over T = ``total_steps`` (or ``epochs`` *
    ``steps_per_epoch``) steps and p = ``pct_start``:

    * two phases: eta_0 -> eta_max over steps 0 .. pT - 1, then eta_max -> eta_min
      until step T - 1;
    * ``three_phase``: eta_0 -> eta_max (to pT - 1), eta_max -> eta_0 (to 2pT - 2),
      eta_0 -> eta_min (to T - 1).

    Within a phase from step a to b, with pct = (t - a) / (b - a), the lr is
    anneal(start, end, pct) = end + (start - end) (1 + cos(pi pct)) / 2 (``"cos"``)
    or start + (end - start) pct (``"linear"``). With ``cycle_momentum`` the momentum
    (``betas[0]`` for Adam-like optimizers) moves the opposite way between
    ``max_momentum`` and ``base_momentum``. Stepping past T is an error.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if total_steps is not None:
            _check_positive_int("total_steps", total_steps)
            self.total_steps = int(total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            _check_positive_int("epochs", epochs)
            _check_positive_int("steps_per_epoch", steps_per_epoch)
            self.total_steps = int(epochs) * int(steps_per_epoch)
        else:
            raise ValueError("OneCycleLR needs total_steps, or epochs and steps_per_epoch")
        if not (_is_real(pct_start) and 0 <= pct_start <= 1):
            raise ValueError(f"Invalid pct_start value: {pct_start!r}; expected a number in [0, 1]")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"Invalid anneal_strategy value: {anneal_strategy!r}; expected 'cos' or 'linear'"
            )
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if not (_is_real(value) and 0 < value < math.inf):
                raise ValueError(f"Invalid {name} value: {value!r}; expected a number > 0")
        self.pct_start = pct_start
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor
        self.three_phase = three_phase
        T = self.total_steps
        up = float(pct_start * T) - 1
        if three_phase:
            ends = [up, float(2 * pct_start * T) - 2, T - 1]
            lrs = [("initial_lr", "max_lr"), ("max_lr", "initial_lr"), ("initial_lr", "min_lr")]
            moms = [("max_momentum", "base_momentum"), ("base_momentum", "max_momentum"),
                    ("max_momentum", "max_momentum")]
        else:
            ends = [up, T - 1]
            lrs = [("initial_lr", "max_lr"), ("max_lr", "min_lr")]
            moms = [("max_momentum", "base_momentum"), ("base_momentum", "max_momentum")]
        starts = [0.0, *ends[:-1]]
        if any(end == start for start, end in zip(starts, ends)):
            raise ValueError(
                f"OneCycleLR with total_steps={T}, pct_start={pct_start!r}"
                f"{', three_phase=True' if three_phase else ''} has a phase of zero steps"
            )
        self._schedule_phases = [
            _Phase(end_step=end, start_lr=lr[0], end_lr=lr[1], start_momentum=mom[0],
                   end_momentum=mom[1])
            for end, lr, mom in zip(ends, lrs, moms)
        ]
        self.anneal_strategy = anneal_strategy
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for top, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            _init_momentum_cycle(self, optimizer, base_momentum, max_momentum, last_epoch == -1)
        super().__init__(optimizer, last_epoch)

    def anneal(self, start: Any, end: Any, pct: float) -> Any:
        """From ``start`` (pct = 0) to ``end`` (pct = 1), by a half cosine or a line."""
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[Any]:
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(
                f"OneCycleLR stepped {t} times, but total_steps is {self.total_steps}"
            )
        lrs = []
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if t <= end or i == last:
                    pct = (t - start) / (end - start)
                    lrs.append(self.anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        momentum = self.anneal(
                            group[phase["start_momentum"]], group[phase["end_momentum"]], pct
                        )
                        _set_momentum(group, self.use_beta1, momentum)
                    break
                start = end
        return lrs


class SWALR(LRScheduler):
    r"""Anneal each group's lr to ``swa_lr`` in ``anneal_epochs`` epochs, then hold it
    (the schedule of stochastic weight averaging, Izmailov et al., UAI 2018).

    With alpha_t = a(min(1, t / max(1, anneal_epochs))), a(u) = (1 - cos(pi u)) / 2
    (``"cos"``) or u (``"linear"``):

        eta_t = alpha_t * swa_lr + (1 - alpha_t) * eta_start

    where eta_start, the lr the annealing starts from, is recovered from the
    current lr at each step (so it follows other changes of ``group["lr"]``, as
    in PyTorch's ``torch.optim.swa_utils.SWALR``).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        swa_lr: float | list[float],
        anneal_epochs: int = 10,
        anneal_strategy: str = "cos",
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        for value, group in zip(_per_group("swa_lr", optimizer, swa_lr), optimizer.param_groups):
            group["swa_lr"] = value
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"Invalid anneal_strategy value: {anneal_strategy!r}; expected 'cos' or 'linear'"
            )
        _check_nonnegative_int("anneal_epochs", anneal_epochs)
        self.anneal_strategy = anneal_strategy
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def anneal_func(self, u: float) -> float:
        """The fraction alpha of the way to ``swa_lr`` at progress u in [0, 1]."""
        return (1 - math.cos(math.pi * u)) / 2 if self.anneal_strategy == "cos" else u

    def get_lr(self) -> list[Any]:
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        span = max(1, self.anneal_epochs)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / span)))
        alpha = self.anneal_func(max(0, min(1, step / span)))
        out = []
        for group in self.optimizer.param_groups:
            swa = group["swa_lr"]
            start = swa if prev_alpha == 1 else (group["lr"] - prev_alpha * swa) / (1 - prev_alpha)
            out.append(swa * alpha + start * (1 - alpha))
        return out


def warmup_cosine(
    optimizer: Optimizer,
    warmup: int = 5,
    T_max: int = 100,
    start_factor: float = 0.1,
    eta_min: float = 0.0,
) -> LRScheduler:
    """Linear warm-up, then cosine annealing: a :class:`SequentialLR` of
    ``LinearLR(start_factor, 1, warmup)`` and ``CosineAnnealingLR(T_max - warmup, eta_min)``.

        eta_t = eta_0 (s + (1 - s) t / w)                                  for t < w
        eta_t = eta_min + (eta_0 - eta_min) (1 + cos(pi (t - w) / (T - w))) / 2   for t >= w

    ``warmup`` = 0 is plain cosine annealing over ``T_max``.
    """
    _check_nonnegative_int("warmup", warmup)
    _check_positive_int("T_max", T_max)
    if warmup == 0:
        return CosineAnnealingLR(optimizer, T_max=T_max, eta_min=eta_min)
    if T_max <= warmup:
        raise ValueError(
            f"warmup_cosine needs T_max > warmup, got T_max={T_max} and warmup={warmup}"
        )
    return SequentialLR(
        optimizer,
        [
            LinearLR(optimizer, start_factor=start_factor, end_factor=1.0, total_iters=warmup),
            CosineAnnealingLR(optimizer, T_max=T_max - warmup, eta_min=eta_min),
        ],
        milestones=[warmup],
    )


def _group_lrs(optimizer: Optimizer) -> list[Any]:
    return [_copy(g["lr"]) for g in optimizer.param_groups]


def one_cycle(optimizer: Optimizer, **kwargs: Any) -> OneCycleLR:
    """:class:`OneCycleLR` peaking at the optimizer's own lr (``max_lr`` = each group's lr)."""
    return OneCycleLR(optimizer, max_lr=_group_lrs(optimizer), **kwargs)


def cyclic(optimizer: Optimizer, base_factor: float = 0.1, **kwargs: Any) -> CyclicLR:
    """:class:`CyclicLR` between ``base_factor`` * lr and the optimizer's own lr."""
    if not (_is_real(base_factor) and 0 <= base_factor <= 1):
        raise ValueError(f"Invalid base_factor value: {base_factor!r}; expected a number in [0, 1]")
    tops = _group_lrs(optimizer)
    return CyclicLR(optimizer, base_lr=[base_factor * lr for lr in tops], max_lr=tops, **kwargs)


class ScheduleSpec(NamedTuple):
    """A schedule choice: how to build it and its hyperparameters (other than the optimizer).

    ``length`` names the hyperparameter that is the schedule's whole length in
    epochs (``T_max``, ``total_steps``, ...), which a caller that knows the number
    of epochs fills in (:func:`schedule_for_epochs`).
    """

    cls: Callable[..., Any]
    hyperparameters: dict[str, HyperParam]
    length: str | None = None

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


_ANNEAL = ("cos", "linear")
_CYCLE_MOMENTUM = {
    "cycle_momentum": _hp("cycle_momentum", "bool", True,
                          help="cycle momentum (Adam: beta1) opposite to the lr"),
}

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
    }, length="T_max"),
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
    "constant": ScheduleSpec(ConstantLR, {
        "factor": _hp("factor", "float", 1.0 / 3, 0.0, 1.0, help="lr factor before total_iters"),
        "total_iters": _hp("total_iters", "int", 5, 0, 100_000, help="epochs at the lower lr"),
    }),
    "polynomial": ScheduleSpec(PolynomialLR, {
        "total_iters": _hp("total_iters", "int", 100, 1, 100_000, help="epochs to reach lr 0"),
        "power": _hp("power", "float", 1.0, 0.0, 10.0, help="eta_0 (1 - t/T)^power"),
    }, length="total_iters"),
    "cosine_restarts": ScheduleSpec(CosineAnnealingWarmRestarts, {
        "T_0": _hp("T_0", "int", 10, 1, 100_000, help="epochs before the first restart"),
        "T_mult": _hp("T_mult", "int", 1, 1, 10, help="factor of the period after a restart"),
        "eta_min": _hp("eta_min", "float", 0.0, 0.0, 1.0, help="lr at the end of a period"),
    }),
    "warmup_cosine": ScheduleSpec(warmup_cosine, {
        "warmup": _hp("warmup", "int", 5, 0, 100_000, help="epochs of linear warm-up"),
        "T_max": _hp("T_max", "int", 100, 1, 100_000, help="epochs of warm-up plus cosine"),
        "start_factor": _hp("start_factor", "float", 0.1, 1e-3, 1.0,
                            help="lr factor at t=0 of the warm-up"),
        "eta_min": _hp("eta_min", "float", 0.0, 0.0, 1.0, help="lr reached at T_max"),
    }, length="T_max"),
    "one_cycle": ScheduleSpec(one_cycle, {
        "total_steps": _hp("total_steps", "int", 100, 1, 10_000_000,
                           help="steps of the whole cycle"),
        "pct_start": _hp("pct_start", "float", 0.3, 0.0, 1.0,
                         help="fraction of the steps spent raising the lr"),
        "anneal_strategy": _hp("anneal_strategy", "choice", "cos", help="shape of each phase",
                               choices=_ANNEAL),
        "div_factor": _hp("div_factor", "float", 25.0, 1.0, 1e4, True,
                          help="initial lr = the optimizer's lr (the peak) / div_factor"),
        "final_div_factor": _hp("final_div_factor", "float", 1e4, 1.0, 1e8, True,
                                help="final lr = initial lr / final_div_factor"),
        "three_phase": _hp("three_phase", "bool", False,
                           help="come back to the initial lr before the final decay"),
        **_CYCLE_MOMENTUM,
        "base_momentum": _hp("base_momentum", "float", 0.85, 0.0, 0.999,
                             help="momentum at the peak lr"),
        "max_momentum": _hp("max_momentum", "float", 0.95, 0.0, 0.999,
                            help="momentum at the lowest lr"),
    }, length="total_steps"),
    "cyclic": ScheduleSpec(cyclic, {
        "base_factor": _hp("base_factor", "float", 0.1, 0.0, 1.0,
                           help="lowest lr as a fraction of the optimizer's lr (the highest)"),
        "step_size_up": _hp("step_size_up", "int", 10, 1, 1_000_000,
                            help="steps from the lowest to the highest lr"),
        "mode": _hp("mode", "choice", "triangular", help="amplitude per cycle: constant, "
                    "halved each cycle, or times gamma^t", choices=_CYCLIC_MODES),
        "gamma": _hp("gamma", "float", 1.0, 0.5, 1.0, help="exp_range: amplitude factor per step"),
        **_CYCLE_MOMENTUM,
        "base_momentum": _hp("base_momentum", "float", 0.8, 0.0, 0.999,
                             help="momentum at the highest lr"),
        "max_momentum": _hp("max_momentum", "float", 0.9, 0.0, 0.999,
                            help="momentum at the lowest lr"),
    }),
    "swa": ScheduleSpec(SWALR, {
        "swa_lr": _hp("swa_lr", "float", 0.05, 1e-6, 10.0, True, help="lr held after annealing"),
        "anneal_epochs": _hp("anneal_epochs", "int", 10, 0, 100_000,
                             help="epochs of annealing to swa_lr"),
        "anneal_strategy": _hp("anneal_strategy", "choice", "cos", help="shape of the annealing",
                               choices=_ANNEAL),
    }),
}

_ALIASES = {
    "steplr": "step", "exp": "exponential", "cos": "cosine", "warmup": "linear",
    "inversetime": "inverse_time", "inverse": "inverse_time", "reduceonplateau": "plateau",
    "constantlr": "constant", "poly": "polynomial", "polynomiallr": "polynomial",
    "sgdr": "cosine_restarts", "cosinerestarts": "cosine_restarts",
    "cosinewarmrestarts": "cosine_restarts", "warmupcosine": "warmup_cosine",
    "cosinewarmup": "warmup_cosine", "onecycle": "one_cycle", "onecyclelr": "one_cycle",
    "1cycle": "one_cycle", "cycliclr": "cyclic", "clr": "cyclic", "swalr": "swa",
}


def _schedule_key(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_")
    key = _ALIASES.get(key.replace("_", ""), _ALIASES.get(key, key))
    if key not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}")
    return key


def _parse_value(hp: HyperParam, text: str, owner: str) -> Any:
    try:
        if hp.type == "int":
            return int(text)
        if hp.type == "float":
            return float(text)
    except ValueError:
        raise ValueError(f"{owner}: {hp.name} must be {'an integer' if hp.type == 'int' else 'a number'}, "
                         f"got {text!r}") from None
    if hp.type == "bool":
        flags = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if text.lower() not in flags:
            raise ValueError(f"{owner}: {hp.name} must be true or false, got {text!r}")
        return flags[text.lower()]
    if text not in hp.choices:
        raise ValueError(f"{owner}: {hp.name} must be one of {list(hp.choices)}, got {text!r}")
    return text


def parse_schedule(text: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name:key=value,key=value"`` into the registry name and typed settings.

    >>> parse_schedule("warmup_cosine:warmup=5,eta_min=1e-4")
    ('warmup_cosine', {'warmup': 5, 'eta_min': 0.0001})
    """
    name, _, rest = str(text).partition(":")
    key = _schedule_key(name)
    hps = SCHEDULES[key].hyperparameters
    values: dict[str, Any] = {}
    for item in (part.strip() for part in rest.split(",")):
        if not item:
            continue
        setting, eq, value = item.partition("=")
        setting = setting.strip()
        if not eq:
            raise ValueError(f"schedule {key!r}: expected key=value, got {item!r}")
        if setting not in hps:
            raise ValueError(
                f"schedule {key!r} has no hyperparameter {setting!r}; expected some of "
                f"{', '.join(hps)}"
            )
        values[setting] = _parse_value(hps[setting], value.strip(), f"schedule {key!r}")
    return key, values


def get_schedule(name: str) -> ScheduleSpec:
    """Look up a schedule by name (case, ``-`` and ``_`` ignored).

    ``"name:key=value,..."`` gives the entry with those defaults replaced, so
    ``get_schedule("warmup_cosine:warmup=5").build(opt)`` warms up for 5 epochs.
    """
    key, values = parse_schedule(name)
    spec = SCHEDULES[key]
    if not values:
        return spec
    hps = {
        k: dataclasses.replace(hp, default=values[k]) if k in values else hp
        for k, hp in spec.hyperparameters.items()
    }
    return spec._replace(hyperparameters=hps)


def schedule_for_epochs(text: str, epochs: int) -> tuple[str, dict[str, Any]]:
    """``(name, settings)`` for a run of ``epochs`` epochs, stepped once per epoch.

    The entry's length hyperparameter (``T_max`` of ``cosine`` and ``warmup_cosine``,
    ``total_steps`` of ``one_cycle``, ``total_iters`` of ``polynomial``) is set to
    ``epochs`` unless ``text`` sets it:

    >>> schedule_for_epochs("warmup_cosine:warmup=5", 40)
    ('warmup_cosine', {'warmup': 5, 'T_max': 40})
    """
    key, values = parse_schedule(text)
    length = SCHEDULES[key].length
    if length is not None:
        values.setdefault(length, epochs)
    return key, values

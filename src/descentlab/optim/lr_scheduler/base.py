"""The schedule machinery: :class:`LRScheduler` (step, epoch count, state dict), the
schedules given by a function of the epoch (:class:`LambdaLR`, :class:`MultiplicativeLR`),
and the argument checks the other schedule modules share.

A schedule sets ``group["lr"]`` of every parameter group; at construction it records
``group["initial_lr"]`` (eta_0) and sets the learning rate of epoch 0.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any, cast

import numpy as np

from descentlab.optim.base import LearningRate, Optimizer

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR"]


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

    def get_lr(self) -> list[LearningRate]:
        """The learning rates for epoch ``last_epoch`` (called by ``step``)."""
        raise NotImplementedError

    def _closed_form_lr(self) -> list[LearningRate]:
        """eta at ``last_epoch`` from the base lrs alone; schedules without one recurse."""
        return self.get_lr()

    def _current_lrs(self) -> list[LearningRate]:
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

    def get_last_lr(self) -> list[LearningRate]:
        """The learning rates most recently set, one per parameter group."""
        return self._last_lr

    def state_dict(self) -> dict[str, object]:
        """Every attribute except the optimizer."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, object]) -> None:
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

    def state_dict(self) -> dict[str, object]:
        """As the base class; plain functions are not saved (callable objects' dicts are)."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        out["lr_lambdas"] = [
            None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
            for fn in self.lr_lambdas
        ]
        return out

    def load_state_dict(self, state_dict: Mapping[str, object]) -> None:
        """Restore the attributes (and the callable objects' dicts) saved by ``state_dict``."""
        state_dict = dict(state_dict)
        lambdas = cast("list[dict[str, object] | None]", state_dict.pop("lr_lambdas"))
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

    def get_lr(self) -> list[LearningRate]:
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

    def get_lr(self) -> list[LearningRate]:
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


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _check_nonnegative_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"Invalid {name} value: {value!r}; expected an integer >= 0")


def _per_group(name: str, optimizer: Optimizer, value: Any) -> list[LearningRate]:
    """One value per parameter group: a list of that length, or one value repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(
                f"{name} must have one value per parameter group: got {len(value)} values "
                f"for {len(optimizer.param_groups)} groups"
            )
        return [_copy(v) for v in value]
    return [_copy(value) for _ in optimizer.param_groups]

"""Schedules made of schedules (:class:`SequentialLR`, :class:`ChainedScheduler`,
:func:`warmup_cosine`) and the annealing of stochastic weight averaging (:class:`SWALR`).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import Any, cast

from descentlab.optim.base import LearningRate, Optimizer
from descentlab.optim.lr_scheduler.base import (
    LRScheduler,
    _check_nonnegative_int,
    _check_optimizer,
    _check_positive_int,
    _copy,
    _per_group,
)
from descentlab.optim.lr_scheduler.plateau import ReduceLROnPlateau
from descentlab.optim.lr_scheduler.simple import CosineAnnealingLR, LinearLR

__all__ = ["SWALR", "ChainedScheduler", "SequentialLR", "warmup_cosine"]


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


def _load_nested_state(scheduler: Any, state_dict: Mapping[str, object]) -> None:
    rest = dict(state_dict)
    inner = cast("list[dict[str, object]]", rest.pop("_schedulers"))
    scheduler.__dict__.update(rest)
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

    def state_dict(self) -> dict[str, object]:
        """Own attributes, and the state dict of each schedule under ``_schedulers``."""
        return _nested_state(self)

    def load_state_dict(self, state_dict: Mapping[str, object]) -> None:
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

    def state_dict(self) -> dict[str, object]:
        """Own attributes, and the state dict of each schedule under ``_schedulers``."""
        return _nested_state(self)

    def load_state_dict(self, state_dict: Mapping[str, object]) -> None:
        """Restore own attributes and each schedule's state."""
        _load_nested_state(self, state_dict)


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

    def get_lr(self) -> list[LearningRate]:
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

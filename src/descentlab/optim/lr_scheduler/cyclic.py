"""Cyclical schedules, stepped once per batch: :class:`CyclicLR` and the 1cycle policy
(:class:`OneCycleLR`), both of which can move the momentum opposite to the lr, and
their registry forms that take the optimizer's own lr as the peak.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Mapping
from typing import Any, TypedDict, cast

from descentlab.optim.base import LearningRate, Optimizer
from descentlab.optim.lr_scheduler.base import (
    LRScheduler,
    _check_optimizer,
    _check_positive_int,
    _copy,
    _is_real,
    _per_group,
)

__all__ = ["CyclicLR", "OneCycleLR", "cyclic", "one_cycle"]


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
        for top, low, group in zip(
            sched.max_momentums, sched.base_momentums, optimizer.param_groups
        ):
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
        base_lr: LearningRate | list[LearningRate],
        max_lr: LearningRate | list[LearningRate],
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
            raise ValueError(
                f"Invalid mode value: {mode!r}; expected one of {_CYCLIC_MODES} or a scale_fn"
            )
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

    def get_lr(self) -> list[LearningRate]:
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

    def state_dict(self) -> dict[str, object]:
        """As the base class; a plain ``scale_fn`` is not saved (a callable object's dict is)."""
        out = super().state_dict()
        fn = out.pop("_scale_fn_custom")
        out["_scale_fn_custom"] = (
            None if fn is None or isinstance(fn, types.FunctionType) else dict(fn.__dict__)
        )
        return out

    def load_state_dict(self, state_dict: Mapping[str, object]) -> None:
        """Restore the attributes (and a callable ``scale_fn``'s dict) saved by ``state_dict``."""
        state_dict = dict(state_dict)
        saved_fn = state_dict.pop("_scale_fn_custom", None)
        self.__dict__.update(state_dict)
        if saved_fn is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(cast("dict[str, object]", saved_fn))


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
        max_lr: LearningRate | list[LearningRate],
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
            moms = [
                ("max_momentum", "base_momentum"),
                ("base_momentum", "max_momentum"),
                ("max_momentum", "max_momentum"),
            ]
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
            _Phase(
                end_step=end,
                start_lr=lr[0],
                end_lr=lr[1],
                start_momentum=mom[0],
                end_momentum=mom[1],
            )
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

    def anneal(self, start: LearningRate, end: LearningRate, pct: float) -> LearningRate:
        """From ``start`` (pct = 0) to ``end`` (pct = 1), by a half cosine or a line."""
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[LearningRate]:
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR stepped {t} times, but total_steps is {self.total_steps}")
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


def _group_lrs(optimizer: Optimizer) -> list[LearningRate]:
    return [_copy(g["lr"]) for g in optimizer.param_groups]


def one_cycle(optimizer: Optimizer, **kwargs: object) -> OneCycleLR:
    """:class:`OneCycleLR` peaking at the optimizer's own lr (``max_lr`` = each group's lr)."""
    build: Callable[..., OneCycleLR] = OneCycleLR  # the keywords are OneCycleLR's, checked there
    return build(optimizer, max_lr=_group_lrs(optimizer), **kwargs)


def cyclic(optimizer: Optimizer, base_factor: float = 0.1, **kwargs: object) -> CyclicLR:
    """:class:`CyclicLR` between ``base_factor`` * lr and the optimizer's own lr."""
    if not (_is_real(base_factor) and 0 <= base_factor <= 1):
        raise ValueError(f"Invalid base_factor value: {base_factor!r}; expected a number in [0, 1]")
    tops = _group_lrs(optimizer)
    build: Callable[..., CyclicLR] = CyclicLR  # the keywords are CyclicLR's, checked there
    return build(optimizer, base_lr=[base_factor * lr for lr in tops], max_lr=tops, **kwargs)

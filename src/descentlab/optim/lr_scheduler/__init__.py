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

Modules: :mod:`.base` (the step machinery, :class:`LambdaLR`,
:class:`MultiplicativeLR`), :mod:`.simple` (closed-form decays and cosine
annealing), :mod:`.cyclic` (:class:`CyclicLR`, :class:`OneCycleLR`),
:mod:`.composite` (:class:`SequentialLR`, :class:`ChainedScheduler`,
:class:`SWALR`, :func:`warmup_cosine`), :mod:`.plateau`
(:class:`ReduceLROnPlateau`) and :mod:`.registry` (:data:`SCHEDULES`, the named
choices the CLI, the playground and the trainer build from).
"""

from __future__ import annotations

from descentlab.optim.lr_scheduler.base import LambdaLR, LRScheduler, MultiplicativeLR
from descentlab.optim.lr_scheduler.composite import (
    SWALR,
    ChainedScheduler,
    SequentialLR,
    warmup_cosine,
)
from descentlab.optim.lr_scheduler.cyclic import CyclicLR, OneCycleLR, cyclic, one_cycle
from descentlab.optim.lr_scheduler.plateau import ReduceLROnPlateau
from descentlab.optim.lr_scheduler.registry import (
    SCHEDULES,
    Scheduler,
    ScheduleSpec,
    get_schedule,
    parse_schedule,
    register_schedule,
    schedule_for_epochs,
    schedule_help,
)
from descentlab.optim.lr_scheduler.simple import (
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    ExponentialLR,
    InverseTimeLR,
    LinearLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)

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
    "Scheduler",
    "SequentialLR",
    "StepLR",
    "cyclic",
    "get_schedule",
    "one_cycle",
    "parse_schedule",
    "register_schedule",
    "schedule_for_epochs",
    "schedule_help",
    "warmup_cosine",
]

"""The registry of learning-rate schedules: one registration per schedule, each setting
described once.

:data:`SCHEDULES` is a :class:`~descentlab.spec.Registry` of :class:`ScheduleSpec`
entries; the CLI's ``--schedule``, the playground's menu and checks, the trainer
and the tests all read it. On a command line a schedule is written
``name:key=value,...``, each value parsed by its setting's description:

>>> parse_schedule("warmup_cosine:warmup=5,eta_min=1e-4")
('warmup_cosine', {'warmup': 5, 'eta_min': 0.0001})
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeAlias

from descentlab.optim.lr_scheduler.base import LRScheduler
from descentlab.optim.lr_scheduler.composite import SWALR, warmup_cosine
from descentlab.optim.lr_scheduler.cyclic import _CYCLIC_MODES, cyclic, one_cycle
from descentlab.optim.lr_scheduler.plateau import ReduceLROnPlateau
from descentlab.optim.lr_scheduler.simple import (
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    ExponentialLR,
    InverseTimeLR,
    LinearLR,
    PolynomialLR,
    StepLR,
)
from descentlab.spec import Entry, HyperParam, Registry, parse_value

__all__ = [
    "SCHEDULES",
    "ScheduleSpec",
    "Scheduler",
    "get_schedule",
    "parse_schedule",
    "register_schedule",
    "schedule_for_epochs",
    "schedule_help",
]

#: What a registered schedule builds (``ReduceLROnPlateau`` steps on a metric).
Scheduler: TypeAlias = LRScheduler | ReduceLROnPlateau


class ScheduleSpec(Entry[Scheduler]):
    """A named schedule: what builds it (``cls``), its described settings (other than
    the optimizer) and a one-line summary.

    ``length`` names the setting that is the schedule's whole length in epochs
    (``T_max``, ``total_steps``, ...), which a caller that knows the number of
    epochs fills in (:func:`schedule_for_epochs`). ``build(optimizer, **overrides)``
    checks each override against its description and constructs the schedule.
    """

    def __init__(
        self,
        name: str,
        cls: Callable[..., Scheduler],
        params: Iterable[HyperParam],
        summary: str,
        *,
        length: str | None = None,
        presets: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(
            name, cls, params, summary, presets, label="schedule", noun="hyperparameter"
        )
        if length is not None and length not in self.hyperparameters:
            raise ValueError(f"schedule {name!r}: its length {length!r} is not a described setting")
        self.cls = cls
        self.length = length

    def with_defaults(self, values: Mapping[str, object]) -> ScheduleSpec:
        """The same schedule with ``values`` (checked) as the defaults of their settings."""
        checked = self.settings(values)
        presets = {**self.presets, **{k: checked[k] for k in values}}
        return ScheduleSpec(
            self.name,
            self.cls,
            self.hyperparameters.values(),
            self.summary,
            length=self.length,
            presets=presets,
        )

    def parse(self, text: str) -> dict[str, object]:
        """The settings written ``"key=value,key=value"``, each parsed by its description.

        >>> SCHEDULES["step"].parse("gamma=0.5, step_size=3")
        {'gamma': 0.5, 'step_size': 3}
        """
        values: dict[str, object] = {}
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            key, eq, raw = item.partition("=")
            key = key.strip()
            if not eq:
                raise ValueError(f"schedule {self.name!r}: expected key=value, got {item!r}")
            hp = self.hyperparameters.get(key)
            if hp is None:
                raise ValueError(
                    f"schedule {self.name!r} has no hyperparameter {key!r}; expected some of "
                    f"{', '.join(self.hyperparameters)}"
                )
            try:
                values[key] = parse_value(hp, raw)
            except ValueError as err:
                raise ValueError(f"schedule {self.name!r}: {err}") from None
        return values


#: Every schedule choice, in the order menus list them.
SCHEDULES: Registry[ScheduleSpec] = Registry("schedule")


def register_schedule(
    name: str,
    cls: Callable[..., Scheduler],
    summary: str,
    *params: HyperParam,
    length: str | None = None,
    aliases: Iterable[str] = (),
) -> ScheduleSpec:
    """Add a schedule to :data:`SCHEDULES` (the one line that puts it in the CLI, the
    playground and the tests); return its entry."""
    entry = ScheduleSpec(name, cls, params, summary, length=length)
    return SCHEDULES.register(entry, aliases=aliases)


_MAX_EPOCHS = 100_000
_ANNEAL = ("cos", "linear")


def _epochs(name: str, default: int, help: str, low: int = 1) -> HyperParam:
    return HyperParam(name, "int", default, low=low, help=help, slider=(low, _MAX_EPOCHS))


def _eta_min(help: str) -> HyperParam:
    return HyperParam("eta_min", "float", 0.0, low=0.0, help=help, slider=(0.0, 1.0))


def _momentum(name: str, default: float, help: str) -> HyperParam:
    return HyperParam(
        name, "float", default, low=0.0, high=1.0, high_open=True, help=help, slider=(0.0, 0.999)
    )


def _gamma(default: float, help: str, slider: tuple[float, float]) -> HyperParam:
    return HyperParam("gamma", "float", default, low=0.0, low_open=True, help=help, slider=slider)


_CYCLE_MOMENTUM = HyperParam(
    "cycle_momentum", "bool", True, help="cycle momentum (Adam: beta1) opposite to the lr"
)

register_schedule(
    "step",
    StepLR,
    "multiply the lr by gamma every step_size epochs",
    HyperParam("step_size", "int", 30, low=1, help="epochs between decays", slider=(1, 10_000)),
    _gamma(0.1, "factor of each decay", slider=(1e-3, 1.0)),
    aliases=("StepLR",),
)
register_schedule(
    "exponential",
    ExponentialLR,
    "eta_t = eta_0 gamma^t",
    _gamma(0.99, "factor per epoch", slider=(0.5, 1.0)),
    aliases=("exp",),
)
register_schedule(
    "cosine",
    CosineAnnealingLR,
    "half a cosine from eta_0 down to eta_min in T_max epochs",
    _epochs("T_max", 100, "epochs of the half cosine"),
    _eta_min("lr reached at T_max"),
    length="T_max",
    aliases=("cos",),
)
register_schedule(
    "linear",
    LinearLR,
    "linear warm-up of the lr factor from start_factor to end_factor",
    HyperParam(
        "start_factor",
        "float",
        1.0 / 3,
        low=0.0,
        high=1.0,
        low_open=True,
        help="factor at t=0",
        slider=(1e-3, 1.0),
    ),
    HyperParam("end_factor", "float", 1.0, low=0.0, high=1.0, help="factor from total_iters"),
    _epochs("total_iters", 5, "length of the warm-up"),
    aliases=("warmup",),
)
register_schedule(
    "inverse_time",
    InverseTimeLR,
    "eta_t = eta_0 / (1 + k t), the 1/t decay",
    HyperParam(
        "k",
        "float",
        0.01,
        low=0.0,
        log_scale=True,
        help="eta_t = eta_0 / (1 + k t)",
        slider=(1e-5, 10.0),
    ),
    aliases=("inverse",),
)
register_schedule(
    "plateau",
    ReduceLROnPlateau,
    "multiply the lr by factor when the metric stops improving",
    HyperParam(
        "mode", "choice", "min", help="minimize or maximize the metric", choices=("min", "max")
    ),
    HyperParam(
        "factor",
        "float",
        0.1,
        low=0.0,
        high=1.0,
        high_open=True,
        help="factor of each reduction",
        slider=(1e-3, 0.999),
    ),
    HyperParam("patience", "int", 10, low=0, help="bad epochs tolerated", slider=(0, 1000)),
    HyperParam("threshold", "float", 1e-4, low=0.0, help="least improvement", slider=(0.0, 1.0)),
    HyperParam("cooldown", "int", 0, low=0, help="epochs ignored after a cut", slider=(0, 1000)),
    HyperParam("min_lr", "float", 0.0, low=0.0, help="lower bound of the lr", slider=(0.0, 1.0)),
    aliases=("ReduceOnPlateau",),
)
register_schedule(
    "constant",
    ConstantLR,
    "eta_0 times factor for total_iters epochs, then eta_0",
    HyperParam("factor", "float", 1.0 / 3, low=0.0, high=1.0, help="lr factor before total_iters"),
    _epochs("total_iters", 5, "epochs at the lower lr", low=0),
    aliases=("ConstantLR",),
)
register_schedule(
    "polynomial",
    PolynomialLR,
    "eta_0 (1 - t/T)^power: polynomial decay to 0",
    _epochs("total_iters", 100, "epochs to reach lr 0"),
    HyperParam("power", "float", 1.0, low=0.0, help="eta_0 (1 - t/T)^power", slider=(0.0, 10.0)),
    length="total_iters",
    aliases=("poly", "PolynomialLR"),
)
register_schedule(
    "cosine_restarts",
    CosineAnnealingWarmRestarts,
    "SGDR: cosine annealing restarted every T_i epochs, T_{i+1} = T_mult T_i",
    _epochs("T_0", 10, "epochs before the first restart"),
    HyperParam(
        "T_mult", "int", 1, low=1, help="factor of the period after a restart", slider=(1, 10)
    ),
    _eta_min("lr at the end of a period"),
    aliases=("SGDR", "CosineWarmRestarts"),
)
register_schedule(
    "warmup_cosine",
    warmup_cosine,
    "linear warm-up, then cosine annealing until T_max",
    _epochs("warmup", 5, "epochs of linear warm-up", low=0),
    _epochs("T_max", 100, "epochs of warm-up plus cosine"),
    HyperParam(
        "start_factor",
        "float",
        0.1,
        low=0.0,
        high=1.0,
        low_open=True,
        help="lr factor at t=0 of the warm-up",
        slider=(1e-3, 1.0),
    ),
    _eta_min("lr reached at T_max"),
    length="T_max",
    aliases=("cosine_warmup",),
)
register_schedule(
    "one_cycle",
    one_cycle,
    "1cycle: up to the optimizer's lr, then far below it",
    HyperParam(
        "total_steps", "int", 100, low=1, help="steps of the whole cycle", slider=(1, 10_000_000)
    ),
    HyperParam(
        "pct_start",
        "float",
        0.3,
        low=0.0,
        high=1.0,
        help="fraction of the steps spent raising the lr",
    ),
    HyperParam("anneal_strategy", "choice", "cos", help="shape of each phase", choices=_ANNEAL),
    HyperParam(
        "div_factor",
        "float",
        25.0,
        low=0.0,
        low_open=True,
        log_scale=True,
        help="initial lr = the optimizer's lr (the peak) / div_factor",
        slider=(1.0, 1e4),
    ),
    HyperParam(
        "final_div_factor",
        "float",
        1e4,
        low=0.0,
        low_open=True,
        log_scale=True,
        help="final lr = initial lr / final_div_factor",
        slider=(1.0, 1e8),
    ),
    HyperParam(
        "three_phase", "bool", False, help="come back to the initial lr before the final decay"
    ),
    _CYCLE_MOMENTUM,
    _momentum("base_momentum", 0.85, "momentum at the peak lr"),
    _momentum("max_momentum", 0.95, "momentum at the lowest lr"),
    length="total_steps",
    aliases=("OneCycleLR", "1cycle"),
)
register_schedule(
    "cyclic",
    cyclic,
    "triangular cycles between base_factor * lr and the optimizer's lr",
    HyperParam(
        "base_factor",
        "float",
        0.1,
        low=0.0,
        high=1.0,
        help="lowest lr as a fraction of the optimizer's lr (the highest)",
    ),
    HyperParam(
        "step_size_up",
        "int",
        10,
        low=1,
        help="steps from the lowest to the highest lr",
        slider=(1, 1_000_000),
    ),
    HyperParam(
        "mode",
        "choice",
        "triangular",
        choices=_CYCLIC_MODES,
        help="amplitude per cycle: constant, halved each cycle, or times gamma^t",
    ),
    _gamma(1.0, "exp_range: amplitude factor per step", slider=(0.5, 1.0)),
    _CYCLE_MOMENTUM,
    _momentum("base_momentum", 0.8, "momentum at the highest lr"),
    _momentum("max_momentum", 0.9, "momentum at the lowest lr"),
    aliases=("CyclicLR", "CLR"),
)
register_schedule(
    "swa",
    SWALR,
    "anneal to swa_lr in anneal_epochs epochs, then hold it",
    HyperParam(
        "swa_lr",
        "float",
        0.05,
        low=0.0,
        log_scale=True,
        help="lr held after annealing",
        slider=(1e-6, 10.0),
    ),
    _epochs("anneal_epochs", 10, "epochs of annealing to swa_lr", low=0),
    HyperParam("anneal_strategy", "choice", "cos", help="shape of the annealing", choices=_ANNEAL),
    aliases=("SWALR",),
)


def parse_schedule(text: str) -> tuple[str, dict[str, object]]:
    """Split ``"name:key=value,key=value"`` into the registry name and typed settings.

    The name may be an alias or spelling variant (case, ``-`` and ``_`` ignored);
    unknown names and settings raise a ValueError listing the valid ones.

    >>> parse_schedule("OneCycle:three_phase=true")
    ('one_cycle', {'three_phase': True})
    """
    name, _, rest = text.partition(":")
    spec = SCHEDULES.get(name)
    return spec.name, spec.parse(rest)


def get_schedule(name: str) -> ScheduleSpec:
    """Look up a schedule by name (case, ``-`` and ``_`` ignored; aliases allowed).

    ``"name:key=value,..."`` gives the entry with those defaults replaced, so
    ``get_schedule("warmup_cosine:warmup=5").build(opt)`` warms up for 5 epochs.
    """
    key, values = parse_schedule(name)
    spec = SCHEDULES[key]
    return spec.with_defaults(values) if values else spec


def schedule_for_epochs(text: str, epochs: int) -> tuple[str, dict[str, object]]:
    """``(name, settings)`` for a run of ``epochs`` epochs, stepped once per epoch.

    The entry's length setting (``T_max`` of ``cosine`` and ``warmup_cosine``,
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


_EXAMPLE = "warmup_cosine:warmup=5"


def schedule_help(default: str | None = None) -> str:
    """One paragraph for a ``--schedule`` option: the names, the ``name:key=value`` form,
    an example, which setting the number of epochs fills in, and the default."""
    lengths = [f"{s.name} ({s.length})" for s in SCHEDULES.values() if s.length]
    filled = ""
    if lengths:
        listed = " and ".join([", ".join(lengths[:-1]), lengths[-1]] if lengths[:-1] else lengths)
        filled = f"; the length of {listed} is the number of epochs unless given"
    shown = "none, a constant learning rate" if default is None else default
    return (
        f"learning-rate schedule, stepped once per epoch: one of {', '.join(SCHEDULES)}; "
        f"set its hyperparameters as NAME:KEY=VALUE,... (e.g. {_EXAMPLE}){filled} "
        f"(default: {shown})"
    )

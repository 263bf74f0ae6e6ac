"""The playground's messages as pydantic v2 models (protocol v1, see ``docs/playground.md``).

Every client message is validated here before the server touches it: its shape,
its types, and every size against :class:`Limits` (passed as the validation
context ``{"limits": Limits(...)}``). Names of optimizers, schedules, data sets and
landscapes and the type of each hyperparameter are checked against the library's
registries, so nothing is listed twice. :func:`parse_client_message` turns raw
text into a model or a :class:`ProtocolError` naming the field and the bad value.

The server -> client messages are modelled too (``HelloMessage``, ``RaceFrame``...).
Error frames are built from :class:`ErrorMessage` (:func:`error_message`); the
frequent frames are built as plain dicts for speed and the tests validate them here.
An error names the field (``field``, a dotted path such as ``config.params.lr``) and
says what is wrong in plain words ("learning rate must be a number, got 'abc'"), so
the page can show it next to the control that caused it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "CLIENT_MESSAGES",
    "PLAYGROUND_DATASETS",
    "PROTOCOL_VERSION",
    "TRAIN_FEATURES",
    "ErrorMessage",
    "ExportMessage",
    "ExportRequest",
    "FieldError",
    "HelloMessage",
    "LandscapeConfig",
    "LandscapeControl",
    "LandscapeFrame",
    "LandscapeStart",
    "Limits",
    "LrConfig",
    "LrResult",
    "LrStart",
    "OptimizerChoice",
    "Ping",
    "ProtocolError",
    "RaceConfig",
    "RaceControl",
    "RaceFrame",
    "RaceStart",
    "ScheduleChoice",
    "SurfaceMessage",
    "SurfaceRequest",
    "TrainConfig",
    "TrainControl",
    "TrainData",
    "TrainFrame",
    "TrainStart",
    "error_message",
    "parse_client_message",
]

PROTOCOL_VERSION = 1

#: Playground name -> data-set registry name (only the 2-D toy classification sets).
PLAYGROUND_DATASETS: dict[str, str] = {
    "circles": "circles",
    "xor": "xor",
    "gaussians": "blobs",
    "spirals": "spirals",
    "moons": "moons",
}
#: Data sets whose number of classes can be chosen, and the registry's name for it.
CLASS_PARAM = {"spirals": "classes", "blobs": "centers"}
#: Input features the Network tab can feed the MLP, computed from (x1, x2) by the session.
TRAIN_FEATURES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")

MAX_FORMULA_CHARS = 500
MAX_ID_CHARS = 64
MAX_ABS_COORD = 1e6


@dataclass(frozen=True)
class Limits:
    """Size limits of the playground; every client message is checked against them."""

    max_steps: int = 20000
    max_optimizers: int = 10
    max_layers: int = 6
    max_neurons: int = 64
    max_points: int = 2000
    max_lrs: int = 12
    max_resolution: int = 200
    max_message_bytes: int = 65536
    max_sessions: int = 200
    max_fps: float = 30.0
    max_pending: int = 16

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive number, got {value!r}")
        if self.max_resolution < 10:
            raise ValueError(f"Limits.max_resolution must be >= 10, got {self.max_resolution}")
        if self.max_points < 20:
            raise ValueError(f"Limits.max_points must be >= 20, got {self.max_points}")

    def as_dict(self) -> dict[str, Any]:
        """The limits as sent in the ``hello`` message."""
        return asdict(self)


class ProtocolError(ValueError):
    """A client message that cannot be accepted; ``field`` names the offending value."""

    def __init__(self, message: str, field: str | None = None, request: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.request = request

    def as_message(self) -> dict[str, Any]:
        """The ``error`` frame of this refusal."""
        return error_message(self.message, self.field, self.request)


class FieldError(ValueError):
    """A refusal inside a validated value: ``subfield`` is appended to the field's path
    (``params`` + ``lr`` -> ``params.lr``) so the page can point at the control."""

    def __init__(self, message: str, subfield: str) -> None:
        super().__init__(message)
        self.subfield = subfield


def _limits(info: ValidationInfo) -> Limits:
    ctx = info.context or {}
    limits = ctx.get("limits") if isinstance(ctx, dict) else None
    return limits if isinstance(limits, Limits) else Limits()


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value!r}")


def _finite(v: float, name: str) -> float:
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    return v


HyperValue = bool | int | float | str | None  # None: a nullable setting left unset


def check_hyperparameters(
    spec_hps: dict[str, Any], hyper: dict[str, Any], owner: str, allow_lr: bool = True
) -> None:
    """Check ``hyper`` against a registry's HyperParam table: names, JSON types, then each
    value against its setting's own hard bounds (the slider's range is no bound: a student
    may type lr = 1000 to see divergence). A refusal is a :class:`FieldError` naming the
    hyperparameter, in plain words ("momentum must be a number in [0, 1), got 1.5")."""
    for key, val in hyper.items():
        if key not in spec_hps:
            raise FieldError(
                f"{owner} has no hyperparameter {key!r}; expected some of "
                f"{', '.join(sorted(spec_hps))}",
                key,
            )
        if key == "lr" and not allow_lr:
            raise FieldError("set the learning rates with 'lrs', not hyper.lr", key)
        hp = spec_hps[key]
        what = _WORDS.get(key, key)
        if val is None:
            if not getattr(hp, "nullable", False):
                raise FieldError(f"{what} must be set, got null", key)
        elif hp.type == "bool":
            if not isinstance(val, bool):
                raise FieldError(f"{what} must be true or false, got {_shown(val)}", key)
        elif hp.type == "int":
            if isinstance(val, bool) or not isinstance(val, int):
                raise FieldError(f"{what} must be an integer, got {_shown(val)}", key)
            if abs(val) > 10**9:
                raise FieldError(f"{what} must be at most 1e9 in size, got {val!r}", key)
        elif hp.type == "float":
            if isinstance(val, bool) or not isinstance(val, (int, float)):
                raise FieldError(f"{what} must be a number, got {_shown(val)}", key)
            if not math.isfinite(val):
                raise FieldError(f"{what} must be a finite number, got {val!r}", key)
            # any finite learning rate may be typed (1e9 diverges at once: that is the lesson)
            if key != "lr" and abs(val) > 1e12:
                raise FieldError(f"{what} must be at most 1e12 in size, got {val!r}", key)
        elif hp.type == "choice" and val not in hp.choices:
            raise FieldError(f"{what} must be one of {list(hp.choices)}, got {_shown(val)}", key)
        try:
            hp.check(val)
        except ValueError:
            expected = hp.expectation().replace(" (or an array of them)", "")
            raise FieldError(f"{key} must be {expected}, got {_shown(val)}", key) from None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OptimizerChoice(_Model):
    """An optimizer from ``optim.REGISTRY`` (aliases such as ``"gd"`` allowed) and its
    hyperparameters ``{name: value}``."""

    name: str = Field("adam", max_length=MAX_ID_CHARS)
    hyper: dict[str, HyperValue] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from descentlab import optim

        optim.get(v)  # ValueError naming the valid choices
        return v

    @field_validator("hyper")
    @classmethod
    def _hyper(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:

        from descentlab import optim

        name = info.data.get("name")
        if name is None:
            return v
        spec = optim.get(name)
        check_hyperparameters(dict(spec.hyperparameters), v, f"optimizer {name!r}")
        try:  # the checks across settings (Nesterov needs momentum, ...)
            spec.validate(**v)
        except (ValueError, TypeError) as err:
            raise ValueError(f"optimizer {name!r}: {err}") from None
        return v


class RaceOptimizer(OptimizerChoice):
    """One runner of a race: ``id`` (unique in the race), optimizer and hyperparameters."""

    id: str = Field("", max_length=MAX_ID_CHARS)
    label: str | None = Field(None, max_length=200)


def _check_landscape_name(v: str) -> str:
    from descentlab import landscapes

    if not v.strip():
        raise ValueError("landscape must be a registry name or a formula, got ''")
    if landscapes.functions.lookup(v) is not None:
        return v
    if len(v) > MAX_FORMULA_CHARS:
        raise ValueError(f"a formula may have at most {MAX_FORMULA_CHARS} characters, got {len(v)}")
    if not landscapes.looks_like_formula(v):
        raise ValueError(
            f"unknown landscape {v!r}: pick one of the list ({', '.join(landscapes.REGISTRY)}) "
            "or type a formula in x and y such as x**2 + 3*sin(y)"
        )
    variables = _formula_variables(v)
    if len(variables) > 2:
        plain = variables[0] == "x"
        raise ValueError(
            f"the formula uses {variables[-1]}; the playground shows 1-D and 2-D landscapes: "
            f"use {'x and y' if plain else 'x1 and x2'}"
        )
    return v


@lru_cache(maxsize=256)
def _formula_variables(text: str) -> tuple[str, ...]:
    """The variables of a formula (parsed once per text; ValueError if it is refused)."""
    from descentlab import landscapes

    try:
        return tuple(landscapes.parse_formula(text).variables)
    except ValueError as err:
        raise ValueError(_formula_words(str(err))) from None


def _formula_words(reason: str) -> str:
    """The parser's refusal of a formula in a student's words."""
    if m := re.match(r"cannot parse formula (.*): invalid syntax", reason):
        return (
            f"the formula {m[1]} cannot be read: check for a missing number, bracket or "
            "operator (write 2*x, not 2x; sin(x), not sin x)"
        )
    if m := re.match(r"call of '([^']+)' is not allowed; allowed functions: (.*)", reason):
        return f"the formula calls {m[1]}(), which is not allowed; use one of {m[2]}"
    if m := re.match(r"unknown name '([^']+)'; allowed are (.*)", reason):
        return (
            f"the formula uses {m[1]}; use x and y (1-D: x), the constants pi and e, "
            + (m[2].split(", the constants pi, e and ")[-1])
        )
    return f"formula refused: {reason}"


_FORMULA_PARAMS = ("bounds", "start", "lr", "log_scale")


def _check_formula_params(text: str, v: dict[str, Any]) -> None:
    """The params a formula landscape takes, each checked for type and size."""
    dim = len(_formula_variables(text))
    for key, val in v.items():
        if key not in _FORMULA_PARAMS:
            raise FieldError(
                f"a formula takes only the params {', '.join(_FORMULA_PARAMS)}; got {key!r}", key
            )
        if key == "lr":
            if isinstance(val, bool) or not isinstance(val, (int, float)):
                raise FieldError(f"learning rate must be a number, got {_shown(val)}", key)
            if not (math.isfinite(val) and val > 0):
                raise FieldError(f"learning rate must be a number > 0, got {_shown(val)}", key)
        elif key == "log_scale":
            if not isinstance(val, bool):
                raise FieldError(f"log scale must be true or false, got {_shown(val)}", key)
        elif key == "start":
            if not _numbers(val, dim):
                raise FieldError(
                    f"start must be {dim} number(s) within +-{MAX_ABS_COORD:g}, got {_shown(val)}",
                    key,
                )
        elif not (
            isinstance(val, list)
            and len(val) == dim
            and all(_numbers(row, 2) and row[0] < row[1] for row in val)
        ):
            raise FieldError(
                f"bounds must be {dim} pair(s) [low, high] with low < high, "
                f"within +-{MAX_ABS_COORD:g}, got {_shown(val)}",
                key,
            )


def _numbers(val: Any, n: int) -> bool:
    return (
        isinstance(val, list)
        and len(val) == n
        and all(
            not isinstance(x, bool)
            and isinstance(x, (int, float))
            and math.isfinite(x)
            and abs(x) <= MAX_ABS_COORD
            for x in val
        )
    )


def _shown(value: Any, limit: int = 60) -> str:
    """A value as the user sent it, shortened."""
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_start(v: list[float] | None) -> list[float] | None:
    if v is None:
        return v
    if len(v) not in (1, 2):
        raise ValueError(f"start must be [x] or [x, y], got {len(v)} numbers")
    for x in v:
        _finite(x, "start")
        if abs(x) > MAX_ABS_COORD:
            raise ValueError(f"start coordinates must be within +-{MAX_ABS_COORD:g}, got {x!r}")
    return v


def _check_params(v: dict[str, Any], landscape: str | None) -> dict[str, Any]:
    from descentlab import landscapes

    if len(v) > 16:
        raise ValueError(f"at most 16 landscape parameters, got {len(v)}")
    if landscape is not None and landscapes.functions.lookup(landscape) is None:
        _check_formula_params(landscape, v)
        return v
    for key, val in v.items():
        if isinstance(val, float) and not math.isfinite(val):
            raise FieldError(f"{key} must be a finite number, got {val!r}", key)
        if not isinstance(val, (bool, int, float)):
            raise FieldError(f"{key} must be a number, got {_shown(val)}", key)
    return v


class _OnLandscape(_Model):
    """A message about one landscape: a registry name or a formula, and its parameters."""

    landscape: str = "parabola"
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("landscape")
    @classmethod
    def _landscape(cls, v: str) -> str:
        return _check_landscape_name(v)

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return _check_params(v, info.data.get("landscape"))


class _FromStart(_OnLandscape):
    """A run on a landscape from a start point (default: the landscape's own)."""

    start: list[float] | None = None

    @field_validator("start")
    @classmethod
    def _start(cls, v: list[float] | None) -> list[float] | None:
        return _check_start(v)


class SurfaceRequest(_OnLandscape):
    """``surface.request``: the surface of a landscape (plus an L1/L2 penalty) on a grid."""

    type: Literal["surface.request"] = "surface.request"
    l1: float = Field(0.0, ge=0, allow_inf_nan=False)
    l2: float = Field(0.0, ge=0, allow_inf_nan=False)
    resolution: int = Field(120, ge=10)

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, v: int, info: ValidationInfo) -> int:
        _check_range("resolution", v, 10, _limits(info).max_resolution)
        return v


class RaceConfig(_FromStart):
    """A race of optimizers on one landscape, all from the same start."""

    landscape: str = "beale"
    optimizers: list[RaceOptimizer] = Field(
        default_factory=lambda: [
            RaceOptimizer(id="sgd", name="sgd"),
            RaceOptimizer(id="momentum", name="momentum"),
            RaceOptimizer(id="adam", name="adam", hyper={"lr": 0.1}),
        ]
    )
    max_steps: int = Field(500, ge=1)
    tol: float = Field(1e-6, gt=0, allow_inf_nan=False)
    grad_noise: float = Field(0.0, ge=0, le=1e6, allow_inf_nan=False)
    batch_size: int | None = Field(None, ge=1)
    l1: float = Field(0.0, ge=0, le=1e6, allow_inf_nan=False)
    l2: float = Field(0.0, ge=0, le=1e6, allow_inf_nan=False)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    steps_per_frame: int = Field(5, ge=1, le=200)
    autoplay: bool = True

    @field_validator("optimizers")
    @classmethod
    def _optimizers(cls, v: list[RaceOptimizer], info: ValidationInfo) -> list[RaceOptimizer]:
        limit = _limits(info).max_optimizers
        if not 1 <= len(v) <= limit:
            raise ValueError(f"a race has 1 to {limit} optimizers, got {len(v)}")
        seen: set[str] = set()
        for i, opt in enumerate(v):
            if not opt.id:
                opt.id = f"{opt.name}-{i}"
            if opt.id in seen:
                raise ValueError(f"optimizer ids must be unique, {opt.id!r} appears twice")
            seen.add(opt.id)
        return v

    @field_validator("max_steps")
    @classmethod
    def _max_steps(cls, v: int, info: ValidationInfo) -> int:
        _check_range("max_steps", v, 1, _limits(info).max_steps)
        return v

    @field_validator("batch_size")
    @classmethod
    def _batch(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is not None:
            _check_range("batch_size", v, 1, _limits(info).max_points)
        return v


class RaceStart(_Model):
    type: Literal["race.start"] = "race.start"
    config: RaceConfig = Field(default_factory=RaceConfig)


class RaceControl(_Model):
    type: Literal["race.control"] = "race.control"
    action: Literal["play", "pause", "step", "reset", "speed"]
    steps: int = Field(1, ge=1, le=1000)
    steps_per_frame: int | None = Field(None, ge=1, le=200)


class ScheduleChoice(_Model):
    """A learning-rate schedule of ``optim.lr_scheduler.SCHEDULES``, stepped once per epoch."""

    name: str = Field(..., max_length=MAX_ID_CHARS)
    params: dict[str, HyperValue] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from descentlab.optim.lr_scheduler import get_schedule

        get_schedule(v)
        return v

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        import numpy as np

        from descentlab import optim
        from descentlab.optim.lr_scheduler import get_schedule

        name = info.data.get("name")
        if name is None:
            return v
        spec = get_schedule(name)
        check_hyperparameters(dict(spec.hyperparameters), v, f"schedule {name!r}")
        try:
            spec.build(optim.SGD([optim.ArrayParam(np.zeros(1))], lr=0.1), **v)
        except (ValueError, TypeError) as err:
            raise ValueError(f"schedule {name!r}: {err}") from None
        return v


class TrainConfig(_Model):
    """An MLP trained on a 2-D toy data set (``data.load`` + ``nn.MLP`` + ``train.Trainer``)."""

    dataset: str = "spirals"
    classes: int | None = Field(None, ge=2, le=5)
    noise: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    points: int = Field(400, ge=20)
    train_ratio: float = Field(0.7, ge=0.1, le=0.9, allow_inf_nan=False)
    batch_size: int = Field(16, ge=1)
    hidden: list[int] = Field(default_factory=lambda: [8, 8])
    features: list[str] = Field(default_factory=lambda: ["x1", "x2"])
    activation: str = "relu"
    optimizer: OptimizerChoice = Field(
        default_factory=lambda: OptimizerChoice(name="adam", hyper={"lr": 0.01})
    )
    l1: float = Field(0.0, ge=0, le=1e3, allow_inf_nan=False)
    l2: float = Field(0.0, ge=0, le=1e3, allow_inf_nan=False)
    dropout: float = Field(0.0, ge=0, le=0.9, allow_inf_nan=False)
    schedule: ScheduleChoice | None = None
    seed: int = Field(0, ge=0, le=2**32 - 1)
    epochs_per_frame: int = Field(1, ge=1, le=50)
    max_epochs: int = Field(1000, ge=1, le=10000)
    autoplay: bool = True

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        key = v.strip().lower()
        if key not in PLAYGROUND_DATASETS and key != "blobs":
            raise ValueError(
                f"unknown data set {v!r}; expected one of {', '.join(PLAYGROUND_DATASETS)}"
            )
        return "gaussians" if key == "blobs" else key

    @field_validator("points", "batch_size")
    @classmethod
    def _points(cls, v: int, info: ValidationInfo) -> int:
        name = info.field_name or "points"  # always set for a field validator
        low = 20 if name == "points" else 1
        _check_range(name, v, low, _limits(info).max_points)
        return v

    @field_validator("hidden")
    @classmethod
    def _hidden(cls, v: list[int], info: ValidationInfo) -> list[int]:
        limits = _limits(info)
        if len(v) > limits.max_layers:
            raise ValueError(f"at most {limits.max_layers} hidden layers, got {len(v)}")
        for n in v:
            _check_range("neurons per layer", n, 1, limits.max_neurons)
        return v

    @field_validator("features")
    @classmethod
    def _features(cls, v: list[str]) -> list[str]:
        unknown = [f for f in v if f not in TRAIN_FEATURES]
        if unknown:
            raise ValueError(
                f"unknown input feature(s) {unknown}; expected some of {list(TRAIN_FEATURES)}"
            )
        if not v or len(set(v)) != len(v):
            raise ValueError(f"features must name one or more distinct inputs, got {v}")
        return [f for f in TRAIN_FEATURES if f in v]  # one order: the input layer's

    @field_validator("activation")
    @classmethod
    def _activation(cls, v: str) -> str:
        from descentlab.nn import ACTIVATION_NAMES

        if v not in ACTIVATION_NAMES:
            raise ValueError(f"unknown activation {v!r}; expected one of {list(ACTIVATION_NAMES)}")
        return v


class TrainStart(_Model):
    type: Literal["train.start"] = "train.start"
    config: TrainConfig = Field(default_factory=TrainConfig)


class TrainControl(_Model):
    type: Literal["train.control"] = "train.control"
    action: Literal["play", "pause", "step", "reset", "speed"]
    epochs_per_frame: int | None = Field(None, ge=1, le=50)


class LrConfig(_FromStart):
    """The learning-rate experiment: one optimizer, one run per learning rate."""

    optimizer: str = Field("gd", max_length=MAX_ID_CHARS)
    hyper: dict[str, HyperValue] = Field(default_factory=dict)
    lrs: list[float] = Field(default_factory=lambda: [0.01, 0.1, 1.0, 100.0, 1000.0])
    steps: int = Field(100, ge=1)
    tol: float = Field(1e-6, gt=0, allow_inf_nan=False)

    @field_validator("optimizer")
    @classmethod
    def _known(cls, v: str) -> str:
        from descentlab import optim

        optim.get(v)
        return v

    @field_validator("hyper")
    @classmethod
    def _hyper(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from descentlab import optim

        name = info.data.get("optimizer")
        if name is not None:
            spec = optim.get(name)
            check_hyperparameters(
                dict(spec.hyperparameters), v, f"optimizer {name!r}", allow_lr=False
            )
        return v

    @field_validator("lrs")
    @classmethod
    def _lrs(cls, v: list[float], info: ValidationInfo) -> list[float]:
        limit = _limits(info).max_lrs
        if not 1 <= len(v) <= limit:
            raise ValueError(f"give 1 to {limit} learning rates, got {len(v)}")
        for lr in v:
            if not (math.isfinite(lr) and lr > 0):
                raise ValueError(f"every learning rate must be a number > 0, got {lr!r}")
        return v

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: int, info: ValidationInfo) -> int:
        _check_range("steps", v, 1, _limits(info).max_steps)
        return v

    @model_validator(mode="after")
    def _optimizer_checks(self) -> LrConfig:

        from descentlab import optim

        try:
            optim.get(self.optimizer).validate(**{**self.hyper, "lr": 0.1})
        except (ValueError, TypeError) as err:
            raise ValueError(f"optimizer {self.optimizer!r}: {err}") from None
        return self


class LrStart(_Model):
    type: Literal["lr.start"] = "lr.start"
    config: LrConfig = Field(default_factory=LrConfig)


#: Data sets of the Network-landscape tab: the Network tab's 2-D toy sets and the digits.
LANDSCAPE_DATASETS = (*PLAYGROUND_DATASETS, "digits")
#: Sizes of the Network-landscape tab, checked before any work: the grid of each plane,
#: the fixed batch the planes, lines and sharpness are measured on, epochs and layers.
LANDSCAPE_MAX_GRID = 41
LANDSCAPE_MAX_SAMPLES = 500
LANDSCAPE_MAX_EPOCHS = 500
LANDSCAPE_MAX_LAYERS = 3


class LandscapeConfig(_Model):
    """Two optimizers train one MLP from the same initialization and seed; the loss plane
    around each solution, the lines between the solutions and their sharpness follow."""

    dataset: str = "moons"
    classes: int | None = Field(None, ge=2, le=5)
    noise: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    points: int = Field(400, ge=20)
    hidden: list[int] = Field(default_factory=lambda: [16])
    activation: str = "tanh"
    optimizers: list[OptimizerChoice] = Field(
        default_factory=lambda: [
            OptimizerChoice(name="sgd", hyper={"lr": 0.1}),
            OptimizerChoice(name="adam", hyper={"lr": 0.01}),
        ]
    )
    batch_size: int = Field(32, ge=1)
    epochs: int = Field(40, ge=1)
    directions: Literal["pca", "filter"] = "pca"
    grid: int = Field(25, ge=5)
    samples: int = Field(300, ge=20)
    plane_every: int = Field(15, ge=1, le=300)
    steps_per_frame: int = Field(4, ge=1, le=1000)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    autoplay: bool = True

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        key = v.strip().lower()
        key = "gaussians" if key == "blobs" else key
        if key not in LANDSCAPE_DATASETS:
            raise ValueError(
                f"unknown data set {v!r}; expected one of {', '.join(LANDSCAPE_DATASETS)}"
            )
        return key

    @field_validator("points", "batch_size")
    @classmethod
    def _points(cls, v: int, info: ValidationInfo) -> int:
        name = info.field_name or "points"
        _check_range(
            name.replace("_", " "), v, 20 if name == "points" else 1, _limits(info).max_points
        )
        return v

    @field_validator("hidden")
    @classmethod
    def _hidden(cls, v: list[int], info: ValidationInfo) -> list[int]:
        if not 1 <= len(v) <= LANDSCAPE_MAX_LAYERS:
            raise ValueError(f"give 1 to {LANDSCAPE_MAX_LAYERS} hidden layers, got {len(v)}")
        for n in v:
            _check_range("hidden units per layer", n, 1, _limits(info).max_neurons)
        return v

    @field_validator("activation")
    @classmethod
    def _activation(cls, v: str) -> str:
        return TrainConfig._activation(v)

    @field_validator("optimizers")
    @classmethod
    def _two(cls, v: list[OptimizerChoice]) -> list[OptimizerChoice]:
        if len(v) != 2:
            raise ValueError(f"give exactly two optimizers to compare, got {len(v)}")
        return v

    @field_validator("epochs")
    @classmethod
    def _epochs(cls, v: int) -> int:
        _check_range("epochs", v, 1, LANDSCAPE_MAX_EPOCHS)
        return v

    @field_validator("grid")
    @classmethod
    def _grid(cls, v: int, info: ValidationInfo) -> int:
        _check_range("grid", v, 5, min(LANDSCAPE_MAX_GRID, _limits(info).max_resolution))
        return v

    @field_validator("samples")
    @classmethod
    def _samples(cls, v: int) -> int:
        _check_range("samples", v, 20, LANDSCAPE_MAX_SAMPLES)
        return v


class LandscapeStart(_Model):
    type: Literal["landscape.start"] = "landscape.start"
    config: LandscapeConfig = Field(default_factory=LandscapeConfig)


class LandscapeControl(_Model):
    type: Literal["landscape.control"] = "landscape.control"
    action: Literal["play", "pause", "step", "reset", "speed"]
    steps_per_frame: int | None = Field(None, ge=1, le=1000)


class ExportRequest(_Model):
    type: Literal["export"] = "export"
    what: Literal["race", "train", "lr"]
    format: Literal["python", "json"] = "python"


class Ping(_Model):
    type: Literal["ping"] = "ping"


#: type -> model of every message a client may send.
CLIENT_MESSAGES: dict[str, type[BaseModel]] = {
    "surface.request": SurfaceRequest,
    "race.start": RaceStart,
    "race.control": RaceControl,
    "train.start": TrainStart,
    "train.control": TrainControl,
    "lr.start": LrStart,
    "landscape.start": LandscapeStart,
    "landscape.control": LandscapeControl,
    "export": ExportRequest,
    "ping": Ping,
}


# ----------------------------------------------------------------------------------------
# server -> client (documentation and tests; the server sends plain dicts)
# ----------------------------------------------------------------------------------------
class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


Num = float | None  # NaN / inf are sent as null


class HelloMessage(_Out):
    type: Literal["hello"]
    version: int
    registry: dict[str, Any]
    limits: dict[str, Any]


class SurfaceMessage(_Out):
    type: Literal["surface"]
    landscape: str
    dim: Literal[1, 2]
    bounds: list[list[float]]
    log_scale: bool
    xs: list[float]
    ys: list[float] | None = None
    values: list[Num] | list[list[Num]]
    minima: list[list[float]]
    saddles: list[list[float]]
    start: list[float]
    formula: str
    description: str


class Readout(_Out):
    grad: list[Num]
    velocity: list[Num] | None
    second_moment: list[Num] | None
    effective_lr: Num


class RaceRun(_Out):
    id: str
    optimizer: str
    label: str
    points: list[list[Num]]
    values: list[Num]
    status: Literal["running", "converged", "max_steps", "diverged"]
    nit: int
    message: str
    readout: Readout


class RaceFrame(_Out):
    type: Literal["race.frame"]
    step: int
    done: bool
    runs: list[RaceRun]


class Split(_Out):
    X: list[list[float]]
    y: list[int]


class InputPicture(_Out):
    """One input feature over the plane: ``values`` are base64 bytes q (resolution^2, rows
    from low x2 up), the value being (q - 127.5) / 127.5 * scale."""

    name: str
    label: str
    used: bool
    scale: float
    values: str


class TrainData(_Out):
    type: Literal["train.data"]
    classes: int
    bounds: list[list[float]]
    train: Split
    test: Split
    features: list[str] = Field(default_factory=list)
    inputs: list[InputPicture] = Field(default_factory=list)
    resolution: int = 0


class HistoryRow(_Out):
    """One epoch; ``train_*`` are the trainer's means over the epoch's batches (dropout on,
    weights moving), ``train_*_eval`` the train set measured after the epoch in eval mode."""

    epoch: int
    train_loss: Num
    train_accuracy: Num
    test_loss: Num
    test_accuracy: Num
    lr: Num
    train_loss_eval: Num = None
    train_accuracy_eval: Num = None


class Boundary(_Out):
    resolution: int
    classes: int
    probs: list[list[list[Num]]]
    argmax: list[int]
    confidence: list[Num]


class LayerPicture(_Out):
    """A hidden layer's shown units over the plane (base64 bytes as in InputPicture, one
    scale for the layer) and the weights into them (shown units x shown inputs)."""

    units: int
    shown: int
    scale: float
    values: list[str]
    weights: list[list[Num]]


class NetworkPicture(_Out):
    resolution: int
    layers: list[LayerPicture]
    output_weights: list[list[Num]]


class WeightReadout(_Out):
    """A weight matrix's (or all of them: ``layer`` 0) L2 norm and share of |w| < threshold."""

    layer: int
    fan_in: int
    fan_out: int
    l2_norm: Num
    sparsity: float
    count: int


class TrainFrame(_Out):
    type: Literal["train.frame"]
    epoch: int
    step: int
    done: bool
    stop_reason: str
    history: list[HistoryRow]
    boundary: Boundary | None
    confusion: list[list[int]]
    network: NetworkPicture | None = None
    readouts: list[WeightReadout] = Field(default_factory=list)
    sparsity_threshold: float = 1e-3
    tick: bool = False


class LrRun(_Out):
    lr: float
    status: Literal["converged", "max_steps", "diverged"]
    nit: int
    message: str
    points: list[list[Num]]
    values: list[Num]


class LrResult(_Out):
    type: Literal["lr.result"]
    landscape: str
    runs: list[LrRun]


class LandscapeRow(_Out):
    """One optimizer's numbers in the Network-landscape tab's table."""

    name: str
    lr: Num
    loss: Num  # mean loss on the fixed batch: the plane's value at (0, 0)
    accuracy: Num  # on the same batch
    test_accuracy: Num
    sharpness: Num  # top Hessian eigenvalue on the batch
    sharpness_epoch: float | None  # when it was measured (epochs, fractional mid-epoch)
    two_over_lr: Num
    status: Literal["running", "done", "diverged"]
    message: str


class LandscapePlane(_Out):
    """The loss plane around one optimizer's weights, with its path projected on it."""

    run: int
    directions: Literal["pca", "filter"]
    epoch: float
    xs: list[float]
    ys: list[float]
    values: list[list[Num]]
    bounds: list[list[float]]
    center_loss: Num
    path: list[list[Num]]
    explained_variance: list[float] | None
    axis_labels: list[str]


class LandscapeLines(_Out):
    """Loss along straight lines in weight space (1-D interpolation)."""

    epoch: float
    alphas: list[float]
    curves: list[dict[str, Any]]


class LandscapeFrame(_Out):
    type: Literal["landscape.frame"]
    epoch: int
    epochs: int
    step: int
    progress: float
    done: bool
    tick: bool
    pending: int
    samples: int
    parameters: int
    rows: list[LandscapeRow]
    history: list[dict[str, Any]]
    planes: list[LandscapePlane]
    lines: LandscapeLines | None
    note: str = ""


class ExportMessage(_Out):
    type: Literal["export"]
    what: Literal["race", "train", "lr"]
    format: Literal["python", "json"]
    text: str


class ErrorMessage(_Out):
    """``error``: a refused request or a failure. ``field`` is the dotted path of the value
    that caused it (``config.params.lr``), or ``message`` for the whole message, or null;
    ``message`` says what is wrong in plain words; ``request`` is the refused type."""

    type: Literal["error"] = "error"
    message: str
    field: str | None = None
    request: str | None = None


def error_message(
    message: str, field: str | None = None, request: str | None = None
) -> dict[str, Any]:
    """An ``error`` frame, built (and so checked) by :class:`ErrorMessage`."""
    return ErrorMessage(message=message, field=field, request=request).model_dump()


# ----------------------------------------------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise ValueError(
        f"{name} is not a number JSON can carry: send a finite number (or null for a missing one)"
    )


def _field_name(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


#: Field names in plain words (the rest: underscores become spaces).
_WORDS = {
    "lr": "learning rate",
    "lrs": "learning rates",
    "hyper": "hyperparameters",
    "l1": "L1 strength",
    "l2": "L2 strength",
    "tol": "tolerance",
    "params": "landscape parameters",
    "hidden": "hidden layers",
}

_TYPE_WORDS = {
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "finite_number": "must be a finite number",
}


_UNION_MEMBERS = ("bool", "int", "float", "str", "none")


def _words(loc: tuple[Any, ...]) -> str:
    names = [part for part in loc if isinstance(part, str)]
    while len(names) > 1 and names[-1] in _UNION_MEMBERS:  # pydantic's union branch
        names.pop()
    if not names:
        return "value"
    name = names[-1]
    if name.startswith(("function-", "union")) or "[" in name:
        name = names[-2] if len(names) > 1 else "value"
    return _WORDS.get(name, name.replace("_", " "))


def _plain(first: Mapping[str, Any]) -> str:
    """A pydantic error in plain words, naming the field and the value."""
    kind = str(first.get("type", ""))
    loc = tuple(first.get("loc", ()))
    ctx = first.get("ctx") or {}
    what = _words(loc)
    got = f", got {_shown(first.get('input'))}"
    if kind in _TYPE_WORDS:
        return f"{what} {_TYPE_WORDS[kind]}{got}"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "less_than_equal": ("at most", "le"),
        "greater_than": ("greater than", "gt"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{what} must be {words} {ctx.get(key)}{got}"
    if kind == "literal_error":
        return f"{what} must be one of {ctx.get('expected')}{got}"
    if kind in ("string_too_long", "too_long"):
        return f"{what} is too long (at most {ctx.get('max_length')}){got}"
    if kind in ("string_too_short", "too_short"):
        return f"{what} is too short (at least {ctx.get('min_length')}){got}"
    msg = str(first.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if kind == "value_error" or "got " in msg:
        return msg
    return f"{what}: {msg}{got}"


def error_from_validation(err: ValidationError, request: str) -> ProtocolError:
    """The first problem of a pydantic error as a ProtocolError naming field and value."""
    first = err.errors(include_url=False)[0]
    loc = tuple(first.get("loc", ()))
    union = False
    while len(loc) > 1 and loc[-1] in _UNION_MEMBERS:  # none of bool | int | float | str
        loc, union = loc[:-1], True
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        loc = (*loc, cause.subfield)
    field = _field_name(loc)
    if first.get("type") == "missing":
        text = f"{_words(loc)} is required ({field})"
    elif first.get("type") == "extra_forbidden":
        text = f"unknown field {field!r}"
    elif union:
        text = (
            f"{_words(loc)} must be a number, true or false, or text, got "
            f"{_shown(first.get('input'))}"
        )
    else:
        text = _plain(first)
    return ProtocolError(text, field or None, request)


def parse_client_message(raw: str | bytes, limits: Limits | None = None) -> BaseModel:
    """Validate one raw client message; raise :class:`ProtocolError` when it is refused."""
    limits = limits or Limits()
    size = len(raw.encode("utf-8", "replace")) if isinstance(raw, str) else len(raw)
    if size > limits.max_message_bytes:
        raise ProtocolError(
            f"message of {size} bytes refused: the limit is {limits.max_message_bytes} bytes",
            "message",
        )
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("message is not UTF-8 text", "message") from None
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        raise ProtocolError(f"bad JSON: {err}", "message") from None
    if not isinstance(data, dict):
        raise ProtocolError(
            f"a message must be a JSON object with a 'type', got {type(data).__name__}", "message"
        )
    kind = data.get("type")
    model = CLIENT_MESSAGES.get(kind) if isinstance(kind, str) else None
    if model is None:
        shown = json.dumps(kind)[:60]
        raise ProtocolError(
            f"unknown message type {shown}; expected one of {', '.join(CLIENT_MESSAGES)}",
            "type",
            kind if isinstance(kind, str) else None,
        )
    try:
        return model.model_validate(data, context={"limits": limits})
    except ValidationError as err:
        raise error_from_validation(err, str(kind)) from None

"""What a sweep runs: problems, arms (optimizers), grids of settings, seeds -> trials.

A *trial* is one optimizer with one setting of its hyperparameters on one problem
with one seed. Everything here is plain data (frozen dataclasses and dicts of JSON
values), so a trial can be written to ``sweep.json``, pickled to a worker process
or shipped to a Ray node, and gives the same numbers wherever it runs.

Seeds: the random numbers of replicate ``s`` of a problem (random start points,
initial weights, mini-batch order, dropout masks, gradient noise) come from
``(sweep seed, problem, s)`` and nothing else, so every arm and every setting of
replicate ``s`` starts from the same points and weights (common random numbers,
the fairer comparison), and a trial gives the same numbers on any backend, in any
order, on any number of machines.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Union

import numpy as np

__all__ = [
    "Arm",
    "DataProblem",
    "LandscapeProblem",
    "Plan",
    "Problem",
    "Trial",
    "parse_values",
    "problem_from_dict",
    "replicate_seed",
]

#: Options of a problem an arm may change for itself (e.g. "SGD with noise" vs "GD").
ARM_PROBLEM_OPTIONS = {
    "landscape": ("grad_noise", "batch_size"),
    "data": ("batch_size", "dropout", "l1", "l2"),
}

MAX_TRIALS = 1_000_000


def _check_positive_int(value: Any, what: str, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")


def _check_nonnegative(value: Any, what: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class LandscapeProblem:
    """Runs of :func:`~descentlab.landscapes.minimize` on a test function or formula.

    ``starts``: ``"random:K"`` (K points drawn uniformly in the function's plot
    bounds from the replicate's seed), ``"grid:K"`` (a K x K grid, the same for every
    seed) or explicit points. A trial's loss is the mean of f over its starts;
    it diverged if any start diverged and converged if every start converged.
    ``target``: the loss a trial must reach for ``steps_to_target`` (default: the
    known minimum + 1e-3, or none when the minimum is unknown).
    """

    function: str
    dim: int | None = None
    starts: str | tuple[tuple[float, ...], ...] = "random:4"
    steps: int = 500
    tol: float = 1e-6
    target: float | None = None
    batch_size: int | None = None
    grad_noise: float = 0.0
    name: str = ""
    kind: str = field(default="landscape", init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.function, str) or not self.function.strip():
            raise ValueError(f"function must be a landscape name or formula, got {self.function!r}")
        _check_positive_int(self.dim, "dim", allow_none=True)
        _check_positive_int(self.steps, "steps")
        _check_nonnegative(self.tol, "tol")
        _check_nonnegative(self.grad_noise, "grad_noise")
        _check_positive_int(self.batch_size, "batch_size", allow_none=True)
        if self.target is not None and not (
            isinstance(self.target, (int, float)) and math.isfinite(self.target)
        ):
            raise ValueError(f"target must be a finite number, got {self.target!r}")
        if isinstance(self.starts, str):
            kind, _, count = self.starts.partition(":")
            if kind not in ("random", "grid") or not count.isdigit() or not 1 <= int(count) <= 1000:
                raise ValueError(
                    f"starts must be 'random:K' or 'grid:K' with 1 <= K <= 1000, or a list of "
                    f"points, got {self.starts!r}"
                )
        else:
            points = tuple(tuple(float(v) for v in p) for p in self.starts)
            if not points or len({len(p) for p in points}) != 1:
                raise ValueError(f"starts must be points of one dimension, got {self.starts!r}")
            object.__setattr__(self, "starts", points)
        if not self.name:
            object.__setattr__(self, "name", self.function.strip())

    @property
    def budget(self) -> int:
        """The full budget of a trial, in steps."""
        return self.steps

    @property
    def unit(self) -> str:
        return "steps"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not isinstance(self.starts, str):
            out["starts"] = [list(p) for p in self.starts]
        return out


@dataclass(frozen=True)
class DataProblem:
    """Runs of :func:`~descentlab.train.fit`: an MLP on a data set of :mod:`descentlab.data`.

    The data set is split once, with the sweep's seed, so every trial sees the same
    train, validation and test sets. A trial's loss is the final validation loss;
    ``target`` is a validation accuracy to reach (``steps_to_target`` counts the
    optimizer steps up to the end of the first epoch that reaches it).
    """

    data: str
    hidden: tuple[int, ...] = (64,)
    activation: str = "relu"
    dropout: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    epochs: int = 10
    batch_size: int = 32
    target: float | None = None
    name: str = ""
    kind: str = field(default="data", init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.data, str) or not self.data.strip():
            raise ValueError(f"data must be a data set name, got {self.data!r}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        for h in self.hidden:
            _check_positive_int(h, "each hidden layer size")
        _check_positive_int(self.epochs, "epochs")
        _check_positive_int(self.batch_size, "batch_size")
        for name in ("l1", "l2"):
            _check_nonnegative(getattr(self, name), name)
        if not (isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1):
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.target is not None and not (
            isinstance(self.target, (int, float)) and 0 < self.target <= 1
        ):
            raise ValueError(f"target must be a validation accuracy in (0, 1], got {self.target!r}")
        if not self.name:
            extras = [f"dropout {self.dropout:g}"] if self.dropout else []
            extras += [f"L{k} {getattr(self, f'l{k}'):g}" for k in (1, 2) if getattr(self, f"l{k}")]
            label = self.data.strip() + (f" ({', '.join(extras)})" if extras else "")
            object.__setattr__(self, "name", label)

    @property
    def budget(self) -> int:
        """The full budget of a trial, in epochs."""
        return self.epochs

    @property
    def unit(self) -> str:
        return "epochs"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        return out


Problem = Union[LandscapeProblem, DataProblem]  # noqa: UP007 - a runtime alias on 3.10


def problem_from_dict(d: Mapping[str, Any]) -> Problem:
    """The inverse of ``problem.to_dict()``."""
    d = dict(d)
    kind = d.pop("kind", None)
    if kind == "landscape":
        if isinstance(d.get("starts"), list):
            d["starts"] = tuple(tuple(p) for p in d["starts"])
        return LandscapeProblem(**d)
    if kind == "data":
        d["hidden"] = tuple(d.get("hidden", ()))
        return DataProblem(**d)
    raise ValueError(f"problem kind must be 'landscape' or 'data', got {kind!r}")


@dataclass(frozen=True)
class Arm:
    """One contender: an optimizer with fixed settings, under a label.

    ``problem`` overrides options of the problem for this arm only (for a
    landscape ``grad_noise``, ``batch_size``; for data ``batch_size``, ``dropout``,
    ``l1``, ``l2``): "SGD with gradient noise" against "GD" on a saddle.
    """

    optimizer: str
    label: str = ""
    fixed: Mapping[str, Any] = field(default_factory=dict)
    problem: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from descentlab.optim import REGISTRY

        object.__setattr__(self, "optimizer", REGISTRY.resolve(self.optimizer))
        object.__setattr__(self, "fixed", dict(self.fixed))
        object.__setattr__(self, "problem", dict(self.problem))
        spec = REGISTRY[self.optimizer]
        unknown = sorted(set(self.fixed) - set(spec.hyperparameters))
        if unknown:
            raise ValueError(
                f"optimizer {self.optimizer!r} has no hyperparameter {', '.join(unknown)}; "
                f"its hyperparameters: {', '.join(spec.hyperparameters)}"
            )
        if not self.label:
            object.__setattr__(self, "label", self.optimizer)

    @classmethod
    def coerce(cls, value: Arm | str | Mapping[str, Any]) -> Arm:
        if isinstance(value, Arm):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, Mapping):
            d = dict(value)
            name = d.pop("optimizer", None) or d.pop("name", None)
            if name is None:
                raise ValueError(f"an arm needs an 'optimizer', got {value!r}")
            return cls(
                name,
                label=d.pop("label", ""),
                fixed=d.pop("fixed", {}),
                problem=d.pop("problem", {}),
            )
        raise TypeError(f"an arm must be a name, a dict or an Arm, got {type(value).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer,
            "label": self.label,
            "fixed": dict(self.fixed),
            "problem": dict(self.problem),
        }


def parse_values(text: Any, name: str) -> list[Any] | tuple[float, float, int]:
    """A sweep axis: ``"LOW:HIGH:N"`` (N log-spaced values, returned as a range),
    ``"a,b,c"`` or a list (the values themselves).

    >>> parse_values("1e-3:1e-1:3", "lr")
    (0.001, 0.1, 3)
    >>> parse_values("0.5,0.9", "momentum")
    [0.5, 0.9]
    """
    if isinstance(text, (list, tuple)) and not (
        isinstance(text, tuple) and len(text) == 3 and isinstance(text[2], int)
    ):
        values = list(text)
        if not values:
            raise ValueError(f"{name}: expected at least one value, got none")
        return values
    if isinstance(text, tuple):
        low, high, n = text
        return _range(float(low), float(high), n, name, str(text))
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return [text]
    if not isinstance(text, str):
        raise TypeError(f"{name}: expected 'LOW:HIGH:N' or 'a,b,c', got {text!r}")
    if len(text) > 10_000:
        raise ValueError(f"{name}: a value list of {len(text)} characters is too long")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"{name}: expected LOW:HIGH:N such as 1e-4:1:9, got {text!r}")
        try:
            low, high, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(
                f"{name}: expected LOW:HIGH:N such as 1e-4:1:9, got {text!r}"
            ) from None
        return _range(low, high, n, name, text)
    items = [t.strip() for t in text.split(",")]
    if not all(items):
        raise ValueError(f"{name}: expected comma-separated values, got {text!r}")
    return [_scalar(t) for t in items]


def _range(low: float, high: float, n: int, name: str, text: str) -> tuple[float, float, int]:
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
        raise ValueError(f"{name}: LOW:HIGH needs 0 < LOW <= HIGH (a log scale), got {text!r}")
    if not 1 <= n <= 10_000 or (n == 1 and low != high):
        raise ValueError(f"{name}: N must be in 1..10000 (1 only when LOW == HIGH), got {text!r}")
    return (low, high, n)


def _scalar(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _grid_values(axis: list[Any] | tuple[float, float, int]) -> list[Any]:
    if isinstance(axis, tuple):
        low, high, n = axis
        if n == 1:
            return [low]
        return [float(v) for v in np.logspace(math.log10(low), math.log10(high), n)]
    return list(axis)


def _canonical(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def replicate_seed(sweep_seed: int, problem: str, replicate: int) -> int:
    """The seed of replicate ``replicate`` of ``problem``: a hash of the three, < 2**32."""
    digest = hashlib.sha256(f"{sweep_seed}|{problem}|{replicate}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


@dataclass(frozen=True)
class Trial:
    """One run: a problem, an arm, every hyperparameter's value, a seed."""

    key: str
    problem: Problem
    arm: Arm
    hyperparameters: Mapping[str, Any]
    replicate: int
    seed: int
    data_seed: int

    def to_job(self) -> dict[str, Any]:
        """The plain dict a worker needs (picklable, JSON-able)."""
        return {
            "key": self.key,
            "problem": self.problem.to_dict(),
            "arm": self.arm.to_dict(),
            "hyperparameters": dict(self.hyperparameters),
            "replicate": self.replicate,
            "seed": self.seed,
            "data_seed": self.data_seed,
        }


@dataclass(frozen=True)
class Plan:
    """Problems x arms x settings x seeds, expanded into trials in a fixed order."""

    problems: tuple[Problem, ...]
    arms: tuple[Arm, ...]
    grid: Mapping[str, Any]
    seeds: int = 3
    seed: int = 0
    search: str = "grid"
    #: per problem name, the labels of the arms that run on it (default: every arm)
    arms_of: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: per problem name, a grid that replaces ``grid`` on that problem
    grids: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.problems:
            raise ValueError("a sweep needs at least one problem")
        if not self.arms:
            raise ValueError("a sweep needs at least one optimizer")
        names = [p.name for p in self.problems]
        if len(set(names)) != len(names):
            raise ValueError(f"problem names must differ, got {names}")
        labels = [a.label for a in self.arms]
        if len(set(labels)) != len(labels):
            raise ValueError(f"optimizer labels must differ, got {labels}")
        for text in (*names, *labels):
            if "|" in text or len(text) > 200:
                raise ValueError(
                    f"problem names and optimizer labels are at most 200 characters without "
                    f"'|' (it separates the parts of a trial's key), got {text!r}"
                )
        _check_positive_int(self.seeds, "seeds")
        if self.seeds > 1000:
            raise ValueError(f"seeds must be at most 1000, got {self.seeds}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise TypeError(f"seed must be an integer, got {self.seed!r}")
        grid = {name: parse_values(axis, name) for name, axis in dict(self.grid).items()}
        object.__setattr__(self, "grid", grid)
        grids = {
            p: {name: parse_values(axis, name) for name, axis in dict(g).items()}
            for p, g in dict(self.grids).items()
        }
        object.__setattr__(self, "grids", grids)
        arms_of = {p: tuple(labels) for p, labels in dict(self.arms_of).items()}
        object.__setattr__(self, "arms_of", arms_of)
        for p, labels_p in arms_of.items():
            if p not in names:
                raise ValueError(f"arms_of names the problem {p!r}, which is not in the sweep")
            missing = sorted(set(labels_p) - set(labels))
            if missing:
                raise ValueError(f"arms_of[{p!r}] names unknown optimizers {missing}")
        for p in grids:
            if p not in names:
                raise ValueError(f"grids names the problem {p!r}, which is not in the sweep")
        for arm in self.arms:
            for option in arm.problem:
                kinds = {p.kind for p in self.problems}
                if not any(option in ARM_PROBLEM_OPTIONS[k] for k in kinds):
                    allowed = sorted({o for k in kinds for o in ARM_PROBLEM_OPTIONS[k]})
                    raise ValueError(
                        f"arm {arm.label!r} cannot change the problem's {option!r}; "
                        f"it may change {', '.join(allowed)}"
                    )
        owned = {name for arm in self.arms for name in self._hyperparameters(arm)}
        stray = sorted(set(grid).union(*grids.values()) - owned)
        if stray:
            raise ValueError(
                f"no optimizer of this sweep ({', '.join(labels)}) has the hyperparameter "
                f"{', '.join(stray)}"
            )
        kind, _, count = self.search.partition(":")
        if self.search != "grid" and not (
            kind == "random" and count.isdigit() and 1 <= int(count) <= 100_000
        ):
            raise ValueError(f"search must be 'grid' or 'random:N', got {self.search!r}")
        total = self.seeds * sum(
            len(self.settings(a, q)) for q in self.problems for a in self.arms_for(q)
        )
        if total > MAX_TRIALS:
            raise ValueError(f"this sweep has {total} trials; at most {MAX_TRIALS} are allowed")
        for problem in self.problems:
            for arm in self.arms_for(problem):
                for setting in self.settings(arm, problem):
                    _validate(arm, setting)

    def arms_for(self, problem: Problem) -> tuple[Arm, ...]:
        """The arms that run on ``problem``."""
        labels = self.arms_of.get(problem.name)
        if labels is None:
            return self.arms
        by_label = {a.label: a for a in self.arms}
        return tuple(by_label[label] for label in labels)

    def grid_for(self, problem: Problem | None) -> Mapping[str, Any]:
        if problem is not None and problem.name in self.grids:
            return self.grids[problem.name]
        return self.grid

    @staticmethod
    def _hyperparameters(arm: Arm) -> Mapping[str, Any]:
        from descentlab.optim import REGISTRY

        return REGISTRY[arm.optimizer].hyperparameters

    def axes(
        self, arm: Arm, problem: Problem | None = None
    ) -> dict[str, list[Any] | tuple[float, float, int]]:
        """The grid's axes that apply to ``arm`` (its fixed settings excluded)."""
        own = self._hyperparameters(arm)
        grid = self.grid_for(problem)
        return {k: v for k, v in grid.items() if k in own and k not in arm.fixed}

    def settings(self, arm: Arm, problem: Problem | None = None) -> list[dict[str, Any]]:
        """Every setting of ``arm``'s swept hyperparameters, in a fixed order."""
        axes = self.axes(arm, problem)
        if self.search == "grid":
            names = list(axes)
            combos = itertools.product(*(_grid_values(axes[n]) for n in names))
            return [dict(zip(names, combo)) for combo in combos]
        count = int(self.search.split(":")[1])
        where = "" if problem is None else problem.name
        digest = hashlib.sha256(f"{self.seed}|search|{where}|{arm.label}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        own = self._hyperparameters(arm)
        out = []
        for _ in range(count):
            setting: dict[str, Any] = {}
            for name, axis in axes.items():
                if isinstance(axis, tuple):
                    low, high, _n = axis
                    if own[name].log_scale or name == "lr":
                        value = math.exp(rng.uniform(math.log(low), math.log(high)))
                    else:
                        value = rng.uniform(low, high)
                    setting[name] = round(value) if own[name].type == "int" else float(value)
                else:
                    setting[name] = axis[int(rng.integers(len(axis)))]
            out.append(setting)
        return out

    def data_seed(self, problem: Problem) -> int:
        """The seed of a data set's split: one per data set, whatever the problem's variant."""
        where = problem.data if isinstance(problem, DataProblem) else problem.name
        return replicate_seed(self.seed, f"data:{where}", -1)

    def trials(self) -> list[Trial]:
        """Every trial, problem by problem, arm by arm, setting by setting, seed by seed."""
        out = []
        for problem in self.problems:
            data_seed = self.data_seed(problem)
            for arm in self.arms_for(problem):
                for setting in self.settings(arm, problem):
                    hps = {**arm.fixed, **setting}
                    text = ",".join(f"{k}={_canonical(hps[k])}" for k in sorted(hps))
                    for rep in range(self.seeds):
                        out.append(
                            Trial(
                                key=f"{problem.name}|{arm.label}|{text}|seed{rep}",
                                problem=problem,
                                arm=arm,
                                hyperparameters=hps,
                                replicate=rep,
                                seed=replicate_seed(self.seed, problem.name, rep),
                                data_seed=data_seed,
                            )
                        )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "problems": [p.to_dict() for p in self.problems],
            "arms": [a.to_dict() for a in self.arms],
            "grid": _grid_dict(self.grid),
            "grids": {p: _grid_dict(g) for p, g in self.grids.items()},
            "arms_of": {p: list(labels) for p, labels in self.arms_of.items()},
            "seeds": self.seeds,
            "seed": self.seed,
            "search": self.search,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        return cls(
            problems=tuple(problem_from_dict(p) for p in d["problems"]),
            arms=tuple(Arm.coerce(a) for a in d["arms"]),
            grid=_grid_from(d["grid"]),
            seeds=int(d["seeds"]),
            seed=int(d["seed"]),
            search=str(d.get("search", "grid")),
            arms_of=d.get("arms_of", {}),
            grids={p: _grid_from(g) for p, g in d.get("grids", {}).items()},
        )

    def with_budget(self, **changes: Any) -> Plan:
        """The same plan with problem options changed (``steps=``/``epochs=``), for tests."""
        problems = tuple(
            replace(p, **{k: v for k, v in changes.items() if hasattr(p, k)}) for p in self.problems
        )
        return replace(self, problems=problems)


def _grid_dict(grid: Mapping[str, Any]) -> dict[str, Any]:
    """A grid as JSON: a log range as ``{"log": [LOW, HIGH, N]}``, a list as itself."""
    return {k: {"log": list(v)} if isinstance(v, tuple) else list(v) for k, v in grid.items()}


def _grid_from(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v["log"]) if isinstance(v, Mapping) else list(v) for k, v in d.items()}


def _validate(arm: Arm, setting: Mapping[str, Any]) -> None:
    from descentlab.optim import REGISTRY

    values = {**arm.fixed, **setting}
    try:
        REGISTRY[arm.optimizer].validate(**values)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{arm.label} with {values}: {err}") from None


def coerce_arms(optimizers: Iterable[Arm | str | Mapping[str, Any]] | str) -> tuple[Arm, ...]:
    """Arms from names (``"sgd,adam"`` or a list), dicts or Arms."""
    if isinstance(optimizers, str):
        optimizers = [t.strip() for t in optimizers.split(",") if t.strip()]
    return tuple(Arm.coerce(o) for o in optimizers)


def coerce_problems(problem: Any, **options: Any) -> tuple[Problem, ...]:
    """Problems from a name (a data set if the data registry knows it, else a landscape
    or formula), a Problem, or a list of them; ``options`` fill the problem's fields."""
    if isinstance(problem, (LandscapeProblem, DataProblem)):
        if options:
            return (replace(problem, **options),)
        return (problem,)
    if isinstance(problem, Sequence) and not isinstance(problem, str):
        return tuple(p for item in problem for p in coerce_problems(item, **options))
    if not isinstance(problem, str):
        raise TypeError(f"a problem must be a name, a formula or a Problem, got {problem!r}")
    from descentlab.data.registry import DATASETS

    base = problem.split(":", 1)[0]
    cls: type[DataProblem | LandscapeProblem] = (
        DataProblem if DATASETS.knows(base) or problem.endswith(".npz") else LandscapeProblem
    )
    given = {k: v for k, v in options.items() if v is not None}
    fields = set(cls.__dataclass_fields__) - {"kind"}
    stray = sorted(set(given) - fields)
    if stray:
        what = "data set" if cls is DataProblem else "landscape"
        raise ValueError(
            f"{', '.join(stray)} does not apply to the {what} {problem!r}; "
            f"its options: {', '.join(sorted(fields - {'data', 'function'}))}"
        )
    return (cls(problem, **given),)

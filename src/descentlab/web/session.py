"""One browser tab's state: its race, its training run and its learning-rate experiment.

A :class:`Session` receives validated client messages (:mod:`descentlab.web.protocol`)
and answers with plain JSON-ready dicts; :meth:`Session.tick` advances whatever is
playing by one frame. Every number comes from the library: races are
``landscapes.Runner`` objects, training is a ``train.Trainer``, the learning-rate
experiment is one vectorized ``landscapes.minimize`` with an array of learning rates,
and the decision boundary is ``train.predict`` on a grid. NaN and infinity never reach
JSON (they become null). A Session is not thread-safe: the server serializes calls.
:meth:`Session.cancel` (from any thread) stops its work between two steps or epochs,
so the work of a closed tab ends promptly.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from descentlab.web.protocol import (
    CLASS_PARAM,
    PLAYGROUND_DATASETS,
    PROTOCOL_VERSION,
    ExportRequest,
    Limits,
    LrConfig,
    LrStart,
    Ping,
    ProtocolError,
    RaceConfig,
    RaceControl,
    RaceStart,
    SurfaceRequest,
    TrainConfig,
    TrainControl,
    TrainStart,
)

__all__ = [
    "BOUNDARY_RESOLUTION",
    "Session",
    "build_landscape",
    "clean",
    "export_lr_python",
    "export_race_python",
    "export_train_python",
    "registry",
    "surface_message",
]

#: Side of the grid on which the decision boundary is evaluated.
BOUNDARY_RESOLUTION = 60
#: Resolution of the surface sent automatically when a race starts.
RACE_SURFACE_RESOLUTION = 120
#: Wall-clock budget of one training frame (more epochs wait for the next frame).
TRAIN_FRAME_SECONDS = 0.25
#: A race frame of at most this many runner steps is computed without a worker thread.
LIGHT_STEPS = 60

# nn.manual_seed is global state: seed and build a model under one lock.
_MODEL_LOCK = threading.Lock()


# --------------------------------------------------------------------------- helpers
def clean(values: Any) -> Any:
    """A number or array as JSON-ready floats, with NaN and +-inf replaced by None."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        v = float(arr)
        return v if math.isfinite(v) else None
    finite = np.isfinite(arr)
    if finite.all():
        return arr.tolist()
    out = arr.astype(object)
    out[~finite] = None
    return out.tolist()


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return clean(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def _hyper_list(hps: Any) -> list[dict[str, Any]]:
    """Each setting's own description (``low``/``high``: the slider; ``min``/``max``: the
    hard bounds), as the library's spec writes it; settings no control can set are left out."""
    return [hp.to_dict() for hp in hps.values() if hp.in_ui]


@lru_cache(maxsize=1)
def _registry_json(versions: tuple[int, ...]) -> str:
    """The registry message as JSON; ``versions`` (of the library's registries) keys the cache."""
    from descentlab import data, landscapes, nn, optim

    optimizers = [
        {
            "name": name,
            "summary": spec.summary,
            "hyperparameters": _hyper_list(spec.hyperparameters),
        }
        for name, spec in optim.REGISTRY.items()
    ]
    lands = []
    for name, spec in landscapes.REGISTRY.items():
        f = spec.build()
        lands.append(
            {
                "name": name,
                "description": spec.description,
                "formula": spec.formula,
                "dims": spec.dims,
                "parameters": _hyper_list(spec.parameters),
                "dim": f.dim,
                "bounds": clean(f.bounds) if f.bounds is not None else None,
                "start": clean(f.start),
                "lr": f.lr,
                "log_scale": f.log_scale,
                "finite_sum": hasattr(f, "n_samples"),
            }
        )
    datasets = []
    for name, reg_name in PLAYGROUND_DATASETS.items():
        dataset = data.DATASETS[reg_name]
        datasets.append(
            {
                "name": name,
                "registry_name": reg_name,
                "summary": dataset.summary,
                "hyperparameters": _hyper_list(dataset.hyperparameters),
            }
        )
    schedules = [
        {"name": name, "hyperparameters": _hyper_list(spec.hyperparameters)}
        for name, spec in optim.lr_scheduler.SCHEDULES.items()
    ]
    return json.dumps(
        {
            "optimizers": optimizers,
            "landscapes": lands,
            "datasets": datasets,
            "schedules": schedules,
            "activations": list(nn.ACTIVATION_NAMES),
        },
        allow_nan=False,
    )


def registry() -> dict[str, Any]:
    """The ``registry`` object of the ``hello`` message, generated from the library's
    registries (optimizers, landscapes, 2-D data sets, schedules, activations)."""
    from descentlab import data, landscapes, optim

    versions = (
        optim.REGISTRY.version,
        landscapes.REGISTRY.version,
        data.DATASETS.version,
        optim.lr_scheduler.SCHEDULES.version,
    )
    return json.loads(_registry_json(versions))


def hello(limits: Limits) -> dict[str, Any]:
    """The first message of every connection."""
    return {
        "type": "hello",
        "version": PROTOCOL_VERSION,
        "registry": registry(),
        "limits": limits.as_dict(),
    }


def _param_field(err: Exception, params: dict[str, Any], prefix: str) -> str:
    """The params entry a library error is about (``config.params.a``), else ``params``."""
    text = str(err)
    named = [k for k in params if f"{k} " in text or f"{k}=" in text or f"'{k}'" in text]
    return f"{prefix}params.{named[0]}" if len(named) == 1 else f"{prefix}params"


def build_landscape(
    name: str,
    params: dict[str, Any],
    l1: float,
    l2: float,
    limits: Limits,
    prefix: str = "",
    request: str | None = None,
) -> Any:
    """The (penalized) landscape of a config; ProtocolError naming the field otherwise.

    ``params`` were checked by the protocol (types and sizes); the library checks ranges."""
    from descentlab import landscapes

    spec = landscapes.functions.lookup(name)
    if spec is not None:
        if "dim" in params and params["dim"] not in (1, 2):
            raise ProtocolError(
                f"the playground shows 1-D and 2-D landscapes, got dim = {params['dim']!r}",
                f"{prefix}params.dim",
                request,
            )
        if "n" in params and isinstance(params["n"], int) and params["n"] > limits.max_points:
            raise ProtocolError(
                f"n must be at most max_points = {limits.max_points}, got {params['n']}",
                f"{prefix}params.n",
                request,
            )
    elif set(params) - {"bounds", "start", "lr", "log_scale"}:
        raise ProtocolError(
            f"a formula takes only the params bounds, start, lr, log_scale; got {sorted(params)}",
            f"{prefix}params",
            request,
        )
    try:
        f = (
            landscapes.get(name, **params)
            if spec is not None
            else landscapes.from_formula(name, **params)
        )
    except (ValueError, TypeError, ArithmeticError) as err:
        where = _param_field(err, params, prefix) if params else f"{prefix}landscape"
        raise ProtocolError(str(err), where, request) from None
    if f.dim > 2:
        raise ProtocolError(
            f"the playground shows 1-D and 2-D landscapes; {name!r} has {f.dim} variables",
            f"{prefix}landscape",
            request,
        )
    try:
        return f.with_penalty(l1, l2)
    except ValueError as err:
        raise ProtocolError(str(err), f"{prefix}l1", request) from None


def _start_of(f: Any, start: list[float] | None, prefix: str, request: str) -> np.ndarray:
    if start is None:
        return f.start.copy()
    if len(start) != f.dim:
        raise ProtocolError(
            f"start must have {f.dim} coordinate(s) for this {f.dim}-D landscape, got {start}",
            f"{prefix}start",
            request,
        )
    return np.asarray(start, dtype=np.float64)


def _plot_bounds(f: Any) -> np.ndarray:
    if f.bounds is not None:
        return f.bounds
    return np.stack([f.start - 3.0, f.start + 3.0], axis=1)


def surface_message(f: Any, name: str, resolution: int) -> dict[str, Any]:
    """``f`` on a resolution x resolution grid over its bounds (1-D: a curve)."""
    bounds = _plot_bounds(f)
    xs = np.linspace(bounds[0, 0], bounds[0, 1], resolution)
    msg: dict[str, Any] = {
        "type": "surface",
        "landscape": name,
        "dim": f.dim,
        "bounds": clean(bounds),
        "log_scale": bool(f.log_scale),
    }
    with np.errstate(all="ignore"):
        if f.dim == 1:
            values = f.value(xs[:, None])
            msg.update(xs=clean(xs), ys=None)
        else:
            ys = np.linspace(bounds[1, 0], bounds[1, 1], resolution)
            values = np.empty((resolution, resolution))
            n = getattr(f, "n_samples", 1)
            rows = max(1, int(2_000_000 // max(1, n * resolution)))  # bound the memory
            for r0 in range(0, resolution, rows):
                gx, gy = np.meshgrid(xs, ys[r0 : r0 + rows])
                values[r0 : r0 + rows] = f.value(np.stack([gx, gy], axis=-1))
            msg.update(xs=clean(xs), ys=clean(ys))
        minima = f.minima
    msg.update(
        values=clean(values),
        minima=clean(minima),
        saddles=clean(f.saddles),
        start=clean(f.start),
        formula=f.formula,
        description=f.description,
    )
    return msg


def _py(value: Any) -> str:
    """A Python literal (repr round-trips floats exactly)."""
    return repr(value)


def _test_fraction(train_ratio: float) -> float:
    return round(1.0 - train_ratio, 6)


# --------------------------------------------------------------------------- exports
def _landscape_code(name: str, params: dict[str, Any], l1: float, l2: float) -> list[str]:
    args = "".join(f", {k}={_py(v)}" for k, v in params.items())
    lines = [f"f = landscapes.get({_py(name)}{args})"]
    if l1 or l2:
        lines.append(f"f = f.with_penalty(l1={_py(l1)}, l2={_py(l2)})")
    return lines


def export_race_python(config: RaceConfig, start: list[float]) -> str:
    """Python code that reproduces a race with ``landscapes.race``."""
    opts = ",\n".join(
        f"        {_py(o.id)}: {_py({'optimizer': o.name, **o.hyper})}" for o in config.optimizers
    )
    common = (
        f"steps={config.max_steps}, tol={_py(config.tol)}, "
        f"grad_noise={_py(config.grad_noise)}, batch_size={_py(config.batch_size)}, "
        f"seed={config.seed}"
    )
    return "\n".join(
        [
            (
                f'"""descentlab playground export: a race on {config.landscape} '
                '(seeded: the same numbers as the playground)."""'
            ),
            "from descentlab import landscapes",
            "",
            *_landscape_code(config.landscape, config.params, config.l1, config.l2),
            f"start = {_py(start)}",
            "results = landscapes.race(",
            "    f, start,",
            "    {",
            opts + ",",
            "    },",
            f"    {common},",
            ")",
            "for label, res in results.items():",
            (
                '    print(f"{label}: {res.status} after {res.nit} steps, x = {res.x}, '
                'f = {res.fun:.6g}")'
            ),
            "",
        ]
    )


def _train_parts(config: TrainConfig) -> dict[str, Any]:
    reg_name = PLAYGROUND_DATASETS[config.dataset]
    data_params: dict[str, Any] = {"n": config.points}
    if config.noise is not None:
        data_params["noise"] = config.noise
    if reg_name in CLASS_PARAM and config.classes is not None:
        data_params[CLASS_PARAM[reg_name]] = config.classes
    schedule = None
    if config.schedule is not None:
        schedule = (config.schedule.name, dict(config.schedule.params))
    return {
        "dataset": reg_name,
        "data_params": data_params,
        "test": _test_fraction(config.train_ratio),
        "optimizer": {"name": config.optimizer.name, **config.optimizer.hyper},
        "schedule": schedule,
    }


def _regularizer_code(l1: float, l2: float) -> str:
    if l1 and l2:
        return f"nn.ElasticNet({_py(l1)}, {_py(l2)})"
    if l1:
        return f"nn.L1({_py(l1)})"
    if l2:
        return f"nn.L2({_py(l2)})"
    return "None"


def export_train_python(config: TrainConfig, classes: int, epochs_done: int | None = None) -> str:
    """Python code that reproduces a training run with ``data.load``, ``nn.MLP`` and ``fit``."""
    p = _train_parts(config)
    data_args = "".join(f", {k}={_py(v)}" for k, v in p["data_params"].items())
    sizes = [2, *config.hidden, classes]
    note = (
        [f"# (the playground run had completed {epochs_done} epoch(s) when exported)"]
        if epochs_done is not None
        else []
    )
    return "\n".join(
        [
            (
                f'"""descentlab playground export: an MLP on {config.dataset} '
                '(seeded: the same numbers as the playground)."""'
            ),
            "from descentlab import data, nn",
            "from descentlab.train import evaluate, fit",
            "",
            (
                f"bundle = data.load({_py(p['dataset'])}, seed={config.seed}, val=0.0, "
                f"test={_py(p['test'])}{data_args})"
            ),
            f"nn.manual_seed({config.seed})",
            (
                f"model = nn.MLP({_py(sizes)}, activation={_py(config.activation)}, "
                f"dropout={_py(config.dropout)})"
            ),
            *note,
            "history = fit(",
            "    model, bundle.train, bundle.test,",
            f"    optimizer={_py(p['optimizer'])},",
            f"    epochs={config.max_epochs}, batch_size={config.batch_size},",
            f"    regularizer={_regularizer_code(config.l1, config.l2)},",
            f"    lr_scheduler={_py(p['schedule'])},",
            f"    seed={config.seed}, progress=False,",
            ")",
            "test = evaluate(model, bundle.test)",
            (
                'print(f"{len(history)} epochs ({history.stop_reason}); test accuracy '
                "{test['accuracy']:.4f}, test loss {test['loss']:.4f}\")"
            ),
            "",
        ]
    )


def export_lr_python(config: LrConfig, start: list[float]) -> str:
    """Python code that reproduces the learning-rate experiment with one ``minimize``."""
    hyper = "".join(f", {k}={_py(v)}" for k, v in config.hyper.items())
    return "\n".join(
        [
            (
                '"""descentlab playground export: the learning-rate experiment '
                f'(one run per learning rate on {config.landscape})."""'
            ),
            "import numpy as np",
            "",
            "from descentlab import landscapes",
            "",
            *_landscape_code(config.landscape, config.params, 0.0, 0.0),
            f"lrs = np.array({_py(list(config.lrs))})",
            f"x0 = np.tile({_py(start)}, (len(lrs), 1))",
            (
                f"res = landscapes.minimize(f, x0, optimizer={_py(config.optimizer)}, lr=lrs, "
                f"steps={config.steps}, tol={_py(config.tol)}{hyper})"
            ),
            "for i, lr in enumerate(lrs):",
            '    print(f"lr = {lr:g}: {res.status[i]} after {res.nit[i]} steps; {res.message[i]}")',
            "",
        ]
    )


# --------------------------------------------------------------------------- state
@dataclass
class _Race:
    config: RaceConfig
    landscape: Any
    start: np.ndarray
    runners: list[Any] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    pending: list[list[np.ndarray]] = field(default_factory=list)
    pending_f: list[list[float]] = field(default_factory=list)
    playing: bool = False
    finished_sent: bool = False


@dataclass
class _Train:
    config: TrainConfig
    bundle: Any
    model: Any
    trainer: Any
    classes: int
    bounds: np.ndarray
    grid: np.ndarray
    rows_sent: int = 0
    playing: bool = False
    finished_sent: bool = False


class Session:
    """Everything one tab owns. ``handle(msg)`` and ``tick()`` return messages to send."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.race: _Race | None = None
        self.train: _Train | None = None
        self.lr_config: LrConfig | None = None
        self.lr_start: list[float] | None = None
        self.cancelled = threading.Event()

    # ------------------------------------------------------------------ dispatch
    @property
    def playing(self) -> bool:
        """True while the race or the training run should advance by itself."""
        return bool((self.race and self.race.playing) or (self.train and self.train.playing))

    @property
    def light_tick(self) -> bool:
        """True when the next frame is a few race steps only (no training to advance)."""
        race = self.race
        if self.train is not None and self.train.playing:
            return False
        return race is None or race.config.steps_per_frame * len(race.runners) <= LIGHT_STEPS

    def pause(self) -> None:
        """Stop every run from advancing by itself."""
        if self.race is not None:
            self.race.playing = False
        if self.train is not None:
            self.train.playing = False

    def cancel(self) -> None:
        """Stop all work: safe from another thread; the running frame ends at its next step."""
        self.cancelled.set()

    def close(self) -> None:
        """Drop the runs (the connection ended)."""
        self.cancelled.set()
        self.race = None
        self.train = None
        self.lr_config = None

    def handle(self, msg: Any) -> list[dict[str, Any]]:
        """Answer one validated client message (nothing once the session is cancelled)."""
        if self.cancelled.is_set():
            return []
        if isinstance(msg, Ping):
            return [{"type": "pong"}]
        if isinstance(msg, SurfaceRequest):
            f = build_landscape(
                msg.landscape, msg.params, msg.l1, msg.l2, self.limits, request=msg.type
            )
            return [surface_message(f, msg.landscape, msg.resolution)]
        if isinstance(msg, RaceStart):
            return self.start_race(msg.config)
        if isinstance(msg, RaceControl):
            return self.control_race(msg.action, msg.steps, msg.steps_per_frame)
        if isinstance(msg, TrainStart):
            return self.start_train(msg.config)
        if isinstance(msg, TrainControl):
            return self.control_train(msg.action, msg.epochs_per_frame)
        if isinstance(msg, LrStart):
            return [self.run_lr(msg.config)]
        if isinstance(msg, ExportRequest):
            return [self.export(msg.what, msg.format)]
        raise ProtocolError(f"unsupported message {type(msg).__name__}", "type")

    def tick(self) -> list[dict[str, Any]]:
        """Advance every playing run by one frame; the frames to send."""
        out: list[dict[str, Any]] = []
        if self.cancelled.is_set():
            return out
        race = self.race
        if race is not None and race.playing:
            self._advance_race(race, race.config.steps_per_frame, self.cancelled)
            out.append(self._race_frame(race))
            if self._race_done(race):
                race.playing = False
        train = self.train
        if train is not None and train.playing:
            self._advance_train(train, train.config.epochs_per_frame, self.cancelled)
            out.append(self._train_frame(train))
            if train.trainer.done:
                train.playing = False
        return out

    # ------------------------------------------------------------------ race
    def _new_race(self, config: RaceConfig) -> _Race:
        from descentlab.landscapes import Runner

        req = "race.start"
        f = build_landscape(
            config.landscape,
            config.params,
            config.l1,
            config.l2,
            self.limits,
            prefix="config.",
            request=req,
        )
        start = _start_of(f, config.start, "config.", req)
        race = _Race(config, f, start)
        for i, opt in enumerate(config.optimizers):
            hyper = dict(opt.hyper)
            lr = hyper.pop("lr", None)
            try:
                runner = Runner(
                    f,
                    start.copy(),
                    opt.name,
                    lr,
                    steps=config.max_steps,
                    tol=config.tol,
                    batch_size=config.batch_size,
                    grad_noise=config.grad_noise,
                    seed=config.seed,
                    record=False,
                    **hyper,
                )
            except (ValueError, TypeError) as err:
                field_ = (
                    "config.batch_size" if "batch_size" in str(err) else f"config.optimizers[{i}]"
                )
                raise ProtocolError(str(err), field_, req) from None
            race.runners.append(runner)
            lr_text = np.ravel(runner.lr)[0] if np.ndim(runner.lr) else runner.lr
            race.labels.append(opt.label or f"{opt.id} (lr={float(lr_text):g})")
            race.pending.append([runner.x.copy()])
            race.pending_f.append([runner.values])
        return race

    def start_race(self, config: RaceConfig) -> list[dict[str, Any]]:
        race = self._new_race(config)
        surface = surface_message(
            race.landscape,
            config.landscape,
            min(RACE_SURFACE_RESOLUTION, self.limits.max_resolution),
        )
        surface["start"] = clean(race.start)
        self.race = race
        race.playing = config.autoplay and not self._race_done(race)
        return [surface, self._race_frame(race)]

    def control_race(
        self, action: str, steps: int, steps_per_frame: int | None = None
    ) -> list[dict[str, Any]]:
        race = self.race
        if race is None:
            raise ProtocolError(
                "race.control: no race yet; send race.start first", "action", "race.control"
            )
        if action == "speed":  # the same runs go on, faster or slower
            if steps_per_frame is None:
                raise ProtocolError(
                    "race.control speed needs steps_per_frame (1..200)",
                    "steps_per_frame",
                    "race.control",
                )
            race.config = race.config.model_copy(update={"steps_per_frame": steps_per_frame})
            return []
        if action == "play":
            race.playing = not self._race_done(race)
            return [] if race.playing else [self._race_frame(race)]
        if action == "pause":
            race.playing = False
            return []
        if action == "step":
            race.playing = False
            self._advance_race(race, steps, self.cancelled)
            return [self._race_frame(race)]
        playing = race.playing
        self.race = self._new_race(race.config)
        self.race.playing = playing
        return [self._race_frame(self.race)]

    @staticmethod
    def _race_done(race: _Race) -> bool:
        return all(r.done for r in race.runners)

    @staticmethod
    def _advance_race(race: _Race, steps: int, stop: threading.Event) -> None:
        for runner, points, values in zip(race.runners, race.pending, race.pending_f):
            for _ in range(steps):
                if runner.done or stop.is_set():
                    break
                runner.step(1)
                points.append(runner.x.copy())
                values.append(runner.values)

    def _race_frame(self, race: _Race) -> dict[str, Any]:
        runs = []
        for i, (opt, runner) in enumerate(zip(race.config.optimizers, race.runners)):
            res = runner.result()
            ro = runner.readout()
            pts = race.pending[i]
            runs.append(
                {
                    "id": opt.id,
                    "optimizer": opt.name,
                    "label": race.labels[i],
                    "points": clean(np.array(pts).reshape(len(pts), -1)) if pts else [],
                    "values": clean(race.pending_f[i]) if race.pending_f[i] else [],
                    "status": str(res.status),
                    "nit": int(res.nit),
                    "message": str(res.message),
                    "readout": {
                        "grad": clean(np.atleast_1d(ro["grad"])),
                        "velocity": None
                        if ro["velocity"] is None
                        else clean(np.atleast_1d(ro["velocity"])),
                        "second_moment": None
                        if ro["second_moment"] is None
                        else clean(np.atleast_1d(ro["second_moment"])),
                        "effective_lr": clean(ro["effective_lr"]),
                    },
                }
            )
            race.pending[i] = []
            race.pending_f[i] = []
        step = max((r.t for r in race.runners), default=0)
        return {
            "type": "race.frame",
            "step": int(step),
            "done": self._race_done(race),
            "runs": runs,
        }

    # ------------------------------------------------------------------ training
    def _new_train(self, config: TrainConfig) -> _Train:
        from descentlab import data, nn
        from descentlab.train import Trainer

        req = "train.start"
        p = _train_parts(config)
        try:
            bundle = data.load(
                p["dataset"], seed=config.seed, val=0.0, test=p["test"], **p["data_params"]
            )
        except (ValueError, TypeError) as err:
            raise ProtocolError(str(err), "config.dataset", req) from None
        assert bundle.num_classes is not None and bundle.test is not None  # 2-D classification
        classes = int(bundle.num_classes)
        with _MODEL_LOCK:
            nn.manual_seed(config.seed)
            model = nn.MLP(
                [2, *config.hidden, classes], activation=config.activation, dropout=config.dropout
            )
        regularizer = nn.penalty(config.l1, config.l2)
        try:
            trainer = Trainer(
                model,
                bundle.train,
                bundle.test,
                loss="cross_entropy",
                optimizer=p["optimizer"],
                epochs=config.max_epochs,
                batch_size=config.batch_size,
                regularizer=regularizer,
                lr_scheduler=p["schedule"],
                seed=config.seed,
                progress=False,
            )
        except (ValueError, TypeError) as err:
            raise ProtocolError(str(err), "config.optimizer", req) from None
        X = np.concatenate([bundle.train[0], bundle.test[0]]).astype(np.float64)
        lo, hi = X.min(axis=0), X.max(axis=0)
        pad = 0.1 * np.maximum(hi - lo, 1e-3)
        bounds = np.stack([lo - pad, hi + pad], axis=1)
        r = min(BOUNDARY_RESOLUTION, self.limits.max_resolution)
        gx, gy = np.meshgrid(
            np.linspace(bounds[0, 0], bounds[0, 1], r), np.linspace(bounds[1, 0], bounds[1, 1], r)
        )
        grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
        return _Train(config, bundle, model, trainer, classes, bounds, grid)

    def start_train(self, config: TrainConfig) -> list[dict[str, Any]]:
        train = self._new_train(config)
        self.train = train
        train.playing = config.autoplay
        b = train.bundle
        data_msg = {
            "type": "train.data",
            "classes": train.classes,
            "bounds": clean(train.bounds),
            "train": {
                "X": clean(np.round(b.train[0].astype(np.float64), 5)),
                "y": b.train[1].astype(int).tolist(),
            },
            "test": {
                "X": clean(np.round(b.test[0].astype(np.float64), 5)),
                "y": b.test[1].astype(int).tolist(),
            },
        }
        return [data_msg, self._train_frame(train)]

    def control_train(
        self, action: str, epochs_per_frame: int | None = None
    ) -> list[dict[str, Any]]:
        train = self.train
        if train is None:
            raise ProtocolError(
                "train.control: no training run yet; send train.start first",
                "action",
                "train.control",
            )
        if action == "speed":  # the same run goes on, faster or slower
            if epochs_per_frame is None:
                raise ProtocolError(
                    "train.control speed needs epochs_per_frame (1..50)",
                    "epochs_per_frame",
                    "train.control",
                )
            train.config = train.config.model_copy(update={"epochs_per_frame": epochs_per_frame})
            return []
        if action == "play":
            train.playing = not train.trainer.done
            return [] if train.playing else [self._train_frame(train)]
        if action == "pause":
            train.playing = False
            return []
        if action == "step":
            train.playing = False
            train.trainer.run_epoch()
            return [self._train_frame(train)]
        playing = train.playing
        self.train = self._new_train(train.config)
        self.train.playing = playing
        return [self._train_frame(self.train)]

    @staticmethod
    def _advance_train(train: _Train, epochs: int, stop: threading.Event) -> None:
        t0 = time.perf_counter()
        for _ in range(epochs):
            if train.trainer.done or stop.is_set():
                break
            train.trainer.run_epoch()
            if time.perf_counter() - t0 > TRAIN_FRAME_SECONDS:
                break

    def _train_frame(self, train: _Train) -> dict[str, Any]:
        from descentlab.autograd import Tensor
        from descentlab.nn import functional as F
        from descentlab.train import evaluate, predict

        trainer = train.trainer
        rows = trainer.history.epochs[train.rows_sent :]
        train.rows_sent += len(rows)
        history = [
            {
                "epoch": int(row["epoch"]) + 1,
                "train_loss": clean(row["train_loss"]) if row["train_loss"] is not None else None,
                "train_accuracy": clean(row["train_accuracy"])
                if row["train_accuracy"] is not None
                else None,
                "test_loss": clean(row["val_loss"]) if row["val_loss"] is not None else None,
                "test_accuracy": clean(row["val_accuracy"])
                if row["val_accuracy"] is not None
                else None,
                "lr": clean(row["lr"]) if row["lr"] is not None else None,
            }
            for row in rows
        ]
        r = round(math.sqrt(len(train.grid)))
        with np.errstate(all="ignore"):
            logits = predict(train.model, train.grid)
            probs = np.asarray(F.softmax(Tensor(logits), axis=1).data, dtype=np.float64)
        argmax = probs.argmax(axis=1)
        confidence = probs.max(axis=1)
        test = evaluate(train.model, train.bundle.test, loss="cross_entropy")
        return {
            "type": "train.frame",
            "epoch": int(trainer.epoch),
            "step": int(trainer.global_step),
            "done": bool(trainer.done),
            "stop_reason": trainer.history.stop_reason or "",
            "history": history,
            "boundary": {
                "resolution": r,
                "classes": train.classes,
                "probs": clean(np.round(probs, 4).reshape(r, r, train.classes)),
                "argmax": argmax.astype(int).tolist(),
                "confidence": clean(np.round(confidence, 4)),
            },
            "confusion": np.asarray(test["confusion_matrix"]).astype(int).tolist(),
        }

    # ------------------------------------------------------------------ lr experiment
    def run_lr(self, config: LrConfig) -> dict[str, Any]:
        from descentlab.landscapes import minimize

        req = "lr.start"
        f = build_landscape(
            config.landscape, config.params, 0.0, 0.0, self.limits, prefix="config.", request=req
        )
        start = _start_of(f, config.start, "config.", req)
        lrs = np.asarray(config.lrs, dtype=np.float64)
        # One lr as a number: Result.run(0) cannot read back an lr array of size 1.
        lr_arg: Any = lrs if len(lrs) > 1 else float(lrs[0])
        # the optimizer's settings, checked against its description by minimize
        hyper: dict[str, Any] = dict(config.hyper)
        try:
            res = minimize(
                f,
                np.tile(start, (len(lrs), 1)),
                optimizer=config.optimizer,
                lr=lr_arg,
                steps=config.steps,
                tol=config.tol,
                **hyper,
            )
        except (ValueError, TypeError) as err:
            raise ProtocolError(str(err), "config.hyper", req) from None
        runs = []
        for i, lr in enumerate(config.lrs):
            one = res.run(i)
            traj = one.trajectory
            runs.append(
                {
                    "lr": lr,
                    "status": str(one.status),
                    "nit": int(one.nit),
                    "message": str(one.message),
                    "points": clean(traj.positions.reshape(len(traj.positions), -1)),
                    "values": clean(traj.values),
                }
            )
        self.lr_config = config
        self.lr_start = start.tolist()
        return {"type": "lr.result", "landscape": config.landscape, "runs": runs}

    # ------------------------------------------------------------------ export
    def export(self, what: str, fmt: str) -> dict[str, Any]:
        if what == "race":
            if self.race is None:
                raise ProtocolError("export: no race to export; start one first", "what", "export")
            config: Any = self.race.config
            text = export_race_python(config, self.race.start.tolist()) if fmt == "python" else None
        elif what == "train":
            if self.train is None:
                raise ProtocolError(
                    "export: no training run to export; start one first", "what", "export"
                )
            config = self.train.config
            text = (
                export_train_python(config, self.train.classes, self.train.trainer.epoch)
                if fmt == "python"
                else None
            )
        else:
            if self.lr_config is None or self.lr_start is None:
                raise ProtocolError(
                    "export: no learning-rate experiment to export; run one first", "what", "export"
                )
            config = self.lr_config
            text = export_lr_python(config, self.lr_start) if fmt == "python" else None
        if text is None:
            text = json.dumps(config.model_dump(mode="json"), indent=2)
        return {"type": "export", "what": what, "format": fmt, "text": text}

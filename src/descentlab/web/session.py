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

import base64
import json
import math
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from descentlab.web.protocol import (
    CLASS_PARAM,
    PLAYGROUND_DATASETS,
    PROTOCOL_VERSION,
    TRAIN_FEATURES,
    ExportRequest,
    LandscapeControl,
    LandscapeStart,
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

if TYPE_CHECKING:
    from descentlab.web.landscape_session import LandscapeLab

__all__ = [
    "BOUNDARY_RESOLUTION",
    "FEATURES",
    "Session",
    "build_landscape",
    "clean",
    "export_lr_python",
    "export_race_python",
    "export_train_python",
    "features_of",
    "hidden_activations",
    "registry",
    "surface_message",
    "weight_readouts",
]

#: Side of the grid on which the decision boundary is evaluated.
BOUNDARY_RESOLUTION = 60
#: Resolution of the surface sent automatically when a race starts.
RACE_SURFACE_RESOLUTION = 120
#: Wall-clock budget of one training frame: training stops at the first mini-batch past
#: it (mid-epoch if need be) and goes on from the next batch at the next frame.
TRAIN_FRAME_SECONDS = 0.03
#: Work a training frame always does before its budget can cut it, in samples times
#: parameters (about 40 batches of 16 through an 8-8 network: a few milliseconds).
TRAIN_FRAME_MIN_WORK = 1 << 18
#: A playing run sends the decision boundary every this many frames, and the network's
#: pictures with the test confusion matrix as often but half-way between (so that no frame
#: pays for both); every frame that answers a request or ends the run carries all of them.
TRAIN_PICTURE_EVERY = 4
#: Side of the grid of each input's and hidden unit's small picture over the plane.
NEURON_RESOLUTION = 24
#: Units of a layer drawn in the network diagram (and sent as pictures).
NEURONS_SHOWN = 10
#: |w| below this counts as zero in the sparsity readout.
SPARSITY_THRESHOLD = 1e-3
#: A race frame of at most this many runner steps is computed without a worker thread.
LIGHT_STEPS = 60
#: Wall-clock budget of the stepping in one race frame: at a speed the machine cannot
#: keep up with, a frame carries the steps that fit (the rest go in the next frames), so
#: frames keep coming ~30 times a second whatever the speed setting.
RACE_FRAME_SECONDS = 0.03
#: A race frame always makes at least this many runner steps (or the speed setting's,
#: if fewer) before the budget can cut it: a few steps a frame are never cut short ...
RACE_FRAME_MIN_RUNNER_STEPS = 150
#: ... unless the machine is so loaded that they take longer than this: no frame waits
#: more than 0.1 s for its steps.
RACE_FRAME_MAX_SECONDS = 0.1
#: A race steps its runners by chunks of many steps (one ``Runner.step(k)`` call each,
#: compiled for the optimizers that have a compiled loop), sized from the time of the
#: frame's previous chunk so that one takes about this long at most: the pause is seen
#: between two chunks.
RACE_CHUNK_SECONDS = 0.01
#: The first steps of a race go one at a time, as one chunk each (their time is not
#: known yet, and the first calls do one-time work: an optimizer's state, a loop loaded).
RACE_SINGLE_STEPS = 8
#: A race that has made this many steps has its runners' compiled loops prepared (see
#: ``Runner.prepare_compiled``): compiling, or loading from the disk cache, takes seconds
#: in a background thread and makes frames stutter meanwhile (it holds the GIL at times),
#: which a short race never repays. Loops this process has already are used at once.
RACE_COMPILE_AFTER_STEPS = 1000

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
    if spec is None and "start" not in params:
        found = formula_start(f)
        if found is None:
            raise ProtocolError(
                f"f has no finite value with a non-zero gradient at any point tried in the plot "
                f"({_plain_bounds(_plot_bounds(f))}): check the formula, or give the "
                "landscape bounds where it is defined",
                f"{prefix}landscape",
                request,
            )
        f.start = found
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


#: Where a formula's default start is looked for: fractions of the plot's width in x and in
#: y, off the centre first (a formula's centre is often a stationary point: exp(exp(x*y)) at
#: (0, 0)) and never on a grid line of the default bounds [-3, 3] (1/x at x = 0).
_START_FRACTIONS = (
    (0.8, 0.7),
    (0.25, 0.8),
    (0.7, 0.25),
    (0.3, 0.35),
    (0.9, 0.55),
    (0.15, 0.1),
    (0.6, 0.9),
    (0.45, 0.6),
    (0.55, 0.45),
    (0.5, 0.5),
)


def formula_start(f: Any) -> np.ndarray | None:
    """A start for a formula landscape: the first of a fixed set of candidate points in the
    plot's bounds where f is finite and its gradient is finite and non-zero, preferring one
    whose gradient is below 1e2, then 1e6, in size (a first step that stays in the plot).
    None when no candidate qualifies."""
    bounds = _plot_bounds(f)
    fractions = np.array([fr[: f.dim] for fr in _START_FRACTIONS], dtype=np.float64)
    X = np.round(bounds[:, 0] + fractions * (bounds[:, 1] - bounds[:, 0]), 6)
    with np.errstate(all="ignore"):
        values = np.asarray(f.value(X), dtype=np.float64)
        grads = np.asarray(f.grad(X), dtype=np.float64).reshape(len(X), f.dim)
    norms = np.linalg.norm(grads, axis=1)
    usable = np.isfinite(values) & np.isfinite(norms) & (norms > 1e-9)
    for ok in (usable & (norms < 1e2), usable & (norms < 1e6), usable):
        if ok.any():
            return X[int(np.argmax(ok))].copy()
    return None


def _plain_point(x: np.ndarray) -> str:
    return "(" + ", ".join(f"{float(v):.4g}" for v in np.ravel(x)) + ")"


def _plain_bounds(bounds: np.ndarray) -> str:
    names = ("x", "y") if len(bounds) == 2 else ("x",)
    return ", ".join(f"{n} in [{lo:g}, {hi:g}]" for n, (lo, hi) in zip(names, bounds, strict=False))


def _start_of(f: Any, start: list[float] | None, prefix: str, request: str) -> np.ndarray:
    """The start of a run: the config's (checked against the landscape) or the landscape's.

    A start where f has no finite value is refused with a message for the start control
    (beside the formula box): no optimizer can leave it, and a run from it would only say
    "diverged at step 0"."""
    if start is None:
        x0 = f.start.copy()
    elif len(start) != f.dim:
        raise ProtocolError(
            f"start must have {f.dim} coordinate(s) for this {f.dim}-D landscape, got {start}",
            f"{prefix}start",
            request,
        )
    else:
        x0 = np.asarray(start, dtype=np.float64)
    with np.errstate(all="ignore"):
        value = float(np.asarray(f.value(x0[None, :]), dtype=np.float64).ravel()[0])
    if not np.isfinite(value):
        shown = "undefined" if np.isnan(value) else ("+inf" if value > 0 else "-inf")
        where = "this start" if start is not None else "the landscape's start"
        raise ProtocolError(
            f"f is {shown} at {where} {_plain_point(x0)}, so no optimizer can start there: "
            "click the map at another point",
            f"{prefix}start",
            request,
        )
    return x0


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


#: The Network tab's input features: name -> (label, function of the columns x1 and x2,
#: the same expression as Python code for the export). Names are protocol.TRAIN_FEATURES.
FEATURES: dict[str, tuple[str, Any, str]] = {
    "x1": ("x₁", lambda x1, x2: x1, "x1"),
    "x2": ("x₂", lambda x1, x2: x2, "x2"),
    "x1^2": ("x₁²", lambda x1, x2: x1**2, "x1**2"),
    "x2^2": ("x₂²", lambda x1, x2: x2**2, "x2**2"),
    "x1*x2": ("x₁x₂", lambda x1, x2: x1 * x2, "x1 * x2"),
    "sin(x1)": ("sin x₁", lambda x1, x2: np.sin(x1), "np.sin(x1)"),
    "sin(x2)": ("sin x₂", lambda x1, x2: np.sin(x2), "np.sin(x2)"),
}
assert tuple(FEATURES) == TRAIN_FEATURES


def features_of(X: np.ndarray, names: list[str]) -> np.ndarray:
    """The columns ``names`` (of :data:`FEATURES`) of points ``X`` of shape (n, 2), in
    X's dtype; the plain inputs ``["x1", "x2"]`` give ``X`` itself."""
    if list(names) == ["x1", "x2"]:
        return X
    unknown = [n for n in names if n not in FEATURES]
    if unknown or not names:
        raise ValueError(f"features must be some of {list(FEATURES)}, got {list(names)}")
    x1, x2 = X[:, 0], X[:, 1]
    return np.stack([FEATURES[n][1](x1, x2) for n in names], axis=1).astype(X.dtype, copy=False)


def _features_code(names: list[str]) -> list[str]:
    """The export's definition of the same features (nothing for the plain inputs)."""
    if list(names) == ["x1", "x2"]:
        return []
    cols = ", ".join(FEATURES[n][2] for n in names)
    return [
        "",
        "def features(X):",
        f'    """The inputs the playground fed the network: {", ".join(names)}."""',
        "    x1, x2 = X[:, 0], X[:, 1]",
        f"    return np.stack([{cols}], axis=1).astype(X.dtype, copy=False)",
        "",
        "",
    ]


def _picture_bytes(values: np.ndarray, scale: float) -> str:
    """``values`` (a grid, rows from low x2 up) as base64 bytes q, value = (q - 127.5) / 127.5
    * scale (NaN as 0)."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=scale, neginf=-scale)
    q = np.clip(np.rint(127.5 + 127.5 * v / scale), 0, 255).astype(np.uint8)
    return base64.b64encode(q.tobytes()).decode("ascii")


def _picture_scale(values: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        m = float(np.nanmax(np.abs(values), initial=0.0)) if np.size(values) else 0.0
    return m if math.isfinite(m) and m > 0 else 1.0


def _grid(bounds: np.ndarray, r: int) -> np.ndarray:
    """r x r points over ``bounds`` (row i along x2 from low to high, column j along x1),
    as float32 of shape (r * r, 2)."""
    gx, gy = np.meshgrid(
        np.linspace(bounds[0, 0], bounds[0, 1], r), np.linspace(bounds[1, 0], bounds[1, 1], r)
    )
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


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
    features = list(config.features)
    sizes = [len(features), *config.hidden, classes]
    feature_lines = _features_code(features)
    if feature_lines:
        splits = [
            "train_set = (features(bundle.train[0]), bundle.train[1])",
            "test_set = (features(bundle.test[0]), bundle.test[1])",
        ]
        imports = ["import numpy as np", ""]
    else:
        splits = ["train_set, test_set = bundle.train, bundle.test"]
        imports = []
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
            *imports,
            "from descentlab import data, nn",
            "from descentlab.train import evaluate, fit",
            "",
            *feature_lines,
            (
                f"bundle = data.load({_py(p['dataset'])}, seed={config.seed}, val=0.0, "
                f"test={_py(p['test'])}{data_args})"
            ),
            *splits,
            f"nn.manual_seed({config.seed})",
            (
                f"model = nn.MLP({_py(sizes)}, activation={_py(config.activation)}, "
                f"dropout={_py(config.dropout)})"
            ),
            *note,
            "history = fit(",
            "    model, train_set, test_set,",
            f"    optimizer={_py(p['optimizer'])},",
            f"    epochs={config.max_epochs}, batch_size={config.batch_size},",
            f"    regularizer={_regularizer_code(config.l1, config.l2)},",
            f"    lr_scheduler={_py(p['schedule'])},",
            f"    seed={config.seed}, progress=False,",
            ")",
            "test = evaluate(model, test_set)",
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


# --------------------------------------------------------------------------- network readouts
def _linears(model: Any) -> list[Any]:
    from descentlab.nn import Linear

    return [m for m in model.children() if isinstance(m, Linear)]


def hidden_activations(model: Any, X: np.ndarray) -> tuple[list[np.ndarray], list[Any]]:
    """Each hidden layer's output (after its activation; eval mode, so no dropout) on the
    points ``X``, as float64 arrays of shape (n, units), and the model's Linear layers."""
    from descentlab.autograd import no_grad
    from descentlab.nn import Dropout, Linear

    was_training = model.training
    model.eval()
    outs: list[np.ndarray] = []
    try:
        with no_grad(), np.errstate(all="ignore"):
            x: Any = X
            modules = list(model.children())
            for i, module in enumerate(modules):
                x = module(x)
                last = i + 1 == len(modules)
                if not isinstance(module, (Linear, Dropout)) and not last:
                    outs.append(np.asarray(getattr(x, "data", x), dtype=np.float64))
    finally:
        model.train(was_training)
    return outs, _linears(model)


def weight_readouts(model: Any, threshold: float = SPARSITY_THRESHOLD) -> list[dict[str, Any]]:
    """Per weight matrix (``layer`` 1, 2, ...; biases left out, as L1 and L2 leave them) and
    for all of them (``layer`` 0): the L2 norm sqrt(sum w^2) and the share of |w| < threshold."""
    rows = []
    total_sq, total_small, total_n = 0.0, 0, 0
    for k, linear in enumerate(_linears(model), start=1):
        w = np.asarray(linear.weight.data, dtype=np.float64)
        with np.errstate(all="ignore"):
            sq = float(np.sum(w * w))
        small = int(np.count_nonzero(np.abs(w) < threshold))
        total_sq, total_small, total_n = total_sq + sq, total_small + small, total_n + w.size
        rows.append(
            {
                "layer": k,
                "fan_in": int(w.shape[1]),
                "fan_out": int(w.shape[0]),
                "l2_norm": clean(math.sqrt(sq)),
                "sparsity": small / w.size,
                "count": int(w.size),
            }
        )
    fan_in = rows[0]["fan_in"] if rows else 0
    fan_out = rows[-1]["fan_out"] if rows else 0
    rows.insert(
        0,
        {
            "layer": 0,
            "fan_in": fan_in,
            "fan_out": fan_out,
            "l2_norm": clean(math.sqrt(total_sq)),
            "sparsity": total_small / total_n if total_n else 0.0,
            "count": total_n,
        },
    )
    return rows


def _pictures_due(frame: int) -> set[str]:
    """The pictures a playing run's ``frame``-th frame carries: the boundary every
    TRAIN_PICTURE_EVERY frames, the network's pictures as often, half-way between."""
    due = set()
    if frame % TRAIN_PICTURE_EVERY == 0:
        due.add("boundary")
    if frame % TRAIN_PICTURE_EVERY == TRAIN_PICTURE_EVERY // 2:
        due.add("network")
    return due


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
    grid: np.ndarray  # the boundary's grid, as the network's inputs (features)
    neuron_grid: np.ndarray  # the pictures' grid, as the network's inputs
    test: tuple[np.ndarray, np.ndarray]  # the test split, as the network's inputs
    rows_sent: int = 0
    playing: bool = False
    finished_sent: bool = False
    ticked: bool = False  # the next frame is a tick's (not an answer to a request)
    frames: int = 0  # frames sent: which pictures a playing frame carries
    boundary_seconds: float = 0.0  # what the last boundary took
    network_seconds: float = 0.0  # what the last network pictures and confusion matrix took
    confusion: list[list[int]] = field(default_factory=list)


@lru_cache(maxsize=1)
def _eval_metrics_callback() -> Any:
    """A train.Callback class that measures the train set in eval mode after each epoch."""
    from descentlab.train import evaluate
    from descentlab.train.callbacks import Callback
    from descentlab.train.history import finite_or_none

    class EvalModeTrainMetrics(Callback):
        """Adds ``train_loss_eval`` and ``train_accuracy_eval`` to each epoch's record: the
        whole train set measured like the test set (dropout off, weights at epoch end)."""

        def __init__(self, X: np.ndarray, y: np.ndarray) -> None:
            self.X, self.y = X, y

        def on_epoch_end(self, trainer: Any, logs: dict[str, Any]) -> None:
            result = evaluate(trainer.model, (self.X, self.y), trainer.loss_fn, confusion=False)
            logs["train_loss_eval"] = finite_or_none(result["loss"])
            logs["train_accuracy_eval"] = finite_or_none(result.get("accuracy"))

    return EvalModeTrainMetrics


class Session:
    """Everything one tab owns. ``handle(msg)`` and ``tick()`` return messages to send."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.race: _Race | None = None
        self.train: _Train | None = None
        self.lr_config: LrConfig | None = None
        self.lr_start: list[float] | None = None
        self.landscape: LandscapeLab | None = None  # the Network-landscape tab's run
        self.cancelled = threading.Event()

    # ------------------------------------------------------------------ dispatch
    @property
    def playing(self) -> bool:
        """True while the race or the training run should advance by itself."""
        return bool(
            (self.race and self.race.playing)
            or (self.train and self.train.playing)
            or (self.landscape and self.landscape.busy)
        )

    @property
    def light_tick(self) -> bool:
        """True when the next frame is a few race steps only (no training to advance)."""
        race = self.race
        if self.train is not None and self.train.playing:
            return False
        if self.landscape is not None and self.landscape.busy:
            return False
        return race is None or race.config.steps_per_frame * len(race.runners) <= LIGHT_STEPS

    def pause(self) -> None:
        """Stop every run from advancing by itself."""
        if self.race is not None:
            self.race.playing = False
        if self.train is not None:
            self.train.playing = False
        if self.landscape is not None:
            self.landscape.halt()

    def pause_race_now(self) -> None:
        """Pause the race at once: safe from the server's event loop while a frame is
        stepping in a worker thread; that frame stops at its next step and is not sent."""
        race = self.race
        if race is not None:
            race.playing = False

    def cancel(self) -> None:
        """Stop all work: safe from another thread; the running frame ends at its next step."""
        self.cancelled.set()

    def close(self) -> None:
        """Drop the runs (the connection ended)."""
        self.cancelled.set()
        self.race = None
        self.train = None
        self.lr_config = None
        self.landscape = None

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
        if isinstance(msg, (LandscapeStart, LandscapeControl)):
            return self.handle_landscape(msg)
        raise ProtocolError(f"unsupported message {type(msg).__name__}", "type")

    def tick(self) -> list[dict[str, Any]]:
        """Advance every playing run by one frame; the frames to send."""
        out: list[dict[str, Any]] = []
        if self.cancelled.is_set():
            return out
        race = self.race
        if race is not None and race.playing:
            self._advance_race(
                race, race.config.steps_per_frame, self.cancelled, RACE_FRAME_SECONDS
            )
            done = self._race_done(race)
            # paused mid-frame: no frame after the pause; its steps go in the next frame
            if race.playing or done:
                out.append(self._race_frame(race))
            if done:
                race.playing = False
        train = self.train
        if train is not None and train.playing:
            self._advance_train(train, train.config.epochs_per_frame, self.cancelled)
            out.append(self._train_frame(train))
            if train.trainer.done:
                train.playing = False
        if self.landscape is not None and self.landscape.busy:
            out.extend(self.landscape.tick())
        return out

    # ------------------------------------------------------------------ network landscape
    def handle_landscape(self, msg: LandscapeStart | LandscapeControl) -> list[dict[str, Any]]:
        """landscape.start and landscape.control (see :mod:`descentlab.web.landscape_session`)."""
        from descentlab.web.landscape_session import LandscapeLab

        if isinstance(msg, LandscapeStart):
            self.landscape = LandscapeLab(msg.config, self.cancelled)
        elif self.landscape is None:
            raise ProtocolError(
                "landscape.control: no run yet; send landscape.start first",
                "action",
                "landscape.control",
            )
        else:
            self.landscape = self.landscape.control(msg.action, msg.steps_per_frame)
        return [self.landscape.frame()]

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
    def _advance_race(
        race: _Race, steps: int, stop: threading.Event, budget: float | None = None
    ) -> int:
        """Advance the race's runners by up to ``steps`` steps, all together a chunk of
        steps at a time, and queue every new position for the next frame; the steps made.

        It stops early when ``stop`` is set and, for a playing race (``budget`` given),
        when the race is paused (the pause is seen between two chunks) or when ``budget``
        seconds have gone, once ``RACE_FRAME_MIN_RUNNER_STEPS`` runner steps are made (or
        ``RACE_FRAME_MAX_SECONDS`` have gone, whatever was made). A chunk is one
        ``Runner.step(k)`` per runner; its size comes from the time of the previous chunk
        (``_race_chunk``), so the budget holds as with single steps."""
        t0 = time.perf_counter()
        active = [i for i, runner in enumerate(race.runners) if not runner.done]
        floor = min(steps, -(-RACE_FRAME_MIN_RUNNER_STEPS // max(1, len(active))))
        if max((r.t for r in race.runners), default=0) >= RACE_COMPILE_AFTER_STEPS:
            for i in active:  # compiled steps once loaded: compiling goes on in the background
                race.runners[i].prepare_compiled()
        made = 0
        per_step: float | None = None  # seconds per race step, from the last chunk
        while made < steps and active and not stop.is_set():
            elapsed = time.perf_counter() - t0
            if budget is not None:
                late = (made >= floor and elapsed > budget) or (
                    made > 0 and elapsed > RACE_FRAME_MAX_SECONDS
                )
                if late or not race.playing:
                    break
            n = Session._race_chunk(race, steps - made, made, floor, elapsed, per_step, budget)
            c0 = time.perf_counter()
            longest = 0
            for i in active:
                runner = race.runners[i]
                runner.keep_steps = True
                runner.step(n)
                pos, val = runner.last_steps
                race.pending[i].extend(pos[:, 0])
                race.pending_f[i].extend(val[:, 0].tolist())
                longest = max(longest, len(pos))
            per_step = (time.perf_counter() - c0) / n
            made += longest
            active = [i for i in active if not race.runners[i].done]
        return made

    @staticmethod
    def _race_chunk(
        race: _Race,
        left: int,
        made: int,
        floor: int,
        elapsed: float,
        per_step: float | None,
        budget: float | None,
    ) -> int:
        """The steps of the next chunk: one while the race is young or the step time is not
        known yet; else what fits in the time left (before ``RACE_FRAME_MAX_SECONDS`` while
        under the floor, before ``budget`` after it) and in ``RACE_CHUNK_SECONDS``; never
        past the floor before reaching it, at least one."""
        if per_step is None or max((r.t for r in race.runners), default=0) < RACE_SINGLE_STEPS:
            return 1
        room = RACE_CHUNK_SECONDS
        if budget is not None:
            limit = RACE_FRAME_MAX_SECONDS if made < floor else budget
            room = min(room, limit - elapsed)
        n = int(room / per_step) if per_step > 0 else left
        n = max(1, min(n, left))
        if made < floor:
            n = min(n, floor - made)
        return n

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
        names = list(config.features)
        train_set = (features_of(bundle.train[0], names), bundle.train[1])
        test_set = (features_of(bundle.test[0], names), bundle.test[1])
        with _MODEL_LOCK:
            nn.manual_seed(config.seed)
            model = nn.MLP(
                [len(names), *config.hidden, classes],
                activation=config.activation,
                dropout=config.dropout,
            )
        regularizer = nn.penalty(config.l1, config.l2)
        try:
            trainer = Trainer(
                model,
                train_set,
                test_set,
                callbacks=[_eval_metrics_callback()(*train_set)],
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
        grid = features_of(_grid(bounds, r), names)
        neuron_grid = features_of(_grid(bounds, NEURON_RESOLUTION), names)
        return _Train(config, bundle, model, trainer, classes, bounds, grid, neuron_grid, test_set)

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
            "features": list(config.features),
            "resolution": NEURON_RESOLUTION,
            "inputs": self._input_pictures(train),
        }
        return [data_msg, self._train_frame(train)]

    @staticmethod
    def _input_pictures(train: _Train) -> list[dict[str, Any]]:
        """Every input feature the tab offers, over the pictures' grid."""
        plane = _grid(train.bounds, NEURON_RESOLUTION)
        out = []
        for name, (label, fn, _code) in FEATURES.items():
            with np.errstate(all="ignore"):
                values = np.asarray(fn(plane[:, 0], plane[:, 1]), dtype=np.float64)
            scale = _picture_scale(values)
            out.append(
                {
                    "name": name,
                    "label": label,
                    "used": name in train.config.features,
                    "scale": scale,
                    "values": _picture_bytes(values, scale),
                }
            )
        return out

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
        """Train up to ``epochs`` more epochs, one mini-batch at a time, until the frame's
        budget (TRAIN_FRAME_SECONDS, less what the pictures due in this frame took last
        time) is spent: an epoch cut here goes on from its next batch at the next frame.
        The budget cuts no frame before TRAIN_FRAME_MIN_WORK (so a small network's few
        steps a frame are never cut short)."""
        t0 = time.perf_counter()
        trainer = train.trainer
        train.ticked = True
        per_step = max(1, min(train.config.batch_size, len(trainer.loader.y))) * max(
            1, int(train.model.num_parameters())
        )
        floor = max(1, TRAIN_FRAME_MIN_WORK // per_step)
        made = 0
        budget = TRAIN_FRAME_SECONDS
        due = _pictures_due(train.frames + 1)
        spent = (train.boundary_seconds if "boundary" in due else 0.0) + (
            train.network_seconds if "network" in due else 0.0
        )
        budget -= min(spent, 0.7 * TRAIN_FRAME_SECONDS)
        target = trainer.epoch + epochs
        # a pause set from another thread (between two batches) ends the frame's work too
        while not trainer.done and trainer.epoch < target and train.playing and not stop.is_set():
            made += len(trainer.advance(1, stop_at_epoch_end=True))
            if made >= floor and time.perf_counter() - t0 > budget:
                break

    def _train_frame(self, train: _Train) -> dict[str, Any]:
        """The run as it is now. A tick's frame (``tick``: true) carries the decision
        boundary, the test confusion matrix and the network's pictures only every
        TRAIN_PICTURE_EVERY frames (see :func:`_pictures_due`) and at the end; an answer to
        a request always does."""
        trainer = train.trainer
        tick, train.ticked = train.ticked, False
        train.frames += 1
        due = (
            _pictures_due(train.frames)
            if tick and not trainer.done and train.confusion
            else {"boundary", "network"}
        )
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
                "train_loss_eval": row.get("train_loss_eval"),
                "train_accuracy_eval": row.get("train_accuracy_eval"),
            }
            for row in rows
        ]
        boundary = network = None
        if "boundary" in due:
            t0 = time.perf_counter()
            boundary = self._boundary(train)
            train.boundary_seconds = time.perf_counter() - t0
        if "network" in due:
            t0 = time.perf_counter()
            network = self._network_picture(train)
            train.confusion = self._confusion(train)
            train.network_seconds = time.perf_counter() - t0
        return {
            "type": "train.frame",
            "epoch": int(trainer.epoch),
            "step": int(trainer.global_step),
            "done": bool(trainer.done),
            "stop_reason": trainer.history.stop_reason or "",
            "history": history,
            "boundary": boundary,
            "network": network,
            "confusion": train.confusion,
            "readouts": weight_readouts(train.model),
            "sparsity_threshold": SPARSITY_THRESHOLD,
            "tick": tick,
        }

    @staticmethod
    def _boundary(train: _Train) -> dict[str, Any]:
        from descentlab.autograd import Tensor
        from descentlab.nn import functional as F
        from descentlab.train import predict

        r = round(math.sqrt(len(train.grid)))
        with np.errstate(all="ignore"):
            logits = predict(train.model, train.grid)
            probs = np.asarray(F.softmax(Tensor(logits), axis=1).data, dtype=np.float64)
        argmax = probs.argmax(axis=1)
        confidence = probs.max(axis=1)
        return {
            "resolution": r,
            "classes": train.classes,
            "probs": clean(np.round(probs, 4).reshape(r, r, train.classes)),
            "argmax": argmax.astype(int).tolist(),
            "confidence": clean(np.round(confidence, 4)),
        }

    @staticmethod
    def _confusion(train: _Train) -> list[list[int]]:
        from descentlab.train import evaluate

        test = evaluate(train.model, train.test, loss="cross_entropy")
        return np.asarray(test["confusion_matrix"]).astype(int).tolist()

    @staticmethod
    def _network_picture(train: _Train) -> dict[str, Any]:
        """Each hidden layer's first NEURONS_SHOWN units over the plane (their activations
        in eval mode on the pictures' grid, one scale per layer) and the weights between
        the units shown."""
        hidden, linears = hidden_activations(train.model, train.neuron_grid)
        layers = []
        shown_in = train.neuron_grid.shape[1]
        for a, linear in zip(hidden, linears):
            shown = min(a.shape[1], NEURONS_SHOWN)
            scale = _picture_scale(a[:, :shown])
            w = np.asarray(linear.weight.data, dtype=np.float64)[:shown, :shown_in]
            layers.append(
                {
                    "units": int(a.shape[1]),
                    "shown": shown,
                    "scale": scale,
                    "values": [_picture_bytes(a[:, j], scale) for j in range(shown)],
                    "weights": clean(np.round(w, 5)),
                }
            )
            shown_in = shown
        out_w = np.asarray(linears[-1].weight.data, dtype=np.float64)[:, :shown_in]
        return {
            "resolution": NEURON_RESOLUTION,
            "layers": layers,
            "output_weights": clean(np.round(out_w, 5)),
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

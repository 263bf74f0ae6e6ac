"""Shared pieces of the pictures: the palette, figure creation, saving, labels, clipping.

Only :mod:`descentlab.viz` imports matplotlib, and never ``pyplot``: every figure is a
``matplotlib.figure.Figure`` drawn by the Agg renderer, so nothing opens a window and a
user's interactive backend is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from descentlab._atomic import atomic_write

#: One colour per optimizer registry name (colour-blind-friendly, Okabe-Ito / Tableau).
PALETTE: dict[str, str] = {
    "sgd": "#d62728",
    "momentum": "#1f77b4",
    "nesterov": "#17becf",
    "adagrad": "#2ca02c",
    "adagrad_norm": "#8c564b",
    "adadelta": "#9467bd",
    "rmsprop": "#ff7f0e",
    "adam": "#e377c2",
    "adamw": "#7f7f7f",
    "nadam": "#bcbd22",
    # newer update rules: the darker and lighter shades of the same Tableau set
    "adamax": "#aa4499",
    "radam": "#f7b6d2",
    "rprop": "#98df8a",
    "asgd": "#ff9896",
    "lion": "#393b79",
    "schedulefree_sgd": "#ad494a",
    "schedulefree_adamw": "#5254a3",
    "prodigy": "#e6550d",
    "adafactor": "#637939",
    "muon": "#843c39",
    "lbfgs": "#3182bd",
}
#: Colours for runs that are not told apart by optimizer (learning rates, batch sizes...).
CYCLE: tuple[str, ...] = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)

DPI = 120
STATIC_SUFFIXES = (".png", ".svg", ".pdf")
ANIMATION_SUFFIXES = (".gif", ".mp4")

#: Status -> marker drawn at the end of a path.
END_MARKERS = {"converged": "o", "max_steps": "s", "diverged": "X", "running": "o"}


def optimizer_color(name: str | None, index: int = 0) -> str:
    """The palette colour of an optimizer name (registry names and aliases), else a cycle one."""
    key = _key(name)
    if key in PALETTE:
        return PALETTE[key]
    return CYCLE[index % len(CYCLE)]


def run_colors(labels: Sequence[str], optimizers: Sequence[str | None]) -> list[str]:
    """One colour per run: its optimizer's palette colour when every run has its own
    optimizer, else colours from :data:`CYCLE` in order (e.g. one optimizer, several lr)."""
    keys = [_key(o) for o in optimizers]
    if len(set(keys)) == len(keys) and all(k in PALETTE for k in keys):
        return [PALETTE[k] for k in keys]
    return [CYCLE[i % len(CYCLE)] for i in range(len(labels))]


def _key(name: str | None) -> str:
    key = (name or "").lower().replace("-", "_").replace(" ", "_")
    return {"gd": "sgd", "nag": "nesterov", "heavyball": "momentum"}.get(key, key)


def check_out(
    out: str | os.PathLike[str] | None, kinds: Sequence[str] = STATIC_SUFFIXES
) -> Path | None:
    """Validate the output file name early (before any work) and return it as a Path."""
    if out is None:
        return None
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a file name (str or Path), got {type(out).__name__}")
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in kinds:
        raise ValueError(
            f"cannot write {str(path)!r}: unknown file type {suffix or '(none)'!r}; expected a "
            f"name ending in one of {', '.join(kinds)}"
        )
    return path


def new_figure(width: float, height: float, dpi: int = DPI) -> Any:
    """A pyplot-free Figure with an Agg canvas and constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Any, out: str | os.PathLike[str] | None) -> Any:
    """Save ``fig`` to ``out`` (PNG, SVG or PDF by suffix) if given; return the figure.

    The file is written atomically (temporary file beside it, fsync, ``os.replace``).
    """
    import matplotlib

    path = check_out(out)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with (
            matplotlib.rc_context({"svg.hashsalt": "descentlab"}),
            atomic_write(path, "wb") as f,
        ):  # reproducible SVG ids; never a torn file
            fig.savefig(f, format=path.suffix.lower()[1:], dpi=fig.dpi, metadata=_metadata(path))
    return fig


def _metadata(path: Path) -> dict[str, Any]:
    # reproducible files: no creation date in PNG/SVG/PDF
    suffix = path.suffix.lower()
    if suffix == ".png":
        return {"Software": "descentlab"}
    if suffix == ".svg":
        return {"Date": None}
    return {"CreationDate": None}


def fmt(v: Any) -> str:
    """A short number: 0.01, 1e-05, 0.9, 300."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    try:
        return f"{float(v):.3g}"
    except (TypeError, ValueError):
        return str(v)


_SYMBOLS = {
    "lr": "η",
    "momentum": "β",
    "alpha": "α",
    "rho": "ρ",
    "eps": "ε",
    "beta1": "β1",
    "beta2": "β2",
    "weight_decay": "λ",
}


def settings_text(settings: Mapping[str, Any]) -> str:
    """``{"lr": 0.01, "momentum": 0.9}`` -> ``"η=0.01, β=0.9"`` (lecture notation)."""
    parts = []
    for key, val in settings.items():
        if key in ("optimizer", "nesterov") or val is None:
            continue
        parts.append(f"{_SYMBOLS.get(key, key)}={fmt(val)}")
    return ", ".join(parts)


def result_settings(result: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters a Result can tell: its lr, the preset of its optimizer name, and
    a ``hyperparameters`` dict when the Result carries one."""
    out: dict[str, Any] = {}
    lr = result.get("lr")
    if lr is not None and np.size(lr) == 1:
        out["lr"] = float(np.ravel(lr)[0])
    name = result.get("optimizer")
    if name:
        try:
            from descentlab.optim import get

            out.update({k: v for k, v in get(name).defaults.items() if k != "nesterov"})
        except (ValueError, TypeError):
            pass
    extra = result.get("hyperparameters")
    if isinstance(extra, Mapping):
        out.update(extra)
    return out


def run_label(label: str, result: Mapping[str, Any]) -> str:
    """Legend text: the label and its hyperparameters, e.g. ``momentum (η=0.01, β=0.9)``."""
    if any(s in label for s in ("=", "η")):
        return label
    text = settings_text(result_settings(result))
    return f"{label} ({text})" if text else label


def as_runs(results: Any) -> list[tuple[str, Any]]:
    """Normalize a Result, a list of Results or a dict label -> Result to (label, Result) pairs.

    A batched Result (N runs) is split into its N runs.
    """
    if results is None:
        return []
    if isinstance(results, Mapping) and "nit" in results and "x" in results:
        return _split(str(results.get("optimizer") or "run"), results)
    if isinstance(results, Mapping):
        pairs = list(results.items())
    elif isinstance(results, (list, tuple)):
        pairs = [(str(r.get("optimizer") or f"run {i}"), r) for i, r in enumerate(results)]
    else:
        raise TypeError(
            f"results must be a Result, a list of Results or a dict label -> Result, got "
            f"{type(results).__name__}"
        )
    out: list[tuple[str, Any]] = []
    for label, res in pairs:
        if not (isinstance(res, Mapping) and "nit" in res):
            raise TypeError(f"run {label!r} is not a Result (got {type(res).__name__})")
        out.extend(_split(str(label), res))
    return out


def _split(label: str, res: Any) -> list[tuple[str, Any]]:
    if np.ndim(res["nit"]) == 0:
        return [(label, res)]
    n = res.n_runs
    return [(f"{label} #{i}", res.run(i)) for i in range(n)]


def path_of(result: Mapping[str, Any]) -> np.ndarray:
    """The recorded positions of a single run, shape (T+1, D) (the end point if unrecorded)."""
    traj = result.get("trajectory")
    if traj is None:
        return np.atleast_2d(np.asarray(result["x"], dtype=np.float64))
    pos = np.asarray(traj.positions, dtype=np.float64)
    return pos.reshape(len(pos), -1)


def values_of(result: Mapping[str, Any]) -> np.ndarray:
    traj = result.get("trajectory")
    if traj is None:
        return np.atleast_1d(np.asarray(result["fun"], dtype=np.float64))
    return np.asarray(traj.values, dtype=np.float64).reshape(-1)


def clip_path(P: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, int | None]:
    """Cut a path where it first leaves the box [lo, hi] (or stops being finite).

    Returns the visible part, ending on the box's edge where it left, and the step at
    which it left (None when it stays inside).
    """
    with np.errstate(all="ignore"):
        inside = np.isfinite(P).all(axis=1) & (P >= lo).all(axis=1) & (P <= hi).all(axis=1)
    if inside.all():
        return P, None
    k = int(np.argmin(inside))
    if k == 0:
        return P[:0], 0
    a, b = P[k - 1], P[k]
    if np.isfinite(b).all():
        d = b - a
        with np.errstate(all="ignore"):
            t_hi = np.where(d > 0, (hi - a) / d, np.inf)
            t_lo = np.where(d < 0, (lo - a) / d, np.inf)
        t = float(np.clip(np.min(np.minimum(t_hi, t_lo)), 0.0, 1.0))
        edge = a + t * d
    else:
        edge = a
    return np.vstack([P[:k], edge[None]]), k


def view_box(f: Any, paths: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, np.ndarray]:
    """The plot box: the landscape's bounds, else a box around the finite path points."""
    if getattr(f, "bounds", None) is not None:
        b = np.asarray(f.bounds, dtype=np.float64)
        return b[:, 0].copy(), b[:, 1].copy()
    pts = [p[np.isfinite(p).all(axis=1)] for p in paths]
    pts = [p for p in pts if len(p)]
    if not pts:
        return -2 * np.ones(f.dim), 2 * np.ones(f.dim)
    allp = np.vstack(pts)
    lo, hi = np.percentile(allp, 2, axis=0), np.percentile(allp, 98, axis=0)
    pad = np.maximum(0.15 * (hi - lo), 0.5)
    return lo - pad, hi + pad


def short_status(result: Mapping[str, Any], left: int | None = None) -> str:
    """One line: ``converged in 12 steps`` / ``diverged at step 3`` / ``oscillates`` ..."""
    status = str(result.get("status", ""))
    nit = int(np.ravel(result.get("nit", 0))[0])
    msg = str(result.get("message", ""))
    if status == "converged":
        return f"converged in {nit} steps"
    if status == "diverged":
        text = (
            msg.split(":")[0] if msg.startswith("diverged at step") else f"diverged at step {nit}"
        )
        if left is not None and f"step {left}" not in text:
            text += f" (left the plot at step {left})"
        return text
    if "oscillate" in msg:
        return f"oscillates: no progress after {nit} steps"
    if status == "max_steps":
        if left is not None:
            return f"left the plot at step {left}; not converged after {nit} steps"
        fun = np.ravel(result.get("fun", np.nan))[0]
        return f"not converged after {nit} steps: f = {fmt(fun)}"
    return status

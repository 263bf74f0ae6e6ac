"""Pictures of a network's loss landscape: planes with the training path, lines, sharpness.

* :func:`plot_network_landscape` - contours of ``landscapes.of_model(...)`` (one panel per
  landscape), the projected training path and, for PCA directions, the variance each
  axis explains in its label;
* :func:`plot_interpolation` - loss and accuracy along straight lines in weight space
  (Goodfellow et al. 2015);
* :func:`plot_sharpness` - lambda_max against epochs with the line 2 / eta (Cohen et al.
  2021, the edge of stability);
* :func:`surface_report` - one self-contained HTML page (images inlined) with a table.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from descentlab._atomic import atomic_write_text
from descentlab.viz._common import CYCLE, check_out, fmt, new_figure, optimizer_color, save
from descentlab.viz._layout import nice_ticks
from descentlab.viz.landscape import CMAP, contour_levels, grid_values

__all__ = ["plot_interpolation", "plot_network_landscape", "plot_sharpness", "surface_report"]

OutPath = str | os.PathLike[str] | None


def _axis_label(f: Any, i: int) -> str:
    ev = getattr(f, "explained_variance", None)
    name = ("a", "b")[i]
    if ev is not None:
        return f"{name}: PCA direction {i + 1} ({100 * float(ev[i]):.1f}% of the path's variance)"
    kind = getattr(f, "kind", "")
    return f"{name}: {kind} direction d{i + 1}" if kind else name


def draw_network_landscape(
    ax: Any,
    f: Any,
    *,
    resolution: int = 41,
    levels: int = 25,
    color: str = "white",
    label: str | None = None,
) -> Any:
    """Contours of one network landscape on ``ax``, its path, its center; returns the contours."""
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm

    lo, hi = f.bounds[:, 0], f.bounds[:, 1]
    xs, ys, Z = grid_values(f, lo, hi, resolution)
    lv = contour_levels(Z, levels, True)
    cmap = colormaps[CMAP]
    Zp = np.where(np.isfinite(Z), Z, lv[-1])
    cs = ax.contourf(xs, ys, Zp, levels=lv, cmap=cmap, norm=BoundaryNorm(lv, cmap.N), extend="max")
    ax.contour(xs, ys, Zp, levels=lv, colors="white", linewidths=0.4, alpha=0.5)
    cb = ax.figure.colorbar(cs, ax=ax, shrink=0.9, pad=0.01)
    ticks = nice_ticks(lv, True)
    cb.set_ticks(ticks)
    cb.minorticks_off()
    cb.set_ticklabels([fmt(t) for t in ticks])
    cb.set_label(f"{f.loss_name} (log-spaced levels)")
    path = getattr(f, "path_2d", None)
    if path is not None and len(path):
        ax.plot(path[:, 0], path[:, 1], "-", color="black", lw=3.2, alpha=0.6)
        ax.plot(path[:, 0], path[:, 1], "-o", color=color, lw=1.6, ms=3.2, label=label or "path")
        ax.plot(*path[0], "o", ms=8, mfc="white", mec="black", label="start")
    ax.plot(0, 0, "*", ms=15, color="gold", mec="black", label="center (the solution)")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel(_axis_label(f, 0))
    ax.set_ylabel(_axis_label(f, 1))
    ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
    return cs


def plot_network_landscape(
    landscapes: Any,
    *,
    resolution: int = 41,
    levels: int = 25,
    out: OutPath = None,
    title: str | None = None,
) -> Any:
    """Contours of one network landscape, or of several side by side (a dict label -> f).

    Each panel shows L(center + a d1 + b d2) on log-spaced levels, the training path
    projected onto the plane (white, from the open circle) and the center (gold star).
    For PCA directions the axis labels give the fraction of the path's variance each
    direction explains (Li et al. 2018, Fig. 9). Returns the Figure.
    """
    check_out(out)
    items = list(landscapes.items()) if isinstance(landscapes, Mapping) else [("", landscapes)]
    for label, f in items:
        if getattr(f, "dim", None) != 2 or getattr(f, "bounds", None) is None:
            raise TypeError(f"{label or 'landscape'}: expected a 2-D landscape from of_model")
    fig = new_figure(5.6 * len(items), 4.8)
    axes = fig.subplots(1, len(items), squeeze=False)[0]
    for ax, (label, f) in zip(axes, items):
        draw_network_landscape(
            ax, f, resolution=resolution, levels=levels, color=optimizer_color(label or None)
        )
        ax.set_title(
            f"{label + ': ' if label else ''}{f.loss_name} around the solution "
            f"({f.samples} samples)",
            fontsize=10,
        )
    if title:
        fig.suptitle(title)
    return save(fig, out)


def _curves(curves: Any) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    items = list(curves.items()) if isinstance(curves, Mapping) else [("", curves)]
    out = []
    for label, c in items:
        alphas, loss, acc = (np.asarray(v, dtype=np.float64) for v in c)
        if not alphas.shape == loss.shape == acc.shape or alphas.ndim != 1:
            raise ValueError(
                f"{label or 'curve'}: alphas, loss and accuracy must be 1-D of one length"
            )
        out.append((str(label), alphas, loss, acc))
    return out


def plot_interpolation(
    curves: Any,
    *,
    out: OutPath = None,
    title: str | None = None,
    ends: tuple[str, str] = ("θ_a", "θ_b"),
) -> Any:
    """Loss (log scale) and accuracy along theta(alpha) = (1 - alpha) theta_a + alpha theta_b.

    ``curves`` is the ``(alphas, loss, accuracy)`` of :func:`landscapes.interpolate`, or a
    dict label -> such triples; alpha = 0 and 1 are marked with ``ends``' names.
    """
    check_out(out)
    items = _curves(curves)
    has_acc = any(np.isfinite(acc).any() for *_, acc in items)
    fig = new_figure(10.0 if has_acc else 5.8, 4.0)
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    used: list[str] = []
    for i, (label, alphas, loss, acc) in enumerate(items):
        color = optimizer_color(label.split()[0] if label else None, i)
        style = "-"
        if color in used:  # a second line of the same optimizer: the next free colour, dashed
            color = next((c for c in CYCLE if c not in used), "black")
            style = "--"
        used.append(color)
        axes[0].plot(alphas, loss, style, color=color, lw=1.8, label=label or None)
        if has_acc:
            axes[1].plot(alphas, acc, style, color=color, lw=1.8, label=label or None)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("loss (log scale)")
    if has_acc:
        axes[1].set_ylabel("accuracy")
        axes[1].set_ylim(-0.02, 1.02)
    for ax in axes:
        for x, name in zip((0.0, 1.0), ends):
            ax.axvline(x, color="0.5", lw=0.8, ls=":")
            ax.annotate(
                name,
                (x, 1.0),
                xycoords=("data", "axes fraction"),
                ha="center",
                va="bottom",
                fontsize=9,
            )
        ax.set_xlabel("α  (θ = (1 − α) θ_a + α θ_b)")
        ax.grid(alpha=0.3)
        if any(label for label, *_ in items):
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save(fig, out)


def _sharpness_runs(runs: Any) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    items = list(runs.items()) if isinstance(runs, Mapping) else [("", runs)]
    out = []
    for label, r in items:
        if hasattr(r, "values") and hasattr(r, "epochs"):
            epochs, values, lrs = r.epochs, r.values, r.lrs
        else:
            epochs, values, lrs = r
        e, v, lr = (np.asarray(x, dtype=np.float64) for x in (epochs, values, lrs))
        if not e.shape == v.shape == lr.shape:
            raise ValueError(f"{label or 'run'}: epochs, values and lrs must have one length")
        out.append((str(label), e, v, lr))
    return out


def plot_sharpness(runs: Any, *, out: OutPath = None, title: str | None = None) -> Any:
    """lambda_max (top Hessian eigenvalue) against epochs, with 2 / eta dashed in the same colour.

    ``runs`` is a ``train.callbacks.SharpnessTracker`` (or ``(epochs, values, lrs)``), or a
    dict label -> those. Gradient descent on a quadratic is stable while lambda_max <
    2 / eta; under full-batch GD a network sharpens until it meets that line and hovers
    there (the edge of stability, Cohen et al. 2021). For an adaptive optimizer, 2 / eta
    is not the stability limit (its step is preconditioned): the line is drawn thinner.
    """
    check_out(out)
    items = _sharpness_runs(runs)
    fig = new_figure(6.6, 4.2)
    ax = fig.add_subplot()
    for i, (label, e, v, lr) in enumerate(items):
        color = optimizer_color(label.split()[0] if label else None, i)
        ax.plot(
            e, v, "-o", ms=3, color=color, lw=1.8, label=f"{label + ': ' if label else ''}λ_max"
        )
        adaptive = (
            label.split()[0].lower().startswith(("adam", "rmsprop", "adagrad", "adadelta"))
            if label
            else False
        )
        ax.plot(
            e,
            2 / lr,
            "--",
            color=color,
            lw=0.9 if adaptive else 1.5,
            label=f"{label + ': ' if label else ''}2/η = {fmt(2 / lr[-1])}",
        )
    shown = np.concatenate([np.r_[v, 2 / lr] for _, _, v, lr in items])
    shown = shown[np.isfinite(shown) & (shown > 0)]
    log = shown.size > 0 and shown.max() / shown.min() > 30
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("top Hessian eigenvalue λ_max" + (" (log scale)" if log else ""))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(
        title or "Sharpness against the stability limit 2/η of gradient descent", fontsize=10
    )
    return save(fig, out)


def _inline(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    kind = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif"}.get(
        path.suffix.lower(), "application/octet-stream"
    )
    return f"data:{kind};base64,{data}"


_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2rem auto;
       max-width: 1150px; color: #222; line-height: 1.45; padding: 0 1rem; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: .3rem .8rem; text-align: right; }
th { background: #f4f6f8; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .92rem; }
"""


def surface_report(
    directory: str | os.PathLike[str],
    figures: Mapping[str, str | os.PathLike[str]],
    table: Mapping[str, Mapping[str, Any]],
    *,
    title: str = "Loss landscapes",
    intro: str = "",
) -> Path:
    """Write ``directory/index.html``: a table (row label -> {column: value}) and the figures.

    Images are inlined (base64), so the page is one self-contained file that can be
    mailed or opened anywhere; the image files stay beside it too. Returns its path.
    """
    root = Path(directory)
    cols: list[str] = []
    for row in table.values():
        cols.extend(c for c in row if c not in cols)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *cols])

    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return fmt(float(v)) if np.isfinite(v) else str(float(v))
        return html.escape(str(v))

    body = "".join(
        f"<tr><td>{html.escape(str(k))}</td>"
        + "".join(f"<td>{cell(r.get(c, ''))}</td>" for c in cols)
        + "</tr>"
        for k, r in table.items()
    )
    parts = []
    for caption, path in figures.items():
        p = Path(path)
        cap = html.escape(str(caption))
        parts.append(
            f'<figure><img src="{_inline(p)}" alt="{cap}"><figcaption>{cap}</figcaption></figure>'
        )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        + (f"<p>{html.escape(intro)}</p>\n" if intro else "")
        + f"<table><tr>{head}</tr>{body}</table>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
    out = root / "index.html"
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, page)
    return out


# ---------------------------------------------------------------------------------------
# the examples drawn by the gallery and the demo
# ---------------------------------------------------------------------------------------
def digits_example(
    hidden: int = 64,
    epochs: int = 10,
    samples: int = 1000,
    optimizers: Mapping[str, float] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """SGD and Adam (by default) from one initialization on the digits: for each, the PCA
    landscape of its path; and the interpolation lines init -> each and between them.

    Returns ``{"landscapes": {name: f}, "lines": {label: (alphas, loss, accuracy)}}``.
    """
    from descentlab import data, landscapes, nn
    from descentlab.landscapes.network import flat_weights, set_flat_weights
    from descentlab.train import fit
    from descentlab.train.callbacks import WeightSnapshots

    bundle = data.load("digits", seed=seed)
    assert bundle.num_classes is not None
    sizes = [bundle.num_features, hidden, bundle.num_classes]
    nn.manual_seed(seed)
    init = flat_weights(nn.MLP(sizes))
    sample = (bundle.train, samples, seed)
    found: dict[str, Any] = {}
    models: dict[str, Any] = {}
    for name, lr in (optimizers or {"sgd": 0.1, "adam": 1e-3}).items():
        model = nn.MLP(sizes)
        set_flat_weights(model, init)
        snaps = WeightSnapshots()
        fit(
            model,
            bundle.train,
            optimizer=name,
            lr=lr,
            epochs=epochs,
            batch_size=32,
            callbacks=[snaps],
            seed=seed,
            progress=False,
        )
        found[name] = landscapes.of_model(
            model, sample[0], directions="pca", path=snaps, batch=sample[1], seed=sample[2]
        )
        models[name] = model
    lines = {
        f"{name} init → solution": landscapes.interpolate(
            m, init, flat_weights(m), sample[0], batch=sample[1], seed=sample[2]
        )
        for name, m in models.items()
    }
    names = list(models)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            lines[f"{a} → {b}"] = landscapes.interpolate(
                models[a], models[a], models[b], sample[0], batch=sample[1], seed=sample[2]
            )
    return {"landscapes": found, "lines": lines}


def edge_of_stability_example(epochs: int = 300, every: int = 5, lr: float = 0.4) -> Any:
    """Full-batch gradient descent with step ``lr`` on a tanh MLP 2-32-32-2 fitting one-hot
    targets of 64 moons points with the MSE loss; returns its ``SharpnessTracker``."""
    from descentlab import data, nn
    from descentlab.train import fit
    from descentlab.train.callbacks import SharpnessTracker

    X, y = data.load("moons", seed=0, n=64, noise=0.1).train
    X = X.astype(np.float64)
    targets = np.eye(2)[y]
    nn.manual_seed(0)
    model = nn.MLP([2, 32, 32, 2], activation="tanh", dtype=np.float64)
    tracker = SharpnessTracker((X, targets), every=every)
    fit(
        model,
        (X, targets),
        loss="mse",
        optimizer="sgd",
        lr=lr,
        epochs=epochs,
        batch_size=len(X),
        callbacks=[tracker],
        progress=False,
    )
    return tracker

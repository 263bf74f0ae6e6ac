"""Pictures of landscapes: contours with optimizer paths, 3-D surfaces, basins, penalties.

Every function takes a landscape (or a registry name / formula), returns the matplotlib
``Figure`` and saves it when ``out`` names a ``.png``, ``.svg`` or ``.pdf`` file.

>>> from descentlab import landscapes, viz
>>> runs = landscapes.race("beale", [1.0, 1.5], {"sgd": {"lr": 1e-3}, "adam": {"lr": 0.05}},
...                        steps=300)
>>> fig = viz.plot_landscape("beale", runs)          # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from descentlab.viz._common import (
    as_runs,
    check_out,
    clip_path,
    fmt,
    new_figure,
    path_of,
    run_colors,
    run_label,
    save,
    view_box,
)
from descentlab.viz._layout import STEP_LABEL, nice_ticks, path_styles, tidy_labels

__all__ = [
    "plot_basins",
    "plot_gd_vs_sgd",
    "plot_landscape",
    "plot_regularized_landscape",
    "plot_surface",
]

OutPath = str | os.PathLike[str] | None
CMAP = "viridis"


# ---------------------------------------------------------------------------------------
# helpers shared with the animations and the learning-rate panels
# ---------------------------------------------------------------------------------------
def resolve(f: Any) -> Any:
    """A Landscape from a Landscape, a registry name or a formula."""
    from descentlab import landscapes

    return landscapes.get(f)


def axis_names(f: Any) -> tuple[str, str]:
    """``("w", "b")`` for a finite-sum (regression) problem, else ``("x", "y")``."""
    while hasattr(f, "base") and not hasattr(f, "n_samples"):
        f = f.base
    return ("w", "b") if hasattr(f, "n_samples") else ("x", "y")


def grid_values(
    f: Any, lo: np.ndarray, hi: np.ndarray, resolution: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f on a resolution x resolution grid over the box; returns (xs, ys, Z[y, x])."""
    xs = np.linspace(lo[0], hi[0], resolution)
    ys = np.linspace(lo[1], hi[1], resolution)
    XY = np.stack(np.meshgrid(xs, ys), axis=-1)
    with np.errstate(all="ignore"):
        Z = np.asarray(f.value(XY), dtype=np.float64)
    return xs, ys, Z


def contour_levels(Z: np.ndarray, n: int, log: bool) -> np.ndarray:
    """n increasing levels: log-spaced above the minimum when ``log``, else linear.

    Linear levels stop at the 99th percentile so that a few huge corner values do not
    flatten the picture (the rest is drawn with the top colour).
    """
    finite = Z[np.isfinite(Z)]
    if finite.size == 0:
        return np.linspace(0.0, 1.0, n)
    zmin = float(finite.min())
    if log:
        d = finite - zmin
        top = float(d.max())
        pos = d[d > 0]
        if top <= 0 or pos.size == 0:
            return zmin + np.linspace(0.0, 1.0, n)
        bottom = max(float(np.percentile(pos, 0.2)), top * 1e-8)
        levels = zmin + np.geomspace(bottom, top, n - 1)
        levels = np.concatenate([[zmin - 1e-12 * max(1.0, abs(zmin))], levels])
    else:
        top = float(np.percentile(finite, 99))
        if top <= zmin:
            top = zmin + 1.0
        levels = np.linspace(zmin, top, n)
    levels = np.unique(levels)
    return levels if levels.size >= 2 else np.array([zmin, zmin + 1.0])


def draw_contours(
    ax: Any,
    f: Any,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    levels: Any = 30,
    resolution: int = 200,
    colorbar: bool = True,
    lines: bool = True,
) -> Any:
    """Filled contours of a 2-D landscape over the box (log levels if ``f.log_scale``).

    ``levels`` is a number of levels or the increasing level values themselves.
    """
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm

    xs, ys, Z = grid_values(f, lo, hi, resolution)
    if np.ndim(levels) == 0:
        lv = contour_levels(Z, int(levels), bool(getattr(f, "log_scale", False)))
    else:
        lv = np.asarray(levels, dtype=np.float64)
    cmap = colormaps[CMAP]
    norm = BoundaryNorm(lv, cmap.N)
    Zp = np.where(np.isfinite(Z), Z, lv[-1])
    cs = ax.contourf(xs, ys, Zp, levels=lv, cmap=cmap, norm=norm, extend="max", alpha=0.9)
    if lines:
        ax.contour(xs, ys, Zp, levels=lv, colors="white", linewidths=0.4, alpha=0.5)
    if colorbar:
        cb = ax.figure.colorbar(cs, ax=ax, shrink=0.9, pad=0.01)
        ticks = nice_ticks(lv, bool(getattr(f, "log_scale", False)))
        cb.set_ticks(ticks)
        cb.minorticks_off()
        cb.set_ticklabels([fmt(t) for t in ticks])
        cb.set_label("f" + (" (log-spaced levels)" if getattr(f, "log_scale", False) else ""))
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    xn, yn = axis_names(f)
    ax.set_xlabel(xn)
    ax.set_ylabel(yn)
    return cs


def draw_image(
    ax: Any, f: Any, lo: np.ndarray, hi: np.ndarray, *, levels: int = 25, resolution: int = 200
) -> Any:
    """The filled-contour colours of a 2-D landscape as one image (fast to redraw: frames)."""
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm

    _xs, _ys, Z = grid_values(f, lo, hi, resolution)
    lv = contour_levels(Z, int(levels), bool(getattr(f, "log_scale", False)))
    cmap = colormaps[CMAP]
    Zp = np.where(np.isfinite(Z), Z, lv[-1])
    im = ax.imshow(
        Zp,
        origin="lower",
        extent=(lo[0], hi[0], lo[1], hi[1]),
        aspect="auto",
        cmap=cmap,
        norm=BoundaryNorm(lv, cmap.N, extend="max"),
        interpolation="bilinear",
        alpha=0.9,
    )
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    xn, yn = axis_names(f)
    ax.set_xlabel(xn)
    ax.set_ylabel(yn)
    return im


def draw_critical_points(ax: Any, f: Any, lo: np.ndarray, hi: np.ndarray) -> None:
    """Minima as gold stars and saddle points as black crosses (those inside the box)."""

    def inside(P: np.ndarray) -> np.ndarray:
        P = np.asarray(P, dtype=np.float64).reshape(-1, f.dim)
        return P[(P >= lo).all(axis=1) & (P <= hi).all(axis=1)]

    mins = inside(f.minima) if len(f.minima) else np.zeros((0, 2))
    if len(mins):
        ax.scatter(
            mins[:, 0],
            mins[:, 1],
            marker="*",
            s=220,
            c="gold",
            edgecolors="black",
            linewidths=0.8,
            zorder=6,
            label="minimum",
        )
    sad = inside(f.saddles) if len(f.saddles) else np.zeros((0, 2))
    if len(sad):
        ax.scatter(
            sad[:, 0],
            sad[:, 1],
            marker="x",
            s=90,
            c="black",
            linewidths=2.0,
            zorder=6,
            label="saddle point",
        )


def _stroke(width: float) -> list[Any]:
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=width + 1.0, foreground="white", alpha=0.5)]


def draw_paths(
    ax: Any,
    f: Any,
    runs: list[tuple[str, Any]],
    lo: np.ndarray,
    hi: np.ndarray,
    colors: Sequence[str] | None = None,
    markers: bool | None = None,
) -> list[Any]:
    """One Line2D per run (clipped to the box), start/end markers, diverged-exit markers.

    Works for 1-D landscapes (points on the curve) and 2-D ones (paths on contours).
    Every path stays visible where paths overlap (:func:`~._layout.path_styles`): longer
    paths are drawn first and wider, each run has its own marker shape along its path
    (``markers=False``: none; a lone short run marks every step). Where a path leaves the
    plot it ends with a diamond (an ``X`` if diverged) and a "step k" label in its colour;
    :func:`~._layout.tidy_labels` moves those labels apart once the figure is complete.
    """
    if colors is None:
        colors = run_colors([lb for lb, _ in runs], [r.get("optimizer") for _, r in runs])
    lines = []
    labelled: set[str] = set()

    def once(name: str) -> str:
        if name in labelled:
            return "_nolegend_"
        labelled.add(name)
        return name

    clipped = [clip_path(path_of(res), lo, hi) for _, res in runs]
    styles = path_styles([vis for vis, _ in clipped], lo, hi)
    for (label, res), color, (vis, left), style in zip(runs, colors, clipped, styles):
        P = path_of(res)
        show_markers = markers if markers is not None else True
        if f.dim == 1:
            with np.errstate(all="ignore"):
                yv = np.asarray(f.value(vis[:, :1]), dtype=np.float64).reshape(-1)
            xy = np.column_stack([vis[:, 0], yv]) if len(vis) else np.zeros((0, 2))
        else:
            xy = vis[:, :2]
        every = style["markevery"] if len(P) > 40 or len(runs) > 1 else None
        (line,) = ax.plot(
            xy[:, 0],
            xy[:, 1],
            color=color,
            lw=style["lw"],
            alpha=0.95,
            marker=style["marker"] if show_markers else None,
            markevery=every,
            ms=3.2 + 0.6 * style["lw"] if every is not None else 3.2,
            mec="white" if every is not None else color,
            mew=0.6,
            zorder=style["zorder"],
            label=run_label(label, res),
            path_effects=_stroke(style["lw"]),
        )
        lines.append(line)
        if len(xy) == 0:
            continue
        ax.scatter(
            xy[:1, 0],
            xy[:1, 1],
            marker="o",
            s=60,
            c="white",
            edgecolors="black",
            linewidths=1.2,
            zorder=7,
            label=once("start"),
        )
        status = str(res.get("status", ""))
        if left is not None:
            diverged = status == "diverged"
            ax.scatter(
                xy[-1:, 0],
                xy[-1:, 1],
                marker="X" if diverged else "D",
                s=120 if diverged else 60,
                c=color,
                edgecolors="black",
                linewidths=1.0,
                zorder=8,
                clip_on=False,  # whole on the edge where the path left
                label=once("diverged: left the plot" if diverged else "left the plot"),
            )
            ax.annotate(
                f"step {left}",
                xy[-1],
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=7.5,
                color=color,
                fontweight="bold",
                zorder=9,
                gid=STEP_LABEL,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": color, "alpha": 0.9},
                arrowprops={"arrowstyle": "-", "color": color, "lw": 0.9, "shrinkB": 4},
            )
        else:
            ax.scatter(
                xy[-1:, 0],
                xy[-1:, 1],
                marker="o",
                s=45,
                c=color,
                edgecolors="black",
                linewidths=1.0,
                zorder=8,
                label=once("end"),
            )
    return lines


def draw_curve(ax: Any, f: Any, lo: np.ndarray, hi: np.ndarray, resolution: int = 400) -> None:
    """The graph of a 1-D landscape with its minima and flat points."""
    xs = np.linspace(lo[0], hi[0], resolution)
    with np.errstate(all="ignore"):
        ys = np.asarray(f.value(xs[:, None]), dtype=np.float64).reshape(-1)
    ax.plot(xs, ys, color="#444444", lw=2.0, zorder=2, label="_nolegend_")
    finite = ys[np.isfinite(ys)]
    if finite.size:
        pad = 0.08 * max(float(finite.max() - finite.min()), 1e-9)
        ax.set_ylim(float(finite.min()) - pad, float(finite.max()) + pad)
    ax.set_xlim(lo[0], hi[0])
    for P, kw in (
        (f.minima, {"marker": "*", "s": 200, "c": "gold", "label": "minimum"}),
        (f.saddles, {"marker": "x", "s": 80, "c": "black", "label": "flat point"}),
    ):
        P = np.asarray(P, dtype=np.float64).reshape(-1)
        P = P[(P >= lo[0]) & (P <= hi[0])]
        if P.size:
            ax.scatter(
                P,
                f.value(P[:, None]).reshape(-1),
                zorder=6,
                edgecolors="black",
                linewidths=0.8,
                **kw,
            )
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.grid(alpha=0.3)


def legend(ax: Any, **kw: Any) -> Any:
    """A legend with the paths first and the markers (start, end, minimum...) after them."""
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(handles)), key=lambda i: not isinstance(handles[i], Line2D))
    opts = {"loc": "best", "fontsize": 8, "framealpha": 0.9, **kw}
    return ax.legend([handles[i] for i in order], [labels[i] for i in order], **opts)


def default_title(f: Any, n_runs: int) -> str:
    formula = f.formula if f.formula and len(f.formula) <= 60 else ""
    head = f.name + (f":  f = {formula}" if formula else "")
    if n_runs:
        head += f"\n{n_runs} optimizer path{'s' if n_runs > 1 else ''}"
    return head


def _check_dim(f: Any, what: str, dims: tuple[int, ...] = (1, 2)) -> None:
    if f.dim not in dims:
        raise ValueError(
            f"{what} draws {' and '.join(f'{d}-D' for d in dims)} landscapes, got the {f.dim}-D "
            f"landscape {f.name!r}; use plot_values for the loss curves of higher dimensions"
        )


# ---------------------------------------------------------------------------------------
# public figures
# ---------------------------------------------------------------------------------------
def plot_landscape(
    f: Any,
    results: Any = None,
    *,
    ax: Any = None,
    levels: int = 30,
    resolution: int = 200,
    bounds: Any = None,
    out: OutPath = None,
    title: str | None = None,
) -> Any:
    """Contours of a 2-D landscape (or the curve of a 1-D one) with optimizer paths.

    ``results`` is a ``Result``, a list of them or the dict returned by
    :func:`descentlab.landscapes.race`; each run is drawn as one line, labelled with its
    optimizer and hyperparameters (eta = lr, ...), with a white start marker and a
    coloured end marker. A run that leaves the plot (diverged) is cut at the edge and
    ends with an ``X`` annotated with the step at which it left. Minima are gold stars,
    saddle points black crosses. Levels are log-spaced when ``f.log_scale``.

    Returns the Figure (``ax.figure`` when ``ax`` is given).
    """
    check_out(out)
    f = resolve(f)
    _check_dim(f, "plot_landscape")
    runs = as_runs(results)
    paths = [path_of(r) for _, r in runs]
    if bounds is not None:
        b = np.asarray(bounds, dtype=np.float64).reshape(f.dim, 2)
        lo, hi = b[:, 0].copy(), b[:, 1].copy()
    else:
        lo, hi = view_box(f, paths)
    own = ax is None
    if ax is None:
        fig = new_figure(7.2, 5.6) if f.dim == 2 else new_figure(7.0, 4.6)
        ax = fig.add_subplot()
    fig = ax.figure
    if f.dim == 2:
        draw_contours(ax, f, lo, hi, levels=levels, resolution=resolution)
        draw_critical_points(ax, f, lo, hi)
        ax.set_aspect("auto")
    else:
        draw_curve(ax, f, lo, hi)
    draw_paths(ax, f, runs, lo, hi)
    if runs or len(f.minima):
        legend(ax)
    ax.set_title(default_title(f, len(runs)) if title is None else title, fontsize=11)
    tidy_labels(fig, freeze=own)
    return save(fig, out)


def plot_surface(
    f: Any,
    results: Any = None,
    *,
    resolution: int = 80,
    elev: float = 35.0,
    azim: float = -60.0,
    out: OutPath = None,
    title: str | None = None,
) -> Any:
    """A 3-D surface of a 2-D landscape with the same optimizer paths drawn on it.

    Landscapes with ``log_scale`` are drawn as log(1 + f - f_min) so that their valleys
    stay visible. Paths are clipped to the plot bounds like in :func:`plot_landscape`.
    """
    check_out(out)
    f = resolve(f)
    _check_dim(f, "plot_surface", (2,))
    runs = as_runs(results)
    lo, hi = view_box(f, [path_of(r) for _, r in runs])
    xs, ys, Z = grid_values(f, lo, hi, resolution)
    finite = Z[np.isfinite(Z)]
    zmin = float(finite.min()) if finite.size else 0.0
    log = bool(getattr(f, "log_scale", False))

    def height(v: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.log1p(np.maximum(v - zmin, 0.0)) if log else v

    fig = new_figure(7.5, 6.0)
    ax = fig.add_subplot(projection="3d", computed_zorder=False)  # paths drawn on top
    XX, YY = np.meshgrid(xs, ys)
    H = height(Z)
    ax.plot_surface(
        XX,
        YY,
        np.where(np.isfinite(H), H, np.nan),
        cmap=CMAP,
        alpha=0.6,
        linewidth=0,
        antialiased=True,
        rstride=1,
        cstride=1,
        zorder=1,
    )
    colors = run_colors([lb for lb, _ in runs], [r.get("optimizer") for _, r in runs])
    for (label, res), color in zip(runs, colors):
        vis, left = clip_path(path_of(res), lo, hi)
        with np.errstate(all="ignore"):
            zv = height(np.asarray(f.value(vis), dtype=np.float64)) if len(vis) else np.zeros(0)
        ax.plot(
            vis[:, 0], vis[:, 1], zv, color=color, lw=2.2, zorder=10, label=run_label(label, res)
        )
        if len(vis):
            ax.scatter(
                vis[-1:, 0],
                vis[-1:, 1],
                zv[-1:],
                color=color,
                s=60 if left else 30,
                marker="X" if left is not None else "o",
                edgecolors="black",
                depthshade=False,
            )
    mins = np.asarray(f.minima).reshape(-1, 2)
    mins = mins[(mins >= lo).all(axis=1) & (mins <= hi).all(axis=1)]
    if len(mins):
        ax.scatter(
            mins[:, 0],
            mins[:, 1],
            height(f.value(mins)),
            marker="*",
            s=200,
            c="gold",
            edgecolors="black",
            depthshade=False,
            label="minimum",
        )
    xn, yn = axis_names(f)
    ax.set_xlabel(xn)
    ax.set_ylabel(yn)
    ax.set_zlabel("log(1 + f - f_min)" if log else "f")
    ax.view_init(elev=elev, azim=azim)
    if runs:
        ax.legend(loc="upper left", fontsize=8)
    ax.set_title(default_title(f, len(runs)) if title is None else title, fontsize=11)
    return save(fig, out)


def plot_basins(
    f: Any = "himmelblau",
    *,
    resolution: int = 100,
    optimizer: str = "gd",
    lr: float | None = None,
    steps: int = 500,
    tol: float = 1e-5,
    near: float | None = None,
    out: OutPath = None,
    title: str | None = None,
    **hyperparameters: Any,
) -> Any:
    """Basins of attraction: which minimum each start of a grid reaches.

    All ``resolution**2`` starts run at once (one vectorized ``minimize`` with x0 of shape
    (N, 2)). A start is coloured by the minimum its end point is nearest to, within
    ``near`` (default 2% of the plot width); the landscape's listed minima come first,
    other local minima found by the runs are added (e.g. the six-hump camel's four local
    ones). Starts that diverged, that stopped at a saddle, or that used all ``steps`` far
    from any minimum are shown in their own colours. The legend gives each share.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from descentlab.landscapes import minimize

    check_out(out)
    f = resolve(f)
    _check_dim(f, "plot_basins", (2,))
    if (
        isinstance(resolution, bool)
        or not isinstance(resolution, (int, np.integer))
        or resolution < 2
    ):
        raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
    lo, hi = view_box(f)
    xs = np.linspace(lo[0], hi[0], resolution)
    ys = np.linspace(lo[1], hi[1], resolution)
    X0 = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    res = minimize(f, X0, optimizer, lr=lr, steps=steps, tol=tol, record=False, **hyperparameters)
    ends = np.asarray(res.x, dtype=np.float64)
    status = np.asarray(res.status)
    tol_x = float(near) if near is not None else 0.02 * float(np.max(hi - lo))
    centers, kinds = _find_basin_centers(f, ends, status, tol_x)

    N = len(ends)
    cls = np.full(N, -2)  # -2 unfinished, -1 diverged, -3 saddle / flat
    ok = status != "diverged"
    if len(centers):
        with np.errstate(all="ignore"):
            d = np.sqrt(((ends[:, None, :] - centers[None]) ** 2).sum(-1))
        nearest = d.argmin(axis=1)
        close = ok & (d[np.arange(N), nearest] <= tol_x)
        cls[close] = nearest[close]
    cls[status == "diverged"] = -1
    stationary = (status == "converged") & (cls < 0)
    cls[stationary] = -3

    basin_colors = [
        "#66c2a5",
        "#fc8d62",
        "#8da0cb",
        "#e78ac3",
        "#a6d854",
        "#ffd92f",
        "#e5c494",
        "#b3b3b3",
        "#1b9e77",
        "#d95f02",
        "#7570b3",
        "#e7298a",
    ]
    special = {
        -1: ("#262626", "diverged"),
        -2: ("#f2f2f2", "unfinished (max steps)"),
        -3: ("#9e9e9e", "stopped at a saddle / flat point"),
    }
    codes = sorted(set(cls.tolist()), key=lambda c: (c < 0, c if c >= 0 else -c))
    palette, handles = [], []
    index = {}
    for i, c in enumerate(codes):
        index[c] = i
        share = 100.0 * float(np.mean(cls == c))
        if c >= 0:
            color = basin_colors[c % len(basin_colors)]
            x, y = centers[c]
            name = f"{kinds[c]} ({x:.2f}, {y:.2f})"
        else:
            color, name = special[c]
        palette.append(color)
        handles.append(
            Patch(facecolor=color, edgecolor="black", linewidth=0.5, label=f"{name}: {share:.0f}%")
        )
    img = np.vectorize(index.get)(cls).reshape(resolution, resolution)

    fig = new_figure(8.4, 5.8)
    ax = fig.add_subplot()
    ax.imshow(
        img,
        origin="lower",
        extent=(lo[0], hi[0], lo[1], hi[1]),
        aspect="auto",
        cmap=ListedColormap(palette),
        vmin=-0.5,
        vmax=len(palette) - 0.5,
        interpolation="nearest",
    )
    gx, gy, Z = grid_values(f, lo, hi, 200)
    lv = contour_levels(Z, 20, bool(f.log_scale))
    ax.contour(
        gx,
        gy,
        np.where(np.isfinite(Z), Z, lv[-1]),
        levels=lv,
        colors="black",
        linewidths=0.4,
        alpha=0.35,
    )
    if len(centers):
        ax.scatter(
            centers[:, 0],
            centers[:, 1],
            marker="*",
            s=220,
            c="gold",
            edgecolors="black",
            linewidths=0.8,
            zorder=5,
        )
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    xn, yn = axis_names(f)
    ax.set_xlabel(xn)
    ax.set_ylabel(yn)
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
        title="end point of each start",
        title_fontsize=8,
        frameon=False,
    )
    lr_used = res.lr if np.size(res.lr) == 1 else None
    if title is None:
        title = (
            f"Basins of attraction of {f.name}: {optimizer}"
            + (f", η = {fmt(lr_used)}" if lr_used is not None else "")
            + f", {steps} steps, {resolution}×{resolution} starts"
        )
    ax.set_title(title, fontsize=11)
    fig.basins = {
        "classes": cls.reshape(resolution, resolution),
        "centers": centers,
        "kinds": kinds,
    }
    return save(fig, out)


def _find_basin_centers(
    f: Any, ends: np.ndarray, status: np.ndarray, tol_x: float
) -> tuple[np.ndarray, list[str]]:
    """The listed minima plus other local minima where converged runs ended."""
    listed = np.asarray(f.minima, dtype=np.float64).reshape(-1, 2)
    gvals = np.asarray(f.minimum_values, dtype=np.float64).reshape(-1)
    gmin = float(gvals.min()) if gvals.size else None
    kinds = []
    for v in gvals:
        kinds.append(
            "global min"
            if gmin is not None and abs(v - gmin) <= 1e-9 * (1 + abs(gmin))
            else "local min"
        )
    centers = list(listed)
    cand = ends[(status == "converged") & np.isfinite(ends).all(axis=1)]
    if len(centers) and len(cand):
        d = np.sqrt(((cand[:, None, :] - listed[None]) ** 2).sum(-1)).min(axis=1)
        cand = cand[d > tol_x]
    rng = np.random.default_rng(0)
    dirs = rng.standard_normal((16, 2))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    while len(cand) and len(centers) < 12:
        x = cand[0]
        group = np.sqrt(((cand - x) ** 2).sum(-1)) <= tol_x
        center = cand[group].mean(axis=0)
        cand = cand[~group]
        if group.sum() < 2:
            continue
        with np.errstate(all="ignore"):
            fx = float(f.value(center))
            around = np.asarray(f.value(center + 1e-3 * tol_x * dirs))
        if np.all(around >= fx - 1e-10 * (1 + abs(fx))):  # a minimum, not a saddle
            centers.append(center)
            kinds.append("local min")
    return np.array(centers).reshape(-1, 2), kinds


def plot_gd_vs_sgd(
    *,
    batch_sizes: Sequence[int | None] = (None, 1, 4),
    epochs: int = 10,
    lr: float = 0.05,
    seed: int = 0,
    out: OutPath = None,
    title: str | None = None,
) -> Any:
    """GD vs SGD vs mini-batch SGD on the lecture's eight-point line fit.

    Left: the paths on the (w, b) contours of F(w, b) = mean_i (w x_i + b - y_i)^2, with
    a dot at the end of every epoch. Right: the full loss F after every step, against
    the number of passes over the eight points (epochs). ``None`` in ``batch_sizes``
    means the full batch (GD: one step per epoch); batch size b takes ceil(8 / b) steps
    per epoch, each with the gradient of b shuffled points (seeded).
    """
    from descentlab.landscapes import eight_points, minimize

    check_out(out)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    f = eight_points()
    n = f.n_samples
    runs, per_epoch = [], []
    for b in batch_sizes:
        k = 1 if b is None or b >= n else int(np.ceil(n / b))
        res = minimize(
            f, f.start, "gd", lr=lr, steps=int(epochs) * k, tol=0.0, batch_size=b, seed=seed
        )
        if b is None or b >= n:
            label = f"GD (all {n} points)"
        elif b == 1:
            label = "SGD (batch 1)"
        else:
            label = f"mini-batch SGD (batch {b})"
        runs.append((f"{label}, η={fmt(lr)}", res))
        per_epoch.append(k)
    paths = [path_of(r) for _, r in runs]
    lo, hi = view_box(f, paths)
    fig = new_figure(12.0, 5.0)
    ax, ax2 = fig.subplots(1, 2, width_ratios=[1.15, 1.0])
    draw_contours(ax, f, lo, hi, levels=25)
    draw_critical_points(ax, f, lo, hi)
    colors = [c for c in ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd")]
    colors = [colors[i % len(colors)] for i in range(len(runs))]
    draw_paths(ax, f, runs, lo, hi, colors=colors, markers=False)
    for (label, res), color, k in zip(runs, colors, per_epoch):
        P = path_of(res)
        ends = P[k::k]
        ends = ends[(ends >= lo).all(axis=1) & (ends <= hi).all(axis=1)]
        ax.scatter(
            ends[:, 0], ends[:, 1], s=16, c=color, edgecolors="white", linewidths=0.6, zorder=6
        )
        vals = res.trajectory.values
        t = np.arange(len(vals)) / k
        with np.errstate(all="ignore"):
            ax2.plot(t, vals, color=color, lw=1.6, label=label)
    ax.scatter([], [], s=16, c="gray", edgecolors="white", label="end of an epoch")
    legend(ax)
    ax.set_title("Paths on the loss surface F(w, b)", fontsize=11)
    ax2.set_yscale("log")
    ax2.set_xlabel("epoch (passes over the 8 points)")
    ax2.set_ylabel("F(w, b) after each step")
    ax2.grid(alpha=0.3, which="both")
    ax2.axhline(float(f.minimum_values[0]), color="black", ls=":", lw=1, label="minimum of F")
    ax2.legend(fontsize=8)
    ax2.set_title("Loss per step", fontsize=11)
    fig.suptitle(
        title
        or "Gradient descent vs stochastic and mini-batch gradient descent "
        "on the eight-point line fit",
        fontsize=12,
    )
    return save(fig, out)


def plot_regularized_landscape(
    f: Any = "eight_points",
    *,
    l1: float = 1.5,
    l2: float = 0.5,
    levels: int = 25,
    resolution: int = 200,
    out: OutPath = None,
    title: str | None = None,
) -> Any:
    """The landscape alone, plus lambda ||theta||_1 (L1) and plus lambda ||theta||^2 (L2).

    Three contour panels on the same box and levels. The unpenalized minimum is a hollow
    star in every panel, the penalized one a gold star with an arrow showing how far the
    penalty moved it (L1 pulls coordinates to exactly 0, L2 shrinks them all).
    """
    check_out(out)
    f = resolve(f)
    _check_dim(f, "plot_regularized_landscape", (2,))
    panels = [(f, "no penalty:  f(θ)")]
    if l1:
        panels.append((f.with_penalty(l1=l1), f"L1:  f(θ) + {fmt(l1)}·‖θ‖₁"))
    if l2:
        panels.append((f.with_penalty(l2=l2), f"L2:  f(θ) + {fmt(l2)}·‖θ‖₂²"))
    lo, hi = view_box(f)
    fig = new_figure(4.6 * len(panels) + 0.8, 4.8)
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    base_min = np.asarray(f.minima, dtype=np.float64).reshape(-1, 2)[:1]
    grids = [grid_values(g, lo, hi, resolution)[2] for g, _ in panels]
    common = contour_levels(
        np.concatenate([Z.ravel() for Z in grids]), int(levels), bool(f.log_scale)
    )
    for ax, (g, name) in zip(axes, panels):
        draw_contours(ax, g, lo, hi, levels=common, resolution=resolution, colorbar=ax is axes[-1])
        ax.axhline(0, color="white", lw=0.8, ls="--", alpha=0.7)
        ax.axvline(0, color="white", lw=0.8, ls="--", alpha=0.7)
        if len(base_min):
            ax.scatter(
                base_min[:, 0],
                base_min[:, 1],
                marker="*",
                s=220,
                facecolors="none",
                edgecolors="black",
                linewidths=1.2,
                zorder=6,
                label=f"minimum of f ({base_min[0, 0]:.2f}, {base_min[0, 1]:.2f})",
            )
        if g is not f:
            mins = np.asarray(g.minima, dtype=np.float64).reshape(-1, 2)[:1]
            if len(mins):
                ax.scatter(
                    mins[:, 0],
                    mins[:, 1],
                    marker="*",
                    s=220,
                    c="gold",
                    edgecolors="black",
                    linewidths=0.8,
                    zorder=7,
                    label=f"new minimum ({mins[0, 0]:.2f}, {mins[0, 1]:.2f})",
                )
                if len(base_min):
                    ax.annotate(
                        "",
                        mins[0],
                        base_min[0],
                        zorder=8,
                        arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.4},
                    )
        ax.legend(loc="lower left", fontsize=7.5, framealpha=0.9)
        ax.set_title(name, fontsize=10.5)
    for ax in axes[1:]:
        ax.set_ylabel("")
    fig.suptitle(title or f"How a penalty λR(θ) moves the minimum of {f.name}", fontsize=12)
    return save(fig, out)

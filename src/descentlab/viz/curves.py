"""Curves: f(x_t) against t, the learning-rate experiment, and training histories."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from descentlab.viz._common import (
    CYCLE,
    as_runs,
    check_out,
    clip_path,
    fmt,
    new_figure,
    optimizer_color,
    path_of,
    run_colors,
    run_label,
    save,
    short_status,
    values_of,
    view_box,
)
from descentlab.viz._layout import tidy_labels

__all__ = ["plot_history", "plot_lr_sweep", "plot_values"]

OutPath = str | os.PathLike[str] | None
#: Steps per learning rate in :func:`plot_lr_sweep` (the lecture's experiment: 100).
LR_SWEEP_STEPS = 100


def plot_values(
    results: Any,
    *,
    f: Any = None,
    log: bool | None = None,
    ax: Any = None,
    out: OutPath = None,
    title: str | None = None,
) -> Any:
    """f(x_t) against the step t for several runs (one line per run).

    ``results`` is a Result, a list or the dict of :func:`~descentlab.landscapes.race`.
    With the landscape ``f`` given and its minimum value f* known, the curves show the
    gap f(x_t) - f*. ``log=None`` picks a log y-axis when every value drawn is positive.
    A diverged run is drawn while its value stays within 10^4 times the largest start
    value and ends with an ``X`` labelled "diverged at step k".
    """
    check_out(out)
    runs = as_runs(results)
    if not runs:
        raise ValueError("plot_values needs at least one run")
    fstar = None
    if f is not None:
        from descentlab.viz.landscape import resolve

        fstar = resolve(f).global_minimum
    if ax is None:
        fig = new_figure(7.0, 4.4)
        ax = fig.add_subplot()
    fig = ax.figure
    colors = run_colors([lb for lb, _ in runs], [r.get("optimizer") for _, r in runs])
    series = []
    for label, res in runs:
        v = values_of(res).copy()
        if fstar is not None:
            v = v - fstar
        series.append(v)
    starts = [abs(v[0]) for v in series if len(v) and np.isfinite(v[0])]
    ymax = 1e4 * max(starts + [1.0])
    with np.errstate(all="ignore"):
        shown = np.concatenate([v[np.isfinite(v) & (np.abs(v) <= ymax)] for v in series])
    if log is None:
        log = bool(shown.size) and bool(np.all(shown > 0))
    for (label, res), v, color in zip(runs, series, colors):
        with np.errstate(all="ignore"):
            ok = np.isfinite(v) & (np.abs(v) <= ymax) & ((v > 0) if log else True)
        cut = len(v) if ok.all() else int(np.argmin(ok))
        t = np.arange(len(v))
        ax.plot(t[:cut], v[:cut], color=color, lw=1.8, label=run_label(label, res))
        if (str(res.get("status")) == "diverged" or cut < len(v)) and cut > 0:
            ax.scatter(
                t[cut - 1], v[cut - 1], marker="X", s=90, c=color, edgecolors="black", zorder=5
            )
            ax.annotate(
                short_status(res),
                (t[cut - 1], v[cut - 1]),
                xytext=(5, 5),
                textcoords="offset points",
                fontsize=7.5,
            )
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step t")
    ax.set_ylabel("f(x_t) - f*" if fstar is not None else "f(x_t)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, framealpha=0.9)
    ax.set_title(title or "Loss along the runs: f(x_t) against t", fontsize=11)
    return save(fig, out)


def plot_lr_sweep(
    f: Any = "parabola",
    lrs: Sequence[float] = (0.01, 0.1, 1.0, 100.0, 1000.0),
    *,
    x0: Any = None,
    steps: int = LR_SWEEP_STEPS,
    optimizer: str = "gd",
    out: OutPath = None,
    title: str | None = None,
) -> Any:
    """The lecture's learning-rate experiment: one panel per eta, same start, same steps.

    All runs advance together (one vectorized ``minimize`` with an array of learning
    rates). Each panel shows the path on the curve (1-D) or contours (2-D) and a status
    line: converged, too slow, oscillating (eta = 1 on x^2 jumps between +x0 and -x0), or
    "diverged at step k" (the path is cut where it left the plot, not drawn as garbage).

    The figure keeps the runs as ``fig.results`` and each panel's status line as
    ``fig.statuses``, so that a report can check them against the numbers it prints
    (run the same ``steps`` there: the demo passes its own step count here).
    """
    from descentlab.landscapes import minimize
    from descentlab.viz.landscape import (
        _check_dim,
        draw_contours,
        draw_critical_points,
        draw_curve,
        draw_paths,
        resolve,
    )

    check_out(out)
    f = resolve(f)
    _check_dim(f, "plot_lr_sweep")
    lrs = [float(v) for v in np.atleast_1d(np.asarray(lrs, dtype=np.float64))]
    if not lrs or any(not np.isfinite(v) or v <= 0 for v in lrs):
        raise ValueError(f"lrs must be positive learning rates, got {lrs!r}")
    start = f.start if x0 is None else np.asarray(x0, dtype=np.float64).reshape(f.dim)
    X0 = np.tile(start, (len(lrs), 1))
    res = minimize(f, X0, optimizer, lr=np.array(lrs), steps=steps)
    runs = [(f"η = {lr:g}", res.run(i)) for i, lr in enumerate(lrs)]
    statuses: list[str] = []
    lo, hi = view_box(f)
    ncol = min(len(lrs), 5)
    nrow = int(np.ceil(len(lrs) / ncol))
    fig = new_figure(3.3 * ncol + 0.4, 3.3 * nrow + 0.6)
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    for i, (ax, (label, r)) in enumerate(zip(axes, runs)):
        if f.dim == 2:
            draw_contours(ax, f, lo, hi, levels=20, resolution=120, colorbar=False)
            draw_critical_points(ax, f, lo, hi)
        else:
            draw_curve(ax, f, lo, hi)
        color = CYCLE[i % len(CYCLE)]
        draw_paths(ax, f, [(label, r)], lo, hi, colors=[color], markers=True)
        _, left = clip_path(path_of(r), lo, hi)
        text = short_status(r, left)
        statuses.append(text)
        ok = r["status"] == "converged"
        box = {
            "boxstyle": "round,pad=0.3",
            "fc": "#e8f5e9" if ok else "#ffebee" if r["status"] == "diverged" else "#fff8e1",
            "ec": "0.6",
            "alpha": 0.95,
        }
        ax.text(
            0.5,
            1.015,
            text,
            transform=ax.transAxes,
            ha="center",
            va="bottom",
            fontsize=8,
            bbox=box,
            zorder=10,
        )
        ax.set_title(f"{label}", fontsize=11, pad=20)
        if i % ncol:
            ax.set_ylabel("")
    for ax in axes[len(runs) :]:
        ax.set_visible(False)
    fig.suptitle(
        title
        or f"{optimizer} on {f.name} from x0 = "
        f"{', '.join(fmt(v) for v in start)}: {steps} steps per learning rate",
        fontsize=12,
    )
    fig.results = res
    fig.statuses = statuses
    tidy_labels(fig)
    return save(fig, out)


def _as_histories(histories: Any, labels: Sequence[str] | None) -> list[tuple[str, Any]]:
    if isinstance(histories, Mapping):
        pairs = [(str(k), v) for k, v in histories.items()]
    elif isinstance(histories, (list, tuple)):
        pairs = [(f"run {i + 1}", h) for i, h in enumerate(histories)]
    else:
        pairs = [("train", histories)]
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(pairs):
            raise ValueError(f"got {len(labels)} labels for {len(pairs)} histories")
        pairs = [(lb, h) for lb, (_, h) in zip(labels, pairs)]
    for label, h in pairs:
        if not hasattr(h, "epochs") or not isinstance(h.epochs, list):
            raise TypeError(f"{label!r} is not a History (got {type(h).__name__})")
    return pairs


def _column(h: Any, key: str) -> np.ndarray:
    return np.array([np.nan if row.get(key) is None else float(row[key]) for row in h.epochs])


def plot_history(
    histories: Any,
    *,
    labels: Sequence[str] | None = None,
    log_loss: bool | None = None,
    out: OutPath = None,
    title: str | None = None,
) -> Any:
    """Training curves: loss and accuracy per epoch, train (solid) vs validation (dashed).

    ``histories`` is one History, a list, or a dict label -> History (e.g. one per
    optimizer: each gets its palette colour when the label is an optimizer name). The
    accuracy panel appears when any run recorded accuracies; the learning rate is drawn
    on a twin axis of the loss panel when it changes during a run.
    """
    check_out(out)
    pairs = _as_histories(histories, labels)
    if not pairs or all(len(h.epochs) == 0 for _, h in pairs):
        raise ValueError("plot_history needs at least one History with epochs")
    has_acc = any(
        np.isfinite(_column(h, k)).any()
        for _, h in pairs
        for k in ("train_accuracy", "val_accuracy")
    )
    fig = new_figure(12.0 if has_acc else 7.0, 4.4)
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False).ravel()
    ax_loss = axes[0]
    lr_ax = None
    losses = []
    for i, (label, h) in enumerate(pairs):
        color = optimizer_color(label, i)
        ep = _column(h, "epoch") + (1 if h.epochs and h.epochs[0].get("epoch") == 0 else 0)
        for key, style, suffix in (("train", "-", "train"), ("val", "--", "validation")):
            loss = _column(h, f"{key}_loss")
            if np.isfinite(loss).any():
                losses.append(loss[np.isfinite(loss)])
                ax_loss.plot(
                    ep,
                    loss,
                    style,
                    color=color,
                    lw=1.8,
                    marker="o" if len(ep) <= 30 else None,
                    ms=3,
                    label=f"{label} ({suffix})",
                )
            if has_acc:
                acc = _column(h, f"{key}_accuracy")
                if np.isfinite(acc).any():
                    axes[1].plot(
                        ep,
                        acc,
                        style,
                        color=color,
                        lw=1.8,
                        marker="o" if len(ep) <= 30 else None,
                        ms=3,
                        label=f"{label} ({suffix})",
                    )
        lr = _column(h, "lr")
        finite = lr[np.isfinite(lr)]
        if finite.size > 1 and not np.allclose(finite, finite[0]):
            if lr_ax is None:
                lr_ax = ax_loss.twinx()
                lr_ax.set_ylabel("learning rate η (dotted)")
            lr_ax.plot(ep, lr, ":", color=color, lw=1.4, alpha=0.8)
    allv = np.concatenate(losses) if losses else np.zeros(0)
    if log_loss is None:
        log_loss = (
            bool(allv.size)
            and bool(np.all(allv > 0))
            and float(allv.max()) / max(float(allv.min()), 1e-300) > 30
        )
    if log_loss:
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.grid(alpha=0.3, which="both")
    ax_loss.legend(fontsize=8, framealpha=0.9)
    ax_loss.set_title("Loss: train (solid) vs validation (dashed)", fontsize=11)
    if has_acc:
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("accuracy")
        axes[1].grid(alpha=0.3)
        axes[1].legend(fontsize=8, framealpha=0.9)
        axes[1].set_title("Accuracy: train (solid) vs validation (dashed)", fontsize=11)
    if title:
        fig.suptitle(title, fontsize=12)
    return save(fig, out)

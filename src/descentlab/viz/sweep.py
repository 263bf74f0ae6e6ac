"""Figures of a sweep's summary: learning-rate sensitivity, loss curves, performance profile.

The matplotlib twins of the charts in the sweep's ``report.html``, for pictures, papers and
the gallery. Each takes the summary dict (``SweepResult.summary`` or ``summary.json``) and
draws one arm per line in the same colours as the report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from descentlab.sweep.report import arm_colors, curve_band, log_fits, sensitivity_points
from descentlab.viz._common import check_out, fmt, new_figure, save, settings_text

__all__ = ["plot_profile", "plot_sensitivity", "plot_sweep", "plot_sweep_curves"]

OutPath = str | os.PathLike[str] | None
BAND_ALPHA = 0.15


def _problem(summary: Mapping[str, Any], problem: str | int | None) -> Mapping[str, Any]:
    """The summary's entry of ``problem`` (a name or an index; default: the first)."""
    if not isinstance(summary, Mapping) or not isinstance(summary.get("problems"), list):
        raise TypeError("summary must be a sweep summary (a dict with 'problems')")
    problems = summary["problems"]
    if not problems:
        raise ValueError("the summary holds no problem")
    if problem is None:
        return problems[0]
    if isinstance(problem, int) and not isinstance(problem, bool):
        if not -len(problems) <= problem < len(problems):
            raise ValueError(f"problem index {problem} is out of range: {len(problems)} problems")
        return problems[problem]
    for entry in problems:
        if entry.get("name") == problem:
            return entry
    names = ", ".join(repr(p.get("name")) for p in problems)
    raise ValueError(f"no problem {problem!r} in this sweep; its problems: {names}")


def _axes(ax: Any) -> Any:
    if ax is None:
        return new_figure(7.0, 4.4).add_subplot()
    return ax


def _values(xs: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in xs], dtype=np.float64)


def _band(ax: Any, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, color: str) -> None:
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        ax.fill_between(
            x,
            np.where(ok, lo, 0.0),
            np.where(ok, hi, 0.0),
            where=ok,
            color=color,
            alpha=BAND_ALPHA,
            lw=0,
            label="_band",
        )


def _legend(ax: Any, extra: list[Any]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    proxies = {
        "band": Patch(color="0.5", alpha=BAND_ALPHA * 2, label="min–max over seeds"),
        "ring": Line2D(
            [],
            [],
            ls="",
            marker="o",
            ms=10,
            mfc="none",
            mec="0.25",
            mew=1.6,
            label="chosen setting",
        ),
        "cross": Line2D(
            [], [], ls="", marker="x", ms=7, mec="0.25", mew=1.8, label="diverged (above the plot)"
        ),
        "hollow": Line2D(
            [],
            [],
            ls="",
            marker="o",
            ms=5,
            mfc="white",
            mec="0.25",
            label="some seeds diverged or were pruned",
        ),
        "target": Line2D([], [], ls="--", color="0.35", lw=1.2, label="target"),
    }
    handles, _ = ax.get_legend_handles_labels()
    handles += [proxies[k] for k in extra]
    ax.legend(
        handles=handles,
        fontsize=8,
        framealpha=0.9,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncol=min(3, len(handles)),
    )


def plot_sensitivity(
    summary: Mapping[str, Any],
    problem: str | int | None = None,
    ax: Any = None,
    out: OutPath = None,
) -> Any:
    """Final loss against the learning rate on ``problem``: one line per optimizer (the mean
    over seeds), its seed spread (min..max) as a band, its chosen setting circled, and the
    diverged settings as crosses above the plot. Log x; log y when the losses are positive
    and span more than two decades."""
    check_out(out)
    entry = _problem(summary, problem)
    colors = arm_colors(summary)
    series = [(a, pts) for a in entry.get("optimizers") or [] if (pts := sensitivity_points(a))]
    if not series:
        raise ValueError(f"the learning rate was not swept on {entry.get('name')!r}")
    ax = _axes(ax)
    ys = [p[k] for _, pts in series for p in pts for k in ("mean", "min", "max")]
    log = log_fits(ys)
    extra: list[str] = (
        ["band"] if any(p["min"] is not None for _, pts in series for p in pts) else []
    )
    broken = [(a, pts) for a, pts in series if any(p["diverged"] for p in pts)]
    for arm, pts in series:
        label = str(arm["arm"])
        color = colors[label]
        lr = np.array([p["lr"] for p in pts])
        mean = _values([p["mean"] for p in pts])
        _band(ax, lr, _values([p["min"] for p in pts]), _values([p["max"] for p in pts]), color)
        ax.plot(lr, mean, "-o", color=color, lw=1.8, ms=4, label=label, zorder=3)
        odd = np.array([bool(p["diverged"] or p["pruned"]) for p in pts]) & np.isfinite(mean)
        if odd.any():
            ax.scatter(lr[odd], mean[odd], s=22, facecolors="white", edgecolors=color, zorder=4)
            extra.append("hollow")
        best = arm.get("best") or {}
        loss = (best.get("final_loss") or {}).get("mean")
        if best.get("lr") and loss is not None:
            ax.scatter(
                [best["lr"]],
                [loss],
                s=150,
                facecolors="none",
                edgecolors=color,
                linewidths=1.8,
                zorder=5,
            )
            extra.append("ring")
    for row, (arm, pts) in enumerate(broken):
        failed = [p["lr"] for p in pts if p["diverged"]]
        ax.scatter(
            failed,
            [1.03 + 0.045 * row] * len(failed),
            marker="x",
            s=30,
            color=colors[str(arm["arm"])],
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            zorder=5,
        )
    if broken:
        extra.append("cross")
        ax.text(
            -0.01,
            1.03 + 0.0225 * (len(broken) - 1),
            "diverged",
            transform=ax.transAxes,
            ha="right",
            va="center",
            fontsize=8,
            color="0.35",
        )
    ax.set_xscale("log")
    lrs = [p["lr"] for _, pts in series for p in pts]
    ax.set_xlim(min(lrs) / 1.6, max(lrs) * 1.6)  # diverged settings draw no data point
    if log:
        ax.set_yscale("log")
    if not any(v is not None for v in ys):
        ax.set_ylim(0.0, 1.0)
        ax.text(0.5, 0.5, "no setting kept a finite loss", transform=ax.transAxes, ha="center")
    ax.set_xlabel("learning rate η")
    ax.set_ylabel("final validation loss" if entry.get("kind") == "data" else "final loss")
    ax.grid(alpha=0.3, which="major")
    _legend(ax, list(dict.fromkeys(extra)))
    ax.set_title(
        f"Learning-rate sensitivity on {entry.get('name')}", fontsize=11, pad=6 + 11 * len(broken)
    )
    return save(ax.figure, out)


def plot_sweep_curves(
    summary: Mapping[str, Any],
    problem: str | int | None = None,
    ax: Any = None,
    out: OutPath = None,
) -> Any:
    """The loss against optimizer steps at each optimizer's best setting on ``problem``:
    the mean over seeds as a line, min..max over seeds as a band; log y when positive."""
    check_out(out)
    entry = _problem(summary, problem)
    colors = arm_colors(summary)
    runs = []
    for arm in entry.get("optimizers") or []:
        if arm.get("best"):
            band = curve_band(arm["best"].get("curves") or [])
            if any(v is not None for v in band[1]):
                runs.append((arm, np.array(band[0]), *(_values(v) for v in band[1:])))
    if not runs:
        raise ValueError(
            f"no optimizer has a best setting with a loss curve on {entry.get('name')!r}"
        )
    ax = _axes(ax)
    target = entry.get("target") if entry.get("kind") == "landscape" else None
    values = [v for *_, m, lo, hi in runs for v in (*m, *lo, *hi) if np.isfinite(v)]
    log = log_fits(values + ([target] if target is not None else []), decades=1.0)
    for arm, steps, mean, low, high in runs:
        label = str(arm["arm"])
        color = colors[label]
        setting = settings_text(arm["best"].get("hyperparameters") or {})
        _band(ax, steps, low, high, color)
        ax.plot(steps, mean, color=color, lw=1.8, label=f"{label} ({setting})", zorder=3)
    extra = ["band"]
    if target is not None and (target > 0 or not log):
        ax.axhline(target, ls="--", color="0.35", lw=1.2, label="_target")
        extra.append("target")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("optimizer steps")
    ax.set_ylabel("validation loss" if entry.get("kind") == "data" else "loss")
    ax.grid(alpha=0.3, which="major")
    _legend(ax, extra)
    ax.set_title(f"Loss at the best settings on {entry.get('name')}", fontsize=11)
    return save(ax.figure, out)


def plot_profile(summary: Mapping[str, Any], ax: Any = None, out: OutPath = None) -> Any:
    """The Dolan-More performance profile of the sweep: rho(tau), the fraction of problems
    on which an optimizer reached the target within tau times the fewest steps, as step
    lines on a log tau axis from 1."""
    check_out(out)
    profile = summary.get("profile") if isinstance(summary, Mapping) else None
    if not profile or not profile.get("problems"):
        raise ValueError("this sweep has no performance profile (no problem with a target)")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    from matplotlib.transforms import offset_copy

    colors = arm_colors(summary)
    tau = np.asarray(profile["tau"], dtype=np.float64)
    ax = _axes(ax)
    order = list(colors)
    names = sorted(profile["rho"], key=lambda n: order.index(n) if n in order else len(order))
    for i, name in enumerate(names):
        rho = np.asarray(profile["rho"][name], dtype=np.float64)
        # equal profiles stay visible side by side: offsets of at most 2 points either way
        shift = (i - (len(names) - 1) / 2) * min(1.0, 4.0 / len(names))
        ax.step(
            tau,
            rho,
            where="post",
            color=colors.get(name, "0.3"),
            lw=1.8,
            label=name,
            transform=offset_copy(ax.transData, ax.figure, y=shift, units="points"),
        )
    ax.set_xscale("log")
    ax.set_xlim(1.0, max(float(tau.max()), 2.0))
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("τ: within this factor of the fewest steps")
    ax.set_ylabel("ρ(τ): fraction of problems")
    ax.grid(alpha=0.3, which="both")
    _legend(ax, [])
    n = len(profile["problems"])
    ax.set_title(f"Performance profile over {n} problem{'s' * (n != 1)}", fontsize=11)
    return save(ax.figure, out)


def plot_sweep(
    summary: Mapping[str, Any], problem: str | int | None = None, out: OutPath = None
) -> Any:
    """Sensitivity and loss curves of ``problem`` side by side (the gallery's picture)."""
    check_out(out)
    fig = new_figure(13.0, 4.8)
    left, right = fig.subplots(1, 2)
    plot_sensitivity(summary, problem, ax=left)
    plot_sweep_curves(summary, problem, ax=right)
    return save(fig, out)

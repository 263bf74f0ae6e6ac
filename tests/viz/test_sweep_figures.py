"""Figures of a sweep's summary: sensitivity, loss curves, performance profile."""

from __future__ import annotations

import matplotlib.colors as mcolors
import numpy as np
import pytest

import descentlab.sweep as S
from descentlab.sweep.report import arm_colors
from descentlab.viz import plot_profile, plot_sensitivity, plot_sweep, plot_sweep_curves


@pytest.fixture(scope="module")
def summary():
    """Two landscapes with a reachable target; on rosenbrock lr = 0.1 diverges."""
    return S.sweep(
        ["ill_conditioned", "rosenbrock"],
        optimizers="sgd,momentum,adam",
        grid={"lr": "1e-3:1e-1:3"},
        seeds=2,
        steps=150,
        backend="serial",
    ).summary


def _hex(line) -> str:
    return mcolors.to_hex(line.get_color())


def test_sensitivity_one_line_per_arm_on_a_log_lr_axis(summary, tmp_path, viz_helpers):
    fig = plot_sensitivity(summary, "rosenbrock", out=tmp_path / "sens.png")
    ax = fig.axes[0]
    lines = viz_helpers.path_lines(ax)
    assert [ln.get_label() for ln in lines] == ["sgd", "momentum", "adam"]
    colors = arm_colors(summary)
    assert [_hex(ln) for ln in lines] == [colors[a] for a in ("sgd", "momentum", "adam")]
    assert ax.get_xscale() == "log"
    np.testing.assert_allclose(lines[0].get_xdata(), [1e-3, 1e-2, 1e-1])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "chosen setting" in labels and "diverged (above the plot)" in labels
    assert "Learning-rate sensitivity on rosenbrock" == ax.get_title()
    viz_helpers.assert_png(tmp_path / "sens.png", fig)


def test_curves_mean_over_seeds_at_the_best_setting(summary, tmp_path, viz_helpers):
    fig = plot_sweep_curves(summary, 0, out=tmp_path / "curves.png")
    ax = fig.axes[0]
    lines = viz_helpers.path_lines(ax)
    problem = summary["problems"][0]
    assert len(lines) == sum(a["best"] is not None for a in problem["optimizers"]) == 3
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "optimizer steps"
    adam = next(a for a in problem["optimizers"] if a["arm"] == "adam")
    first = [c["loss"][0] for c in adam["best"]["curves"]]
    (line,) = [ln for ln in lines if ln.get_label().startswith("adam")]
    assert line.get_ydata()[0] == pytest.approx(np.mean(first))
    assert "target" in [t.get_text() for t in ax.get_legend().get_texts()]
    viz_helpers.assert_png(tmp_path / "curves.png", fig)


def test_profile_step_lines_from_one(summary, tmp_path, viz_helpers):
    fig = plot_profile(summary, out=tmp_path / "profile.svg")
    ax = fig.axes[0]
    lines = viz_helpers.path_lines(ax)
    assert sorted(ln.get_label() for ln in lines) == sorted(summary["profile"]["rho"])
    assert ax.get_xscale() == "log" and ax.get_xlim()[0] == 1.0
    assert all(ln.get_drawstyle() == "steps-post" for ln in lines)
    assert (tmp_path / "profile.svg").read_text().lstrip().startswith("<?xml")


def test_sweep_figure_has_both_panels_and_errors_name_the_problem(summary, tmp_path):
    fig = plot_sweep(summary, "rosenbrock", out=tmp_path / "both.png")
    assert [ax.get_xscale() for ax in fig.axes] == ["log", "linear"]
    with pytest.raises(ValueError, match="no problem 'beale'.*'rosenbrock'"):
        plot_sensitivity(summary, "beale")
    with pytest.raises(ValueError, match="no performance profile"):
        plot_profile({**summary, "profile": None})
    with pytest.raises(ValueError, match="unknown file type"):
        plot_sensitivity(summary, out=tmp_path / "x.txt")

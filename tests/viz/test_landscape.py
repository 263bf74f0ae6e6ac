"""Contours with paths, surfaces, basins, GD vs SGD, penalized landscapes."""

from __future__ import annotations

import numpy as np
import pytest

from descentlab import landscapes
from descentlab.viz import (
    plot_basins,
    plot_gd_vs_sgd,
    plot_landscape,
    plot_regularized_landscape,
    plot_surface,
)
from descentlab.viz._common import clip_path


@pytest.fixture
def assert_png(viz_helpers):
    return viz_helpers.assert_png


@pytest.fixture
def path_lines(viz_helpers):
    return viz_helpers.path_lines


@pytest.fixture(scope="module")
def beale_race():
    return landscapes.race(
        "beale",
        [1.0, 1.5],
        {"sgd": {"lr": 1e-3}, "momentum": {"lr": 1e-3}, "adam": {"lr": 0.05}},
        steps=60,
    )


def test_one_line_per_run_with_hyperparameters_in_the_legend(
    beale_race, tmp_path, assert_png, path_lines
):
    out = tmp_path / "beale.png"
    fig = plot_landscape("beale", beale_race, resolution=60, out=out)
    ax = fig.axes[0]
    lines = path_lines(ax)
    assert len(lines) == 3
    labels = [ln.get_label() for ln in lines]
    assert labels[0] == "sgd (η=0.001)"
    assert labels[1].startswith("momentum (η=0.001, β=0.9")
    assert labels[2] == "adam (η=0.05)"
    # each line follows the recorded path exactly
    pos = beale_race["adam"].trajectory.positions
    np.testing.assert_allclose(lines[2].get_xydata(), pos)
    assert_png(out, fig)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "minimum" in legend and "start" in legend


def test_single_result_and_list_and_svg(tmp_path, path_lines):
    res = landscapes.minimize("booth", [-5.0, -5.0], lr=0.05, steps=30)
    fig = plot_landscape("booth", res, resolution=40, out=tmp_path / "b.svg")
    assert len(path_lines(fig.axes[0])) == 1
    text = (tmp_path / "b.svg").read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    fig = plot_landscape("booth", [res, res], resolution=40)
    assert len(path_lines(fig.axes[0])) == 2


def test_batched_result_is_split_into_runs(path_lines):
    res = landscapes.minimize("quadratic", [[1.0, 1.0], [-1.0, 0.5]], lr=0.1, steps=10)
    fig = plot_landscape("quadratic", res, resolution=30)
    assert len(path_lines(fig.axes[0])) == 2


def test_unknown_suffix_is_rejected_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="unknown file type '.jpg'"):
        plot_landscape("beale", out=tmp_path / "x.jpg")
    with pytest.raises(ValueError, match=".gif"):
        plot_landscape("beale", out=tmp_path / "x.gif")
    with pytest.raises(TypeError):
        plot_landscape("beale", out=3)
    assert not list(tmp_path.iterdir())


def test_diverged_run_is_cut_at_the_edge_and_marked(tmp_path, path_lines):
    f = landscapes.get("quadratic")
    res = landscapes.minimize(f, [1.0, 0.5], lr=1.5, steps=50)
    assert res.status == "diverged"
    fig = plot_landscape(f, {"too big": res}, resolution=40, out=tmp_path / "d.png")
    ax = fig.axes[0]
    (line,) = path_lines(ax)
    xy = line.get_xydata()
    assert np.isfinite(xy).all()
    lo, hi = f.bounds[:, 0], f.bounds[:, 1]
    assert (xy >= lo - 1e-12).all() and (xy <= hi + 1e-12).all()
    assert np.isclose(np.abs(xy[-1]).max(), 2.0)  # ends on the edge of the box
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("step ") for t in texts)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "diverged: left the plot" in legend


def test_clip_path_reports_the_exit_step():
    P = np.array([[0.0, 0.0], [0.5, 0.0], [3.0, 0.0], [np.inf, 0.0]])
    vis, left = clip_path(P, np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    assert left == 2
    np.testing.assert_allclose(vis, [[0, 0], [0.5, 0], [1.0, 0]])
    vis, left = clip_path(P[:2], np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    assert left is None and len(vis) == 2


def test_one_dimensional_landscape_puts_iterates_on_the_curve(path_lines):
    f = landscapes.get("parabola")
    osc = landscapes.minimize(f, 1.0, lr=1.0, steps=6)
    assert "oscillate" in osc.message
    fig = plot_landscape(f, {"gd": landscapes.minimize(f, 1.0, lr=0.3, steps=8), "osc": osc})
    lines = path_lines(fig.axes[0])
    assert len(lines) == 2
    for ln in lines:
        x, y = ln.get_xdata(), ln.get_ydata()
        np.testing.assert_allclose(y, x**2)
    assert fig.axes[0].get_xlabel() == "x" and fig.axes[0].get_ylabel() == "f(x)"


def test_higher_dimensions_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="3-D landscape 'rosenbrock'"):
        plot_landscape(landscapes.get("rosenbrock", dim=3))


def test_surface_has_a_3d_line_per_run(beale_race, tmp_path, assert_png, path_lines):
    fig = plot_surface("beale", beale_race, resolution=20, out=tmp_path / "s.png")
    ax = fig.axes[0]
    assert ax.name == "3d"
    assert len(path_lines(ax)) == 3
    assert ax.get_zlabel() == "log(1 + f - f_min)"  # Beale has log_scale
    assert_png(tmp_path / "s.png", fig)


def test_basins_of_himmelblau_find_the_four_minima(tmp_path, assert_png):
    fig = plot_basins("himmelblau", resolution=12, steps=300, out=tmp_path / "h.png")
    info = fig.basins
    assert info["classes"].shape == (12, 12)
    f = landscapes.get("himmelblau")
    np.testing.assert_allclose(info["centers"][:4], f.minima)
    found = set(np.unique(info["classes"]).tolist())
    assert {0, 1, 2, 3} <= found
    # the start nearest to (3, 2) ends in basin 0
    xs = np.linspace(-5, 5, 12)
    i, j = np.argmin(np.abs(xs - 2.0)), np.argmin(np.abs(xs - 3.0))
    assert info["classes"][i, j] == 0
    assert_png(tmp_path / "h.png", fig)


def test_basins_show_diverged_and_unfinished_starts():
    fig = plot_basins("himmelblau", resolution=10, lr=0.03, steps=5)
    cls = fig.basins["classes"]
    assert (cls == -1).any()  # too large a step from the steep corners
    assert (cls == -2).any()  # five steps are not enough from most starts
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(t.startswith("diverged") for t in legend)
    assert any(t.startswith("unfinished") for t in legend)


def test_basins_of_the_camel_add_its_local_minima():
    fig = plot_basins("six_hump_camel", resolution=24, steps=400)
    centers, kinds = fig.basins["centers"], fig.basins["kinds"]
    assert len(centers) == 6
    assert kinds.count("global min") == 2 and kinds.count("local min") == 4
    f = landscapes.get("six_hump_camel")
    assert np.abs(f.grad(centers)).max() < 1e-2


def test_basins_validate_resolution():
    with pytest.raises(ValueError, match="resolution"):
        plot_basins("himmelblau", resolution=1)


def test_gd_vs_sgd_paths_and_loss_panel(tmp_path, assert_png, path_lines):
    fig = plot_gd_vs_sgd(batch_sizes=(None, 1, 4), epochs=3, out=tmp_path / "g.png")
    ax, ax2 = fig.axes[0], fig.axes[1]  # fig.axes[2] is the colour bar
    paths = path_lines(ax)
    assert len(paths) == 3
    assert [len(p.get_xdata()) for p in paths] == [4, 25, 7]  # steps + 1 per run
    curves = [ln for ln in path_lines(ax2) if ln.get_label() != "minimum of F"]
    assert len(curves) == 3
    np.testing.assert_allclose(curves[1].get_xdata()[-1], 3.0)  # plotted against epochs
    assert ax.get_xlabel() == "w" and ax.get_ylabel() == "b"
    assert_png(tmp_path / "g.png", fig)


def test_regularized_landscape_moves_the_minimum(tmp_path, assert_png):
    fig = plot_regularized_landscape(
        "eight_points", l1=1.5, l2=0.5, resolution=40, out=tmp_path / "r.png"
    )
    panels = [a for a in fig.axes if a.get_title()]
    assert len(panels) == 3
    l1_legend = [t.get_text() for t in panels[1].get_legend().get_texts()]
    assert "new minimum (1.80, 0.00)" in l1_legend  # L1 puts b exactly at 0
    l2_legend = [t.get_text() for t in panels[2].get_legend().get_texts()]
    assert any(t.startswith("new minimum (1.67") for t in l2_legend)
    assert panels[1].get_xlabel() == "w"
    assert_png(tmp_path / "r.png", fig)


def test_drawing_into_given_axes_and_pdf_and_extra_hyperparameters(tmp_path, path_lines):
    from descentlab.viz._common import new_figure

    res = landscapes.minimize("booth", [-5.0, -5.0], "sgd", lr=0.01, momentum=0.5, steps=20)
    res["hyperparameters"] = {"momentum": 0.5}
    fig = new_figure(8, 4)
    left, right = fig.subplots(1, 2)
    out = plot_landscape(
        "booth", {"heavy ball": res}, ax=right, resolution=30, out=tmp_path / "b.pdf"
    )
    assert out is fig
    assert path_lines(right)[0].get_label() == "heavy ball (η=0.01, β=0.5)"
    assert not left.get_lines()
    assert (tmp_path / "b.pdf").read_bytes()[:5] == b"%PDF-"

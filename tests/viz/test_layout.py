"""Every mark of a race figure readable: "step k" labels apart from each other and from the
titles and legend, every path visible (drawing order, widths, its own marker), round
colour-bar ticks, and GIF legends readable at the GIF's own size."""

from __future__ import annotations

import numpy as np
import pytest

from descentlab import landscapes
from descentlab.viz import classic_race, plot_landscape, plot_lr_sweep
from descentlab.viz._layout import STEP_LABEL, boxes_overlap, label_box, nice_ticks


@pytest.fixture(scope="module")
def saddle():
    """The demo's saddle picture: five of seven paths leave the plot near x = 0."""
    runs = landscapes.classic_race("saddle", 100)
    bounds = landscapes.CLASSIC_RACES["saddle"]["bounds"]
    return runs, plot_landscape("saddle", runs, bounds=bounds, resolution=80)


def _labels(ax):
    return [t for t in ax.texts if t.get_gid() == STEP_LABEL]


def test_step_labels_overlap_nothing_and_stay_in_the_plot(saddle, tmp_path, viz_helpers):
    _runs, fig = saddle
    out = tmp_path / "race_saddle.png"
    fig.savefig(out, dpi=fig.dpi)  # what the demo writes
    viz_helpers.assert_png(out, fig)
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    labels = _labels(ax)
    assert sorted(t.get_text() for t in labels) == sorted(f"step {k}" for k in (39, 54, 57, 74, 79))
    boxes = [label_box(t, renderer) for t in labels]
    frame = ax.get_window_extent(renderer)
    others = {
        "the title": ax.title.get_window_extent(renderer),
        "the legend": ax.get_legend().get_window_extent(renderer),
    }
    for i, (text, box) in enumerate(zip(labels, boxes)):
        name = text.get_text()
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, f"{name} leaves the plot sideways"
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1, f"{name} leaves the plot"
        for what, other in others.items():
            assert not boxes_overlap(box, other), f"{name} overlaps {what}"
        for other_text, other in zip(labels[i + 1 :], boxes[i + 1 :]):
            assert not boxes_overlap(box, other), f"{name} overlaps {other_text.get_text()}"
        # each label keeps a line to the point where its path left, in the path's colour
        assert text.arrow_patch is not None
        assert text.get_bbox_patch().get_edgecolor()[:3] == text.arrow_patch.get_edgecolor()[:3]


def test_every_path_is_visible_where_paths_overlap(saddle, viz_helpers):
    runs, fig = saddle
    ax = fig.axes[0]
    lines = viz_helpers.path_lines(ax)
    assert [ln.get_label().split()[0] for ln in lines] == list(runs)
    by_name = dict(zip(runs, lines))
    # each path carries its own marker shape along it, not only at its ends
    markers = [ln.get_marker() for ln in lines]
    assert len(set(markers)) == len(lines) and "None" not in markers
    assert all(ln.get_markevery() is not None for ln in lines)
    # SGD creeps along y = 0 where momentum and Nesterov went first: it is drawn above
    # them and narrower, so both it and the wider lines beneath it show
    sgd = by_name["sgd"]
    for other in ("momentum", "nesterov"):
        assert sgd.get_zorder() > by_name[other].get_zorder()
        assert sgd.get_linewidth() < by_name[other].get_linewidth()
    # drawing order follows path length: the longest path at the bottom, widest
    lengths = {}
    for name, ln in by_name.items():
        xy = ln.get_xydata()
        lengths[name] = float(np.sqrt((np.diff(xy, axis=0) ** 2).sum(axis=1)).sum())
    ordered = sorted(by_name, key=lambda n: by_name[n].get_zorder())
    assert [lengths[n] for n in ordered] == sorted(lengths.values(), reverse=True)
    assert len({ln.get_zorder() for ln in lines}) == len(lines)
    # all paths under the end and start markers
    ends = [c for c in ax.collections if c.get_label() in ("start", "end")]
    assert ends and min(c.get_zorder() for c in ends) > max(ln.get_zorder() for ln in lines)


@pytest.mark.parametrize("name", ["saddle", "beale", "rosenbrock"])
def test_colour_bar_ticks_are_round(name, saddle):
    if name == "saddle":
        fig = saddle[1]
    else:
        fig = plot_landscape(name, resolution=60)
    colorbar = fig.axes[-1]
    ticks = np.asarray(colorbar.get_yticks())
    labels = [t.get_text() for t in colorbar.get_yticklabels()]
    assert len(ticks) >= 3
    for value, label in zip(ticks, labels):
        digits = f"{abs(value):.6e}".split("e")[0].replace(".", "").rstrip("0")
        assert len(digits) <= 2, f"{name}: tick {value!r} ({label}) is not round"
        assert "-0.0" not in label and len(label.replace("-", "").replace(".", "")) <= 5


def test_nice_ticks_of_linear_and_log_levels():
    np.testing.assert_allclose(nice_ticks(np.linspace(-4.0, 4.0 - 0.04, 30), False), [-4, -2, 0, 2])
    levels = np.concatenate([[1e-6], 1e-6 + np.geomspace(2e-3, 1.8e5, 29)])
    np.testing.assert_allclose(nice_ticks(levels, True), 10.0 ** np.arange(-2, 6))
    # a minimum away from 0: each tick rounded at its own decade, still increasing
    levels = np.concatenate([[3.0004], 3.0004 + np.geomspace(2e-2, 1e6, 29)])
    ticks = nice_ticks(levels, True)
    assert (np.diff(ticks) > 0).all() and ticks[0] > 3.0004 and ticks[-1] <= levels[-1]


def test_gif_legend_is_readable_at_the_gif_size(tmp_path, viz_helpers):
    out = tmp_path / "race.gif"
    anim = classic_race("beale", steps=30, frames=2, out=out)  # the default dpi and size
    fig = anim.figure
    size, _ = viz_helpers.gif_info(out)
    assert size == fig.canvas.get_width_height()
    (legend,) = fig.legends
    renderer = fig.canvas.get_renderer()
    texts = legend.get_texts()
    assert len(texts) == 7 + 2  # the seven runs, the minimum and the start
    for text in texts:
        pixels = text.get_fontsize() * fig.dpi / 72
        assert pixels >= 11, f"{text.get_text()!r} is {pixels:.1f} px"
        height = label_box(text, renderer).height
        assert height >= 10, f"{text.get_text()!r} is {height:.1f} px tall in the GIF"
    box = legend.get_window_extent(renderer)
    assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= size[0] and box.y1 <= size[1]
    for ax in fig.axes:  # under both panels, not over them
        assert not boxes_overlap(box, ax.get_window_extent(renderer))
    from PIL import Image

    with Image.open(out) as im:  # the last frame, as a picture to look at
        im.seek(im.n_frames - 1)
        im.convert("RGB").save(tmp_path / "last-frame.png")
    viz_helpers.assert_png(tmp_path / "last-frame.png")


def test_lr_panels_place_their_step_labels_too():
    fig = plot_lr_sweep("ill_conditioned", (0.1, 0.6, 2.0), steps=10)
    renderer = fig.canvas.get_renderer()
    for ax in (a for a in fig.axes if a.get_visible()):
        frame = ax.get_window_extent(renderer)
        for text in _labels(ax):
            box = label_box(text, renderer)
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1
            assert frame.y0 <= box.y0 and box.y1 <= frame.y1
    panels = [a for a in fig.axes if a.get_visible()]
    for ax, status, nit in zip(panels, fig.statuses, fig.results.nit):
        assert status in [t.get_text() for t in ax.texts]  # fig.statuses is what it shows
        assert f"step {nit}" in status or f"{nit} steps" in status

"""Figures of network landscapes: what is drawn is what was computed."""

from __future__ import annotations

import numpy as np
import pytest

from descentlab import landscapes, nn
from descentlab.landscapes.network import flat_weights
from descentlab.viz import network as pictures


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    nn.manual_seed(0)
    model = nn.MLP([4, 8, 2], dtype=np.float64)
    init = flat_weights(model)
    from descentlab.train import fit
    from descentlab.train.callbacks import WeightSnapshots

    snaps = WeightSnapshots()
    fit(
        model,
        (X, y),
        optimizer="sgd",
        lr=0.5,
        epochs=6,
        batch_size=10,
        callbacks=[snaps],
        progress=False,
        seed=0,
    )
    path = snaps.path
    return model, (X, y), init, path


def test_landscape_figure_shows_the_projected_path_and_the_explained_variance(
    trained, tmp_path, viz_helpers
):
    model, data, _, path = trained
    f = landscapes.of_model(model, data, directions="pca", path=path)
    out = tmp_path / "landscape.png"
    fig = pictures.plot_network_landscape({"sgd": f}, resolution=9, out=out)
    viz_helpers.assert_png(out, fig)
    ax = fig.axes[0]
    ev = f.explained_variance
    assert f"{100 * ev[0]:.1f}%" in ax.get_xlabel() and f"{100 * ev[1]:.1f}%" in ax.get_ylabel()
    drawn = [line for line in ax.get_lines() if line.get_label() == "path"]
    assert len(drawn) == 1
    np.testing.assert_allclose(drawn[0].get_xydata(), f.path_2d)
    # the filled contours span the grid's values (log-spaced levels from the minimum)
    xs = np.linspace(*f.bounds[0], 9)
    ys = np.linspace(*f.bounds[1], 9)
    Z = f.value(np.stack(np.meshgrid(xs, ys), axis=-1))
    levels = ax.collections[0].levels
    assert levels[0] <= Z.min() + 1e-9 and levels[-1] == pytest.approx(Z.max())


def test_interpolation_figure_draws_the_computed_curves(trained, tmp_path, viz_helpers):
    model, data, init, _ = trained
    curve = landscapes.interpolate(model, init, flat_weights(model), data, n=11)
    out = tmp_path / "line.png"
    fig = pictures.plot_interpolation({"sgd init → solution": curve, "sgd again": curve}, out=out)
    viz_helpers.assert_png(out, fig)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_yscale() == "log"
    lines = loss_ax.get_lines()[:2]
    np.testing.assert_allclose(lines[0].get_ydata(), curve[1])
    np.testing.assert_allclose(acc_ax.get_lines()[0].get_ydata(), curve[2])
    assert lines[0].get_color() != lines[1].get_color()  # same optimizer, told apart
    with pytest.raises(ValueError):
        pictures.plot_interpolation((np.zeros(3), np.zeros(2), np.zeros(3)))


def test_sharpness_figure_draws_lambda_max_against_two_over_eta(tmp_path, viz_helpers):
    out = tmp_path / "sharp.png"
    epochs, values, lrs = [0, 1, 2], [1.0, 3.0, 4.2], [0.5, 0.5, 0.5]
    fig = pictures.plot_sharpness({"sgd": (epochs, values, lrs)}, out=out)
    viz_helpers.assert_png(out, fig)
    lam, edge = fig.axes[0].get_lines()
    np.testing.assert_allclose(lam.get_ydata(), values)
    np.testing.assert_allclose(edge.get_ydata(), [4.0, 4.0, 4.0])
    assert "2/η = 4" in edge.get_label()


def test_report_is_one_self_contained_page_with_a_readable_table(tmp_path, viz_helpers):
    png = tmp_path / "a.png"
    pictures.plot_sharpness(([0, 1], [1.0, 2.0], [0.1, 0.1]), out=png)
    index = pictures.surface_report(
        tmp_path / "site", {"sharp <one>": png}, {"sgd": {"λ_max": 2.0, "loss": 0.25}}
    )
    page = index.read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and 'src="http' not in page
    assert "<th>λ_max</th>" in page and "<td>sgd</td><td>2</td><td>0.25</td>" in page
    assert "sharp &lt;one&gt;" in page

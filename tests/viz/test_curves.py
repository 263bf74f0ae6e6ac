"""f(x_t) curves, the learning-rate experiment, training histories."""

from __future__ import annotations

import numpy as np
import pytest

from descentlab import landscapes
from descentlab.train import History
from descentlab.viz import plot_history, plot_lr_sweep, plot_values


def test_values_one_line_per_run_on_a_log_scale(tmp_path, viz_helpers):
    runs = landscapes.race(
        "rosenbrock", [-1.2, 1.0], {"sgd": {"lr": 1e-3}, "adam": {"lr": 0.02}}, steps=50
    )
    fig = plot_values(runs, f="rosenbrock", out=tmp_path / "v.png")
    ax = fig.axes[0]
    lines = viz_helpers.path_lines(ax)
    assert len(lines) == 2
    assert ax.get_yscale() == "log"
    assert ax.get_ylabel() == "f(x_t) - f*"
    np.testing.assert_allclose(lines[1].get_ydata(), runs["adam"].trajectory.values)
    viz_helpers.assert_png(tmp_path / "v.png", fig)


def test_values_with_a_diverged_and_a_negative_run(viz_helpers):
    bad = landscapes.minimize("quadratic", [1.0, 1.0], lr=2.0, steps=40)
    saddle = landscapes.minimize("saddle", [1.0, 0.1], lr=0.1, steps=15)
    assert bad.status == "diverged"
    fig = plot_values({"bad": bad, "saddle": saddle})
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear"  # the saddle's values go negative
    assert any(t.get_text().startswith("diverged at step") for t in ax.texts)
    for ln in viz_helpers.path_lines(ax):
        assert np.isfinite(ln.get_ydata()).all()
    with pytest.raises(ValueError, match="at least one run"):
        plot_values([])


def test_lr_sweep_on_the_parabola(tmp_path, viz_helpers):
    fig = plot_lr_sweep(
        "parabola", (0.01, 0.1, 1.0, 100.0, 1000.0), steps=20, out=tmp_path / "lr.png"
    )
    res = fig.results
    assert res.status.tolist()[:2] == ["max_steps", "max_steps"]
    assert res.status[3] == res.status[4] == "diverged"
    panels = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in panels] == [
        "η = 0.01",
        "η = 0.1",
        "η = 1",
        "η = 100",
        "η = 1000",
    ]
    texts = [" ".join(t.get_text() for t in a.texts) for a in panels]
    assert "oscillates" in texts[2]
    assert "diverged at step" in texts[3] and "diverged at step" in texts[4]
    for a in panels:  # one path per panel, finite and inside the plot
        (line,) = viz_helpers.path_lines(a)
        xy = line.get_xydata()
        assert np.isfinite(xy).all() and np.abs(xy[:, 0]).max() <= 2.0 + 1e-12
    viz_helpers.assert_png(tmp_path / "lr.png", fig)


def test_lr_sweep_in_two_dimensions_and_errors():
    fig = plot_lr_sweep("ill_conditioned", (0.1, 0.6, 2.0), steps=10)
    assert fig.results.status.tolist() == ["max_steps", "max_steps", "diverged"]
    panels = [a for a in fig.axes if a.get_visible()]
    assert len(panels) == 3
    texts = [" ".join(t.get_text() for t in a.texts) for a in panels]
    assert "left the plot at step" in texts[1]  # growing, not yet declared diverged
    assert "diverged at step" in texts[2]
    with pytest.raises(ValueError, match="positive learning rates"):
        plot_lr_sweep("parabola", (0.1, -1.0))


def _history(losses, val=None, acc=None, lrs=None):
    rows = []
    for i, loss in enumerate(losses):
        rows.append(
            {
                "epoch": i,
                "train_loss": loss,
                "val_loss": None if val is None else val[i],
                "train_accuracy": None if acc is None else acc[i],
                "val_accuracy": None if acc is None else acc[i] - 0.05,
                "lr": 0.1 if lrs is None else lrs[i],
            }
        )
    return History(epochs=rows)


def test_history_train_solid_validation_dashed(tmp_path, viz_helpers):
    a = _history([1.0, 0.5, 0.3], val=[1.1, 0.7, 0.6], acc=[0.5, 0.7, 0.8])
    b = _history([1.0, 0.8, 0.6], val=[1.0, 0.9, 0.8], acc=[0.5, 0.6, 0.7], lrs=[0.1, 0.05, 0.01])
    fig = plot_history({"sgd": a, "adam": b}, out=tmp_path / "h.png")
    loss_ax, acc_ax = fig.axes[0], fig.axes[1]
    styles = {ln.get_label(): ln.get_linestyle() for ln in viz_helpers.path_lines(loss_ax)}
    assert styles == {
        "sgd (train)": "-",
        "sgd (validation)": "--",
        "adam (train)": "-",
        "adam (validation)": "--",
    }
    np.testing.assert_array_equal(viz_helpers.path_lines(loss_ax)[0].get_xdata(), [1, 2, 3])
    assert len(viz_helpers.path_lines(acc_ax)) == 4
    twin = [ax for ax in fig.axes if ax.get_ylabel().startswith("learning rate")]
    assert len(twin) == 1 and len(twin[0].get_lines()) == 1  # only adam's lr changes
    assert loss_ax.get_lines()[0].get_color() == "#d62728"  # the palette colour of "sgd"
    viz_helpers.assert_png(tmp_path / "h.png", fig)


def test_history_without_accuracy_has_one_panel():
    fig = plot_history(_history([3.0, 2.0, 1.0]))
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="labels"):
        plot_history([_history([1.0])], labels=["a", "b"])
    with pytest.raises(TypeError, match="not a History"):
        plot_history({"x": [1, 2]})
    with pytest.raises(ValueError, match="at least one History"):
        plot_history(History())

"""Decision regions and regression fits, including the overfitting demonstration."""

from __future__ import annotations

import numpy as np
import pytest

from descentlab import data, nn
from descentlab.viz import plot_decision_boundary, plot_overfitting, plot_regression_fit
from descentlab.viz.boundary import _probabilities


def _three_sectors(X):
    """Logits of a perfect classifier for the three 120-degree sectors around 0."""
    angle = np.mod(np.arctan2(X[:, 1], X[:, 0]), 2 * np.pi)
    centers = np.array([1, 3, 5]) * np.pi / 3
    d = np.abs(np.angle(np.exp(1j * (angle[:, None] - centers[None]))))
    return -5.0 * d


def _sector_data(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    return X, _three_sectors(X).argmax(axis=1)


def test_probabilities_from_logits_and_single_outputs():
    P = _probabilities(np.array([[0.0, 0.0], [100.0, 0.0]]))
    np.testing.assert_allclose(P, [[0.5, 0.5], [1.0, 0.0]], atol=1e-12)
    P = _probabilities(np.array([0.0, 50.0, -50.0]))
    np.testing.assert_allclose(P[:, 1], [0.5, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(_probabilities(np.array([[0.2, 0.8]])), [[0.2, 0.8]])


def test_multiclass_regions_with_train_and_test_markers(tmp_path, viz_helpers):
    X, y = _sector_data(90, 0)
    Xt, yt = _sector_data(30, 1)
    fig = plot_decision_boundary(
        _three_sectors, X, y, X_test=Xt, y_test=yt, resolution=60, out=tmp_path / "db.png"
    )
    ax = fig.axes[0]
    assert "train accuracy 100.0%, test accuracy 100.0%" in ax.get_title()
    (img,) = ax.get_images()
    assert img.get_array().shape == (60, 60, 3)
    markers = [c.get_paths()[0] for c in ax.collections if c.get_label().endswith("(test)")]
    assert len(markers) == 3
    labels = [c.get_label() for c in ax.collections if c.get_label().startswith("class")]
    assert labels == [
        "class 0 (train)",
        "class 0 (test)",
        "class 1 (train)",
        "class 1 (test)",
        "class 2 (train)",
        "class 2 (test)",
    ]
    # soft colours: a confident pixel is lighter than pure class colour but not white
    rgb = img.get_array()
    assert 0.3 < rgb.min() and rgb.max() <= 1.0
    viz_helpers.assert_png(tmp_path / "db.png", fig)


def test_decision_boundary_of_a_descentlab_mlp():
    X, y = data.make_moons(n=60, seed=0)
    nn.manual_seed(0)
    model = nn.MLP([2, 8, 2])
    fig = plot_decision_boundary(model, X, y, resolution=30, class_names=["top", "bottom"])
    labels = [c.get_label() for c in fig.axes[0].collections if "(train)" in c.get_label()]
    assert labels == ["top (train)", "bottom (train)"]


def test_decision_boundary_input_errors():
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plot_decision_boundary(_three_sectors, np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="5 rows but y has 4"):
        plot_decision_boundary(_three_sectors, np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(TypeError, match="Module or a function"):
        plot_decision_boundary("model", np.zeros((5, 2)), np.zeros(5))


def test_regression_fit_with_functions_and_arrays(viz_helpers):
    X = np.linspace(-1, 1, 8)[:, None]
    y = 0.5 * X[:, 0] + 0.2
    grid = np.linspace(-1.1, 1.1, 50)
    fig = plot_regression_fit(
        {"exact": lambda x: 0.5 * x + 0.2, "zero": np.zeros(50)}, X, y, resolution=50
    )
    lines = viz_helpers.path_lines(fig.axes[0])
    assert [ln.get_label() for ln in lines] == ["exact (train MSE 0)", "zero"]
    np.testing.assert_allclose(lines[0].get_xdata(), grid)
    with pytest.raises(ValueError, match=r"shape \(50,\)"):
        plot_regression_fit({"bad": np.zeros(3)}, X, y, resolution=50)


def test_overfitting_demo_trains_three_models(tmp_path, viz_helpers):
    fig = plot_overfitting(hidden=(32, 32), epochs=300, out=tmp_path / "o.png")
    assert len(fig.models) == 3
    labels = [ln.get_label() for ln in viz_helpers.path_lines(fig.axes[0])]
    assert labels[0] == "truth"
    names = [lb.split(" (")[0] for lb in labels[1:]]
    assert names == ["no regularization", "L2 penalty, λ = 0.01", "dropout, p = 0.5"]
    train_mse = [float(lb.split("train MSE ")[1].split(",")[0]) for lb in labels[1:]]
    assert train_mse[0] < train_mse[1]  # the unregularized net fits the noise best
    viz_helpers.assert_png(tmp_path / "o.png", fig)

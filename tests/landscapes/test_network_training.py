"""The training callbacks that feed the network landscapes: weight snapshots (the path
for PCA directions) and sharpness along training (the edge of stability)."""

from __future__ import annotations

import numpy as np
import pytest

from descentlab import data, landscapes, nn
from descentlab.landscapes.network import flat_weights
from descentlab.train import fit
from descentlab.train.callbacks import SharpnessTracker, WeightSnapshots


def _moons(n: int = 64):
    bundle = data.load("moons", seed=0, n=n, noise=0.1)
    X, y = bundle.train
    return X.astype(np.float64), y


def test_weight_snapshots_record_the_path_by_epoch_and_by_steps():
    X, y = _moons()
    nn.manual_seed(0)
    model = nn.MLP([2, 8, 2], dtype=np.float64)
    init = flat_weights(model)
    by_epoch, by_steps = WeightSnapshots(), WeightSnapshots(every=3)
    fit(
        model,
        (X, y),
        optimizer="sgd",
        lr=0.1,
        epochs=4,
        batch_size=16,
        callbacks=[by_epoch, by_steps],
        progress=False,
        seed=0,
    )
    steps_per_epoch = int(np.ceil(len(X) / 16))
    assert len(by_epoch.snapshots) == 5 and by_epoch.steps[0] == 0
    assert by_epoch.steps[1:] == [steps_per_epoch * (e + 1) for e in range(4)]
    assert by_steps.steps == [0, *range(3, 4 * steps_per_epoch + 1, 3)]
    np.testing.assert_array_equal(by_epoch.snapshots[0], init)
    np.testing.assert_array_equal(by_epoch.snapshots[-1], flat_weights(model))
    assert by_epoch.path.shape == (5, init.size)
    f = landscapes.of_model(model, (X, y), directions="pca", path=by_epoch)
    assert f.path_2d.shape == (5, 2) and 0 < f.explained_variance.sum() <= 1
    with pytest.raises(ValueError, match="every"):
        WeightSnapshots(every=0)


def test_full_batch_gd_sharpens_to_the_edge_of_stability():
    """Cohen et al. 2021: under full-batch GD the top Hessian eigenvalue rises to ~2/eta
    and hovers there. A tanh MLP on 2-D data with the MSE loss, eta = 0.4 (2/eta = 5)."""
    X, y = _moons()
    targets = np.eye(2)[y]
    nn.manual_seed(0)
    model = nn.MLP([2, 32, 32, 2], activation="tanh", dtype=np.float64)
    lr = 0.4
    tracker = SharpnessTracker((X, targets), every=10)
    fit(
        model,
        (X, targets),
        loss="mse",
        optimizer="sgd",
        lr=lr,
        epochs=200,
        batch_size=len(X),
        callbacks=[tracker],
        progress=False,
    )
    values = np.array(tracker.values)
    assert tracker.epochs == list(range(0, 201, 10)) and tracker.lrs == [lr] * 21
    late = values[len(values) // 2 :]
    assert np.median(late) == pytest.approx(2 / lr, rel=0.25)
    assert values.max() < 2 * (2 / lr)  # GD cannot stay far above the edge
    # the value recorded at the end is the model's sharpness then
    assert landscapes.sharpness(model, (X, targets)) == pytest.approx(values[-1], rel=1e-2)

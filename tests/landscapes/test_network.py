"""landscapes.of_model / interpolate / sharpness: checked against finite differences,
torch autograd and known eigenvalues."""

from __future__ import annotations

import numpy as np
import pytest

from descentlab import landscapes, nn
from descentlab.autograd import no_grad
from descentlab.landscapes.network import (
    PlaneEvaluator,
    filter_normalized,
    flat_weights,
    lanczos_top,
    model_hvp,
    set_flat_weights,
)
from descentlab.nn import functional as F

torch = pytest.importorskip("torch")


def _data(n: int = 60, d: int = 5, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, classes, n)


def _mlp(sizes=(5, 7, 6, 3), dtype=np.float64, **kw):
    nn.manual_seed(0)
    return nn.MLP(list(sizes), dtype=dtype, **kw)


def _loss(model, X, y) -> float:
    model.eval()
    with no_grad():
        value = float(F.cross_entropy(model(X), y).data)
    model.train()
    return value


def _torch_grad(model, flat, X, y) -> np.ndarray:
    """The full gradient of the mean cross-entropy at flat weights, by torch autograd."""
    shapes = [p.shape for p in model.parameters()]
    w = torch.tensor(flat, requires_grad=True)
    parts, start = [], 0
    for s in shapes:
        n = int(np.prod(s))
        parts.append(w[start : start + n].reshape(s))
        start += n
    h = torch.tensor(X)
    for i in range(0, len(parts), 2):
        h = h @ parts[i].T + parts[i + 1]
        if i < len(parts) - 2:
            h = torch.relu(h)
    torch.nn.functional.cross_entropy(h, torch.tensor(y)).backward()
    return w.grad.numpy()


def _torch_loss_of_flat(model, X, y):
    shapes = [p.shape for p in model.parameters()]

    def f(w):
        parts, start = [], 0
        for s in shapes:
            n = int(np.prod(s))
            parts.append(w[start : start + n].reshape(s))
            start += n
        h = torch.tensor(X)
        for i in range(0, len(parts), 2):
            h = h @ parts[i].T + parts[i + 1]
            if i < len(parts) - 2:
                h = torch.tanh(h)
        return torch.nn.functional.cross_entropy(h, torch.tensor(y))

    return f


def test_value_at_the_center_is_the_models_loss_float32_and_float64():
    X, y = _data()
    for dtype in (np.float32, np.float64):
        model = _mlp(dtype=dtype, dropout=0.5)  # dropout is off in the landscape
        f = landscapes.of_model(model, (X.astype(dtype), y))
        assert f.value([0.0, 0.0]) == pytest.approx(_loss(model, X.astype(dtype), y), rel=1e-6)
        assert model.training  # left as it was
    # a fixed batch: the loss on those samples
    model = _mlp()
    f = landscapes.of_model(model, (X, y), batch=10, seed=3)
    idx = np.sort(np.random.default_rng(3).choice(len(X), 10, replace=False))
    assert f.samples == 10
    assert f.value([0.0, 0.0]) == pytest.approx(_loss(model, X[idx], y[idx]), rel=1e-12)


def test_gradient_is_the_projected_full_gradient_and_matches_finite_differences():
    X, y = _data()
    model = _mlp()
    f = landscapes.of_model(model, (X, y), directions="random", seed=1)
    pts = np.array([[0.0, 0.0], [0.3, -0.2], [-0.5, 0.7]])
    g = f.grad(pts)
    for p, gp in zip(pts, g):
        full = _torch_grad(model, f.weights_at(*p), X, y)
        np.testing.assert_allclose(gp, f.directions @ full, rtol=1e-9, atol=1e-12)
    assert f.check_grad(pts, eps=1e-6) < 1e-6
    v, g2 = f.value_and_grad(pts)
    np.testing.assert_allclose(g2, g)
    np.testing.assert_allclose(v, f.value(pts))


def test_filter_normalization_on_a_hand_made_layer():
    model = nn.Sequential(nn.Linear(3, 2, dtype=np.float64), nn.ReLU(), nn.Linear(2, 1))
    model[0].weight.data[...] = [[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]]
    model[0].bias.data[...] = [1.0, -2.0]
    model[2].weight.data[...] = [[6.0, 8.0]]
    center = flat_weights(model)
    d = filter_normalized(model, center, np.random.default_rng(7))
    W1, b1, W2, b2 = d[:6].reshape(2, 3), d[6:8], d[8:10], d[10:]
    np.testing.assert_allclose(np.linalg.norm(W1, axis=1), [5.0, 2.0])  # each row: its neuron
    np.testing.assert_allclose(np.linalg.norm(W2), 10.0)
    assert not b1.any() and not b2.any()  # biases get direction 0 (Li et al.'s default)
    gauss = np.random.default_rng(7).standard_normal(6).reshape(2, 3)
    np.testing.assert_allclose(W1[0] / 5.0, gauss[0] / np.linalg.norm(gauss[0]))
    with_biases = filter_normalized(model, center, np.random.default_rng(7), biases=True)
    np.testing.assert_allclose(np.abs(with_biases[6:8]), [1.0, 2.0])
    f = landscapes.of_model(model, (np.ones((4, 3)), np.zeros((4, 1))))
    assert f.kind == "filter" and f.loss_name == "mse"
    assert np.allclose(np.linalg.norm(f.directions[0][:6].reshape(2, 3), axis=1), [5.0, 2.0])


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_vectorized_grid_equals_point_by_point(activation):
    X, y = _data(n=40)
    model = _mlp(activation=activation, dropout=0.3)
    f = landscapes.of_model(model, (X, y))
    assert f.evaluator._plan is not None  # the MLP path
    slow = PlaneEvaluator(model, X, y, F.cross_entropy, f.center, f.directions)
    assert slow._plan is None  # a loss function: point by point through model.forward
    a = np.linspace(-1, 1, 7)
    grid = np.stack(np.meshgrid(a, a), axis=-1)
    Z = f.value(grid)
    assert Z.shape == (7, 7)
    values, grads, accs = slow.evaluate(grid.reshape(-1, 2), grad=True, accuracy=True)
    np.testing.assert_allclose(Z.ravel(), values, rtol=1e-12)
    np.testing.assert_allclose(f.grad(grid).reshape(-1, 2), grads, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(f.accuracy(grid).ravel(), accs)
    f.evaluator.chunk = 3  # chunks of the grid as batches give the same numbers
    np.testing.assert_allclose(f.value(grid), Z, rtol=1e-12)


def test_interpolation_endpoints_are_the_losses_of_the_two_weight_vectors():
    X, y = _data()
    model = _mlp()
    theta_a = flat_weights(model)
    theta_b = theta_a + 0.3 * np.random.default_rng(0).standard_normal(theta_a.size)
    alphas, loss, acc = landscapes.interpolate(model, theta_a, theta_b, (X, y), n=5)
    np.testing.assert_allclose(alphas, [-0.5, 0.0, 0.5, 1.0, 1.5])
    other = _mlp()
    set_flat_weights(other, theta_b)
    assert loss[1] == pytest.approx(_loss(model, X, y), rel=1e-12)
    assert loss[3] == pytest.approx(_loss(other, X, y), rel=1e-12)
    predicted = other.eval()(X).data.argmax(axis=1)
    assert acc[3] == pytest.approx(np.mean(predicted == y))
    np.testing.assert_allclose(flat_weights(model), theta_a)  # untouched
    # a state dict and a Module are accepted as weights too
    _, loss2, _ = landscapes.interpolate(model, model.state_dict(), other, (X, y), alphas=[1.0])
    assert loss2[0] == pytest.approx(loss[3])


def test_pca_directions_project_the_path_and_report_explained_variance():
    X, y = _data()
    model = _mlp()
    rng = np.random.default_rng(0)
    final = flat_weights(model)
    steps = np.linspace(1, 0, 8)[:, None]
    path = (
        final
        + steps * rng.standard_normal(final.size)
        + 0.1 * steps**2 * rng.standard_normal(final.size)
    )
    f = landscapes.of_model(model, (X, y), directions="pca", path=list(path))
    M = path - final
    _, s, _ = np.linalg.svd(M - M.mean(0), full_matrices=False)
    np.testing.assert_allclose(f.explained_variance, s[:2] ** 2 / (s**2).sum())
    np.testing.assert_allclose(f.directions @ f.directions.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(f.path_2d, M @ f.directions.T, atol=1e-12)
    np.testing.assert_allclose(f.path_2d[-1], [0.0, 0.0], atol=1e-12)
    assert f.explained_variance.sum() > 0.99  # the path lies in a plane here
    # the 2-D path reproduces the weights: the path lies in the plane
    np.testing.assert_allclose(
        f.center + f.path_2d @ f.directions, path, atol=1e-9 * np.abs(path).max()
    )
    lo, hi = f.bounds[:, 0], f.bounds[:, 1]
    assert (f.path_2d >= lo).all() and (f.path_2d <= hi).all()
    np.testing.assert_allclose(f.start, f.path_2d[0])


def test_every_landscape_tool_runs_on_it():
    X, y = _data()
    model = _mlp()
    f = landscapes.of_model(model, (X, y), center=flat_weights(model) * 1.5)
    res = landscapes.minimize(f, [[-0.6, 0.6], [0.5, 0.5]], optimizer="gd", lr=f.lr, steps=20)
    start = f.value(np.array([[-0.6, 0.6], [0.5, 0.5]]))
    assert (np.asarray(res.fun) < start).all()
    assert str(res.status[0]) in ("converged", "max_steps")


def test_bad_arguments_raise_clear_errors():
    X, y = _data()
    model = _mlp()
    with pytest.raises(ValueError, match="unknown directions"):
        landscapes.of_model(model, (X, y), directions="sideways")
    with pytest.raises(ValueError, match="needs the weight path"):
        landscapes.of_model(model, (X, y), directions="pca")
    with pytest.raises(ValueError, match="weights"):
        landscapes.of_model(model, (X, y), center=np.zeros(3))
    with pytest.raises(ValueError, match="batch"):
        landscapes.of_model(model, (X, y), batch=0)
    with pytest.raises(ValueError, match="unknown loss"):
        landscapes.of_model(model, (X, y), loss="hinge")
    with pytest.raises(TypeError):
        landscapes.of_model("model", (X, y))


# ---------------------------------------------------------------------------- sharpness
def test_sharpness_of_quadratics_is_their_top_eigenvalue():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    eig = np.array([-9.0, -1.0, 0.5, 2.0, 3.0, 4.0])  # the most negative is the largest in size
    A = Q @ np.diag(eig) @ Q.T

    def quad(x):
        return 0.5 * (x @ (A @ x))

    assert landscapes.sharpness(quad, np.ones(6)) == pytest.approx(4.0, rel=1e-8)
    f = landscapes.from_function(
        lambda X: 0.5 * np.einsum("...i,ij,...j->...", X, A, X), dim=6, jac=lambda X: X @ A
    )
    assert landscapes.sharpness(f, np.ones(6)) == pytest.approx(4.0, rel=1e-7)
    # the lecture's x^2: lambda = 2, so eta = 1 is the edge
    assert landscapes.sharpness(lambda x: (x**2).sum(), np.array([3.0])) == pytest.approx(2.0)
    top, vec = lanczos_top(lambda v: A @ v, 6)
    assert top == pytest.approx(4.0) and abs(vec @ Q[:, 5]) == pytest.approx(1.0)


def test_model_sharpness_and_hvp_match_torchs_exact_hessian():
    X, y = _data(n=30, d=3)
    model = _mlp(sizes=(3, 5, 3), activation="tanh")
    flat = flat_weights(model)
    f = _torch_loss_of_flat(model, X, y)
    H = torch.autograd.functional.hessian(f, torch.tensor(flat)).numpy()
    v = np.random.default_rng(1).standard_normal(flat.size)
    np.testing.assert_allclose(model_hvp(model, X, y)(v), H @ v, rtol=1e-10, atol=1e-12)
    top = float(np.linalg.eigvalsh(H).max())
    assert landscapes.sharpness(model, (X, y), tol=1e-10) == pytest.approx(top, rel=1e-8)
    np.testing.assert_allclose(flat_weights(model), flat)  # untouched

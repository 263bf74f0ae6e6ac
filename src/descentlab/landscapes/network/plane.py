"""The loss of a real network on a plane through its weights, as a 2-D :class:`Landscape`.

``of_model(model, data)`` looks at L(center + a d1 + b d2) (Li et al. 2018);
``interpolate(model, theta_a, theta_b, data)`` at the straight line between two weight
vectors (Goodfellow, Vinyals and Saxe 2015).

Speed: a plane through an MLP's weights is evaluated for many (a, b) at once. The first
layer is linear in the weights, so W1 x, D1 x and D2 x are computed once and each
point's first pre-activation is (W1 + a D1 + b D2) x = W1 x + a D1 x + b D2 x
(:class:`~.evaluator.PlaneEvaluator`). Gradients come from backpropagation through that
same computation, with respect to (a, b): exactly the full gradient projected onto
(d1, d2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from descentlab.landscapes.base import Landscape
from descentlab.landscapes.network.evaluator import PlaneEvaluator
from descentlab.landscapes.network.weights import (
    as_data,
    as_flat,
    filter_normalized,
    flat_weights,
    pca_directions,
    random_direction,
    stack_path,
    take_batch,
)
from descentlab.nn.module import Module

__all__ = ["NetworkLandscape", "interpolate", "of_model"]


class NetworkLandscape(Landscape):
    """L(center + a d1 + b d2) of a network on fixed data, as a 2-D landscape (see :func:`of_model`).

    Attributes: ``model``, ``center`` (D,), ``directions`` (2, D), ``kind`` ("filter",
    "random", "pca" or "given"), ``samples`` (how many the loss averages over),
    ``loss_name``; ``path_2d`` (T, 2), the path's projection when a path was given; for
    ``"pca"`` ``explained_variance`` (2,), the fraction of the path's variance each
    direction explains (None otherwise).
    """

    def __init__(
        self,
        evaluator: PlaneEvaluator,
        kind: str,
        *,
        bounds: Any,
        start: Any,
        path_2d: np.ndarray | None = None,
        explained_variance: np.ndarray | None = None,
    ) -> None:
        self.evaluator = evaluator
        self.model = evaluator.model
        self.center = evaluator.center
        self.directions = evaluator.directions
        self.kind = kind
        # not ``n_samples``: that names a finite sum with per-sample gradients (idx=)
        self.samples = len(evaluator.y)
        self.loss_name = evaluator.loss_name or "loss"
        self.path_2d = path_2d
        self.explained_variance = explained_variance

        def value(X: np.ndarray) -> np.ndarray:
            return evaluator.evaluate(X.reshape(-1, 2))[0].reshape(X.shape[:-1])

        def value_and_grad(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            v, g, _ = evaluator.evaluate(X.reshape(-1, 2), grad=True)
            assert g is not None
            return v.reshape(X.shape[:-1]), g.reshape(X.shape)

        super().__init__(
            f"{type(self.model).__name__} loss ({kind} directions)",
            2,
            value,
            lambda X: value_and_grad(X)[1],
            minima_known=False,
            bounds=bounds,
            start=start,
            lr=self._suggested_lr(value_and_grad),
            log_scale=True,
            description=(
                f"{self.loss_name} of {type(self.model).__name__} on {self.samples} samples "
                f"at center + a d1 + b d2 ({kind} directions)"
            ),
            formula="L(theta + a*d1 + b*d2)",
            latex=r"L(\theta^* + a\,d_1 + b\,d_2)",
            params={"directions": kind, "samples": self.samples},
            value_and_grad_fn=value_and_grad,
        )

    @staticmethod
    def _suggested_lr(value_and_grad: Any) -> float:
        """1 / the top curvature of the plane at the center (finite differences of exact
        gradients), so that gradient descent from ``start`` is stable; 0.1 if not positive."""
        h = 1e-3
        pts = np.array([[h, 0.0], [-h, 0.0], [0.0, h], [0.0, -h]])
        _, g = value_and_grad(pts)
        H = np.stack([(g[0] - g[1]) / (2 * h), (g[2] - g[3]) / (2 * h)])
        top = float(np.linalg.eigvalsh((H + H.T) / 2).max()) if np.isfinite(H).all() else 0.0
        return float(f"{1 / top:.2g}") if top > 0 else 0.1

    def weights_at(self, a: float, b: float) -> np.ndarray:
        """The flat weight vector center + a d1 + b d2."""
        return self.center + a * self.directions[0] + b * self.directions[1]

    def accuracy(self, X: Any) -> np.ndarray:
        """Classification accuracy at each point of X (shape (..., 2)); NaN for regression."""
        pts = np.asarray(X, dtype=np.float64)
        acc = self.evaluator.evaluate(pts.reshape(-1, 2), accuracy=True)[2]
        assert acc is not None
        return acc.reshape(pts.shape[:-1])


def of_model(
    model: Module,
    data: Any,
    loss: Any = None,
    directions: Any = "filter",
    center: Any = None,
    batch: int | None = None,
    seed: int = 0,
    path: Any = None,
    *,
    biases: bool = False,
) -> NetworkLandscape:
    """The loss of a network on a plane through its weights, as an ordinary 2-D landscape.

    value(a, b) = L(center + a d1 + b d2), the mean loss over ``data`` (all of it, or a
    fixed random subset of ``batch`` samples drawn with ``seed``) with dropout off; the
    gradient is exact (backpropagation), the full gradient projected onto (d1, d2).
    Contours, surfaces, ``minimize``, races and basins all work on it.

    Args:
        model: the network (a descentlab Module); it is left as it was.
        data: ``(X, y)``, a DataLoader or a DataBundle (its train split).
        loss: a name of ``nn.functional.LOSSES`` or a function ``(output, y) -> Tensor``;
            default cross-entropy for integer labels, MSE otherwise.
        directions: ``"filter"`` (default): two Gaussian directions, filter-normalized as
            in Li et al. 2018: each neuron's row of a weight matrix rescaled to the norm of
            that neuron's weights, biases' directions zero (``biases=True`` keeps them,
            each bias entry scaled to its own magnitude). ``"random"``: Gaussian
            directions over every weight, scaled to ||center|| as a whole (the
            unnormalized baseline). ``"pca"``: the top two principal directions of the
            weight ``path`` minus the final weights (Li et al., Sec. 7). Or a pair
            ``(d1, d2)`` of flat vectors (or per-parameter arrays).
        center: the weights at (0, 0); default the model's current weights (a flat vector
            over ``model.parameters()``, a state dict or a Module of the same shape).
        path: weight snapshots (a ``train.callbacks.WeightSnapshots``, an array (T, D)
            or a list of flat vectors); needed for ``"pca"``, projected for any
            directions into ``path_2d``.

    Bounds: [-1, 1]^2 for normalized directions (a = 1 moves each filter by its own
    norm); the projected path's extent for ``"pca"``.
    """
    X, y = take_batch(*as_data(data), batch, seed)
    center_vec = flat_weights(model) if center is None else as_flat(model, center, "center")
    rng = np.random.default_rng(seed)
    explained = None
    snaps = None if path is None else stack_path(path)
    if snaps is not None and snaps.shape[1] != center_vec.size:
        raise ValueError(
            f"the path's snapshots hold {snaps.shape[1]} weights, the model {center_vec.size}"
        )
    if isinstance(directions, str):
        kind = directions
        if kind == "filter":
            dirs = np.stack([filter_normalized(model, center_vec, rng, biases) for _ in range(2)])
        elif kind == "random":
            dirs = np.stack([random_direction(center_vec, rng) for _ in range(2)])
        elif kind == "pca":
            if snaps is None:
                raise ValueError(
                    "directions='pca' needs the weight path: pass path= (a WeightSnapshots "
                    "callback or an array of snapshots)"
                )
            dirs, explained = pca_directions(snaps, center_vec)
        else:
            raise ValueError(
                f"unknown directions {directions!r}; expected 'filter', 'random', 'pca' or a "
                "pair (d1, d2)"
            )
    else:
        kind = "given"
        if not isinstance(directions, (tuple, list)) or len(directions) != 2:
            raise ValueError("directions must be 'filter', 'random', 'pca' or a pair (d1, d2)")
        dirs = np.stack([as_flat(model, d, f"d{i + 1}") for i, d in enumerate(directions)])
    if not (np.linalg.norm(dirs, axis=1) > 0).all():
        raise ValueError("a direction is zero (does the model have weight matrices?)")
    evaluator = PlaneEvaluator(model, X, y, loss, center_vec, dirs)
    path_2d = None
    if snaps is not None:  # least squares: exact for orthonormal directions (pca)
        path_2d = np.linalg.lstsq(dirs.T, (snaps - center_vec).T, rcond=None)[0].T
    bounds: Any = [[-1.0, 1.0], [-1.0, 1.0]]
    start: Any = [-0.6, 0.6]
    if path_2d is not None:
        reach = np.abs(path_2d).max(axis=0)
        if kind == "pca" or (reach > 1).any():
            reach = np.maximum(reach * 1.25, 1e-3 if kind == "pca" else 1.0)
            bounds = [[-reach[0], reach[0]], [-reach[1], reach[1]]]
        start = path_2d[0]
    return NetworkLandscape(
        evaluator, kind, bounds=bounds, start=start, path_2d=path_2d, explained_variance=explained
    )


def interpolate(
    model: Module,
    theta_a: Any,
    theta_b: Any,
    data: Any,
    n: int = 51,
    alphas: Any = None,
    *,
    loss: Any = None,
    batch: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loss and accuracy along the line theta(alpha) = (1 - alpha) theta_a + alpha theta_b.

    Goodfellow, Vinyals and Saxe (2015): alpha runs over ``n`` points in [-0.5, 1.5] by
    default (``alphas`` gives them instead), so alpha = 0 is theta_a and 1 is theta_b.
    ``theta_a``/``theta_b`` are flat vectors, state dicts or Modules of the model's shape.
    Returns ``(alphas, loss, accuracy)``; accuracy is NaN for a regression loss.
    """
    if alphas is None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise ValueError(f"n must be an integer >= 2, got {n!r}")
        alphas = np.linspace(-0.5, 1.5, int(n))
    alphas = np.asarray(alphas, dtype=np.float64).ravel()
    a = as_flat(model, theta_a, "theta_a")
    b = as_flat(model, theta_b, "theta_b")
    X, y = take_batch(*as_data(data), batch, seed)
    evaluator = PlaneEvaluator(model, X, y, loss, a, (b - a)[None])
    values, _, acc = evaluator.evaluate(alphas[:, None], accuracy=True)
    assert acc is not None
    return alphas, values, acc

"""The loss of a real network on a plane through its weights, as a 2-D :class:`Landscape`.

``of_model(model, data)`` looks at L(center + a d1 + b d2) (Li et al. 2018);
``interpolate(model, theta_a, theta_b, data)`` at the straight line between two weight
vectors (Goodfellow, Vinyals and Saxe 2015).

Speed: a plane through an MLP's weights is evaluated for many (a, b) at once. The first
layer is linear in the weights, so W1 x, D1 x and D2 x are computed once and each
point's first pre-activation is (W1 + a D1 + b D2) x = W1 x + a D1 x + b D2 x, one small
matrix product for a whole chunk of points; the deeper layers run as batched products,
one weight matrix per point. Gradients come from backpropagation through that same
computation, with respect to (a, b): exactly the full gradient projected onto (d1, d2).
Other models are evaluated point by point through their own ``forward``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from descentlab.autograd import Tensor, blas, enable_grad, no_grad
from descentlab.autograd.tensor import backprop
from descentlab.landscapes.base import Landscape
from descentlab.landscapes.network.weights import (
    CLASSIFICATION_LOSSES,
    as_data,
    as_flat,
    filter_normalized,
    flat_weights,
    pca_directions,
    random_direction,
    resolve_loss,
    set_flat_weights,
    split,
    stack_path,
    take_batch,
)
from descentlab.nn.layers import (
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from descentlab.nn.module import Module

__all__ = ["NetworkLandscape", "PlaneEvaluator", "interpolate", "of_model"]

_ELEMENTWISE = (ReLU, LeakyReLU, Sigmoid, Tanh, Identity)
#: bytes of one activation array of a chunk of points (the chunk's size follows)
_CHUNK_BYTES = 32 * 2**20


class PlaneEvaluator:
    """Loss (and accuracy, and gradient) of ``model`` at ``center + sum_k c_k d_k`` for many
    coefficient vectors at once, on fixed data, with dropout off.

    ``directions`` has shape (K, D); :meth:`evaluate` takes coefficients of shape (P, K).
    """

    def __init__(
        self,
        model: Module,
        X: np.ndarray,
        y: np.ndarray,
        loss: Any,
        center: np.ndarray,
        directions: np.ndarray,
    ) -> None:
        self.model = model
        self.params = list(model.parameters())
        self.loss_name, self.loss_fn = resolve_loss(loss, y)
        self.classification = self.loss_name in CLASSIFICATION_LOSSES or (
            self.loss_name is None and y.dtype.kind in "iu"
        )
        self.center = center
        self.directions = np.atleast_2d(directions)
        self.X, self.y = X, y
        self.dtype = np.result_type(*[p.dtype for p in self.params])
        self._plan = self._mlp_plan() if self.loss_name is not None else None
        if self._plan is not None:
            self._prepare_mlp()

    # -------------------------------------------------------------- the MLP plan
    def _mlp_plan(self) -> list[Module] | None:
        """The layers to run (Linear and elementwise activations), or None when the model
        is not a plain Sequential MLP whose first layer is a Linear."""
        model = self.model
        if not isinstance(model, Sequential):
            return None
        plan: list[Module] = []
        for m in model:
            if isinstance(m, Linear) or type(m) in _ELEMENTWISE:
                plan.append(m)
            elif isinstance(m, Dropout):  # the identity in evaluation
                continue
            elif isinstance(m, Flatten) and not plan:
                self.X = self.X.reshape(self.X.shape[: m.start_dim] + (-1,))
            else:
                return None
        if not plan or not isinstance(plan[0], Linear) or self.X.ndim != 2:
            return None
        owned = {id(p) for m in plan if isinstance(m, Linear) for p in m.parameters()}
        if owned != {id(p) for p in self.params}:
            return None
        return plan

    def _stacks(self, layer: Linear) -> tuple[np.ndarray, np.ndarray]:
        """(K+1, in, out) weights W^T, D_k^T and (K+1, out) biases of one layer."""
        index = {id(p): i for i, p in enumerate(self.params)}
        vectors = [self.center, *self.directions]
        W = [split(self.model, v)[index[id(layer.weight)]].T for v in vectors]
        if layer.bias is None:
            b = [np.zeros(layer.out_features) for _ in vectors]
        else:
            b = [split(self.model, v)[index[id(layer.bias)]] for v in vectors]
        return np.stack(W).astype(self.dtype), np.stack(b).astype(self.dtype)

    def _prepare_mlp(self) -> None:
        assert self._plan is not None
        first = self._plan[0]
        assert isinstance(first, Linear)
        W, b = self._stacks(first)
        X = np.asarray(self.X, dtype=self.dtype)
        # the products with the data, once: Z_k = X W_k^T + b_k, shape (K+1, N, out)
        Z = np.matmul(X[None], W) + b[:, None, :]
        self._first = Z.reshape(len(Z), -1)
        self._first_width = first.out_features
        self._layers: list[tuple[Module, np.ndarray | None, np.ndarray | None]] = []
        for m in self._plan[1:]:
            if isinstance(m, Linear):
                Wm, bm = self._stacks(m)
                self._layers.append((m, Wm.reshape(len(Wm), -1), bm))
            else:
                self._layers.append((m, None, None))
        widest = max(
            [first.out_features] + [m.out_features for m in self._plan if isinstance(m, Linear)]
        )
        per_point = len(self.X) * widest * self.dtype.itemsize
        self.chunk = max(1, _CHUNK_BYTES // per_point)

    def _mlp_losses(self, c: Tensor) -> tuple[Tensor, np.ndarray]:
        """Per-point losses (P,) and logits (P, N, C) for coefficients c (P, K+1)."""
        P, N = c.shape[0], len(self.X)
        h = (c @ self._first).reshape(P, N, self._first_width)
        for m, W, b in self._layers:
            if W is None:
                h = m(h)
            else:
                assert isinstance(m, Linear) and b is not None
                h = h @ (c @ W).reshape(P, m.in_features, m.out_features)
                h = h + (c @ b).reshape(P, 1, m.out_features)
        out = h.reshape((P * N,) + h.shape[2:])
        target = np.concatenate([self.y] * P)
        per_sample = self.loss_fn(out, target, reduction="none")
        return per_sample.reshape(P, -1).mean(axis=1), h.data

    def _mlp_values(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The same as :meth:`_mlp_losses` without a graph: NumPy in place, ReLU included."""
        P, N = c.shape[0], len(self.X)
        h = blas.matmul(c, self._first).reshape(P, N, self._first_width)
        for m, W, b in self._layers:
            if W is None:
                if type(m) is ReLU:
                    np.maximum(h, 0, out=h)  # ops.relu's values, without a copy
                elif type(m) is not Identity:
                    h = m(Tensor(h)).data
            else:
                assert isinstance(m, Linear) and b is not None
                h = blas.matmul(h, blas.matmul(c, W).reshape(P, m.in_features, m.out_features))
                h += (c @ b)[:, None, :]
        out = Tensor(h.reshape((P * N,) + h.shape[2:]))
        per_sample = self.loss_fn(out, np.concatenate([self.y] * P), reduction="none")
        return per_sample.data.reshape(P, -1).mean(axis=1), h

    # ----------------------------------------------------------------- evaluate
    def evaluate(
        self, coefs: np.ndarray, *, grad: bool = False, accuracy: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(loss (P,), gradient (P, K) or None, accuracy (P,) or None) at coefficients (P, K)."""
        coefs = np.asarray(coefs, dtype=np.float64).reshape(-1, len(self.directions))
        P = len(coefs)
        values = np.empty(P)
        grads = np.empty((P, len(self.directions))) if grad else None
        accs = np.full(P, np.nan) if accuracy else None
        was_training = self.model.training
        self.model.eval()
        try:
            with np.errstate(all="ignore"):
                if self._plan is not None:
                    self._evaluate_mlp(coefs, values, grads, accs)
                else:
                    self._evaluate_points(coefs, values, grads, accs)
        finally:
            self.model.train(was_training)
        return values, grads, accs

    def _evaluate_mlp(
        self,
        coefs: np.ndarray,
        values: np.ndarray,
        grads: np.ndarray | None,
        accs: np.ndarray | None,
    ) -> None:
        ones = np.ones((len(coefs), 1))
        full = np.concatenate([ones, coefs], axis=1).astype(self.dtype)
        if grads is None:
            for part, v, logits in self._parallel_values(full):
                values[part] = v
                if accs is not None and self.classification:
                    accs[part] = (logits.argmax(axis=-1) == self.y).mean(axis=1)
            return
        for start in range(0, len(coefs), self.chunk):
            part = slice(start, start + self.chunk)
            with enable_grad():
                c = Tensor(full[part], requires_grad=True)
                losses, logits = self._mlp_losses(c)
                (g,) = backprop(losses.sum(), [c])
            grads[part] = np.asarray(g)[:, 1:]
            values[part] = losses.data
            if accs is not None and self.classification:
                accs[part] = (logits.argmax(axis=-1) == self.y).mean(axis=1)

    def _parallel_values(self, full: np.ndarray) -> list[tuple[slice, np.ndarray, np.ndarray]]:
        """Values chunk by chunk, the chunks spread over the cores.

        Each chunk's products are many small matrix products (one per point). Run on all
        BLAS threads each, they wait for one another at every product, and a busy core
        stalls them all (10 x slower on a loaded 2-core machine); so under the "auto"
        BLAS policy the chunks run side by side in threads, each product on one BLAS
        thread (NumPy releases the GIL in them).
        """
        parts = [slice(s, s + self.chunk) for s in range(0, len(full), self.chunk)]

        def run(part: slice) -> tuple[slice, np.ndarray, np.ndarray]:
            with no_grad():
                v, logits = self._mlp_values(full[part])
            return part, v, logits

        workers = min(
            len(parts),
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1,
        )
        policy = blas.get_policy()
        if workers <= 1 or policy != "auto":
            return [run(part) for part in parts]
        blas.set_policy("1")
        try:
            with ThreadPoolExecutor(workers) as pool:
                return list(pool.map(run, parts))
        finally:
            blas.set_policy(policy)

    def _evaluate_points(
        self,
        coefs: np.ndarray,
        values: np.ndarray,
        grads: np.ndarray | None,
        accs: np.ndarray | None,
    ) -> None:
        """Any model: set the weights, run its forward (and backward), point by point."""
        saved = flat_weights(self.model)
        try:
            for i, c in enumerate(coefs):
                set_flat_weights(self.model, self.center + c @ self.directions)
                with enable_grad() if grads is not None else no_grad():
                    out = self.model(self.X)
                    loss = self.loss_fn(out, self.y)
                values[i] = float(np.asarray(loss.data))
                if grads is not None:
                    g = np.concatenate(
                        [
                            np.asarray(gp, dtype=np.float64).ravel()
                            for gp in backprop(loss, self.params)
                        ]
                    )
                    grads[i] = self.directions @ g
                if accs is not None and self.classification:
                    accs[i] = float(np.mean(np.asarray(out.data).argmax(axis=1) == self.y))
        finally:
            set_flat_weights(self.model, saved)


class NetworkLandscape(Landscape):
    """L(center + a d1 + b d2) of a network on fixed data, as a 2-D landscape (see :func:`of_model`).

    Attributes: ``model``, ``center`` (D,), ``directions`` (2, D), ``kind`` ("filter",
    "random", "pca" or "given"), ``samples`` (how many the loss averages), ``loss_name``; for ``"pca"`` also
    ``path_2d`` (T, 2), the path's projection, and ``explained_variance`` (2,), the
    fraction of the path's variance each direction explains (None otherwise).
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

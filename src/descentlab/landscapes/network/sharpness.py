r"""Sharpness: the top eigenvalue of the Hessian, by Lanczos on Hessian-vector products.

For a quadratic, gradient descent with step eta is stable exactly when
eta < 2 / lambda_max; under full-batch gradient descent a network's lambda_max rises
until it reaches about 2 / eta and hovers there ("edge of stability", Cohen, Kaur, Li,
Kolter and Talwalkar 2021). Keskar et al. (2017) call minima with a large lambda_max
sharp.

Hessian-vector products:

* a network: exact, by differentiating the backward pass (reverse over reverse,
  Pearlmutter 1994): grad L is computed with a recorded graph, then (grad L . v) is
  differentiated once more with respect to the flat weights;
* a Python function of arrays: exact, by :func:`descentlab.autograd.hvp`;
* a :class:`Landscape` (whose gradient may be hand-written NumPy): the central
  difference (grad f(x + h v) - grad f(x - h v)) / 2h of its exact gradient, with
  h = 1e-5 (1 + |x|) / |v|. Its error is O(h^2) times the third derivatives plus
  O(eps |grad f| / h) of round-off: about 1e-9 relative for smooth float64 functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from descentlab.autograd import Tensor, blas, enable_grad, hvp
from descentlab.autograd.tensor import backprop
from descentlab.landscapes.base import Landscape, as_points
from descentlab.landscapes.network.weights import (
    as_data,
    as_flat,
    flat_weights,
    resolve_loss,
    set_flat_weights,
    split,
    take_batch,
)
from descentlab.nn.module import Module

__all__ = ["lanczos_top", "model_hvp", "sharpness"]

MatVec = Callable[[np.ndarray], np.ndarray]


def lanczos_top(
    matvec: MatVec, dim: int, iters: int = 30, tol: float = 1e-5, seed: int = 0
) -> tuple[float, np.ndarray]:
    """The largest (algebraic) eigenvalue of a symmetric operator and its eigenvector.

    Lanczos with full reorthogonalization: after k products the top Ritz value of the
    k x k tridiagonal matrix approximates lambda_max; it stops when that value moves by
    less than ``tol`` (relative) or the Krylov space is exhausted. Unlike plain power
    iteration it is not fooled by a negative eigenvalue of larger magnitude.
    """
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(dim)
    q /= np.linalg.norm(q)
    Q = [q]
    alphas: list[float] = []
    betas: list[float] = []
    previous = np.inf
    top, vec = 0.0, q
    for k in range(min(iters, dim)):
        w = np.asarray(matvec(Q[-1]), dtype=np.float64).ravel()
        alpha = float(w @ Q[-1])
        alphas.append(alpha)
        B = np.stack(Q)
        w = w - B.T @ (B @ w)
        w = w - B.T @ (B @ w)  # twice is enough (Kahan)
        T = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        evals, evecs = np.linalg.eigh(T)
        top, vec = float(evals[-1]), B.T @ evecs[:, -1]
        beta = float(np.linalg.norm(w))
        if abs(top - previous) <= tol * max(abs(top), 1e-12) or beta <= 1e-10 * max(
            abs(top), 1e-12
        ):
            break
        previous = top
        if k + 1 < min(iters, dim):
            betas.append(beta)
            Q.append(w / beta)
    return top, vec


def model_hvp(
    model: Module, X: np.ndarray, y: np.ndarray, loss: Any = None, weights: Any = None
) -> MatVec:
    """v -> H v, the exact Hessian of the mean loss with respect to the flat weights.

    Evaluated at ``weights`` (default the model's own), dropout off. The returned
    function computes in the model's dtype; float32 models give about 6 digits.
    """
    _, loss_fn = resolve_loss(loss, np.asarray(y))
    params = list(model.parameters())
    at = flat_weights(model) if weights is None else as_flat(model, weights, "weights")

    def product(v: np.ndarray) -> np.ndarray:
        saved = flat_weights(model)
        was_training = model.training
        policy = blas.get_policy()
        model.eval()
        try:
            # One BLAS thread for the many small products of a Hessian-vector product: they
            # do not stall on a busy core (10 x faster on a loaded 2-core machine), and the
            # "auto" policy keys its timings on array strides, which the Tensors of a
            # recorded backward pass (create_graph) do not have.
            blas.set_policy("1")
            set_flat_weights(model, at)
            with enable_grad(), np.errstate(all="ignore"):
                value = loss_fn(model(X), y)
                grads = backprop(value, params, create_graph=True)
                parts = split(model, np.asarray(v, dtype=np.float64))
                dot: Any = 0
                for g, part in zip(grads, parts):
                    assert isinstance(g, Tensor)
                    dot = dot + (g * part.astype(g.dtype)).sum()
                hv = backprop(dot, params)
        finally:
            blas.set_policy(policy)
            set_flat_weights(model, saved)
            model.train(was_training)
        return np.concatenate([np.asarray(h, dtype=np.float64).ravel() for h in hv])

    return product


def _landscape_hvp(f: Landscape, x: np.ndarray) -> MatVec:
    def product(v: np.ndarray) -> np.ndarray:
        norm = float(np.linalg.norm(v))
        if norm == 0:
            return np.zeros_like(v)
        h = 1e-5 * (1 + float(np.linalg.norm(x))) / norm
        return (f.grad(x + h * v) - f.grad(x - h * v)) / (2 * h)

    return product


def sharpness(
    f: Any,
    x: Any = None,
    *,
    batch: int | None = None,
    seed: int = 0,
    loss: Any = None,
    iters: int = 30,
    tol: float = 1e-5,
) -> float:
    """The top Hessian eigenvalue lambda_max: of a function at ``x``, or of a network's loss.

    * ``sharpness(f, x)``: ``f`` a :class:`Landscape` (central differences of its exact
      gradient, see the module's note on the error) or a Python function of arrays
      (exact products by autograd); ``x`` one point.
    * ``sharpness(model, data, batch=None, seed=0)``: the Hessian of the model's mean
      loss on ``data`` (or a fixed subset of ``batch`` samples drawn with ``seed``) with
      respect to all its weights, at its current weights, by exact Hessian-vector
      products (double backpropagation).

    Gradient descent with step eta is stable on a quadratic when lambda_max < 2 / eta:

    >>> import numpy as np
    >>> round(sharpness(lambda x: (x**2).sum() + 3 * x[0] * x[1], np.zeros(2)), 6)
    5.0
    """
    if isinstance(f, Module):
        if x is None:
            raise ValueError("sharpness(model, data) needs the data")
        X, y = take_batch(*as_data(x), batch, seed)
        product = model_hvp(f, X, y, loss)
        return lanczos_top(product, f.num_parameters(), iters, tol, seed)[0]
    if x is None:
        raise ValueError("sharpness(f, x) needs the point x")
    if isinstance(f, Landscape):
        pts, _ = as_points(x, f.dim, "x")
        point = pts.reshape(-1)
        if point.size != f.dim:
            raise ValueError(f"x must be one point of shape ({f.dim},), got shape {np.shape(x)}")
        return lanczos_top(_landscape_hvp(f, point), f.dim, iters, tol, seed)[0]
    if callable(f):
        point = np.asarray(x, dtype=np.float64)
        shape = point.shape

        def product(v: np.ndarray) -> np.ndarray:
            return np.asarray(hvp(f, point, v.reshape(shape)), dtype=np.float64).ravel()

        return lanczos_top(product, point.size, iters, tol, seed)[0]
    raise TypeError(f"sharpness needs a Landscape, a function or a Module, got {type(f).__name__}")

"""Loss, accuracy and gradient of a network at many points of a plane (or line) of weights.

For an MLP (a Sequential of Linear layers and elementwise activations, dropout off)
the first layer is linear in the weights: W1 x, D1 x, D2 x are computed once and each
point's first pre-activation is their combination, one small product for a chunk of
points; the deeper layers run as batched products, one weight matrix per point, and
the chunks run side by side. Gradients backpropagate through the same computation to
the coefficients, which is the full gradient projected onto the directions. Any other
model is evaluated point by point through its own ``forward``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from descentlab.autograd import Tensor, blas, enable_grad, no_grad
from descentlab.autograd.tensor import backprop
from descentlab.landscapes.network.weights import (
    CLASSIFICATION_LOSSES,
    flat_weights,
    resolve_loss,
    set_flat_weights,
    split,
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

__all__ = ["PlaneEvaluator"]

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

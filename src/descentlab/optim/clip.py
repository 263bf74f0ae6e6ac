"""Gradient clipping, as ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


class HasGrad(Protocol):
    """Anything with a ``.grad`` (a Parameter, an ArrayParam); ``None`` means no gradient."""

    grad: np.ndarray | None


Params = HasGrad | Iterable[HasGrad]


def _grads(params: Params) -> list[np.ndarray]:
    """The gradient arrays of the parameters that have one.

    A NumPy scalar gradient (``p.grad = 2 * p.data`` for a 0-d ``p.data``) is
    replaced on its parameter by a 0-d array, so that it is clipped in place
    like the rest.
    """
    single = hasattr(params, "grad")
    items: Iterable[HasGrad] = [params] if single else params  # type: ignore[list-item, assignment]
    found = []
    for p in items:
        g = getattr(p, "grad", None)
        if g is None:
            continue
        if not isinstance(g, np.ndarray):
            g = p.grad = np.asarray(g)
        found.append(g)
    return found


def _vector_norm(x: np.ndarray, norm_type: float) -> float:
    a = np.abs(x)
    if a.size == 0:
        return 0.0
    if norm_type == np.inf:
        return float(np.max(a))
    if norm_type == -np.inf:
        return float(np.min(a))
    if norm_type == 0:
        return float(np.count_nonzero(a))
    if norm_type == 2:
        return float(np.sqrt(np.sum(np.square(a))))
    if norm_type == 1:
        return float(np.sum(a))
    return float(np.sum(a**norm_type) ** (1.0 / norm_type))


def clip_grad_norm_(
    params: Params,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    r"""Rescale the gradients so that their joint norm is at most ``max_norm``; return it.

    The norm is taken over all gradients as one vector: ``N = ||(||g_1||, ..., ||g_k||)||_p``.
    Every gradient is multiplied in place by ``min(1, max_norm / (N + 1e-6))``
    (PyTorch's formula, 1e-6 included). Returns N, the norm before clipping.

    Args:
        params: parameters (objects with ``.grad``) or a single one; ``None``
            gradients are ignored. With no gradient at all the norm is 0 (as in
            PyTorch, whatever ``norm_type``).
        max_norm: the largest norm allowed (>= 0).
        norm_type: p of the p-norm (``float("inf")`` for the max norm).
        error_if_nonfinite: raise if N is NaN or infinite.
    """
    if not max_norm >= 0:
        raise ValueError(f"Invalid max_norm value: {max_norm!r}; expected a number >= 0")
    norm_type = float(norm_type)
    grads = _grads(params)
    if not grads:
        return 0.0
    norms = np.array([_vector_norm(g, norm_type) for g in grads])
    total_norm = _vector_norm(norms, norm_type)
    if error_if_nonfinite and not np.isfinite(total_norm):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients is non-finite ({total_norm}), "
            "so it cannot be clipped"
        )
    clip_coef = min(max_norm / (total_norm + 1e-6), 1.0)
    for g in grads:
        g *= clip_coef
    return total_norm


def clip_grad_value_(params: Params, clip_value: float) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]`` in place.

    Raises ``RuntimeError`` when no parameter has a gradient, as
    ``torch.nn.utils.clip_grad_value_`` does.
    """
    if not clip_value >= 0:
        raise ValueError(f"Invalid clip_value value: {clip_value!r}; expected a number >= 0")
    grads = _grads(params)
    if not grads:
        raise RuntimeError(
            "clip_grad_value_ found no gradient to clip: every parameter's .grad is None "
            "(call backward() first; torch.nn.utils.clip_grad_value_ raises here too)"
        )
    for g in grads:
        np.clip(g, -clip_value, clip_value, out=g)

"""A network's weights as one flat vector, the directions of a plane through them, and data.

The flat vector concatenates ``p.data.ravel()`` over ``model.parameters()`` in their
order (the order ``state_dict`` and the optimizers use), in float64.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from descentlab.nn.module import Module

__all__ = [
    "as_data",
    "as_flat",
    "filter_normalized",
    "flat_weights",
    "pca_directions",
    "random_direction",
    "set_flat_weights",
    "split",
]


def _check_model(model: Any) -> list[Any]:
    if not isinstance(model, Module):
        raise TypeError(f"model must be a descentlab Module, got {type(model).__name__}")
    params = list(model.parameters())
    if not params:
        raise ValueError("the model has no parameters: there is no weight space to look at")
    return params


def flat_weights(model: Module) -> np.ndarray:
    """The model's weights as one float64 vector (over ``model.parameters()``, in order)."""
    return np.concatenate(
        [np.asarray(p.data, dtype=np.float64).ravel() for p in _check_model(model)]
    )


def split(model: Module, flat: np.ndarray) -> list[np.ndarray]:
    """A flat vector cut into arrays of the parameters' shapes (views, float64)."""
    params = _check_model(model)
    out, start = [], 0
    for p in params:
        out.append(flat[start : start + p.size].reshape(p.shape))
        start += p.size
    return out


def set_flat_weights(model: Module, flat: np.ndarray) -> None:
    """Copy a flat vector into the model's parameters (cast to each parameter's dtype)."""
    for p, part in zip(_check_model(model), split(model, as_flat(model, flat, "weights"))):
        p.data[...] = part


def as_flat(model: Module, value: Any, what: str) -> np.ndarray:
    """A flat vector, a Module of the same shape, a state dict or a list of per-parameter
    arrays -> a float64 vector of the model's size (checked)."""
    params = _check_model(model)
    size = sum(p.size for p in params)
    if isinstance(value, Module):
        arr = flat_weights(value)
    elif isinstance(value, Mapping):
        names = [n for n, _ in model.named_parameters()]
        missing = [n for n in names if n not in value]
        if missing:
            raise ValueError(f"{what}: the state dict has no entry for {missing[:3]}")
        arr = np.concatenate([np.asarray(value[n], dtype=np.float64).ravel() for n in names])
    elif (
        isinstance(value, (list, tuple))
        and len(value) == len(params)
        and all(np.shape(v) == p.shape for v, p in zip(value, params))
        and len(params) > 1
    ):
        arr = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in value])
    else:
        arr = np.asarray(value, dtype=np.float64).ravel()
    if arr.shape != (size,):
        raise ValueError(
            f"{what} must hold the model's {size} weights (a flat vector, a state dict or one "
            f"array per parameter), got {arr.size} numbers"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} holds NaN or infinite weights")
    return arr


def filter_normalized(
    model: Module, center: np.ndarray, rng: np.random.Generator, biases: bool = False
) -> np.ndarray:
    r"""A Gaussian direction, filter-normalized (Li, Xu, Taylor, Studer, Goldstein 2018).

    Each filter's part of the direction is rescaled to the norm of the same filter of
    the weights: :math:`d_{ij} \leftarrow d_{ij} / \|d_{ij}\| \cdot \|\theta_{ij}\|`, where a
    filter of a fully connected layer is one output neuron's row of ``weight``
    (shape (out, in)); for a convolution-shaped weight, the slice of one output
    channel. Parameters with one axis (biases) get direction 0, the paper's default;
    with ``biases=True`` each entry is its own filter, so it keeps its random sign and
    takes the magnitude of the bias (Li et al.'s code copies the bias itself instead).
    """
    parts = []
    for theta in split(model, center):
        d = rng.standard_normal(theta.shape)
        if theta.ndim <= 1:
            d = np.sign(d) * np.abs(theta) if biases else np.zeros_like(theta)
        else:
            rows_d = d.reshape(len(d), -1)
            rows_t = theta.reshape(len(theta), -1)
            norm_d = np.linalg.norm(rows_d, axis=1, keepdims=True)
            norm_t = np.linalg.norm(rows_t, axis=1, keepdims=True)
            d = (rows_d / np.where(norm_d > 0, norm_d, 1.0) * norm_t).reshape(theta.shape)
        parts.append(d.ravel())
    return np.concatenate(parts)


def random_direction(center: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A Gaussian direction over all weights (biases included), scaled to ``||center||``.

    No per-filter normalization: the baseline that filter normalization corrects.
    """
    d = rng.standard_normal(center.shape)
    scale = float(np.linalg.norm(center)) or 1.0
    return d / np.linalg.norm(d) * scale


def pca_directions(path: np.ndarray, final: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The top two principal directions of a weight path around its final weights.

    Rows of ``path - final`` are the snapshots seen from the end (Li et al. 2018, Sec. 7);
    as in their code (scikit-learn's PCA) the rows are mean-centred before the SVD.
    Returns (d1, d2) as unit vectors of shape (2, D) and the fraction of the path's
    variance each explains, shape (2,).
    """
    M = np.asarray(path, dtype=np.float64) - final
    if M.ndim != 2 or len(M) < 3:
        raise ValueError(
            f"directions='pca' needs a path of at least 3 weight snapshots, got {len(M)}"
        )
    M = M - M.mean(axis=0)
    # few snapshots of many weights: the eigenvectors of the small snapshots x snapshots
    # matrix M M^T give the right singular vectors as M^T u / s (an SVD of the wide M took
    # 50-300 ms for 61 x 2410 where this takes a few ms)
    var, U = np.linalg.eigh(M @ M.T)
    var, U = np.maximum(var[::-1], 0.0), U[:, ::-1]
    total = float(var.sum())
    if total == 0 or var[1] <= total * 1e-24:
        raise ValueError("the weight path spans fewer than two directions; train longer")
    dirs = (U[:, :2].T @ M) / np.sqrt(var[:2])[:, None]
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    for d in dirs:  # a sign convention, so the picture does not flip between runs
        if d[np.argmax(np.abs(d))] < 0:
            d *= -1
    return dirs, var[:2] / total


def as_data(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``, a DataLoader (its X, y) or a DataBundle (its train split) -> arrays."""
    if hasattr(data, "train") and hasattr(data, "val") and hasattr(data, "test"):
        data = data.train
    if hasattr(data, "X") and hasattr(data, "y"):
        data = (data.X, data.y)
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(
            f"data must be a pair (X, y), a DataLoader or a DataBundle, got {type(data).__name__}"
        )
    X, y = np.asarray(data[0]), np.asarray(data[1])
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(
            f"X and y must hold the same number (> 0) of samples, got {len(X)}, {len(y)}"
        )
    return X, y


def take_batch(
    X: np.ndarray, y: np.ndarray, batch: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """All samples, or a fixed random subset of ``batch`` of them chosen with ``seed``."""
    if batch is None:
        return X, y
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch <= 0:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    if batch >= len(X):
        return X, y
    idx = np.sort(np.random.default_rng(seed).choice(len(X), int(batch), replace=False))
    return X[idx], y[idx]


def stack_path(path: Any) -> np.ndarray:
    """Weight snapshots (a WeightSnapshots callback, an array (T, D) or a list) -> (T, D)."""
    snaps = getattr(path, "snapshots", path)
    if isinstance(snaps, Sequence) and not isinstance(snaps, np.ndarray):
        if not snaps:
            raise ValueError("the weight path is empty")
        return np.stack([np.asarray(s, dtype=np.float64).ravel() for s in snaps])
    arr = np.asarray(snaps, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"path must have shape (snapshots, weights), got {arr.shape}")
    return arr


#: losses that classify (their outputs' argmax is a prediction, so accuracy is defined)
CLASSIFICATION_LOSSES = ("cross_entropy", "nll")


def resolve_loss(loss: Any, y: np.ndarray) -> tuple[str | None, Any]:
    """(name or None, function): None -> cross-entropy for integer labels, MSE otherwise;
    a name from ``nn.functional.LOSSES``; or any ``(output, y) -> scalar Tensor``."""
    from descentlab.nn import functional as F

    if loss is None:
        loss = "cross_entropy" if y.dtype.kind in "iu" else "mse"
    if isinstance(loss, str):
        if loss not in F.LOSSES:
            raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(F.LOSSES)}")
        return loss, F.LOSSES[loss]
    if callable(loss):
        return None, loss
    raise TypeError(f"loss must be a name, a function or None, got {type(loss).__name__}")

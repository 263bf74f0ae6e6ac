"""Feature scaling fitted on the training set, and a seeded, stratified split.

Statistics always come from the training set alone and are then applied to the
validation and test sets: fitting them on all data would leak information about
the held-out samples into training.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["MinMax", "Standardization", "normalize", "standardize", "train_val_test_split"]

Pair = tuple[np.ndarray, np.ndarray]


def _as_features(X: object, name: str) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim < 1 or X.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a numeric array of shape (n, ...), got {X!r:.80}")
    return X


@dataclass(frozen=True)
class Standardization:
    """Per-feature ``mean`` and ``std`` of a training set; ``x' = (x - mean) / std``.

    Features with zero spread get ``std = 1`` (they map to 0 instead of to NaN).
    """

    mean: np.ndarray
    std: np.ndarray

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardize ``X`` with the stored statistics (float32 out for float32 in)."""
        X = _as_features(X, "X")
        return ((X - self.mean) / self.std).astype(np.result_type(X.dtype, np.float32))

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform`: ``x = z std + mean``."""
        Z = _as_features(Z, "Z")
        return (Z * self.std + self.mean).astype(np.result_type(Z.dtype, np.float32))


@dataclass(frozen=True)
class MinMax:
    """Per-feature ``low`` and ``scale = high - low`` of a training set; ``x' = (x - low) / scale``.

    Constant features get ``scale = 1``.
    """

    low: np.ndarray
    scale: np.ndarray

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Scale ``X`` so that the training set spans [0, 1] per feature."""
        X = _as_features(X, "X")
        return ((X - self.low) / self.scale).astype(np.result_type(X.dtype, np.float32))

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform`: ``x = z scale + low``."""
        Z = _as_features(Z, "Z")
        return (Z * self.scale + self.low).astype(np.result_type(Z.dtype, np.float32))


def standardize(X_train: np.ndarray, *others: np.ndarray) -> tuple:
    """Standardize features to zero mean and unit variance using training-set statistics.

    ``x' = (x - mu) / sigma`` per feature, with ``mu`` and ``sigma`` (population std,
    ddof=0, as scikit-learn's StandardScaler) computed on ``X_train`` only.

    Returns:
        ``(X_train', *others', stats)``, e.g. ``Xtr, Xte, stats = standardize(Xtr, Xte)``;
        ``stats`` is a :class:`Standardization` with ``transform`` and ``inverse``.
    """
    X_train = _as_features(X_train, "X_train")
    if len(X_train) == 0:
        raise ValueError("X_train must hold at least one sample, got an empty array")
    mean = X_train.mean(axis=0, dtype=np.float64)
    std = X_train.std(axis=0, dtype=np.float64)
    std = np.where(std > 0, std, 1.0)
    stats = Standardization(mean=mean, std=std)
    return (stats.transform(X_train), *(stats.transform(X) for X in others), stats)


def normalize(X_train: np.ndarray, *others: np.ndarray) -> tuple:
    """Min-max scale features to [0, 1] using the training set's minimum and maximum.

    ``x' = (x - min) / (max - min)`` per feature; held-out data may fall outside [0, 1].

    Returns:
        ``(X_train', *others', stats)`` with ``stats`` a :class:`MinMax`.
    """
    X_train = _as_features(X_train, "X_train")
    if len(X_train) == 0:
        raise ValueError("X_train must hold at least one sample, got an empty array")
    low = X_train.min(axis=0).astype(np.float64)
    scale = X_train.max(axis=0).astype(np.float64) - low
    scale = np.where(scale > 0, scale, 1.0)
    stats = MinMax(low=low, scale=scale)
    return (stats.transform(X_train), *(stats.transform(X) for X in others), stats)


def _check_fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) < 1:
        raise ValueError(f"{name} must be a fraction with 0 <= {name} < 1, got {value!r}")
    return float(value)


def _largest_remainder(counts: np.ndarray, fraction: float, total: int) -> np.ndarray:
    """Integers close to ``fraction * counts`` per class that sum to ``total``."""
    quota = counts * fraction
    base = np.floor(quota).astype(np.int64)
    extra = total - int(base.sum())
    order = np.argsort(-(quota - base), kind="stable")
    base[order[: max(extra, 0)]] += 1
    return base


def _stratified_sizes(counts: np.ndarray, val: float, test: float, n: int) -> np.ndarray:
    """Per-class sizes, shape (classes, 3) for (train, val, test)."""
    n_test = _largest_remainder(counts, test, round(test * n))
    n_val = _largest_remainder(counts, val, round(val * n))
    n_val = np.minimum(n_val, counts - n_test)
    sizes = np.stack([counts - n_val - n_test, n_val, n_test], axis=1)
    # every class in every non-empty split when the class is large enough
    wanted = [0] + [j for j, frac in ((1, val), (2, test)) if frac > 0]
    for row, count in zip(sizes, counts):
        if count < len(wanted):
            continue
        for j in wanted:
            if row[j] == 0:
                donor = int(np.argmax(row))
                row[donor] -= 1
                row[j] += 1
    return sizes


def train_val_test_split(
    X: np.ndarray,
    y: np.ndarray,
    val: float = 0.1,
    test: float = 0.2,
    stratify: bool = True,
    seed: int | np.random.SeedSequence | None = None,
) -> tuple[Pair, Pair | None, Pair | None]:
    """Split ``(X, y)`` at random into train, validation and test sets.

    Args:
        X, y: samples and labels of equal length.
        val, test: fractions of the samples held out (``0 <= val, test`` and
            ``val + test < 1``); sizes are ``round(val * n)`` and ``round(test * n)``.
        stratify: split every class in the same proportions (integer ``y`` only; ignored
            for float regression targets). Every class then appears in every non-empty
            split whenever it has enough samples, which can move a split's size by a few.
        seed: seed of ``np.random.default_rng``; the split is a function of it.

    Returns:
        ``((X_train, y_train), (X_val, y_val), (X_test, y_test))`` in shuffled order;
        a split whose fraction is 0 is None.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got len(X)={len(X)}, len(y)={len(y)}")
    val = _check_fraction("val", val)
    test = _check_fraction("test", test)
    if val + test >= 1:
        raise ValueError(f"val + test must be < 1 to leave training data, got {val} + {test}")
    n = len(X)
    if n == 0:
        raise ValueError("cannot split an empty data set (len(X) == 0)")
    rng = np.random.default_rng(seed)

    if stratify and y.dtype.kind in "iub" and y.ndim == 1:
        classes, inverse = np.unique(y, return_inverse=True)
        counts = np.bincount(inverse, minlength=len(classes))
        sizes = _stratified_sizes(counts, val, test, n)
        parts: list[list[np.ndarray]] = [[], [], []]
        for c in range(len(classes)):
            members = rng.permutation(np.flatnonzero(inverse == c))
            edges = np.cumsum(sizes[c])
            for j, chunk in enumerate(np.split(members, edges[:-1])):
                parts[j].append(chunk)
        index = [rng.permutation(np.concatenate(p)) for p in parts]
    else:
        order = rng.permutation(n)
        n_test, n_val = round(test * n), round(val * n)
        index = [order[n_val + n_test :], order[n_test : n_test + n_val], order[:n_test]]

    if len(index[0]) == 0:
        raise ValueError(f"no samples left for training: n={n}, val={val}, test={test}")
    train = (X[index[0]], y[index[0]])
    val_pair = (X[index[1]], y[index[1]]) if val > 0 else None
    test_pair = (X[index[2]], y[index[2]]) if test > 0 else None
    return train, val_pair, test_pair

"""Classification metrics on NumPy arrays."""

from __future__ import annotations

import numpy as np


def confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None
) -> np.ndarray:
    """C[i, j] = number of samples of true class i predicted as class j."""
    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    k = (
        num_classes
        if num_classes is not None
        else int(max(y_true.max(initial=-1), y_pred.max(initial=-1)) + 1)
    )
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of predictions equal to the labels."""
    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


#: more classes than this is taken for a mistake in the labels, not a real task.
MAX_CLASSES = 10_000


def check_labels(y: np.ndarray, what: str = "labels", max_classes: int = MAX_CLASSES) -> int:
    """Check class labels and return the number of classes C they imply (max label + 1).

    Labels must be integers in 0..C-1 with C <= ``max_classes``, and C must not be
    made up by a stray value: when fewer than half of the classes 0..C-1 occur, the
    largest label is almost surely a typo that would silently build a model with
    hundreds of empty classes. Raises ValueError naming the offending label.
    """
    y = np.asarray(y)
    if y.size == 0:
        raise ValueError(f"{what}: no labels (the data set is empty)")
    if y.dtype.kind == "f":
        bad = y[~np.isfinite(y) | (y != np.round(y))]
        if bad.size:
            raise ValueError(f"{what} must be integers 0..C-1, got {bad.reshape(-1)[0]!r}")
    elif y.dtype.kind not in "iub":
        raise ValueError(f"{what} must be integers 0..C-1, got an array of dtype {y.dtype}")
    low, high = y.min(), y.max()
    if low < 0:
        raise ValueError(f"{what} must be integers 0..C-1, got the negative label {int(low)}")
    classes = int(high) + 1
    if classes > max_classes:
        raise ValueError(
            f"{what}: the largest label {int(high)} would make {classes} classes, more than "
            f"{max_classes}; labels must be numbered 0..C-1"
        )
    present = len(np.unique(y))
    if classes > 2 and 2 * present < classes:
        raise ValueError(
            f"{what}: the largest label {int(high)} would make {classes} classes, but only "
            f"{present} distinct labels occur; labels must be numbered 0..C-1 (a stray "
            f"label {int(high)}?)"
        )
    return classes

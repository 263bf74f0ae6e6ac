"""Your own data set in a NumPy ``.npz`` file.

Accepted layouts (key names are matched case-insensitively):

* ``X`` and ``y``: one data set, split later by the caller;
* ``x_train``, ``y_train`` and optionally ``x_test``, ``y_test``: an official split;
* ``arr_0`` and ``arr_1`` (what ``np.savez(path, X, y)`` writes): features and labels.

A file with only ``arr_0`` holds no labels and is rejected. Files are read with
``allow_pickle=False``, so an ``.npz`` from an untrusted source cannot run code.

Conversions: integer labels of shape ``(n,)`` mean classification and become int64;
floating labels mean regression and become float32 of shape ``(n, k)`` (a 1-D ``y``
becomes ``(n, 1)``). Features become float32; uint8 features are taken as image
pixels and divided by 255. Features with more than two axes (images) are flattened
to ``(n, d)`` unless ``flatten=False``.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from descentlab.data.idx import DataError

__all__ = ["load_npz"]

Pair = tuple[np.ndarray, np.ndarray]

_LAYOUTS = (
    ("x_train", "y_train", "x_test", "y_test"),
    ("x", "y", None, None),
    ("arr_0", "arr_1", None, None),
)


def _features(X: np.ndarray, where: str, flatten: bool) -> np.ndarray:
    if X.ndim < 2:
        raise DataError(f"{where} has shape {X.shape}; expected features of shape (n, d) or images")
    if X.dtype == np.uint8:
        X = np.divide(X, np.float32(255.0), dtype=np.float32)
    elif X.dtype.kind in "iuf":
        X = X.astype(np.float32)
    else:
        raise DataError(f"{where} has dtype {X.dtype}; expected numbers")
    if flatten and X.ndim > 2:
        X = X.reshape(len(X), -1)
    return X


def _labels(y: np.ndarray, where: str) -> np.ndarray:
    if y.dtype.kind in "iu":
        if y.ndim != 1:
            raise DataError(f"{where} holds integer class labels of shape {y.shape}; expected (n,)")
        if len(y) and y.min() < 0:
            raise DataError(f"{where} holds a negative class label {y.min()}; expected 0..k-1")
        return y.astype(np.int64)
    if y.dtype.kind == "f":
        if y.ndim not in (1, 2):
            raise DataError(f"{where} holds targets of shape {y.shape}; expected (n,) or (n, k)")
        return y.reshape(len(y), -1).astype(np.float32)
    raise DataError(f"{where} has dtype {y.dtype}; expected integer labels or float targets")


def load_npz(path: str | os.PathLike, *, flatten: bool = True) -> tuple[Pair, Pair | None]:
    """Read a data set from an ``.npz`` file (see the module docstring for the layouts).

    Returns:
        ``((X_train, y_train), (X_test, y_test))``, where the test pair is None unless the
        file holds ``x_test``/``y_test``. For the layouts ``X``/``y`` and ``arr_0``/``arr_1``
        all data come back as the first pair.

    Raises:
        DataError: the file is missing, not an npz archive, needs pickle, has none of the
            accepted key sets (the message lists the keys found), or X and y lengths differ.
    """
    path = Path(path)
    name = repr(str(path))
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key.lower(): archive[key] for key in archive.files}
    except FileNotFoundError:
        raise DataError(f"npz file {name} does not exist") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"cannot read npz file {name}: {exc}") from exc
    except AttributeError:
        raise DataError(f"file {name} is a single .npy array, not an npz archive") from None

    for x_key, y_key, xt_key, yt_key in _LAYOUTS:
        if x_key in arrays and y_key in arrays:
            break
    else:
        expected = "; ".join(
            ", ".join(k for k in layout if k is not None) for layout in _LAYOUTS
        )
        raise DataError(
            f"npz file {name} has keys {sorted(arrays)}; expected one of these key sets: "
            f"{expected} (x_test, y_test optional with x_train, y_train)"
        )

    pairs: list[Pair | None] = []
    for xk, yk in ((x_key, y_key), (xt_key, yt_key)):
        if xk is None or xk not in arrays or yk not in arrays:
            pairs.append(None)
            continue
        X = _features(arrays[xk], f"{name}[{xk!r}]", flatten)
        y = _labels(arrays[yk], f"{name}[{yk!r}]")
        if len(X) != len(y):
            raise DataError(
                f"npz file {name}: {xk!r} has {len(X)} samples but {yk!r} has {len(y)}"
            )
        pairs.append((X, y))
    if xt_key is not None and (xt_key in arrays) != (yt_key in arrays):
        raise DataError(f"npz file {name} has only one of {xt_key!r} and {yt_key!r}; give both")
    train, test = pairs
    assert train is not None
    return train, test

"""Your own data set in a NumPy ``.npz`` file.

Accepted layouts (key names are matched case-insensitively):

* ``X`` and ``y``: one data set, split later by the caller;
* ``x_train``, ``y_train`` and optionally ``x_test``, ``y_test``: an official split;
* ``arr_0`` and ``arr_1`` (what ``np.savez(path, X, y)`` writes): features and labels.

A file with only ``arr_0`` holds no labels and is rejected. Files are read with
``allow_pickle=False``, so an ``.npz`` from an untrusted source cannot run code, and
every member's ``.npy`` header is checked against the member's size (and a 2 GiB
limit) before an array is allocated, so a hostile header cannot exhaust memory.
Class labels must lie in 0..k-1 with k at most 10000 (``max_classes=`` or
``$DESCENTLAB_MAX_CLASSES`` raise it); features and targets must be finite.

Conversions: integer labels of shape ``(n,)`` mean classification and become int64;
floating labels mean regression and become float32 of shape ``(n, k)`` (a 1-D ``y``
becomes ``(n, 1)``). Features become float32; uint8 features are taken as image
pixels and divided by 255. Features with more than two axes (images) are flattened
to ``(n, d)`` unless ``flatten=False``.
"""

from __future__ import annotations

import math
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from descentlab.data._checks import MAX_FILE_BYTES, check_class_labels
from descentlab.data._checks import max_classes as _max_classes
from descentlab.data.idx import DataError

__all__ = ["load_npz"]

Pair = tuple[np.ndarray, np.ndarray]

_LAYOUTS = (
    ("x_train", "y_train", "x_test", "y_test"),
    ("x", "y", None, None),
    ("arr_0", "arr_1", None, None),
)


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# what reading a damaged or hostile zip / .npy member can raise (besides DataError)
_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    struct.error,
    OverflowError,
    KeyError,
    TypeError,
    SyntaxError,
)


def _first_nonfinite(a: np.ndarray) -> int | None:
    bad = ~np.isfinite(a.reshape(len(a), -1)).all(axis=1) if a.size else np.zeros(0, bool)
    return int(np.argmax(bad)) if bad.any() else None


def _features(X: np.ndarray, where: str, flatten: bool) -> np.ndarray:
    if X.ndim < 2:
        raise DataError(f"{where} has shape {X.shape}; expected features of shape (n, d) or images")
    if len(X) == 0 or X.size == 0:
        raise DataError(f"{where} has shape {X.shape}; expected at least one sample and feature")
    if X.dtype == np.uint8:
        X = np.divide(X, np.float32(255.0), dtype=np.float32)
    elif X.dtype.kind in "iuf":
        X = X.astype(np.float32)
    else:
        raise DataError(f"{where} has dtype {X.dtype}; expected numbers")
    index = _first_nonfinite(X)
    if index is not None:
        raise DataError(f"{where} holds NaN or infinity (sample {index}); expected finite numbers")
    if flatten and X.ndim > 2:
        X = X.reshape(len(X), -1)
    return X


def _labels(y: np.ndarray, where: str, limit: int) -> np.ndarray:
    if y.dtype.kind in "iu":
        if y.ndim != 1:
            raise DataError(f"{where} holds integer class labels of shape {y.shape}; expected (n,)")
        check_class_labels(y, where, limit)
        return y.astype(np.int64)
    if y.dtype.kind == "f":
        if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] == 0):
            raise DataError(f"{where} holds targets of shape {y.shape}; expected (n,) or (n, k)")
        y = y.reshape(len(y), -1).astype(np.float32)
        index = _first_nonfinite(y)
        if index is not None:
            raise DataError(
                f"{where} holds NaN or infinity (sample {index}); expected finite targets"
            )
        return y
    raise DataError(f"{where} has dtype {y.dtype}; expected integer labels or float targets")


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, max_bytes: int
) -> np.ndarray:
    """One ``.npy`` member, its header checked against its size before allocating."""
    where = f"npz file {name} member {info.filename!r}"
    if info.file_size > max_bytes:
        raise DataError(f"{where} holds {info.file_size} bytes, more than the limit of {max_bytes}")
    with archive.open(info) as fp:
        version = npy_format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = npy_format.read_array_header_2_0(fp)
        else:
            raise DataError(f"{where} has .npy format version {version}; expected 1.0, 2.0 or 3.0")
        if dtype.hasobject:
            raise DataError(
                f"{where} holds Python objects (dtype {dtype}), which need pickle; "
                "expected numeric arrays"
            )
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > info.file_size:
            raise DataError(
                f"{where} declares shape {shape} of {dtype} ({nbytes} bytes) but holds only "
                f"{info.file_size} bytes"
            )
    with archive.open(info) as fp:
        return npy_format.read_array(fp, allow_pickle=False)


def _read_arrays(path: Path, max_bytes: int) -> dict[str, np.ndarray]:
    name = repr(str(path))
    try:
        with path.open("rb") as fh:
            magic = fh.read(6)
    except FileNotFoundError:
        raise DataError(f"npz file {name} does not exist") from None
    except OSError as exc:
        raise DataError(f"cannot read npz file {name}: {exc}") from exc
    if magic == npy_format.MAGIC_PREFIX:
        raise DataError(f"file {name} is a single .npy array, not an npz archive")
    if magic[:4] not in _ZIP_MAGIC:
        raise DataError(f"cannot read npz file {name}: it is not a zip archive (an .npz file)")
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy") or info.is_dir():
                    continue
                arrays[info.filename[:-4].lower()] = _read_member(archive, info, name, max_bytes)
    except DataError:
        raise
    except _READ_ERRORS as exc:
        message = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise DataError(f"cannot read npz file {name}: {message}") from None
    return arrays


def load_npz(
    path: str | os.PathLike,
    *,
    flatten: bool = True,
    max_classes: int | None = None,
    max_bytes: int = MAX_FILE_BYTES,
) -> tuple[Pair, Pair | None]:
    """Read a data set from an ``.npz`` file (see the module docstring for the layouts).

    Args:
        path: the file.
        flatten: flatten image features to ``(n, d)``.
        max_classes: the largest number of classes accepted (labels 0..max_classes-1);
            default ``$DESCENTLAB_MAX_CLASSES`` or 10000.
        max_bytes: the largest array accepted, in bytes (default 2 GiB).

    Returns:
        ``((X_train, y_train), (X_test, y_test))``, where the test pair is None unless the
        file holds ``x_test``/``y_test``. For the layouts ``X``/``y`` and ``arr_0``/``arr_1``
        all data come back as the first pair.

    Raises:
        DataError: the file is missing, not an npz archive, damaged, needs pickle, has none
            of the accepted key sets (the message lists the keys found), holds no samples,
            non-finite values or a class label outside 0..max_classes-1, or X and y
            lengths differ.
    """
    path = Path(path)
    name = repr(str(path))
    limit = _max_classes(max_classes)
    arrays = _read_arrays(path, max_bytes)

    for x_key, y_key, xt_key, yt_key in _LAYOUTS:
        if x_key in arrays and y_key in arrays:
            break
    else:
        expected = "; ".join(", ".join(k for k in layout if k is not None) for layout in _LAYOUTS)
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
        y = _labels(arrays[yk], f"{name}[{yk!r}]", limit)
        if len(X) != len(y):
            raise DataError(f"npz file {name}: {xk!r} has {len(X)} samples but {yk!r} has {len(y)}")
        pairs.append((X, y))
    if xt_key is not None and (xt_key in arrays) != (yt_key in arrays):
        raise DataError(f"npz file {name} has only one of {xt_key!r} and {yt_key!r}; give both")
    train, test = pairs
    assert train is not None
    return train, test

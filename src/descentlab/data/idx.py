"""IDX files (the MNIST format) and the MNIST / Fashion-MNIST loaders.

An IDX file is a 4-byte magic number ``0x00 0x00 <type code> <ndim>``, then
``ndim`` big-endian uint32 dimensions, then the data in C order, big-endian.
Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
0x0E float64. MNIST images are ``(n, 28, 28)`` uint8 (magic 2051), labels
``(n,)`` uint8 (magic 2049). Files may be gzipped; a gzip file is recognised
by its magic bytes ``1f 8b``, whatever its name.

Every problem with a file (missing, truncated, wrong magic number, wrong
size, corrupt gzip) raises :class:`DataError`, a ``ValueError`` naming the
file and what is wrong.
"""

from __future__ import annotations

import gzip as _gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "FASHION_MNIST_CLASSES",
    "MNIST_FILES",
    "DataError",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
    "write_idx",
]

PathLike = str | os.PathLike


class DataError(ValueError):
    """A data file is missing, malformed or inconsistent (the message names the file)."""


_GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> big-endian dtype
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_DTYPE = {dt.newbyteorder("="): code for code, dt in _IDX_DTYPES.items()}

#: The four standard file names, in the order (train images, train labels, test images, test
#: labels). Each may also carry a ``.gz`` suffix.
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

#: Fashion-MNIST class names, label 0..9 (Xiao, Rasul and Vollgraf, 2017).
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"IDX file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise DataError(f"cannot read IDX file {str(path)!r}: {exc}") from exc
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = _gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"IDX file {str(path)!r} is not a readable gzip file: {exc}") from exc
    return raw


def read_idx(path: PathLike, *, md5: str | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a NumPy array of native byte order.

    Args:
        path: the file. Gzip compression is detected from the content (magic bytes
            ``1f 8b``), not from the suffix.
        md5: if given, the expected MD5 hex digest of the *decompressed* bytes
            (the published MNIST checksums are of the decompressed files).

    Returns:
        A writable array with the shape written in the header, e.g. ``(10000, 28, 28)``
        uint8 for MNIST test images.

    Raises:
        DataError: the file is missing, unreadable, not gzip although it says so, has
            a wrong magic number or unknown type code, is truncated, has trailing bytes,
            or fails the MD5 check.
    """
    path = Path(path)
    raw = _read_bytes(path)
    name = repr(str(path))
    if md5 is not None:
        digest = hashlib.md5(raw).hexdigest()
        if digest != md5.lower():
            raise DataError(f"IDX file {name} has MD5 {digest}, expected {md5.lower()}")
    if len(raw) < 4:
        raise DataError(f"IDX file {name} is truncated: {len(raw)} bytes, no 4-byte magic number")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(
            f"IDX file {name} has a wrong magic number 0x{raw[:4].hex()}: expected 0x0000 "
            f"followed by a type code (one of {', '.join(f'0x{c:02X}' for c in _IDX_DTYPES)}) "
            "and the number of dimensions"
        )
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    if ndim == 0:
        raise DataError(f"IDX file {name} declares 0 dimensions; expected at least 1")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(
            f"IDX file {name} is truncated: header needs {header} bytes for {ndim} "
            f"dimensions, file has {len(raw)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        what = "truncated" if found < expected else "longer than its header says"
        raise DataError(
            f"IDX file {name} is {what}: dimensions {shape} of {dtype.name} need "
            f"{expected} data bytes, found {found}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: PathLike, array: np.ndarray, gzip: bool = False) -> Path:
    """Write ``array`` as an IDX file (optionally gzipped, with mtime 0 for reproducibility).

    Supported dtypes: uint8, int8, int16, int32, float32, float64. Returns the path.
    """
    array = np.asarray(array)
    code = _CODE_OF_DTYPE.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(
            f"write_idx cannot store dtype {array.dtype}; expected one of uint8, int8, int16, "
            "int32, float32, float64"
        )
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"write_idx needs an array with 1..255 dimensions, got ndim={array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    path = Path(path)
    if gzip:
        payload = _gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _to_unit_float32(images: np.ndarray) -> np.ndarray:
    # x / 255 in float32, exactly what torchvision's ToTensor computes
    return np.divide(images, np.float32(255.0), dtype=np.float32)


def load_mnist(
    directory: PathLike, kind: str = "mnist", *, flatten: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST or Fashion-MNIST from a directory holding the four standard IDX files.

    The files are ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each optionally ``.gz``.
    Both data sets share this layout; ``kind`` ("mnist" or "fashion-mnist") only names
    what is loaded (see :data:`FASHION_MNIST_CLASSES`).

    Returns:
        ``((X_train, y_train), (X_test, y_test))``: X float32 scaled to [0, 1] (pixel / 255),
        shape ``(n, 784)`` or ``(n, 28, 28)`` if ``flatten=False``; y int64 of shape ``(n,)``.

    Raises:
        DataError: a file is missing (the message lists the expected names), malformed,
            or image and label counts disagree.
        ValueError: ``kind`` is not "mnist" or "fashion-mnist".
    """
    kind_key = kind.lower().replace("_", "-")
    if kind_key not in ("mnist", "fashion-mnist"):
        raise ValueError(f"kind must be 'mnist' or 'fashion-mnist', got {kind!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(
            f"{kind} directory {str(directory)!r} does not exist or is not a directory; "
            f"expected a directory holding {', '.join(MNIST_FILES)} (each optionally .gz)"
        )
    paths = []
    for stem in MNIST_FILES:
        found = _find(directory, stem)
        if found is None:
            raise DataError(
                f"{kind} file {str(directory / stem)!r}[.gz] is missing; expected the four files "
                f"{', '.join(MNIST_FILES)} (each optionally .gz) in {str(directory)!r}"
            )
        paths.append(found)

    splits = []
    for images_path, labels_path in (paths[0:2], paths[2:4]):
        images = read_idx(images_path)
        labels = read_idx(labels_path)
        if images.ndim != 3:
            raise DataError(
                f"image file {str(images_path)!r} has shape {images.shape}; expected "
                "(n, rows, cols)"
            )
        if labels.ndim != 1:
            raise DataError(
                f"label file {str(labels_path)!r} has shape {labels.shape}; expected (n,)"
            )
        if len(images) != len(labels):
            raise DataError(
                f"{str(images_path)!r} holds {len(images)} images but {str(labels_path)!r} "
                f"holds {len(labels)} labels; the counts must agree"
            )
        X = _to_unit_float32(images)
        if flatten:
            X = X.reshape(len(X), -1)
        splits.append((X, labels.astype(np.int64)))
    return splits[0], splits[1]


def load_fashion_mnist(
    directory: PathLike, *, flatten: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load Fashion-MNIST (same files and layout as MNIST); see :func:`load_mnist`."""
    return load_mnist(directory, kind="fashion-mnist", flatten=flatten)

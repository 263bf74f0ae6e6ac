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
import math
import os
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from descentlab._atomic import atomic_write_bytes
from descentlab.data._checks import MAX_FILE_BYTES

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
_CHUNK = 1 << 20
_MAX_DIM = 2**31 - 1  # a dimension above this is a negative int32 written unsigned, or garbage

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


def _gzip_error(name: str, exc: BaseException) -> DataError:
    return DataError(f"IDX file {name} is not a readable gzip file: {exc}")


def _read_exactly(stream: IO[bytes], count: int, name: str, gz: bool) -> bytearray:
    """Read up to ``count`` bytes; the buffer grows with what arrives, never to a claimed size."""
    buf = bytearray()
    try:
        while len(buf) < count:
            chunk = stream.read(min(_CHUNK, count - len(buf)))
            if not chunk:
                break
            buf += chunk
    except (OSError, EOFError, zlib.error) as exc:
        if gz:
            raise _gzip_error(name, exc) from exc
        raise DataError(f"cannot read IDX file {name}: {exc}") from exc
    return buf


def _header(stream: IO[bytes], name: str, gz: bool) -> tuple[np.dtype, tuple[int, ...], bytes]:
    """Read and check the magic number and the dimensions; return dtype, shape, header bytes."""
    magic = bytes(_read_exactly(stream, 4, name, gz))
    if len(magic) < 4:
        raise DataError(f"IDX file {name} is truncated: {len(magic)} bytes, no 4-byte magic number")
    if magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES:
        raise DataError(
            f"IDX file {name} has a wrong magic number 0x{magic.hex()}: expected 0x0000 "
            f"followed by a type code (one of {', '.join(f'0x{c:02X}' for c in _IDX_DTYPES)}) "
            "and the number of dimensions"
        )
    dtype = _IDX_DTYPES[magic[2]]
    ndim = magic[3]
    if ndim == 0:
        raise DataError(f"IDX file {name} declares 0 dimensions; expected at least 1")
    dims = bytes(_read_exactly(stream, 4 * ndim, name, gz))
    if len(dims) < 4 * ndim:
        raise DataError(
            f"IDX file {name} is truncated: header needs {4 + 4 * ndim} bytes for {ndim} "
            f"dimensions, file has {4 + len(dims)}"
        )
    shape = tuple(int.from_bytes(dims[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    for axis, size in enumerate(shape):
        if size > _MAX_DIM:
            raise DataError(
                f"IDX file {name} declares dimension {axis} = {size} (0x{size:08X}), larger "
                f"than {_MAX_DIM}: a corrupt header or a negative size written unsigned"
            )
    return dtype, shape, magic + dims


def read_idx(
    path: PathLike, *, md5: str | None = None, max_bytes: int = MAX_FILE_BYTES
) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a NumPy array of native byte order.

    The header is checked before any data are read: the product of the dimensions
    times the item size (computed without overflow) must equal the size of the data
    in the file and must not exceed ``max_bytes``, so a corrupt or hostile header
    cannot make the reader allocate more memory than the file really holds.

    Args:
        path: the file. Gzip compression is detected from the content (magic bytes
            ``1f 8b``), not from the suffix.
        md5: if given, the expected MD5 hex digest of the *decompressed* bytes
            (the published MNIST checksums are of the decompressed files).
        max_bytes: the largest data size accepted (default 2 GiB).

    Returns:
        A writable array with the shape written in the header, e.g. ``(10000, 28, 28)``
        uint8 for MNIST test images.

    Raises:
        DataError: the file is missing, unreadable, not gzip although it says so, has
            a wrong magic number or unknown type code, declares impossible dimensions or
            more than ``max_bytes`` of data, is truncated, has trailing bytes, or fails
            the MD5 check.
    """
    path = Path(path)
    name = repr(str(path))
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise DataError(f"IDX file {name} does not exist") from None
    except OSError as exc:
        raise DataError(f"cannot read IDX file {name}: {exc}") from exc
    with handle:
        try:
            gz = handle.read(2) == _GZIP_MAGIC
            handle.seek(0)
            size_on_disk = os.fstat(handle.fileno()).st_size
        except OSError as exc:
            raise DataError(f"cannot read IDX file {name}: {exc}") from exc
        stream: IO[bytes] = (
            _gzip.GzipFile(fileobj=handle, mode="rb") if gz else handle  # type: ignore[assignment]
        )
        with stream:
            dtype, shape, header = _header(stream, name, gz)
            expected = math.prod(shape) * dtype.itemsize
            if expected > max_bytes:
                raise DataError(
                    f"IDX file {name} declares dimensions {shape} of {dtype.name}, "
                    f"{expected} data bytes, more than the limit of {max_bytes} (max_bytes)"
                )
            if not gz and size_on_disk - len(header) != expected:
                found = size_on_disk - len(header)
                what = "truncated" if found < expected else "longer than its header says"
                raise DataError(
                    f"IDX file {name} is {what}: dimensions {shape} of {dtype.name} need "
                    f"{expected} data bytes, found {found}"
                )
            buf = _read_exactly(stream, expected, name, gz)
            if len(buf) < expected:
                raise DataError(
                    f"IDX file {name} is truncated: dimensions {shape} of {dtype.name} need "
                    f"{expected} data bytes, found {len(buf)}"
                )
            if _read_exactly(stream, 1, name, gz):
                raise DataError(
                    f"IDX file {name} is longer than its header says: dimensions {shape} of "
                    f"{dtype.name} need {expected} data bytes, and more follow"
                )
    if md5 is not None:
        digest = hashlib.md5(header + bytes(buf)).hexdigest()
        if digest != md5.lower():
            raise DataError(f"IDX file {name} has MD5 {digest}, expected {md5.lower()}")
    data = np.frombuffer(buf, dtype=dtype)  # writable: it views the bytearray
    if not dtype.isnative:
        data = data.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return data.reshape(shape)


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
    atomic_write_bytes(path, payload)
    return path


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _to_unit_float32(images: np.ndarray) -> np.ndarray:
    # x / 255 in float32, exactly what torchvision's ToTensor computes
    return np.divide(images, np.float32(255.0), dtype=np.float32)


def _check_split(
    images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path, kind: str
) -> None:
    """The checks a pair of MNIST-layout image and label files must pass."""
    where_x, where_y = repr(str(images_path)), repr(str(labels_path))
    if images.ndim != 3:
        raise DataError(f"image file {where_x} has shape {images.shape}; expected (n, rows, cols)")
    if images.dtype != np.uint8:
        raise DataError(
            f"image file {where_x} holds {images.dtype} values; expected uint8 pixels "
            "(IDX type code 0x08)"
        )
    if labels.ndim != 1:
        raise DataError(f"label file {where_y} has shape {labels.shape}; expected (n,)")
    if labels.dtype.kind not in "iu":
        raise DataError(f"label file {where_y} holds {labels.dtype} values; expected integers")
    if len(images) == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise DataError(
            f"image file {where_x} holds no data (shape {images.shape}); every split of "
            f"{kind} needs at least one image of at least 1x1 pixels"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{where_x} holds {len(images)} images but {where_y} holds {len(labels)} labels; "
            "the counts must agree"
        )
    classes = len(FASHION_MNIST_CLASSES)  # both data sets have ten classes, labels 0..9
    bad = (labels < 0) | (labels >= classes)
    if bad.any():
        index = int(np.argmax(bad))
        raise DataError(
            f"label file {where_y} holds label {int(labels[index])} at index {index}; "
            f"{kind} labels are 0..{classes - 1}"
        )


def load_mnist(
    directory: PathLike | None = None,
    kind: str = "mnist",
    *,
    flatten: bool = True,
    download: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST or Fashion-MNIST from a directory holding the four standard IDX files.

    The files are ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each optionally ``.gz``.
    Both data sets share this layout; ``kind`` ("mnist" or "fashion-mnist") only names
    what is loaded (see :data:`FASHION_MNIST_CLASSES`).

    Without ``directory`` the files come from the data cache (``$DESCENTLAB_DATA/mnist``
    or ``.../fashion_mnist``, else the platform's cache folder; see
    :func:`descentlab.data.download.cache_dir`), and missing ones are downloaded from the
    official mirror and checked against their SHA-256 on first use (``download=False``
    turns that off).

    Returns:
        ``((X_train, y_train), (X_test, y_test))``: X float32 scaled to [0, 1] (pixel / 255),
        shape ``(n, 784)`` or ``(n, 28, 28)`` if ``flatten=False``; y int64 of shape ``(n,)``.

    Raises:
        DataError: a file is missing (the message lists the expected names), malformed,
            holds no images, holds a label outside 0..9, image and label counts disagree,
            or a download fails (the message says where to put the files by hand).
        ValueError: ``kind`` is not "mnist" or "fashion-mnist".
    """
    kind_key = kind.lower().replace("_", "-")
    if kind_key not in ("mnist", "fashion-mnist"):
        raise ValueError(f"kind must be 'mnist' or 'fashion-mnist', got {kind!r}")
    if directory is None:
        from descentlab.data.download import dataset_dir, download_dataset

        name = kind_key.replace("-", "_")
        directory = download_dataset(name) if download else dataset_dir(name)
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
        labels = read_idx(labels_path)
        images = read_idx(images_path)
        _check_split(images, labels, images_path, labels_path, kind)
        X = _to_unit_float32(images)
        if flatten:
            X = X.reshape(len(X), -1)
        splits.append((X, labels.astype(np.int64)))
    return splits[0], splits[1]


def load_fashion_mnist(
    directory: PathLike | None = None, *, flatten: bool = True, download: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load Fashion-MNIST (same files and layout as MNIST); see :func:`load_mnist`."""
    return load_mnist(directory, kind="fashion-mnist", flatten=flatten, download=download)

"""MNIST and Fashion-MNIST on first use: download, check SHA-256, cache.

``data.load("mnist")`` and ``data.load("fashion_mnist")`` (and :func:`load_mnist`
without a directory) read the four standard files from a cache folder and fetch the
missing ones from the official mirror:

* the cache folder is ``$DESCENTLAB_DATA`` if set, else the platform's cache folder
  (``$XDG_CACHE_HOME/descentlab`` or ``~/.cache/descentlab`` on Linux,
  ``~/Library/Caches/descentlab`` on macOS, ``%LOCALAPPDATA%\\descentlab`` on
  Windows); each data set lives in its own sub-folder, ``mnist/`` or ``fashion_mnist/``;
* the base URLs are in :data:`MIRRORS`; ``$DESCENTLAB_MNIST_MIRROR`` and
  ``$DESCENTLAB_FASHION_MNIST_MIRROR`` (or the ``mirror=`` argument) replace them;
* every downloaded file must have the size and SHA-256 listed in :data:`FILES`;
* a download goes to ``NAME.part`` first; an interrupted one resumes from there with an
  HTTP ``Range`` request, and starts over if the server ignores ranges or the result
  fails its checksum; the finished file replaces ``NAME`` atomically;
* offline, the :class:`DataError` says which files to put into which folder.

Files already in the folder (also ones you copied there yourself, gzipped or not) are
used as they are: the IDX reader checks their structure. Standard library only.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from descentlab._atomic import atomic_write
from descentlab.data._checks import MAX_FILE_BYTES
from descentlab.data.idx import MNIST_FILES, DataError, _find

__all__ = [
    "FILES",
    "MIRRORS",
    "MIRROR_ENV",
    "DownloadError",
    "cache_dir",
    "dataset_dir",
    "download_dataset",
    "download_file",
]

#: Data set -> base URL of the official files.
MIRRORS: dict[str, str] = {
    # PyTorch's mirror of the files of yann.lecun.com/exdb/mnist (torchvision's first choice)
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    # Zalando Research's own bucket, named in github.com/zalandoresearch/fashion-mnist
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}

#: Data set -> environment variable that replaces its base URL (tests, local mirrors).
MIRROR_ENV: dict[str, str] = {
    "mnist": "DESCENTLAB_MNIST_MIRROR",
    "fashion_mnist": "DESCENTLAB_FASHION_MNIST_MIRROR",
}

#: Data set -> file name -> (size in bytes, SHA-256) of the official gzipped IDX files.
#: The MD5s published beside them (MNIST: f68b3c2d..., d53e105e..., 9fb629c4...,
#: ec29112d...; Fashion-MNIST: 8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...)
#: belong to the same files; the Fashion-MNIST label files were checked byte for byte.
FILES: dict[str, dict[str, tuple[int, str]]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            9_912_422,
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        "train-labels-idx1-ubyte.gz": (
            28_881,
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        "t10k-images-idx3-ubyte.gz": (
            1_648_877,
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            4_542,
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": (
            26_421_880,
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        ),
        "train-labels-idx1-ubyte.gz": (
            29_515,
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        ),
        "t10k-images-idx3-ubyte.gz": (
            4_422_102,
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            5_148,
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
    },
}

_CHUNK = 1 << 16
_ATTEMPTS = 3  # connections that may break off mid-file before giving up (each one resumes)


class DownloadError(DataError):
    """A file could not be fetched (no network, server unreachable, HTTP error)."""


class _BrokenOff(Exception):
    """The connection broke off in the middle of the body (the .part file keeps what came)."""


def _platform_cache_root(platform: str, environ: Mapping[str, str], home: Path) -> Path:
    if platform.startswith("win"):
        local = environ.get("LOCALAPPDATA")
        return Path(local) if local else home / "AppData" / "Local"
    if platform == "darwin":
        return home / "Library" / "Caches"
    xdg = environ.get("XDG_CACHE_HOME", "")
    return Path(xdg) if os.path.isabs(xdg) else home / ".cache"


def cache_dir() -> Path:
    """The data cache folder: ``$DESCENTLAB_DATA`` if set, else the platform's cache folder.

    Linux: ``$XDG_CACHE_HOME/descentlab`` or ``~/.cache/descentlab``; macOS:
    ``~/Library/Caches/descentlab``; Windows: ``%LOCALAPPDATA%\\descentlab``.
    """
    env = os.environ.get("DESCENTLAB_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    return _platform_cache_root(sys.platform, os.environ, Path.home()) / "descentlab"


def _check_name(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_")
    if key not in FILES:
        raise ValueError(f"no download known for data set {name!r}; expected one of {list(FILES)}")
    return key


def dataset_dir(name: str) -> Path:
    """The cache sub-folder of a data set, e.g. ``cache_dir() / "mnist"``."""
    return cache_dir() / _check_name(name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _one_line(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return " ".join(str(reason).split()) or type(exc).__name__


def _fetch(url: str, part: Path, offset: int, cap: int, timeout: float, quiet: bool) -> None:
    """Fetch ``url`` into ``part``: append from ``offset`` if the server honours the range."""
    headers = {"User-Agent": "descentlab (Python urllib)"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout
        )
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the .part is no prefix of the file: start over
            part.unlink(missing_ok=True)
            _fetch(url, part, 0, cap, timeout, quiet)
            return
        raise DownloadError(f"cannot download {url}: HTTP {exc.code} {_one_line(exc)}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise DownloadError(f"cannot download {url}: {_one_line(exc)}") from None
    with response:
        content_range = response.headers.get("Content-Range", "")
        resumed = offset > 0 and response.status == 206
        if resumed and not content_range.startswith(f"bytes {offset}-"):
            response.close()  # a range we did not ask for: take nothing from this answer
            part.unlink(missing_ok=True)
            _fetch(url, part, 0, cap, timeout, quiet)
            return
        start = offset if resumed else 0
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        if not quiet:
            size = "" if expected is None else f" ({(start + expected) / 1e6:.1f} MB)"
            action = f"resuming at byte {start}" if resumed else "downloading"
            print(f"descentlab: {action} {url}{size} into {part.parent}", file=sys.stderr)
        received = 0
        try:
            with part.open("ab" if resumed else "wb") as out:
                while start + received <= cap:
                    try:
                        chunk = response.read(_CHUNK)
                    except (OSError, http.client.HTTPException) as exc:
                        raise _BrokenOff(_one_line(exc)) from None
                    if not chunk:
                        break
                    out.write(chunk)
                    received += len(chunk)
        except OSError as exc:
            raise DataError(
                f"cannot write {str(part)!r}: {exc}; set DESCENTLAB_DATA to a writable folder"
            ) from None
        if expected is not None and received < expected:
            raise _BrokenOff(f"got {received} of {expected} bytes")


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str,
    *,
    size: int | None = None,
    timeout: float = 60.0,
    quiet: bool = False,
) -> Path:
    """Download ``url`` to ``dest``, resuming from ``dest.part``, checked by SHA-256.

    What is received goes to ``<dest>.part``. If that file exists (an earlier download
    broke off), the request asks for the rest with ``Range: bytes=<size of part>-``; a
    server that answers with the whole file (status 200) simply starts it over. When the
    file is complete its SHA-256 (and ``size``, if given) must match, else it is
    downloaded once more from scratch; the checked file then replaces ``dest`` atomically
    and the ``.part`` file is removed.

    Raises:
        DownloadError: the server cannot be reached or answers with an HTTP error.
        DataError: the checksum fails twice, the connection keeps breaking off, or the
            folder is not writable.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    sha256 = sha256.lower()
    cap = size if size is not None else MAX_FILE_BYTES
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create the data folder {str(dest.parent)!r}: {exc}; set DESCENTLAB_DATA "
            "to a writable folder"
        ) from None
    failed_checks = broken = 0
    while True:
        offset = part.stat().st_size if part.is_file() else 0
        if offset > cap:
            part.unlink()
            offset = 0
        if size is None or offset < size:
            try:
                _fetch(url, part, offset, cap, timeout, quiet)
            except _BrokenOff as exc:
                broken += 1
                if broken < _ATTEMPTS:
                    continue
                raise DataError(
                    f"the download of {url} broke off {broken} times ({exc}); run again to "
                    f"resume from {str(part)!r}"
                ) from None
        got_size = part.stat().st_size
        digest = _sha256(part)
        if digest == sha256 and (size is None or got_size == size):
            break
        part.unlink()
        failed_checks += 1
        if failed_checks >= 2:
            raise DataError(
                f"{url} arrived with SHA-256 {digest} ({got_size} bytes) twice, expected "
                f"{sha256}"
                + ("" if size is None else f" ({size} bytes)")
                + "; the mirror serves a different file: set a mirror with the official files"
            )
    with part.open("rb") as src, atomic_write(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    part.unlink()
    return dest


def download_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    mirror: str | None = None,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    quiet: bool = False,
) -> Path:
    """Make sure the four files of ``name`` ("mnist" or "fashion_mnist") are in its folder.

    Args:
        name: the data set ("fashion-mnist" works too).
        root: the cache folder (default :func:`cache_dir`); the files go to ``root/name``.
        mirror: base URL of the files (default ``$DESCENTLAB_MNIST_MIRROR`` or
            ``$DESCENTLAB_FASHION_MNIST_MIRROR``, else :data:`MIRRORS`).
        checksums: file name -> SHA-256, replacing the official values (their sizes are
            then not checked); for a private mirror or tests.
        timeout: seconds a connection may stay silent.
        quiet: no "downloading ..." line on stderr.

    Returns:
        The folder holding the files. Files already there (``.gz`` or not) are not fetched.

    Raises:
        DataError: offline or unreachable (one line saying which files to put where),
            a checksum that keeps failing, or a folder that cannot be written.
    """
    key = _check_name(name)
    folder = (Path(root).expanduser() if root is not None else cache_dir()) / key
    base = mirror or os.environ.get(MIRROR_ENV[key], "").strip() or MIRRORS[key]
    base = base if base.endswith("/") else base + "/"
    if all(_find(folder, stem) is not None for stem in MNIST_FILES):
        return folder
    with _exclusive(folder):  # several processes (a sweep's workers) may ask at once
        _download_missing(key, folder, base, checksums, timeout, quiet)
    return folder


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """Hold ``.<folder name>.lock`` beside ``folder`` (an advisory lock, where the platform
    has one) meanwhile; the data set's own folder holds only its files."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here; downloads are still atomic
        yield
        return
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder.parent / f".{folder.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # an unwritable folder: the download itself will say so
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _download_missing(
    key: str,
    folder: Path,
    base: str,
    checksums: Mapping[str, str] | None,
    timeout: float,
    quiet: bool,
) -> None:
    for stem in MNIST_FILES:
        if _find(folder, stem) is not None:  # another process may have fetched it meanwhile
            continue
        file_name = f"{stem}.gz"
        size: int | None = FILES[key][file_name][0]
        sha256 = FILES[key][file_name][1]
        if checksums is not None and file_name in checksums:
            size, sha256 = None, checksums[file_name]
        try:
            download_file(
                base + file_name,
                folder / file_name,
                sha256,
                size=size,
                timeout=timeout,
                quiet=quiet,
            )
        except DownloadError as exc:
            names = ", ".join(f"{s}.gz" for s in MNIST_FILES)
            raise DataError(
                f"{exc} (offline?): put the files {names} (from {base}) into "
                f"{str(folder)!r}, or set DESCENTLAB_DATA to a folder whose {key}/ holds them"
            ) from None

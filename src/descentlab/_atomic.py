"""Atomic file writes: a reader sees the old file or the new one, never a torn one.

Every file descentlab writes (models, checkpoints, figures, GIFs, reports, JSON)
goes through :func:`atomic_write`: the bytes go to a temporary file in the same
folder, are flushed and fsynced, and the temporary file then replaces the target
with ``os.replace`` (atomic on POSIX and Windows). A crash or ``kill -9`` at any
moment leaves the previous file intact (and, at worst, a stray hidden
``.name.*.tmp`` beside it). Files written by another program, such as ffmpeg,
go through :func:`atomic_path` instead. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_path", "atomic_write", "atomic_write_bytes", "atomic_write_text"]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; the rename is durable enough there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8). If the body raises, the
    temporary file is removed and ``path`` is untouched.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_write(target, "w") as f:
    ...     _ = f.write("hello")
    >>> target.read_text()
    'hello'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write mode must be 'wb' or 'w', got {mode!r}")
    with _replacing(path, ".tmp") as (fd, _):
        if mode == "w":
            f: IO = os.fdopen(fd, "w", encoding="utf-8", newline="")
        else:
            f = os.fdopen(fd, "wb")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as f:
        f.write(text)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary file name beside ``path`` (same suffix) for a program that writes by
    name; when the body succeeds the file is fsynced and replaces ``path``.

    If the body raises, the temporary file is removed and ``path`` is untouched.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "movie.mp4"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_bytes(b"frames")
    >>> target.read_bytes()
    b'frames'
    """
    with _replacing(path, f".tmp{Path(path).suffix}") as (fd, tmp):
        os.close(fd)
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _replacing(path: str | os.PathLike[str], suffix: str) -> Iterator[tuple[int, Path]]:
    """A new temporary file beside ``path`` (its descriptor and name); once the body has
    written and fsynced it, it takes the permissions a plain open would and replaces
    ``path``. If the body raises, the temporary file is removed and ``path`` is untouched."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=folder)
    tmp = Path(tmp_name)
    try:
        yield fd, tmp
        _match_umask(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(folder)


def _match_umask(tmp: Path) -> None:
    """mkstemp makes 0600 files; give the file the permissions a plain open would."""
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    except OSError:
        pass

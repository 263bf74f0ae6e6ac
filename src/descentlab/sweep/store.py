"""The sweep's folder: ``sweep.json`` (the plan), ``trials.jsonl`` (one line per finished
trial, appended as it finishes) and ``rungs.jsonl`` (early-stopping results).

An append is one ``write`` of a whole line followed by ``fsync``: a ``kill -9``
can leave at most a torn last line, which reading ignores and the next append
cuts off first. So a killed sweep loses only the trials in flight.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from descentlab._atomic import atomic_write
from descentlab.train.history import json_safe

__all__ = ["MANIFEST", "RUNGS", "TRIALS", "SweepStore", "json_line"]

MANIFEST = "sweep.json"
TRIALS = "trials.jsonl"
RUNGS = "rungs.jsonl"

#: A line longer than this is not a trial record (a crafted or corrupt file).
MAX_LINE = 1 << 20


def json_line(record: Mapping[str, Any]) -> str:
    """``record`` as one line of strict JSON (NaN and infinities as null)."""
    return json.dumps(json_safe(record), allow_nan=False, separators=(",", ":")) + "\n"


class SweepStore:
    """Read and append the files of one sweep folder."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    # -- the plan ----------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    def read_manifest(self) -> dict[str, Any] | None:
        path = self.manifest_path
        if not path.exists():
            return None
        if path.stat().st_size > 64 * MAX_LINE:
            raise ValueError(f"{path} is {path.stat().st_size} bytes; not a sweep manifest")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path} is not a sweep manifest: {err}") from None
        if not isinstance(data, dict) or "plan" not in data:
            raise ValueError(f"{path} is not a sweep manifest (no 'plan')")
        return data

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.manifest_path, "w") as fh:
            fh.write(json.dumps(json_safe(manifest), indent=2, allow_nan=False) + "\n")

    def write_json(self, name: str, value: Any) -> Path:
        path = self.folder / name
        with atomic_write(path, "w") as fh:
            fh.write(json.dumps(json_safe(value), indent=2, allow_nan=False) + "\n")
        return path

    # -- records -----------------------------------------------------------------------------
    def records(self, name: str = TRIALS) -> list[dict[str, Any]]:
        """Every whole record of ``name`` in order; a torn or foreign line is skipped."""
        return list(self._iter(self.folder / name))

    @staticmethod
    def _iter(path: Path) -> Iterator[dict[str, Any]]:
        if not path.exists():
            return
        with open(path, "rb") as fh:
            for raw in fh:
                if len(raw) > MAX_LINE or not raw.endswith(b"\n"):
                    continue
                try:
                    record = json.loads(raw)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    continue
                if isinstance(record, dict) and isinstance(record.get("key"), str):
                    yield record

    def repair(self, name: str = TRIALS) -> int:
        """Cut a torn last line (left by a kill during a write); returns bytes removed."""
        path = self.folder / name
        if not path.exists():
            return 0
        size = path.stat().st_size
        if size == 0:
            return 0
        with open(path, "rb+") as fh:
            # find the end of the last whole line
            block = min(size, 1 << 16)
            end = size
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return 0
            keep = 0
            pos = size
            while pos > 0:
                start = max(0, pos - block)
                fh.seek(start)
                chunk = fh.read(pos - start)
                i = chunk.rfind(b"\n")
                if i >= 0:
                    keep = start + i + 1
                    break
                pos = start
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
            return end - keep

    def append(self, record: Mapping[str, Any], name: str = TRIALS) -> None:
        """Append one record as one line: a single write, then fsync."""
        self.folder.mkdir(parents=True, exist_ok=True)
        line = json_line(record).encode("utf-8")
        fd = os.open(self.folder / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)

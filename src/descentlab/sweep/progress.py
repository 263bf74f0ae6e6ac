"""How far a sweep has got: a rich progress bar on a terminal, plain lines elsewhere.

:class:`SweepProgress` gives :func:`~descentlab.sweep.sweep` its ``on_start`` and
``on_record`` callbacks (and ``on_error`` for a trial that raised). It counts the
trials done out of the total, the failures (diverged trials and trials that raised)
and estimates the time left from the trials finished since the start. ``rich`` is
optional: without it, or when the stream is not a terminal, a plain line is written
at most every ``every`` seconds and once at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TextIO

__all__ = ["SweepProgress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``seconds`` as ``42 s``, ``3 min 05 s`` or ``2 h 07 min``.

    >>> format_seconds(3.2), format_seconds(185), format_seconds(7620)
    ('3.2 s', '3 min 05 s', '2 h 07 min')
    """
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class SweepProgress:
    """Progress callbacks for a sweep, written to ``stream`` (default: stderr).

    ``style``: ``"auto"`` (a rich bar when the stream is a terminal and rich is
    installed, else plain lines), ``"rich"``, ``"plain"`` or ``"off"``. Use it as a
    context manager, or call :meth:`close` at the end, so the bar stops cleanly.
    """

    def __init__(
        self, stream: TextIO | None = None, *, style: str = "auto", every: float = 5.0
    ) -> None:
        if style not in ("auto", "rich", "plain", "off"):
            raise ValueError(f"style must be auto, rich, plain or off, got {style!r}")
        self.stream: TextIO = stream if stream is not None else sys.stderr
        if style == "auto":
            tty = bool(getattr(self.stream, "isatty", lambda: False)())
            style = "rich" if tty and _has_rich() else "plain"
        elif style == "rich" and not _has_rich():
            style = "plain"
        self.style = style
        self.every = every
        self.total = 0
        self.done = 0
        self.diverged = 0
        self.pruned = 0
        self.errors = 0
        self._done_at_start = 0
        self._started = 0.0
        self._last_line = 0.0
        self._bar: Any = None
        self._task: Any = None
        self._closed = False

    # -- the callbacks -----------------------------------------------------------------------
    def on_start(self, to_run: int, done: int, backend: str) -> None:
        """The sweep has ``to_run`` trials to run on ``backend``; ``done`` are already saved."""
        self.total = to_run + done
        self.done = self._done_at_start = done
        self._started = self._last_line = time.perf_counter()
        if self.style == "off":
            return
        already = f"; {done} already done" if done else ""
        if to_run == 0:
            self._write(f"sweep: all {done} trials are already done")
            return
        self._write(f"sweep: {to_run} trials to run on {backend}{already}")
        if self.style == "rich":
            self._start_bar()

    def on_record(self, record: Mapping[str, Any]) -> None:
        """A trial finished (its final record)."""
        self.done += 1
        status = record.get("status")
        if status == "diverged":
            self.diverged += 1
        elif status == "pruned":
            self.pruned += 1
        self._update()

    def on_error(self, key: str = "", message: str = "") -> None:
        """A trial raised (it is not saved; ``--resume`` runs it again)."""
        self.done += 1
        self.errors += 1
        self._update()

    # -- what is shown -----------------------------------------------------------------------
    @property
    def failures(self) -> int:
        """Diverged trials plus trials that raised."""
        return self.diverged + self.errors

    def counts(self) -> str:
        """``3 failed (2 diverged, 1 error)``-style text (pruned trials when any)."""
        errors = f"{self.errors} error{'s' if self.errors != 1 else ''}"
        text = f"{self.failures} failed ({self.diverged} diverged, {errors})"
        if self.pruned:
            text += f", {self.pruned} pruned"
        return text

    def remaining_seconds(self) -> float | None:
        """The time left at the rate of the trials finished since the start (None: unknown)."""
        ran = self.done - self._done_at_start
        if ran <= 0:
            return None
        elapsed = time.perf_counter() - self._started
        return elapsed / ran * max(0, self.total - self.done)

    def line(self) -> str:
        """One plain line: trials done of the total, failures, time elapsed and left."""
        elapsed = time.perf_counter() - self._started
        left = self.remaining_seconds()
        eta = ""
        if left is not None and self.done < self.total:
            eta = f", about {format_seconds(left)} left"
        counts = self.counts()
        if self._done_at_start:  # a resumed sweep: the counts are of the trials run now
            counts = f"{self.done - self._done_at_start} run now, {counts}"
        return f"sweep: {self.done}/{self.total} trials, {counts}, {format_seconds(elapsed)}{eta}"

    def close(self) -> None:
        """Stop the bar (or write the last plain line); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.update(self._task, failed=self.counts())
            self._bar.stop()
            self._bar = None
        elif self.style == "plain" and self.total and self._done_at_start < self.total:
            self._write(self.line())

    def __enter__(self) -> SweepProgress:  # noqa: PYI034 - Self needs Python 3.11
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------
    def _write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def _update(self, advance: int = 1) -> None:
        if self.style == "off" or self._closed:
            return
        if self._bar is not None:
            self._bar.update(self._task, advance=advance, failed=self.counts())
            return
        if self.style == "plain":
            now = time.perf_counter()
            if now - self._last_line >= self.every and self.done < self.total:
                self._last_line = now
                self._write(self.line())

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("trials  {task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(file=self.stream),
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(
            "sweep", total=self.total, completed=self.done, failed=self.counts()
        )


def _has_rich() -> bool:
    try:
        import rich.progress  # noqa: F401
    except ImportError:  # rich is an optional extra
        return False
    return True

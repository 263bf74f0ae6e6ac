"""The sweep's progress: counts, failures, plain lines, a rich bar, silence."""

from __future__ import annotations

import io

import pytest

from descentlab.sweep.progress import SweepProgress, format_seconds


def _feed(progress: SweepProgress) -> None:
    progress.on_start(4, 2, "local (2 workers)")
    progress.on_record({"status": "converged"})
    progress.on_record({"status": "diverged"})
    progress.on_record({"status": "pruned"})
    progress.on_error("k", "ValueError: boom")
    progress.close()


def test_plain_lines_count_trials_and_failures():
    stream = io.StringIO()
    progress = SweepProgress(stream, style="plain", every=0.0)
    _feed(progress)
    text = stream.getvalue().splitlines()
    assert text[0] == "sweep: 4 trials to run on local (2 workers); 2 already done"
    # resumed with 2 done: the counts are of the trials run now
    assert text[1].startswith("sweep: 3/6 trials, 1 run now, 0 failed (0 diverged, 0 errors)")
    assert "left" in text[1]  # an estimate once a trial has finished
    assert text[-1].startswith(
        "sweep: 6/6 trials, 4 run now, 2 failed (1 diverged, 1 error), 1 pruned"
    )
    assert progress.failures == 2 and progress.done == progress.total == 6


def test_plain_lines_are_rate_limited():
    stream = io.StringIO()
    _feed(SweepProgress(stream, style="plain", every=3600.0))
    assert len(stream.getvalue().splitlines()) == 2  # the start and the end only


def test_rich_bar_shows_the_counts():
    pytest.importorskip("rich", reason="rich is optional; the bar needs it")
    stream = io.StringIO()
    progress = SweepProgress(stream, style="rich")
    assert progress.style == "rich"
    _feed(progress)
    text = stream.getvalue()
    assert "6/6" in text and "2 failed (1 diverged, 1 error)" in text


def test_off_is_silent_and_auto_is_plain_off_a_terminal():
    stream = io.StringIO()
    _feed(SweepProgress(stream, style="off"))
    assert stream.getvalue() == ""
    assert SweepProgress(io.StringIO()).style == "plain"
    with pytest.raises(ValueError, match="style"):
        SweepProgress(style="fancy")


def test_nothing_to_run_says_so():
    stream = io.StringIO()
    progress = SweepProgress(stream, style="plain")
    progress.on_start(0, 5, "none")
    progress.close()
    assert stream.getvalue() == "sweep: all 5 trials are already done\n"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.25, "0.2 s"), (42, "42 s"), (185, "3 min 05 s"), (7620, "2 h 07 min")]
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text

"""Pictures, animations and reports are written atomically: a failure halfway leaves the
previous file whole and no temporary file behind."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from descentlab import landscapes, viz
from descentlab.viz import animate


@pytest.fixture(scope="module")
def runs():
    return landscapes.race(
        "himmelblau", [0.0, 0.0], {"sgd": {"lr": 0.01}, "adam": {"lr": 0.1}}, steps=12
    )


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_figure_failing_halfway_leaves_the_previous_file(runs, tmp_path, monkeypatch, suffix):
    out = tmp_path / f"values{suffix}"
    viz.plot_values(runs, out=out)
    before = out.read_bytes()
    assert len(before) > 500

    from matplotlib.figure import Figure

    def half_then_crash(self, fname, **kwargs):
        fname.write(b"half a picture")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        viz.plot_values(runs, out=out)
    assert out.read_bytes() == before
    assert names(tmp_path) == [out.name]


def test_gif_failing_halfway_leaves_the_previous_file(runs, tmp_path, monkeypatch):
    out = tmp_path / "race.gif"
    anim = viz.race_animation("himmelblau", runs, frames=4, out=out)
    before = out.read_bytes()
    assert before[:6] == b"GIF89a"

    def broken_frames():
        yield anim.frame(0)
        raise MemoryError("out of memory while drawing")

    monkeypatch.setattr(anim, "frames", broken_frames)
    with pytest.raises(MemoryError):
        anim.save(out)
    assert out.read_bytes() == before
    assert names(tmp_path) == ["race.gif"]


@pytest.mark.skipif(sys.platform == "win32", reason="a fake ffmpeg shell script")
def test_mp4_goes_to_a_temporary_name_and_failed_ffmpeg_keeps_the_old_file(
    runs, tmp_path, monkeypatch
):
    out = tmp_path / "race.mp4"
    out.write_bytes(b"the previous movie")
    log = tmp_path / "args.txt"
    fake = tmp_path / "fake-ffmpeg"
    fake.write_text(
        f'#!/bin/sh\necho "$@" > {log}\ncat > /dev/null\n'
        'for last; do :; done\nprintf partial > "$last"\nexit 1\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(animate, "ffmpeg_executable", lambda: str(fake))
    with pytest.raises(RuntimeError, match="ffmpeg failed to write"):
        viz.race_animation("himmelblau", runs, frames=3, out=out)
    target = log.read_text().split()[-1]
    assert os.path.dirname(target) == str(tmp_path) and os.path.basename(target) != out.name
    assert out.read_bytes() == b"the previous movie"
    assert names(tmp_path) == ["args.txt", "fake-ffmpeg", "race.mp4"]


def test_mp4_is_complete_and_leaves_no_temporary(runs, tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    out = tmp_path / "race.mp4"
    viz.race_animation("himmelblau", runs, frames=3, fps=5, out=out)
    assert out.read_bytes()[4:8] == b"ftyp"
    assert names(tmp_path) == ["race.mp4"]
    assert stat.S_IMODE(out.stat().st_mode) & 0o044  # readable like any other file


def test_report_page_failing_halfway_leaves_the_previous_page(runs, tmp_path, monkeypatch):
    fig = tmp_path / "f.png"
    viz.plot_values(runs, out=fig)
    page = viz.demo_report(tmp_path, {"values": fig}, {"loss": 1.0})
    first = page.read_text(encoding="utf-8")
    assert "<table>" in first and 'src="f.png"' in first

    def fsync_fails(fd):
        raise OSError("I/O error while flushing")

    monkeypatch.setattr(os, "fsync", fsync_fails)  # the new page is fully written, then fails
    with pytest.raises(OSError, match="I/O error"):
        viz.demo_report(tmp_path, {"values": fig}, {"loss": 2.0})
    assert page.read_text(encoding="utf-8") == first
    assert names(tmp_path) == ["f.png", "index.html"]

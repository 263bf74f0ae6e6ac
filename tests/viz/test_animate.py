"""Race animations: frame counts, GIF files, MP4 without ffmpeg, the classic races."""

from __future__ import annotations

import numpy as np
import pytest

from descentlab import landscapes
from descentlab.viz import classic_race, race_animation
from descentlab.viz.animate import CLASSIC_RACES, RaceAnimation, frame_steps


@pytest.fixture(scope="module")
def runs():
    return landscapes.race(
        "himmelblau",
        [0.0, 0.0],
        {"sgd": {"lr": 0.01}, "adam": {"lr": 0.1}, "wild": {"optimizer": "sgd", "lr": 0.2}},
        steps=30,
    )


def test_frame_steps():
    np.testing.assert_array_equal(frame_steps(10, None), np.arange(11))
    s = frame_steps(300, 60)
    assert len(s) == 60 and s[0] == 0 and s[-1] == 300
    assert np.all(np.diff(s) > 0)
    np.testing.assert_array_equal(frame_steps(5, 100), np.arange(6))  # min(frames, T + 1)
    np.testing.assert_array_equal(frame_steps(5, 1), [5])
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="frames"):
            frame_steps(5, bad)


def test_gif_has_the_expected_frames_and_size(runs, tmp_path, viz_helpers):
    assert runs["wild"].status == "diverged"
    out = tmp_path / "race.gif"
    anim = race_animation("himmelblau", runs, frames=12, fps=10, out=out)
    assert isinstance(anim, RaceAnimation)
    size, n = viz_helpers.gif_info(out)
    assert n == 12 == anim.n_frames
    w, h = anim.figure.get_size_inches() * anim.figure.dpi
    assert size == (round(w), round(h))
    assert anim.statuses["wild"].startswith("diverged at step")


def test_default_frame_count_is_one_per_step(runs, tmp_path, viz_helpers):
    anim = race_animation("himmelblau", {"adam": runs["adam"]}, frames=None)
    assert anim.n_frames == runs["adam"].nit + 1
    img = anim.frame(anim.n_frames - 1)
    assert img.size == anim.figure.canvas.get_width_height()
    anim.save(tmp_path / "a.gif")
    assert viz_helpers.gif_info(tmp_path / "a.gif")[1] == anim.n_frames


def test_frames_move_the_heads_along_the_paths(runs):
    anim = race_animation("himmelblau", runs, frames=4)
    anim.frame(3)
    anim.frame(0)
    ax = anim.figure.axes[0]
    heads = [
        ln
        for ln in ax.get_lines()
        if ln.get_marker() in ("o", "X") and ln.get_linestyle() == "None"
    ]
    np.testing.assert_allclose(heads[1].get_xydata()[0], [0.0, 0.0])  # adam at its start
    assert heads[2].get_marker() == "o"  # not yet left the plot at step 0
    anim.frame(3)
    np.testing.assert_allclose(heads[1].get_xydata()[0], runs["adam"].trajectory.positions[-1])
    assert heads[2].get_marker() == "X"  # the diverged run stopped at the edge


def test_mp4_has_every_frame(runs, tmp_path):
    import imageio_ffmpeg  # the test extras bring an ffmpeg binary with it

    out = tmp_path / "r.mp4"
    anim = race_animation("himmelblau", runs, fps=10, out=out)
    data = out.read_bytes()
    assert data[4:8] == b"ftyp" and len(data) > 1000
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert frames == anim.n_frames


def test_mp4_without_ffmpeg_is_a_clear_error(runs, tmp_path, monkeypatch):
    import shutil
    import sys

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if not installed
    with pytest.raises(RuntimeError, match="ffmpeg"):
        race_animation("himmelblau", runs, out=tmp_path / "r.mp4")
    assert not (tmp_path / "r.mp4").exists()


def test_wrong_suffix_and_bad_fps(runs, tmp_path):
    with pytest.raises(ValueError, match="unknown file type '.png'"):
        race_animation("himmelblau", runs, out=tmp_path / "r.png")
    with pytest.raises(ValueError, match="fps"):
        race_animation("himmelblau", runs, fps=0)
    with pytest.raises(ValueError, match="at least one run"):
        race_animation("himmelblau", {})


def test_classic_saddle_race(tmp_path, viz_helpers):
    out = tmp_path / "saddle.gif"
    anim = classic_race("saddle", steps=60, frames=6, out=out)
    assert viz_helpers.gif_info(out)[1] == 6
    res = anim.results
    assert list(res) == ["sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam"]
    assert abs(res["sgd"].x[1]) < 0.01 < abs(res["adagrad"].x[1])  # SGD stalls, AdaGrad escapes
    assert res["adagrad"].x[1] > 1.0


def test_classic_beale_race_settings():
    anim = classic_race("beale", steps=20, frames=3)
    assert anim.n_frames == 3
    assert set(anim.results) == set(CLASSIC_RACES["beale"]["optimizers"])
    with pytest.raises(ValueError, match="unknown classic race 'rosenbrock'"):
        classic_race("rosenbrock")
    with pytest.raises(ValueError, match="steps"):
        classic_race("beale", steps=0)

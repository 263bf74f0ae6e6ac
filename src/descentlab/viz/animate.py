"""Race animations: several optimizers moving together over the contours (GIF or MP4).

The frames are drawn from recorded runs (``race`` / ``minimize`` results), so the
animation shows exactly the numbers the library computed. GIFs are written by Pillow;
MP4 needs ffmpeg: on the PATH, or the binary shipped by ``imageio-ffmpeg``.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np

from descentlab._atomic import atomic_path, atomic_write
from descentlab.landscapes.classic import CLASSIC_RACES
from descentlab.viz._common import (
    ANIMATION_SUFFIXES,
    as_runs,
    check_out,
    clip_path,
    fmt,
    new_figure,
    path_of,
    run_colors,
    run_label,
    short_status,
    values_of,
    view_box,
)
from descentlab.viz._layout import path_styles, points_for_pixels

__all__ = ["CLASSIC_RACES", "RaceAnimation", "classic_race", "frame_steps", "race_animation"]

OutPath = str | os.PathLike[str] | None
#: The legend's font size in pixels of the animation (readable at the GIF's own size).
LEGEND_PIXELS = 12


def frame_steps(n_steps: int, frames: int | None) -> np.ndarray:
    """The step shown by each frame: every step 0..T when ``frames`` is None, else
    ``min(frames, T + 1)`` steps spread evenly from 0 to T (first and last included)."""
    total = int(n_steps) + 1
    if frames is None:
        return np.arange(total)
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 1:
        raise ValueError(f"frames must be a positive integer or None, got {frames!r}")
    n = min(int(frames), total)
    if n == 1:
        return np.array([total - 1])
    return np.round(np.linspace(0, total - 1, n)).astype(int)


def ffmpeg_executable() -> str | None:
    """An ffmpeg to write MP4 with: the one on the PATH, else the binary that the
    ``imageio-ffmpeg`` package ships (``pip install 'descentlab[video]'``), else None."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        return None


def _check_animation_out(out: OutPath) -> Any:
    path = check_out(out, ANIMATION_SUFFIXES)
    if path is not None and path.suffix.lower() == ".mp4" and ffmpeg_executable() is None:
        raise RuntimeError(
            f"cannot write {str(path)!r}: MP4 needs ffmpeg (on the PATH, or pip install "
            "'descentlab[video]') and none was found; or save as .gif (written with Pillow)"
        )
    return path


def race_animation(
    f: Any,
    results: Any,
    *,
    fps: int = 20,
    frames: int | None = None,
    out: OutPath = None,
    title: str | None = None,
    dpi: int = 80,
    levels: int = 25,
    bounds: Any = None,
) -> Any:
    """Animate several runs moving together, with a live f(x_t)-vs-step panel beside them.

    ``results`` is the dict returned by :func:`descentlab.landscapes.race` (or a Result /
    list). Frame k shows every run at step ``frame_steps(T, frames)[k]`` where T is the
    longest run's number of steps: ``T + 1`` frames when ``frames`` is None, else
    ``min(frames, T + 1)``. A run that leaves the plot (``bounds``, default the
    landscape's) stops at the edge with an ``X`` and its value curve stops there too.

    Returns a :class:`RaceAnimation` (``.figure``, ``.frame_steps``, ``.save(out)``,
    ``.frames()``; a notebook shows it as a GIF). With ``out`` it is written as a GIF
    (Pillow) or an MP4 (ffmpeg; a RuntimeError names the problem when ffmpeg is missing).
    """
    from descentlab.viz.landscape import (
        _check_dim,
        axis_names,
        draw_critical_points,
        draw_curve,
        draw_image,
        resolve,
    )

    path = _check_animation_out(out)
    if isinstance(fps, bool) or not isinstance(fps, (int, np.integer, float)) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    f = resolve(f)
    _check_dim(f, "race_animation")
    runs = as_runs(results)
    if not runs:
        raise ValueError("race_animation needs at least one run")
    paths = [path_of(r) for _, r in runs]
    T = max(len(P) for P in paths) - 1
    steps = frame_steps(T, frames)
    if bounds is not None:
        b = np.asarray(bounds, dtype=np.float64).reshape(f.dim, 2)
        lo, hi = b[:, 0].copy(), b[:, 1].copy()
    else:
        lo, hi = view_box(f, paths)
    colors = run_colors([lb for lb, _ in runs], [r.get("optimizer") for _, r in runs])

    fig = new_figure(10.5, 5.0, dpi=dpi)
    pt = points_for_pixels(fig, LEGEND_PIXELS)
    ax, axv = fig.subplots(1, 2, width_ratios=[1.2, 1.0])
    if f.dim == 2:
        draw_image(ax, f, lo, hi, levels=levels, resolution=300)
        draw_critical_points(ax, f, lo, hi)
    else:
        draw_curve(ax, f, lo, hi)
    xn, yn = axis_names(f)

    visible, exits, trails, heads, curves, series = [], [], [], [], [], []
    styles = path_styles([clip_path(P, lo, hi)[0] for P in paths], lo, hi)
    ymax = 1e4 * max(
        [abs(values_of(r)[0]) for _, r in runs if np.isfinite(values_of(r)[0])] + [1.0]
    )
    for (label, res), P, color, style in zip(runs, paths, colors, styles):
        vis, left = clip_path(P, lo, hi)
        if f.dim == 1 and len(vis):
            with np.errstate(all="ignore"):
                vis = np.column_stack([vis[:, 0], np.asarray(f.value(vis[:, :1])).reshape(-1)])
        visible.append(vis)
        exits.append(left)
        (trail,) = ax.plot(
            [],
            [],
            color=color,
            lw=style["lw"],
            zorder=style["zorder"],
            marker=style["marker"],
            markevery=style["markevery"],
            ms=2.5 + 0.6 * style["lw"],
            mec="white",
            mew=0.5,
            label=run_label(label, res),
        )
        (head,) = ax.plot([], [], "o", color=color, ms=8, mec="black", mew=1.0, zorder=8)
        trails.append(trail)
        heads.append(head)
        v = values_of(res).astype(np.float64)
        with np.errstate(all="ignore"):
            ok = np.isfinite(v) & (np.abs(v) <= ymax)
        cut = len(v) if ok.all() else int(np.argmin(ok))
        if left is not None:
            cut = min(cut, left)
        series.append(v[:cut])
        (curve,) = axv.plot([], [], color=color, lw=1.8)
        curves.append(curve)
    ax.scatter(
        paths[0][:1, 0],
        (paths[0][:1, 1] if f.dim == 2 else f.value(paths[0][:1, :1])),
        marker="o",
        s=60,
        c="white",
        edgecolors="black",
        zorder=7,
        label="start",
    )
    # the legend under both panels, its text LEGEND_PIXELS tall at the GIF's own size
    handles, names = ax.get_legend_handles_labels()
    widest = max(len(n) for n in names)
    fig.legend(
        handles,
        names,
        loc="outside lower center",
        ncol=max(1, min(len(names), int(fig.get_figwidth() * 72 / (widest * 0.62 * pt + 40)))),
        fontsize=pt,
        frameon=False,
        handlelength=2.2,
        columnspacing=1.2,
    )
    ax.set_xlabel(xn if f.dim == 2 else "x")
    ax.set_ylabel(yn if f.dim == 2 else "f(x)")

    allv = np.concatenate([s for s in series if len(s)]) if series else np.zeros(0)
    log = bool(allv.size) and bool(np.all(allv > 0))
    if log:
        axv.set_yscale("log")
        axv.set_ylim(float(allv.min()) / 2, float(allv.max()) * 2)
    elif allv.size:
        pad = 0.05 * max(float(allv.max() - allv.min()), 1e-9)
        axv.set_ylim(float(allv.min()) - pad, float(allv.max()) + pad)
    axv.set_xlim(0, max(T, 1))
    axv.set_xlabel("step t")
    axv.set_ylabel("f(x_t)")
    axv.grid(alpha=0.3, which="both")
    axv.set_title("f(x_t) against t", fontsize=10)
    clock = ax.text(
        0.02,
        0.97,
        "",
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=points_for_pixels(fig, LEGEND_PIXELS + 2),
        bbox={"boxstyle": "round,pad=0.25", "fc": "white", "alpha": 0.85},
        zorder=10,
    )
    ax.set_title(title or f"{f.name}: {len(runs)} optimizers racing", fontsize=11)

    def update(k: int) -> list[Any]:
        s = int(steps[k])
        for vis, left, trail, head, curve, v, (_, res) in zip(
            visible, exits, trails, heads, curves, series, runs
        ):
            m = min(s, len(vis) - 1)
            if m >= 0:
                trail.set_data(vis[: m + 1, 0], vis[: m + 1, 1])
                head.set_data(vis[m : m + 1, 0], vis[m : m + 1, 1])
                head.set_marker("X" if left is not None and s >= left else "o")
            n = min(s + 1, len(v))
            curve.set_data(np.arange(n), v[:n])
        clock.set_text(f"step {s}")
        return [*trails, *heads, *curves, clock]

    anim = RaceAnimation(fig, update, steps, fps, [*trails, *heads, *curves, clock])
    anim.statuses = {label: short_status(res, left) for (label, res), left in zip(runs, exits)}
    if path is not None:
        anim.save(path)
    return anim


class RaceAnimation:
    """Frames of a race: a Figure plus an ``update(k)`` that moves it to frame k.

    ``save(out)`` writes a GIF (Pillow) or an MP4 (ffmpeg); ``frames()`` yields the frames
    as Pillow images; in a notebook the object shows itself as an animated GIF. Frames
    are blitted: the contours and axes are drawn once, then only the moving lines.
    """

    def __init__(
        self, figure: Any, update: Any, frame_steps: np.ndarray, fps: float, artists: list[Any]
    ) -> None:
        self.figure = figure
        self.update = update
        self.frame_steps = np.asarray(frame_steps)
        self.fps = float(fps)
        self.artists = artists
        self.statuses: dict[str, str] = {}
        self.colors = 128  # GIF palette size: fewer colours, smaller files
        self.results: Any = None
        self._background: Any = None

    def __len__(self) -> int:
        return len(self.frame_steps)

    @property
    def n_frames(self) -> int:
        return len(self.frame_steps)

    def _prepare(self) -> None:
        fig = self.figure
        self.update(len(self.frame_steps) - 1)  # lay out with every artist at its largest
        fig.canvas.draw()
        fig.set_layout_engine("none")  # freeze the layout: frames only redraw
        for a in self.artists:
            a.set_animated(True)
        fig.canvas.draw()
        self._background = fig.canvas.copy_from_bbox(fig.bbox)

    def frame(self, k: int) -> Any:
        """Frame k as an RGB Pillow image."""
        from PIL import Image

        if self._background is None:
            self._prepare()
        canvas = self.figure.canvas
        self.update(k)
        canvas.restore_region(self._background)
        for a in sorted(self.artists, key=lambda a: a.get_zorder()):  # blitting ignores zorder
            a.axes.draw_artist(a)
        return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())

    def frames(self) -> Any:
        """Every frame in order, as RGB Pillow images."""
        for k in range(len(self.frame_steps)):
            yield self.frame(k)

    def save(self, out: str | os.PathLike[str]) -> Any:
        """Write the frames to ``out`` (``.gif`` or ``.mp4``); returns the path."""
        path = _check_animation_out(out)
        if path is None:
            raise ValueError("save needs a file name ending in .gif or .mp4")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".mp4":
            self._save_mp4(path)
        else:
            self._save_gif(path)
        return path

    def _save_gif(self, path: Any) -> None:
        from PIL import Image

        frames = list(self.frames())
        # one palette for all frames, from the last one (it shows every path's colour)
        palette = frames[-1].quantize(colors=self.colors, method=Image.Quantize.FASTOCTREE)
        first, *rest = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in frames]
        durations = [round(1000.0 / self.fps)] * len(frames)
        durations[-1] = max(durations[-1], 1500)  # pause on the final state
        with atomic_write(path, "wb") as f:
            first.save(
                f,
                format="GIF",
                save_all=True,
                append_images=rest,
                duration=durations,
                loop=0,
                optimize=False,
                disposal=1,
            )

    def _save_mp4(self, path: Any) -> None:
        import subprocess

        w, h = self.figure.canvas.get_width_height()
        with atomic_path(path) as tmp:  # ffmpeg writes a temporary file beside path
            cmd = [
                ffmpeg_executable() or "ffmpeg",
                "-y",
                "-loglevel",
                "error",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-s",
                f"{w}x{h}",
                "-r",
                f"{self.fps:g}",
                "-i",
                "-",
                "-vf",
                "pad=ceil(iw/2)*2:ceil(ih/2)*2",
                "-pix_fmt",
                "yuv420p",
                "-vcodec",
                "libx264",
                "-f",
                "mp4",
                str(tmp),
            ]
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
            assert proc.stdin is not None
            try:
                for im in self.frames():
                    proc.stdin.write(im.tobytes())
                proc.stdin.close()
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if proc.wait() != 0:
                raise RuntimeError(f"ffmpeg failed to write {str(path)!r}: {err.strip()}")

    def _repr_html_(self) -> str:
        import base64
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "race.gif"
            self._save_gif(p)
            data = base64.b64encode(p.read_bytes()).decode("ascii")
        return f'<img src="data:image/gif;base64,{data}"/>'

    def __repr__(self) -> str:
        return f"RaceAnimation({self.n_frames} frames at {self.fps:g} fps)"


def classic_race(
    name: str = "beale",
    *,
    steps: int | None = None,
    frames: int | None = None,
    fps: int = 20,
    out: OutPath = None,
) -> Any:
    """The classic optimizer race on Beale's function or the saddle x^2 - y^2.

    Reproduces the well-known animations (A. Radford, 2014, reused by CS231n and
    S. Ruder): SGD, momentum, Nesterov, AdaGrad, Adadelta, RMSprop and Adam from one
    start, with the settings in :data:`CLASSIC_RACES` (``steps`` overrides the number of
    steps). On the saddle, SGD creeps towards the saddle point and stalls while the
    adaptive methods escape along -y. Returns the animation (see :func:`race_animation`);
    its ``results`` attribute holds the runs.
    """
    from descentlab.landscapes.classic import classic_race as run_classic

    key = str(name).lower().replace("-", "_")
    _check_animation_out(out)
    results = run_classic(key, steps)
    spec = CLASSIC_RACES[key]
    anim = race_animation(
        key,
        results,
        fps=fps,
        frames=frames,
        out=out,
        bounds=spec["bounds"],
        title=f"{key}: the classic race from ({', '.join(map(fmt, spec['x0']))})",
    )
    anim.results = results
    return anim

"""Keeping every mark of a picture readable: path styles that leave each path visible,
labels that do not overlap, round colour-bar ticks and font sizes in pixels.

Used by the contour figures (:mod:`.landscape`), the race animations (:mod:`.animate`)
and the learning-rate panels (:mod:`.curves`), so that each race figure benefits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Marker shapes along the paths, one per run (none of them is the start/end "o" at
#: full size, the minimum's star, the diverged "X" or the left-the-plot diamond).
PATH_MARKERS: tuple[str, ...] = ("o", "s", "^", "v", "P", "h", "<", ">", "p", "d")
#: Markers drawn along each path (spread evenly, each run offset from the others).
MARKS_PER_PATH = 9
#: The widest and the narrowest path line, in points.
WIDEST, NARROWEST = 3.4, 1.4


def path_styles(
    paths: Sequence[np.ndarray], lo: np.ndarray, hi: np.ndarray
) -> list[dict[str, Any]]:
    """Per path: ``zorder``, ``lw``, ``marker``, ``markevery`` so that every path stays
    visible where paths run on top of each other.

    The longest path (measured in the plot box, so that x and y count alike) is drawn
    first and widest; each shorter one goes above it and narrower, so a short path lying
    along a long one (SGD creeping along y = 0 under momentum on the saddle) is drawn on
    top and the wider one still shows at its sides. Each path gets its own marker shape,
    placed at steps offset from the other paths' marks.
    """
    n = len(paths)
    scale = np.where(np.asarray(hi - lo) > 0, np.asarray(hi - lo), 1.0)
    lengths = []
    for P in paths:
        Q = np.asarray(P, dtype=np.float64)[:, : len(scale)]
        with np.errstate(all="ignore"):
            Q = np.clip(Q, lo, hi) / scale
            d = np.sqrt((np.diff(Q, axis=0) ** 2).sum(axis=1)) if len(Q) > 1 else np.zeros(0)
        lengths.append(float(np.nansum(d)))
    order = sorted(range(n), key=lambda i: (-lengths[i], i))  # longest first
    styles: list[dict[str, Any]] = [{} for _ in range(n)]
    for rank, i in enumerate(order):
        lw = WIDEST - (WIDEST - NARROWEST) * (rank / (n - 1) if n > 1 else 1.0)
        every = max(1, (len(paths[i]) - 1) // MARKS_PER_PATH)
        styles[i] = {
            "zorder": 4.0 + rank / max(n, 1),  # between the contours (< 4) and the end marks
            "lw": round(lw, 2),
            "marker": PATH_MARKERS[i % len(PATH_MARKERS)],
            "markevery": (min(len(paths[i]) - 1, (i * every) // max(n, 1)), every)
            if len(paths[i]) > 1
            else None,
        }
    return styles


def nice_ticks(levels: np.ndarray, log: bool, most: int = 8) -> np.ndarray:
    """Round tick values inside ``[levels[0], levels[-1]]`` for a colour bar.

    Linear levels get matplotlib's MaxNLocator (1, 2, 2.5, 5 and 10 steps: -4, -2, 0, 2).
    Log-spaced levels (``zmin`` + a geometric series) get powers of ten above the lowest
    level, each rounded at its own decade (0.001, 0.01, ..., 1e+04), every second or
    third decade when there are many.
    """
    from matplotlib.ticker import MaxNLocator

    lv = np.asarray(levels, dtype=np.float64)
    a, b = float(lv[0]), float(lv[-1])
    if not (np.isfinite(a) and np.isfinite(b)) or b <= a:
        return lv[:1]
    if log:
        zmin = a  # the lowest level sits just below the grid's minimum
        bottom = max(float(lv[1]) - zmin if len(lv) > 1 else b - a, (b - a) * 1e-12)
        decades = list(range(math.ceil(math.log10(bottom)), math.floor(math.log10(b - a)) + 1))
        stride = max(1, math.ceil(len(decades) / most))
        ticks: list[float] = []
        for k in decades[::-1][::stride][::-1]:  # keep the top decade
            value = round(zmin + 10.0**k, -k)  # rounded at its own decade
            if a <= value <= b and (not ticks or value > ticks[-1]):
                ticks.append(value)
        if len(ticks) >= 2:
            return np.asarray(ticks)
    locator = MaxNLocator(nbins=min(most, 7), steps=[1, 2, 2.5, 5, 10])
    found = np.asarray(locator.tick_values(a, b), dtype=np.float64)
    found = found[(found >= a - 1e-12 * abs(b - a)) & (found <= b + 1e-12 * abs(b - a))]
    found[np.abs(found) < 1e-12 * (b - a)] = 0.0  # no "-1.1e-16" for 0
    return found


def points_for_pixels(fig: Any, pixels: float) -> float:
    """The font size in points that is ``pixels`` tall on ``fig``'s canvas (its dpi)."""
    return float(pixels) * 72.0 / float(fig.dpi)


#: The gid of the "step k" labels where a path leaves the plot (placed by tidy_labels).
STEP_LABEL = "descentlab-step-label"


def tidy_labels(fig: Any, freeze: bool = True) -> None:
    """Place every axes' "step k" labels (gid :data:`STEP_LABEL`) so that none overlaps
    another, its axes' title, the figure's title or a legend, and each stays in its axes.

    The figure is drawn once first so that the boxes are final; ``freeze`` then turns the
    layout engine off so that saving does not move the axes under the placed labels.
    """
    per_axes = [(ax, [t for t in ax.texts if t.get_gid() == STEP_LABEL]) for ax in fig.axes]
    if not any(labels for _, labels in per_axes):
        return
    fig.canvas.draw()
    if freeze:
        fig.set_layout_engine("none")
    renderer = fig.canvas.get_renderer()
    for ax, labels in per_axes:
        obstacles = [ax.title, ax._left_title, ax._right_title, ax.get_legend()]
        obstacles += [t for t in ax.texts if t.get_gid() != STEP_LABEL]
        if fig._suptitle is not None:
            obstacles.append(fig._suptitle)
        place_labels(ax, labels, obstacles, renderer=renderer)


def place_labels(
    ax: Any,
    labels: Sequence[Any],
    obstacles: Sequence[Any] = (),
    gap: float = 2.0,
    renderer: Any = None,
) -> None:
    """Move annotations (offset-points ``ax.annotate`` texts) so that no two boxes
    overlap, nor any box overlap an obstacle (a title, the legend) or leave the axes.

    Each label keeps its anchor point; it tries offsets further and further into the
    plot (down from the top edge, up from the bottom one, ...), then beside the anchor,
    and takes the first free place.
    """
    if not labels:
        return
    fig = ax.figure
    if renderer is None:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    taken = [
        label_box(o, renderer)
        for o in obstacles
        if o is not None and o.get_visible() and (not hasattr(o, "get_text") or o.get_text())
    ]
    px = fig.dpi / 72.0
    for label in sorted(labels, key=lambda t: tuple(ax.transData.transform(t.xy))):
        dx0, dy0 = label.xyann
        ax_x, ax_y = ax.transData.transform(label.xy)
        inward_y = -1.0 if ax_y > (frame.y0 + frame.y1) / 2 else 1.0
        inward_x = -1.0 if ax_x > (frame.x0 + frame.x1) / 2 else 1.0
        label.set_horizontalalignment("right" if inward_x < 0 else "left")
        label.set_verticalalignment("top" if inward_y < 0 else "bottom")
        box = label_box(label, renderer)
        h = box.height / px + gap
        w = box.width / px + gap
        candidates = [(inward_x * abs(dx0), inward_y * (abs(dy0) + j * h)) for j in range(16)]
        candidates += [
            (inward_x * (abs(dx0) + i * w), inward_y * (abs(dy0) + j * h))
            for i in range(1, 5)
            for j in range(12)
        ]
        for dx, dy in candidates:
            label.xyann = (dx, dy)
            box = label_box(label, renderer)
            inside = (
                box.x0 >= frame.x0
                and box.x1 <= frame.x1
                and box.y0 >= frame.y0
                and box.y1 <= frame.y1
            )
            if inside and not any(_overlap(box, t, gap * px) for t in taken):
                break
        taken.append(label_box(label, renderer))


def label_box(artist: Any, renderer: Any) -> Any:
    """The display box of a text with its background box (or of any artist)."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    # an Annotation's own extent includes its leader line: measure the text alone
    box = (
        Text.get_window_extent(artist, renderer)
        if isinstance(artist, Text)
        else artist.get_window_extent(renderer)
    )
    patch = artist.get_bbox_patch() if hasattr(artist, "get_bbox_patch") else None
    if patch is not None and artist.get_text():
        artist.update_bbox_position_size(renderer)
        box = Bbox.union([box, patch.get_window_extent(renderer)])
    return box


def _overlap(a: Any, b: Any, gap: float) -> bool:
    return not (
        a.x1 + gap <= b.x0 or b.x1 + gap <= a.x0 or a.y1 + gap <= b.y0 or b.y1 + gap <= a.y0
    )


def boxes_overlap(a: Any, b: Any) -> bool:
    """Whether two display-space boxes (matplotlib Bboxes) share any area."""
    return _overlap(a, b, 0.0)

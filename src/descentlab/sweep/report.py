"""The report of a sweep: one self-contained HTML page with tables and inline SVG charts.

:func:`write_report` turns a summary (the content of ``summary.json``) into a page that
opens from disk in any browser, with no server and no network: the protocol in one
paragraph, then per problem the ranked table with the search space beside each result
(Choi et al. 2019), the learning-rate sensitivity and the loss curves at the best
setting, then the performance profile across problems and the failed trials. The
charts are SVG written here (the sweep layer does not import matplotlib); each arm
keeps one colour in every chart. Every string from the summary is escaped, every
missing or non-finite number is shown as a dash.

The helpers :func:`arm_colors`, :func:`sensitivity_points`, :func:`curve_band` and
:func:`log_fits` are shared with the matplotlib figures of :mod:`descentlab.viz.sweep`.
"""

from __future__ import annotations

import bisect
import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from descentlab._atomic import atomic_write

__all__ = ["COLORS", "arm_colors", "curve_band", "log_fits", "sensitivity_points", "write_report"]

#: Tableau's category 10 (matplotlib's tab10), one colour per arm in the plan's order,
#: cycled past ten arms.
COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)

WIDTH = 480  # of every chart, in SVG units (the page scales it to the screen)
PLOT_HEIGHT = 240
FONT = 12
LEFT, RIGHT = 70, 14  # margins of the plot box
BAND_OPACITY = 0.16


# ---------------------------------------------------------------------------------------
# numbers and text
# ---------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    """A summary value as text: numbers through :func:`_short` (a dash for NaN or None)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return _short(value)
    return str(value)


def _esc(value: Any) -> str:
    return html.escape(_text(value), quote=True)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _seq(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _num(value: Any) -> float | None:
    """``value`` as a finite float, else None (None, NaN, infinities, text, bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
    value = float(value)
    return value if math.isfinite(value) else None


def _short(value: Any, digits: int = 4) -> str:
    """A number in at most ``digits`` significant digits, below 0.01 and from 1e5 on with an
    exponent: 0.2, 486, 3.162e-4, 1e27; a dash when it is missing or not finite."""
    v = _num(value)
    if v is None:
        return "—"
    if v == 0:
        return "0"
    text = f"{v:.{digits}g}"
    if 1e-2 <= abs(v) < 1e5 and "e" not in text:
        return text
    mantissa, exponent = f"{v:.{digits - 1}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _tick(value: float) -> str:
    """A tick label: 1e-3, 0.01, 0.2, 100, 1e5 (rounding away the float noise of i * step)."""
    return _short(float(f"{value:.12g}"), 3)


def _stats_text(stats: Any, digits: int = 4) -> str:
    if not isinstance(stats, Mapping) or _num(stats.get("mean")) is None:
        return "—"
    std = _num(stats.get("std"))
    text = _short(stats["mean"], digits)
    return text if std is None else f"{text} ± {_short(std, 2)}"


def _seconds(value: Any) -> str:
    s = _num(value)
    if s is None:
        return "—"
    if s < 1:
        return f"≈ {_short(s * 1000, 3)} ms"
    if s < 120:
        return f"≈ {_short(s, 3)} s"
    return f"≈ {_short(s / 60, 3)} min"


def _percent(value: Any) -> str:
    v = _num(value)
    return "—" if v is None else f"{100 * v:.0f}%"


def _setting(hps: Any) -> str:
    if not isinstance(hps, Mapping) or not hps:
        return "—"
    return ", ".join(f"{name} = {_text(v)}" for name, v in hps.items())


def _text_width(text: str, size: float = FONT) -> float:
    """A generous estimate of the width of ``text`` in a sans-serif font (no font metrics)."""
    em = sum(
        0.95 if c in "mwMW" else 0.34 if c in "iljtfr .,:;|!()'" else 0.72 if c.isupper() else 0.6
        for c in text
    )
    return em * size


def _clip(text: str, most: int = 36) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


# ---------------------------------------------------------------------------------------
# what the charts and the viz figures share
# ---------------------------------------------------------------------------------------
def arm_colors(summary: Mapping[str, Any]) -> dict[str, str]:
    """``{arm label: colour}``: the plan's arms in order, then any other arm of the problems."""
    labels: list[str] = []
    for arm in _seq(_map(summary.get("plan")).get("arms")):
        if isinstance(arm, Mapping) and arm.get("label") is not None:
            labels.append(_text(arm["label"]))
    for problem in _problems(summary):
        labels.extend(_text(a.get("arm")) for a in _arms(problem))
    order = list(dict.fromkeys(labels))
    return {label: COLORS[i % len(COLORS)] for i, label in enumerate(order)}


def sensitivity_points(arm: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The arm's sensitivity entries whose learning rate is a positive number, with every
    number finite or None: ``lr``, ``mean``, ``min``, ``max``, ``n``, ``diverged``, ``pruned``."""
    out = []
    for entry in _seq(arm.get("sensitivity")):
        if not isinstance(entry, Mapping):
            continue
        lr = _num(entry.get("lr"))
        if lr is None or lr <= 0:
            continue
        out.append(
            {
                "lr": lr,
                "mean": _num(entry.get("mean")),
                "min": _num(entry.get("min")),
                "max": _num(entry.get("max")),
                "n": int(_num(entry.get("n")) or 0),
                "diverged": int(_num(entry.get("diverged")) or 0),
                "pruned": int(_num(entry.get("pruned")) or 0),
            }
        )
    return sorted(out, key=lambda e: e["lr"])


def curve_band(
    curves: Iterable[Any],
) -> tuple[list[float], list[float | None], list[float | None], list[float | None]]:
    """The loss curves of the seeds as one line and a band: ``(steps, mean, low, high)``.

    Seeds may log different steps (a run that converged early stops sooner): each seed's
    value at a step is its last logged value at or before it, so a finished run keeps its
    final loss. A step where no seed has a finite value gives None.
    """
    series: list[tuple[list[float], list[float | None]]] = []
    for curve in curves:
        if not isinstance(curve, Mapping):
            continue
        pairs: list[tuple[float, float | None]] = []
        for step, value in zip(_seq(curve.get("step")), _seq(curve.get("loss"))):
            at = _num(step)
            if at is not None:
                pairs.append((at, _num(value)))
        pairs.sort(key=lambda pair: pair[0])
        if pairs:
            series.append(([s for s, _ in pairs], [v for _, v in pairs]))
    steps = sorted({s for xs, _ in series for s in xs})
    mean: list[float | None] = []
    low: list[float | None] = []
    high: list[float | None] = []
    for step in steps:
        here = []
        for xs, vs in series:
            i = bisect.bisect_right(xs, step) - 1
            value = vs[i] if i >= 0 else None
            if value is not None:
                here.append(value)
        mean.append(sum(here) / len(here) if here else None)
        low.append(min(here) if here else None)
        high.append(max(here) if here else None)
    return steps, mean, low, high


def log_fits(values: Iterable[Any], decades: float = 2.0) -> bool:
    """A log axis fits ``values``: all finite ones positive, spanning more than ``decades``."""
    finite = [v for v in (_num(x) for x in values) if v is not None]
    if not finite or min(finite) <= 0:
        return False
    return math.log10(max(finite) / min(finite)) > decades


def _problems(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [p for p in _seq(summary.get("problems")) if isinstance(p, Mapping)]


def _arms(problem: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [a for a in _seq(problem.get("optimizers")) if isinstance(a, Mapping)]


def _ranked(problem: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The problem's arms, best first; arms without a best setting last, in plan order."""
    order = {_text(name): i for i, name in enumerate(_seq(problem.get("ranking")))}
    arms = _arms(problem)
    return sorted(arms, key=lambda a: order.get(_text(a.get("arm")), len(order)))


# ---------------------------------------------------------------------------------------
# SVG charts
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Scale:
    """Data -> SVG coordinate on one axis: ``lo`` maps to pixel ``a``, ``hi`` to ``b``."""

    lo: float
    hi: float
    a: float
    b: float
    log: bool
    ticks: tuple[tuple[float, str], ...]

    def has(self, v: float | None) -> bool:
        return v is not None and math.isfinite(v) and (v > 0 or not self.log)

    def __call__(self, v: float) -> float:
        if self.log:
            t = math.log10(v / self.lo) / math.log10(self.hi / self.lo)
        else:
            t = (v - self.lo) / (self.hi - self.lo)
        return self.a + t * (self.b - self.a)


def _finite(values: Iterable[Any]) -> list[float]:
    return [v for v in (_num(x) for x in values) if v is not None]


def _log_scale(values: Iterable[Any], a: float, b: float, *, whole_decades: bool = True) -> _Scale:
    """A log axis over the positive ``values``: widened to whole decades with a tick at each
    (every 2nd, 3rd... past six), or exactly the values' range ticked at 1, 2, 5 x 10^k."""
    vs = [v for v in _finite(values) if v > 0] or [1.0]
    lo, hi = min(vs), max(vs)
    if whole_decades:
        k0 = max(math.floor(math.log10(lo) + 1e-9), -300)  # 10.0**k stays a finite float
        k1 = min(math.ceil(math.log10(hi) - 1e-9), 300)
        if k1 <= k0:
            k0, k1 = k0 - 1, k1 + 1
        every = max(1, math.ceil((k1 - k0) / 6))
        ticks = tuple((10.0**k, _tick(10.0**k)) for k in range(k0, k1 + 1, every))
        return _Scale(10.0**k0, 10.0**k1, a, b, True, ticks)
    lo, hi = max(lo, 1e-300), min(hi, 1e300)
    if hi <= lo * 1.0001:
        hi = lo * 10
    marks = [
        m * 10.0**k
        for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
        for m in (1, 2, 5)
    ]
    inside = [v for v in marks if lo * 0.9999 <= v <= hi * 1.0001]
    if len(inside) > 8:
        inside = [v for v in inside if math.isclose(10 ** round(math.log10(v)), v)]
    return _Scale(lo, hi, a, b, True, tuple((v, _tick(v)) for v in inside))


def _linear_scale(
    values: Iterable[Any], a: float, b: float, *, domain: tuple[float, float] | None = None
) -> _Scale:
    """A linear axis over ``values`` (or ``domain``) widened to round ticks (1, 2, 5 x 10^k)."""
    vs = [min(max(v, -1e300), 1e300) for v in _finite(values)]  # room to pad and divide
    lo, hi = domain if domain is not None else ((min(vs), max(vs)) if vs else (0.0, 1.0))
    if hi / 2 - lo / 2 <= 1e-12 * max(1.0, abs(hi)):
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = hi / 5 - lo / 5  # no overflow for losses near the largest float
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * 0.999)
    i0, i1 = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    ticks = tuple((i * step, _tick(i * step)) for i in range(i0, i1 + 1))
    return _Scale(i0 * step, i1 * step, a, b, False, ticks)


def _c(v: float) -> str:
    """An SVG coordinate (kept finite and within reach even for a wild value)."""
    return f"{min(max(v, -1e5), 1e5):.1f}"


@dataclass
class _Chart:
    """An SVG chart under construction: a plot box, its two scales, layers, a legend."""

    x: _Scale
    y: _Scale
    top: float
    xlabel: str
    ylabel: str
    label: str
    layers: list[str]
    legend: list[tuple[str, str, str]]  # (kind, colour, text)

    @property
    def bottom(self) -> float:
        return self.top + PLOT_HEIGHT

    def svg(self) -> str:
        left, right, top, bottom = LEFT, WIDTH - RIGHT, self.top, self.bottom
        legend, used = _legend(self.legend, left, bottom + 50, right - left)
        height = math.ceil(bottom + 50 + used + 4)
        parts = [f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#fff"/>']
        for v, text in self.x.ticks:
            px = _c(self.x(v))
            parts.append(
                f'<line x1="{px}" y1="{top}" x2="{px}" y2="{bottom}" class="grid"/>'
                f'<text x="{px}" y="{bottom + 17}" text-anchor="middle" class="tick">'
                f"{_esc(text)}</text>"
            )
        for v, text in self.y.ticks:
            py = _c(self.y(v))
            parts.append(
                f'<line x1="{left}" y1="{py}" x2="{right}" y2="{py}" class="grid"/>'
                f'<text x="{left - 6}" y="{_c(self.y(v) + 4)}" text-anchor="end" class="tick">'
                f"{_esc(text)}</text>"
            )
        parts.append(
            f'<rect x="{left}" y="{top}" width="{right - left}" height="{PLOT_HEIGHT}" '
            'fill="none" stroke="#888"/>'
        )
        parts.extend(self.layers)
        mid_y = (top + bottom) / 2
        parts.append(
            f'<text x="{(left + right) / 2:.1f}" y="{bottom + 34}" text-anchor="middle" '
            f'class="label">{_esc(self.xlabel)}</text>'
            f'<text x="13" y="{mid_y:.1f}" text-anchor="middle" class="label" '
            f'transform="rotate(-90 13 {mid_y:.1f})">{_esc(self.ylabel)}</text>'
        )
        parts.extend(legend)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
            f'width="{WIDTH}" height="{height}" role="img" aria-label="{_esc(self.label)}" '
            f'class="chart" font-size="{FONT}"><title>{_esc(self.label)}</title>'
            + "".join(parts)
            + "</svg>"
        )


def _legend(
    items: Sequence[tuple[str, str, str]], x0: float, y0: float, width: float
) -> tuple[list[str], float]:
    """Legend entries flowed into rows below the plot; returns the SVG and its height."""
    parts, x, y, row = [], x0, y0, 18.0
    for kind, color, text in items:
        shown = _clip(text)
        w = 30 + _text_width(shown, 14) + 12  # room for the larger text on a phone
        if x > x0 and x + w > x0 + width:
            x, y = x0, y + row
        parts.append(
            _swatch(kind, color, x, y) + f'<text x="{x + 30:.1f}" y="{y + 4:.1f}" class="key">'
        )
        parts.append(f"{_esc(shown)}<title>{_esc(text)}</title></text>")
        x += w
    return parts, (y - y0 + row) if items else 0.0


def _swatch(kind: str, color: str, x: float, y: float) -> str:
    cx = x + 12
    if kind == "band":
        return (
            f'<rect x="{x:.1f}" y="{y - 6:.1f}" width="24" height="12" fill="{color}" '
            f'fill-opacity="{BAND_OPACITY * 2}"/>'
        )
    if kind == "cross":
        return _cross(cx, y, color)
    if kind in ("ring", "hollow"):
        r, fill, width = (7, "none", 2) if kind == "ring" else (3.5, "#fff", 1.5)
        return (
            f'<circle cx="{cx:.1f}" cy="{y:.1f}" r="{r}" fill="{fill}" stroke="{color}" '
            f'stroke-width="{width}"/>'
        )
    if kind == "dash":
        return (
            f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + 24:.1f}" y2="{y:.1f}" stroke="{color}" '
            'stroke-width="1.5" stroke-dasharray="5 3"/>'
        )
    return (
        f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + 24:.1f}" y2="{y:.1f}" stroke="{color}" '
        f'stroke-width="2.2"/><circle cx="{cx:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>'
    )


def _cross(x: float, y: float, color: str, r: float = 4.5) -> str:
    return (
        f'<path d="M{_c(x - r)} {_c(y - r)}L{_c(x + r)} {_c(y + r)}M{_c(x - r)} {_c(y + r)}'
        f'L{_c(x + r)} {_c(y - r)}" stroke="{color}" stroke-width="2"/>'
    )


def _runs(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Split (x, y) points into runs of consecutive finite y (a gap breaks the line)."""
    out: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None:
            if out[-1]:
                out.append([])
        else:
            out[-1].append((x, y))
    return [r for r in out if r]


def _band(
    xs: Sequence[float],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    x: _Scale,
    y: _Scale,
    color: str,
) -> list[str]:
    """The translucent min..max band of a line (a short bar where it is one point wide)."""
    runs: list[list[tuple[float, float, float]]] = [[]]
    for a, lo, hi in zip(xs, lows, highs):
        if lo is not None and hi is not None and y.has(lo) and y.has(hi):
            runs[-1].append((a, lo, hi))
        elif runs[-1]:
            runs.append([])
    parts = []
    for run in (r for r in runs if r):
        if len(run) == 1:
            a, lo, hi = run[0]
            parts.append(
                f'<rect x="{_c(x(a) - 4)}" y="{_c(y(hi))}" width="8" '
                f'height="{_c(max(y(lo) - y(hi), 1.0))}" fill="{color}" '
                f'fill-opacity="{BAND_OPACITY}"/>'
            )
            continue
        upper = " ".join(f"{_c(x(a))},{_c(y(hi))}" for a, _, hi in run)
        lower = " ".join(f"{_c(x(a))},{_c(y(lo))}" for a, lo, _ in reversed(run))
        parts.append(
            f'<polygon points="{upper} {lower}" fill="{color}" fill-opacity="{BAND_OPACITY}"/>'
        )
    return parts


def _polyline(points: Sequence[tuple[float, float]], x: _Scale, y: _Scale, color: str) -> str:
    coords = " ".join(f"{_c(x(a))},{_c(y(b))}" for a, b in points)
    return (
        f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2.2" '
        'stroke-linejoin="round"/>'
    )


def _arm_marks(
    arm: Mapping[str, Any], pts: Sequence[Mapping[str, Any]], x: _Scale, y: _Scale, color: str
) -> tuple[list[str], list[str], bool, bool]:
    """One arm's band, line, points (hollow where seeds diverged or were pruned) and the ring
    of its chosen setting; also whether any point is hollow and whether the ring is drawn."""
    label = _text(arm.get("arm"))
    band = _band(
        [p["lr"] for p in pts], [p["min"] for p in pts], [p["max"] for p in pts], x, y, color
    )
    marks = [
        _polyline(run, x, y, color)
        for run in _runs([(p["lr"], p["mean"] if y.has(p["mean"]) else None) for p in pts])
    ]
    hollow = False
    for p in (p for p in pts if y.has(p["mean"])):
        odd = bool(p["diverged"] or p["pruned"])
        hollow = hollow or odd
        note = f"{label}: lr {_short(p['lr'])}, loss {_short(p['mean'])}"
        if odd:
            note += f" over the {p['n'] - p['diverged'] - p['pruned']} of {p['n']} seeds left"
        marks.append(
            f'<circle cx="{_c(x(p["lr"]))}" cy="{_c(y(p["mean"]))}" r="3.2" '
            f'fill="{"#fff" if odd else color}" stroke="{color}" stroke-width="1.5">'
            f"<title>{_esc(note)}</title></circle>"
        )
    best = _map(arm.get("best"))
    lr, loss = _num(best.get("lr")), _num(_map(best.get("final_loss")).get("mean"))
    ring = False
    if lr is not None and lr > 0 and loss is not None and y.has(loss):
        ring = True
        marks.append(
            f'<circle cx="{_c(x(lr))}" cy="{_c(y(loss))}" r="8" fill="none" '
            f'stroke="{color}" stroke-width="2"><title>{_esc(label)}: chosen setting</title>'
            "</circle>"
        )
    return band, marks, hollow, ring


def _sensitivity_chart(
    problem: Mapping[str, Any], colors: Mapping[str, str], arms: Sequence[Mapping[str, Any]]
) -> str | None:
    """Final loss against the learning rate, one line per arm; None when no lr was swept.

    Diverged settings are crosses in a row per arm above the plot."""
    series = [(a, pts) for a in arms if (pts := sensitivity_points(a))]
    if not series:
        return None
    ys = [p[k] for _, pts in series for p in pts for k in ("mean", "min", "max")]
    broken = [(a, pts) for a, pts in series if any(p["diverged"] for p in pts)]
    top = 10 + (14 * len(broken) + 8 if broken else 0)
    x = _log_scale([p["lr"] for _, pts in series for p in pts], LEFT, WIDTH - RIGHT)
    log = log_fits(ys)
    y = (_log_scale if log else _linear_scale)(ys, top + PLOT_HEIGHT, top)
    bands: list[str] = []
    marks: list[str] = []
    legend: list[tuple[str, str, str]] = []
    hollow = ringed = False
    for i, (arm, pts) in enumerate(series):
        label = _text(arm.get("arm"))
        color = colors.get(label, COLORS[i % len(COLORS)])
        legend.append(("line", color, label))
        band, mine, odd, ring = _arm_marks(arm, pts, x, y, color)
        bands += band
        marks += mine
        hollow, ringed = hollow or odd, ringed or ring
    for row, (arm, pts) in enumerate(broken):
        label = _text(arm.get("arm"))
        color = colors.get(label, "#444")
        for p in (p for p in pts if p["diverged"]):
            marks.append(
                f"<g><title>{_esc(label)}: lr {_esc(p['lr'])}, {p['diverged']} of {p['n']} "
                f"seeds diverged</title>{_cross(x(p['lr']), 17 + 14 * row, color)}</g>"
            )
    if broken:
        marks.append(
            f'<text x="{LEFT - 10}" y="{14 + 7 * len(broken):.1f}" text-anchor="end" '
            'class="small">diverged</text>'
        )
    if not _finite(ys):
        marks.append(
            f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.1f}" y="{top + PLOT_HEIGHT / 2:.1f}" '
            'text-anchor="middle" class="small">no setting kept a finite loss</text>'
        )
    if bands:
        legend.append(("band", "#777", "min–max over seeds"))
    if ringed:
        legend.append(("ring", "#444", "chosen setting"))
    if broken:
        legend.append(("cross", "#444", "diverged (row above the plot)"))
    if hollow:
        legend.append(("hollow", "#444", "some seeds diverged or were pruned"))
    return _Chart(
        x,
        y,
        top,
        "learning rate (log scale)",
        f"final {_loss_name(problem)}" + (" (log scale)" if log else ""),
        f"Learning-rate sensitivity on {_text(problem.get('name'))}",
        bands + marks,
        legend,
    ).svg()


def _loss_name(problem: Mapping[str, Any]) -> str:
    return "validation loss" if problem.get("kind") == "data" else "loss"


def _curves_chart(
    problem: Mapping[str, Any], colors: Mapping[str, str], arms: Sequence[Mapping[str, Any]]
) -> str | None:
    """The loss against steps at each arm's best setting: mean over seeds and min..max."""
    bands = []
    for arm in arms:
        best = arm.get("best")
        if isinstance(best, Mapping):
            steps, mean, low, high = curve_band(_seq(best.get("curves")))
            if any(v is not None for v in mean):
                bands.append((arm, best, steps, mean, low, high))
    if not bands:
        return None
    target = _num(problem.get("target")) if problem.get("kind") == "landscape" else None
    ys = [v for *_, m, lo, hi in bands for v in (*m, *lo, *hi)]
    steps_all = [s for _, _, steps, *_ in bands for s in steps]
    log = log_fits(ys + ([target] if target is not None else []), decades=1.0)
    if log and target is not None and target <= 0:
        target = None
    x = _linear_scale(steps_all, LEFT, WIDTH - RIGHT)
    y = (_log_scale if log else _linear_scale)(
        ys + ([target] if target is not None else []), 10 + PLOT_HEIGHT, 10
    )
    layers: list[str] = []
    lines: list[str] = []
    legend: list[tuple[str, str, str]] = []
    for i, (arm, best, steps, mean, low, high) in enumerate(bands):
        label = _text(arm.get("arm"))
        color = colors.get(label, COLORS[i % len(COLORS)])
        legend.append(("line", color, f"{label} ({_setting(best.get('hyperparameters'))})"))
        layers += _band(steps, low, high, x, y, color)
        shown = [(s, v if y.has(v) else None) for s, v in zip(steps, mean)]
        lines += [_polyline(run, x, y, color) for run in _runs(shown)]
    if target is not None:
        ty = _c(y(target))
        lines.append(
            f'<line x1="{LEFT}" y1="{ty}" x2="{WIDTH - RIGHT}" y2="{ty}" stroke="#555" '
            'stroke-width="1.2" stroke-dasharray="5 3"/>'
        )
        legend.append(("dash", "#555", f"target {_short(target)}"))
    legend.append(("band", "#777", "min–max over seeds"))
    return _Chart(
        x,
        y,
        10,
        "optimizer steps",
        _loss_name(problem) + (" (log scale)" if log else ""),
        f"Loss curves at the best settings on {_text(problem.get('name'))}",
        layers + lines,
        legend,
    ).svg()


def _profile_chart(profile: Mapping[str, Any], colors: Mapping[str, str]) -> str | None:
    """Dolan-More profiles: rho(tau) as step lines, tau on a log axis from 1."""
    taus = _finite(_seq(profile.get("tau")))
    rho = _map(profile.get("rho"))
    if not taus or not rho:
        return None
    x = _log_scale([1.0, *taus], LEFT, WIDTH - RIGHT, whole_decades=False)
    y = _linear_scale([], 10 + PLOT_HEIGHT, 10, domain=(0.0, 1.0))
    lines, legend = [], []
    order = list(colors)
    names = sorted(rho, key=lambda n: order.index(n) if n in order else len(order))
    for i, name in enumerate(names):
        pts: list[tuple[float, float]] = []
        for t, v in zip(_seq(profile.get("tau")), _seq(rho[name])):
            tau, value = _num(t), _num(v)
            if tau is not None and tau >= 1 and value is not None:
                pts.append((tau, value))
        if not pts:
            continue
        color = colors.get(_text(name), COLORS[i % len(COLORS)])
        legend.append(("line", color, _text(name)))
        # equal profiles stay visible side by side: offsets of at most 3 px either way
        shift = (i - (len(names) - 1) / 2) * min(1.5, 6 / len(names))
        d = f"M{_c(x(pts[0][0]))} {_c(y(pts[0][1]) + shift)}"
        for t, v in pts[1:]:
            d += f"H{_c(x(t))}V{_c(y(v) + shift)}"
        d += f"H{_c(x.b)}"
        lines.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="2.2"/>')
    if not legend:
        return None
    return _Chart(
        x,
        y,
        10,
        "τ: within this factor of the fewest steps (log scale)",
        "ρ(τ): fraction of problems",
        "Performance profile across problems",
        lines,
        legend,
    ).svg()


# ---------------------------------------------------------------------------------------
# the page
# ---------------------------------------------------------------------------------------
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       line-height: 1.45; margin: 0 auto; max-width: 1180px; padding: 1rem; }
h1 { font-size: 1.55rem; margin: .4rem 0; } h2 { font-size: 1.2rem; margin-top: 2.2rem;
       border-bottom: 1px solid #ddd; overflow-wrap: anywhere; }
h3 { font-size: 1rem; margin: .6rem 0 .2rem; }
p, li { max-width: 78ch; } .meta { color: #555; font-size: .92rem; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: .88rem; margin: .6rem 0; }
th, td { border: 1px solid #ddd; padding: .3rem .55rem; text-align: right; vertical-align: top; }
th { background: #f4f6f8; font-weight: 600; }
td.name, th.name, td.text, th.text { text-align: left; } td { white-space: nowrap; }
td.text { white-space: normal; }
td.text { min-width: 12rem; max-width: 22rem; overflow-wrap: anywhere; }
td.search { min-width: 16rem; }
.swatch { display: inline-block; width: .8em; height: .8em; border-radius: 2px;
          margin-right: .35em; vertical-align: -.05em; }
.sub { color: #666; font-size: .8rem; } .warn { color: #a04000; }
.charts { display: grid; gap: 1rem;
          grid-template-columns: repeat(auto-fit, minmax(min(100%, 440px), 1fr)); }
figure { margin: 0; min-width: 0; } figcaption { color: #555; font-size: .85rem; }
svg.chart { width: 100%; height: auto; display: block; max-width: 620px; }
svg.chart text { fill: #333; font-family: inherit; } svg.chart .label { font-size: 13px; }
@media (max-width: 560px) {
  body { padding: .6rem; } svg.chart .tick, svg.chart .label { font-size: 14px; }
  svg.chart .key { font-size: 14px; } svg.chart .small { font-size: 13px; }
}
svg.chart .small { font-size: 11px; fill: #666; } svg.chart .grid { stroke: #ececec; }
code { font-size: .85rem; overflow-wrap: anywhere; }
"""


def _axis_text(axis: Any) -> str:
    if isinstance(axis, Mapping) and "log" in axis:
        low, high, n = (_seq(axis["log"]) + [None, None, None])[:3]
        count = int(_num(n) or 0)
        if count == 1:
            return _short(low)
        return f"[{_short(low)}, {_short(high)}], {count}\u00a0log-spaced"
    if isinstance(axis, (list, tuple)):
        return "{" + ", ".join(_text(v) for v in axis) + "}"
    return _text(axis)


def _search_text(
    plan: Mapping[str, Any], problem: Mapping[str, Any], arm: Mapping[str, Any]
) -> str:
    """The arm's search space on this problem: swept axes, fixed values, problem options."""
    grid = _map(_map(plan.get("grids")).get(_text(problem.get("name")))) or _map(plan.get("grid"))
    spec = next(
        (
            a
            for a in _seq(plan.get("arms"))
            if isinstance(a, Mapping) and a.get("label") == arm.get("arm")
        ),
        {},
    )
    fixed = _map(spec.get("fixed"))
    swept: set[str] = set()
    for entry in _seq(arm.get("sensitivity")):
        swept |= set(_map(_map(entry).get("hyperparameters")))
    names = [n for n in grid if n not in fixed and (not swept or n in swept)]
    parts = [f"{n} ∈ {_axis_text(grid[n])}" for n in names]
    parts += [f"{n} = {_text(v)} (fixed)" for n, v in fixed.items()]
    parts += [f"{n} = {_text(v)} (problem)" for n, v in _map(spec.get("problem")).items()]
    search = _text(plan.get("search") or "grid")
    settings = _num(arm.get("settings"))
    how = ""
    if search.startswith("random:") and settings is not None:
        how = f"random search, {int(settings)} settings"
    return "; ".join(parts) + (f" ({how})" if how else "")


def _edge(arm: Mapping[str, Any]) -> bool:
    """The best learning rate is the smallest or largest of three or more tried."""
    lrs = [p["lr"] for p in sensitivity_points(arm)]
    lr = _num(_map(arm.get("best")).get("lr"))
    return (
        lr is not None and len(lrs) >= 3 and (math.isclose(lr, lrs[0]) or math.isclose(lr, lrs[-1]))
    )


def _table(
    problem: Mapping[str, Any],
    arms: Sequence[Mapping[str, Any]],
    plan: Mapping[str, Any],
    colors: Mapping[str, str],
) -> str:
    """The ranked table: one row per arm (``data-arm`` = its label), the search space last."""
    bests = [a.get("best") if isinstance(a.get("best"), Mapping) else None for a in arms]
    columns = [
        ("rank", "", "#"),
        ("arm", "name", "optimizer"),
        ("setting", "text", "best setting"),
        ("loss", "", f"final {_loss_name(problem)}"),
        ("accuracy", "", "test accuracy"),
        ("steps", "", "steps to target (reached)"),
        ("time", "", "time to target"),
        ("diverged", "", "grid diverged"),
        ("pruned", "", "grid pruned"),
        ("searched", "text search", "searched"),
    ]
    if not any(b and isinstance(b.get("test_accuracy"), Mapping) for b in bests):
        columns = [c for c in columns if c[0] != "accuracy"]
    if not any((_num(a.get("pruned_fraction")) or 0) > 0 for a in arms):
        columns = [c for c in columns if c[0] != "pruned"]
    target = _num(problem.get("target"))
    rows = ["<tr>" + "".join(f'<th class="{c}">{t}</th>' for _, c, t in columns) + "</tr>"]
    rank = 0
    for arm, best in zip(arms, bests):
        label = _text(arm.get("arm"))
        optimizer = _text(arm.get("optimizer") or "")
        name = (
            f'<span class="swatch" style="background:{colors.get(label, "#999")}"></span>'
            f"{_esc(label)}"
        )
        if optimizer and optimizer != label:
            name += f' <span class="sub">({_esc(optimizer)})</span>'
        cell = {
            "rank": "—",
            "arm": name,
            "setting": '<span class="warn">none: no setting finished every seed</span>',
            "diverged": _percent(arm.get("diverged_fraction")),
            "pruned": _percent(arm.get("pruned_fraction")),
            "searched": _esc(_search_text(plan, problem, arm)),
        }
        if best is not None:
            rank += 1
            cell["rank"] = str(rank)
            cell["setting"] = _esc(_setting(best.get("hyperparameters")))
            if _edge(arm):
                cell["setting"] += (
                    ' <span class="warn" title="the best learning rate is at the end of the '
                    'range searched; a wider range may do better">(edge of range)</span>'
                )
            cell["loss"] = _esc(_stats_text(best.get("final_loss")))
            cell["accuracy"] = _esc(_stats_text(best.get("test_accuracy")))
            steps = best.get("steps_to_target")
            mean = _num(_map(steps).get("mean"))
            reached = f"({_esc(best.get('reached_target', 0))}/{_esc(best.get('of', 0))})"
            cell["steps"] = (
                "no target"
                if target is None
                else ("—" if mean is None else f"{mean:.0f}") + f" {reached}"
            )
            time = best.get("time_to_target_s")
            cell["time"] = _seconds(_map(time).get("mean"))
        rows.append(
            f'<tr data-arm="{_esc(label)}">'
            + "".join(f'<td class="{c}">{cell.get(key, "—")}</td>' for key, c, _ in columns)
            + "</tr>"
        )
    return '<div class="scroll"><table class="results">' + "".join(rows) + "</table></div>"


def _problem_section(
    problem: Mapping[str, Any], plan: Mapping[str, Any], colors: Mapping[str, str]
) -> str:
    name = _text(problem.get("name"))
    spec = _map(problem.get("problem"))
    kind = _text(problem.get("kind") or "")
    facts = [kind] if kind else []
    unit = _text(problem.get("unit") or "")
    budget = spec.get(unit) if unit else None
    if _num(budget) is not None:
        facts.append(f"{_short(budget)} {unit} per trial")
    target = _num(problem.get("target"))
    if target is not None:
        what = "validation accuracy ≥" if kind == "data" else "loss ≤"
        facts.append(f"target: {what} {_short(target)}")
    if problem.get("selection"):
        facts.append(f"best setting chosen on the {_text(problem['selection'])}")
    arms = _ranked(problem)
    out = [
        f'<section class="problem"><h2>{_esc(name)}</h2>',
        f'<p class="meta">{_esc(" · ".join(facts))}</p>',
    ]
    if not arms:
        out.append("<p>No trial of this problem finished.</p></section>")
        return "".join(out)
    out.append(_table(problem, arms, plan, colors))
    figures = []
    sens = _sensitivity_chart(problem, colors, arms)
    if sens is None:
        figures.append("<p>The learning rate was not swept on this problem.</p>")
    else:
        figures.append(
            f"<figure><h3>Learning-rate sensitivity</h3>{sens}<figcaption>Final "
            f"{_loss_name(problem)} against the learning rate: mean over seeds (line), "
            "min–max over seeds (band); at each learning rate the best of the other swept "
            "values.</figcaption></figure>"
        )
    curves = _curves_chart(problem, colors, arms)
    if curves is not None:
        figures.append(
            f"<figure><h3>Loss curves at the best setting</h3>{curves}<figcaption>Mean over "
            "seeds (line) and min–max over seeds (band).</figcaption></figure>"
        )
    out.append('<div class="charts">' + "".join(figures) + "</div></section>")
    return "".join(out)


def _profile_section(summary: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    """One profile per set of optimizers that ran on the same problems."""
    profiles = [p for p in _seq(summary.get("profiles")) if isinstance(p, Mapping)]
    if not profiles:
        profiles = [summary.get("profile")]  # type: ignore[list-item]
    return "".join(_one_profile(p, colors) for p in profiles)


def _one_profile(profile: Mapping[str, Any] | None, colors: Mapping[str, str]) -> str:
    if not isinstance(profile, Mapping) or not profile.get("problems"):
        return ""
    names = [_text(p) for p in _seq(profile.get("problems"))]
    heading = f"<h2>Performance profile: {_esc(', '.join(names))}</h2>"
    rho = _map(profile.get("rho"))
    if not any((_num(v) or 0) > 0 for values in rho.values() for v in _seq(values)):
        return (
            f'<section class="profile">{heading}<p>No optimizer reached the target on every '
            "seed of these problems, so there is no profile to draw.</p></section>"
        )
    chart = _profile_chart(profile, colors)
    if chart is None:
        return ""
    return (
        f'<section class="profile">{heading}<div class="charts"><figure>'
        f"{chart}<figcaption>ρ(τ) of an optimizer is the fraction of these {len(names)} "
        "problems on which it reached the target on every seed within τ times the fewest "
        "steps of any optimizer (Dolan and Moré 2002); ρ(1) is how often it was the fastest. "
        "Lines are offset by a pixel or two so that equal ones stay visible."
        "</figcaption></figure></div></section>"
    )


def _failures_section(summary: Mapping[str, Any]) -> str:
    failures = [f for f in _seq(summary.get("failures")) if isinstance(f, Mapping)]
    if not failures:
        return ""
    items = "".join(
        f"<li><code>{_esc(f.get('key'))}</code>: {_esc(_clip(str(f.get('error')), 600))}</li>"
        for f in failures
    )
    return (
        f'<section class="failures"><h2>Failed trials ({len(failures)})</h2>'
        f"<p>These trials raised an error and are left out of every number above; "
        f"<code>--resume</code> retries them.</p><ul>{items}</ul></section>"
    )


def _intro(summary: Mapping[str, Any]) -> str:
    plan = _map(summary.get("plan"))
    seeds = _num(plan.get("seeds"))
    search = _text(plan.get("search") or "grid")
    trials = _map(summary.get("trials"))
    counts = [
        f"{_short(v)} {k}"
        for k in ("done", "total", "diverged", "pruned")
        if (v := _num(trials.get(k))) is not None
    ]
    seed_text = f"{int(seeds)} seeds" if seeds is not None else "several seeds"
    how = "a random search" if search.startswith("random:") else "a grid search"
    return (
        '<p class="how"><strong>How to read this.</strong> Each optimizer was tuned on its own '
        f"set of settings ({how}; the column “searched” gives each optimizer's range), and "
        f"every setting was run with {seed_text}, the same seeds for every optimizer. "
        "An optimizer's best setting is the one with the lowest final loss (the final "
        "validation loss on a data set) averaged over the seeds, among the settings where "
        "no seed diverged, failed or was pruned. The tables rank the optimizers by that "
        "average and give the mean ± standard deviation over seeds at the best setting; "
        "steps to target average the seeds that reached it. The sensitivity charts show "
        "how much the result depends on the learning rate; a best value at the end of "
        "the range searched is flagged, since a wider range might do better.</p>"
        f'<p class="meta">Trials: {_esc(", ".join(counts) or "—")} · seed '
        f"{_esc(plan.get('seed'))} · search {_esc(search)}</p>"
    )


def write_report(summary: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the sweep's report, one self-contained HTML file, to ``path``; return the path.

    ``summary`` is the dict of :func:`~descentlab.sweep.summarize` (``summary.json``).
    The file is written atomically; it needs no server, script or network to display.
    """
    if not isinstance(summary, Mapping):
        raise TypeError(f"summary must be the dict of summarize(), got {type(summary).__name__}")
    problems = _problems(summary)
    colors = arm_colors(summary)
    plan = _map(summary.get("plan"))
    if len(problems) == 1:
        title = f"Optimizer comparison on {_text(problems[0].get('name'))}"
    else:
        title = f"Optimizer comparison on {len(problems)} problems"
    body = [f"<h1>{_esc(title)}</h1>", _intro(summary)]
    body += [_problem_section(p, plan, colors) for p in problems]
    body.append(_profile_section(summary, colors))
    body.append(_failures_section(summary))
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(part for part in body if part)
        + '\n<p class="meta">Written by descentlab.sweep.</p></body></html>\n'
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target, "w") as f:
        f.write(page)
    return target

"""The gallery (every figure of :mod:`descentlab.viz` from real runs) and the demo report.

``gallery(directory)`` writes the images plus ``gallery.md`` linking them with a
one-line caption each; ``quick=True`` uses tiny grids and few steps (a few seconds, for
CI). ``demo_report(directory, figures, summary)`` writes an ``index.html`` showing
figures and a summary table (the CLI's ``demo`` command uses it).
"""

from __future__ import annotations

import html
import os
import re
import sys
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from descentlab._atomic import atomic_write, atomic_write_text
from descentlab.viz._common import fmt

__all__ = ["GALLERY_ITEMS", "demo_report", "gallery"]

PathLike = str | os.PathLike[str]


def _beale_runs(steps: int) -> Any:
    from descentlab.landscapes import race
    from descentlab.landscapes.classic import CLASSIC_RACES

    spec = CLASSIC_RACES["beale"]
    return race(
        "beale",
        spec["x0"],
        {k: dict(v) for k, v in spec["optimizers"].items()},
        steps=steps,
        tol=1e-8,
    )


def _saddle_runs(steps: int) -> Any:
    from descentlab.landscapes import race
    from descentlab.landscapes.classic import CLASSIC_RACES

    spec = CLASSIC_RACES["saddle"]
    return race(
        "saddle",
        spec["x0"],
        {k: dict(v) for k, v in spec["optimizers"].items()},
        steps=steps,
        tol=1e-8,
    )


def _rosenbrock_runs(steps: int) -> Any:
    from descentlab.landscapes import race

    return race(
        "rosenbrock",
        [-1.2, 1.0],
        {
            "sgd": {"lr": 1e-3},
            "momentum": {"lr": 1e-3},
            "nesterov": {"lr": 1e-3},
            "rmsprop": {"lr": 1e-2},
            "adam": {"lr": 0.05},
        },
        steps=steps,
        tol=1e-8,
    )


def _moons_histories(epochs: int) -> tuple[dict[str, Any], Any, Any]:
    from descentlab import data, nn
    from descentlab.train import fit

    bundle = data.load("moons", seed=0, n=400, noise=0.2)
    settings = {"sgd": {"lr": 0.1}, "momentum": {"lr": 0.05}, "adam": {"lr": 0.01}}
    histories, models = {}, {}
    for name, kw in settings.items():
        nn.manual_seed(0)
        model = nn.MLP([2, 32, 32, 2], activation="relu")
        histories[name] = fit(
            model,
            bundle.train,
            bundle.val,
            optimizer={"name": name, **kw},
            epochs=epochs,
            batch_size=32,
            seed=0,
            progress=False,
        )
        models[name] = model
    return histories, models["adam"], bundle


def _spirals_model(epochs: int) -> tuple[Any, Any]:
    from descentlab import data, nn
    from descentlab.train import fit

    bundle = data.load("spirals", seed=0, n=450, noise=0.05, classes=3)
    nn.manual_seed(0)
    model = nn.MLP([2, 64, 64, 3], activation="relu")
    fit(
        model,
        bundle.train,
        bundle.val,
        optimizer="adam",
        lr=0.01,
        epochs=epochs,
        batch_size=32,
        seed=0,
        progress=False,
    )
    return model, bundle


def _rosenbrock_sweep(steps: int, values: int) -> Any:
    from descentlab.sweep import sweep

    grid = {"lr": (1e-5, 1.0, values)}
    optimizers = ("sgd", "momentum", "adam")
    return sweep("rosenbrock", optimizers, grid, seeds=3, steps=steps, backend="serial").summary


def _items(quick: bool) -> list[tuple[str, str, str, Callable[[Path], Any]]]:
    """(file name, title, caption, writer(path)) for every gallery entry."""
    from descentlab import viz

    q = quick
    steps = 40 if q else 300
    res = 40 if q else 200
    cache: dict[str, Any] = {}

    def beale() -> Any:
        if "beale" not in cache:
            cache["beale"] = _beale_runs(steps)
        return cache["beale"]

    def moons() -> Any:
        if "moons" not in cache:
            cache["moons"] = _moons_histories(3 if q else 60)
        return cache["moons"]

    def spirals() -> Any:
        if "spirals" not in cache:
            cache["spirals"] = _spirals_model(3 if q else 150)
        return cache["spirals"]

    def digits_runs() -> Any:
        if "digits" not in cache:
            from descentlab.viz.network import digits_example

            cache["digits"] = digits_example(
                hidden=16 if q else 64, epochs=2 if q else 10, samples=200 if q else 1000
            )
        return cache["digits"]

    def edge_of_stability(path: Path) -> Any:
        from descentlab.viz.network import edge_of_stability_example, plot_sharpness

        tracker = edge_of_stability_example(epochs=40 if q else 300, every=10 if q else 5)
        title = "Full-batch GD: the sharpness meets 2/η"
        return plot_sharpness({"gd": tracker}, out=path, title=title)

    return [
        (
            "landscape_beale.png",
            "Seven optimizers on Beale's function",
            (
                "Paths of SGD, momentum, Nesterov, AdaGrad, Adadelta, RMSprop and Adam from "
                "(0.7, 1.4) on log-spaced contours; the star is the minimum at (3, 0.5)."
            ),
            lambda p: viz.plot_landscape(
                "beale", beale(), resolution=res, bounds=[[-1.0, 4.5], [-1.5, 2.5]], out=p
            ),
        ),
        (
            "race_beale.gif",
            "The classic race on Beale's function (animation)",
            "The same seven runs moving together, with f(x_t) against t beside them.",
            lambda p: viz.classic_race("beale", steps=steps, frames=8 if q else 60, out=p),
        ),
        (
            "race_saddle.gif",
            "The classic race on the saddle x² - y² (animation)",
            (
                "SGD creeps towards the saddle point and stalls; momentum overshoots; the "
                "adaptive methods escape along y at once."
            ),
            lambda p: viz.classic_race(
                "saddle", steps=30 if q else 120, frames=8 if q else 50, out=p
            ),
        ),
        (
            "values_beale.png",
            "Loss against steps on Beale's function",
            "f(x_t) - f* for the seven runs above, on a log scale.",
            lambda p: viz.plot_values(beale(), f="beale", out=p),
        ),
        (
            "sweep_rosenbrock.png",
            "A fair comparison on Rosenbrock: every optimizer on its own learning-rate grid",
            (
                "descentlab.sweep with 3 seeds per setting: final loss against η (band: the seeds' "
                "spread, circle: the chosen η, crosses: diverged) and the loss at each best η."
            ),
            lambda p: viz.plot_sweep(_rosenbrock_sweep(steps if q else 500, 6 if q else 11), out=p),
        ),
        (
            "landscape_rosenbrock.png",
            "Rosenbrock's banana valley",
            "Gradient descent crawls along the curved valley floor; momentum and Adam go faster.",
            lambda p: viz.plot_landscape(
                "rosenbrock", _rosenbrock_runs(steps * 5 if not q else steps), resolution=res, out=p
            ),
        ),
        (
            "surface_saddle.png",
            "The saddle as a surface",
            "x² - y² in 3-D with the race's paths: the saddle point is flat but not a minimum.",
            lambda p: viz.plot_surface(
                "saddle", _saddle_runs(30 if q else 60), resolution=20 if q else 60, out=p
            ),
        ),
        (
            "lr_sweep_parabola.png",
            "The learning-rate experiment on x²",
            (
                "Gradient descent from x0 = 1 with η = 0.01 (slow), 0.1 (converges), 1 (oscillates "
                "between ±1), 100 and 1000 (diverge at once)."
            ),
            lambda p: viz.plot_lr_sweep("parabola", out=p),
        ),
        (
            "lr_sweep_ravine.png",
            "Learning rates on an ill-conditioned ravine",
            (
                "0.1 x² + 2 y²: η = 0.5 makes the steep direction oscillate, η = 0.6 diverges, "
                "while the flat direction wants a larger step."
            ),
            lambda p: viz.plot_lr_sweep("ill_conditioned", (0.1, 0.4, 0.5, 0.6), steps=20, out=p),
        ),
        (
            "basins_himmelblau.png",
            "Basins of attraction on Himmelblau's function",
            "Each pixel is a start of gradient descent, coloured by the minimum it reaches.",
            lambda p: viz.plot_basins(
                "himmelblau", resolution=16 if q else 150, steps=60 if q else 500, out=p
            ),
        ),
        (
            "basins_six_hump_camel.png",
            "Basins of attraction on the six-hump camel",
            "Two global and four local minima share the plane.",
            lambda p: viz.plot_basins(
                "six_hump_camel", resolution=16 if q else 150, steps=60 if q else 500, out=p
            ),
        ),
        (
            "gd_vs_sgd.png",
            "GD vs SGD vs mini-batch",
            (
                "The eight-point line fit: full-batch steps, single-sample steps and batches of "
                "four, with the end of every epoch marked."
            ),
            lambda p: viz.plot_gd_vs_sgd(epochs=3 if q else 10, out=p),
        ),
        (
            "history_moons.png",
            "Training curves: three optimizers on the moons",
            (
                "An MLP 2-32-32-2 trained with SGD, momentum and Adam; train solid, validation "
                "dashed."
            ),
            lambda p: viz.plot_history(moons()[0], out=p),
        ),
        (
            "decision_boundary_moons.png",
            "Decision regions on the moons",
            "The Adam-trained network; colours mix the predicted class probabilities.",
            lambda p: viz.plot_decision_boundary(
                moons()[1],
                *moons()[2].train,
                X_test=moons()[2].test[0],
                y_test=moons()[2].test[1],
                resolution=40 if q else 200,
                out=p,
            ),
        ),
        (
            "decision_boundary_spirals.png",
            "Decision regions on three spirals",
            "A multiclass problem: an MLP 2-64-64-3 trained with Adam.",
            lambda p: viz.plot_decision_boundary(
                spirals()[0],
                *spirals()[1].train,
                X_test=spirals()[1].test[0],
                y_test=spirals()[1].test[1],
                resolution=40 if q else 200,
                out=p,
            ),
        ),
        (
            "overfitting.png",
            "Overfitting, L2 and dropout",
            (
                "A wide MLP passes through all eight noisy points; an L2 penalty and dropout give "
                "smoother fits with lower test error."
            ),
            lambda p: viz.plot_overfitting(epochs=100 if q else 1500, out=p),
        ),
        (
            "regularized_landscape.png",
            "What a penalty does to the landscape",
            (
                "The eight-point loss alone, plus λ‖θ‖₁ (the minimum moves onto the axis b = 0) "
                "and plus λ‖θ‖² (the minimum shrinks towards 0)."
            ),
            lambda p: viz.plot_regularized_landscape(resolution=60 if q else 200, out=p),
        ),
        (
            "network_landscape_digits.png",
            "A real network's loss around the solutions of SGD and Adam",
            (
                "An MLP 64-64-10 trained on the digits from one initialization; the plane of each "
                "training path's two principal directions (Li et al. 2018), with the share of the "
                "path's variance each explains, and the path itself (descentlab surface)."
            ),
            lambda p: _network_viz().plot_network_landscape(
                digits_runs()["landscapes"], resolution=9 if q else 41, out=p
            ),
        ),
        (
            "network_surface_digits.png",
            "The same loss as a surface",
            "SGD's plane of the figure above in 3-D: a landscape of a network is a landscape.",
            lambda p: viz.plot_surface(
                digits_runs()["landscapes"]["sgd"], resolution=10 if q else 40, out=p
            ),
        ),
        (
            "interpolation_digits.png",
            "Straight lines in weight space",
            (
                "Loss and accuracy on θ = (1 − α) θ_a + α θ_b (Goodfellow et al. 2015): from the "
                "common initialization to each solution, and from SGD's solution to Adam's."
            ),
            lambda p: _network_viz().plot_interpolation(
                digits_runs()["lines"], out=p, ends=("start", "end")
            ),
        ),
        (
            "sharpness_edge_of_stability.png",
            "The edge of stability",
            (
                "Full-batch gradient descent with η = 0.4 on a tanh MLP: the top Hessian "
                "eigenvalue rises to 2/η = 5 and hovers around it (Cohen et al. 2021)."
            ),
            edge_of_stability,
        ),
    ]


def _network_viz() -> Any:
    from descentlab.viz import network

    return network


#: File names written by :func:`gallery`, in order (plus ``gallery.md``).
GALLERY_ITEMS: tuple[str, ...] = tuple(name for name, *_ in _items(True))


def gallery(
    directory: PathLike, *, quick: bool = False, markdown: PathLike | None = None
) -> list[Path]:
    """Write every gallery figure into ``directory`` and a markdown page linking them.

    The page is ``directory/gallery.md`` unless ``markdown`` names another file (links are
    written relative to it, e.g. ``gallery("docs/gallery", markdown="docs/gallery.md")``).
    ``quick=True`` uses tiny grids, few steps and few frames (a few seconds). Returns the
    paths written: the images in :data:`GALLERY_ITEMS` order, then the markdown file.
    """
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory must be a path, got {type(directory).__name__}")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    md_path = root / "gallery.md" if markdown is None else Path(markdown)
    if md_path.suffix.lower() != ".md":
        raise ValueError(f"markdown must name a .md file, got {str(md_path)!r}")
    written: list[Path] = []
    sections = []
    for name, title, caption, writer in _items(bool(quick)):
        path = root / name
        writer(path)
        if path.suffix == ".png":
            _compact_png(path)
        written.append(path)
        rel = Path(os.path.relpath(path, md_path.parent)).as_posix()
        sections.append(f"## {title}\n\n![{title}]({rel})\n\n{caption}\n")
    mode = "quick mode (tiny grids, few steps)" if quick else "full mode"
    head = (
        "# descentlab gallery\n\n"
        "Every picture below comes from a real run of the library, written by\n"
        f"`descentlab.viz.gallery(...)` in {mode}. Regenerate with\n\n"
        "```bash\ndescentlab gallery docs/gallery --markdown docs/gallery.md\n```\n"
    )
    md_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(md_path, head + "\n" + "\n".join(sections))
    written.append(md_path)
    return written


def _compact_png(path: Path) -> None:
    """Re-save a PNG with a 256-colour palette (octree keeps the line colours): ~4x smaller."""
    from PIL import Image

    with Image.open(path) as im:
        q = im.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    with atomic_write(path, "wb") as f:
        q.save(f, format="PNG", optimize=True)


# ---------------------------------------------------------------------------------------
# the demo report
# ---------------------------------------------------------------------------------------
_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1rem;
       -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1rem; margin: 1.4rem 0 .3rem; }
.table-wrap { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid #ddd; padding: .3rem .6rem; text-align: right; vertical-align: top; }
td { font-variant-numeric: tabular-nums; white-space: nowrap; }
th { background: #f4f6f8; } th[scope=row] { text-align: left; }
td.text { text-align: left; white-space: normal; overflow-wrap: break-word; }
td.long { min-width: 12rem; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9rem; }
@media (max-width: 600px) {
  body { margin: 1rem auto; padding: 0 .5rem; }
  table { font-size: .8rem; } th, td { padding: .25rem .3rem; }
  td.long { min-width: 5rem; }
}
"""


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool, np.generic))


def _cell(v: Any) -> str:
    """A cell's text: numbers rounded to 3 significant digits, a nested dict or list as
    ``key: value`` pairs (never Python's repr), everything HTML-escaped."""
    if isinstance(v, (float, np.floating)):
        return html.escape(fmt(v)) if np.isfinite(v) else html.escape(str(float(v)))
    if isinstance(v, Mapping):
        return "; ".join(f"{html.escape(str(k))}: {_cell(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(_cell(x) for x in v)
    return html.escape(str(v))


def _is_grid(v: Any) -> bool:
    """A dict label -> dict of scalars, or a list of dicts of scalars: one table."""
    rows = list(v.values()) if isinstance(v, Mapping) else v
    return (
        isinstance(v, (Mapping, list, tuple))
        and bool(rows)
        and all(isinstance(r, Mapping) and all(_scalar(x) for x in r.values()) for r in rows)
    )


def _is_sections(v: Any) -> bool:
    """A dict title -> a table (or more sections): a heading per title."""
    return (
        isinstance(v, Mapping)
        and bool(v)
        and all(_is_grid(x) or _is_sections(x) for x in v.values())
        and not _is_grid(v)
    )


def _sections(summary: Mapping[str, Any], level: int = 3) -> str:
    parts = []
    for title, body in summary.items():
        heading = f"<h{min(level, 6)}>{html.escape(str(title))}</h{min(level, 6)}>"
        inner = _sections(body, level + 1) if _is_sections(body) else _table(body)
        parts.append(f"<section>{heading}\n{inner}</section>")
    return "\n".join(parts)


def _td(v: Any) -> str:
    """A number stays on one line, right-aligned; words wrap, left-aligned."""
    if not isinstance(v, str) or not v or _NUMERIC.fullmatch(v.strip()):
        return f"<td>{_cell(v)}</td>"
    kind = "text long" if len(v) > 24 else "text"
    return f'<td class="{kind}">{_cell(v)}</td>'


_NUMERIC = re.compile(r"[-+]?[\d.]+(e[-+]?\d+)?\s*%?")


def _table(summary: Any) -> str:
    """A dict of scalars -> 2 columns; a dict of dicts or a list of dicts -> a grid."""
    if (
        isinstance(summary, Mapping)
        and summary
        and all(isinstance(v, Mapping) for v in summary.values())
    ):
        rows = [(str(k), dict(v)) for k, v in summary.items()]
    elif isinstance(summary, (list, tuple)) and all(isinstance(v, Mapping) for v in summary):
        rows = [(str(i + 1), dict(v)) for i, v in enumerate(summary)]
    elif isinstance(summary, Mapping):
        body = "".join(
            f'<tr><th scope="row">{html.escape(str(k))}</th>{_td(v)}</tr>'
            for k, v in summary.items()
        )
        return (
            '<div class="table-wrap"><table><tr><th scope="col">quantity</th>'
            f'<th scope="col">value</th></tr>{body}</table></div>'
        )
    else:
        raise TypeError(f"summary must be a dict or a list of dicts, got {type(summary).__name__}")
    cols: list[str] = []
    for _, r in rows:
        cols.extend(c for c in r if c not in cols)
    head = (
        "<tr><th></th>"
        + "".join(f'<th scope="col">{html.escape(str(c))}</th>' for c in cols)
        + "</tr>"
    )
    body = "".join(
        '<tr><th scope="row">'
        + html.escape(k)
        + "</th>"
        + "".join(_td(r.get(c, "")) for c in cols)
        + "</tr>"
        for k, r in rows
    )
    return f'<div class="table-wrap"><table>{head}{body}</table></div>'


def demo_report(
    directory: PathLike,
    figures: Mapping[str, PathLike],
    summary: Mapping[str, Any] | list[Any],
    *,
    title: str = "descentlab demo",
) -> Path:
    """Write ``directory/index.html``: the summary table, then every figure with its name.

    ``figures`` maps a caption to an image file (PNG, SVG, GIF), linked relative to
    the directory; ``summary`` is a dict of numbers (two columns), or a dict label ->
    dict of numbers / a list of dicts (one row each, e.g. one per optimizer), or a dict
    title -> such a table (one headed table each; nesting gives subheadings). Numbers
    are shown to 3 significant digits; a nested value is written as ``key: value``
    pairs, never as Python's repr. Returns the path of ``index.html``.
    """
    if not isinstance(figures, Mapping):
        raise TypeError(f"figures must be a dict caption -> path, got {type(figures).__name__}")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    parts = []
    for caption, path in figures.items():
        p = Path(path)
        if not p.is_absolute() and not p.exists() and (root / p).exists():
            p = root / p
        if not p.exists():
            raise ValueError(f"figure {caption!r}: file {str(path)!r} does not exist")
        src = Path(os.path.relpath(p.resolve(), root.resolve())).as_posix()
        cap = html.escape(str(caption))
        parts.append(
            f'<figure><a href="{html.escape(src)}"><img src="{html.escape(src)}" '
            f'alt="{cap}"></a><figcaption>{cap}</figcaption></figure>'
        )
    summary_html = (
        _sections(summary)
        if isinstance(summary, Mapping) and _is_sections(summary)
        else _table(summary)
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n<h2>Summary</h2>\n{summary_html}\n"
        f"<h2>Figures</h2>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    out = root / "index.html"
    atomic_write_text(out, page)
    return out


class _CallableModule(types.ModuleType):
    """``descentlab.viz.gallery`` is both this module and its main function: whichever one
    a ``from descentlab.viz import gallery`` finds, calling it runs :func:`gallery`."""

    def __call__(self, *args: Any, **kwargs: Any) -> list[Path]:
        return gallery(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

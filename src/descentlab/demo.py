"""``descentlab demo``: the lecture in one command, in under a minute.

1. Optimizers race on Beale's function and past the saddle x^2 - y^2.
2. The learning-rate experiment: gradient descent on x^2 with
   eta in {0.01, 0.1, 1, 100, 1000}.
3. An MLP learns scikit-learn's handwritten digits with plain SGD, with Adam,
   and with Adam plus L2 and dropout.
4. A fair comparison (the ``lecture-quick`` suite of :mod:`descentlab.sweep`): every
   optimizer tuned on its own learning-rate grid, every setting over seeds, into
   ``comparison/`` with its own ``report.html``.
5. A report (summary.json, figures, index.html linking the comparison) in the output
   folder.

Every file is written atomically (a temporary file beside it, fsync, ``os.replace``),
so an interrupted demo leaves each earlier report file whole.
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from descentlab._atomic import atomic_write_text

if TYPE_CHECKING:
    from descentlab.sweep import SweepResult

LEARNING_RATES = (0.01, 0.1, 1.0, 100.0, 1000.0)
#: the learning-rate experiment, once: the console table and lr_sweep.png both run this
LR_FUNCTION, LR_START, LR_STEPS = "parabola", 1.0, 100
#: the comparison's folder inside the demo's
COMPARISON = "comparison"


def _race(quick: bool) -> dict[str, Any]:
    from descentlab import landscapes

    out: dict[str, Any] = {}
    for name in ("beale", "saddle"):
        steps = 100 if quick else None
        out[name] = (landscapes.get(name), landscapes.classic_race(name, steps))
    return out


def _lr_experiment() -> list[dict[str, Any]]:
    from descentlab import landscapes

    rows = []
    for lr in LEARNING_RATES:
        res = landscapes.minimize(
            LR_FUNCTION, np.array([LR_START]), optimizer="gd", lr=lr, steps=LR_STEPS
        )
        rows.append(
            {
                "lr": lr,
                "status": str(res.status),
                "steps": int(res.nit),
                "x": float(np.ravel(res.x)[0]),
                "message": str(res.message),
            }
        )
    return rows


def _train(quick: bool) -> dict[str, Any]:
    from descentlab import data, nn
    from descentlab.train import evaluate, fit

    bundle = data.load("digits", seed=0)
    num_classes = bundle.num_classes
    assert num_classes is not None  # digits is a classification set
    epochs = 8 if quick else 30
    runs: dict[str, dict[str, Any]] = {
        "SGD": {"optimizer": {"name": "sgd", "lr": 0.1}, "dropout": 0.0, "regularizer": None},
        "Adam": {"optimizer": {"name": "adam", "lr": 2e-3}, "dropout": 0.0, "regularizer": None},
        "Adam + L2 + dropout": {
            "optimizer": {"name": "adam", "lr": 2e-3},
            "dropout": 0.2,
            "regularizer": nn.L2(1e-4),
        },
    }
    results: dict[str, Any] = {}
    for label, cfg in runs.items():
        nn.manual_seed(0)
        model = nn.MLP([bundle.num_features, 256, 128, num_classes], dropout=cfg["dropout"])
        started = time.perf_counter()
        history = fit(
            model,
            bundle.train,
            bundle.val,
            optimizer=cfg["optimizer"],
            epochs=epochs,
            batch_size=32,
            regularizer=cfg["regularizer"],
            seed=0,
            progress=False,
        )
        test = evaluate(model, bundle.test)
        results[label] = {
            "history": history,
            "model": model,
            "test_accuracy": test["accuracy"],
            "test_loss": test["loss"],
            "train_accuracy": history.last["train_accuracy"],
            "seconds": time.perf_counter() - started,
        }
    results["_bundle"] = bundle
    return results


def _comparison(out: Path, quick: bool) -> SweepResult:
    """The lecture's comparisons as a sweep into ``out`` (quick: GD, momentum and Nesterov
    on the ill-conditioned quadratic only, in this process)."""
    from descentlab.sweep import SweepStore, sweep

    store = SweepStore(out)
    if store.read_manifest() is not None:  # an earlier demo's: this run replaces it
        for name in ("sweep.json", "trials.jsonl", "rungs.jsonl", "summary.json", "report.html"):
            (out / name).unlink(missing_ok=True)
    if not quick:
        return sweep(suite="lecture-quick", out=out)
    return sweep(
        "ill_conditioned",
        optimizers=[{"optimizer": "sgd", "label": "gd"}, "momentum", "nesterov"],
        grid={"lr": "1e-3:1:4"},
        seeds=2,
        steps=200,
        starts="random:2",
        backend="serial",
        out=out,
    )


def _link_comparison(index: Path, report: Path) -> None:
    """Add a link to the comparison's report.html to the demo's index.html."""
    href = html.escape(Path(os.path.relpath(report, index.parent)).as_posix())
    section = (
        "<h2>A fair comparison</h2>\n<p>Each optimizer tuned on its own learning-rate grid, "
        f'every setting over seeds: <a href="{href}">{href}</a></p>\n'
    )
    page = index.read_text(encoding="utf-8")
    marker = "<h2>Figures</h2>" if "<h2>Figures</h2>" in page else "</body>"
    atomic_write_text(index, page.replace(marker, section + marker, 1))


def _lr_figure(path: Path) -> Any:
    """lr_sweep.png: the learning-rate experiment of :func:`_lr_experiment`, the same runs
    (function, start, learning rates and steps) as the console's table."""
    from descentlab import viz

    return viz.plot_lr_sweep(
        LR_FUNCTION, lrs=LEARNING_RATES, x0=[LR_START], steps=LR_STEPS, optimizer="gd", out=path
    )


def _figures(out: Path, races: dict[str, Any], training: dict[str, Any]) -> dict[str, Path]:
    from descentlab import landscapes, viz

    figures: dict[str, Path] = {}
    for name, (f, results) in races.items():
        path = out / f"race_{name}.png"
        viz.plot_landscape(f, results, bounds=landscapes.CLASSIC_RACES[name]["bounds"], out=path)
        figures[f"race on {name}"] = path
    figures["race animation on beale"] = out / "race_beale.gif"
    f, results = races["beale"]
    viz.race_animation(
        f,
        results,
        fps=15,
        frames=60,
        out=figures["race animation on beale"],
        bounds=landscapes.CLASSIC_RACES["beale"]["bounds"],
    )
    figures["learning rates on x^2"] = out / "lr_sweep.png"
    _lr_figure(figures["learning rates on x^2"])
    runs = {k: v for k, v in training.items() if not k.startswith("_")}
    figures["training curves on digits"] = out / "training.png"
    viz.plot_history(
        [r["history"] for r in runs.values()],
        labels=list(runs),
        out=figures["training curves on digits"],
    )
    if "Adam" in runs:  # the loss of the trained network on a plane through its weights
        from descentlab.viz.network import plot_network_landscape

        f = landscapes.of_model(runs["Adam"]["model"], training["_bundle"].train, batch=500)
        figures["the loss around Adam's solution on digits"] = out / "network_landscape.png"
        plot_network_landscape(
            {"adam": f}, resolution=21, out=figures["the loss around Adam's solution on digits"]
        )
    return figures


#: plain words for a run's status in the report
_STATUS_WORDS = {"converged": "converged", "max_steps": "not converged", "diverged": "diverged"}


def _report_tables(summary: dict[str, Any], races: dict[str, Any]) -> dict[str, Any]:
    """The summary as index.html shows it: one headed table per experiment, numbers
    rounded, statuses in words (summary.json keeps the full numbers)."""
    from descentlab.viz._common import fmt, result_settings, settings_text

    def words(status: str) -> str:
        return _STATUS_WORDS.get(status, status)

    from descentlab.landscapes import CLASSIC_RACES
    from descentlab.viz._common import clip_path, path_of

    def result(surface: str, name: str, status: str) -> str:
        box = np.asarray(CLASSIC_RACES[surface]["bounds"], dtype=np.float64)
        _, left = clip_path(path_of(races[surface][1][name]), box[:, 0], box[:, 1])
        return words(status) + (f", left the plot at step {left}" if left is not None else "")

    tables: dict[str, Any] = {}
    for surface, rows in summary["race"].items():
        start = _classic_start(surface)
        title = f"The classic race on {surface}" + (f", from ({start})" if start else "")
        tables[title] = {
            f"{name} ({settings_text(result_settings(races[surface][1][name]))})": {
                "result": result(surface, name, str(row["status"])),
                "steps": row["steps"],
                "f at the end": row["f"],
            }
            for name, row in rows.items()
        }
    tables[f"Gradient descent on x² from x0 = {LR_START:g}, at most {LR_STEPS} steps"] = {
        f"η={row['lr']:g}": {
            "result": words(row["status"]),
            "steps": row["steps"],
            "x at the end": row["x"],
            "what happened": row["message"],
        }
        for row in summary["learning_rates"]
    }
    tables["An MLP on handwritten digits"] = {
        label: {
            "test accuracy": f"{100 * float(run['test_accuracy']):.1f} %",
            "train accuracy": f"{100 * float(run['train_accuracy']):.1f} %",
            "test loss": fmt(float(run["test_loss"])),
            "seconds": f"{float(run['seconds']):.1f}",
        }
        for label, run in summary["training"].items()
    }
    tables["A fair comparison: best first"] = {
        problem: {"ranking": order} for problem, order in summary["comparison"].items()
    }
    return tables


def _classic_start(surface: str) -> str:
    """The classic race's start on ``surface`` as text, e.g. ``0.7, 1.4`` ('' if none)."""
    from descentlab.landscapes import CLASSIC_RACES

    x0 = CLASSIC_RACES.get(surface, {}).get("x0")
    return ", ".join(f"{v:g}" for v in x0) if x0 is not None else ""


def run_demo(directory: str | Path = "descentlab-demo", quick: bool = False) -> dict[str, Any]:
    """Run the tour, write the report into ``directory`` and print a summary."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    print("1. The classic race: seven optimizers on Beale's function and past the saddle x^2 - y^2")
    races = _race(quick)
    race_rows: dict[str, dict[str, dict[str, object]]] = {}
    for surface, (_, results) in races.items():
        race_rows[surface] = {}
        for name, res in results.items():
            race_rows[surface][name] = {
                "status": str(res.status),
                "steps": int(res.nit),
                "f": float(np.ravel(res.fun)[0]),
            }
            print(
                f"   {surface:>7} {name:>9}: {res.status:<9} {int(res.nit):>5} steps, "
                f"f = {float(np.ravel(res.fun)[0]):.5g}"
            )

    print(
        f"2. Gradient descent on x^2 from x0 = {LR_START:g} with five learning rates, "
        f"at most {LR_STEPS} steps"
    )
    lr_rows = _lr_experiment()
    for row in lr_rows:
        print(
            f"   eta = {row['lr']:<7g} {row['status']:<9} after {row['steps']:>3} steps: "
            f"{row['message']}"
        )

    print("3. An MLP 64-256-128-10 learning handwritten digits (8x8)")
    training = _train(quick)
    train_rows = {}
    for label, run in training.items():
        if label.startswith("_"):
            continue
        train_rows[label] = {
            k: run[k] for k in ("test_accuracy", "test_loss", "train_accuracy", "seconds")
        }
        print(
            f"   {label:<22} test accuracy {run['test_accuracy']:.4f} "
            f"(train {run['train_accuracy']:.4f}) in {run['seconds']:.1f} s"
        )

    print("4. A fair comparison: each optimizer tuned on its own learning-rate grid, over seeds")
    comparison = _comparison(out / COMPARISON, quick)
    winners: dict[str, str] = {}
    for problem in comparison.summary["problems"]:
        ranking = problem["ranking"]
        if not ranking:
            winners[problem["name"]] = order = "no optimizer finished every seed"
        else:
            best = comparison.best(problem["name"]).get(ranking[0]) or {}
            order = ranking[0] + (f" (lr {best['lr']:.3g})" if "lr" in best else "")
            order += f", then {', '.join(ranking[1:])}" if len(ranking) > 1 else ""
            winners[problem["name"]] = order
        print(f"   {problem['name']:<34} {order}")
    where = comparison.report or out / COMPARISON / "summary.json"
    print(f"   {len(comparison)} runs; {where}")

    summary = {
        "race": race_rows,
        "learning_rates": lr_rows,
        "training": train_rows,
        "comparison": winners,
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    if importlib.util.find_spec("matplotlib") is not None:
        from descentlab import viz

        figures = _figures(out, races, training)
        index = viz.demo_report(out, figures, _report_tables(summary, races))
        if comparison.report is not None:
            _link_comparison(index, comparison.report)
        print(f"5. Report with {len(figures)} figures: {index}")
    else:
        print(
            "5. matplotlib is not installed, so the report has no figures "
            "(pip install 'descentlab[plot]'); numbers are in summary.json"
        )
    print(f"done in {time.perf_counter() - started:.1f} s; everything is in {out}/")
    return summary

"""What a trained model does with its inputs: decision regions and regression fits.

* :func:`plot_decision_boundary`: the classes a classifier predicts over the plane,
  with soft colours from the predicted probabilities, train points and test points.
* :func:`plot_regression_fit`: curves of one or more fitted models over noisy points.
* :func:`plot_overfitting`: the lecture's demonstration, trained on the spot: a wide
  MLP that passes through every noisy point, the same net with an L2 penalty, and
  with dropout.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from descentlab.viz._common import CYCLE, check_out, fmt, new_figure, save

__all__ = ["plot_decision_boundary", "plot_overfitting", "plot_regression_fit"]

OutPath = str | os.PathLike[str] | None
CLASS_COLORS = CYCLE  # one colour per class, the same ten as every other figure


def _outputs(model: Any, X: np.ndarray) -> np.ndarray:
    """The model's outputs on X: a descentlab Module (eval mode, no graph) or a function."""
    from descentlab.nn.module import Module

    if isinstance(model, Module):
        from descentlab.train import predict

        dtype = getattr(model, "dtype", np.float32)
        return np.asarray(predict(model, X.astype(dtype)), dtype=np.float64)
    if callable(model):
        return np.asarray(model(X), dtype=np.float64)
    raise TypeError(
        f"model must be a descentlab Module or a function of X, got {type(model).__name__}"
    )


def _probabilities(out: np.ndarray) -> np.ndarray:
    """Class probabilities (n, C) from logits, probabilities, or one binary output."""
    out = np.asarray(out, dtype=np.float64)
    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        z = out.reshape(-1)
        p = z if np.all((z >= 0) & (z <= 1)) else 0.5 * (1.0 + np.tanh(0.5 * z))
        return np.column_stack([1.0 - p, p])
    if out.ndim != 2:
        raise ValueError(f"model outputs must have shape (n,) or (n, C), got {out.shape}")
    rows = out.sum(axis=1)
    if np.all(out >= 0) and np.allclose(rows, 1.0, atol=1e-6):
        return out
    z = out - out.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def plot_decision_boundary(
    model: Any,
    X: Any,
    y: Any,
    *,
    X_test: Any = None,
    y_test: Any = None,
    resolution: int = 200,
    class_names: Sequence[str] | None = None,
    ax: Any = None,
    out: OutPath = None,
    title: str | None = None,
) -> Any:
    """Decision regions of a classifier on 2-D inputs.

    Every pixel gets the mix of the class colours weighted by the predicted class
    probabilities (softmax of the logits; a single output is read as a sigmoid logit),
    so confident regions are saturated and uncertain ones pale; a thin black line marks
    where the predicted class changes. Train points are circles, test points triangles;
    the title reports both accuracies.
    """
    check_out(out)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).reshape(-1)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2) for a decision boundary, got {X.shape}")
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
    have_test = X_test is not None and y_test is not None
    pts = [X]
    if have_test:
        X_test = np.asarray(X_test, dtype=np.float64)
        y_test = np.asarray(y_test).reshape(-1)
        pts.append(X_test)
    allp = np.vstack(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    pad = 0.1 * np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad, hi + pad
    xs = np.linspace(lo[0], hi[0], resolution)
    ys = np.linspace(lo[1], hi[1], resolution)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    P = _probabilities(_outputs(model, grid))
    C = max(P.shape[1], int(y.max()) + 1 if y.size else 1)
    colors = np.array([_rgb(CLASS_COLORS[k % len(CLASS_COLORS)]) for k in range(P.shape[1])])
    mix = P @ colors
    img = (1.0 - 0.55 * (1.0 - mix)).reshape(resolution, resolution, 3)
    pred = P.argmax(axis=1).reshape(resolution, resolution)

    if ax is None:
        fig = new_figure(6.4, 5.4)
        ax = fig.add_subplot()
    fig = ax.figure
    ax.imshow(
        np.clip(img, 0, 1),
        origin="lower",
        extent=(lo[0], hi[0], lo[1], hi[1]),
        aspect="auto",
        interpolation="bilinear",
    )
    if P.shape[1] > 1 and len(np.unique(pred)) > 1:
        ax.contour(
            xs,
            ys,
            pred,
            levels=np.arange(P.shape[1]) + 0.5,
            colors="black",
            linewidths=0.9,
            alpha=0.7,
        )
    names = list(class_names) if class_names is not None else [f"class {k}" for k in range(C)]
    acc_train = float(np.mean(_probabilities(_outputs(model, X)).argmax(axis=1) == y))
    for k in range(C):
        sel = y == k
        color = CLASS_COLORS[k % len(CLASS_COLORS)]
        ax.scatter(
            X[sel, 0],
            X[sel, 1],
            s=22,
            c=color,
            edgecolors="black",
            linewidths=0.5,
            marker="o",
            label=f"{names[k] if k < len(names) else k} (train)",
            zorder=3,
        )
        if have_test:
            selt = y_test == k
            ax.scatter(
                X_test[selt, 0],
                X_test[selt, 1],
                s=34,
                c=color,
                edgecolors="white",
                linewidths=0.8,
                marker="^",
                label=f"{names[k] if k < len(names) else k} (test)",
                zorder=4,
            )
    text = f"train accuracy {acc_train:.1%}"
    if have_test:
        acc_test = float(np.mean(_probabilities(_outputs(model, X_test)).argmax(axis=1) == y_test))
        text += f", test accuracy {acc_test:.1%}"
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.legend(fontsize=7.5, loc="best", framealpha=0.85, ncol=2 if have_test else 1)
    ax.set_title(
        (title or "Decision regions (colour = predicted class probabilities)") + f"\n{text}",
        fontsize=10.5,
    )
    return save(fig, out)


def _rgb(color: str) -> np.ndarray:
    from matplotlib.colors import to_rgb

    return np.array(to_rgb(color))


def _as_fits(fits: Any) -> list[tuple[str, Any]]:
    if isinstance(fits, Mapping):
        return [(str(k), v) for k, v in fits.items()]
    if isinstance(fits, (list, tuple)):
        return [(f"model {i + 1}", v) for i, v in enumerate(fits)]
    return [("model", fits)]


def plot_regression_fit(
    fits: Any,
    X: Any,
    y: Any,
    *,
    X_test: Any = None,
    y_test: Any = None,
    truth: Any = None,
    resolution: int = 400,
    ax: Any = None,
    out: OutPath = None,
    title: str | None = None,
) -> Any:
    """Fitted curves over 1-D noisy points.

    ``fits`` is a model, a list, or a dict label -> model, where a model is a descentlab
    Module, a function of an (n, 1) array, or an array of predictions on the plot grid
    (``resolution`` points spanning the data with 5% margins). Train points are dots,
    test points small crosses; ``truth`` (a function of x) is drawn dashed. The legend
    gives each fit's train (and test) mean squared error.
    """
    check_out(out)
    X = np.asarray(X, dtype=np.float64).reshape(-1, 1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} targets")
    pairs = _as_fits(fits)
    have_test = X_test is not None and y_test is not None
    xall = X[:, 0] if not have_test else np.concatenate([X[:, 0], np.ravel(X_test)])
    lo, hi = float(xall.min()), float(xall.max())
    pad = 0.05 * max(hi - lo, 1e-6)
    grid = np.linspace(lo - pad, hi + pad, resolution)[:, None]
    if ax is None:
        fig = new_figure(7.0, 4.6)
        ax = fig.add_subplot()
    fig = ax.figure
    if truth is not None:
        ax.plot(
            grid[:, 0],
            np.asarray(truth(grid[:, 0]), dtype=np.float64).reshape(-1),
            "--",
            color="0.35",
            lw=1.3,
            label="truth",
        )
    ys_all = [y]
    for i, (label, model) in enumerate(pairs):
        if isinstance(model, (np.ndarray, list, tuple)):
            pred = np.asarray(model, dtype=np.float64).reshape(-1)
            if pred.shape != (resolution,):
                raise ValueError(
                    f"predictions for {label!r} must have shape ({resolution},) "
                    f"(one per grid point), got {pred.shape}"
                )
            mse = ""
        else:
            pred = _outputs(model, grid).reshape(-1)
            err = float(np.mean((_outputs(model, X).reshape(-1) - y) ** 2))
            mse = f"train MSE {fmt(err)}"
            if have_test:
                errt = float(
                    np.mean(
                        (
                            _outputs(
                                model, np.asarray(X_test, dtype=np.float64).reshape(-1, 1)
                            ).reshape(-1)
                            - np.ravel(y_test)
                        )
                        ** 2
                    )
                )
                mse += f", test MSE {fmt(errt)}"
        ys_all.append(pred[np.isfinite(pred)])
        ax.plot(
            grid[:, 0],
            pred,
            color=CYCLE[i % len(CYCLE)],
            lw=2.0,
            label=f"{label}" + (f" ({mse})" if mse else ""),
        )
    if have_test:
        ax.scatter(
            np.ravel(X_test),
            np.ravel(y_test),
            marker="x",
            s=18,
            c="0.45",
            zorder=4,
            linewidths=1.0,
            label="test points",
        )
    ax.scatter(X[:, 0], y, s=46, c="black", edgecolors="white", zorder=5, label="training points")
    span = np.concatenate([v for v in ys_all if v.size])
    top, bottom = float(np.percentile(span, 99.5)), float(np.percentile(span, 0.5))
    ymin, ymax = min(bottom, y.min()), max(top, y.max())
    margin = 0.15 * max(ymax - ymin, 1e-6)
    ax.set_ylim(ymin - margin, ymax + margin)
    ax.set_xlim(grid[0, 0], grid[-1, 0])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, framealpha=0.9)
    ax.set_title(title or "Regression fits", fontsize=11)
    return save(fig, out)


def plot_overfitting(
    *,
    n: int = 8,
    noise: float = 0.2,
    hidden: Sequence[int] = (100, 100),
    epochs: int = 1500,
    l2: float = 1e-2,
    dropout: float = 0.5,
    lr: float = 0.01,
    seed: int = 0,
    out: OutPath = None,
    title: str | None = None,
) -> Any:
    """The lecture's overfitting picture, trained here (three small MLPs, about 2 s).

    ``n`` noisy points of the line y = 0.5 x + 0.2 (``data.make_line``, seeded). The
    same tanh MLP 1-``hidden``-1 is trained three times with full-batch Adam on the
    mean squared error: without regularization (it passes through every point: train
    error ~ 0, large test error), with the L2 penalty lambda ||W||^2 (``l2``), and with
    dropout ``p = dropout`` after each hidden layer. Test points are 50 clean samples of
    the line. Returns the Figure; ``fig.models`` holds the three trained models.
    """
    from descentlab import data, nn
    from descentlab.train import fit

    check_out(out)
    X, y = data.make_line(n=n, noise=noise, seed=seed)
    X_test, y_test = data.make_line(n=50, noise=0.0, seed=seed + 1)
    sizes = [1, *[int(h) for h in hidden], 1]
    runs = {
        "no regularization": (0.0, None),
        f"L2 penalty, λ = {fmt(l2)}": (0.0, nn.L2(l2)),
        f"dropout, p = {fmt(dropout)}": (dropout, None),
    }
    models = {}
    for label, (p, reg) in runs.items():
        nn.manual_seed(seed)
        model = nn.MLP(sizes, activation="tanh", dropout=p)
        fit(
            model,
            (X, y),
            loss="mse",
            optimizer="adam",
            lr=lr,
            epochs=epochs,
            batch_size=len(X),
            regularizer=reg,
            seed=seed,
            progress=False,
        )
        models[label] = model
    fig = plot_regression_fit(
        models,
        X,
        y,
        X_test=X_test,
        y_test=y_test,
        truth=lambda x: 0.5 * x + 0.2,
        title=title or f"Overfitting {n} noisy points with an MLP {sizes}, and two cures",
    )
    fig.models = models
    return save(fig, out)

"""The ``descentlab`` command line.

Subcommands: ``train``, ``evaluate``, ``minimize``, ``race``, ``plot``,
``functions``, ``optimizers``, ``datasets``, ``gallery``, ``demo`` and
``playground``. Options for optimizer hyperparameters are generated from
``optim.REGISTRY``. Every user error prints one line on stderr and exits
with status 2; heavy modules load only when a command needs them, so
``descentlab --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from descentlab.optim.registry import REGISTRY as OPTIMIZERS
from descentlab.optim.registry import HyperParam

EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake in how the command was called: one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# ------------------------------------------------------------------ helpers
def _hyperparameters() -> dict[str, HyperParam]:
    """Every hyperparameter of every registered optimizer except ``lr``, once."""
    seen: dict[str, HyperParam] = {}
    for spec in OPTIMIZERS.values():
        for name, hp in spec.hyperparameters.items():
            if name not in ("lr", "batched"):
                seen.setdefault(name, hp)
    return seen


def _add_optimizer_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "optimizer hyperparameters (each applies to the optimizers that have it)"
    )
    for name, hp in _hyperparameters().items():
        flag = "--" + name.replace("_", "-")
        if hp.type == "bool":
            group.add_argument(flag, dest=f"hp_{name}", action="store_true", default=None,
                               help=hp.help)
        else:
            kind = int if hp.type == "int" else float
            group.add_argument(flag, dest=f"hp_{name}", type=kind, default=None, metavar="X",
                               help=hp.help)


def _given_hyperparameters(args: argparse.Namespace) -> dict[str, Any]:
    return {k[3:]: v for k, v in vars(args).items() if k.startswith("hp_") and v is not None}


def _options_for(optimizer: str, given: dict[str, Any], strict: bool) -> dict[str, Any]:
    from descentlab.optim import get

    spec = get(optimizer)
    mine = {k: v for k, v in given.items() if k in spec.hyperparameters}
    if strict and len(mine) != len(given):
        extra = sorted(set(given) - set(mine))
        raise UsageError(
            f"optimizer {spec.name!r} has no hyperparameter {', '.join(extra)}; "
            f"its hyperparameters: {', '.join(spec.hyperparameters)}"
        )
    return mine


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{what} must be comma-separated numbers, got {text!r}") from None


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{what} must be comma-separated integers, got {text!r}") from None
    if any(v <= 0 for v in values):
        raise UsageError(f"{what} must be positive integers, got {text!r}")
    return values


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value

    return parse


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


# ------------------------------------------------------------------ train
def _build_model(args: argparse.Namespace, bundle: Any) -> Any:
    from descentlab import nn

    hidden = _ints(args.hidden, "--hidden") if args.hidden else []
    outputs = bundle.num_classes if bundle.kind == "classification" else bundle.train[1].shape[1]
    return nn.MLP([bundle.num_features, *hidden, outputs], activation=args.activation,
                  dropout=args.dropout)


def _regularizer(args: argparse.Namespace) -> Any:
    from descentlab import nn

    if args.l1 and args.l2:
        return nn.ElasticNet(args.l1, args.l2)
    if args.l1:
        return nn.L1(args.l1)
    if args.l2:
        return nn.L2(args.l2)
    return None


def cmd_train(args: argparse.Namespace) -> int:
    from descentlab import data, nn
    from descentlab.train import Trainer, evaluate

    nn.manual_seed(args.seed)
    bundle = data.load(args.data, seed=args.seed)
    loss = "cross_entropy" if bundle.kind == "classification" else "mse"
    model = _build_model(args, bundle)
    options = _options_for(args.optimizer, _given_hyperparameters(args), strict=True)
    if args.lr is not None:
        options["lr"] = args.lr
    schedule = None
    if args.schedule:
        schedule = (args.schedule, {"T_max": args.epochs}) if args.schedule == "cosine" else args.schedule
    trainer = Trainer(
        model, bundle.train, bundle.val, loss=loss,
        optimizer={"name": args.optimizer, **options}, epochs=args.epochs,
        batch_size=args.batch_size, regularizer=_regularizer(args), lr_scheduler=schedule,
        grad_clip=args.grad_clip, early_stopping=args.patience, tol=args.tol, seed=args.seed,
        progress=not args.json and not args.quiet,
    )
    if args.resume:
        trainer.load_checkpoint(args.resume)
    started = time.perf_counter()
    history = trainer.run()
    seconds = time.perf_counter() - started
    test = evaluate(model, bundle.test, loss=loss) if bundle.test is not None else {}
    if args.save:
        model.save(args.save)
        trainer.save_checkpoint(args.save.removesuffix(".npz") + ".ckpt.npz")
    if args.plot:
        from descentlab import viz

        viz.plot_history([history], labels=[args.optimizer], out=args.plot)
    last = history.last
    summary = {
        "data": bundle.name,
        "optimizer": args.optimizer,
        "epochs": len(history),
        "train_loss": last.get("train_loss"),
        "train_accuracy": last.get("train_accuracy"),
        "val_loss": last.get("val_loss"),
        "val_accuracy": last.get("val_accuracy"),
        "test_loss": test.get("loss"),
        "test_accuracy": test.get("accuracy"),
        "seconds": seconds,
        "stop_reason": history.stop_reason,
    }
    if args.json:
        print(json.dumps(summary))
    elif not args.quiet:
        print(history.table())
        print(f"stopped: {history.stop_reason}")
        if test:
            acc = test.get("accuracy")
            extra = f", test accuracy {acc:.4f}" if acc is not None else ""
            print(f"test loss {test['loss']:.4f}{extra} ({len(bundle.test[1])} samples); "
                  f"{seconds:.2f} s")
        if args.save:
            print(f"model saved to {args.save}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from descentlab import data, nn
    from descentlab.train import evaluate

    model = nn.load(args.model)
    bundle = data.load(args.data, seed=args.seed)
    loss = "cross_entropy" if bundle.kind == "classification" else "mse"
    split = {"train": bundle.train, "val": bundle.val, "test": bundle.test}[args.split]
    if split is None:
        raise UsageError(f"data set {bundle.name!r} has no {args.split} split")
    result = evaluate(model, split, loss=loss)
    if args.json:
        out = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in result.items()}
        print(json.dumps(out))
        return 0
    print(f"{args.split}: loss {result['loss']:.4f}", end="")
    if "accuracy" in result:
        print(f", accuracy {result['accuracy']:.4f} on {result['n']} samples")
        print("confusion matrix (rows: true class, columns: predicted):")
        for row in result["confusion_matrix"]:
            print(" ".join(f"{v:5d}" for v in row))
    else:
        print(f" on {result['n']} samples")
    return 0


# ------------------------------------------------------------------ landscapes
def _landscape(name: str, dim: int | None) -> Any:
    from descentlab import landscapes

    return landscapes.get(name, dim=dim) if dim else landscapes.get(name)


def _start(f: Any, text: str | None) -> Any:
    import numpy as np

    if text is None:
        return np.asarray(f.start, dtype=float)
    x0 = np.asarray(_floats(text, "--start"))
    if x0.size != f.dim:
        raise UsageError(f"--start needs {f.dim} numbers for {f.name!r}, got {x0.size}")
    return x0


def cmd_minimize(args: argparse.Namespace) -> int:
    import numpy as np

    from descentlab import landscapes

    f = _landscape(args.function, args.dim)
    x0 = _start(f, args.start)
    names = [n for n in args.optimizer.split(",") if n]
    lrs = _floats(args.lr, "--lr") if args.lr else [None]
    given = _given_hyperparameters(args)
    for key in given:
        if not any(key in _options_for(n, {key: 0}, strict=False) for n in names):
            raise UsageError(f"none of the optimizers {names} has a hyperparameter {key!r}")
    rows, results = [], {}
    for name in names:
        options = _options_for(name, given, strict=False)
        for lr in lrs:
            kwargs = dict(options)
            if lr is not None:
                kwargs["lr"] = lr
            res = landscapes.minimize(
                f, x0, optimizer=name, steps=args.steps, tol=args.tol, seed=args.seed,
                batch_size=args.batch_size, grad_noise=args.grad_noise, **kwargs,
            )
            lr_used = res.get("lr", lr)
            label = f"{name} lr={lr_used:g}" if isinstance(lr_used, float) else name
            results[label] = res
            x = np.atleast_1d(res.x)
            rows.append([
                name, f"{lr_used:g}" if isinstance(lr_used, float) else str(lr_used),
                res.status, str(res.nit), f"{float(res.fun):.6g}", f"{float(res.grad_norm):.3g}",
                "(" + ", ".join(f"{v:.4g}" for v in x) + ")", res.message,
            ])
    if args.json:
        print(json.dumps([dict(zip(
            ["optimizer", "lr", "status", "steps", "fun", "grad_norm", "x", "message"], r))
            for r in rows]))
    else:
        print(f"{f.name}: {getattr(f, 'description', '')}")
        _print_table(rows, ["optimizer", "lr", "status", "steps", "f(x)", "|grad|", "x",
                            "message"])
    if args.plot:
        from descentlab import viz

        viz.plot_landscape(f, results, out=args.plot)
    return 0


def cmd_race(args: argparse.Namespace) -> int:
    from descentlab import landscapes, viz

    f = _landscape(args.function, None)
    # On the classic surfaces the classic race's start and learning rates are the defaults.
    classic = landscapes.CLASSIC_RACES.get(f.name, {})
    x0 = _start(f, args.start) if args.start or not classic else classic["x0"]
    given = _given_hyperparameters(args)
    configs: dict[str, dict[str, Any]] = {}
    for name in [n for n in args.optimizers.split(",") if n]:
        configs[name] = {**classic.get("optimizers", {}).get(name, {}),
                         **_options_for(name, given, strict=False)}
    for setting in args.set or []:
        key, _, value = setting.partition("=")
        opt, _, hp = key.partition(".")
        if opt not in configs or not hp or not value:
            raise UsageError(f"--set takes OPTIMIZER.NAME=VALUE for a raced optimizer, got {setting!r}")
        configs[opt][hp] = _parse_value(value)
    results = landscapes.race(f, x0, configs, steps=args.steps, tol=args.tol, seed=args.seed)
    viz.race_animation(f, results, fps=args.fps, out=args.out, bounds=classic.get("bounds"))
    for name, res in results.items():
        print(f"{name:>12}: {res.status:<9} after {res.nit:>5} steps, f = {float(res.fun):.6g}")
    print(f"wrote {args.out}")
    return 0


def _parse_value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"expected a number or true/false, got {text!r}") from None


def cmd_plot(args: argparse.Namespace) -> int:
    from descentlab import viz

    if args.kind == "lr-sweep":
        kwargs: dict[str, Any] = {}
        if args.lrs:
            kwargs["lrs"] = _floats(args.lrs, "--lrs")
        if args.steps:
            kwargs["steps"] = args.steps
        viz.plot_lr_sweep(args.function or "parabola", out=args.out, **kwargs)
    elif args.kind == "basins":
        viz.plot_basins(args.function or "himmelblau", out=args.out)
    elif args.kind == "gd-vs-sgd":
        viz.plot_gd_vs_sgd(out=args.out)
    elif args.kind == "landscape":
        from descentlab import landscapes

        f = _landscape(args.function or "rosenbrock", None)
        results = None
        if args.optimizers:
            x0 = _start(f, args.start)
            configs = {n: {} for n in args.optimizers.split(",") if n}
            results = landscapes.race(f, x0, configs, steps=args.steps or 500)
        viz.plot_landscape(f, results, out=args.out)
    print(f"wrote {args.out}")
    return 0


def cmd_gallery(args: argparse.Namespace) -> int:
    from descentlab import viz

    paths = viz.gallery(args.directory, quick=args.quick, markdown=args.markdown)
    print(f"wrote {len(paths)} files to {args.directory}")
    return 0


# ------------------------------------------------------------------ listings
def cmd_functions(args: argparse.Namespace) -> int:
    from descentlab import landscapes

    rows = [[spec.name, spec.dims, spec.formula, spec.description]
            for spec in landscapes.REGISTRY.values()]
    _print_table(rows, ["name", "D", "f", "description"])
    print('\nor any formula in x and y, e.g. descentlab minimize "x**2 + 3*sin(y)"')
    return 0


def cmd_optimizers(args: argparse.Namespace) -> int:
    for spec in OPTIMIZERS.values():
        print(f"{spec.name}: {spec.summary}")
        for hp in spec.hyperparameters.values():
            rng = "" if hp.low is None else f" in [{hp.low:g}, {hp.high:g}]"
            print(f"    --{hp.name.replace('_', '-'):<26} {hp.type:<6} default {hp.default!r}{rng}"
                  f"  {hp.help}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from descentlab import data

    rows = []
    for spec in data.DATASETS.values():
        params = ", ".join(f"{k}={p.default}" for k, p in spec.hyperparameters.items())
        name = f"{spec.name}:DIR" if getattr(spec, "needs_path", False) else spec.name
        rows.append([name, spec.kind, spec.summary, params])
    _print_table(rows, ["name", "kind", "description", "parameters"])
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from descentlab.demo import run_demo

    run_demo(args.out, quick=args.quick)
    return 0


def cmd_playground(args: argparse.Namespace) -> int:
    try:
        from descentlab.web.server import serve
    except ImportError as exc:
        raise UsageError(
            f"the playground needs the web extra ({exc.name} is missing): "
            "pip install 'descentlab[web]'"
        ) from None
    serve(host=args.host, port=args.port, open_browser=not args.no_browser)
    return 0


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="descentlab",
        description="See and measure how neural networks are optimized and regularized.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("train", help="train an MLP on a data set")
    p.add_argument("--data", default="digits",
                   help="digits | mnist:DIR | fashion-mnist:DIR | moons | circles | spirals | "
                        "xor | blobs | line | polynomial | FILE.npz (default: digits)")
    p.add_argument("--hidden", default="256,128", help="hidden layer sizes (default: 256,128)")
    p.add_argument("--activation", default="relu",
                   choices=["relu", "tanh", "sigmoid", "leaky_relu", "identity"])
    p.add_argument("--optimizer", default="adam", choices=list(OPTIMIZERS),
                   help="optimizer (default: adam)")
    p.add_argument("--lr", type=_positive(float), default=None,
                   help="learning rate eta (default: the optimizer's)")
    p.add_argument("--batch-size", type=_positive(int), default=32)
    p.add_argument("--epochs", type=_positive(int), default=40)
    p.add_argument("--l1", type=_nonnegative_float, default=0.0, help="L1 penalty lambda")
    p.add_argument("--l2", type=_nonnegative_float, default=0.0, help="L2 penalty lambda")
    p.add_argument("--dropout", type=_nonnegative_float, default=0.2,
                   help="dropout probability after each hidden layer (default: 0.2)")
    p.add_argument("--schedule", default=None,
                   help="learning-rate schedule: step | exponential | cosine | linear | "
                        "inverse_time | plateau")
    p.add_argument("--grad-clip", type=_positive(float), default=None)
    p.add_argument("--patience", type=int, default=None, help="early stopping patience")
    p.add_argument("--tol", type=_positive(float), default=None,
                   help="stop when the full gradient norm is below this")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default=None, help="write the model to this .npz")
    p.add_argument("--resume", default=None, help="continue from a checkpoint .npz")
    p.add_argument("--plot", default=None, help="write training curves (PNG/SVG)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true")
    _add_optimizer_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a saved model")
    p.add_argument("model", help="a model .npz written by train --save")
    p.add_argument("--data", default="digits")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("minimize", help="run optimizers on a test function or formula")
    p.add_argument("function", help="a name from `descentlab functions` or a formula in x, y")
    p.add_argument("--optimizer", default="sgd", help="one or more, comma-separated")
    p.add_argument("--lr", default=None, help="one or more learning rates, comma-separated")
    p.add_argument("--start", default=None, help="start point, e.g. 1.5,1.5")
    p.add_argument("--dim", type=_positive(int), default=None, help="dimension (n-D functions)")
    p.add_argument("--steps", type=_positive(int), default=1000)
    p.add_argument("--tol", type=_positive(float), default=1e-6)
    p.add_argument("--batch-size", type=_positive(int), default=None)
    p.add_argument("--grad-noise", type=_nonnegative_float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default=None, help="write the paths on the contours")
    p.add_argument("--json", action="store_true")
    _add_optimizer_options(p)
    p.set_defaults(func=cmd_minimize)

    p = sub.add_parser("race", help="animate optimizers racing on a surface")
    p.add_argument("function", nargs="?", default="beale")
    p.add_argument("--optimizers", default="sgd,momentum,nesterov,adagrad,adadelta,rmsprop,adam")
    p.add_argument("--start", default=None)
    p.add_argument("--steps", type=_positive(int), default=300)
    p.add_argument("--tol", type=_positive(float), default=1e-6)
    p.add_argument("--fps", type=_positive(int), default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="OPT.NAME=VALUE",
                   help="a hyperparameter of one optimizer, e.g. --set adam.lr=0.1")
    p.add_argument("--out", default="race.gif", help="GIF or MP4 file")
    _add_optimizer_options(p)
    p.set_defaults(func=cmd_race)

    p = sub.add_parser("plot", help="draw one of the lecture's figures")
    p.add_argument("kind", choices=["lr-sweep", "basins", "gd-vs-sgd", "landscape"])
    p.add_argument("function", nargs="?", default=None)
    p.add_argument("--lrs", default=None, help="learning rates for lr-sweep")
    p.add_argument("--optimizers", default=None, help="paths to draw on a landscape")
    p.add_argument("--start", default=None)
    p.add_argument("--steps", type=_positive(int), default=None)
    p.add_argument("--out", required=True, help="PNG, SVG, GIF or MP4 file")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("gallery", help="draw every figure into a folder with a gallery.md")
    p.add_argument("directory")
    p.add_argument("--quick", action="store_true", help="tiny runs, for CI")
    p.add_argument("--markdown", default=None,
                   help="where to write the markdown page (default: DIRECTORY/gallery.md); "
                        "docs/gallery.md is made by: descentlab gallery docs/gallery "
                        "--markdown docs/gallery.md")
    p.set_defaults(func=cmd_gallery)

    for name, func, text in (
        ("functions", cmd_functions, "list the test functions"),
        ("optimizers", cmd_optimizers, "list the optimizers and their hyperparameters"),
        ("datasets", cmd_datasets, "list the data sets"),
    ):
        sub.add_parser(name, help=text).set_defaults(func=func)

    p = sub.add_parser("demo", help="the tour: races, the learning-rate experiment, training")
    p.add_argument("--out", default="descentlab-demo", help="report folder")
    p.add_argument("--quick", action="store_true", help="smaller runs")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("playground", help="open the interactive page in a browser")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-browser", action="store_true")
    p.set_defaults(func=cmd_playground)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``descentlab`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("descentlab: interrupted", file=sys.stderr)
        return 130
    except (UsageError, ValueError, TypeError, KeyError, OSError, ImportError) as exc:
        if os.environ.get("DESCENTLAB_DEBUG"):
            raise
        message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        message = " ".join(message.split()) or type(exc).__name__
        print(f"descentlab: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

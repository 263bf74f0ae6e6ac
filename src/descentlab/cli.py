"""The ``descentlab`` command line.

Subcommands: ``train``, ``evaluate``, ``minimize``, ``race``, ``plot``, ``sweep``,
``functions``, ``optimizers``, ``datasets``, ``gallery``, ``demo`` and
``playground``. Options for optimizer hyperparameters are generated from
``optim.REGISTRY``. Heavy modules load only when a command needs them, so
``descentlab --help`` answers at once.

Every user error (a ``ValueError`` such as ``DataError``, an ``OSError``, a
:class:`UsageError`) prints one line on stderr and exits with status 2; any
other exception is a bug and surfaces as one, with its traceback. Output paths
are checked before any work starts. Ctrl-C exits with status 130; during
``train`` it first writes a checkpoint and prints the command that resumes it;
``sweep`` keeps every finished trial and prints the command that finishes the sweep.
Options are never abbreviated (``--lr`` is not ``--lr-decay``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from descentlab.optim.registry import REGISTRY as OPTIMIZERS
from descentlab.optim.registry import HyperParam

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: the hidden layers' activations of ``train`` and ``sweep``
ACTIVATIONS = ["relu", "tanh", "sigmoid", "leaky_relu", "identity"]
#: where ``train`` leaves a checkpoint on Ctrl-C when neither --save nor --checkpoint is given.
RUNS_FOLDER = "descentlab-runs"


class UsageError(Exception):
    """A mistake in how the command was called: one line, exit status 2."""


class _HelpFormatter(argparse.HelpFormatter):
    """Every argument's help ends with its default, unless it says it already (or it has
    none to say: None, or a flag that is off)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default is None
            or default is False  # a flag that is off (0 and 0.0 are shown)
            or default == argparse.SUPPRESS
            or isinstance(action, argparse._HelpAction)
        ):
            return text
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {shown})"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Prefix matching would read "--lr" as "--lr-decay" where only the latter exists.
        kwargs["allow_abbrev"] = False
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# ------------------------------------------------------------------ helpers
def _hyperparameters() -> dict[str, HyperParam]:
    """Every hyperparameter a command-line flag can set, of every registered optimizer, once.

    ``lr`` has its own option; settings no text can express (callables) and
    ``batched`` (an API detail of AdagradNorm) have none.
    """
    seen: dict[str, HyperParam] = {}
    for spec in OPTIMIZERS.values():
        for name, hp in spec.hyperparameters.items():
            if name not in ("lr", "batched") and hp.in_ui:
                seen.setdefault(name, hp)
    return seen


def _optimizer_list() -> str:
    return ", ".join(OPTIMIZERS)


def _optimizer_name(text: str) -> str:
    """argparse type: an optimizer name or alias -> its registry name."""
    try:
        return OPTIMIZERS.resolve(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _owners(name: str) -> str:
    owners = [s.name for s in OPTIMIZERS.values() if name in s.hyperparameters]
    return ", ".join(owners[:6]) + (", ..." if len(owners) > 6 else "")


def _add_optimizer_options(parser: argparse.ArgumentParser, *, sweep: bool = False) -> None:
    """One flag per described hyperparameter; each optimizer checks its own values.

    With ``sweep`` every flag takes the values to sweep (``a,b,c`` or ``LOW:HIGH:N``),
    booleans included (``--nesterov true,false``).
    """
    title = (
        "optimizer hyperparameters (each applies to the optimizers that have it; "
        "see 'descentlab optimizers')"
    )
    description = None
    if sweep:
        description = (
            "Each takes the values to sweep: a,b,c or LOW:HIGH:N (N log-spaced values). "
            "Default: not swept; each optimizer keeps its own default."
        )
    group = parser.add_argument_group(title, description)
    for name, hp in _hyperparameters().items():
        flag = "--" + name.replace("_", "-")
        help = f"{hp.help} [{_owners(name)}]"
        if sweep:
            group.add_argument(flag, dest=f"hp_{name}", default=None, metavar="VALUES", help=help)
        elif hp.type == "bool":
            group.add_argument(
                flag,
                dest=f"hp_{name}",
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help,
            )
        else:
            metavar = (
                "{" + ",".join(map(str, hp.choices)) + "}"
                if hp.choices
                else ("N" if hp.type == "int" else "X")
            )
            # Kept as text: the chosen optimizer's own description converts and checks it.
            group.add_argument(flag, dest=f"hp_{name}", default=None, metavar=metavar, help=help)


def _given_hyperparameters(args: argparse.Namespace) -> dict[str, Any]:
    return {k[3:]: v for k, v in vars(args).items() if k.startswith("hp_") and v is not None}


def _check_owned(names: Sequence[str], given: dict[str, Any]) -> None:
    """Refuse a hyperparameter that none of the optimizers ``names`` has."""
    for key in given:
        if not any(key in OPTIMIZERS[OPTIMIZERS.resolve(n)].hyperparameters for n in names):
            raise UsageError(f"none of the optimizers {list(names)} has a hyperparameter {key!r}")


def _options_for(optimizer: str, given: dict[str, Any], strict: bool) -> dict[str, Any]:
    """The ``given`` settings that ``optimizer`` has, converted and checked by its description."""
    from descentlab.optim import get
    from descentlab.spec import parse_value

    spec = get(optimizer)
    mine = {k: v for k, v in given.items() if k in spec.hyperparameters}
    if strict and len(mine) != len(given):
        extra = sorted(set(given) - set(mine))
        raise UsageError(
            f"optimizer {spec.name!r} has no hyperparameter {', '.join(extra)}; "
            f"its hyperparameters: {', '.join(spec.hyperparameters)}"
        )
    return {
        k: parse_value(spec.hyperparameters[k], v) if isinstance(v, str) else v
        for k, v in mine.items()
    }


def _items(text: str, what: str, kind: str) -> list[str]:
    items = [v.strip() for v in text.split(",")]
    if not text.strip() or any(not v for v in items):
        raise UsageError(
            f"{what} must be comma-separated {kind} with none left empty, got {text!r}"
        )
    return items


def _floats(text: str, what: str, *, positive: bool = False) -> list[float]:
    try:
        values = [float(v) for v in _items(text, what, "numbers")]
    except ValueError:
        raise UsageError(f"{what} must be comma-separated numbers, got {text!r}") from None
    for v in values:
        if not math.isfinite(v) or (positive and v <= 0):
            raise UsageError(
                f"{what} must be {'positive ' if positive else ''}finite numbers, "
                f"got {v:g} in {text!r}"
            )
    return values


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in _items(text, what, "integers")]
    except ValueError:
        raise UsageError(f"{what} must be comma-separated integers, got {text!r}") from None
    if any(v <= 0 for v in values):
        raise UsageError(f"{what} must be positive integers, got {text!r}")
    return values


def _names(text: str, what: str) -> list[str]:
    return _items(text, what, "names")


def _number(kind: type, text: str, expected: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def _positive(kind: type) -> Any:
    expected = f"a positive {kind.__name__}"

    def parse(text: str) -> Any:
        value = _number(kind, text, expected)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def _nonnegative(kind: type) -> Any:
    expected = "an integer >= 0" if kind is int else "a number >= 0"

    def parse(text: str) -> Any:
        value = _number(kind, text, expected)
        if value < 0:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_nonnegative_float = _nonnegative(float)


def _finite_float(text: str) -> float:
    value: float = _number(float, text, "a finite number")
    return value


def _probability(text: str) -> float:
    value = _number(float, text, "a probability in [0, 1)")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {text!r}")
    return value


# ------------------------------------------------------------------ output paths
#: folders the operating system fills itself; a file written there is never what was meant.
_SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")


def check_output(text: str | os.PathLike[str], option: str, *, folder: bool = False) -> Path:
    """Check, before any work starts, that ``text`` can be written; return it as a Path.

    Refused with a one-line :class:`UsageError`: an empty name, a path under
    /proc, /sys or /dev, an existing folder where a file is wanted (or a file where
    a folder is), a path below a *file*, and a file or folder that is not
    writable. Missing parent folders are fine (they are made when writing) only
    when the nearest existing folder is writable and is not the file-system root:
    a typo such as ``/nonexistent/x.png`` must not create folders at the root.
    """
    name = os.fspath(text)
    if not name.strip():
        raise UsageError(f"{option} needs a {'folder' if folder else 'file'} name, got {name!r}")
    path = Path(name).expanduser()
    absolute = Path(os.path.abspath(path))
    cannot = f"cannot write {name}"
    try:
        real = Path(os.path.realpath(absolute))
        for system in map(Path, _SYSTEM_FOLDERS):
            if real == system or system in real.parents:
                raise UsageError(
                    f"{cannot}: {system} is a system folder, not a place for "
                    f"files; choose another {option}"
                )
        if absolute.exists():
            if folder and not absolute.is_dir():
                raise UsageError(f"{cannot}: it is a file, not a folder; choose another {option}")
            if not folder and absolute.is_dir():
                raise UsageError(
                    f"{cannot}: it is a folder; give {option} a file name, e.g. "
                    f"{os.path.join(name, 'out' + (path.suffix or '.npz'))}"
                )
            if not os.access(absolute, os.W_OK):
                raise UsageError(f"{cannot}: permission denied")
        parent = absolute if folder else absolute.parent
        nearest = parent
        while not nearest.exists() and nearest != nearest.parent:
            nearest = nearest.parent
        if not nearest.is_dir():
            raise UsageError(f"{cannot}: {nearest} is a file, not a folder")
        if not os.access(nearest, os.W_OK | os.X_OK):
            raise UsageError(f"{cannot}: folder {nearest} is not writable")
        if nearest != parent and nearest == nearest.parent:
            missing = nearest / parent.relative_to(nearest).parts[0]
            raise UsageError(
                f"{cannot}: folder {missing} does not exist and will not be "
                "created at the root; create it first"
            )
    except OSError as exc:  # a name too long, a loop of symbolic links, ...
        raise UsageError(f"{cannot}: {exc.strerror or exc}") from None
    return path


def _check_picture(text: str, option: str, animation: bool = False, still: bool = True) -> Path:
    from descentlab.viz._common import ANIMATION_SUFFIXES, STATIC_SUFFIXES, check_out

    kinds = (STATIC_SUFFIXES if still else ()) + (ANIMATION_SUFFIXES if animation else ())
    path = check_output(text, option)
    check_out(text, kinds)
    return path


def _distinct(paths: dict[str, Path | None]) -> None:
    seen: dict[str, str] = {}
    for option, path in paths.items():
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise UsageError(
                f"{option} and {seen[key]} would both write {path}; give each its own file"
            )
        seen[key] = option


def _make_parent(path: Path) -> None:
    """Make the missing folders that :func:`check_output` allowed."""
    path.parent.mkdir(parents=True, exist_ok=True)


def _print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


# ------------------------------------------------------------------ train
def _build_model(args: argparse.Namespace, bundle: Any, hidden: list[int]) -> Any:
    from descentlab import nn
    from descentlab.train.metrics import check_labels

    if bundle.kind == "classification":
        labels = [pair[1] for pair in (bundle.train, bundle.val, bundle.test) if pair is not None]
        import numpy as np

        check_labels(
            np.concatenate([np.ravel(y) for y in labels]), f"the labels of data set {bundle.name!r}"
        )
        outputs = bundle.num_classes
    else:
        outputs = bundle.train[1].shape[1]
    return nn.MLP(
        [bundle.num_features, *hidden, outputs], activation=args.activation, dropout=args.dropout
    )


def _regularizer(args: argparse.Namespace) -> Any:
    from descentlab import nn

    return nn.penalty(args.l1, args.l2)


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(path.name.removesuffix(".npz") + suffix)


def _train_outputs(args: argparse.Namespace) -> dict[str, Path | None]:
    """Every file ``train`` may write, checked before the data set is even loaded."""
    if args.checkpoint and not args.checkpoint.endswith(".npz"):
        raise UsageError(f"--checkpoint must name an .npz file, got {args.checkpoint!r}")
    save = check_output(args.save, "--save") if args.save else None
    checkpoint = check_output(args.checkpoint, "--checkpoint") if args.checkpoint else None
    beside_save = None
    if save is not None and checkpoint is None:
        beside_save = check_output(_beside(save, ".ckpt.npz"), "--save")
    outputs = {
        "--save": save,
        "--checkpoint": checkpoint,
        "the checkpoint beside --save": beside_save,
        "--plot": _check_picture(args.plot, "--plot") if args.plot else None,
    }
    _distinct(outputs)
    if args.resume and not os.path.isfile(args.resume):
        raise UsageError(f"--resume: no checkpoint file at {args.resume}")
    return outputs


def _resume_command(argv: Sequence[str], checkpoint: Path) -> str:
    """``argv`` with ``--resume CHECKPOINT`` in place of any earlier --resume."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--resume":
            skip = True
        elif not arg.startswith("--resume="):
            kept.append(arg)
    return "descentlab " + shlex.join([*kept, "--resume", str(checkpoint)])


def _fresh_folder(root: str, prefix: str = "") -> Path:
    """``root/PREFIXTIME``, a folder that does not exist yet (``TIME-2``, ``TIME-3``, ... if
    taken)."""
    stamp = prefix + time.strftime("%Y%m%d-%H%M%S")
    folder = Path(root) / stamp
    n = 1
    while folder.exists():
        n += 1
        folder = folder.with_name(f"{stamp}-{n}")
    return folder


def _default_checkpoint() -> Path:
    return _fresh_folder(RUNS_FOLDER) / "checkpoint.npz"


def _on_interrupt(trainer: Any, args: argparse.Namespace, target: Path | None) -> int:
    """Ctrl-C during training: checkpoint the start of the interrupted epoch, say how to resume."""
    from descentlab.train.callbacks import ProgressBar

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the write short
    for cb in trainer.callbacks:
        if isinstance(cb, ProgressBar):
            cb.on_train_end(trainer)
    trainer.rewind()
    path = target if target is not None else _default_checkpoint()
    try:
        check_output(path, "the checkpoint")
        _make_parent(path)
        trainer.save_checkpoint(path)
    except (UsageError, OSError, ValueError) as exc:
        print(f"descentlab: interrupted; no checkpoint written: {_one_line(exc)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(
        f"descentlab: interrupted in epoch {trainer.epoch + 1}; checkpoint of the run as that "
        f"epoch began ({trainer.epoch} epochs done) written to {path}",
        file=sys.stderr,
    )
    print(f"resume with: {_resume_command(args.argv, path)}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _status(summary: dict[str, Any], status: str) -> str:
    """``status``, or else which number of ``summary`` is not finite."""
    if status != "ok":
        return status
    for key, value in summary.items():
        if isinstance(value, float) and not math.isfinite(value):
            return f"{key} is {value}"
    return "ok"


def _print_json(value: Any, status: str) -> None:
    """One strict JSON object: non-finite numbers become null and ``status`` says why."""
    from descentlab.train.history import json_safe

    if isinstance(value, dict):
        value = {**value, "status": status}
    print(json.dumps(json_safe(value), allow_nan=False))


def cmd_train(args: argparse.Namespace) -> int:
    outputs = _train_outputs(args)
    hidden = _ints(args.hidden, "--hidden") if args.hidden else []

    from descentlab import data, nn
    from descentlab.train import Trainer, evaluate
    from descentlab.train.callbacks import Checkpoint

    nn.manual_seed(args.seed)
    bundle = data.load(args.data, seed=args.seed)
    loss = "cross_entropy" if bundle.kind == "classification" else "mse"
    model = _build_model(args, bundle, hidden)
    options = _options_for(args.optimizer, _given_hyperparameters(args), strict=True)
    if args.lr is not None:
        options["lr"] = args.lr
    from descentlab.optim.lr_scheduler import schedule_for_epochs

    schedule = schedule_for_epochs(args.schedule, args.epochs) if args.schedule else None
    trainer = Trainer(
        model,
        bundle.train,
        bundle.val,
        loss=loss,
        optimizer={"name": args.optimizer, **options},
        epochs=args.epochs,
        batch_size=args.batch_size,
        regularizer=_regularizer(args),
        lr_scheduler=schedule,
        grad_clip=args.grad_clip,
        early_stopping=args.patience,
        tol=args.tol,
        seed=args.seed,
        progress=not args.json and not args.quiet,
    )
    if args.resume:
        trainer.load_checkpoint(args.resume)
    save, checkpoint = outputs["--save"], outputs["--checkpoint"]
    final_checkpoint = checkpoint or outputs["the checkpoint beside --save"]
    if checkpoint is not None:
        _make_parent(checkpoint)
        trainer.callbacks.append(Checkpoint(checkpoint))
    interrupt_target = final_checkpoint or (Path(args.resume) if args.resume else None)
    started = time.perf_counter()
    try:
        history = trainer.run()
    except KeyboardInterrupt:
        return _on_interrupt(trainer, args, interrupt_target)
    seconds = time.perf_counter() - started
    test = evaluate(model, bundle.test, loss=loss) if bundle.test is not None else {}
    written = None
    if save is not None:
        _make_parent(save)
        written = model.save(save) or (
            save if save.suffix == ".npz" else save.with_name(save.name + ".npz")
        )
    if final_checkpoint is not None and checkpoint is None:
        _make_parent(final_checkpoint)
        trainer.save_checkpoint(final_checkpoint)
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
    if written is not None:
        summary["model"] = str(written)
    if final_checkpoint is not None:
        summary["checkpoint"] = str(final_checkpoint)
    if args.json:
        _print_json(summary, _status(summary, history.status))
    elif not args.quiet:
        print(history.table())
        print(f"stopped: {history.stop_reason}")
        if test:
            acc = test.get("accuracy")
            extra = f", test accuracy {acc:.4f}" if acc is not None else ""
            print(f"test loss {test['loss']:.4f}{extra} ({test['n']} samples); {seconds:.2f} s")
        if written is not None:
            print(f"model saved to {written}")
        if final_checkpoint is not None:
            print(f"checkpoint saved to {final_checkpoint}")
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
        _print_json(result, _status(result, "ok"))
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

    plot = _check_picture(args.plot, "--plot") if args.plot else None
    names = _names(args.optimizer, "--optimizer")
    lrs: list[float | None] = list(_floats(args.lr, "--lr", positive=True)) if args.lr else [None]
    f = _landscape(args.function, args.dim)
    x0 = _start(f, args.start)
    given = _given_hyperparameters(args)
    _check_owned(names, given)
    rows, results = [], {}
    records: list[dict[str, Any]] = []
    for name in names:
        options = _options_for(name, given, strict=False)
        for lr in lrs:
            kwargs = dict(options)
            if lr is not None:
                kwargs["lr"] = lr
            res = landscapes.minimize(
                f,
                x0,
                optimizer=name,
                steps=args.steps,
                tol=args.tol,
                seed=args.seed,
                batch_size=args.batch_size,
                grad_noise=args.grad_noise,
                **kwargs,
            )
            lr_used = res.get("lr", lr)
            label = f"{name} lr={lr_used:g}" if isinstance(lr_used, float) else name
            results[label] = res
            x = np.atleast_1d(res.x)
            rows.append(
                [
                    name,
                    f"{lr_used:g}" if isinstance(lr_used, float) else str(lr_used),
                    res.status,
                    str(res.nit),
                    f"{float(res.fun):.6g}",
                    f"{float(res.grad_norm):.3g}",
                    "(" + ", ".join(f"{v:.4g}" for v in x) + ")",
                    res.message,
                ]
            )
            records.append(
                {
                    "optimizer": name,
                    "lr": lr_used if isinstance(lr_used, float) else None,
                    "status": res.status,
                    "steps": int(res.nit),
                    "fun": float(res.fun),
                    "grad_norm": float(res.grad_norm),
                    "x": x.tolist(),
                    "message": res.message,
                }
            )
    if args.json:
        from descentlab.train.history import json_safe

        print(json.dumps(json_safe(records), allow_nan=False))
    else:
        print(f"{f.name}: {getattr(f, 'description', '')}")
        _print_table(rows, ["optimizer", "lr", "status", "steps", "f(x)", "|grad|", "x", "message"])
    if plot is not None:
        from descentlab import viz

        viz.plot_landscape(f, results, out=plot)
    return 0


#: the file ``race`` writes without --out: ./descentlab-runs/race-TIME/race.gif
RACE_FILE = "race.gif"


def cmd_race(args: argparse.Namespace) -> int:
    target = args.out or _fresh_folder(RUNS_FOLDER, prefix="race-") / RACE_FILE
    out = _check_picture(str(target), "--out", animation=True, still=False)
    names = _names(args.optimizers, "--optimizers")
    lrs = _floats(args.lr, "--lr", positive=True) if args.lr else []
    if len(lrs) not in (0, 1, len(names)):
        raise UsageError(
            f"--lr takes one learning rate for all optimizers or one per optimizer "
            f"({len(names)}: {', '.join(names)}), got {len(lrs)}: {args.lr!r}"
        )

    from descentlab import landscapes, viz
    from descentlab.optim import get as get_optimizer

    f = _landscape(args.function, None)
    # On the classic surfaces the classic race's start and learning rates are the defaults.
    classic = landscapes.CLASSIC_RACES.get(f.name, {})
    x0 = _start(f, args.start) if args.start or not classic else classic["x0"]
    given = _given_hyperparameters(args)
    configs: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        configs[name] = {
            **classic.get("optimizers", {}).get(name, {}),
            **_options_for(name, given, strict=False),
        }
        if lrs:
            configs[name]["lr"] = lrs[i if len(lrs) > 1 else 0]
    for setting in args.set or []:
        key, _, value = setting.partition("=")
        opt, _, hp = key.partition(".")
        if opt not in configs or not hp or not value:
            raise UsageError(
                f"--set takes OPTIMIZER.NAME=VALUE for a raced optimizer, got {setting!r}"
            )
        known = get_optimizer(opt).hyperparameters
        if hp not in known:
            raise UsageError(
                f"--set {setting}: optimizer {opt!r} has no hyperparameter {hp!r}; "
                f"its hyperparameters: {', '.join(known)}"
            )
        from descentlab.spec import parse_value

        configs[opt][hp] = parse_value(known[hp], value)
    results = landscapes.race(f, x0, configs, steps=args.steps, tol=args.tol, seed=args.seed)
    viz.race_animation(f, results, fps=args.fps, out=out, bounds=classic.get("bounds"))
    for name, res in results.items():
        print(f"{name:>12}: {res.status:<9} after {res.nit:>5} steps, f = {float(res.fun):.6g}")
    print(f"wrote {out}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    _check_picture(args.out, "--out")
    from descentlab import viz

    if args.kind == "lr-sweep":
        kwargs: dict[str, Any] = {}
        if args.lrs:
            kwargs["lrs"] = _floats(args.lrs, "--lrs", positive=True)
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
            configs: dict[str, dict[str, Any]] = {
                n: {} for n in _names(args.optimizers, "--optimizers")
            }
            results = landscapes.race(f, x0, configs, steps=args.steps or 500)
        viz.plot_landscape(f, results, out=args.out)
    print(f"wrote {args.out}")
    return 0


# ------------------------------------------------------------------ sweep
#: where ``sweep`` writes when --out is not given: one folder per sweep, named by its start.
SWEEPS_FOLDER = "descentlab-sweeps"
#: the defaults of ``descentlab.sweep.sweep`` as command-line text (tests hold them equal)
SWEEP_OPTIMIZERS = "sgd,momentum,adam"
SWEEP_LR = "1e-4:1:9"
#: what ``--backend ray`` says when Ray is not installed
NEEDS_RAY = 'the ray backend needs Ray, which is not installed: pip install "descentlab[cluster]"'
#: the problem options of ``sweep`` (argparse destinations), landscapes' and data sets'
_PROBLEM_OPTIONS = (
    "steps",
    "tol",
    "start",
    "starts",
    "dim",
    "grad_noise",
    "epochs",
    "hidden",
    "activation",
    "dropout",
    "l1",
    "l2",
    "batch_size",
    "target",
)
#: the options that say what to compare; a suite and a bare --resume bring their own
_PLAN_OPTIONS = ("optimizers", "lr", "seeds", "search", *_PROBLEM_OPTIONS)


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _sweep_axis(
    name: str, text: str, owners: Sequence[str]
) -> list[Any] | tuple[float, float, int]:
    """``--NAME a,b,c`` as values of the hyperparameter's type, each checked by every chosen
    optimizer that has it; ``LOW:HIGH:N`` as a range (the plan checks every value of it)."""
    from descentlab.sweep.plan import parse_values

    flag = _flag(name)
    axis = parse_values(text, flag)
    if isinstance(axis, tuple):
        return axis
    values = []
    for item in _items(text, flag, "values"):
        converted = [_options_for(owner, {name: item}, strict=False)[name] for owner in owners]
        values.append(converted[0])
    return values


def _sweep_grid(args: argparse.Namespace, optimizers: Sequence[str]) -> dict[str, Any]:
    """``--lr`` and the hyperparameter flags as the sweep's grid."""
    given = _given_hyperparameters(args)
    _check_owned(optimizers, given)
    grid = {}
    for name, text in {"lr": args.lr or SWEEP_LR, **given}.items():
        owners = [o for o in optimizers if name in OPTIMIZERS[o].hyperparameters]
        grid[name] = _sweep_axis(name, text, owners)
    return grid


def _sweep_problem(args: argparse.Namespace) -> Any:
    """The problem of ``descentlab sweep PROBLEM`` with its options (the sweep builds it
    once before any work, so a typo or a start of the wrong dimension is one error)."""
    import dataclasses

    from descentlab.sweep.plan import LandscapeProblem, coerce_problems

    options = {k: getattr(args, k) for k in _PROBLEM_OPTIONS if getattr(args, k) is not None}
    start = options.pop("start", None)
    if start is not None and "starts" in options:
        raise UsageError("give --start X,Y (one start) or --starts random:K|grid:K, not both")
    if "hidden" in options:
        options["hidden"] = tuple(_ints(options["hidden"], "--hidden"))
    (problem,) = coerce_problems(args.problem, **options)
    if start is not None:
        if not isinstance(problem, LandscapeProblem):
            raise UsageError(f"--start does not apply to the data set {args.problem!r}")
        problem = dataclasses.replace(problem, starts=(tuple(_floats(start, "--start")),))
    return problem


def _given_flags(args: argparse.Namespace, names: Sequence[str]) -> list[str]:
    flags = [_flag(n) for n in names if getattr(args, n) is not None]
    return flags + [_flag(k) for k in _given_hyperparameters(args)]


def _check_sweep_args(args: argparse.Namespace) -> None:
    """What to compare comes from exactly one place: a problem, a suite or the sweep resumed."""
    if args.suite is not None:
        if args.problem is not None:
            raise UsageError(f"give a problem or --suite, not both (got {args.problem!r})")
        fixed = _given_flags(args, [n for n in _PLAN_OPTIONS if n not in ("steps", "epochs")])
        if fixed:
            raise UsageError(
                f"--suite {args.suite} brings its own problems, optimizers, grids and seeds; "
                f"drop {', '.join(fixed)} (only --steps and --epochs change a suite)"
            )
    elif args.problem is None and args.resume:
        fixed = _given_flags(args, [*_PLAN_OPTIONS, "seed"])
        if fixed:
            raise UsageError(
                "--resume without a problem finishes the sweep in --out with its own "
                f"settings; drop {', '.join(fixed)} or give the whole command again"
            )
    elif args.problem is None:
        raise UsageError(
            "give a problem (a landscape, a formula or a data set), --suite NAME, "
            "or --out DIR --resume"
        )
    if args.resume and args.out is None:
        raise UsageError("--resume needs --out DIR, the folder of the sweep to finish")
    if args.backend != "ray" and args.address is not None:
        raise UsageError("--address names a Ray cluster; it needs --backend ray")


def _check_ray() -> None:
    """Fail before any work when Ray is missing (the sweep folder is not even made)."""
    import importlib

    try:
        importlib.import_module("ray")
    except ImportError as exc:
        if (exc.name or "").split(".")[0] == "ray":
            raise UsageError(NEEDS_RAY) from None
        raise


def _sweep_resume_command(argv: Sequence[str], out: Path, out_given: bool) -> str:
    """The command that finishes this sweep: ``argv`` with --resume (and --out if implicit)."""
    kept = [a for a in argv if a != "--resume"]
    extra = [] if out_given else ["--out", str(out)]
    return "descentlab " + shlex.join([*kept, *extra, "--resume"])


def _sweep_interrupted(args: argparse.Namespace, out: Path, progress: Any) -> int:
    """Ctrl-C during a sweep: the finished trials are on disk; say how many and how to go on."""
    from descentlab.sweep.plan import Plan
    from descentlab.sweep.store import SweepStore

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
    progress.close()
    store = SweepStore(out)
    try:
        manifest = store.read_manifest()
    except ValueError:
        manifest = None
    if manifest is None:
        print("descentlab: interrupted before the sweep started; nothing saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    total = len(Plan.from_dict(manifest["plan"]).trials())
    saved = len({r["key"] for r in store.records()})
    print(f"descentlab: interrupted; {saved} of {total} trials are saved in {out}", file=sys.stderr)
    command = _sweep_resume_command(args.argv, out, args.out is not None)
    print(f"resume with: {command}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _sweep_json(result: Any) -> dict[str, Any]:
    """What ``sweep --json`` prints: per problem each optimizer's best setting (mean, std
    and n over seeds), the counts, the folder and its files."""

    def brief(stats: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if stats is None else {k: stats[k] for k in ("mean", "std", "n")}

    problems = []
    for p in result.summary["problems"]:
        optimizers: dict[str, Any] = {}
        for a in p["optimizers"]:
            best = a["best"]
            optimizers[a["arm"]] = {
                "optimizer": a["optimizer"],
                "settings": a["settings"],
                "trials": a["trials"],
                "diverged_fraction": a["diverged_fraction"],
                "best": None
                if best is None
                else {
                    "hyperparameters": best["hyperparameters"],
                    "final_loss": brief(best["final_loss"]),
                    "test_accuracy": brief(best["test_accuracy"]),
                    "steps_to_target": brief(best["steps_to_target"]),
                    "reached_target": best["reached_target"],
                    "of": best["of"],
                },
            }
        problems.append(
            {
                "name": p["name"],
                "kind": p["kind"],
                "selection": p["selection"],
                "target": p["target"],
                "ranking": p["ranking"],
                "optimizers": optimizers,
            }
        )
    folder: Path = result.out
    return {
        "folder": str(folder),
        "files": {
            "trials": str(folder / "trials.jsonl"),
            "summary": str(folder / "summary.json"),
            "report": None if result.report is None else str(result.report),
        },
        "trials": {**result.summary["trials"], "errors": len(result.failures)},
        "problems": problems,
        "failures": [{"key": k, "error": e} for k, e in result.failures],
    }


def cmd_sweep(args: argparse.Namespace) -> int:
    _check_sweep_args(args)
    out = check_output(args.out or _fresh_folder(SWEEPS_FOLDER), "--out", folder=True)
    problem = None
    optimizers: list[str] = []
    grid = None
    options: dict[str, Any] = {}
    early_stop, eta = args.early_stop, args.eta
    if args.suite is not None:
        options = {k: getattr(args, k) for k in ("steps", "epochs") if getattr(args, k)}
    elif args.problem is None:  # --out DIR --resume
        from descentlab.sweep.store import SweepStore

        if SweepStore(out).read_manifest() is None:
            raise UsageError(f"--resume: {out} holds no sweep to resume (no sweep.json)")
    else:
        names = _names(args.optimizers or SWEEP_OPTIMIZERS, "--optimizers")
        optimizers = [OPTIMIZERS.resolve(n) for n in names]
        grid = _sweep_grid(args, optimizers)
        problem = _sweep_problem(args)
    if args.backend == "ray":
        _check_ray()

    from descentlab.sweep import sweep
    from descentlab.sweep.progress import SweepProgress

    progress = SweepProgress(style="off" if args.quiet or args.json else "auto")
    try:
        result = sweep(
            problem,
            optimizers=optimizers,
            grid=grid,
            seeds=args.seeds or 3,
            seed=args.seed or 0,
            search=args.search or "grid",
            suite=args.suite,
            backend=args.backend,
            workers=args.workers,
            address=args.address,
            out=out,
            resume=args.resume,
            early_stop=early_stop,
            eta=eta or 3,
            report=not args.no_report,
            on_start=progress.on_start,
            on_record=progress.on_record,
            on_error=progress.on_error,
            **options,
        )
    except KeyboardInterrupt:
        return _sweep_interrupted(args, out, progress)
    except ImportError as exc:
        if exc.name == "ray":
            raise UsageError(NEEDS_RAY) from None
        raise
    finally:
        progress.close()

    if args.json:
        _print_json(_sweep_json(result), "ok" if not result.failures else "trials failed")
    elif not args.quiet:
        print(result.table())
        written = [out / "trials.jsonl", out / "summary.json"]
        written += [result.report] if result.report is not None else []
        print(f"{len(result)} trials; wrote {', '.join(map(str, written))}")
    if result.failures:
        key, error = result.failures[0]
        print(
            f"descentlab: {len(result.failures)} trials raised an error and were not saved "
            f"(first: {key}: {error}); rerun them with: "
            f"{_sweep_resume_command(args.argv, out, args.out is not None)}",
            file=sys.stderr,
        )
        return 1
    return 0


# ------------------------------------------------------------------ surface
#: learning rates that train the digits MLP in a few epochs where the registry's default
#: (PyTorch's, for SGD 1e-3) would barely move it
SURFACE_LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05}


def _surface_lrs(args: argparse.Namespace, optimizers: list[str]) -> list[float]:
    if args.lr is None:
        return [
            float(SURFACE_LR.get(o, OPTIMIZERS[o].hyperparameters["lr"].default))  # type: ignore[arg-type]
            for o in optimizers
        ]
    lrs = _floats(args.lr, "--lr", positive=True)
    if len(lrs) == 1:
        return lrs * len(optimizers)
    if len(lrs) != len(optimizers):
        raise UsageError(
            f"--lr gives {len(lrs)} learning rates for {len(optimizers)} optimizers; give one "
            "for all or one per optimizer"
        )
    return lrs


def cmd_surface(args: argparse.Namespace) -> int:
    out = check_output(args.out, "--out", folder=True)
    optimizers = [_optimizer_name_or_usage(n) for n in _names(args.optimizer, "--optimizers")]
    if len(set(optimizers)) != len(optimizers):
        raise UsageError(f"--optimizers names an optimizer twice: {args.optimizer}")
    hidden = _ints(args.hidden, "--hidden") if args.hidden else []
    if any(h <= 0 for h in hidden):
        raise UsageError(f"--hidden sizes must be positive, got {args.hidden!r}")
    if args.grid < 3:
        raise UsageError(f"--grid must be at least 3 points per axis, got {args.grid}")
    lrs = _surface_lrs(args, optimizers)

    from descentlab import data, landscapes, nn
    from descentlab.landscapes.network import flat_weights, set_flat_weights
    from descentlab.train import evaluate, fit
    from descentlab.train.callbacks import SharpnessTracker, WeightSnapshots
    from descentlab.viz import network as pictures

    bundle = data.load(args.data, seed=args.seed)
    if bundle.kind != "classification":
        raise UsageError(f"surface needs a classification data set, got {bundle.name!r}")
    nn.manual_seed(args.seed)
    init = flat_weights(_build_model(args, bundle, hidden))
    sample = (bundle.train, args.samples, args.seed)
    started = time.perf_counter()
    runs: dict[str, dict[str, Any]] = {}
    for name, lr in zip(optimizers, lrs):
        nn.manual_seed(args.seed)
        model = _build_model(args, bundle, hidden)
        set_flat_weights(model, init)  # the same start for every optimizer
        snaps = WeightSnapshots("epoch")
        sharp = SharpnessTracker(bundle.train, batch=args.samples, seed=args.seed)
        history = fit(
            model,
            bundle.train,
            bundle.val,
            optimizer={"name": name, "lr": lr},
            epochs=args.epochs,
            batch_size=args.batch_size,
            regularizer=nn.penalty(0.0, args.l2),
            callbacks=[snaps, sharp],
            seed=args.seed,
            progress=False,
        )
        f = landscapes.of_model(
            model, sample[0], directions="pca", path=snaps, batch=sample[1], seed=sample[2]
        )
        test = evaluate(model, bundle.test) if bundle.test is not None else {}
        runs[name] = {
            "model": model,
            "history": history,
            "f": f,
            "sharpness": sharp,
            "lr": lr,
            "test": test,
        }
        if not args.quiet:
            print(
                f"{name}: lr {lr:g}, train loss {history.last['train_loss']:.4f}, "
                f"lambda_max {sharp.values[-1]:.4g} (2/eta = {2 / lr:.4g})"
            )
    curves = {
        f"{name} init → solution": landscapes.interpolate(
            r["model"], init, flat_weights(r["model"]), sample[0], batch=sample[1], seed=sample[2]
        )
        for name, r in runs.items()
    }
    names = list(runs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            curves[f"{a} → {b}"] = landscapes.interpolate(
                runs[a]["model"],
                flat_weights(runs[a]["model"]),
                flat_weights(runs[b]["model"]),
                sample[0],
                batch=sample[1],
                seed=sample[2],
            )
    out.mkdir(parents=True, exist_ok=True)
    figures = {
        "The loss around each solution on the plane of its training path's two principal "
        "directions (PCA, Li et al. 2018); axes give the share of the path's variance": out
        / "landscape.png",
        "Loss and accuracy on straight lines: from the common initialization to each "
        "solution, and between solutions (Goodfellow et al. 2015)": out / "interpolation.png",
        "Sharpness (top Hessian eigenvalue) during training, against the stability limit "
        "2/η of gradient descent (Cohen et al. 2021)": out / "sharpness.png",
    }
    paths = list(figures.values())
    pictures.plot_network_landscape(
        {n: r["f"] for n, r in runs.items()}, resolution=args.grid, out=paths[0]
    )
    pictures.plot_interpolation(curves, out=paths[1], ends=("start", "end"))
    pictures.plot_sharpness({n: r["sharpness"] for n, r in runs.items()}, out=paths[2])
    table = {
        name: {
            "lr": r["lr"],
            "train loss": r["history"].last["train_loss"],
            "val accuracy": r["history"].last["val_accuracy"],
            "test accuracy": r["test"].get("accuracy", float("nan")),
            "λ_max": r["sharpness"].values[-1],
            "2/η": 2 / r["lr"],
            "PCA variance": f"{100 * r['f'].explained_variance.sum():.1f}%",
        }
        for name, r in runs.items()
    }
    intro = (
        f"An MLP {'-'.join(map(str, [bundle.num_features, *hidden, bundle.num_classes]))} on "
        f"{bundle.name}, {args.epochs} epochs, batch size {args.batch_size}, L2 {args.l2:g}, "
        f"dropout {args.dropout:g}, seed {args.seed}; every optimizer starts from the same "
        f"weights. Landscapes, lines and sharpness use {f.samples} training samples."
    )
    index = pictures.surface_report(out, figures, table, title="Loss landscapes", intro=intro)
    if not args.quiet:
        print(
            f"wrote {', '.join(p.name for p in paths)} and {index} in "
            f"{time.perf_counter() - started:.1f} s"
        )
    return 0


def _optimizer_name_or_usage(text: str) -> str:
    try:
        return OPTIMIZERS.resolve(text)
    except ValueError as err:
        raise UsageError(str(err)) from None


def cmd_gallery(args: argparse.Namespace) -> int:
    check_output(args.directory, "DIRECTORY", folder=True)
    if args.markdown:
        check_output(args.markdown, "--markdown")
    from descentlab import viz

    paths = viz.gallery(args.directory, quick=args.quick, markdown=args.markdown)
    print(f"wrote {len(paths)} files to {args.directory}")
    return 0


# ------------------------------------------------------------------ listings
def cmd_functions(args: argparse.Namespace) -> int:
    from descentlab import landscapes

    rows = [
        [spec.name, spec.dims, spec.formula, spec.description]
        for spec in landscapes.REGISTRY.values()
    ]
    _print_table(rows, ["name", "D", "f", "description"])
    print('\nor any formula in x and y, e.g. descentlab minimize "x**2 + 3*sin(y)"')
    return 0


def _bounds(hp: Any) -> str:
    """`` in [0, 1)``-style text for a hyperparameter's hard bounds (either may be open or absent)."""
    low, high = getattr(hp, "low", None), getattr(hp, "high", None)
    if low is None and high is None:
        return ""
    left = "(" if getattr(hp, "low_open", False) or low is None else "["
    right = ")" if getattr(hp, "high_open", False) or high is None else "]"
    return (
        f" in {left}{'-inf' if low is None else f'{low:g}'}, "
        f"{'inf' if high is None else f'{high:g}'}{right}"
    )


def cmd_optimizers(args: argparse.Namespace) -> int:
    for spec in OPTIMIZERS.values():
        print(f"{spec.name}: {spec.summary}")
        for hp in spec.hyperparameters.values():
            rng = _bounds(hp)
            print(
                f"    --{hp.name.replace('_', '-'):<26} {hp.type:<6} default {hp.default!r}{rng}"
                f"  {hp.help}"
            )
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
    check_output(args.out, "--out", folder=True)
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
    p.add_argument(
        "--data",
        default="digits",
        help="digits | mnist:DIR | fashion-mnist:DIR | moons | circles | spirals | "
        "xor | blobs | line | polynomial | FILE.npz (default: digits)",
    )
    p.add_argument("--hidden", default="256,128", help="hidden layer sizes (default: 256,128)")
    p.add_argument(
        "--activation",
        default="relu",
        choices=ACTIVATIONS,
        help="activation of the hidden layers",
    )
    p.add_argument(
        "--optimizer",
        "--optimizers",
        dest="optimizer",
        default="adam",
        type=_optimizer_name,
        choices=list(OPTIMIZERS),
        metavar="NAME",
        help=f"optimizer, one of: {_optimizer_list()} (default: adam)",
    )
    p.add_argument(
        "--lr",
        type=_positive(float),
        default=None,
        help="learning rate eta (default: the optimizer's)",
    )
    p.add_argument("--batch-size", type=_positive(int), default=32, help="samples per step")
    p.add_argument("--epochs", type=_positive(int), default=40, help="passes over the data")
    p.add_argument("--l1", type=_nonnegative_float, default=0.0, help="L1 penalty lambda")
    p.add_argument("--l2", type=_nonnegative_float, default=0.0, help="L2 penalty lambda")
    p.add_argument(
        "--dropout",
        type=_probability,
        default=0.2,
        help="dropout probability after each hidden layer (default: 0.2)",
    )
    from descentlab.optim.lr_scheduler import schedule_help  # loaded with optim.registry

    p.add_argument(
        "--schedule", default=None, metavar="NAME[:KEY=VALUE,...]", help=schedule_help(default=None)
    )
    p.add_argument(
        "--grad-clip",
        type=_positive(float),
        default=None,
        help="clip the gradient's norm to this before each step (default: no clipping)",
    )
    p.add_argument(
        "--patience",
        type=_nonnegative(int),
        default=None,
        help="early stopping: stop after this many epochs without improvement",
    )
    p.add_argument(
        "--tol",
        type=_positive(float),
        default=None,
        help="stop when the full gradient norm is below this",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seeds the weights, the shuffling and dropout"
    )
    p.add_argument(
        "--save",
        default=None,
        help="write the model to this .npz (and a checkpoint beside it, "
        "NAME.ckpt.npz, unless --checkpoint is given)",
    )
    p.add_argument(
        "--checkpoint",
        default=None,
        help="write a resumable checkpoint .npz here after every epoch",
    )
    p.add_argument(
        "--resume",
        default=None,
        help="continue from a checkpoint .npz (same options as the run that made it)."
        " Ctrl-C writes one (beside --save/--checkpoint, else in "
        f"./{RUNS_FOLDER}/TIME/) and prints the command that resumes",
    )
    p.add_argument("--plot", default=None, help="write training curves (PNG/SVG)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    _add_optimizer_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a saved model")
    p.add_argument("model", help="a model .npz written by train --save")
    p.add_argument("--data", default="digits", help="the data set the model was trained on")
    p.add_argument(
        "--split", default="test", choices=["train", "val", "test"], help="which part to score"
    )
    p.add_argument("--seed", type=int, default=0, help="the seed of the train/val/test split")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("minimize", help="run optimizers on a test function or formula")
    p.add_argument("function", help="a name from `descentlab functions` or a formula in x, y")
    p.add_argument(
        "--optimizer",
        "--optimizers",
        dest="optimizer",
        default="sgd",
        metavar="NAMES",
        help=f"one or more, comma-separated, of: {_optimizer_list()} (default: sgd)",
    )
    p.add_argument("--lr", default=None, help="one or more learning rates, comma-separated")
    p.add_argument("--start", default=None, help="start point, e.g. 1.5,1.5")
    p.add_argument("--dim", type=_positive(int), default=None, help="dimension (n-D functions)")
    p.add_argument("--steps", type=_positive(int), default=1000, help="the most steps")
    p.add_argument("--tol", type=_positive(float), default=1e-6, help="stop when |grad f| < tol")
    p.add_argument(
        "--batch-size",
        type=_positive(int),
        default=None,
        help="mini-batch size on a finite-sum problem (default: the full batch)",
    )
    p.add_argument(
        "--grad-noise",
        type=_nonnegative_float,
        default=0.0,
        help="standard deviation of Gaussian noise added to each gradient",
    )
    p.add_argument("--seed", type=int, default=0, help="seeds the batches and the noise")
    p.add_argument("--plot", default=None, help="write the paths on the contours")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _add_optimizer_options(p)
    p.set_defaults(func=cmd_minimize)

    p = sub.add_parser("race", help="animate optimizers racing on a surface")
    p.add_argument(
        "function",
        nargs="?",
        default="beale",
        help="a name from `descentlab functions` or a formula in x, y",
    )
    p.add_argument(
        "--optimizers",
        "--optimizer",
        dest="optimizers",
        default="sgd,momentum,nesterov,adagrad,adadelta,rmsprop,adam",
        metavar="NAMES",
        help=f"comma-separated, of: {_optimizer_list()} "
        "(default: sgd,momentum,nesterov,adagrad,adadelta,rmsprop,adam)",
    )
    p.add_argument(
        "--lr",
        default=None,
        help="learning rate for every optimizer, or one per optimizer, "
        "comma-separated (default: the classic race's per-optimizer rates)",
    )
    p.add_argument(
        "--start", default=None, help="start point, e.g. 1.5,1.5 (default: the function's own)"
    )
    p.add_argument("--steps", type=_positive(int), default=300, help="steps of each optimizer")
    p.add_argument(
        "--tol", type=_positive(float), default=1e-6, help="a path stops when |grad f| < tol"
    )
    p.add_argument("--fps", type=_positive(int), default=20, help="frames per second")
    p.add_argument("--seed", type=int, default=0, help="seeds any gradient noise")
    p.add_argument(
        "--set",
        action="append",
        metavar="OPT.NAME=VALUE",
        help="a hyperparameter of one optimizer, e.g. --set adam.lr=0.1",
    )
    p.add_argument(
        "--out",
        default=None,
        help=f"GIF or MP4 file (default: ./{RUNS_FOLDER}/race-TIME/{RACE_FILE}, a new "
        "folder per race)",
    )
    _add_optimizer_options(p)
    p.set_defaults(func=cmd_race)

    p = sub.add_parser("plot", help="draw one of the lecture's figures")
    p.add_argument(
        "kind",
        choices=["lr-sweep", "basins", "gd-vs-sgd", "landscape"],
        help="which of the lecture's figures",
    )
    p.add_argument(
        "function",
        nargs="?",
        default=None,
        help="a test function or formula (default: the figure's own)",
    )
    p.add_argument("--lrs", default=None, help="learning rates for lr-sweep")
    p.add_argument(
        "--optimizers",
        "--optimizer",
        dest="optimizers",
        default=None,
        metavar="NAMES",
        help=f"paths to draw on a landscape, comma-separated, of: {_optimizer_list()}",
    )
    p.add_argument(
        "--start", default=None, help="start point, e.g. 1.5,1.5 (default: the function's own)"
    )
    p.add_argument(
        "--steps", type=_positive(int), default=None, help="steps (default: the figure's own)"
    )
    p.add_argument("--out", required=True, help="PNG, SVG, GIF or MP4 file")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser(
        "sweep",
        help="compare optimizers fairly: each tuned on its own grid, each setting over seeds",
        description="Run every optimizer with every setting of its grid over several seeds on "
        "a landscape, a formula or a data set (or a built-in --suite), in parallel; write each "
        "finished trial to OUT/trials.jsonl as it finishes, then OUT/summary.json and "
        "OUT/report.html, and print each optimizer's best setting with mean +- std over seeds.",
        epilog="Exit status: 0 done; 1 some trials raised an error (they are not saved; "
        "--resume runs them again); 2 a usage error; 130 interrupted (the finished trials "
        "are saved; the command to resume is printed).",
    )
    p.add_argument(
        "problem",
        nargs="?",
        default=None,
        help="a test function (descentlab functions), a formula in x, y, or a data set "
        "(descentlab datasets); none with --suite or with --out DIR --resume",
    )
    p.add_argument(
        "--suite",
        default=None,
        metavar="NAME",
        help="a built-in comparison instead of a problem: lecture (the lecture's claims: "
        "GD vs momentum vs Nesterov, noise at a saddle, adaptive methods, the digits MLP "
        "with and without dropout/L2) or lecture-quick (the same, in seconds) (default: none)",
    )
    p.add_argument(
        "--optimizers",
        "--optimizer",
        dest="optimizers",
        default=None,
        metavar="NAMES",
        help=f"comma-separated, of: {_optimizer_list()} (default: {SWEEP_OPTIMIZERS})",
    )
    p.add_argument(
        "--lr",
        default=None,
        metavar="VALUES",
        help=f"learning rates eta: LOW:HIGH:N (N log-spaced values) or a,b,c (default: {SWEEP_LR})",
    )
    p.add_argument(
        "--search",
        default=None,
        metavar="grid|random:N",
        help="every setting of the grid, or N settings per optimizer drawn from it "
        "(log-uniform for ranges) (default: grid)",
    )
    p.add_argument(
        "--seeds",
        type=_positive(int),
        default=None,
        help="replicates of every setting, each its own start points, weights and batches "
        "(default: 3)",
    )
    p.add_argument(
        "--seed", type=int, default=None, help="the seed of the whole sweep (default: 0)"
    )
    p.add_argument(
        "--early-stop",
        choices=["asha"],
        default=None,
        help="stop hopeless settings early with asynchronous successive halving "
        "(default: none, every trial runs its full budget)",
    )
    p.add_argument(
        "--eta",
        type=_positive(int),
        default=None,
        help="ASHA's factor: the top 1/eta of a rung go on with eta times the budget (default: 3)",
    )
    group = p.add_argument_group("a landscape or formula")
    group.add_argument(
        "--steps", type=_positive(int), default=None, help="steps of each run (default: 500)"
    )
    group.add_argument(
        "--tol",
        type=_nonnegative_float,
        default=None,
        help="stop a run when the gradient norm is below this (default: 1e-6)",
    )
    group.add_argument(
        "--start", default=None, metavar="X,Y", help="one start point (default: --starts)"
    )
    group.add_argument(
        "--starts",
        default=None,
        metavar="random:K|grid:K",
        help="K random start points per seed, or a K x K grid; a trial's loss is the mean "
        "over its starts (default: random:4)",
    )
    group.add_argument(
        "--dim",
        type=_positive(int),
        default=None,
        help="dimension of n-D functions (default: the function's own)",
    )
    group.add_argument(
        "--grad-noise",
        type=_nonnegative_float,
        default=None,
        help="standard deviation of Gaussian noise added to each gradient (default: 0)",
    )
    group = p.add_argument_group("a data set (an MLP trained as by 'descentlab train')")
    group.add_argument(
        "--epochs", type=_positive(int), default=None, help="epochs of each run (default: 10)"
    )
    group.add_argument("--hidden", default=None, help="hidden layer sizes (default: 64)")
    group.add_argument(
        "--activation",
        default=None,
        choices=ACTIVATIONS,
        help="activation of the hidden layers (default: relu)",
    )
    group.add_argument(
        "--dropout",
        type=_probability,
        default=None,
        help="dropout probability after each hidden layer (default: 0)",
    )
    group.add_argument(
        "--l1", type=_nonnegative_float, default=None, help="L1 penalty lambda (default: 0)"
    )
    group.add_argument(
        "--l2", type=_nonnegative_float, default=None, help="L2 penalty lambda (default: 0)"
    )
    group = p.add_argument_group("either")
    group.add_argument(
        "--batch-size",
        type=_positive(int),
        default=None,
        help="mini-batch size (default: 32 on a data set; the full batch on a landscape)",
    )
    group.add_argument(
        "--target",
        type=_finite_float,
        default=None,
        help="what counts as reached, for steps to target: a loss on a landscape (default: "
        "its minimum + 1e-3, if known), a validation accuracy on a data set (default: none)",
    )
    group = p.add_argument_group("where it runs and what it writes")
    group.add_argument(
        "--backend",
        choices=["local", "serial", "ray"],
        default="local",
        help="local: a pool of processes on this machine; serial: in this process; ray: a "
        "Ray cluster, see docs/cluster.md (default: local)",
    )
    group.add_argument(
        "--workers",
        type=_positive(int),
        default=None,
        help="processes of the local backend (default: one per core)",
    )
    group.add_argument(
        "--address",
        default=None,
        help="the Ray cluster: auto or HOST:PORT (default: a Ray runtime on this machine)",
    )
    group.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="the sweep's folder: sweep.json, trials.jsonl (one line per finished trial), "
        f"summary.json, report.html (default: ./{SWEEPS_FOLDER}/TIME/)",
    )
    group.add_argument(
        "--resume",
        action="store_true",
        help="finish the interrupted sweep in --out: the same command with --resume, or "
        "just --out DIR --resume (default: refuse a folder that holds a sweep)",
    )
    group.add_argument(
        "--no-report",
        action="store_true",
        help="do not write report.html (default: write it)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: each optimizer's best setting, the counts, the files "
        "(default: a table)",
    )
    group.add_argument(
        "--quiet",
        action="store_true",
        help="no progress and no table (default: a progress bar on a terminal, plain lines "
        "otherwise)",
    )
    _add_optimizer_options(p, sweep=True)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "surface", help="train with several optimizers and draw the loss landscapes they reach"
    )
    p.add_argument(
        "--data", default="digits", help="a classification data set (see 'descentlab datasets')"
    )
    p.add_argument("--hidden", default="64", help="hidden layer sizes, comma-separated")
    p.add_argument(
        "--optimizer",
        "--optimizers",
        dest="optimizer",
        default="sgd,adam",
        metavar="NAMES",
        help=f"optimizers to compare, comma-separated, from: {_optimizer_list()}",
    )
    p.add_argument("--epochs", type=_positive(int), default=10, help="passes over the data")
    p.add_argument(
        "--lr",
        default=None,
        help="learning rate eta: one for all optimizers or one per optimizer (a,b) "
        "(default: 0.1 for sgd, 0.05 for momentum and nesterov, else the optimizer's)",
    )
    p.add_argument("--batch-size", type=_positive(int), default=32, help="samples per step")
    p.add_argument("--l2", type=_nonnegative_float, default=0.0, help="L2 penalty lambda")
    p.add_argument(
        "--dropout", type=_probability, default=0.0, help="dropout after each hidden layer"
    )
    p.add_argument(
        "--activation", default="relu", choices=ACTIVATIONS, help="activation of the hidden layers"
    )
    p.add_argument("--seed", type=int, default=0, help="seeds the weights, shuffling and samples")
    p.add_argument(
        "--grid", type=_positive(int), default=41, help="points per axis of each contour plot"
    )
    p.add_argument(
        "--samples",
        type=_positive(int),
        default=1000,
        help="training samples for the landscapes, lines and sharpness",
    )
    p.add_argument("--out", default="surface", help="folder for the figures and index.html")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_surface)

    p = sub.add_parser("gallery", help="draw every figure into a folder with a gallery.md")
    p.add_argument("directory", help="the folder to draw into")
    p.add_argument("--quick", action="store_true", help="tiny runs, for CI")
    p.add_argument(
        "--markdown",
        default=None,
        help="where to write the markdown page (default: DIRECTORY/gallery.md); "
        "docs/gallery.md is made by: descentlab gallery docs/gallery "
        "--markdown docs/gallery.md",
    )
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
    p.add_argument("--host", default="127.0.0.1", help="the address to serve on")
    p.add_argument("--port", type=int, default=8000, help="the port to serve on")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.set_defaults(func=cmd_playground)
    return parser


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        target = f"{exc.filename} -> {exc.filename2}" if exc.filename2 else str(exc.filename)
        message = f"{target}: {exc.strerror}"
    elif isinstance(exc, ImportError) and exc.name:
        message = f"this needs the package {exc.name}, which is not installed: {exc}"
    else:
        message = str(exc)
    return " ".join(message.split()) or type(exc).__name__


def _is_user_error(exc: BaseException) -> bool:
    """Mistakes a user can make; anything else (TypeError, KeyError, ...) is a bug."""
    if isinstance(exc, ImportError):  # an optional dependency, not one of ours
        return exc.name is not None and not exc.name.startswith("descentlab")
    return isinstance(exc, (UsageError, ValueError, OSError))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``descentlab`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    args.argv = argv
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("descentlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (``descentlab optimizers | head``)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # killed by SIGPIPE, as a shell reports it
    except Exception as exc:
        if not _is_user_error(exc) or os.environ.get("DESCENTLAB_DEBUG"):
            raise
        print(f"descentlab: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

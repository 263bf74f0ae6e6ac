"""The data-set registry: every data set by name, with its hyperparameters.

The CLI's ``--data`` choices, the playground's data menu and the tests read
:data:`DATASETS`; :func:`load` turns a spec string into a :class:`DataBundle`
of train / validation / test splits.

A spec string is a name, optionally followed by ``:`` and comma-separated
``key=value`` options and, for data read from disk, a path:
``"moons:n=500,noise=0.2"``, ``"mnist"`` (downloaded and cached on first use),
``"mnist:DIR"``, ``"mnist:DIR,flatten=false"``, ``"path/to/file.npz"``. Options are
the data set's hyperparameters; their ``low``/``high`` are hard bounds, and an
unknown option or a value out of range raises ``ValueError`` naming the allowed ones.
"""

from __future__ import annotations

import inspect
import math
import numbers
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from descentlab.data.digits import load_digits
from descentlab.data.idx import FASHION_MNIST_CLASSES, load_fashion_mnist, load_mnist
from descentlab.data.npz import load_npz
from descentlab.data.preprocess import train_val_test_split
from descentlab.data.regression import make_line, make_polynomial
from descentlab.data.toy2d import make_blobs, make_circles, make_moons, make_spirals, make_xor
from descentlab.spec import Entry, HyperParam, Registry, from_text

__all__ = ["ALIASES", "DATASETS", "DataBundle", "DatasetSpec", "HyperParam", "get", "load"]

Pair = tuple[np.ndarray, np.ndarray]


class DatasetSpec(Entry[Any]):
    """A registered data set.

    ``loader`` is the public function that makes or reads it. It returns ``(X, y)``
    for a single pool of samples, or ``((X_train, y_train), (X_test, y_test) | None)``
    for data that come with an official split. ``kind`` is ``"classification"`` or
    ``"regression"``. ``needs_path`` marks sets that are read from a file or
    directory (the part after ``name:`` in a spec string); ``path_optional`` marks
    those that have a default place (MNIST's data cache).
    """

    def __init__(
        self,
        name: str,
        kind: str,
        summary: str,
        loader: Callable[..., Any],
        hyperparameters: dict[str, HyperParam] | None = None,
        aliases: tuple[str, ...] = (),
        needs_path: str | None = None,
        class_names: tuple[str, ...] | None = None,
        path_optional: bool = False,
    ) -> None:
        super().__init__(
            name,
            loader,
            (hyperparameters or {}).values(),
            summary,
            label="data set",
            noun="option",
        )
        self.kind = kind
        self.loader = loader
        self.aliases = aliases
        self.needs_path = needs_path
        self.class_names = class_names
        self.path_optional = path_optional


@dataclass
class DataBundle:
    """Train / validation / test splits of one data set, ready for a DataLoader.

    ``val`` (or ``test``) is None when its fraction is 0. ``num_classes`` is None for
    regression; ``num_features`` is the size of one flattened sample.
    """

    train: Pair
    val: Pair | None
    test: Pair | None
    name: str
    kind: str
    num_classes: int | None
    num_features: int
    class_names: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{split}={0 if pair is None else len(pair[0])}"
            for split, pair in (("train", self.train), ("val", self.val), ("test", self.test))
        )
        return (
            f"DataBundle(name={self.name!r}, kind={self.kind!r}, {sizes}, "
            f"num_features={self.num_features}, num_classes={self.num_classes})"
        )


def _n(default: int, high: int = 100_000) -> HyperParam:
    return HyperParam("n", "int", default, 2, high, True, "number of samples generated")


def _noise(default: float, high: float = 1.0) -> HyperParam:
    return HyperParam(
        "noise", "float", default, 0.0, high, False, "standard deviation of the Gaussian noise"
    )


def _flatten() -> HyperParam:
    return HyperParam("flatten", "bool", True, help="flatten images to vectors (n, h*w)")


def _params(*items: HyperParam) -> dict[str, HyperParam]:
    return {p.name: p for p in items}


_DIGIT_NAMES = tuple(str(d) for d in range(10))

_SPECS = [
    DatasetSpec(
        "moons",
        "classification",
        "two interleaving half circles (2 classes, 2-D)",
        make_moons,
        _params(_n(200), _noise(0.1)),
        aliases=("moon",),
    ),
    DatasetSpec(
        "circles",
        "classification",
        "a circle inside a circle (2 classes, 2-D)",
        make_circles,
        _params(
            _n(200),
            _noise(0.1),
            HyperParam("factor", "float", 0.5, 0.05, 0.95, False, "inner radius / outer radius"),
        ),
        aliases=("circle",),
    ),
    DatasetSpec(
        "spirals",
        "classification",
        "interleaved spiral arms, one class per arm (2-D)",
        make_spirals,
        _params(
            _n(300),
            _noise(0.05),
            HyperParam("classes", "int", 3, 2, 10, False, "number of arms (classes)"),
        ),
        aliases=("spiral",),
    ),
    DatasetSpec(
        "xor",
        "classification",
        "the XOR quadrants (2 classes, 2-D)",
        make_xor,
        _params(_n(200), _noise(0.1)),
    ),
    DatasetSpec(
        "blobs",
        "classification",
        "Gaussian clusters around points on a circle (2-D)",
        make_blobs,
        _params(
            _n(200),
            _noise(0.25, high=2.0),
            HyperParam("centers", "int", 3, 2, 10, False, "number of clusters (classes)"),
        ),
        aliases=("gaussians",),
    ),
    DatasetSpec(
        "digits",
        "classification",
        "scikit-learn's 8x8 handwritten digits, 1797 images",
        load_digits,
        _params(_flatten()),
        class_names=_DIGIT_NAMES,
    ),
    DatasetSpec(
        "line",
        "regression",
        "a few noisy samples of a line (overfitting demo, 1-D)",
        make_line,
        _params(
            HyperParam("n", "int", 8, 1, 10_000, True, "number of samples"),
            _noise(0.1),
            HyperParam("slope", "float", 0.5, -5.0, 5.0, False, "slope of the line"),
            HyperParam("intercept", "float", 0.2, -5.0, 5.0, False, "intercept of the line"),
        ),
    ),
    DatasetSpec(
        "polynomial",
        "regression",
        "noisy samples of a cubic x^3 - x (1-D)",
        make_polynomial,
        _params(HyperParam("n", "int", 50, 1, 100_000, True, "number of samples"), _noise(0.1)),
        aliases=("poly",),
    ),
    DatasetSpec(
        "mnist",
        "classification",
        "MNIST handwritten digits 28x28 (downloaded and cached on first use, or mnist:DIR)",
        load_mnist,
        _params(_flatten()),
        needs_path="directory",
        class_names=_DIGIT_NAMES,
        path_optional=True,
    ),
    DatasetSpec(
        "fashion-mnist",
        "classification",
        "Fashion-MNIST clothing images 28x28 (downloaded and cached on first use, or "
        "fashion-mnist:DIR)",
        load_fashion_mnist,
        _params(_flatten()),
        aliases=("fashion_mnist", "fashion"),
        needs_path="directory",
        class_names=FASHION_MNIST_CLASSES,
        path_optional=True,
    ),
    DatasetSpec(
        "npz",
        "classification",
        "your own arrays in an .npz file (path/to/file.npz)",
        load_npz,
        _params(_flatten()),
        needs_path="path",
    ),
]

#: name -> DatasetSpec, in menu order (names compared case-insensitively).
DATASETS: Registry[DatasetSpec] = Registry("data set", normalize=lambda name: name.strip().lower())
for _spec in _SPECS:
    DATASETS.register(_spec, aliases=_spec.aliases)
#: alternative name -> registered name.
ALIASES: Mapping[str, str] = DATASETS.aliases


def _valid_names() -> str:
    names = list(DATASETS) + sorted(ALIASES)
    return (
        ", ".join(names) + ", name:key=value,... (e.g. moons:n=500,noise=0.2), mnist:DIR, "
        "fashion-mnist:DIR, path/to/file.npz"
    )


def get(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` registered under ``name`` or one of its aliases."""
    if not isinstance(name, str):
        raise TypeError(f"data set name must be a string, got {name!r}")
    if not DATASETS.knows(name):
        raise ValueError(f"unknown data set {name!r}; valid names: {_valid_names()}")
    return DATASETS.get(name)


_OPTION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")


def _describe(hp: HyperParam) -> str:
    if hp.type == "bool":
        return f"{hp.name} (true/false, default {str(hp.default).lower()})"
    if hp.low is not None and hp.high is not None:
        return f"{hp.name} ({hp.type} in [{hp.low:g}, {hp.high:g}], default {hp.default})"
    return f"{hp.name} ({hp.type}, default {hp.default})"


def _allowed(dataset: DatasetSpec) -> str:
    if not dataset.hyperparameters:
        return f"data set {dataset.name!r} takes no options"
    options = ", ".join(_describe(hp) for hp in dataset.hyperparameters.values())
    example = ",".join(
        f"{k}={str(v.default).lower() if v.type == 'bool' else v.default}"
        for k, v in dataset.hyperparameters.items()
    )
    return (
        f"data set {dataset.name!r} takes the options {options}, written {dataset.name}:{example}"
    )


def _parse(spec: str) -> tuple[DatasetSpec, str | None, dict[str, str]]:
    """Split a spec string into the data set, its path (if any) and its ``key=value`` options."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"data set spec must be a non-empty string, got {spec!r}")
    text = spec.strip()
    if text.lower().endswith(".npz"):
        if text.lower().startswith("npz:"):
            text = text[4:]
        return DATASETS["npz"], text, {}
    name, sep, rest = text.partition(":")
    if not (sep and len(name) > 1):  # a one-letter "name" is a Windows drive
        name, rest = text, ""
    try:
        dataset = get(name)
    except ValueError:
        raise ValueError(
            f"unknown data set {name.strip()!r} in {spec!r}; valid names: {_valid_names()}"
        ) from None
    items = rest.split(",") if rest.strip() else []
    options: dict[str, str] = {}
    while items and _OPTION.match(items[-1]):  # options come last: DIR,key=value,...
        key, value = _OPTION.match(items.pop()).groups()  # type: ignore[union-attr]
        if key in options:
            raise ValueError(f"option {key!r} is given twice in data spec {spec!r}")
        options[key] = value.strip()
    path = ",".join(items).strip() or None
    if path is not None and dataset.needs_path is None:
        raise ValueError(f"unknown option {path!r} in data spec {spec!r}; {_allowed(dataset)}")
    unknown = [key for key in options if key not in dataset.hyperparameters]
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} in data spec {spec!r}; "
            f"{_allowed(dataset)}"
        )
    return dataset, path, options


def _out_of_range(dataset: DatasetSpec, hp: HyperParam, value: object) -> ValueError:
    article = "an" if hp.type == "int" else "a"
    return ValueError(
        f"{hp.name} must be {article} {hp.type} in [{hp.low:g}, {hp.high:g}] for data set "
        f"{dataset.name!r}, got {value!r}"
    )


def _convert(dataset: DatasetSpec, hp: HyperParam, text: str) -> Any:
    """A spec string's option value as the hyperparameter's type (its bounds are checked
    with the other options, in :func:`_check_params`)."""
    try:
        value = from_text(hp, text)
        if hp.type == "float" and not math.isfinite(cast(float, value)):
            raise ValueError
    except ValueError:
        kind = {"bool": "true or false", "int": "an integer", "float": "a finite number"}.get(
            hp.type, hp.expectation()
        )
        raise ValueError(
            f"option {hp.name}={text!r} of data set {dataset.name!r} must be {kind}"
        ) from None
    return value


def _check_params(spec: DatasetSpec, params: dict[str, Any]) -> None:
    signature = inspect.signature(spec.loader)
    accepted = [p for p in signature.parameters if p not in ("seed", "directory", "path", "kind")]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for data set {spec.name!r}; "
            f"expected some of: {', '.join(accepted) or '(none)'}"
        )
    for key, value in params.items():
        hp = spec.hyperparameters.get(key)
        if hp is None or hp.low is None or hp.high is None or hp.type not in ("int", "float"):
            continue
        numeric = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if hp.type == "int":
            numeric = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if not numeric:  # other types: the loader says why
            continue
        try:
            hp.check(value)
        except ValueError:
            raise _out_of_range(spec, hp, value) from None


def load(
    spec: str, *, seed: int | None = None, val: float = 0.1, test: float = 0.2, **params: Any
) -> DataBundle:
    """Load a data set by spec string and split it into train / validation / test.

    Specs: a registered name or alias (``"moons"``, ``"spiral"``, ``"gaussians"``,
    ``"digits"``, ``"line"``, ...), optionally with options (``"moons:n=500,noise=0.2"``);
    ``"mnist"`` and ``"fashion-mnist"`` (downloaded into the data cache on first use, see
    :mod:`descentlab.data.download`), ``"mnist:DIR"`` and ``"fashion-mnist:DIR"`` for a
    directory of IDX files, or ``"path/to/file.npz"``. ``params`` go to the generator or
    reader (e.g. ``n=500, noise=0.2``; ``directory=`` or ``path=`` instead of the ``:``
    part). Hyperparameters outside the registry's bounds (e.g. ``n=-1``) and unknown
    options raise ``ValueError`` naming the allowed ones.

    Splits: ``val`` and ``test`` are fractions, split stratified by class with ``seed``.
    Data with an official test set (MNIST, an npz with ``x_test``) keep it as the test
    split, ``test`` is then ignored, and ``val`` is taken from the training part.
    Generated sets are returned raw (not standardized); images are in [0, 1].

    ``seed`` fixes both the generated samples (``make_moons(seed=seed)`` and friends) and
    the split.
    """
    dataset, path, options = _parse(spec)
    params = dict(params)
    for key, text in options.items():
        if key in params:
            raise ValueError(
                f"{key} is given both in the data spec {spec!r} and as an argument; give it once"
            )
        params[key] = _convert(dataset, dataset.hyperparameters[key], text)
    if dataset.needs_path is not None:
        path = params.pop(dataset.needs_path, path)
        if path is None and not dataset.path_optional:
            raise ValueError(
                f"data set {dataset.name!r} needs a {dataset.needs_path}: use "
                f"'{dataset.name}:<{dataset.needs_path}>' or {dataset.needs_path}=..."
            )
    _check_params(dataset, params)

    signature = inspect.signature(dataset.loader)
    if "seed" in signature.parameters:
        params["seed"] = seed
    if dataset.needs_path is not None:
        where = None if path is None else Path(str(path)).expanduser()
        out = dataset.loader(where, **params)
    else:
        out = dataset.loader(**params)

    split_seed = None if seed is None else np.random.SeedSequence(seed, spawn_key=(1,))
    if isinstance(out[0], np.ndarray):
        X, y = out
        train, val_pair, test_pair = train_val_test_split(X, y, val=val, test=test, seed=split_seed)
    else:
        (X, y), test_pair = out
        if test_pair is None:
            train, val_pair, test_pair = train_val_test_split(
                X, y, val=val, test=test, seed=split_seed
            )
        else:
            train, val_pair, _ = train_val_test_split(X, y, val=val, test=0.0, seed=split_seed)

    y_all = [pair[1] for pair in (train, val_pair, test_pair) if pair is not None]
    kind = "classification" if train[1].dtype.kind in "iu" else "regression"
    num_classes = None
    class_names = dataset.class_names
    if kind == "classification":
        num_classes = int(max(int(y.max()) for y in y_all if len(y)) + 1)
        if dataset.needs_path == "path":
            class_names = None
        if class_names is not None:
            num_classes = max(num_classes, len(class_names))
    return DataBundle(
        train=train,
        val=val_pair,
        test=test_pair,
        name=dataset.name,
        kind=kind,
        num_classes=num_classes,
        num_features=int(np.prod(train[0].shape[1:], dtype=np.int64)),
        class_names=class_names,
    )

"""Types are part of the documentation: no ``Any`` in the public signatures of
``descentlab.optim`` (with ``lr_scheduler``) and ``descentlab.spec``.

Every public function, public method and ``__init__`` defined in those modules is
resolved with ``typing.get_type_hints`` (so an alias that hides ``Any`` is caught too),
and the generated constructors of the described optimizers are included.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

PACKAGES = ("descentlab.optim", "descentlab.spec")


def _modules(name: str) -> Iterator[ModuleType]:
    package = importlib.import_module(name)
    yield package
    if hasattr(package, "__path__"):
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            yield importlib.import_module(info.name)


def _public_functions() -> Iterator[tuple[str, Callable[..., object]]]:
    for package in PACKAGES:
        for module in _modules(package):
            for name, obj in vars(module).items():
                if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                    continue
                if inspect.isfunction(obj):
                    yield f"{module.__name__}.{name}", obj
                elif inspect.isclass(obj):
                    for attr, member in vars(obj).items():
                        if (not attr.startswith("_") or attr == "__init__") and inspect.isfunction(
                            member
                        ):
                            yield f"{module.__name__}.{name}.{attr}", member


def _mentions_any(hint: object) -> bool:
    if hint is typing.Any:
        return True
    return any(_mentions_any(arg) for arg in typing.get_args(hint))


def test_the_walk_finds_the_optimizers_and_the_spec_module() -> None:
    names = {name for name, _ in _public_functions()}
    assert "descentlab.optim.adam.Adam.__init__" in names  # a generated constructor
    assert "descentlab.optim.base.Optimizer.step" in names
    assert "descentlab.optim.lr_scheduler.base.LRScheduler.get_last_lr" in names
    assert "descentlab.spec.HyperParam.check" in names


@pytest.mark.parametrize("name, function", list(_public_functions()))
def test_public_signature_has_no_any(name: str, function: Callable[..., object]) -> None:
    hints = typing.get_type_hints(function)
    assert hints or name.endswith("__init__"), f"{name} has no annotations"
    offenders = {arg: hint for arg, hint in hints.items() if _mentions_any(hint)}
    assert not offenders, f"{name} mentions Any: {offenders}"


def test_the_any_check_would_catch_an_alias_hiding_any() -> None:
    Hidden = dict[str, typing.Any]

    def f(x: Hidden) -> None: ...

    assert _mentions_any(typing.get_type_hints(f, localns={"Hidden": Hidden})["x"])

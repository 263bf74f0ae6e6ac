"""No ``Any`` in the public signatures of ``descentlab.autograd``.

Every public function, method and ``__init__`` is resolved with
``typing.get_type_hints``. NumPy's own typing aliases (``npt.ArrayLike``,
``npt.DTypeLike``, ``np.dtype[Any]``) are allowed: they are NumPy's description of
"array-like", not an escape hatch of ours.
"""

from __future__ import annotations

import importlib
import inspect
import types
import typing
from collections.abc import Callable, Iterator

import numpy.typing as npt
import pytest

MODULES = [
    "descentlab.autograd",
    "descentlab.autograd.tensor",
    "descentlab.autograd.ops",
    "descentlab.autograd.shapes",
    "descentlab.autograd.transforms",
    "descentlab.autograd.numpy_api",
    "descentlab.autograd.gradcheck",
]


def _public() -> Iterator[tuple[str, Callable[..., object]]]:
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
                continue
            if inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj
            elif inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if (not attr.startswith("_") or attr == "__init__") and inspect.isfunction(
                        member
                    ):
                        yield f"{module_name}.{name}.{attr}", member


NUMPY_ALIASES = set(typing.get_args(npt.ArrayLike)) | set(typing.get_args(npt.DTypeLike))


def _mentions_any(hint: object) -> bool:
    if hint is typing.Any:
        return True
    if (getattr(typing.get_origin(hint), "__module__", "") or "").startswith("numpy"):
        return False  # numpy's generic types (np.dtype[Any], ...) are fine
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = tuple(a for a in args if a not in NUMPY_ALIASES)  # npt.ArrayLike, DTypeLike
    return any(_mentions_any(arg) for arg in args)


def test_the_walk_finds_the_engine():
    names = {name for name, _ in _public()}
    assert {
        "descentlab.autograd.tensor.Tensor.backward",
        "descentlab.autograd.ops.pow",
        "descentlab.autograd.transforms.hessian",
    } <= names


# ids are the names alone: a function's repr holds its address, which differs between
# processes (and pytest-xdist's workers must collect the same ids)
@pytest.mark.parametrize(("name", "function"), [pytest.param(n, f, id=n) for n, f in _public()])
def test_public_signature_has_no_any(name, function):
    hints = typing.get_type_hints(function)
    assert hints or name.endswith("__init__"), f"{name} has no annotations"
    offenders = {arg: hint for arg, hint in hints.items() if _mentions_any(hint)}
    assert not offenders, f"{name} mentions Any: {offenders}"

"""``Module``: the base of every layer and model, shaped like ``torch.nn.Module``.

A Module registers the Parameters and sub-Modules assigned to its attributes,
so ``model.parameters()`` finds every weight of a network, ``model.train()``
and ``model.eval()`` switch dropout on and off everywhere, and
``state_dict()`` / ``save()`` capture the weights by dotted name.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from descentlab._atomic import atomic_write
from descentlab.autograd import Parameter, Tensor
from descentlab.nn.modelfile import (
    ARCHITECTURE_TYPES,
    ModelFileError,
    check_architecture,
    parse_json_member,
    read_npz,
)

#: class name -> class, for rebuilding saved models; filled by ``__init_subclass__``.
MODULE_TYPES: dict[str, type[Module]] = {}

_SPEC_KEY = "__descentlab_spec__"


class Module:
    """Base class for layers and models.

    Subclasses assign Parameters and Modules as attributes in ``__init__`` and
    define ``forward``. Calling the module calls ``forward``.
    """

    training: bool
    _parameters: OrderedDict[str, Parameter]
    _modules: OrderedDict[str, Module]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        known = MODULE_TYPES.get(cls.__name__)
        if known is None or not known.__module__.startswith("descentlab."):
            # A user's class never shadows a built-in layer of the same name.
            MODULE_TYPES[cls.__name__] = cls

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before "
                f"assigning attributes (while setting {name!r})"
            )
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------ traversal
    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs, each Parameter once."""
        seen: set[int] = set()
        for module_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def num_parameters(self) -> int:
        """How many numbers the model learns."""
        return int(sum(p.size for p in self.parameters()))

    def apply(self, fn: Callable[[Module], None]) -> Module:
        for module in self.modules():
            fn(module)
        return self

    # --------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Module:
        """Training mode: dropout drops. Returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: dropout is the identity. Returns self."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad[...] = 0

    def new_epoch(self) -> None:
        """Called by ``fit`` at the start of every epoch (dropout's per-epoch masks)."""
        for module in self.modules():
            if module is not self:
                module.new_epoch()

    # --------------------------------------------------------------- state
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """A copy of every parameter's array, by dotted name."""
        return OrderedDict((name, p.data.copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Copy arrays into the parameters of the same names (shapes must agree)."""
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own and not k.startswith("__")]
        if strict and (missing or unexpected):
            raise KeyError(
                f"state dict does not fit {type(self).__name__}: missing {missing}, "
                f"unexpected {unexpected}"
            )
        for name, p in own.items():
            if name not in state:
                continue
            value = np.asarray(state[name])
            if value.shape != p.shape:
                raise ValueError(
                    f"parameter {name!r} has shape {p.shape} but the state dict holds "
                    f"shape {value.shape}"
                )
            p.data[...] = value

    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this module (for ``save``/``load``)."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot describe how to rebuild itself; save its "
            "state_dict() and load it into a new instance with load_state_dict()"
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Module:
        return cls(**config)

    def spec(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "config": self.config()}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the weights (and, for built-in modules, the architecture) as an ``.npz``.

        The file is written to exactly ``path`` (no ``.npz`` is appended, unlike
        ``np.savez``) and the path written is returned. The write is atomic: the
        bytes go to a temporary file in the same folder, are fsynced, and replace
        ``path`` in one step, so a crash never leaves a torn file behind.
        """
        arrays = dict(self.state_dict())
        try:
            arrays[_SPEC_KEY] = np.array(json.dumps(self.spec()))
        except NotImplementedError:
            pass
        target = Path(path)
        with atomic_write(target, "wb") as f:
            # numpy's stub lets the arrays' **kwds reach savez's allow_pickle: bool
            np.savez(f, **arrays)  # type: ignore[arg-type]
        return target

    # ---------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            child_lines = repr(child).splitlines()
            lines.append(f"  ({name}): " + "\n  ".join(child_lines))
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"


def build(spec: Mapping[str, Any]) -> Module:
    """Rebuild a module from ``Module.spec()``."""
    kind = spec.get("type")
    if kind not in MODULE_TYPES:
        raise ValueError(f"unknown module type {kind!r} in saved model")
    return MODULE_TYPES[kind].from_config(spec.get("config", {}))


_MODEL = "descentlab model"


def load(
    path: str | os.PathLike[str], model: Module | None = None, *, max_bytes: int | None = None
) -> Module:
    """Read a model written by ``Module.save``.

    Without ``model`` the architecture stored in the file is rebuilt (built-in
    layers only: Linear, MLP, Sequential, activations, Dropout, ...); with it,
    the weights are loaded into ``model``, which is left untouched if they do
    not fit.

    The file is checked before anything is allocated: no array, and not all of
    them together, nor the weights the architecture asks for, may exceed
    ``max_bytes`` (default 2 GiB, or the environment variable
    ``DESCENTLAB_MAX_FILE_BYTES``); raise it for a file you trust that is larger.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ModelFileError: (a ``ValueError``) the file is not a sound model file or
            does not fit ``model``; the message names the file and the problem.
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    arrays = read_npz(path, _MODEL, max_bytes=max_bytes)
    if model is None:
        if _SPEC_KEY not in arrays:
            raise ModelFileError(
                path, _MODEL, "it holds weights but no architecture; pass model= to load them into"
            )
        spec = parse_json_member(arrays, _SPEC_KEY, path, _MODEL)
        check_architecture(spec, path, _MODEL, max_bytes=max_bytes)
        for kind in ARCHITECTURE_TYPES:  # the built-in classes, not a user's namesake
            if not MODULE_TYPES[kind].__module__.startswith("descentlab."):
                raise ModelFileError(path, _MODEL, f"type {kind!r} is not the built-in one")
        try:
            model = build(spec)
        except (TypeError, ValueError, KeyError) as exc:
            raise ModelFileError(path, _MODEL, f"cannot rebuild the architecture ({exc})") from None
    weights = {k: v for k, v in arrays.items() if k != _SPEC_KEY}
    check_weights(model, weights, path, _MODEL)
    model.load_state_dict(weights)
    return model


def check_weights(
    model: Module, weights: Mapping[str, np.ndarray], path: str, what: str = _MODEL
) -> None:
    """Raise :class:`ModelFileError` unless ``weights`` fit ``model`` exactly
    (the same names, shapes, and real numbers)."""
    own = dict(model.named_parameters())
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own and not k.startswith("__")]
    if missing or unexpected:
        raise ModelFileError(
            path,
            what,
            f"its weights do not fit {type(model).__name__}: "
            f"missing {missing[:10]}, unexpected {unexpected[:10]}",
        )
    for name, p in own.items():
        value = weights[name]
        if value.shape != p.shape:
            raise ModelFileError(
                path,
                what,
                f"parameter {name!r} has shape {p.shape} in "
                f"the model but {value.shape} in the file",
            )
        if value.dtype.kind not in "biuf":
            raise ModelFileError(
                path, what, f"parameter {name!r} holds {value.dtype}, not real numbers"
            )


def as_tensor_list(params: Any) -> list[Tensor]:
    """Parameters from a Module or an iterable of Parameters."""
    if isinstance(params, Module):
        return list(params.parameters())
    return list(params)


class FlatParameters:
    """Every parameter of a model as a view into one contiguous buffer, and every
    gradient as a view into a second one.

    An optimizer given ``[flat]`` then updates all weights with a few
    whole-buffer operations instead of a loop over layers; the model's
    Parameters see the change because their ``.data`` are views of
    ``flat.data``. ``flat`` has ``.data`` and ``.grad`` like any parameter.
    """

    def __init__(self, params: Iterable[Parameter]) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("FlatParameters needs at least one parameter")
        dtypes = {p.dtype for p in self.params}
        if len(dtypes) != 1:
            raise ValueError(f"all parameters must share one dtype to be flattened, got {dtypes}")
        dtype = dtypes.pop()
        total = sum(p.size for p in self.params)
        self.data = np.empty(total, dtype=dtype)
        self.grad = np.zeros(total, dtype=dtype)
        self._views: list[tuple[np.ndarray, np.ndarray]] = []
        offset = 0
        for p in self.params:
            # (each in its parameter's layout: nn.Linear keeps W in Fortran order)
            fortran = p.data.flags.f_contiguous and not p.data.flags.c_contiguous
            order: Literal["C", "F"] = "F" if fortran else "C"
            data = self.data[offset : offset + p.size].reshape(p.shape, order=order)
            grad = self.grad[offset : offset + p.size].reshape(p.shape, order=order)
            data[...] = p.data
            p.data, p.grad = data, grad
            self._views.append((data, grad))
            offset += p.size

    def zero_grad(self) -> None:
        """Zero the gradient buffer and point every parameter's ``.grad`` into it."""
        self.grad.fill(0)
        for p, (_, grad) in zip(self.params, self._views):
            p.grad = grad

    def sync(self) -> None:
        """Bring back into the buffers any ``.data`` or ``.grad`` that was rebound."""
        for p, (data, grad) in zip(self.params, self._views):
            if p.data is not data:
                data[...] = p.data
                p.data = data
            if p.grad is not grad:
                if p.grad is None:
                    grad.fill(0)
                else:
                    grad[...] = p.grad
                p.grad = grad

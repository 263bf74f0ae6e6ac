"""The registry of optimizers: one entry per choice, each built from its class's description.

An optimizer class describes its hyperparameters once (``hyperparameters``);
:func:`register` adds a named choice of it (with preset overrides, e.g.
"momentum" is SGD with momentum 0.9). The CLI's options, the playground's
controls, the sweeps and the parity tests are all generated from
:data:`REGISTRY`; no list of optimizers is written anywhere else.

>>> from descentlab.optim import REGISTRY, get
>>> list(REGISTRY)[:3]
['sgd', 'momentum', 'nesterov']
>>> opt = get("adam").build([ArrayParam([1.0, 2.0])], lr=0.1, beta2=0.99)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from descentlab.optim.base import Optimizer
from descentlab.spec import Entry, HyperParam, Registry

__all__ = ["ALIASES", "REGISTRY", "HyperParam", "OptimizerSpec", "get", "names", "register"]


class OptimizerSpec(Entry[Optimizer]):
    """A named choice of optimizer: its class, preset overrides and a one-line summary.

    ``hyperparameters`` maps each setting's name (``beta1``/``beta2`` for
    ``betas``) to its description, with the preset values as defaults;
    ``build(params, **overrides)`` checks the overrides and constructs the class.
    """

    def __init__(
        self,
        name: str,
        cls: type[Optimizer],
        summary: str,
        presets: Mapping[str, object] | None = None,
    ) -> None:
        if not cls.hyperparameters:
            raise TypeError(f"{cls.__name__} describes no hyperparameters")
        super().__init__(
            name,
            cls,
            cls.hyperparameters,
            summary,
            presets,
            label="optimizer",
            noun="hyperparameter",
        )
        self.cls = cls

    @property
    def defaults(self) -> Mapping[str, object]:
        """The preset overrides of the class's defaults."""
        return self.presets

    def validate(self, **overrides: object) -> None:
        """Raise ValueError if ``overrides`` are not valid settings of this optimizer.

        Each value is checked against its description and the class's cross-setting
        checks run too (the optimizer is built on a small matrix, which every
        optimizer accepts).
        """
        import numpy as np

        from descentlab.optim.base import ArrayParam

        self.build([ArrayParam(np.zeros((2, 2)))], **overrides)


#: Every optimizer choice, in the order menus list them.
REGISTRY: Registry[OptimizerSpec] = Registry("optimizer")


def register(
    cls: type[Optimizer],
    name: str,
    summary: str,
    *,
    aliases: Iterable[str] = (),
    **presets: object,
) -> OptimizerSpec:
    """Add ``cls`` to :data:`REGISTRY` as ``name`` (with ``presets``); return the entry.

    This is the one line that makes a new optimizer appear in the CLI, the
    playground, the sweeps and the tests.
    """
    return REGISTRY.register(OptimizerSpec(name, cls, summary, presets), aliases=aliases)


def names() -> list[str]:
    """The registry's names, in order."""
    return REGISTRY.names()


def get(name: str | OptimizerSpec) -> OptimizerSpec:
    """Look up an optimizer by name (case, ``-`` and ``_`` ignored; ``"gd"`` means SGD)."""
    if isinstance(name, OptimizerSpec):
        return name
    return REGISTRY.get(name)


class _Aliases(Mapping[str, str]):
    """alias -> name, read live from the registry."""

    def __getitem__(self, key: str) -> str:
        return REGISTRY.aliases[key]

    def __iter__(self) -> Iterator[str]:
        return iter(REGISTRY.aliases)

    def __len__(self) -> int:
        return len(REGISTRY.aliases)


ALIASES: Mapping[str, str] = _Aliases()

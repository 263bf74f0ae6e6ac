"""Settings described once, and one generic registry every surface is generated from.

A :class:`HyperParam` describes one setting of an optimizer, schedule, landscape
or data set: its type, default, hard bounds (checked on every construction),
slider range and scale (for the playground), choices and help. A
:class:`Registry` holds named entries (with aliases and one name normalizer);
an :class:`Entry` builds its object after checking every keyword against its
description. The CLI's flags, the playground's controls and checks, the sweep
grids and the parity tests all read these descriptions, so a setting is written
in exactly one place.

Standard library and NumPy only: this module sits at the bottom of the layers.

>>> rate = HyperParam("lr", "float", 0.1, low=0.0, slider=(1e-5, 10.0), log_scale=True)
>>> rate.check(0.5)
0.5
>>> rate.check(-1.0)
Traceback (most recent call last):
...
ValueError: Invalid lr value: -1.0; expected a number >= 0.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import KW_ONLY, dataclass, replace
from types import MappingProxyType
from typing import Generic, Literal, Protocol, TypeVar

import numpy as np

__all__ = [
    "Entry",
    "HyperParam",
    "ParamType",
    "Registry",
    "from_text",
    "normalize_name",
    "parse_value",
]

ParamType = Literal["float", "int", "bool", "choice", "str", "object"]
_TYPES: tuple[str, ...] = ("float", "int", "bool", "choice", "str", "object")


@dataclass(frozen=True)
class HyperParam:
    """One setting, described once.

    Attributes:
        name: the keyword argument's name (PyTorch's where there is one).
        type: ``"float"``, ``"int"``, ``"bool"``, ``"choice"``, ``"str"`` or
            ``"object"`` (a callable or other value that no UI offers).
        default: the value used when the setting is not given.
        low, high: hard bounds, checked on every construction (``None``: unbounded).
        low_open, high_open: whether ``low``/``high`` themselves are excluded.
        slider: the range a UI control offers (``None``: the hard bounds). A typed
            value outside the slider but inside the hard bounds is valid.
        log_scale: whether a slider or a sweep grid should be logarithmic.
        choices: the allowed values of a ``"choice"``.
        help: one line saying what the setting means (the lecture's symbol first).
        nullable: whether ``None`` is allowed.
        array_ok: whether an array of values is allowed (a learning rate per row
            of a batched problem).
        pack: the name of the tuple argument this value is packed into, e.g.
            ``beta1`` and ``beta2`` into PyTorch's ``betas``.
        kw_only: whether the constructor takes it by keyword only.
    """

    name: str
    type: ParamType
    default: object
    low: float | None = None
    high: float | None = None
    log_scale: bool = False
    help: str = ""
    choices: tuple[object, ...] = ()
    _: KW_ONLY
    low_open: bool = False
    high_open: bool = False
    slider: tuple[float, float] | None = None
    nullable: bool = False
    array_ok: bool = False
    pack: str | None = None
    kw_only: bool = False

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"HyperParam type {self.type!r} is not one of {_TYPES}")
        if self.type == "choice" and not self.choices:
            raise ValueError(f"HyperParam {self.name!r} of type 'choice' needs choices")

    # -- derived views ----------------------------------------------------------------
    @property
    def slider_low(self) -> float | None:
        """Lower end of a UI slider (the hard bound when no slider range is given)."""
        return self.slider[0] if self.slider is not None else self.low

    @property
    def slider_high(self) -> float | None:
        """Upper end of a UI slider (the hard bound when no slider range is given)."""
        return self.slider[1] if self.slider is not None else self.high

    @property
    def in_ui(self) -> bool:
        """Whether a CLI flag or a playground control can set it."""
        return self.type != "object"

    def with_default(self, default: object) -> HyperParam:
        """The same description with another default."""
        return replace(self, default=default)

    def expectation(self) -> str:
        """What a valid value looks like, in words."""
        if self.type == "bool":
            text = "True or False"
        elif self.type in ("choice",):
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.type == "str":
            text = "a string"
        elif self.type == "object":
            text = "a value"
        else:
            kind = "an integer" if self.type == "int" else "a number"
            low = None if self.low is None else ("> " if self.low_open else ">= ") + str(self.low)
            high = (
                None if self.high is None else ("< " if self.high_open else "<= ") + str(self.high)
            )
            if low and high:
                text = f"{kind} in {'(' if self.low_open else '['}{self.low}, {self.high}" + (
                    ")" if self.high_open else "]"
                )
            elif low:
                text = f"{kind} {low}"
            elif high:
                text = f"{kind} {high}"
            else:
                text = f"a finite {kind[3:] if kind.startswith('an ') else kind[2:]}"
            if self.array_ok:
                text += " (or an array of them)"
        return text + (" or None" if self.nullable else "")

    # -- validation -----------------------------------------------------------------
    def _fail(self, value: object) -> ValueError:
        return ValueError(f"Invalid {self.name} value: {value!r}; expected {self.expectation()}")

    def _in_bounds(self, v: float) -> bool:
        if math.isnan(v):
            return False
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        if self.high is not None and (v >= self.high if self.high_open else v > self.high):
            return False
        return not (math.isinf(v) and self.low is None and self.high is None)

    def check(self, value: object) -> object:
        """Return ``value`` (numbers as Python int/float) or raise a ValueError naming it."""
        if value is None:
            if self.nullable:
                return None
            raise self._fail(value)
        if self.type == "object":
            return value
        if self.type == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise self._fail(value)
        if self.type == "choice":
            if any(value == c and type(value) is type(c) for c in self.choices):
                return value
            raise self._fail(value)
        if self.type == "str":
            if isinstance(value, str):
                return value
            raise self._fail(value)
        if isinstance(value, np.ndarray) and value.ndim > 0:
            if not self.array_ok or not np.issubdtype(value.dtype, np.number):
                raise self._fail(value)
            if np.iscomplexobj(value):
                raise self._fail(value)
            if not all(self._in_bounds(float(v)) for v in value.reshape(-1)):
                raise self._fail(value)
            return value
        if isinstance(value, (bool, np.bool_)):
            raise self._fail(value)
        if self.type == "int":
            if not isinstance(value, (int, np.integer)):
                raise self._fail(value)
            number: float = int(value)
        else:
            if not isinstance(value, (int, float, np.integer, np.floating)) or (
                isinstance(value, np.ndarray) and value.dtype.kind not in "iuf"
            ):
                raise self._fail(value)
            number = float(value)
        if not self._in_bounds(float(number)):
            raise self._fail(value)
        return number

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description (for the playground's registry message)."""
        return {
            "name": self.name,
            "type": self.type,
            "default": _jsonable(self.default),
            "low": _jsonable(self.slider_low),
            "high": _jsonable(self.slider_high),
            "min": _jsonable(self.low),
            "max": _jsonable(self.high),
            "log_scale": self.log_scale,
            "choices": [_jsonable(c) for c in self.choices],
            "nullable": self.nullable,
            "help": self.help,
        }


def _jsonable(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def from_text(hp: HyperParam, text: str) -> object:
    """Command-line text as a value of ``hp``'s type, not yet checked against its bounds.

    Raises ValueError naming the setting when the text is not of that type.
    """
    raw = text.strip()
    if hp.nullable and raw.lower() in ("none", "null"):
        return None
    if hp.type == "bool":
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"Invalid {hp.name} value: {text!r}; expected true or false")
    if hp.type in ("int", "float"):
        try:
            return int(raw) if hp.type == "int" else float(raw)
        except ValueError:
            raise ValueError(
                f"Invalid {hp.name} value: {text!r}; expected {hp.expectation()}"
            ) from None
    if hp.type == "choice":
        matches = [c for c in hp.choices if str(c) == raw]
        if not matches:
            raise ValueError(f"Invalid {hp.name} value: {text!r}; expected {hp.expectation()}")
        return matches[0]
    if hp.type == "str":
        return raw
    raise ValueError(f"{hp.name} cannot be given as text")


def parse_value(hp: HyperParam, text: str) -> object:
    """Convert command-line text to a checked value of ``hp``'s type.

    >>> parse_value(HyperParam("nesterov", "bool", False), "true")
    True
    """
    return hp.check(from_text(hp, text))


def normalize_name(name: str) -> str:
    """The key names are compared by: case, spaces, ``-`` and ``_`` ignored."""
    return name.strip().lower().replace("-", "").replace("_", "").replace(" ", "")


T_co = TypeVar("T_co", covariant=True)


class Entry(Generic[T_co]):
    """A named choice: a factory, its described settings, and preset overrides.

    ``build(*args, **overrides)`` checks every override against the description
    (unknown names and invalid values raise ValueError naming them), fills in the
    defaults and calls the factory. Settings packed into a tuple argument (``pack``)
    may be given one by one (``beta1=0.8``) or packed (``betas=(0.8, 0.99)``).
    """

    def __init__(
        self,
        name: str,
        factory: Callable[..., T_co],
        params: Iterable[HyperParam],
        summary: str = "",
        presets: Mapping[str, object] | None = None,
        label: str = "entry",
        noun: str = "setting",
    ) -> None:
        self.name = name
        self.noun = noun
        self.factory = factory
        self.summary = summary
        self.label = label
        self.presets: Mapping[str, object] = MappingProxyType(dict(presets or {}))
        described = {p.name: p for p in params}
        unknown = set(self.presets) - set(described)
        if unknown:
            raise ValueError(f"{label} {name!r}: presets {sorted(unknown)} are not described")
        self.hyperparameters: Mapping[str, HyperParam] = MappingProxyType(
            {
                n: (p.with_default(self.presets[n]) if n in self.presets else p)
                for n, p in described.items()
            }
        )

    @property
    def packs(self) -> dict[str, list[str]]:
        """Tuple arguments and the described settings packed into each, in order."""
        out: dict[str, list[str]] = {}
        for p in self.hyperparameters.values():
            if p.pack is not None:
                out.setdefault(p.pack, []).append(p.name)
        return out

    def settings(self, overrides: Mapping[str, object]) -> dict[str, object]:
        """Every described setting: defaults, then presets, then checked ``overrides``."""
        given = dict(overrides)
        for pack, members in self.packs.items():
            if pack in given:
                packed = given.pop(pack)
                if not isinstance(packed, (tuple, list)) or len(packed) != len(members):
                    raise ValueError(
                        f"Invalid {pack} value: {packed!r}; expected a tuple of "
                        f"{len(members)} values ({', '.join(members)})"
                    )
                for member, value in zip(members, packed):
                    given.setdefault(member, value)
        unknown = [k for k in given if k not in self.hyperparameters]
        if unknown:
            raise ValueError(
                f"unknown {self.noun}(s) {', '.join(map(repr, unknown))} for {self.label} "
                f"{self.name!r}; expected some of {', '.join(self.public_names())}"
            )
        values = {n: p.default for n, p in self.hyperparameters.items()}
        for key, value in given.items():
            values[key] = self.hyperparameters[key].check(value)
        return values

    def public_names(self) -> list[str]:
        """The names a caller may pass (packed members and their pack's name)."""
        names = list(self.hyperparameters)
        names.extend(self.packs)
        return names

    def build(self, *args: object, **overrides: object) -> T_co:
        """Check ``overrides`` and call the factory with every setting."""
        values = self.settings(overrides)
        kwargs: dict[str, object] = {}
        for name, value in values.items():
            pack = self.hyperparameters[name].pack
            if pack is None:
                kwargs[name] = value
        for pack, members in self.packs.items():
            kwargs[pack] = tuple(values[m] for m in members)
        return self.factory(*args, **kwargs)

    def describe(self) -> dict[str, object]:
        """A JSON-ready description: name, summary and settings."""
        return {
            "name": self.name,
            "summary": self.summary,
            "hyperparameters": [p.to_dict() for p in self.hyperparameters.values() if p.in_ui],
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class _Named(Protocol):
    @property
    def name(self) -> str: ...


E = TypeVar("E", bound=_Named)


class Registry(Mapping[str, E]):
    """Named entries of one kind, looked up by name or alias, case and ``-``/``_`` ignored.

    A registry reads like a dict of canonical names (``list(REG)``, ``REG[name]``,
    ``REG.items()``); :meth:`get` also accepts aliases and spelling variants and
    raises a ValueError listing the valid names.
    """

    def __init__(self, kind: str, normalize: Callable[[str], str] = normalize_name) -> None:
        self.kind = kind
        self._normalize = normalize
        self._entries: dict[str, E] = {}
        self._aliases: dict[str, str] = {}
        self._keys: dict[str, str] = {}
        #: incremented by every change, so caches of derived views know when to refresh
        self.version = 0

    def register(self, entry: E, *, aliases: Iterable[str] = (), replace: bool = False) -> E:
        """Add ``entry`` under ``entry.name`` and ``aliases``; return it."""
        keys = [entry.name, *aliases]
        for key in keys:
            norm = self._normalize(key)
            owner = self._keys.get(norm)
            if owner is not None and owner != entry.name and not replace:
                raise ValueError(f"{self.kind} name {key!r} is already taken by {owner!r}")
        self._entries[entry.name] = entry
        for key in keys:
            self._keys[self._normalize(key)] = entry.name
        for alias in aliases:
            self._aliases[alias] = entry.name
        self.version += 1
        return entry

    def unregister(self, name: str) -> None:
        """Remove an entry and its aliases (tests use this to clean up)."""
        canonical = self.resolve(name)
        del self._entries[canonical]
        self._keys = {k: v for k, v in self._keys.items() if v != canonical}
        self._aliases = {k: v for k, v in self._aliases.items() if v != canonical}
        self.version += 1

    @property
    def aliases(self) -> Mapping[str, str]:
        """alias -> canonical name."""
        return MappingProxyType(self._aliases)

    def resolve(self, name: str) -> str:
        """The canonical name of ``name`` (an alias or spelling variant)."""
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a str, got {type(name).__name__}")
        canonical = self._keys.get(self._normalize(name))
        if canonical is None:
            listing = ", ".join(self._entries)
            alias_text = f" (aliases: {', '.join(self._aliases)})" if self._aliases else ""
            raise ValueError(f"unknown {self.kind} {name!r}; expected one of {listing}{alias_text}")
        return canonical

    def get(self, name: str) -> E:  # type: ignore[override]
        """The entry named ``name`` (aliases and spelling variants allowed)."""
        return self._entries[self.resolve(name)]

    def names(self) -> list[str]:
        """The canonical names, in registration order."""
        return list(self._entries)

    def __getitem__(self, name: str) -> E:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def knows(self, name: str) -> bool:
        """Whether :meth:`get` would find ``name`` (aliases and spelling variants too)."""
        return isinstance(name, str) and self._normalize(name) in self._keys

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"

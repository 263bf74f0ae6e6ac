"""The `Optimizer` base class: parameter groups, per-parameter state, state dicts.

An optimizer only updates arrays given gradients, whoever computed them. A
*parameter* is any object with a ``.data`` NumPy array (updated in place, never
rebound) and a ``.grad`` attribute that is an array of the same shape or
``None``: a ``descentlab.Parameter``, or the tiny :class:`ArrayParam` holder
below. A parameter whose ``.grad`` is ``None`` is skipped by ``step``.

The layout follows ``torch.optim.Optimizer``: ``param_groups`` is a list of
dicts (the group's ``"params"`` plus every hyperparameter, defaults filled in)
read afresh at every step, so a learning-rate schedule simply sets
``group["lr"]``; ``state`` maps each parameter object to a dict of named arrays
(``exp_avg``, ``momentum_buffer``, ...), and ``state_dict()`` uses integer ids.

Batched problems: a parameter of shape (N, D) may hold N independent problems.
Every rule is elementwise, so the rows never interact; ``lr`` (and only
``lr``) may then be an array broadcastable against the parameter, e.g. of
shape (N, 1), to give each problem its own learning rate.
"""

from __future__ import annotations

import copy
import inspect
import weakref
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import (
    Any,
    ClassVar,
    cast,
    overload,
)

import numpy as np

from descentlab.optim import fused
from descentlab.optim.params import (
    ArrayParam,
    Closure,
    HyperValue,
    LearningRate,
    ParamGroup,
    ParamLike,
    Params,
    State,
    StateDict,
    _as_param,
    _check_no_shared_memory,
    _ParamState,
    check_nonnegative,
    flush_subnormal_,
    group_params,
    scratch_like,
)
from descentlab.spec import HyperParam

#: each Optimizer's ``fused.Plan`` dicts, one per parameter group (see ``step``)
_PLANS: weakref.WeakKeyDictionary[Any, dict[int, dict[str, Any]]] = weakref.WeakKeyDictionary()

__all__ = [
    "ArrayParam",
    "Closure",
    "HyperValue",
    "LearningRate",
    "Optimizer",
    "ParamGroup",
    "ParamLike",
    "Params",
    "State",
    "StateDict",
    "flush_subnormal_",
    "group_params",
    "scratch_like",
]


class Optimizer:
    """Base class: holds parameter groups and state, and runs the update per group.

    A subclass describes its hyperparameters once, in ``hyperparameters`` (a tuple
    of :class:`~descentlab.spec.HyperParam`, in PyTorch's argument order), and
    names its functional ``rule``. From that description the class gets its
    constructor (PyTorch's signature, generated), the validation of every group
    (hard bounds of each setting, plus the optional cross-setting ``_check``), and
    the update: ``rule(params, grads, states, **settings)`` with packed settings
    such as ``betas`` unpacked into ``beta1``/``beta2``. ``params`` and ``grads``
    are the arrays of the group's parameters that have a gradient and ``states``
    their state dicts. A subclass with needs beyond that overrides ``_update``.

    Args:
        params: an iterable of parameters, or of dicts (parameter groups) with a
            ``"params"`` entry and per-group hyperparameter overrides.
        defaults: the hyperparameters used where a group does not set its own.
    """

    # A described subclass gets a generated constructor taking the parameters and then
    # its hyperparameters (PyTorch's signature); the base class itself takes the
    # parameters and a mapping of defaults. Both forms are declared, for type checkers.
    @overload
    def __init__(self, params: Params, defaults: Mapping[str, HyperValue]) -> None: ...

    @overload
    def __init__(self, params: Params, *args: HyperValue, **kwargs: HyperValue) -> None: ...

    def __init__(
        self,
        params: Params,
        defaults: Mapping[str, HyperValue] | HyperValue = None,
        *args: HyperValue,
        **kwargs: HyperValue,
    ) -> None:
        if not isinstance(defaults, Mapping) or args or kwargs:
            raise TypeError(
                f"{type(self).__name__} describes no hyperparameters: its constructor must "
                "call Optimizer.__init__(self, params, defaults) with a dict of defaults"
            )
        self._validate(defaults)
        self.defaults: dict[str, Any] = dict(defaults)  # as a group's values
        self.state: MutableMapping[ParamLike, State] = _ParamState()
        # A group's values have the type of their key's description (``lr`` a float or an
        # array, ``betas`` a tuple, ...), checked by ``add_param_group``; the code that
        # reads them relies on that check.
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, np.ndarray) or hasattr(params, "data"):
            raise TypeError(
                "params must be an iterable of parameters or of dicts, got a single "
                f"{type(params).__name__}; pass [param]"
            )
        groups: list[ParamLike | ParamGroup] = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            if not isinstance(group, dict):
                raise TypeError(f"param_group must be a dict, got {type(group).__name__}")
            self.add_param_group(group)

    hyperparameters: ClassVar[tuple[HyperParam, ...]] = ()
    rule: ClassVar[Callable[..., None] | None] = None
    #: Whether every entry of a parameter is updated from its own gradient and state
    #: alone, so that the rows of an (N, D) parameter are N independent problems and one
    #: flat buffer steps like the arrays it holds (False: Adafactor, Muon, L-BFGS, Prodigy).
    elementwise: ClassVar[bool] = True
    #: Whether ``step`` needs a closure that re-evaluates the loss (L-BFGS).
    needs_closure: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "hyperparameters" in cls.__dict__ and "__init__" not in cls.__dict__:
            cls.__init__ = _described_init(cls.hyperparameters)  # type: ignore[method-assign]

    # -- hooks for subclasses ----------------------------------------------------------
    def _validate(self, hp: Mapping[str, object]) -> None:
        described = type(self).hyperparameters
        if not described:
            check_nonnegative("learning rate (lr)", hp.get("lr", 0.0), array_ok=True)
            return
        for name, value in _unpacked(described, hp).items():
            _DESCRIBED[type(self)][name].check(value)
        self._check(hp)

    def _check(self, hp: Mapping[str, Any]) -> None:
        """Checks that involve several settings (e.g. Nesterov needs momentum > 0)."""

    def _after_init(self) -> None:
        """Runs once the groups are built (e.g. Adagrad fills its state at construction)."""

    def _update(
        self,
        group: ParamGroup,
        params: list[np.ndarray],
        grads: list[np.ndarray],
        states: list[State],
    ) -> None:
        rule = type(self).rule
        if rule is None:
            raise NotImplementedError(f"{type(self).__name__} names no rule")
        rule(params, grads, states, **_unpacked(type(self).hyperparameters, group))

    # -- public API ----------------------------------------------------------------------
    def add_param_group(self, param_group: ParamGroup) -> None:
        """Add a group of parameters with its own hyperparameters (others from defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        given = group.get("params")
        if given is None:
            raise ValueError("param_group must have a 'params' entry")
        if isinstance(given, set):
            raise TypeError("params must be an ordered collection (list or tuple), not a set")
        if hasattr(given, "data"):
            given = [given]
        if not isinstance(given, Iterable):
            raise TypeError(
                f"a group's 'params' must be a list of parameters, got {type(given).__name__}"
            )
        params = [_as_param(p) for p in given]
        for name, value in self.defaults.items():
            group.setdefault(name, value)
        self._validate(group)
        seen = {id(p) for g in self.param_groups for p in group_params(g)}
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError("a parameter appears twice in one parameter group")
        if seen.intersection(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        _check_no_shared_memory([p for g in self.param_groups for p in group_params(g)] + params)
        group["params"] = params
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient to None (or to zeros, in place)."""
        for group in self.param_groups:
            for p in group_params(group):
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self, closure: Closure | None = None) -> object:
        """Update every parameter that has a gradient; return ``closure()`` if given.

        ``closure`` re-evaluates the model (zeroing and recomputing the gradients)
        and returns the loss; it is called once, before the update.
        """
        loss = closure() if closure is not None else None
        # the fast path's plans of this optimizer's groups (fused.Plan), kept outside the
        # object so that a copy or a pickle of it never carries views of other arrays
        plans = _PLANS.get(self)
        if plans is None:
            plans = _PLANS[self] = {}
        for index, group in enumerate(self.param_groups):
            params, grads, states = [], [], []
            for p in group_params(group):
                if p.grad is None:
                    continue
                params.append(p.data)
                grads.append(np.asarray(p.grad))
                states.append(self.state.setdefault(p, {}))
            if params:
                outer = getattr(fused._stepping, "plans", None)  # (an optimizer around this one)
                fused._stepping.plans = plans.setdefault(index, {})
                try:
                    self._update(group, params, grads, states)
                finally:
                    fused._stepping.plans = outer
        return loss

    # -- persistence ---------------------------------------------------------------------
    def state_dict(self) -> StateDict:
        """Return ``{"state": {id: {...}}, "param_groups": [{..., "params": [ids]}]}``.

        Ids number the parameters 0, 1, ... in group order, as in PyTorch; the state
        arrays are copies.
        """
        index: dict[int, int] = {}
        groups: list[dict[str, object]] = []
        for group in self.param_groups:
            packed: dict[str, object] = {
                k: copy.deepcopy(v) for k, v in group.items() if k != "params"
            }
            ids = []
            for p in group_params(group):
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state: dict[int, dict[str, object]] = {
            index[id(p)]: {k: _copy_value(v) for k, v in s.items()}
            for p, s in self.state.items()
            if id(p) in index
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, object]) -> None:
        """Load a dict made by :meth:`state_dict` (same groups and parameter shapes)."""
        saved_groups = cast("list[dict[str, object]]", state_dict["param_groups"])
        saved_state = cast("Mapping[int | str, Mapping[str, object]]", state_dict["state"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(saved_groups)} parameter groups, "
                f"expected {len(self.param_groups)}"
            )
        saved_ids = [cast("list[int]", s["params"]) for s in saved_groups]
        for i, (g, ids) in enumerate(zip(self.param_groups, saved_ids)):
            if len(group_params(g)) != len(ids):
                raise ValueError(
                    f"loaded parameter group {i} has {len(ids)} parameters, "
                    f"expected {len(group_params(g))}"
                )
        id_to_param = {
            pid: p
            for g, ids in zip(self.param_groups, saved_ids)
            for pid, p in zip(ids, group_params(g))
        }
        new_state = _ParamState()
        for pid, saved in saved_state.items():
            param = id_to_param.get(int(pid))
            if param is None:
                continue
            new_state[param] = cast(
                State, {k: _cast_like(v, param.data, k) for k, v in saved.items()}
            )
        for g, s in zip(self.param_groups, saved_groups):
            for k, v in s.items():
                if k != "params":
                    g[k] = copy.deepcopy(v)
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


class _DescribedIndex(dict[type[Optimizer], dict[str, HyperParam]]):
    """class -> {setting name -> HyperParam}, filled on first use."""

    def __missing__(self, cls: type[Optimizer]) -> dict[str, HyperParam]:
        table = {hp.name: hp for hp in cls.hyperparameters}
        self[cls] = table
        return table


_DESCRIBED: dict[type[Optimizer], dict[str, HyperParam]] = _DescribedIndex()


def _unpacked(described: tuple[HyperParam, ...], group: Mapping[str, object]) -> dict[str, object]:
    """The group's value of every described setting, tuple arguments unpacked."""
    out: dict[str, object] = {}
    position: dict[str, int] = {}
    for hp in described:
        if hp.pack is None:
            out[hp.name] = group[hp.name]
            continue
        packed = group[hp.pack]
        i = position.get(hp.pack, 0)
        size = sum(1 for other in described if other.pack == hp.pack)
        if not isinstance(packed, (tuple, list)) or len(packed) != size:
            members = ", ".join(o.name for o in described if o.pack == hp.pack)
            raise ValueError(
                f"Invalid {hp.pack} value: {packed!r}; expected a pair ({members})"
                if size == 2
                else f"Invalid {hp.pack} value: {packed!r}; expected {size} values ({members})"
            )
        out[hp.name] = packed[i]
        position[hp.pack] = i + 1
    return out


def _described_init(described: tuple[HyperParam, ...]) -> Callable[..., None]:
    """A constructor with PyTorch's signature, generated from the description."""
    parameters = [
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD),
    ]
    packs: dict[str, list[HyperParam]] = {}
    for hp in described:
        if hp.pack is not None:
            if hp.pack not in packs:
                packs[hp.pack] = []
                parameters.append(
                    inspect.Parameter(
                        hp.pack,
                        inspect.Parameter.KEYWORD_ONLY
                        if hp.kw_only
                        else inspect.Parameter.POSITIONAL_OR_KEYWORD,
                        default=None,
                    )
                )
            packs[hp.pack].append(hp)
            continue
        kind = (
            inspect.Parameter.KEYWORD_ONLY
            if hp.kw_only
            else inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        parameters.append(inspect.Parameter(hp.name, kind, default=hp.default))
    for i, p in enumerate(parameters):
        if p.name in packs:
            parameters[i] = p.replace(default=tuple(m.default for m in packs[p.name]))
    # Python requires keyword-only parameters after the positional ones.
    parameters.sort(key=lambda p: p.kind == inspect.Parameter.KEYWORD_ONLY)
    signature = inspect.Signature(parameters)

    def __init__(self: Optimizer, params: Params, *args: HyperValue, **kwargs: HyperValue) -> None:
        bound = signature.bind(self, params, *args, **kwargs)
        bound.apply_defaults()
        defaults = dict(bound.arguments)
        del defaults["self"], defaults["params"]
        for pack in packs:
            value = defaults[pack]
            defaults[pack] = tuple(value) if isinstance(value, (list, tuple)) else value
        Optimizer.__init__(self, params, defaults)
        self._after_init()

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    return __init__


def _copy_value(value: object) -> object:
    return value.copy() if isinstance(value, np.ndarray) else copy.deepcopy(value)


def _cast_like(value: object, data: np.ndarray, key: str) -> object:
    """Copy a saved state value; floating arrays take the parameter's dtype, and those of
    its shape its layout too (nn.Linear's Fortran order: the compiled updates need the
    parameter, its gradient and its state in one layout)."""
    if isinstance(value, np.ndarray):
        if key != "step" and np.issubdtype(value.dtype, np.floating):
            if value.shape == data.shape:
                out = np.empty_like(data)
                out[...] = value
                return out
            return value.astype(data.dtype, copy=True)
        return value.copy()
    return copy.deepcopy(value)

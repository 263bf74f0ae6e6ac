"""Loss landscapes: test functions, your own functions and formulas, and ``minimize``.

* :data:`REGISTRY` names every built-in problem (test functions and finite-sum
  problems) with a one-line description and its parameters; ``get(name, **kw)``
  builds one, ``get("x**2 + 3*sin(y)")`` parses a formula instead.
* ``from_function(f, dim)`` turns any Python function of arrays into a landscape
  (gradient by autograd); ``from_formula(text)`` does so for a safe formula.
* ``minimize(f, x0, optimizer="gd", lr=..., steps=...)`` runs any optimizer of
  :mod:`descentlab.optim`, ``race`` several from one start; ``Runner`` is the same
  loop advanced step by step.
* ``of_model(model, data)`` is the loss of a real network on a plane through its
  weights, ``interpolate`` the loss on a line between two weight vectors, and
  ``sharpness`` the top Hessian eigenvalue (:mod:`.network`, loaded on first use).

>>> from descentlab import landscapes
>>> f = landscapes.get("rosenbrock")
>>> f.minima
array([[1., 1.]])
"""

from __future__ import annotations

from typing import Any

from descentlab.landscapes.base import Landscape, PenalizedLandscape, from_function
from descentlab.landscapes.classic import CLASSIC_RACES, classic_race
from descentlab.landscapes.finite_sum import (
    EIGHT_X,
    EIGHT_Y,
    FiniteSum,
    LinearRegression,
    LogisticRegression,
    eight_points,
    linear_regression,
    logistic_regression,
)
from descentlab.landscapes.formula import (
    FormulaError,
    from_formula,
    looks_like_formula,
    parse_formula,
)
from descentlab.landscapes.functions import (
    REGISTRY,
    LandscapeParam,
    LandscapeSpec,
    lookup,
)
from descentlab.landscapes.minimize import Result, Runner, Trajectory, minimize, race

REGISTRY.register(
    LandscapeSpec(
        "eight_points",
        eight_points,
        "least-squares line through the lecture's eight noisy points (finite sum, for SGD)",
        "mean_i (w*x_i + b - y_i)**2",
        "2",
    )
)
REGISTRY.register(
    LandscapeSpec(
        "linear_regression",
        linear_regression,
        "least-squares line through n noisy points (finite sum, for SGD)",
        "mean_i (w*x_i + b - y_i)**2",
        "2",
        {
            "n": LandscapeParam("n", "int", 8, 2, 100000, "number of points"),
            "slope": LandscapeParam("slope", "float", 2.0, -100, 100, "true slope"),
            "intercept": LandscapeParam("intercept", "float", 1.0, -100, 100, "true intercept"),
            "noise": LandscapeParam("noise", "float", 0.5, 0, 100, "std of the noise"),
            "seed": LandscapeParam("seed", "int", 0, 0, 2**31 - 1, "random seed"),
        },
    )
)
REGISTRY.register(
    LandscapeSpec(
        "logistic_regression",
        logistic_regression,
        "logistic regression of two overlapping classes on one feature (finite sum)",
        "mean_i log(1 + exp(w*x_i + b)) - y_i*(w*x_i + b)",
        "2",
        {
            "n": LandscapeParam("n", "int", 40, 2, 100000, "number of points"),
            "seed": LandscapeParam("seed", "int", 0, 0, 2**31 - 1, "random seed"),
            "separation": LandscapeParam(
                "separation", "float", 2.0, 0, 20, "distance between the class means"
            ),
        },
    )
)


#: names served lazily by :mod:`descentlab.landscapes.network` (it imports nn and autograd)
_NETWORK = ("NetworkLandscape", "interpolate", "of_model", "sharpness")


def __getattr__(name: str) -> Any:
    if name in _NETWORK:
        from descentlab.landscapes import network

        return getattr(network, name)
    raise AttributeError(f"module 'descentlab.landscapes' has no attribute {name!r}")


def names() -> list[str]:
    """Every registered landscape name, in menu order."""
    return list(REGISTRY)


def get(name: str | Landscape, **kwargs: Any) -> Landscape:
    """Build the registered landscape ``name`` (e.g. ``get("rosenbrock", dim=10)``).

    Names are case-insensitive and ``-``/``_``/space tolerant, with a few aliases
    (``"sphere"``, ``"banana"``, ``"camel"``...). A name that is not registered but
    looks like a formula (``"x**2 + 3*sin(y)"``) is parsed with :func:`from_formula`
    (``kwargs`` then go to it: ``dim``, ``bounds``, ``start``, ``lr``).
    """
    if isinstance(name, Landscape):
        if kwargs:
            raise ValueError("keyword arguments cannot be applied to an existing Landscape")
        return name
    if not isinstance(name, str):
        raise TypeError(f"landscape name must be a str, got {type(name).__name__}")
    spec = lookup(name)
    if spec is not None:
        return spec.build(**kwargs)
    if looks_like_formula(name):
        return from_formula(name, **kwargs)
    raise ValueError(
        f"unknown landscape {name!r}; expected one of {', '.join(REGISTRY)} or a formula "
        "such as 'x**2 + 3*sin(y)'"
    )


def resolve(name_or_formula: str | Landscape, **kwargs: Any) -> Landscape:
    """A registry name, a formula or a Landscape -> Landscape (same rules as :func:`get`)."""
    return get(name_or_formula, **kwargs)


__all__ = [
    "CLASSIC_RACES",
    "EIGHT_X",
    "EIGHT_Y",
    "REGISTRY",
    "FiniteSum",
    "FormulaError",
    "Landscape",
    "LandscapeParam",
    "LandscapeSpec",
    "LinearRegression",
    "LogisticRegression",
    "NetworkLandscape",
    "PenalizedLandscape",
    "Result",
    "Runner",
    "Trajectory",
    "classic_race",
    "eight_points",
    "from_formula",
    "from_function",
    "get",
    "interpolate",
    "linear_regression",
    "logistic_regression",
    "looks_like_formula",
    "minimize",
    "names",
    "of_model",
    "parse_formula",
    "race",
    "resolve",
    "sharpness",
]

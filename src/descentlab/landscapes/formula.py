"""A safe formula language for your own landscapes: ``from_formula("x**2 + 3*sin(y)")``.

The text is parsed with Python's :mod:`ast` and checked against a whitelist; it is never
passed to ``eval``. Allowed are numbers, the variables ``x, y, z`` (or ``x1 ... xn``),
``+ - * / **`` (``^`` is read as ``**``), unary ``-``/``+``, parentheses, the constants
``pi`` and ``e`` and the functions in :data:`FUNCTIONS`. Anything else (names, attribute
access, subscripts, lambdas, comparisons, strings, keyword arguments, ...) raises
:class:`FormulaError` naming the offending part.

Every size is bounded before any work is done, cheapest check first: the length of the
text (:data:`MAX_LENGTH`), the number of variables (:data:`MAX_VARIABLES`, read from the
names ``x1 ... xn`` before anything is built), the nesting depth of the syntax tree
(:data:`MAX_DEPTH`, counted without recursion and well below what evaluation can
handle) and every number (finite as a float). Each refusal is a :class:`FormulaError`,
a ``ValueError`` with a plain message naming the problem.

Value and gradient are computed together in one pass over the syntax tree by forward-mode
differentiation with a D-vector tangent per node (exact derivatives, vectorized over the
points), so a formula landscape does not need the autograd engine.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from descentlab.landscapes.base import Landscape

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "Formula",
    "FormulaError",
    "from_formula",
    "looks_like_formula",
    "parse_formula",
]

#: Longest formula text, in characters.
MAX_LENGTH = 2000
#: Most variables a formula may use (x1 ... x100) and largest ``dim``.
MAX_VARIABLES = 100
#: Deepest nesting of the syntax tree (evaluation recurses once or twice per level).
MAX_DEPTH = 200


class FormulaError(ValueError):
    """A formula that is not allowed or cannot be parsed."""


# value -> (value, derivative factor d f / d u) for the unary functions
def _sigmoid(u: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * u))


def _softplus(u: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, u)


_UNARY: dict[str, tuple[Callable, Callable]] = {
    # name: (f, f' as a function of (u, f(u)))
    "sin": (np.sin, lambda u, v: np.cos(u)),
    "cos": (np.cos, lambda u, v: -np.sin(u)),
    "tan": (np.tan, lambda u, v: 1.0 + v * v),
    "exp": (np.exp, lambda u, v: v),
    "log": (np.log, lambda u, v: 1.0 / u),
    "log1p": (np.log1p, lambda u, v: 1.0 / (1.0 + u)),
    "sqrt": (np.sqrt, lambda u, v: 0.5 / v),
    "abs": (np.abs, lambda u, v: np.sign(u)),
    "tanh": (np.tanh, lambda u, v: 1.0 - v * v),
    "sinh": (np.sinh, lambda u, v: np.cosh(u)),
    "cosh": (np.cosh, lambda u, v: np.sinh(u)),
    "arctan": (np.arctan, lambda u, v: 1.0 / (1.0 + u * u)),
    "sigmoid": (_sigmoid, lambda u, v: v * (1.0 - v)),
    "softplus": (_softplus, lambda u, v: _sigmoid(u)),
    "relu": (lambda u: np.maximum(u, 0.0), lambda u, v: (u > 0).astype(np.float64)),
}
_ALIASES = {"atan": "arctan", "ln": "log"}
_BINARY = ("max", "min")
FUNCTIONS: tuple[str, ...] = tuple(sorted([*_UNARY, *_ALIASES, *_BINARY]))
CONSTANTS: dict[str, float] = {"pi": float(np.pi), "e": float(np.e)}

_VAR_RE = re.compile(r"^x([1-9][0-9]*)$")
_INDEXED_RE = re.compile(r"(?<![A-Za-z0-9_.])x([0-9]+)(?![A-Za-z0-9_])")


def _check_variable_count(text: str) -> None:
    """Refuse ``x10000000`` from the text itself, before any list of names is built."""
    for match in _INDEXED_RE.finditer(text):
        digits = match.group(1)
        if len(digits) > 3 or int(digits) > MAX_VARIABLES:
            shown = digits if len(digits) <= 12 else digits[:9] + "..."
            raise FormulaError(
                f"the formula uses x{shown}; at most {MAX_VARIABLES} variables "
                f"(x1 ... x{MAX_VARIABLES}) are allowed"
            )


def _check_depth(tree: ast.AST) -> None:
    """Refuse expressions nested deeper than MAX_DEPTH (counted with a stack, no recursion)."""
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FormulaError(f"the formula is nested too deeply (more than {MAX_DEPTH} levels)")
        stack.extend(
            (child, depth + isinstance(child, ast.expr)) for child in ast.iter_child_nodes(node)
        )


def _check_dim(dim: Any) -> None:
    if dim is None:
        return
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise FormulaError(f"dim must be an integer, got {dim!r}")
    if not 1 <= dim <= MAX_VARIABLES:
        raise FormulaError(f"dim must be between 1 and {MAX_VARIABLES}, got {dim!r}")


def _scale(factor: np.ndarray, tangent: np.ndarray) -> np.ndarray:
    """factor[..., None] * tangent, with 0 wherever the tangent is 0 (so inf*0 -> 0).

    This gives the subgradient 0 for e.g. sqrt(x**2 + y**2) or abs(x) at 0.
    """
    out = np.asarray(factor)[..., None] * tangent
    return np.where(tangent == 0, 0.0, out)


class Formula:
    """A checked formula: ``variables`` in order, ``dim`` and a vectorized evaluator."""

    def __init__(self, text: str, dim: int | None = None) -> None:
        if not isinstance(text, str):
            raise TypeError(f"formula must be a string, got {type(text).__name__}")
        if len(text) > MAX_LENGTH:
            raise FormulaError(
                f"formula is too long ({len(text)} characters, at most {MAX_LENGTH})"
            )
        _check_dim(dim)
        self.text = text.strip()
        source = self.text.replace("^", "**")
        if not source:
            raise FormulaError("formula is empty")
        _check_variable_count(source)
        try:
            tree = ast.parse(source, mode="eval")
        except SyntaxError as err:
            raise FormulaError(f"cannot parse formula {self._shown()}: {err.msg}") from None
        except (RecursionError, MemoryError):
            raise FormulaError(f"cannot parse formula {self._shown()}: nested too deeply") from None
        except ValueError as err:  # e.g. a NUL character on older Pythons
            raise FormulaError(f"cannot parse formula {self._shown()}: {err}") from None
        _check_depth(tree.body)  # before any recursive walk of the tree
        self._source = source
        self._tree = tree.body
        used: set[str] = set()
        self._check(self._tree, used)
        self.variables = self._order_variables(used, dim)
        self.dim = len(self.variables)
        self._index = {v: i for i, v in enumerate(self.variables)}

    # -- checking ------------------------------------------------------------------------
    def _shown(self) -> str:
        return repr(self.text) if len(self.text) <= 80 else repr(self.text[:77] + "...")

    def _part(self, node: ast.AST) -> str:
        part = ast.get_source_segment(self._source, node) or type(node).__name__
        return part if len(part) <= 80 else part[:77] + "..."

    def _check(self, node: ast.AST, used: set[str]) -> None:
        if isinstance(node, ast.BinOp):
            if not isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
                raise FormulaError(
                    f"operator {type(node.op).__name__} in {self._part(node)!r} is not allowed; "
                    "use + - * / ** (or ^)"
                )
            self._check(node.left, used)
            self._check(node.right, used)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise FormulaError(f"operator in {self._part(node)!r} is not allowed")
            self._check(node.operand, used)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                kind = "string" if isinstance(node.value, (str, bytes)) else "constant"
                raise FormulaError(f"{kind} {self._part(node)!r} is not allowed; only numbers")
            if not abs(node.value) <= sys.float_info.max:  # exact for ints of any size
                raise FormulaError(
                    f"number {self._part(node)} is too large; numbers must be at most "
                    f"{sys.float_info.max:.4g} in size"
                )
        elif isinstance(node, ast.Name):
            name = node.id
            if name in CONSTANTS:
                return
            if name in ("x", "y", "z") or _VAR_RE.match(name):
                used.add(name)
                return
            if name in FUNCTIONS:
                raise FormulaError(f"function {name!r} must be called, e.g. {name}(x)")
            raise FormulaError(
                f"unknown name {name!r}; allowed are the variables x, y, z (or x1 ... xn), "
                f"the constants pi, e and the functions {', '.join(FUNCTIONS)}"
            )
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                if isinstance(node.func, ast.Attribute):
                    raise FormulaError(f"attribute access {self._part(node.func)!r} is not allowed")
                raise FormulaError(f"call {self._part(node)!r} is not allowed")
            fname = node.func.id
            if fname not in FUNCTIONS:
                raise FormulaError(
                    f"call of {fname!r} is not allowed; allowed functions: {', '.join(FUNCTIONS)}"
                )
            if node.keywords:
                raise FormulaError(f"keyword arguments in {self._part(node)!r} are not allowed")
            want = 2 if fname in _BINARY else 1
            if len(node.args) != want or any(isinstance(a, ast.Starred) for a in node.args):
                raise FormulaError(
                    f"{fname}() takes {want} argument{'s' if want > 1 else ''}, got "
                    f"{self._part(node)!r}"
                )
            for arg in node.args:
                self._check(arg, used)
        elif isinstance(node, ast.Attribute):
            raise FormulaError(f"attribute access {self._part(node)!r} is not allowed")
        elif isinstance(node, ast.Subscript):
            raise FormulaError(f"subscript {self._part(node)!r} is not allowed")
        elif isinstance(node, ast.Lambda):
            raise FormulaError(f"lambda {self._part(node)!r} is not allowed")
        elif isinstance(node, ast.Compare):
            raise FormulaError(f"comparison {self._part(node)!r} is not allowed")
        else:
            raise FormulaError(
                f"{type(node).__name__} {self._part(node)!r} is not allowed in a formula"
            )

    def _order_variables(self, used: set[str], dim: int | None) -> list[str]:
        indexed = sorted(int(m.group(1)) for m in map(_VAR_RE.match, used) if m)
        plain = used & {"x", "y", "z"}
        if indexed and plain:
            raise FormulaError(
                f"mix of variable styles {sorted(used)}: use x, y, z or x1 ... xn, not both"
            )
        if indexed:
            n = max(indexed)
            names = [f"x{i}" for i in range(1, n + 1)]
        else:
            n = 3 if "z" in plain else 2 if "y" in plain else 1
            names = ["x", "y", "z"][:n]
        if dim is not None:
            if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < n:
                raise ValueError(f"dim={dim!r} is too small for the variables {names} (need {n})")
            if dim > n:
                if not indexed and dim > 3:
                    raise ValueError(f"dim={dim!r}: with x, y, z use x1 ... x{dim} instead")
                names = [f"x{i}" for i in range(1, dim + 1)] if indexed else ["x", "y", "z"][:dim]
        return names

    # -- evaluation ----------------------------------------------------------------------
    def value_and_grad(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """f and grad f on points X of shape (..., D); NaN/inf where f is undefined."""
        X = np.asarray(X, dtype=np.float64)
        with np.errstate(all="ignore"):
            v, t = self._eval(self._tree, X)
            shape = X.shape[:-1]
            return (np.broadcast_to(v, shape).copy(), np.broadcast_to(t, (*shape, self.dim)).copy())

    def value(self, X: np.ndarray) -> np.ndarray:
        """f on points X of shape (..., D)."""
        return self.value_and_grad(X)[0]

    def grad(self, X: np.ndarray) -> np.ndarray:
        """grad f on points X of shape (..., D)."""
        return self.value_and_grad(X)[1]

    def _eval(self, node: ast.AST, X: np.ndarray) -> tuple[Any, Any]:
        zero = np.zeros(self.dim)
        if isinstance(node, ast.Constant):  # a real number (checked when parsed)
            return np.float64(cast(float, node.value)), zero
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return np.float64(CONSTANTS[node.id]), zero
            i = self._index[node.id]
            tangent = np.zeros(self.dim)
            tangent[i] = 1.0
            return X[..., i], tangent
        if isinstance(node, ast.UnaryOp):
            v, t = self._eval(node.operand, X)
            return (-v, -t) if isinstance(node.op, ast.USub) else (v, t)
        if isinstance(node, ast.BinOp):
            a, da = self._eval(node.left, X)
            b, db = self._eval(node.right, X)
            op = node.op
            if isinstance(op, ast.Add):
                return a + b, da + db
            if isinstance(op, ast.Sub):
                return a - b, da - db
            if isinstance(op, ast.Mult):
                return a * b, _scale(b, da) + _scale(a, db)
            if isinstance(op, ast.Div):
                q = a / b
                return q, _scale(1.0 / b, da) - _scale(q / b, db)
            return self._pow(a, da, b, db)
        if isinstance(node, ast.Call):
            func = cast(ast.Name, node.func)  # only named functions pass the parse check
            name = _ALIASES.get(func.id, func.id)
            if name in _BINARY:
                (a, da), (b, db) = (self._eval(arg, X) for arg in node.args)
                pick_a = a >= b if name == "max" else a <= b
                v = np.where(pick_a, a, b)
                return v, np.where(np.asarray(pick_a)[..., None], da, db)
            u, du = self._eval(node.args[0], X)
            fn, dfn = _UNARY[name]
            v = fn(u)
            return v, _scale(dfn(u, v), du)
        raise FormulaError(f"cannot evaluate {self._part(node)!r}")  # unreachable after _check

    @staticmethod
    def _pow(a: Any, da: Any, b: Any, db: Any) -> tuple[Any, Any]:
        v = a**b
        if not np.any(db):  # constant exponent: d(a^b) = b a^(b-1) da
            return v, _scale(b * a ** (b - 1.0), da)
        return v, _scale(b * a ** (b - 1.0), da) + _scale(v * np.log(a), db)

    def __repr__(self) -> str:
        return f"Formula({self.text!r}, variables={self.variables})"


def parse_formula(text: str, dim: int | None = None) -> Formula:
    """Check ``text`` against the whitelist and return a :class:`Formula`."""
    return Formula(text, dim)


def looks_like_formula(text: str) -> bool:
    """True when ``text`` has a formula's characters (an operator, a bracket or a variable)."""
    t = text.strip()
    return bool(re.search(r"[-+*/^()]", t)) or t in ("x", "y", "z") or bool(_VAR_RE.match(t))


def _latex(text: str) -> str:
    return text.replace("**", "^").replace("*", r" \cdot ")


def from_formula(
    text: str,
    *,
    dim: int | None = None,
    bounds: Any = None,
    start: Any = None,
    lr: float = 0.05,
    name: str | None = None,
    log_scale: bool = False,
) -> Landscape:
    """A landscape from a formula such as ``"x**2 + 3*sin(y)"`` (parsed safely, never eval'd).

    ``dim`` defaults to the variables used (x -> 1, x, y -> 2, x, y, z -> 3, x1..xn -> n);
    ``bounds`` default to [-3, 3] in each variable. The minima are unknown.

    >>> f = from_formula("x**2 + 3*sin(y)")
    >>> f.dim, float(f.value([1.0, 0.0]))
    (2, 1.0)
    """
    formula = parse_formula(text, dim)
    D = formula.dim
    if bounds is None:
        bounds = [[-3.0, 3.0]] * D
    return Landscape(
        name or formula.text,
        D,
        formula.value,
        formula.grad,
        minima_known=False,
        bounds=bounds,
        start=start,
        lr=lr,
        log_scale=log_scale,
        description=f"f({', '.join(formula.variables)}) = {formula.text}",
        formula=formula.text,
        latex=_latex(formula.text),
        params={"formula": formula.text, "dim": D},
        value_and_grad_fn=formula.value_and_grad,
    )

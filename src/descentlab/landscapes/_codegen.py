"""A checked formula as Python source of one scalar function, for Numba to compile.

:func:`formula_source` walks the syntax tree that :class:`~descentlab.landscapes.formula.Formula`
has already checked against its whitelist and writes straight-line code that computes f
and its gradient at one point in forward mode, one tangent per variable, as
``Formula._eval`` does on arrays, operation for operation:

* variables are read by index (``x[i]``); nothing of the user's text reaches the source,
  only node types, operator and function names from fixed tables, and numbers written
  with ``repr(float(...))``;
* a subtree without variables is evaluated by ``Formula._eval`` itself (NumPy's scalar
  arithmetic) and written as its number;
* ``_scale``'s rule (0 wherever the tangent is 0, so that inf * 0 gives 0) is kept per
  tangent, and tangents known to be 0 are left out;
* powers with a constant exponent take NumPy's exact cases (``a**2`` is ``a*a``,
  ``a**0.5`` is ``sqrt(a)``, ``a**-1`` is ``1/a``, ``a**1`` is ``a``, ``a**0`` is 1); other
  powers, ``exp``, ``log``, ... call the C library, which may differ from NumPy's
  vectorized functions in the last bit.

Any node outside the whitelist raises :class:`FormulaError` (the parser refuses those
first; this is a second line).
"""

from __future__ import annotations

import ast
import math
from typing import Any

import numpy as np

from descentlab.landscapes.formula import _ALIASES, _BINARY, _UNARY, Formula, FormulaError

__all__ = ["FUNCTION_NAME", "formula_key", "formula_source"]

FUNCTION_NAME = "formula_vg"

# name -> (value of u, derivative as a function of (u, v)); u and v are local names
_CALLS: dict[str, tuple[str, str]] = {
    "sin": ("math.sin({u})", "math.cos({u})"),
    "cos": ("math.cos({u})", "-math.sin({u})"),
    "tan": ("math.tan({u})", "1.0 + {v} * {v}"),
    "exp": ("math.exp({u})", "{v}"),
    "log": ("_log({u})", "1.0 / {u}"),
    "log1p": ("_log1p({u})", "1.0 / (1.0 + {u})"),
    "sqrt": ("_sqrt({u})", "0.5 / {v}"),
    "abs": ("abs({u})", "f_sign({u})"),
    "tanh": ("math.tanh({u})", "1.0 - {v} * {v}"),
    "sinh": ("math.sinh({u})", "math.cosh({u})"),
    "cosh": ("math.cosh({u})", "math.sinh({u})"),
    "arctan": ("math.atan({u})", "1.0 / (1.0 + {u} * {u})"),
    "sigmoid": ("f_sigmoid({u})", "{v} * (1.0 - {v})"),
    "softplus": ("f_softplus({u})", "f_sigmoid({u})"),
    "relu": ("f_relu({u})", "f_step({u})"),
}
assert set(_CALLS) == set(_UNARY), "every formula function needs generated code"


def formula_key(formula: Formula) -> tuple[str, tuple[str, ...]]:
    """The normalized text of a formula: its syntax tree and its variables in order."""
    return ast.dump(formula._tree), tuple(formula.variables)


def _number(value: Any) -> str:
    v = float(value)
    if math.isnan(v):
        return "math.nan"
    if math.isinf(v):
        return "math.inf" if v > 0 else "(-math.inf)"
    return f"({v!r})"


class _Writer:
    def __init__(self, formula: Formula) -> None:
        self.formula = formula
        self.dim = formula.dim
        self.lines: list[str] = []
        self.count = 0
        self._point = np.zeros((1, self.dim))

    def name(self, line: str) -> str:
        self.count += 1
        var = f"v{self.count}"
        self.lines.append(f"    {var} = {line}")
        return var

    def scale(self, factor: str, tangent: str | None) -> str | None:
        if tangent is None:
            return None
        return self.name(f"0.0 if {tangent} == 0.0 else {factor} * {tangent}")

    def combine(self, a: str | None, b: str | None, op: str) -> str | None:
        if b is None:
            return a
        if a is None:
            return b if op == "+" else self.name(f"-{b}")
        return self.name(f"{a} {op} {b}")

    def constant(self, node: ast.AST) -> tuple[str, list[str | None]] | None:
        """A subtree without variables: its value as NumPy computes it, else None."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in self.formula._index:
                return None
        with np.errstate(all="ignore"):
            value, _ = self.formula._eval(node, self._point)
        return self.name(_number(np.asarray(value).reshape(-1)[0])), [None] * self.dim

    def power(self, a: str, exponent: float) -> str:
        """a ** exponent for an array a and a constant exponent, as NumPy rounds it."""
        if exponent == 2.0:
            return self.name(f"{a} * {a}")
        if exponent == 0.5:
            return self.name(f"_sqrt({a})")
        if exponent == -1.0:
            return self.name(f"1.0 / {a}")
        if exponent == 1.0:
            return a
        if exponent == 0.0:
            return self.name("1.0")
        return self.name(f"_pow({a}, {_number(exponent)})")

    def emit(self, node: ast.AST) -> tuple[str, list[str | None]]:
        folded = self.constant(node)
        if folded is not None:
            return folded
        D = self.dim
        if isinstance(node, ast.Name):
            k = self.formula._index[node.id]
            one = self.name("1.0")
            return self.name(f"x[i, {k}]"), [one if j == k else None for j in range(D)]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v, t = self.emit(node.operand)
            if isinstance(node.op, ast.UAdd):
                return v, t
            return self.name(f"-{v}"), [None if d is None else self.name(f"-{d}") for d in t]
        if isinstance(node, ast.BinOp) and isinstance(
            node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
        ):
            if isinstance(node.op, ast.Pow):
                return self.emit_pow(node)
            a, da = self.emit(node.left)
            b, db = self.emit(node.right)
            if isinstance(node.op, ast.Add):
                return self.name(f"{a} + {b}"), [self.combine(p, q, "+") for p, q in zip(da, db)]
            if isinstance(node.op, ast.Sub):
                return self.name(f"{a} - {b}"), [self.combine(p, q, "-") for p, q in zip(da, db)]
            if isinstance(node.op, ast.Mult):
                tangents = [
                    self.combine(self.scale(b, p), self.scale(a, q), "+") for p, q in zip(da, db)
                ]
                return self.name(f"{a} * {b}"), tangents
            q = self.name(f"{a} / {b}")
            inv = self.name(f"1.0 / {b}")
            qb = self.name(f"{q} / {b}")
            return q, [
                self.combine(self.scale(inv, p), self.scale(qb, r), "-") for p, r in zip(da, db)
            ]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and not node.keywords
            and _ALIASES.get(node.func.id, node.func.id) in (*_CALLS, *_BINARY)
        ):
            name = _ALIASES.get(node.func.id, node.func.id)
            if name in _BINARY and len(node.args) == 2:
                a, da = self.emit(node.args[0])
                b, db = self.emit(node.args[1])
                pick = self.name(f"{a} >= {b}" if name == "max" else f"{a} <= {b}")
                value = self.name(f"{a} if {pick} else {b}")
                picked: list[str | None] = []
                for p, r in zip(da, db):
                    if p is None and r is None:
                        picked.append(None)
                    else:
                        picked.append(self.name(f"{p or 0.0} if {pick} else {r or 0.0}"))
                return value, picked
            if name in _CALLS and len(node.args) == 1:
                u, du = self.emit(node.args[0])
                fn, dfn = _CALLS[name]
                v = self.name(fn.format(u=u))
                factor = self.name(dfn.format(u=u, v=v))
                return v, [self.scale(factor, d) for d in du]
        raise FormulaError(f"cannot compile the formula node {type(node).__name__}")

    def emit_pow(self, node: ast.BinOp) -> tuple[str, list[str | None]]:
        a, da = self.emit(node.left)
        b, db = self.emit(node.right)
        constant_b = all(d is None for d in db)
        if constant_b:
            with np.errstate(all="ignore"):
                exponent = float(self.formula._eval(node.right, self._point)[0])
            value = self.power(a, exponent)
            below = self.power(a, float(np.float64(exponent) - 1.0))
            factor = self.name(f"{b} * {below}")
            return value, [self.scale(factor, d) for d in da]
        value = self.name(f"_pow({a}, {b})")
        below = self.name(f"_pow({a}, {b} - 1.0)")
        factor = self.name(f"{b} * {below}")
        logv = self.name(f"{value} * _log({a})")
        return value, [
            self.combine(self.scale(factor, p), self.scale(logv, q), "+") for p, q in zip(da, db)
        ]


def formula_source(formula: Formula) -> str:
    """Source of ``formula_vg(kind, lp, x, g, i)``: f at the point x[i], grad f written into
    g[i].

    ``kind`` and ``lp`` are unused (the signature of the built-in landscapes' kernel).
    """
    writer = _Writer(formula)
    value, tangents = writer.emit(formula._tree)
    body = writer.lines
    for j, t in enumerate(tangents):
        body.append(f"    g[i, {j}] = {t if t is not None else '0.0'}")
    body.append(f"    return {value}")
    return f"def {FUNCTION_NAME}(kind, lp, x, g, i):\n" + "\n".join(body) + "\n"

"""Random expression graphs, built once and replayed in descentlab and in PyTorch.

A :class:`Program` is a list of steps over an environment of nodes: the inputs,
new leaves (constants or inputs) and the result of each op. Every op exists in
two twins, ``ours`` (descentlab Tensors, often called through NumPy's own
functions) and ``theirs`` (torch). Steps are drawn by hypothesis one at a time
on concrete values: an op is kept only if both libraries agree on where it is
not smooth (relu's, abs's, clip's and max's routing masks), the result stays
finite and moderate, and the size stays small, so that a mismatch found later
is a wrong gradient and not a tie broken by an ulp.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from hypothesis import strategies as st

import descentlab as dl
from descentlab import autograd as ag

MAX_SIZE = 96
MAX_NDIM = 4


# ----------------------------------------------------------------------- ops
@dataclass(frozen=True)
class Op:
    ours: Callable[..., object]
    theirs: Callable[..., object]
    #: where the op is not smooth, as an array computed from the operands' values; the
    #: op is used only if both libraries' values give the same array
    routing: Callable[..., object] | None = None


def _dims(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


def _reduce_torch(name):
    def run(a, axis, keepdims):
        dims = _dims(axis, a.ndim)
        if name == "sum":
            return a.sum(dims, keepdims) if dims != () else a * 1
        if name == "mean":
            return a.mean(dims, keepdims)
        if name == "max":
            return torch.amax(a, dims, keepdims)
        if name == "min":
            return torch.amin(a, dims, keepdims)
        return torch.logsumexp(a, dims, keepdims)

    return run


def _reduce_ours(name):
    def run(a, axis, keepdims, style="method"):
        if name == "logsumexp":
            return ag.logsumexp(a, axis, keepdims)
        if style == "np":
            return getattr(np, name)(a, axis=axis, keepdims=keepdims)
        return getattr(a, name)(axis, keepdims)

    return run


def _extreme_routing(name):
    def mask(a, axis, keepdims):
        peak = (np.max if name == "max" else np.min)(a, axis=axis, keepdims=True)
        return a == peak

    return mask


def _unary(method: str, np_fn, torch_fn, routing=None) -> Op:
    def ours(a, style="method"):
        return np_fn(a) if style == "np" else getattr(a, method)()

    return Op(ours, lambda a, style="method": torch_fn(a), routing)


def _index_torch(index):
    if isinstance(index, tuple):
        return tuple(torch.from_numpy(i) if isinstance(i, np.ndarray) else i for i in index)
    return torch.from_numpy(index) if isinstance(index, np.ndarray) else index


def _maximum_routing(a, b, style="np"):
    return np.stack(np.broadcast_arrays(a < b, a == b, a > b))


def _clip_routing(a, lo, hi, style="np"):
    return np.stack([a < lo, a == lo, a > hi, a == hi])


OPS: dict[str, Op] = {
    "neg": Op(
        lambda a, style="op": np.negative(a) if style == "np" else -a, lambda a, style="op": -a
    ),
    "exp": _unary("exp", np.exp, torch.exp),
    "log": _unary("log", np.log, torch.log),
    "tanh": _unary("tanh", np.tanh, torch.tanh),
    "sigmoid": _unary("sigmoid", ag.sigmoid, torch.sigmoid),
    "relu": _unary("relu", ag.relu, torch.relu, lambda a, style="np": a > 0),
    "abs": _unary("abs", np.abs, torch.abs, lambda a, style="np": np.sign(a)),
    "sqrt": _unary("sqrt", np.sqrt, torch.sqrt),
    "sin": _unary("sin", np.sin, torch.sin),
    "cos": _unary("cos", np.cos, torch.cos),
    "square": Op(lambda a, style="np": np.square(a), lambda a, style="np": torch.square(a)),
    "pow_scalar": Op(
        lambda a, p, style="op": np.power(a, p) if style == "np" else a**p,
        lambda a, p, style="op": a**p,
    ),
    "rpow": Op(lambda a, base: base**a, lambda a, base: base**a),
    "log_abs": Op(
        lambda a: np.log(np.abs(a) + 0.5),
        lambda a: torch.log(torch.abs(a) + 0.5),
        lambda a: np.sign(a),
    ),
    "softmax": Op(lambda a, axis: a.softmax(axis), lambda a, axis: torch.softmax(a, axis)),
    "log_softmax": Op(
        lambda a, axis: a.log_softmax(axis), lambda a, axis: torch.log_softmax(a, axis)
    ),
    "add": Op(
        lambda a, b, style="op": np.add(a, b) if style == "np" else a + b,
        lambda a, b, style="op": a + b,
    ),
    "sub": Op(
        lambda a, b, style="op": np.subtract(a, b) if style == "np" else a - b,
        lambda a, b, style="op": a - b,
    ),
    "mul": Op(
        lambda a, b, style="op": np.multiply(a, b) if style == "np" else a * b,
        lambda a, b, style="op": a * b,
    ),
    "div": Op(
        lambda a, b, style="op": np.divide(a, b) if style == "np" else a / b,
        lambda a, b, style="op": a / b,
    ),
    "pow": Op(
        lambda a, b, style="op": np.power(a, b) if style == "np" else a**b,
        lambda a, b, style="op": a**b,
    ),
    "maximum": Op(
        lambda a, b, style="np": np.maximum(a, b) if style == "np" else ag.maximum(a, b),
        lambda a, b, style="np": torch.maximum(a, b),
        _maximum_routing,
    ),
    "minimum": Op(
        lambda a, b, style="np": np.minimum(a, b) if style == "np" else ag.minimum(a, b),
        lambda a, b, style="np": torch.minimum(a, b),
        _maximum_routing,
    ),
    "where": Op(
        lambda a, b, cond: np.where(cond, a, b),
        lambda a, b, cond: torch.where(torch.from_numpy(cond), a, b),
    ),
    "clip": Op(
        lambda a, lo, hi, style="np": np.clip(a, lo, hi) if style == "np" else ag.clip(a, lo, hi),
        lambda a, lo, hi, style="np": torch.clamp(a, lo, hi),
        _clip_routing,
    ),
    "matmul": Op(
        lambda a, b, style="op": {
            "op": lambda: a @ b,
            "np": lambda: np.matmul(a, b),
            "dot": lambda: np.dot(a, b),
        }[style](),
        lambda a, b, style="op": torch.matmul(a, b),
    ),
    "linear": Op(
        lambda x, w, b: ag.linear(x, w, b), lambda x, w, b: torch.nn.functional.linear(x, w, b)
    ),
    "norm": Op(
        lambda a, axis: np.linalg.norm(a, axis=axis),
        lambda a, axis: torch.linalg.vector_norm(a, dim=axis),
    ),
    "transpose": Op(
        lambda a, axes, style="method": (
            np.transpose(a, axes) if style == "np" else a.transpose(*axes)
        ),
        lambda a, axes, style="method": a.permute(*axes),
    ),
    "T": Op(lambda a: a.T, lambda a: a.permute(*reversed(range(a.ndim)))),
    "reshape": Op(
        lambda a, shape, style="method": (
            np.reshape(a, shape) if style == "np" else a.reshape(shape)
        ),
        lambda a, shape, style="method": a.reshape(shape),
    ),
    "expand_dims": Op(lambda a, axis: np.expand_dims(a, axis), lambda a, axis: a.unsqueeze(axis)),
    "squeeze": Op(lambda a, axis: np.squeeze(a, axis), lambda a, axis: a.squeeze(axis)),
    "moveaxis": Op(
        lambda a, src, dst: np.moveaxis(a, src, dst), lambda a, src, dst: torch.movedim(a, src, dst)
    ),
    "swapaxes": Op(lambda a, i, j: np.swapaxes(a, i, j), lambda a, i, j: torch.swapaxes(a, i, j)),
    "broadcast_to": Op(
        lambda a, shape: np.broadcast_to(a, shape), lambda a, shape: torch.broadcast_to(a, shape)
    ),
    "getitem": Op(lambda a, index: a[index], lambda a, index: a[_index_torch(index)]),
    "concatenate": Op(
        lambda a, b, axis: np.concatenate([a, b], axis=axis),
        lambda a, b, axis: torch.cat([a, b], axis),
    ),
    "stack": Op(
        lambda a, b, axis: ag.stack([a, b], axis=axis), lambda a, b, axis: torch.stack([a, b], axis)
    ),
    "cross_entropy": Op(
        lambda z, labels: ag.softmax_cross_entropy(z, labels),
        lambda z, labels: torch.nn.functional.cross_entropy(z, torch.from_numpy(labels)),
    ),
}
for _name in ("sum", "mean", "max", "min", "logsumexp"):
    OPS[_name] = Op(
        _reduce_ours(_name),
        lambda a, axis, keepdims, style="method", _n=_name: _reduce_torch(_n)(a, axis, keepdims),
        _extreme_routing(_name) if _name in ("max", "min") else None,
    )


# ------------------------------------------------------------------ programs
@dataclass
class Step:
    op: str
    args: tuple[int, ...]
    params: dict = field(default_factory=dict)


@dataclass
class Program:
    """Leaves (arrays, and whether each is an input) and the steps over them, in the order
    they were drawn: a step ``Step("leaf", (), {"leaf": k})`` brings in leaf k."""

    leaves: list[tuple[np.ndarray, bool]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def run(self, backend: str, inputs: list | None = None) -> list:
        """Every node's value; ``inputs`` replaces the input leaves (for hessians)."""
        feed = iter(inputs or [])
        env: list = []
        for step in self.steps:
            if step.op == "leaf":
                array, is_input = self.leaves[step.params["leaf"]]
                if inputs is not None and is_input:
                    env.append(next(feed))
                elif backend == "ours":
                    env.append(dl.tensor(array, requires_grad=is_input))
                else:
                    env.append(torch.tensor(array, requires_grad=is_input))
                continue
            fn = getattr(OPS[step.op], backend)
            env.append(fn(*(env[i] for i in step.args), **step.params))
        return env

    def describe(self) -> str:
        return " -> ".join(s.op for s in self.steps if s.op != "leaf")


def _np(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    return np.asarray(value.data if isinstance(value, ag.Tensor) else value)


class Builder:
    """Draws a program step by step, evaluating both twins as it goes."""

    def __init__(self, data: st.DataObject, dtype: type, inputs_require_grad: bool = True):
        self.data, self.dtype = data, dtype
        self.rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
        self.program = Program()
        self.ours: list = []
        self.theirs: list = []
        self.new_leaves_are_inputs = inputs_require_grad
        self.second_order = not inputs_require_grad
        #: only ops that are smooth everywhere (for finite differences)
        self.smooth = False

    def draw(self, strategy, label=None):
        return self.data.draw(strategy, label=label)

    # -- leaves ------------------------------------------------------------------
    def random_shape(self, max_ndim: int = 3) -> tuple[int, ...]:
        ndim = self.draw(st.integers(0, max_ndim), "ndim")
        return tuple(self.draw(st.integers(1, 4), "dim") for _ in range(ndim))

    def leaf(self, shape: tuple[int, ...], is_input: bool = True) -> int:
        x = self.rng.standard_normal(shape) * self.draw(st.sampled_from([0.5, 1.0, 2.0]), "scale")
        special = self.draw(st.sampled_from(["none", "zeros", "ties", "negative"]), "special")
        flat = x.reshape(-1)
        if flat.size >= 2 and special == "zeros":
            flat[self.rng.integers(0, flat.size, size=max(1, flat.size // 3))] = 0.0
        elif flat.size >= 2 and special == "ties":
            flat[self.rng.integers(0, flat.size, size=max(2, flat.size // 2))] = flat[0]
        elif special == "negative":
            flat[:] = -np.abs(flat) - 0.25
        x = x.astype(self.dtype)
        self.program.leaves.append((x, is_input))
        self.program.steps.append(Step("leaf", (), {"leaf": len(self.program.leaves) - 1}))
        ours = dl.tensor(x, requires_grad=is_input)
        theirs = torch.tensor(x, requires_grad=is_input)
        self.ours.append(ours)
        self.theirs.append(theirs)
        return len(self.ours) - 1

    # -- applying an op ------------------------------------------------------------
    def apply(self, name: str, args: tuple[int, ...], **params) -> int | None:
        """Evaluate the op on both sides; keep it if it is safe to compare."""
        op = OPS[name]
        a_ours = [self.ours[i] for i in args]
        a_theirs = [self.theirs[i] for i in args]
        if op.routing is not None:
            plain = {k: v for k, v in params.items() if k != "style"}
            with np.errstate(all="ignore"):
                ours_mask = op.routing(*(_np(a) for a in a_ours), **plain)
                theirs_mask = op.routing(*(_np(a) for a in a_theirs), **plain)
            if not np.array_equal(ours_mask, theirs_mask):
                return None
        with np.errstate(all="ignore"):
            try:
                ref = op.theirs(*a_theirs, **params)
            except (RuntimeError, TypeError, IndexError, ValueError):
                return None  # not a valid call for torch either: draw another op
            out = op.ours(*a_ours, **params)
        assert isinstance(out, ag.Tensor), f"{name} returned {type(out).__name__}"
        values = _np(ref)
        if (
            out.size > MAX_SIZE
            or out.size == 0
            or out.ndim > MAX_NDIM
            or not np.all(np.isfinite(values))
            or (values.size and np.abs(values).max() > 1e4)
        ):
            return None
        self.program.steps.append(Step(name, args, params))
        self.ours.append(out)
        self.theirs.append(ref)
        return len(self.ours) - 1

    def values(self, i: int) -> np.ndarray:
        return _np(self.theirs[i])

    # -- choosing operands -----------------------------------------------------------
    def pick(self) -> int:
        """A node, usually one of the most recent (so that graphs grow deep)."""
        back = self.draw(st.integers(0, min(3, len(self.ours) - 1)), "operand")
        return len(self.ours) - 1 - back

    def partner(self, shape: tuple[int, ...]) -> int:
        """A second operand that broadcasts with ``shape``: an existing node or a new leaf."""
        fits = [i for i in range(len(self.ours)) if _broadcasts(self.ours[i].shape, shape)]
        if fits and self.draw(st.booleans(), "reuse"):
            return self.draw(st.sampled_from(fits), "partner")
        kind = self.draw(st.sampled_from(["same", "ones", "suffix", "prefix"]), "broadcast")
        if kind == "same" or not shape:
            new = shape
        elif kind == "ones":
            new = tuple(1 if self.draw(st.booleans(), "one") else n for n in shape)
        elif kind == "suffix":
            new = shape[self.draw(st.integers(0, len(shape)), "cut") :]
        else:
            new = (2, *shape) if len(shape) < MAX_NDIM else shape
        return self.leaf(new, self.new_leaves_are_inputs)


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(a, b) == b
    except ValueError:
        return False


# ------------------------------------------------------------------ generators
def _axis_choice(b: Builder, ndim: int):
    kind = b.draw(st.sampled_from(["none", "int", "tuple"]), "axis kind")
    if kind == "none" or ndim == 0:
        return None
    if kind == "int" or ndim == 1:
        return b.draw(st.integers(-ndim, ndim - 1), "axis")
    picks = b.draw(
        st.lists(st.integers(0, ndim - 1), min_size=2, max_size=ndim, unique=True), "axes"
    )
    return tuple(p - ndim if b.draw(st.booleans(), "negative") else p for p in picks)


def _style(b: Builder, *choices: str) -> str:
    return b.draw(st.sampled_from(choices), "style")


def gen_unary(b: Builder) -> int | None:
    i = b.pick()
    x = b.values(i)
    names = ["neg", "exp", "log", "tanh", "sigmoid", "sqrt", "sin", "cos", "square"]
    if not b.smooth:
        names += ["relu", "abs", "log_abs"]
    name = b.draw(st.sampled_from(names), "unary")
    if name == "exp" and x.size and np.abs(x).max() > 8:
        return None
    if name in ("log", "sqrt") and (x.size == 0 or x.min() < 0.05):
        return None
    if name in ("square", "log_abs"):
        return b.apply(name, (i,))
    return b.apply(name, (i,), style=_style(b, "method", "np") if name != "neg" else "op")


def gen_pow(b: Builder) -> int | None:
    i = b.pick()
    x = b.values(i)
    kind = b.draw(st.sampled_from(["int", "frac", "rpow", "tensor"]), "pow kind")
    if kind == "int":  # negative bases included
        p = b.draw(st.sampled_from([0, 1, 2, 3, -1, -2]), "exponent")
        if p < 0 and (x.size == 0 or np.abs(x).min() < 0.2):
            return None
        return b.apply(
            "pow_scalar",
            (i,),
            p=float(p) if b.draw(st.booleans()) else p,
            style=_style(b, "op", "np"),
        )
    if kind == "frac":
        if x.size == 0 or x.min() < 0.05:
            return None
        return b.apply("pow_scalar", (i,), p=b.draw(st.sampled_from([0.5, 1.5, -0.5])), style="op")
    if kind == "rpow":
        if x.size and np.abs(x).max() > 8:
            return None
        return b.apply("rpow", (i,), base=b.draw(st.sampled_from([2.0, 0.5, 3.0])))
    if x.size == 0 or x.min() < 0.1:
        return None
    j = b.partner(b.ours[i].shape)
    e = b.values(j)
    if e.size and np.abs(e).max() > 3:
        return None
    return b.apply("pow", (i, j), style=_style(b, "op", "np"))


def gen_binary(b: Builder) -> int | None:
    i = b.pick()
    j = b.partner(b.ours[i].shape)
    if b.draw(st.booleans(), "swap"):
        i, j = j, i
    names = ["add", "sub", "mul", "div", "where"] + ([] if b.smooth else ["maximum", "minimum"])
    name = b.draw(st.sampled_from(names), "binary")
    if name == "div":
        d = b.values(j)
        if d.size and np.abs(d).min() < 0.2:
            return None
    if name == "where":
        shape = np.broadcast_shapes(b.ours[i].shape, b.ours[j].shape)
        cond = b.rng.random(shape) > 0.5
        return b.apply("where", (i, j), cond=cond)
    return b.apply(
        name,
        (i, j),
        style=_style(b, "op", "np")
        if name not in ("maximum", "minimum")
        else _style(b, "np", "ag"),
    )


def gen_reduce(b: Builder) -> int | None:
    i = b.pick()
    t = b.ours[i]
    names = ["sum", "mean", "logsumexp"] + ([] if b.smooth else ["max", "min"])
    name = b.draw(st.sampled_from(names), "reduction")
    axis = _axis_choice(b, t.ndim)
    if t.ndim == 0 and name == "logsumexp":
        return None
    keepdims = b.draw(st.booleans(), "keepdims")
    params = {"axis": axis, "keepdims": keepdims}
    if name != "logsumexp":
        params["style"] = _style(b, "method", "np")
    return b.apply(name, (i,), **params)


def gen_softmax(b: Builder) -> int | None:
    i = b.pick()
    nd = b.ours[i].ndim
    if nd == 0:
        return None
    return b.apply(
        b.draw(st.sampled_from(["softmax", "log_softmax"])),
        (i,),
        axis=b.draw(st.integers(-nd, nd - 1), "axis"),
    )


def gen_matmul(b: Builder) -> int | None:
    i = b.pick()
    shape = b.ours[i].shape
    if not shape:
        return None
    k = shape[-1]
    kind = b.draw(st.sampled_from(["vector", "matrix", "batched", "linear"]), "matmul kind")
    m = b.draw(st.integers(1, 4), "m")
    if kind == "linear":
        w = b.leaf((m, k), b.new_leaves_are_inputs)
        bias = b.leaf((m,), b.new_leaves_are_inputs)
        return b.apply("linear", (i, w, bias))
    new = {"vector": (k,), "matrix": (k, m), "batched": (2, k, m)}[kind]
    j = b.leaf(new, b.new_leaves_are_inputs)
    style = _style(b, "op", "np", "dot") if kind != "batched" else _style(b, "op", "np")
    # j on the left: (k,) @ (..., k, n) needs the node's second-to-last axis to be k
    left = len(shape) >= 2 and shape[-2] == new[-1] and kind != "batched"
    if b.draw(st.booleans(), "left") and left:
        # np.dot is matmul only while its second operand has at most 2 dimensions
        return b.apply("matmul", (j, i), style="op" if len(shape) > 2 else style)
    return b.apply("matmul", (i, j), style=style)


def gen_shape(b: Builder) -> int | None:
    i = b.pick()
    t = b.ours[i]
    nd = t.ndim
    kind = b.draw(
        st.sampled_from(
            [
                "transpose",
                "T",
                "reshape",
                "expand_dims",
                "squeeze",
                "moveaxis",
                "swapaxes",
                "broadcast_to",
            ]
        ),
        "shape op",
    )
    if kind == "transpose":
        perm = b.draw(st.permutations(range(nd)), "perm")
        axes = tuple(p - nd if b.draw(st.booleans(), "negative") else p for p in perm)
        return b.apply("transpose", (i,), axes=axes, style=_style(b, "method", "np"))
    if kind == "T":
        return b.apply("T", (i,))
    if kind == "reshape":
        dims = []
        rest = t.size
        for f in (2, 3, 2, 2, 3):
            if rest % f == 0 and b.draw(st.booleans(), "factor"):
                dims.append(f)
                rest //= f
        dims.append(rest)
        b.rng.shuffle(dims)
        if dims and b.draw(st.booleans(), "minus one"):
            dims[b.draw(st.integers(0, len(dims) - 1), "which")] = -1
        return b.apply("reshape", (i,), shape=tuple(dims), style=_style(b, "method", "np"))
    if kind == "expand_dims":
        return b.apply("expand_dims", (i,), axis=b.draw(st.integers(-nd - 1, nd), "axis"))
    if nd == 0:
        return None
    if kind == "squeeze":
        ones = [a for a in range(nd) if t.shape[a] == 1]
        if not ones:
            return None
        a = b.draw(st.sampled_from(ones), "axis")
        return b.apply("squeeze", (i,), axis=a - nd if b.draw(st.booleans()) else a)
    if kind == "moveaxis":
        src = b.draw(st.integers(-nd, nd - 1), "src")
        dst = b.draw(st.integers(-nd, nd - 1), "dst")
        return b.apply("moveaxis", (i,), src=src, dst=dst)
    if kind == "swapaxes":
        return b.apply(
            "swapaxes", (i,), i=b.draw(st.integers(-nd, nd - 1)), j=b.draw(st.integers(-nd, nd - 1))
        )
    shape = tuple(3 if n == 1 and b.draw(st.booleans(), "grow") else n for n in t.shape)
    if nd < MAX_NDIM and b.draw(st.booleans(), "lead"):
        shape = (2, *shape)
    return b.apply("broadcast_to", (i,), shape=shape)


def gen_index(b: Builder) -> int | None:
    i = b.pick()
    t = b.ours[i]
    if t.ndim == 0:
        return None
    kind = b.draw(st.sampled_from(["basic", "repeats", "pairs", "mask", "mixed"]), "index kind")
    n0 = t.shape[0]
    if kind == "basic":
        parts = []
        for n in t.shape:
            choice = b.draw(st.sampled_from(["int", "slice", "all", "none"]), "part")
            if choice == "int":
                parts.append(b.draw(st.integers(-n, n - 1), "int"))
            elif choice == "slice":
                start = b.draw(st.integers(-n, n - 1), "start")
                parts.append(slice(start, None, b.draw(st.integers(1, 2), "step")))
            elif choice == "none":
                parts.extend([None, slice(None)])
            else:
                parts.append(slice(None))
        if b.draw(st.booleans(), "ellipsis"):
            parts = [Ellipsis, *parts[1:]] if len(parts) > 1 else [Ellipsis]
        return b.apply("getitem", (i,), index=tuple(parts))
    if kind == "repeats":
        idx = b.rng.integers(-n0, n0, size=b.draw(st.integers(1, 5), "count"))
        idx[0] = idx[-1]  # at least one repeat when there are two
        return b.apply("getitem", (i,), index=idx)
    if kind == "pairs" and t.ndim >= 2:
        k = b.draw(st.integers(1, 4), "count")
        return b.apply(
            "getitem",
            (i,),
            index=(b.rng.integers(0, n0, size=k), b.rng.integers(0, t.shape[1], size=k)),
        )
    if kind == "mask":
        mask = b.rng.random(t.shape) > 0.4
        return b.apply("getitem", (i,), index=mask)
    idx = b.rng.integers(0, n0, size=3)
    return b.apply("getitem", (i,), index=(idx, Ellipsis) if t.ndim > 1 else idx)


def gen_join(b: Builder) -> int | None:
    i = b.pick()
    t = b.ours[i]
    stack = b.draw(st.booleans(), "stack")
    if stack:
        j = b.leaf(t.shape, b.new_leaves_are_inputs)
        axis = b.draw(st.integers(-t.ndim - 1, t.ndim), "axis")
        return b.apply("stack", (i, j), axis=axis)
    if t.ndim == 0:
        return None
    axis = b.draw(st.integers(-t.ndim, t.ndim - 1), "axis")
    shape = list(t.shape)
    shape[axis] = b.draw(st.integers(1, 3), "length")
    j = b.leaf(tuple(shape), b.new_leaves_are_inputs)
    if b.draw(st.booleans(), "swap"):
        i, j = j, i
    return b.apply("concatenate", (i, j), axis=axis)


def gen_special(b: Builder) -> int | None:
    i = b.pick()
    t = b.ours[i]
    kind = b.draw(
        st.sampled_from(["cross_entropy"] if b.smooth else ["clip", "norm", "cross_entropy"]),
        "special op",
    )
    if kind == "clip":
        x = b.values(i)
        lo = float(np.quantile(x, 0.25)) if x.size else -0.5
        hi = lo + b.draw(st.sampled_from([0.0, 0.5, 1.0]), "width")
        return b.apply("clip", (i,), lo=lo, hi=hi, style=_style(b, "np", "ag"))
    if kind == "norm":
        if t.ndim == 0:
            return None
        axis = None if t.ndim > 1 and b.draw(st.booleans(), "all") else -1
        if axis is None and t.ndim > 2:
            return None
        if b.second_order and np.any(np.linalg.norm(b.values(i), axis=axis) == 0):
            return None  # torch's second derivative at a zero norm is NaN, ours 0 (documented)
        return b.apply("norm", (i,), axis=axis)
    if t.ndim != 2:
        return None
    labels = b.rng.integers(0, t.shape[1], size=t.shape[0])
    return b.apply("cross_entropy", (i,), labels=labels)


GENERATORS = {
    "unary": gen_unary,
    "pow": gen_pow,
    "binary": gen_binary,
    "reduce": gen_reduce,
    "softmax": gen_softmax,
    "matmul": gen_matmul,
    "shape": gen_shape,
    "index": gen_index,
    "join": gen_join,
    "special": gen_special,
}


def build(
    data: st.DataObject,
    dtype: type,
    depth: int,
    n_inputs: int = 2,
    new_leaves_are_inputs: bool = True,
    input_shape: tuple[int, ...] | None = None,
    smooth: bool = False,
) -> Builder:
    """A random program of ``depth`` ops over ``n_inputs`` input leaves."""
    b = Builder(data, dtype, new_leaves_are_inputs)
    b.smooth = smooth
    for _ in range(n_inputs):
        b.leaf(input_shape if input_shape is not None else b.random_shape())
    done = 0
    attempts = 0
    while done < depth and attempts < 20 * depth:
        attempts += 1
        kind = data.draw(st.sampled_from(sorted(GENERATORS)), label="op family")
        if GENERATORS[kind](b) is not None:
            done += 1
    return b


def relative_error(ours: np.ndarray, theirs: np.ndarray, floor: float) -> float:
    """max |a - b| / max(|b|, floor): the relative error of each entry, entries smaller
    than ``floor`` measured against it. NaN and infinities must match exactly."""
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(theirs, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    inf = np.isinf(b)
    np.testing.assert_array_equal(a[inf], b[inf])
    finite = np.isfinite(b)
    if not finite.any():
        return 0.0
    diff = np.abs(a[finite] - b[finite])
    mag = np.abs(b[finite])
    return float((diff / np.maximum(mag, max(floor, 1e-300))).max())


def record(stats: dict[str, dict[str, float]], key: str, error: float) -> None:
    """Count one compared graph under ``key`` and keep the worst error."""
    entry = stats.setdefault(key, {"graphs": 0, "worst_relative_error": 0.0})
    entry["graphs"] += 1
    entry["worst_relative_error"] = max(entry["worst_relative_error"], error)

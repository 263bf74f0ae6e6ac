r"""Run any optimizer of :mod:`descentlab.optim` on a landscape: ``minimize``, ``race``, ``Runner``.

One vectorized loop advances N independent runs (start points, learning rates) at once:

.. math:: g_t = \nabla f(x_t) \;[+\ \text{noise}],\qquad x_{t+1} = \mathrm{update}(x_t, g_t; \eta, \dots)

where the update is the optimizer's one implementation (``SGD`` fed the full gradient is
gradient descent). Each run has its own status: ``"converged"`` when
:math:`\|\nabla f(x_t)\| <` ``tol``, ``"diverged"`` (a non-finite value or gradient, or a
position far outside the landscape's scale, detected long before overflow and without
NumPy warnings), or ``"max_steps"``; finished runs stop changing.

Stochastic gradients: ``batch_size`` on a finite-sum problem walks seeded epochs of
shuffled mini-batches (``ceil(n / b)`` steps per epoch, the last batch may be smaller),
``grad_noise`` adds :math:`\mathcal N(0, \sigma^2)` noise to the gradient of any landscape.
``perturb`` is perturbed gradient descent (Jin et al., 2017): when
:math:`\|\nabla f\| \le` ``threshold`` and at least ``interval`` steps passed since the last
kick, x receives a kick uniform in a ball of the given ``radius``; a run converges only when
a kick no longer leads to a decrease of f (by more than ``f_threshold``).

>>> from descentlab.landscapes import minimize
>>> res = minimize("parabola", 1.0, optimizer="gd", lr=0.1, steps=200)
>>> res.status, abs(float(res.x[0])) < 1e-6
('converged', True)
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np

from descentlab.landscapes.base import Landscape

if TYPE_CHECKING:
    from descentlab.optim import Optimizer

__all__ = ["Result", "Runner", "Trajectory", "minimize", "race"]


class _Sampled(Protocol):
    """A finite-sum landscape: f = mean of n_samples terms, gradients of a batch of them."""

    n_samples: int

    def grad(self, X: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray: ...


RUNNING, CONVERGED, MAX_STEPS, DIVERGED = 0, 1, 2, 3
_STATUS = np.array(["running", "converged", "max_steps", "diverged"])
#: A run is diverged once |x| exceeds this many times the landscape's scale.
DIVERGENCE_FACTOR = 1e6
#: ... or once |f| exceeds this many times max(|f(x0)|, 1).
VALUE_DIVERGENCE_FACTOR = 1e12
_CHUNK = 256
#: rows per block when ``minimize`` runs many deterministic runs without recording
#: (a block's arrays then stay in the CPU cache for all its steps).
CHUNK_ROWS = 32_768


def _row_max_abs(X: np.ndarray) -> np.ndarray:
    """max_j |X[i, j]| per row (NaN if any entry is NaN).

    NumPy reduces a short inner axis slowly; for the few columns of a landscape,
    a running maximum over the columns is many times faster.
    """
    if X.shape[1] > 8:
        return np.abs(X).max(axis=1)
    out = np.abs(X[:, 0])
    for j in range(1, X.shape[1]):
        np.maximum(out, np.abs(X[:, j]), out=out)
    return out


def _row_norm(G: np.ndarray) -> np.ndarray:
    """||G[i]||_2 per row, summed column by column for the few columns of a landscape."""
    if G.shape[1] > 8:
        return np.sqrt(np.einsum("ij,ij->i", G, G))
    out = G[:, 0] * G[:, 0]
    for j in range(1, G.shape[1]):
        out += G[:, j] * G[:, j]
    return np.sqrt(out, out=out)


def _sci(v: float) -> str:
    return f"{v:.0e}".replace("e+0", "e").replace("e+", "e")


class Messages(Sequence[str]):
    """One message per run, written out only when read.

    A batched run of a million starts keeps a few arrays here instead of a
    million strings; ``messages[i]``, iteration and ``np.array(messages)`` work
    as for a list of str.
    """

    def __init__(
        self,
        status: np.ndarray,
        nit: np.ndarray,
        grad_norm: np.ndarray,
        tol: float,
        reasons: list[str],
        oscillating: np.ndarray,
    ) -> None:
        self._status, self._nit, self._gnorm, self._tol = status, nit, grad_norm, tol
        self._reasons, self._oscillating = reasons, oscillating

    def __len__(self) -> int:
        return len(self._status)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        i = int(i)
        s, nit, gn, tol = self._status[i], int(self._nit[i]), self._gnorm[i], self._tol
        if s == CONVERGED:
            return f"converged after {nit} steps: |grad f| = {gn:.3g} < tol = {tol:g}"
        if s == DIVERGED:
            return self._reasons[i]
        if s == MAX_STEPS:
            msg = f"stopped after the maximum of {nit} steps: |grad f| = {gn:.3g} >= tol = {tol:g}"
            if self._oscillating[i]:
                msg += (
                    "; the iterates oscillate between two points without progress "
                    "(the learning rate is too large for this curvature)"
                )
            return msg
        return f"running: step {nit}, |grad f| = {gn:.3g}"

    @classmethod
    def concat(cls, parts: Sequence[Messages]) -> Messages:
        return cls(
            np.concatenate([p._status for p in parts]),
            np.concatenate([p._nit for p in parts]),
            np.concatenate([p._gnorm for p in parts]),
            parts[0]._tol,
            [r for p in parts for r in p._reasons],
            np.concatenate([p._oscillating for p in parts]),
        )

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.array(list(self), dtype=dtype or str)

    def __repr__(self) -> str:
        shown = ", ".join(repr(m) for m in self[:2])
        more = f", ... ({len(self)} runs)" if len(self) > 2 else ""
        return f"Messages([{shown}{more}])"


class Result(dict):
    """The outcome of :func:`minimize`, like ``scipy.optimize.OptimizeResult``.

    A dict with attribute access: ``x``, ``fun``, ``jac`` (gradient at x), ``grad_norm``,
    ``nit``, ``status`` (``"converged"``, ``"max_steps"``, ``"diverged"``), ``message``,
    ``success``, ``trajectory``, ``optimizer``, ``lr``. For N runs at once each field
    has a leading axis of length N (``status``, ``message`` become arrays of str) and
    ``run(i)`` gives the i-th run alone.

    The fields scipy also has (``x, fun, jac, nit, status, success, message``) mean the
    same, with one difference: ``status`` is a word here, where scipy's is an integer
    code. scipy's ``nfev``/``njev``/``hess_inv`` are absent (one gradient per step);
    ``grad_norm``, ``trajectory``, ``optimizer`` and ``lr`` are extra.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    __setattr__ = dict.__setitem__
    __delattr__ = dict.__delitem__

    def __dir__(self) -> list[str]:
        return list(self.keys())

    @property
    def n_runs(self) -> int:
        return int(np.size(self["nit"]))

    def run(self, i: int) -> Result:
        """The i-th run of a batched result as a single-run Result."""
        if np.ndim(self["nit"]) == 0:
            if i not in (0, -1):
                raise IndexError(f"a single-run result has only run 0, got {i}")
            return self
        n = int(self["nit"][i])
        out = Result(
            x=self["x"][i].copy(),
            fun=float(self["fun"][i]),
            jac=self["jac"][i].copy(),
            grad_norm=float(self["grad_norm"][i]),
            nit=n,
            status=str(self["status"][i]),
            message=str(self["message"][i]),
            success=bool(self["success"][i]),
            optimizer=self["optimizer"],
            lr=float(np.ravel(self["lr"])[i if np.size(self["lr"]) > 1 else 0]),
            trajectory=None if self["trajectory"] is None else self["trajectory"].run(i, n),
        )
        return out

    def __repr__(self) -> str:
        if not self:
            return self.__class__.__name__ + "()"
        width = max(map(len, self.keys())) + 1
        lines = []
        for key, val in self.items():
            text = (
                repr(val)
                if not isinstance(val, np.ndarray)
                else np.array2string(
                    val,
                    precision=6,
                    threshold=20,
                    edgeitems=3,
                    separator=", ",
                    prefix=" " * (width + 2),
                )
            )
            lines.append(f"{key.rjust(width)}: {text}")
        return "\n".join(lines)


class Trajectory:
    """The recorded path of one or N runs.

    ``positions`` (T+1, [N,] D), ``values`` and ``grad_norms`` (T+1, [N]) hold the start
    and every step; ``lrs`` (T, [N]) the learning rate used by each step and ``epochs``
    (T,) the (1-based) epoch each step belongs to. A run that finished early keeps its
    final position in later rows.
    """

    def __init__(
        self,
        positions: np.ndarray,
        values: np.ndarray,
        grad_norms: np.ndarray,
        lrs: np.ndarray,
        epochs: np.ndarray,
    ) -> None:
        self.positions = positions
        self.values = values
        self.grad_norms = grad_norms
        self.lrs = lrs
        self.epochs = epochs

    @property
    def steps(self) -> int:
        """Number of recorded steps T."""
        return len(self.positions) - 1

    def __len__(self) -> int:
        return len(self.positions)

    def run(self, i: int, nit: int | None = None) -> Trajectory:
        """Run i of a batched trajectory, cut after its own ``nit`` steps."""
        if self.positions.ndim == 2:
            return self
        end = len(self.positions) if nit is None else nit + 1
        return Trajectory(
            self.positions[:end, i],
            self.values[:end, i],
            self.grad_norms[:end, i],
            self.lrs[: end - 1, i],
            self.epochs[: end - 1],
        )

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.positions.shape))
        return f"Trajectory(steps={self.steps}, positions {shape})"


class _Recorder:
    """Append-only history in preallocated chunks (no re-allocation per step)."""

    def __init__(self, n: int, d: int) -> None:
        self.n, self.d = n, d
        self.chunks: list[tuple[np.ndarray, ...]] = []
        self.used = _CHUNK  # forces a new chunk on the first append
        self.length = 0
        self._cache: tuple[int, tuple[np.ndarray, ...]] | None = None

    def append(
        self, x: np.ndarray, f: np.ndarray, gn: np.ndarray, lr: np.ndarray, epoch: int
    ) -> None:
        if self.used == _CHUNK:
            self.chunks.append(
                (
                    np.empty((_CHUNK, self.n, self.d)),
                    np.empty((_CHUNK, self.n)),
                    np.empty((_CHUNK, self.n)),
                    np.empty((_CHUNK, self.n)),
                    np.empty(_CHUNK, dtype=np.int64),
                )
            )
            self.used = 0
        pos, val, gnorm, lrs, ep = self.chunks[-1]
        k = self.used
        pos[k] = x
        val[k] = f
        gnorm[k] = gn
        lrs[k] = lr
        ep[k] = epoch
        self.used += 1
        self.length += 1

    def extend(
        self, x: np.ndarray, f: np.ndarray, gn: np.ndarray, lr: np.ndarray, epochs: np.ndarray
    ) -> None:
        """Append k steps at once: positions (k, N, D), values and gradient norms (k, N),
        the learning rates (N,) of all k steps, their epochs (k,)."""
        k, done = len(x), 0
        while done < k:
            if self.used == _CHUNK:
                self.append(x[done], f[done], gn[done], lr, int(epochs[done]))
                done += 1
                continue
            pos, val, gnorm, lrs, ep = self.chunks[-1]
            a, m = self.used, min(_CHUNK - self.used, k - done)
            pos[a : a + m] = x[done : done + m]
            val[a : a + m] = f[done : done + m]
            gnorm[a : a + m] = gn[done : done + m]
            lrs[a : a + m] = lr
            ep[a : a + m] = epochs[done : done + m]
            self.used += m
            self.length += m
            done += m

    def arrays(self) -> tuple[np.ndarray, ...]:
        if self._cache is not None and self._cache[0] == self.length:
            return self._cache[1]
        parts = [
            np.concatenate(
                [
                    c[j][: (self.used if i == len(self.chunks) - 1 else _CHUNK)]
                    for i, c in enumerate(self.chunks)
                ]
            )
            for j in range(5)
        ]
        self._cache = (self.length, tuple(parts))
        return self._cache[1]


def _check_real(value: Any, name: str) -> None:
    """Raise TypeError for complex or non-numeric input, which float64 would truncate or reject."""
    if value is None or isinstance(value, (bool, int, float, np.integer, np.floating)):
        return
    try:
        dtype = np.asarray(value).dtype
    except (TypeError, ValueError):
        return  # ragged input: the shape check says what is wrong
    if dtype.kind == "c":
        raise TypeError(
            f"{name} must be real numbers, got an array of dtype {dtype} (the "
            "imaginary parts would be dropped)"
        )
    if dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of numbers, got an array of dtype {dtype}")


def _resolve_landscape(f: Any, x0: Any, jac: Any = None) -> Landscape:
    from descentlab import landscapes

    if jac is not None and (isinstance(f, (Landscape, str)) or not callable(f)):
        raise ValueError(
            "jac= goes with a Python function f; a landscape or a formula has its own gradient"
        )
    if isinstance(f, Landscape):
        return f
    if isinstance(f, str):
        return landscapes.resolve(f)
    if callable(f):
        dim = None
        if x0 is not None:
            _check_real(x0, "x0")
            arr = np.asarray(x0, dtype=np.float64)
            dim = 1 if arr.ndim == 0 else arr.shape[-1]
        return landscapes.from_function(f, dim=dim, jac=jac)
    raise TypeError(
        f"f must be a Landscape, a registry name, a formula or a function, got {type(f).__name__}"
    )


def _as_starts(f: Landscape, x0: Any) -> tuple[np.ndarray, bool]:
    if x0 is None:
        return f.start[None, :].copy(), True
    _check_real(x0, "x0")
    try:
        arr = np.array(x0, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"x0 must be an array of numbers, got {type(x0).__name__}") from err
    D = f.dim
    if arr.ndim == 0 and D == 1:
        return arr.reshape(1, 1), True
    if arr.ndim == 1 and arr.shape[0] == D:
        return arr[None, :], True
    if arr.ndim == 1 and D == 1:
        return arr[:, None], False
    if arr.ndim == 2 and arr.shape[1] == D and arr.shape[0] >= 1:
        return arr.copy(), False
    raise ValueError(
        f"x0 must have shape ({D},) for one run or (N, {D}) for N runs of this {D}-D "
        f"landscape, got shape {arr.shape}"
    )


def _parse_perturb(perturb: Any, tol: float) -> dict[str, float] | None:
    if perturb is None or perturb is False:
        return None
    defaults: dict[str, Any] = {
        "radius": 0.01,
        "threshold": max(1e-3, tol),
        "interval": 20,
        "f_threshold": None,
    }
    if perturb is True:
        opts = dict(defaults)
    elif isinstance(perturb, (int, float)) and not isinstance(perturb, bool):
        opts = {**defaults, "radius": float(perturb)}
    elif isinstance(perturb, Mapping):
        unknown = set(perturb) - set(defaults)
        if unknown:
            raise ValueError(
                f"unknown perturb option(s) {sorted(unknown)}; expected some of {sorted(defaults)}"
            )
        opts = {**defaults, **perturb}
    else:
        raise TypeError(
            f"perturb must be None, True, a radius or a dict(radius=, threshold=, interval=), "
            f"got {perturb!r}"
        )
    for key in ("radius", "threshold", "interval"):
        if not (isinstance(opts[key], (int, float)) and math.isfinite(opts[key]) and opts[key] > 0):
            raise ValueError(f"perturb {key} must be a positive number, got {opts[key]!r}")
    if opts["f_threshold"] is None:
        opts["f_threshold"] = 0.1 * opts["radius"] ** 2
    opts["interval"] = int(opts["interval"])
    return opts


class _PerRun:
    """One optimizer per run, for optimizers whose update couples a parameter's entries.

    Adafactor factors its second moment, Muon orthogonalizes the update matrix and L-BFGS
    treats all entries as one vector: on the (N, D) positions the N runs would interact.
    Each run gets a (1, D) view of its row, its own optimizer and its own learning rate,
    so it evolves exactly as it would alone. A closure-driven optimizer (L-BFGS) takes one
    ``step(closure)`` per step of the runner, i.e. up to its ``max_iter`` iterations.
    """

    def __init__(self, spec: Any, X: np.ndarray, kwargs: dict[str, Any]) -> None:
        from descentlab import optim

        lr = kwargs.get("lr")
        self.params = [optim.ArrayParam(X[i : i + 1]) for i in range(len(X))]
        self.optimizers = []
        for i, p in enumerate(self.params):
            own = dict(kwargs)
            if lr is not None and np.ndim(lr):
                own["lr"] = float(np.ravel(lr)[i])
            self.optimizers.append(spec.build([p], **own))
        self.param_groups = [
            {"lr": lr if lr is not None else self.optimizers[0].param_groups[0]["lr"]}
        ]
        self.state: dict[Any, dict] = {}
        self.needs_closure = bool(getattr(spec.cls, "needs_closure", False))
        self._grad = np.zeros_like(X)
        self._active = np.ones(len(X), dtype=bool)
        self._evaluate: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None

    def prepare(
        self,
        G: np.ndarray,
        active: np.ndarray,
        evaluate: Callable[[np.ndarray], tuple[float, np.ndarray]],
    ) -> None:
        """The next step's gradients, the runs to step, and (x -> f, grad) for closures."""
        self._grad, self._active, self._evaluate = G, active, evaluate

    def step(self, closure: None = None) -> None:
        """Step every active run: with its row of the gradients, or with a closure."""
        evaluate, G = self._evaluate, self._grad
        for i in np.flatnonzero(self._active):
            p, opt = self.params[i], self.optimizers[i]
            if self.needs_closure and evaluate is not None:

                def run_closure(p: Any = p, evaluate: Callable[..., Any] = evaluate) -> float:
                    value, p.grad = evaluate(p.data)
                    return float(value)

                opt.step(run_closure)
            else:
                p.grad = G[i : i + 1]
                opt.step()


class Runner:
    r"""N optimizer runs on one landscape, advanced together step by step.

    Parameters
    ----------
    f : Landscape, str, or callable
        A landscape, a registry name, a formula such as ``"x**2 + 3*sin(y)"``, or a
        Python function (differentiated by autograd unless ``jac`` is given): either
        scipy-style, ``f(x)`` of one point x of shape (D,) returning a scalar (evaluated
        point by point), or vectorized, ``f(X)`` of X of shape (..., D) returning shape
        (...) (one call for all runs: faster with many starts). The convention is
        detected once; see :func:`~descentlab.landscapes.from_function`.
    x0 : array-like of shape (D,) or (N, D), optional
        Start point(s); default ``f.start``. (N, D) runs N independent problems.
    optimizer : str
        A name from ``descentlab.optim.REGISTRY`` (``"gd"`` is ``"sgd"``).
    lr : float or array of shape (N,), optional
        Learning rate eta, per run if an array. Default: ``f.lr`` for SGD-type
        optimizers, the optimizer's own default otherwise.
    steps : int or None
        Maximum number of steps (None: no limit, for streaming).
    tol : float
        A run converges when :math:`\|\nabla f(x_t)\| <` tol.
    batch_size : int, optional
        Mini-batch size for a finite-sum problem (seeded shuffled epochs).
    grad_noise : float
        Standard deviation of Gaussian noise added to every gradient.
    seed : int, optional
        Seed of the one random generator (batches, noise, kicks).
    record : bool
        Record the trajectory.
    perturb : dict, True or float, optional
        Perturbed GD: ``dict(radius=0.01, threshold=1e-3, interval=20, f_threshold=0.1 r^2)``.
    jac : callable or True, optional
        As in scipy: the gradient of a plain NumPy ``f``, ``jac(x)`` in ``f``'s convention,
        or ``True`` when ``f`` returns ``(value, gradient)``. Default: autograd.
    **hyperparameters
        Passed to the optimizer (``momentum=0.9``, ``beta1=...``, ...).
    """

    def __init__(
        self,
        f: Any,
        x0: Any = None,
        optimizer: str = "gd",
        lr: Any = None,
        *,
        steps: int | None = 1000,
        tol: float = 1e-6,
        batch_size: int | None = None,
        grad_noise: float = 0.0,
        seed: int | None = None,
        record: bool = True,
        perturb: Any = None,
        jac: Any = None,
        **hyperparameters: Any,
    ) -> None:
        from descentlab import optim

        self.landscape = _resolve_landscape(f, x0, jac)
        X, self.single = _as_starts(self.landscape, x0)
        N, D = X.shape
        self.n_runs, self.dim = N, D
        if steps is not None and (
            isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0
        ):
            raise ValueError(f"steps must be a non-negative integer or None, got {steps!r}")
        self.max_steps = None if steps is None else int(steps)
        if not (isinstance(tol, (int, float)) and tol >= 0):
            raise ValueError(f"tol must be a non-negative number, got {tol!r}")
        self.tol = float(tol)
        if not (
            isinstance(grad_noise, (int, float)) and math.isfinite(grad_noise) and grad_noise >= 0
        ):
            raise ValueError(f"grad_noise must be a non-negative number, got {grad_noise!r}")
        self.grad_noise = float(grad_noise)
        self.batch_size = self._check_batch(batch_size)
        self.perturb = _parse_perturb(perturb, self.tol)
        self.rng = np.random.default_rng(seed)

        self.spec = optim.get(optimizer)
        kwargs = dict(hyperparameters)
        if lr is None:
            lr = self.landscape.lr if self.spec.cls is optim.SGD else None
        if lr is not None:
            kwargs["lr"] = self._check_lr(lr, N)
        if "batched" in self.spec.hyperparameters:
            kwargs.setdefault("batched", True)
        if getattr(self.spec.cls, "needs_closure", False):
            # the runner's tol and steps decide when a run is done; L-BFGS's own early exits
            # would otherwise freeze a run near f ~ tolerance_change, short of |grad f| < tol
            for name in ("tolerance_grad", "tolerance_change"):
                if name in self.spec.hyperparameters:
                    kwargs.setdefault(name, 0.0)
        self.param = optim.ArrayParam(X)
        self._rows: _PerRun | None = None
        self.optimizer: Optimizer | _PerRun
        if getattr(self.spec.cls, "elementwise", True):
            self.optimizer = self.spec.build([self.param], **kwargs)
        else:
            self._rows = self.optimizer = _PerRun(self.spec, X, kwargs)
        self.lr = self.optimizer.param_groups[0]["lr"]
        # Schedule-Free optimizers take gradients at y but their answer is x: the runner
        # keeps x in the parameter (eval mode) and switches to y only to take a gradient.
        self._two_points = callable(getattr(self.optimizer, "train", None)) and callable(
            getattr(self.optimizer, "eval", None)
        )
        if self._two_points:
            self.optimizer.eval()  # type: ignore[union-attr]

        scale = np.maximum(np.abs(X).max(axis=1), 1.0)
        if self.landscape.bounds is not None:
            scale = np.maximum(scale, np.abs(self.landscape.bounds).max())
        self._x_limit = DIVERGENCE_FACTOR * scale

        self.t = 0
        self.epoch = 1
        self._batches: list[np.ndarray] = []
        self.nit = np.zeros(N, dtype=np.int64)
        self._status = np.full(N, RUNNING, dtype=np.int8)
        self._reason = [""] * N
        self._frozen = X.copy()
        self._prev = X.copy()
        self._prev2 = X.copy()
        self._all_active = True
        self._step_grad = np.zeros_like(X)
        self._t_kick = np.full(N, -(10**9), dtype=np.int64)
        self._f_kick = np.full(N, np.inf)
        self._kicked = np.zeros(N, dtype=bool)
        self.n_kicks = np.zeros(N, dtype=np.int64)

        self._f, self._g, self._gnorm = self._evaluate(X)
        self._f_limit = VALUE_DIVERGENCE_FACTOR * np.maximum(
            np.where(np.isfinite(self._f), np.abs(self._f), 1.0), 1.0
        )
        self._recorder = _Recorder(N, D) if record else None
        self._kept: list[tuple[np.ndarray, np.ndarray]] = []  # this step()'s path (keep_steps)
        self._check_stops(np.ones(N, dtype=bool))
        if self.max_steps == 0:
            self._status[self._status == RUNNING] = MAX_STEPS
        self._record()

    # -- validation ----------------------------------------------------------------------
    def _check_batch(self, batch_size: Any) -> int | None:
        if batch_size is None:
            return None
        n = getattr(self.landscape, "n_samples", None)
        if n is None:
            raise ValueError(
                f"batch_size={batch_size!r} needs a finite-sum problem (e.g. "
                "landscapes.eight_points()); for other landscapes use grad_noise"
            )
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        return int(min(batch_size, n))

    @staticmethod
    def _check_lr(lr: Any, n: int) -> Any:
        _check_real(lr, "lr")
        arr = np.asarray(lr, dtype=np.float64)
        if arr.ndim == 0:
            if not np.isfinite(arr) or arr < 0:
                raise ValueError(f"lr must be a non-negative number, got {lr!r}")
            return float(arr)
        arr = arr.reshape(-1) if arr.ndim == 2 and arr.shape[1] == 1 else arr
        if arr.shape != (n,):
            raise ValueError(
                f"lr must be a number or an array of shape ({n},), got shape {np.shape(lr)}"
            )
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"every lr must be a non-negative number, got {arr.tolist()}")
        return arr[:, None].copy()

    # -- evaluation ----------------------------------------------------------------------
    def _evaluate(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n, d = self.n_runs, self.dim
        with np.errstate(all="ignore"):
            f, g = self.landscape.value_and_grad(X)
            f = np.asarray(f, dtype=np.float64)
            if f.shape != (n,):
                f = np.broadcast_to(f, (n,)).copy()
            g = np.asarray(g, dtype=np.float64)
            if g.shape != (n, d):
                g = g.reshape(n, d)
            gnorm = _row_norm(g)
        return f, g, gnorm

    def _closure_value(self, x: np.ndarray, idx: np.ndarray | None) -> tuple[float, np.ndarray]:
        """f and the (noisy, mini-batch) gradient at one run's position x of shape (1, D)."""
        if idx is None:
            f, g = self.landscape.value_and_grad(x)
        else:
            f, g = self.landscape.value_and_grad(x, idx)  # type: ignore[call-arg]
        g = np.asarray(g, dtype=np.float64).reshape(x.shape)
        if self.grad_noise > 0:
            g = g + self.grad_noise * self.rng.standard_normal(g.shape)
        return float(np.asarray(f, dtype=np.float64).reshape(-1)[0]), g

    def _next_batch(self) -> np.ndarray:
        if not self._batches:
            # batch_size is accepted only for a landscape with n_samples (_check_batch)
            n, b = cast(_Sampled, self.landscape).n_samples, cast(int, self.batch_size)
            perm = self.rng.permutation(n)
            self._batches = [perm[i : i + b] for i in range(0, n, b)][::-1]
            if self.t > 0:
                self.epoch += 1
        return self._batches.pop()

    # -- stepping ------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True once every run has converged, diverged or used its steps."""
        return not bool(np.any(self._status == RUNNING))

    #: with True, each ``step(k)`` leaves the path of its steps in ``last_steps``
    keep_steps: bool = False
    #: positions (k, N, D) and values (k, N) after each step of the last ``step(k)``
    #: (with ``keep_steps``; k = the steps it made)
    last_steps: tuple[np.ndarray, np.ndarray] | None = None
    _plan: Any = False  # False: not looked at yet; None: no compiled steps for this runner

    def step(self, k: int = 1) -> Runner:
        """Advance every running run by up to ``k`` steps (fewer if all finish).

        Deterministic runs of SGD, Adam(W), RMSprop or AdaGrad on a landscape with a
        compiled kernel (see ``_compiled.py``) take the compiled steps, when Numba is
        installed and the fast path (``descentlab.optim.fused.set_fast_path``) allows:
        "always", or "auto" once this process has the loop (``prepare_compiled``) or when
        runs x k repays compiling it. They give the same numbers as the NumPy steps.
        """
        k = int(k)
        keep = self.keep_steps
        self._kept = []
        if k > 0 and not self.done:
            loop = self._compiled_loop(k)
            if loop is not None:
                from descentlab.landscapes._compiled import step_runner

                k -= step_runner(self, self._plan, loop, k)
        for _ in range(k):
            if self.done:
                break
            self._one_step()
            if keep:
                self._kept.append((self.param.data[None].copy(), self._f[None].copy()))
        if keep:
            kept = self._kept
            self.last_steps = (
                (np.concatenate([p for p, _ in kept]), np.concatenate([v for _, v in kept]))
                if kept
                else (np.empty((0, self.n_runs, self.dim)), np.empty((0, self.n_runs)))
            )
        self._kept = []
        return self

    def _compiled_plan(self) -> Any:
        if self._plan is False:
            from descentlab.landscapes._compiled import runner_plan

            self._plan = runner_plan(self)
        return self._plan

    def _compiled_loop(self, k: int) -> Any:
        """The compiled step loop to use for ``k`` steps now, or None (NumPy steps)."""
        from descentlab.optim import fused

        mode = fused.get_fast_path()
        if mode == "never" or self._compiled_plan() is None:
            return None
        from descentlab.landscapes import _compiled

        loop = _compiled.loaded_loop(self._plan)
        if loop is not None:
            return loop
        threshold = _compiled.RUNNER_MIN_ROW_STEPS
        if mode == "always" or k * self.n_runs >= threshold:
            return _compiled.step_loop(self._plan, wait=True)
        return None

    def prepare_compiled(self, wait: bool = False) -> bool:
        """Have the compiled steps ready for ``step``: compile (or load from the disk cache)
        this runner's loop now (``wait``) or in a background thread; whether it applies
        (False with the fast path "never", without Numba, or for runs it cannot take).
        Until a background compilation ends, ``step`` takes the NumPy steps."""
        from descentlab.optim import fused

        if fused.get_fast_path() == "never" or self._compiled_plan() is None:
            return False
        from descentlab.landscapes import _compiled

        if _compiled.loaded_loop(self._plan) is not None:
            return True
        loop = _compiled.step_loop(self._plan, wait=wait)
        return loop is not None or (not wait and _compiled.loop_possible(self._plan))

    def run(self) -> Runner:
        """Step until done (needs a finite ``steps``)."""
        if self.max_steps is None:
            raise ValueError("run() needs a finite number of steps; use step(k) instead")
        return self.step(self.max_steps - self.t)

    def _one_step(self) -> None:
        X = self.param.data
        active = self._status == RUNNING
        self._all_active = bool(active.all())
        if self.perturb is not None:
            self._maybe_kick(X, active)
        idx = None
        if self._two_points:
            self.optimizer.train()  # type: ignore[union-attr]
        if self.batch_size is not None:
            idx = self._next_batch()
            with np.errstate(all="ignore"):
                G = np.asarray(cast(_Sampled, self.landscape).grad(X, idx), dtype=np.float64)
        elif self._two_points:  # the gradient at y, not at the x evaluated last step
            with np.errstate(all="ignore"):
                G = np.asarray(self.landscape.grad(X), dtype=np.float64).reshape(X.shape)
        else:
            G = self._g  # a fresh array from _evaluate; nothing writes into it
        if self.grad_noise > 0:
            G = G + self.grad_noise * self.rng.standard_normal(G.shape)
        self._step_grad = G
        self._prev2, self._prev = self._prev, self._prev2
        np.copyto(self._prev, X)
        self.param.grad = G
        with np.errstate(all="ignore"):
            if self._rows is not None:
                self._rows.prepare(G, active, lambda x: self._closure_value(x, idx))
            self.optimizer.step()
        if self._two_points:
            self.optimizer.eval()  # type: ignore[union-attr]
        if not self._all_active:
            np.copyto(X, self._frozen, where=~active[:, None])
        self.t += 1
        if self.batch_size is None:
            self.epoch = self.t
        self.nit += active
        self._f, self._g, self._gnorm = self._evaluate(X)
        self._check_stops(active)
        if self.max_steps is not None and self.t >= self.max_steps:
            self._status[self._status == RUNNING] = MAX_STEPS
        self._record()

    def _maybe_kick(self, X: np.ndarray, active: np.ndarray) -> None:
        p = self.perturb
        if p is None:
            return
        waited = (self.t - self._t_kick) >= p["interval"]
        failed = self._kicked & waited & (self._f > self._f_kick - p["f_threshold"])
        kick = active & waited & ~failed & (self._gnorm <= p["threshold"])
        if not kick.any():
            return
        D = self.dim
        u = self.rng.standard_normal((self.n_runs, D))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        u *= p["radius"] * self.rng.uniform(size=(self.n_runs, 1)) ** (1.0 / D)
        self._t_kick[kick] = self.t
        self._f_kick[kick] = self._f[kick]
        self._kicked |= kick
        self.n_kicks[kick] += 1
        X[kick] += u[kick]
        self._f, self._g, self._gnorm = self._evaluate(X)

    def _check_stops(self, active: np.ndarray) -> None:
        X, f, gnorm = self.param.data, self._f, self._gnorm
        with np.errstate(all="ignore"):
            xmax = _row_max_abs(X)
            # NaN fails every comparison, so one test per quantity also catches non-finite ones
            healthy = (xmax <= self._x_limit) & (np.abs(f) <= self._f_limit) & (gnorm < np.inf)
        diverged = active & ~healthy
        converged = active & (gnorm < self.tol)
        if self.perturb is not None:
            p = self.perturb
            waited = (self.t - self._t_kick) >= p["interval"]
            converged &= self._kicked & waited & (f > self._f_kick - p["f_threshold"])
        if diverged.any():
            converged &= ~diverged
            for i in np.flatnonzero(diverged):
                self._reason[i] = f"diverged at step {self.nit[i]}: {self._why(int(i), xmax[i])}"
            self._status[diverged] = DIVERGED
        if converged.any():
            self._status[converged] = CONVERGED
        finished = diverged | converged
        if finished.any():
            self._frozen[finished] = X[finished]

    def _why(self, i: int, xmax: float) -> str:
        f = self._f[i]
        if not np.isfinite(f):
            return "f(x) is not finite"
        if not np.isfinite(xmax):
            return "x is not finite"
        if not np.isfinite(self._gnorm[i]):
            return "the gradient is not finite"
        if xmax > self._x_limit[i]:
            return (
                f"|x| = {xmax:.3g} is more than {_sci(DIVERGENCE_FACTOR)} times the "
                "landscape's scale"
            )
        return (
            f"|f(x)| = {abs(f):.3g} grew more than {_sci(VALUE_DIVERGENCE_FACTOR)} "
            "times beyond its start"
        )

    def _record(self) -> None:
        if self._recorder is None:
            return
        lr = np.broadcast_to(
            np.asarray(self.optimizer.param_groups[0]["lr"], dtype=np.float64).reshape(-1),
            (self.n_runs,),
        )
        self._recorder.append(
            self.param.data,
            self._f,
            self._gnorm,
            lr if self.t > 0 else np.full(self.n_runs, np.nan),
            self.epoch if self.t > 0 else 0,
        )

    # -- current state -------------------------------------------------------------------
    def _out(self, arr: np.ndarray) -> Any:
        if not self.single:
            return arr
        return arr[0] if arr.ndim > 1 else arr[0].item() if arr.dtype.kind != "U" else str(arr[0])

    @property
    def x(self) -> np.ndarray:
        """Current position(s): (D,) or (N, D)."""
        return self._out(self.param.data.copy())

    @property
    def values(self) -> Any:
        """Current f per run."""
        return self._out(self._f.copy())

    @property
    def grad(self) -> np.ndarray:
        """Current full gradient per run."""
        return self._out(self._g.copy())

    @property
    def grad_norm(self) -> Any:
        return self._out(self._gnorm.copy())

    @property
    def status(self) -> Any:
        """Per run: "running", "converged", "max_steps" or "diverged"."""
        return self._out(_STATUS[self._status])

    def readout(self) -> dict[str, Any]:
        """Per run: the numbers behind the last step.

        ``x``, ``grad`` (full gradient at x), ``step_grad`` (the gradient the last step
        used, with noise / mini-batch), ``delta`` (the last step x_t - x_{t-1}),
        ``velocity`` (momentum buffer or Adam's m, else None), ``second_moment``
        (AdaGrad's sum, RMSprop's/Adam's v, AdaGrad-Norm's b^2, else None),
        ``effective_lr`` = |delta| / |step_grad| and ``state`` (every state array).
        """
        raw: Mapping[str, Any] = self.optimizer.state.get(self.param, {})
        state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in raw.items()}
        velocity = next((state[k] for k in ("momentum_buffer", "exp_avg") if k in state), None)
        second = next(
            (state[k] for k in ("exp_avg_sq", "square_avg", "sum", "sum_sq_norm") if k in state),
            None,
        )
        if second is not None:
            second = np.broadcast_to(
                np.asarray(second, dtype=np.float64),
                (self.n_runs, 1)
                if np.size(second) in (1, self.n_runs)
                and np.shape(second) != (self.n_runs, self.dim)
                else (self.n_runs, self.dim),
            ).copy()
        with np.errstate(all="ignore"):
            gn = np.sqrt((self._step_grad**2).sum(axis=1))
            delta = self.param.data - self._prev if self.t > 0 else np.zeros_like(self._prev)
            dn = np.sqrt((delta**2).sum(axis=1))
            eff = np.divide(dn, gn, out=np.full(self.n_runs, np.nan), where=gn > 0)
        out = {
            "step": self.t,
            "x": self.param.data.copy(),
            "grad": self._g.copy(),
            "step_grad": self._step_grad.copy(),
            "delta": delta,
            "velocity": velocity,
            "second_moment": second,
            "effective_lr": eff,
            "state": state,
        }
        if self.single:
            for key in ("x", "grad", "step_grad", "delta", "velocity", "second_moment"):
                if out[key] is not None:
                    out[key] = out[key][0]
            out["effective_lr"] = float(eff[0])
        return out

    def trajectory(self) -> Trajectory | None:
        """The recorded path so far (None with ``record=False``)."""
        if self._recorder is None:
            return None
        pos, val, gn, lrs, ep = self._recorder.arrays()
        if self.single:
            return Trajectory(pos[:, 0], val[:, 0], gn[:, 0], lrs[1:, 0], ep[1:])
        return Trajectory(pos, val, gn, lrs[1:], ep[1:])

    def _messages(self) -> Messages:
        X, P1, P2 = self.param.data, self._prev, self._prev2
        with np.errstate(all="ignore"):
            back = _row_max_abs(X - P2)
            jump = _row_max_abs(X - P1)
            scale = np.maximum(_row_max_abs(X), 1e-300)
            oscillating = (
                (self._status == MAX_STEPS)
                & (self.nit >= 2)
                & (jump > 1e-8 * scale)
                & (back <= 1e-9 * scale + 1e-3 * jump)
            )
        return Messages(
            self._status.copy(),
            self.nit.copy(),
            self._gnorm.copy(),
            self.tol,
            list(self._reason),
            oscillating,
        )

    def result(self) -> Result:
        """The current outcome as a :class:`Result` (valid mid-run too)."""
        status = _STATUS[self._status]
        messages = self._messages()
        lr = self.optimizer.param_groups[0]["lr"]
        lr = np.asarray(lr, dtype=np.float64).reshape(-1) if np.ndim(lr) else float(lr)
        res = Result(
            x=self.param.data.copy(),
            fun=self._f.copy(),
            jac=self._g.copy(),
            grad_norm=self._gnorm.copy(),
            nit=self.nit.copy(),
            status=status,
            message=messages,
            success=self._status == CONVERGED,
            optimizer=self.spec.name,
            lr=lr,
            trajectory=self.trajectory(),
        )
        if self.single:
            res.update(
                x=res.x[0],
                fun=float(res.fun[0]),
                jac=res.jac[0],
                grad_norm=float(res.grad_norm[0]),
                nit=int(res.nit[0]),
                status=str(status[0]),
                message=str(messages[0]),
                success=bool(res.success[0]),
                lr=float(np.ravel(lr)[0]) if np.ndim(lr) else lr,
            )
        return res

    def __repr__(self) -> str:
        counts = {s: int((self._status == k).sum()) for k, s in enumerate(_STATUS)}
        text = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        return (
            f"Runner({self.landscape.name!r}, optimizer={self.spec.name!r}, "
            f"runs={self.n_runs}, step={self.t}: {text})"
        )


def minimize(
    f: Any,
    x0: Any = None,
    optimizer: str = "gd",
    lr: Any = None,
    steps: int = 1000,
    tol: float = 1e-6,
    batch_size: int | None = None,
    grad_noise: float = 0.0,
    seed: int | None = None,
    record: bool = True,
    perturb: Any = None,
    jac: Any = None,
    **hyperparameters: Any,
) -> Result:
    r"""Minimize ``f`` from ``x0`` with an optimizer of :mod:`descentlab.optim`.

    Gradient descent (the default ``"gd"``) is :math:`x_{t+1} = x_t - \eta \nabla f(x_t)`.
    See :class:`Runner` for every argument; ``minimize`` is a Runner run to the end.

    Returns a :class:`Result` with ``x, fun, jac, grad_norm, nit, status, message,
    success, trajectory``; for ``x0`` of shape (N, D) every field has one entry per run.

    >>> res = minimize("x**2", 1.0, lr=1.0, steps=20)
    >>> res.status, "oscillate" in res.message
    ('max_steps', True)

    scipy's convention works too: ``f`` of one point of shape (D,) returning a scalar,
    one start or many (``x0`` of shape (N, D)), with the gradient by autograd or ``jac=``:

    >>> res = minimize(lambda x: (x ** 2).sum(), [1.0], lr=0.1)
    >>> res.success, abs(float(res.x[0])) < 1e-6
    (True, True)
    >>> res = minimize(lambda x: float(x @ x), [[1.0, 2.0], [3.0, -1.0]], lr=0.1,
    ...                jac=lambda x: 2 * x)
    >>> res.status.tolist()
    ['converged', 'converged']
    """
    if steps is None:
        raise ValueError("minimize needs a finite number of steps")
    options = dict(
        steps=steps,
        tol=tol,
        batch_size=batch_size,
        grad_noise=grad_noise,
        seed=seed,
        record=record,
        perturb=perturb,
        jac=jac,
        **hyperparameters,
    )
    deterministic = batch_size is None and not grad_noise and perturb is None
    _check_real(x0, "x0")
    if not record and deterministic and jac is None:
        from descentlab.landscapes._compiled import try_minimize

        compiled = try_minimize(f, x0, optimizer, lr, dict(options))
        if compiled is not None:
            return compiled
    if not record and deterministic and np.ndim(x0) == 2 and len(x0) > CHUNK_ROWS:
        return _minimize_in_chunks(f, np.asarray(x0, dtype=np.float64), optimizer, lr, options)
    return Runner(f, x0, optimizer, lr, **options).run().result()


def _minimize_in_chunks(
    f: Any, x0: np.ndarray, optimizer: str, lr: Any, options: dict[str, Any]
) -> Result:
    """Many independent deterministic runs, a cache-sized block of rows at a time.

    Rows never interact, so running block after block gives exactly the numbers of
    one big run, while each block's arrays stay in the CPU cache for all its steps.
    """
    landscape = _resolve_landscape(f, x0, options.pop("jac", None))
    lrs = np.asarray(lr, dtype=np.float64) if lr is not None and np.ndim(lr) else None
    parts = []
    for start in range(0, len(x0), CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        part_lr = lrs.reshape(-1)[rows] if lrs is not None else lr
        parts.append(Runner(landscape, x0[rows], optimizer, part_lr, **options).run().result())
    first = parts[0]
    joined = {
        key: np.concatenate([p[key] for p in parts])
        for key in ("x", "fun", "jac", "grad_norm", "nit", "status", "success")
    }
    lr_out = (
        np.concatenate([np.ravel(p["lr"]) for p in parts]) if np.ndim(first["lr"]) else first["lr"]
    )
    return Result(
        **joined,
        message=Messages.concat([p["message"] for p in parts]),
        optimizer=first["optimizer"],
        lr=lr_out,
        trajectory=None,
    )


def race(
    f: Any,
    x0: Any = None,
    optimizers: Mapping[str, Mapping[str, Any]] | None = None,
    steps: int = 1000,
    **common: Any,
) -> OrderedDict[str, Result]:
    """Run several optimizers from the same start; results by name, in the given order.

    ``optimizers`` maps a label to its settings, e.g. ``{"sgd": {"lr": 0.01},
    "adam": {"lr": 0.1}}``; a label that is not an optimizer name needs an
    ``"optimizer"`` key (``{"fast adam": {"optimizer": "adam", "lr": 0.3}}``). ``common``
    keywords (``tol``, ``seed``, ``grad_noise``, ...) apply to every run.
    """
    if optimizers is None:
        optimizers = {"sgd": {}, "momentum": {}, "adam": {}}
    if not isinstance(optimizers, Mapping) or not optimizers:
        raise ValueError(
            f"optimizers must be a non-empty dict label -> settings, got {optimizers!r}"
        )
    landscape = _resolve_landscape(f, x0, common.pop("jac", None))
    out: OrderedDict[str, Result] = OrderedDict()
    for label, settings in optimizers.items():
        settings = dict(settings or {})
        name = settings.pop("optimizer", label)
        out[label] = minimize(landscape, x0, name, steps=steps, **{**common, **settings})
    return out

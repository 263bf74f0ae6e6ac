"""Many independent runs of ``minimize`` at compiled speed, when Numba is installed.

``minimize`` with ``record=False`` and no randomness (no ``batch_size``, ``grad_noise`` or
``perturb``) steps every run the same way as the Runner's NumPy loop; this module runs
those steps inside one compiled loop instead (``_compiled_kernels.specialize``): rows in
blocks that stay in the CPU cache, blocks in parallel on every core, and per block every
step at once (update, value and gradient, the stopping and divergence checks), in the
same order of floating-point operations as the NumPy rules, so that float64 results are
the same numbers. Rows of up to 8 coordinates run in a loop that LLVM vectorizes across
rows (``_run_lanes_py``).

It applies to the built-in landscapes whose formula is fixed (a kernel per landscape),
to formulas (compiled from their checked syntax tree, see ``_codegen.py``, and kept in a
bounded cache) and to SGD (momentum, Nesterov), Adam, AdamW, RMSprop and AdaGrad; for
anything else :func:`try_minimize` returns None and the Runner's loop runs as before.
The switch is the optimizers' fast path (``descentlab.optim.fused.set_fast_path`` or
``DESCENTLAB_FAST_PATH``): "never" turns it off, "always" uses it whenever it applies,
"auto" (the default) when the work (runs x steps) repays the compilation.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import math
import os
import sys
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from descentlab.landscapes.base import Landscape

if TYPE_CHECKING:
    from descentlab.optim import Optimizer

__all__ = [
    "FORMULA_CACHE_SIZE",
    "kernel_of",
    "runner_plan",
    "step_loop",
    "step_runner",
    "try_minimize",
]

#: in "auto" mode: least runs x steps for a built-in landscape (its kernels are cached on
#: disk after the first compilation) ...
MIN_ROW_STEPS = 10_000_000
#: ... and for a formula (each new formula is a compilation of a few seconds)
FORMULA_MIN_ROW_STEPS = 50_000_000
#: rows per block: a block's positions, gradients and optimizer states stay in the cache
BLOCK_ROWS = 2048
#: calls of the vectorized loop per thread (each a run of its blocks), so that a thread
#: whose rows stop early takes another
CHUNKS_PER_THREAD = 4
#: most compiled formulas kept (least recently used dropped first)
FORMULA_CACHE_SIZE = 32
#: longest row of a landscape whose value sums over the coordinates
MAX_DIM = 128

_kernels: Any = None  # None: not tried yet; False: Numba unavailable
_formulas: OrderedDict[tuple[str, tuple[str, ...]], Any] = OrderedDict()
_blocks: OrderedDict[tuple[Any, ...], Any] = OrderedDict()  # (target, optimizer) -> loop
_lock = threading.Lock()

# the factories' inner functions (module functions.py) -> kernel number
_BUILTIN = {
    "rosenbrock.<locals>.value": 0,
    "_quadratic.<locals>.<lambda>": 1,
    "double_well.<locals>.<lambda>": 2,
    "cubic.<locals>.<lambda>": 3,
    "xcos.<locals>.<lambda>": 4,
    "saddle.<locals>.<lambda>": 5,
    "monkey_saddle.<locals>.<lambda>": 6,
    "beale.<locals>.value": 7,
    "himmelblau.<locals>.value": 8,
    "booth.<locals>.value": 9,
    "goldstein_price.<locals>.value": 10,
    "six_hump_camel.<locals>.value": 11,
    "rastrigin.<locals>.value": 12,
    "ackley.<locals>.value": 13,
    "styblinski_tang.<locals>.value": 14,
}


def _load() -> Any:
    global _kernels
    if _kernels is None:
        try:
            from descentlab.landscapes import _compiled_kernels  # imports numba
        except ImportError:
            _kernels = False
        else:
            _kernels = _compiled_kernels
    return _kernels


def kernel_of(landscape: Landscape) -> tuple[int, np.ndarray] | Any | None:
    """How to compile ``landscape``: (kernel number, its parameters), a Formula, or None.

    A built-in landscape is recognized by the function its factory in ``functions.py``
    made (a subclass or a user's Landscape of the same name is not); its parameters are
    read from that function's closure. A formula landscape gives its checked Formula.
    """
    from descentlab.landscapes.formula import Formula

    if type(landscape) is not Landscape:
        return None
    fn = landscape._value_fn
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, Formula):
        vg = landscape._vg_fn
        if getattr(vg, "__self__", None) is owner and getattr(vg, "__func__", None) is (
            Formula.value_and_grad
        ):
            return owner
        return None
    if getattr(fn, "__module__", None) != "descentlab.landscapes.functions":
        return None
    kind = _BUILTIN.get(getattr(fn, "__qualname__", ""))
    if kind is None:
        return None
    free = inspect.getclosurevars(fn).nonlocals
    D = landscape.dim
    if kind == 0:
        if D - 1 > MAX_DIM:
            return None
        return 15 if D == 2 else kind, np.array([free["a"], free["b"]], dtype=np.float64)
    if kind == 1:
        scales = np.ascontiguousarray(free["a"], dtype=np.float64)
        return (kind, scales) if scales.shape == (D,) and D <= MAX_DIM else None
    if kind in (12, 13, 14) and D > MAX_DIM:
        return None
    if kind == 12:
        A = free["A"]
        return kind, np.array([A, A * free["dim"], 2 * math.pi * A], dtype=np.float64)
    if kind == 13:
        return kind, np.array([free["a"], free["b"], free["c"]], dtype=np.float64)
    return kind, np.zeros(1)


def compiled_formula(formula: Any) -> Any:
    """The value-and-gradient row function of a Formula, compiled once per normalized text."""
    from descentlab.landscapes._codegen import FUNCTION_NAME, formula_key, formula_source

    key = formula_key(formula)
    with _lock:
        hit = _formulas.get(key)
        if hit is not None:
            _formulas.move_to_end(key)
            return hit
    kernels = _load()
    import numba

    source = formula_source(formula)
    namespace: dict[str, Any] = {
        "math": math,
        "f_sign": kernels.f_sign,
        "f_sigmoid": kernels.f_sigmoid,
        "f_softplus": kernels.f_softplus,
        "f_relu": kernels.f_relu,
        "f_step": kernels.f_step,
        "_pow": kernels.f_pow,
        "_log": kernels.f_log,
        "_log1p": kernels.f_log1p,
        "_sqrt": kernels.f_sqrt,
    }
    # generated from the checked syntax tree only: numbers, indices and fixed names
    exec(compile(source, "<descentlab formula>", "exec"), namespace)  # noqa: S102
    vg = numba.njit(fastmath=False, error_model="numpy", nogil=True, inline="always")(
        namespace[FUNCTION_NAME]
    )
    with _lock:
        _formulas[key] = vg
        while len(_formulas) > FORMULA_CACHE_SIZE:
            _formulas.popitem(last=False)
    return vg


def _loop_key(target: Any, code: int, template: str, dim: int = 0) -> tuple[Any, ...]:
    if isinstance(target, tuple):
        return (template, dim, "builtin", target[0], code)
    from descentlab.landscapes._codegen import formula_key

    return (template, dim, "formula", formula_key(target), code)


def _block_runner(target: Any, code: int, template: str = "run", dim: int = 0) -> Any:
    """The compiled loop of a landscape target and an optimizer code: ``template`` "run"
    (``minimize`` from scratch, a block of rows), "lanes" (the same for rows of length
    ``dim``, vectorized across rows; "lanes_one_lr" when every row has one learning rate)
    or "step" (a Runner's resumed steps)."""
    kernels = _load()
    key = _loop_key(target, code, template, dim)
    with _lock:
        hit = _blocks.get(key)
        if hit is not None:
            _blocks.move_to_end(key)
            return hit
    run_block = _from_disk(target, code, template, dim) if _cache_folder() is not None else None
    if run_block is None:
        vg = kernels.VG[target[0]] if isinstance(target, tuple) else compiled_formula(target)
        run_block = kernels.specialize(vg, kernels.STEP[code], template, dim)
    with _lock:
        _blocks[key] = run_block
        while len(_blocks) > 2 * FORMULA_CACHE_SIZE:
            _blocks.popitem(last=False)
    return run_block


def _cache_folder() -> Path | None:
    """Where compiled loops are kept between processes: ``$DESCENTLAB_CACHE/kernels``, else
    the platform's cache folder (``~/.cache/descentlab/kernels`` on Linux); None when the
    variable is ``off``."""
    env = os.environ.get("DESCENTLAB_CACHE", "").strip()
    if env.lower() in ("off", "0", "none"):
        return None
    if env:
        return Path(env).expanduser() / "kernels"
    if sys.platform.startswith("win"):
        root = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        root = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return root / "descentlab" / "kernels"


def module_source(target: Any, code: int, template: str = "run", dim: int = 0) -> str:
    """The text of a module that compiles the loop of ``target`` and optimizer ``code``
    with Numba's on-disk cache: the template ``TEMPLATES[template]`` of ``_compiled_kernels``
    (``_run_block_py``, ``_run_lanes_py`` or ``_step_block_py``), its helpers imported from
    there, the row length ``dim``, block size and learning rates of the "lanes" templates as
    constants, and for a formula the generated row function."""
    kernels = _load()
    lines = [
        "# Generated by descentlab (landscapes/_compiled.py): the compiled loop of one",
        "# landscape and one optimizer, in a file of its own so that Numba caches it on disk.",
        "import math",
        "import numba",
        "import numpy as np",
        "from descentlab.landscapes import _compiled_kernels as _k",
        "globals().update({k: v for k, v in vars(_k).items() if not k.startswith('__')})",
        f"_step_row = _k.{kernels.STEP[code].__name__}",
        f"_D, _ROWS, _PAD = {int(dim)}, {int(kernels.LANE_ROWS)}, {int(kernels.LANE_PAD)}",
        f"_ONE_LR = {template == 'lanes_one_lr'}",
    ]
    if isinstance(target, tuple):
        lines.append(f"_vg = _k.{kernels.VG[target[0]].__name__}")
    else:
        from descentlab.landscapes._codegen import FUNCTION_NAME, formula_source

        lines += [
            "_pow, _log, _log1p, _sqrt = _k.f_pow, _k.f_log, _k.f_log1p, _k.f_sqrt",
            formula_source(target),
            (
                "_vg = numba.njit(fastmath=False, error_model='numpy', nogil=True, "
                f"inline='always')({FUNCTION_NAME})"
            ),
        ]
    fn = kernels.TEMPLATES[template]
    lines += [
        inspect.getsource(fn),
        "run_block = numba.njit(cache=True, fastmath=False, error_model='numpy', nogil=True)(",
        f"    {fn.__name__}",
        ")",
    ]
    return "\n".join(lines) + "\n"


def _from_disk(target: Any, code: int, template: str = "run", dim: int = 0) -> Any | None:
    """The block loop from its generated module in the cache folder (written if missing or
    different), compiled or loaded by Numba's cache; None if the folder cannot be used."""
    import importlib.util

    from descentlab._atomic import atomic_write_text

    kernels = _load()
    folder = _cache_folder()
    assert folder is not None
    source = module_source(target, code, template, dim)
    # the name changes with the kernels' own code, so a new version never reads an old cache
    own = Path(kernels.__file__).read_bytes()
    digest = hashlib.sha256(own + source.encode()).hexdigest()[:20]
    path = folder / f"block_{digest}.py"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != source:
            atomic_write_text(path, source)
        spec = importlib.util.spec_from_file_location(f"descentlab_block_{digest}", path)
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # Numba's cache finds the module by its name
        spec.loader.exec_module(module)
    except OSError:
        return None
    return module.run_block


def _threads() -> int:
    import numba

    return max(1, int(numba.get_num_threads()))


def _optimizer_args(
    cls: type, hp: dict[str, Any], steps: int, t0: int = 0, mu_product: float = 1.0
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(code, hyperparameters, 1 - beta1^t, sqrt(1 - beta2^t)) of an optimizer for its steps
    t = t0 + 1 ... t0 + steps, or code -1. NAdam's per-step numbers go in its
    hyperparameters, from its ``mu_product`` before these steps; its third entry is then
    the ``mu_product`` after each step."""
    from descentlab import optim

    none = np.zeros(max(steps, 1))
    if cls is optim.SGD:
        values = [hp["momentum"], hp["dampening"], hp["weight_decay"], hp["nesterov"]]
        return 0, np.array([*values, hp["maximize"]], dtype=np.float64), none, none
    if cls in (optim.Adam, optim.AdamW):
        beta1, beta2 = float(hp["beta1"]), float(hp["beta2"])
        w = 1 - beta1
        decoupled = cls is optim.AdamW or bool(hp.get("decoupled_weight_decay", False))
        values = [beta2, hp["eps"], hp["weight_decay"], hp["amsgrad"], hp["maximize"]]
        arr = np.array([*values, decoupled, w, 1 - w, 1 - beta2], dtype=np.float64)
        ts = range(t0 + 1, t0 + steps + 1)
        bc1 = np.array([1 - beta1**t for t in ts] or [1.0])
        bc2 = np.array([(1 - beta2**t) ** 0.5 for t in ts] or [1.0])
        return 1, arr, bc1, bc2
    if cls is optim.RMSprop:
        alpha = float(hp["alpha"])
        w = 1 - alpha
        values = [alpha, hp["eps"], hp["weight_decay"], hp["momentum"], hp["centered"]]
        arr = np.array([*values, hp["maximize"], 1 - alpha, w, 1 - w], dtype=np.float64)
        return 2, arr, none, none
    if cls is optim.Adagrad:
        values = [hp["lr_decay"], hp["weight_decay"], hp["eps"], hp["maximize"]]
        arr = np.array([*values, hp["initial_accumulator_value"]], dtype=np.float64)
        return 3, arr, none, none
    if cls is optim.NAdam:
        beta1, beta2 = float(hp["beta1"]), float(hp["beta2"])
        psi = hp["momentum_decay"]
        w = 1 - beta1
        decoupled = bool(hp.get("decoupled_weight_decay", False))
        values = [beta2, hp["eps"], hp["weight_decay"], hp["maximize"], decoupled]
        values += [w, 1 - w, 1 - beta2, t0]
        products = []
        for t in range(t0 + 1, t0 + steps + 1):  # the numbers of optim.nadam, as it has them
            mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
            mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
            mu_product *= mu
            values += [1 - beta2**t, 1.0 - mu, 1.0 - mu_product, mu_next]
            values.append(1.0 - mu_product * mu_next)
            products.append(mu_product)
        return 6, np.array(values, dtype=np.float64), np.array(products or [1.0]), none
    if cls is optim.Adadelta:
        rho = float(hp["rho"])
        values = [rho, hp["eps"], hp["weight_decay"], hp["maximize"], 1 - rho]
        return 4, np.array(values, dtype=np.float64), none, none
    if cls is optim.Adamax:
        beta1 = float(hp["beta1"])
        w = 1 - beta1
        values = [hp["beta2"], hp["eps"], hp["weight_decay"], hp["maximize"], w, 1 - w]
        bc1 = np.array([1 - beta1**t for t in range(t0 + 1, t0 + steps + 1)] or [1.0])
        return 5, np.array(values, dtype=np.float64), bc1, none
    return -1, none, none, none


def _fused_optimizer(name: Any) -> bool:
    from descentlab import optim

    try:
        cls = optim.get(name).cls
    except Exception:  # noqa: BLE001 - the Runner reports a bad name
        return False
    return cls in (optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad)


def try_minimize(f: Any, x0: Any, optimizer: Any, lr: Any, options: dict[str, Any]) -> Any | None:
    """``minimize`` of deterministic runs without recording, compiled; None if it does not
    apply (then the caller runs the Runner's loop)."""
    from descentlab.landscapes.minimize import MAX_STEPS, RUNNING, Runner, _row_max_abs, _row_norm
    from descentlab.optim import fused
    from descentlab.optim.base import _unpacked

    mode = fused.get_fast_path()
    if mode == "never" or options.get("jac") is not None:
        return None
    steps = options.get("steps")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        return None
    if isinstance(f, Landscape):
        landscape = f
    elif isinstance(f, str):
        from descentlab import landscapes

        try:
            landscape = landscapes.resolve(f)
        except Exception:  # noqa: BLE001 - the Runner reports it
            return None
    else:
        return None
    target = kernel_of(landscape)
    if target is None or not _fused_optimizer(optimizer):
        return None
    formula = not isinstance(target, tuple)
    if mode == "auto":
        rows = np.shape(x0)[0] if np.ndim(x0) == 2 else 1
        if rows * int(steps) < (FORMULA_MIN_ROW_STEPS if formula else MIN_ROW_STEPS):
            return None
    kernels = _load()
    if kernels is False:
        return None
    runner = Runner(landscape, x0, optimizer, lr, **options)
    opt = cast("Optimizer", runner.optimizer)  # elementwise: one optimizer for all rows
    group = opt.param_groups[0]
    code, hp, bc1, bc2 = _optimizer_args(
        type(opt), _unpacked(type(opt).hyperparameters, group), int(steps)
    )
    if code < 0 or runner.done:
        return runner.run().result()
    N, D = runner.n_runs, runner.dim
    # a copy, writeable whether lr is one number or one per run: Numba compiles a read-only
    # array (broadcast_to's view of a per-run lr) as another type, a second compilation
    lrs = np.array(np.broadcast_to(np.asarray(group["lr"], dtype=np.float64).reshape(-1), (N,)))
    lanes = D <= kernels.LANE_MAX_DIM and not runner.nit.any()  # (runs from scratch only)
    if lanes:
        one_lr = N == 0 or bool(np.all(lrs == lrs[0]))
        template = "lanes_one_lr" if one_lr else "lanes"
        run_block, rows = _block_runner(target, code, template, D), kernels.LANE_ROWS
    else:
        run_block, rows = _block_runner(target, code), BLOCK_ROWS
    kind, lp = target if not formula else (0, np.zeros(1))
    X = runner.param.data
    runner._f = np.ascontiguousarray(runner._f, dtype=np.float64)
    runner._g = np.ascontiguousarray(runner._g, dtype=np.float64)
    runner._gnorm = np.ascontiguousarray(runner._gnorm, dtype=np.float64)
    before = runner._status.copy()
    arrays = (
        X,
        runner._f,
        runner._g,
        runner._gnorm,
        runner._status,
        runner.nit,
        runner._prev,
        runner._prev2,
        np.ascontiguousarray(runner._x_limit, dtype=np.float64),
        np.ascontiguousarray(runner._f_limit, dtype=np.float64),
        lrs,
    )

    def block(lo: int) -> None:  # releases the GIL (nogil): blocks run side by side
        run_block(
            *arrays,
            kind,
            lp,
            code,
            hp,
            bc1,
            bc2,
            int(steps),
            runner.tol,
            lo,
            min(N, lo + rows),
        )

    threads = min(_threads(), -(-N // rows))
    if lanes and threads > 1:
        # the lanes loop walks its rows block by block itself: a few calls for each thread
        # (not one per block: thousands of small blocks cost more to hand out than to run)
        rows *= max(1, -(-N // (rows * threads * CHUNKS_PER_THREAD)))
    elif lanes:
        rows = max(N, 1)
    starts = range(0, N, rows)
    if threads <= 1:
        for lo in starts:
            block(lo)
    else:
        with ThreadPoolExecutor(threads, thread_name_prefix="descentlab-minimize") as pool:
            list(pool.map(block, starts))
    if D > 8:  # the Runner sums a longer gradient with einsum; report its norm
        runner._gnorm = _row_norm(runner._g)
    diverged = np.flatnonzero((before == RUNNING) & (runner._status == 3))
    if len(diverged):
        xmax = _row_max_abs(X)
        for i in diverged:
            why = runner._why(int(i), xmax[i])
            runner._reason[i] = f"diverged at step {runner.nit[i]}: {why}"
    runner._status[runner._status == RUNNING] = MAX_STEPS  # (none remain: steps is finite)
    runner.t = runner.epoch = int(runner.nit.max()) if N else 0
    return runner.result()


# -- a Runner's steps, resumed and recorded --------------------------------------------------
#: in "auto" mode a Runner compiles its loop (and waits for it) for a call of at least
#: this many runs x steps; below, it uses a loop already loaded in this process
RUNNER_MIN_ROW_STEPS = MIN_ROW_STEPS
#: most positions (runs x steps x dimensions) written per compiled call: longer calls are
#: cut in pieces, so that the buffers of a recorded step(k) stay small
STEP_CALL_ELEMENTS = 1 << 20
#: the Runner's D <= 8: its gradient norm sums coordinate by coordinate as ``_norm`` does
STEP_MAX_DIM = 8
_ready: dict[tuple[Any, ...], Any] = {}  # step loops compiled (or loaded) and called once
_pending: dict[tuple[Any, ...], Future[Any]] = {}  # loops compiling in the background
_failed: set[tuple[Any, ...]] = set()  # loops whose compilation raised: never retried
_background: ThreadPoolExecutor | None = None


def _optimizer_code(opt: Any) -> int:
    from descentlab import optim

    codes = {
        optim.SGD: 0,
        optim.Adam: 1,
        optim.AdamW: 1,
        optim.RMSprop: 2,
        optim.Adagrad: 3,
        optim.Adadelta: 4,
        optim.Adamax: 5,
        optim.NAdam: 6,
    }
    return codes.get(type(opt), -1)


def runner_plan(runner: Any) -> tuple[Any, int] | None:
    """(landscape target, optimizer code) when the compiled steps can replace ``runner``'s
    NumPy steps, else None: no randomness (batch_size, grad_noise, perturb), one of the
    compiled elementwise optimizers on the runner's one parameter, a landscape with a
    kernel (``kernel_of``), at most STEP_MAX_DIM dimensions. Fixed for a runner's life."""
    if runner.batch_size is not None or runner.grad_noise > 0 or runner.perturb is not None:
        return None
    if runner._rows is not None or runner._two_points or runner.dim > STEP_MAX_DIM:
        return None
    opt = runner.optimizer
    code = _optimizer_code(opt)
    if code < 0 or len(opt.param_groups) != 1:
        return None
    params = opt.param_groups[0]["params"]
    if len(params) != 1 or params[0] is not runner.param:
        return None
    target = kernel_of(runner.landscape)
    if target is None:
        return None
    return target, code


def loaded_loop(plan: tuple[Any, int]) -> Any | None:
    """The step loop of ``plan`` if this process has it already (no import, no compiling)."""
    target, code = plan
    key = _loop_key(target, code, "step")
    with _lock:
        return _ready.get(key)


def loop_possible(plan: tuple[Any, int]) -> bool:
    """Whether the step loop of ``plan`` is or may become available (Numba can be
    imported, its compilation did not fail)."""
    key = _loop_key(plan[0], plan[1], "step")
    with _lock:
        if key in _ready:
            return True
        if key in _failed:
            return False
    return _kernels is not False and (
        _kernels is not None or importlib.util.find_spec("numba") is not None
    )


def step_loop(plan: tuple[Any, int], wait: bool = True) -> Any | None:
    """The step loop of ``plan``: loaded or compiled now (``wait``), else None while a
    background thread compiles it (started here if not yet). None if Numba is missing or
    its compilation failed."""
    target, code = plan
    key = _loop_key(target, code, "step")
    with _lock:
        hit = _ready.get(key)
        if hit is not None or key in _failed:
            return hit
    if _kernels is False or (_kernels is None and importlib.util.find_spec("numba") is None):
        return None  # (Numba itself is imported by the compiling thread)
    if wait:
        with _lock:
            future = _pending.get(key)
        return future.result() if future is not None else _compile_step_loop(key, target, code)
    global _background
    with _lock:
        if key in _pending:
            return None
        if _background is None:
            _background = ThreadPoolExecutor(1, thread_name_prefix="descentlab-compile")
        _pending[key] = _background.submit(_compile_step_loop, key, target, code)
    return None


def _compile_step_loop(key: tuple[Any, ...], target: Any, code: int) -> Any | None:
    """The step loop, compiled (or loaded from the disk cache) by a call that makes no
    step: Numba compiles at the first call, which must not be a frame's."""
    try:
        loop = _block_runner(target, code, "step")
        a2, a1, i1 = np.zeros((1, 2)), np.zeros(1), np.zeros(1, dtype=np.int64)
        status = np.zeros(1, dtype=np.int8)
        kind = target[0] if isinstance(target, tuple) else 0
        loop(a2, a1, a2, a1, status, i1, a2, a2, a2, a2, a1, a1, a1, kind, a1, code, a1,
             a1, a1, a2, a2, a2, 0, 0, 1, 0.0, True, np.zeros((1, 1, 2)), a2, a2)  # fmt: skip
        with _lock:
            _ready[key] = loop
        return loop
    except Exception:  # noqa: BLE001 - the NumPy steps go on; a bug shows in the tests
        with _lock:
            _failed.add(key)
        return None
    finally:
        with _lock:
            _pending.pop(key, None)


def _state_ok(a: Any, shape: tuple[int, int]) -> bool:
    return (
        isinstance(a, np.ndarray)
        and a.dtype == np.float64
        and a.shape == shape
        and a.flags.c_contiguous
        and a.flags.writeable
    )


def _state_arrays(
    code: int, hp: dict[str, Any], state: dict[str, Any], shape: tuple[int, int]
) -> tuple[int, list[str | None], dict[str, Any]] | None:
    """(optimizer step count t0, the keys of S1, S2, S3, the state entries its first
    step creates) as the NumPy rule would find or make them; None if the state is not
    one the loop can take (then NumPy steps, and says what is wrong)."""
    new: dict[str, Any] = {}
    if code == 0:  # SGD: the momentum buffer is a copy of the first step's gradient
        if hp["momentum"] == 0:
            return 1, [None, None, None], new
        if "momentum_buffer" not in state:
            new["momentum_buffer"] = np.empty(shape)
            return 0, ["momentum_buffer", None, None], new
        return 1, ["momentum_buffer", None, None], new
    if code == 1:
        keys: list[str | None] = [
            "exp_avg",
            "exp_avg_sq",
            "max_exp_avg_sq" if hp["amsgrad"] else None,
        ]
        if "exp_avg" not in state:
            new["step"] = 0
            new.update({k: np.zeros(shape) for k in keys if k is not None})
    elif code == 2:
        keys = [
            "square_avg",
            "momentum_buffer" if hp["momentum"] > 0 else None,
            "grad_avg" if hp["centered"] else None,
        ]
        if "square_avg" not in state:
            new["step"] = 0
            new.update({k: np.zeros(shape) for k in keys if k is not None})
    elif code in (4, 5, 6):
        keys = {
            4: ["square_avg", "acc_delta", None],
            5: ["exp_avg", "exp_inf", None],
            6: ["exp_avg", "exp_avg_sq", None],
        }[code]
        if keys[0] not in state:
            new["step"] = 0
            if code == 6:
                new["mu_product"] = 1.0
            new.update({k: np.zeros(shape) for k in keys if k is not None})
        if code == 6 and not isinstance(new.get("mu_product", state.get("mu_product")), float):
            return None
    else:
        keys = ["sum", None, None]
        if "sum" not in state:
            new["step"] = 0
            new["sum"] = np.full(shape, float(hp["initial_accumulator_value"]))
    t0 = new.get("step", state.get("step"))
    if isinstance(t0, bool) or not isinstance(t0, (int, np.integer)):
        return None
    return int(t0), keys, new


def step_runner(runner: Any, plan: tuple[Any, int], loop: Any, k: int) -> int:
    """Up to ``k`` steps of ``runner`` (not done) in the compiled ``loop``; the steps made.

    The same numbers as ``k`` calls of the runner's ``_one_step``: the positions, values,
    gradients, statuses, step counts, messages, the optimizer's state (created as its rule
    creates it) and, when recording, every step's positions, values and gradient norms
    (and ``runner.keep_steps``'s ``last_steps``). Returns 0 without stepping if the
    optimizer's state is not one the loop takes.
    """
    from descentlab.landscapes.minimize import DIVERGED, RUNNING, _row_max_abs
    from descentlab.optim.base import _unpacked

    target, code = plan
    opt = runner.optimizer
    group = opt.param_groups[0]
    hp_values = _unpacked(type(opt).hyperparameters, group)
    N, D = runner.n_runs, runner.dim
    X = runner.param.data
    if not _state_ok(X, (N, D)):
        return 0
    state = opt.state.get(runner.param)
    found = _state_arrays(code, hp_values, state or {}, (N, D))
    if found is None:
        return 0
    t_opt, keys, new = found
    arrays = {**(state or {}), **new}
    S = [arrays.get(key) if key is not None else None for key in keys]
    if any(key is not None and not _state_ok(a, (N, D)) for key, a in zip(keys, S)):
        return 0
    state = opt.state.setdefault(runner.param, {})  # as Optimizer.step does
    state.update(new)
    dummy = np.zeros((1, 1))
    S1, S2, S3 = (a if a is not None else dummy for a in S)
    kind, lp = target if isinstance(target, tuple) else (0, np.zeros(1))
    lr = np.asarray(group["lr"], dtype=np.float64).reshape(-1)
    lrs = np.array(np.broadcast_to(lr, (N,)))  # writeable: a read-only array is another type
    recorder = runner._recorder
    keep = bool(getattr(runner, "keep_steps", False))
    rec = recorder is not None or keep
    per_call = max(1, STEP_CALL_ELEMENTS // (N * D)) if rec else k
    if code == 6:  # NAdam's per-step numbers: five floats a step in its hyperparameters
        per_call = min(per_call, 1 << 16)
    x_limit = np.ascontiguousarray(runner._x_limit, dtype=np.float64)
    f_limit = np.ascontiguousarray(runner._f_limit, dtype=np.float64)
    kept: list[tuple[np.ndarray, np.ndarray]] = []
    total = 0
    while total < k:
        n = min(per_call, k - total)
        mu_product = state.get("mu_product", 1.0) if code == 6 else 1.0
        code_, hp, bc1, bc2 = _optimizer_args(type(opt), hp_values, n, t_opt, mu_product)
        F = np.array(runner._f, dtype=np.float64)
        G = np.array(runner._g, dtype=np.float64)
        GN = np.array(runner._gnorm, dtype=np.float64)
        SG = np.empty((N, D))
        if rec:
            RX, RF, RG = np.empty((n, N, D)), np.empty((n, N)), np.empty((n, N))
        else:
            RX, RF, RG = np.zeros((1, 1, 1)), dummy, dummy
        t_max = runner.max_steps - runner.t if runner.max_steps is not None else n + 1
        before = runner._status.copy()
        made = int(
            loop(
                X,
                F,
                G,
                GN,
                runner._status,
                runner.nit,
                runner._prev,
                runner._prev2,
                runner._frozen,
                SG,
                x_limit,
                f_limit,
                lrs,
                kind,
                lp,
                code_,
                hp,
                bc1,
                bc2,
                S1,
                S2,
                S3,
                t_opt,
                n,
                t_max,
                runner.tol,
                rec,
                RX,
                RF,
                RG,
            )
        )
        if made == 0:
            if total == 0:
                for key in new:  # no step: the rule would not have made them either
                    state.pop(key, None)
            break
        runner._f, runner._g, runner._gnorm, runner._step_grad = F, G, GN, SG
        if code != 0:
            state["step"] = state["step"] + made
        if code == 6:
            state["mu_product"] = float(bc1[made - 1])
        t_opt += made
        t_start = runner.t
        runner.t += made
        runner.epoch = runner.t
        total += made
        diverged = np.flatnonzero((before == RUNNING) & (runner._status == DIVERGED))
        if len(diverged):
            xmax = _row_max_abs(X)
            for i in diverged:
                why = runner._why(int(i), xmax[i])
                runner._reason[i] = f"diverged at step {runner.nit[i]}: {why}"
        if recorder is not None:
            epochs = np.arange(t_start + 1, t_start + made + 1, dtype=np.int64)
            recorder.extend(RX[:made], RF[:made], RG[:made], lrs, epochs)
        if keep:
            kept.append((RX[:made], RF[:made]))
        if made < n:
            break
    if keep:
        runner._kept.extend(kept)
    return total

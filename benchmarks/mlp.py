"""One epoch of an MLP 784-256-128-10 (ReLU, dropout 0.2 after each hidden layer,
softmax cross-entropy, batch 128) on 60,000 samples of MNIST's shape, with Adam and
with SGD momentum 0.9, under three thread settings.

Contenders, all float32, the same data, a fresh shuffle per epoch, repetitions
alternating:
- descentlab, the loop a user writes: ``nn.MLP``, ``optim.Adam`` / ``optim.SGD``,
  ``data.DataLoader``, ``backward``, ``step``;
- descentlab ``fit`` (``train.Trainer.run_epoch``: the same plus its bookkeeping), on the
  hand loop's own model, optimizer and loader;
- PyTorch: the same loop, Adam with ``fused=True`` (its fastest);
- JAX (optional, ``pip install jax``): a ``jit``-compiled train step (forward,
  ``value_and_grad``, the update) called from a Python loop over the batches;
- NumPy by hand: the same step written directly with NumPy arrays (no autograd, no
  modules; the gradients by the chain rule, the update in in-place ufuncs), as a
  careful NumPy programmer would: what the framework costs over NumPy itself, and the
  floor of any step interpreted one NumPy call at a time.

The epoch's matrix products alone (the same shapes, into buffers made beforehand, with
NumPy's BLAS and with torch's) bound what any library using that BLAS can reach: their
ratio to torch's epoch is the floor of descentlab's.

Thread settings, each in a fresh process (JAX fixes its threads at start-up):
``1`` (BLAS, torch and XLA limited to one thread), ``all`` (all cores, and
descentlab's thread policy off: ``DESCENTLAB_BLAS_THREADS=inherit``) and
``default`` (nothing set: what a user gets); in the default process descentlab
also runs under its thread policy's "1" and "inherit" (all threads) settings,
alternating with the rest, for the default-against-the-better comparison. ``--load N`` keeps N other processes
busy meanwhile, as on a shared machine.

Subnormal numbers: on these random labels the network loses units for a while, the
optimizer state of their weights decays through the subnormal range, and arithmetic on
subnormals is slow on x86 (a hundred cycles an operation). descentlab flushes such
state to zero (``optim/params.py``); torch does not, and its fused Adam slows down from
the second epoch on (at one thread 2.0-2.3 s an epoch instead of 1.2). Two more processes,
``1+ftz`` and ``default+ftz``, time torch with flush-to-zero on every thread of its own
(``torch.set_flush_denormal`` before its thread pool starts, which its threads inherit)
beside descentlab: the peer without that penalty. (In them, descentlab's arithmetic on
the main thread flushes too; it meets no subnormals here.)

Targets: descentlab's hand loop <= 0.5 x torch (fused Adam, and SGD momentum) and
<= 1.0 x JAX; fit within 5 % of the hand loop; descentlab's default never more than
10 % slower than the better of its 1 and all.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from _common import alternate, paired_better, parser, report

SIZES = [784, 256, 128, 10]
BATCH = 128
MODES = ("1", "all", "default", "1+ftz", "default+ftz")
#: the name of torch with its subnormals flushed to zero, in the "+ftz" processes
FLUSHED = "torch, subnormals flushed"
#: Seconds of rest before each timed epoch (full runs): BLAS and OpenMP threads spin on for
#: a while after a library's last product (OpenBLAS's for 2^28 clock ticks, about 0.1 s),
#: and that would be charged to whichever case runs next.
SETTLE = 0.3
HERE = Path(__file__).resolve().parent


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n)
    return X, y


def _ours(optimizer: str, params):
    from descentlab import optim

    if optimizer == "adam":
        return optim.Adam(params, lr=1e-3)
    return optim.SGD(params, lr=0.01, momentum=0.9)


def descentlab_epoch(
    X: np.ndarray, y: np.ndarray, optimizer: str, sizes: list[int] = SIZES, batch: int = BATCH
):
    """The loop of the README: model, optimizer, loader, backward, step (``sizes`` and
    ``batch``: this benchmark's network unless told). The epoch's ``parts`` attribute holds
    the model, the optimizer and the loader."""
    from descentlab import data, nn

    nn.manual_seed(0)
    model = nn.MLP(sizes, dropout=0.2)
    opt = _ours(optimizer, model.parameters())
    loader = data.DataLoader(X, y, batch_size=batch, seed=0)
    loss_fn = nn.functional.cross_entropy

    def epoch() -> None:
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()

    epoch.parts = (model, opt, loader)  # type: ignore[attr-defined]
    return epoch


def descentlab_fit_epoch(loop):
    """An epoch of ``train.Trainer`` (what ``fit`` runs) on the model, the optimizer and the
    loader of the hand loop ``loop`` (of :func:`descentlab_epoch`): the same arrays, so that
    the two differ by fit's bookkeeping only, not by where the allocator put two models
    (two hand loops of their own models differed by up to 4 % in one process)."""
    from descentlab.train import Trainer

    model, opt, loader = loop.parts
    trainer = Trainer(model, loader, optimizer=opt, epochs=10**9, seed=0, progress=False)
    return trainer.run_epoch


def torch_epoch(X: np.ndarray, y: np.ndarray, optimizer: str):
    import torch

    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(SIZES)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(SIZES) - 2:
            layers += [torch.nn.ReLU(), torch.nn.Dropout(0.2)]
    model = torch.nn.Sequential(*layers)
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    n = len(yt)
    loss_fn = torch.nn.functional.cross_entropy

    def epoch() -> None:
        model.train()
        perm = torch.randperm(n)
        Xs, ys = Xt[perm], yt[perm]
        for i in range(0, n, BATCH):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xs[i : i + BATCH]), ys[i : i + BATCH])
            loss.backward()
            opt.step()

    return epoch


def numpy_epoch(X: np.ndarray, y: np.ndarray, optimizer: str):
    """The step by hand in NumPy: the same layers, dropout and loss, batches gathered
    per step, masks from raw random bits, Adam or SGD momentum in in-place ufuncs."""
    rng = np.random.default_rng(0)
    params: list[np.ndarray] = []
    for a, b in itertools.pairwise(SIZES):
        bound = np.float32(1 / np.sqrt(a))
        params += [rng.uniform(-bound, bound, (b, a)).astype(np.float32)]
        params += [rng.uniform(-bound, bound, b).astype(np.float32)]
    first = [np.zeros_like(p) for p in params]  # momentum buffers, or Adam's m
    second = [np.zeros_like(p) for p in params]  # Adam's v
    scale = np.float32(1 / 0.8)
    threshold = np.uint32(0.2 * 2**32)
    n = len(y)
    t = [0]

    def forward_backward(xb: np.ndarray, yb: np.ndarray) -> list[np.ndarray]:
        acts, masks = [xb], []
        h = xb
        for i in range(len(SIZES) - 1):
            z = h @ params[2 * i].T
            z += params[2 * i + 1]
            if i < len(SIZES) - 2:
                bits = rng.bit_generator.random_raw((z.size + 1) // 2).view(np.uint32)
                keep = (bits[: z.size].reshape(z.shape) >= threshold) & (z > 0)
                h = np.multiply(z, scale, where=keep, out=np.zeros_like(z))
                acts.append(h)
                masks.append(keep)
            else:
                h = z
        rows = np.arange(len(yb))
        g = h - h.max(axis=1, keepdims=True)
        np.exp(g, out=g)
        g /= g.sum(axis=1, keepdims=True)
        g[rows, yb] -= 1
        g *= np.float32(1 / len(yb))
        grads: list[np.ndarray] = [np.empty(0)] * len(params)
        for i in reversed(range(len(SIZES) - 1)):
            grads[2 * i] = g.T @ acts[i]
            grads[2 * i + 1] = g.sum(axis=0)
            if i:
                g = np.multiply(
                    g @ params[2 * i], scale, where=masks[i - 1], out=np.zeros_like(acts[i])
                )
        return grads

    def step(grads: list[np.ndarray]) -> None:
        if optimizer == "adam":
            t[0] += 1
            c1, c2 = 1 - 0.9 ** t[0], np.sqrt(1 - 0.999 ** t[0])
            for p, g, m, v in zip(params, grads, first, second):
                m *= np.float32(0.9)
                m += np.float32(0.1) * g
                v *= np.float32(0.999)
                v += np.float32(0.001) * g * g
                denom = np.sqrt(v)
                denom /= np.float32(c2)
                denom += np.float32(1e-8)
                p -= np.float32(1e-3 / c1) * m / denom
        else:
            for p, g, buf in zip(params, grads, first):
                buf *= np.float32(0.9)
                buf += g
                p -= np.float32(0.01) * buf

    def epoch() -> None:
        perm = rng.permutation(n)
        for i in range(0, n, BATCH):
            idx = perm[i : i + BATCH]
            step(forward_backward(X.take(idx, axis=0), y.take(idx)))

    return epoch


def _gemm_shapes(batch: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The matrix products of one training step: three forward, three weight gradients
    and two input gradients (the data's gradient is not needed), as (a, b) for a @ b."""
    shapes = []
    for a, b in itertools.pairwise(SIZES):
        shapes.append(((batch, a), (a, b)))  # x @ W.T
        shapes.append(((b, batch), (batch, a)))  # dW = dz.T @ x
        if a != SIZES[0]:
            shapes.append(((batch, b), (b, a)))  # dx = dz @ W
    return shapes


def gemms_alone(X: np.ndarray, library: str):
    """An epoch of the step's matrix products alone, into buffers made beforehand, with
    NumPy (its BLAS, OpenBLAS in the wheels) or torch (MKL): what bounds any epoch
    whose products run on that library."""
    steps = -(-len(X) // BATCH)
    rng = np.random.default_rng(0)
    operands = [
        (rng.random(a, dtype=np.float32), rng.random(b, dtype=np.float32))
        for a, b in _gemm_shapes(BATCH)
    ]
    outs = [np.empty((a.shape[0], b.shape[1]), dtype=np.float32) for a, b in operands]
    if library == "torch":
        import torch

        t_operands = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in operands]
        t_outs = [torch.from_numpy(o) for o in outs]

        def epoch() -> None:
            for _ in range(steps):
                for (a, b), o in zip(t_operands, t_outs):
                    torch.mm(a, b, out=o)

        return epoch

    def epoch() -> None:
        for _ in range(steps):
            for (a, b), o in zip(operands, outs):
                np.matmul(a, b, out=o)

    return epoch


def jax_epoch(X: np.ndarray, y: np.ndarray, optimizer: str):
    """A jitted train step (Adam or SGD momentum written with jax.numpy), Python loop."""
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(0)
    params = []
    for a, b in itertools.pairwise(SIZES):
        key, kw, kb = jax.random.split(key, 3)
        bound = 1 / np.sqrt(a)
        params.append(
            (
                jax.random.uniform(kw, (a, b), jnp.float32, -bound, bound),
                jax.random.uniform(kb, (b,), jnp.float32, -bound, bound),
            )
        )
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = (zeros, zeros, jnp.zeros((), jnp.int32)) if optimizer == "adam" else zeros

    def loss_fn(params, xb, yb, key):
        h = xb
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
                key, sub = jax.random.split(key)
                keep = jax.random.bernoulli(sub, 0.8, h.shape)
                h = jnp.where(keep, h / 0.8, 0.0)
        logp = jax.nn.log_softmax(h)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    def adam(params, state, grads):
        m, v, t = state
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, grads)
        v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, grads)
        c1, c2 = 1 - 0.9**t, 1 - 0.999**t
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - 1e-3 * (m / c1) / (jnp.sqrt(v / c2) + 1e-8), params, m, v
        )
        return params, (m, v, t)

    def sgd(params, buf, grads):
        buf = jax.tree_util.tree_map(lambda b, g: 0.9 * b + g, buf, grads)
        params = jax.tree_util.tree_map(lambda p, b: p - 0.01 * b, params, buf)
        return params, buf

    update = adam if optimizer == "adam" else sgd

    @jax.jit
    def step(params, state, xb, yb, key):
        grads = jax.grad(loss_fn)(params, xb, yb, key)
        return update(params, state, grads)

    n = len(y)
    rng = np.random.default_rng(0)
    box = {"params": params, "state": state, "key": key}

    def epoch() -> None:
        perm = rng.permutation(n)
        Xs, ys = X[perm], y[perm].astype(np.int32)
        p, s, k = box["params"], box["state"], box["key"]
        for i in range(0, n, BATCH):
            k, sub = jax.random.split(k)
            p, s = step(p, s, Xs[i : i + BATCH], ys[i : i + BATCH], sub)
        jax.block_until_ready(p)
        box.update(params=p, state=s, key=k)

    return epoch


def peak_memory_mb(which: str, optimizer: str, n: int) -> float:
    """Peak resident memory added by one epoch, in a child process: after a warm-up
    epoch (imports, JIT compilation, first allocations), the kernel's peak counter
    is reset (``/proc/self/clear_refs``) and read again after a second epoch."""
    code = (
        "import sys; sys.path.insert(0, 'benchmarks'); sys.argv=['x'];"
        "import mlp, _common;"
        f"X, y = mlp.make_data({n});"
        f"fn = mlp.{which}_epoch(X, y, {optimizer!r});"
        "fn(); before = _common.reset_peak_rss(); fn();"
        "print(before, _common.peak_rss_mb())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(HERE.parent),
    )
    before, peak = map(float, out.stdout.split()[-2:])
    return peak - before


def _with_policy(epoch, policy: str):
    """``epoch`` run under descentlab's BLAS thread policy ``policy`` ("1": one thread per
    product; "inherit": BLAS's own threads, all of them), restored afterwards."""
    from descentlab.autograd import blas

    def run() -> None:
        before = blas.get_policy()
        blas.set_policy(policy)
        try:
            epoch()
        finally:
            blas.set_policy(before)

    return run


def _set_mode(mode: str) -> list[str]:
    """Before any library is imported: the thread setting of this process (and for a
    mode ending in "+ftz", torch's flush-to-zero); returns notes for the report."""
    notes = []
    if mode.endswith("+ftz"):
        mode = mode.removesuffix("+ftz")
        import torch

        # before torch starts its threads: they inherit the setting
        if not torch.set_flush_denormal(True):
            notes.append("torch.set_flush_denormal is not supported on this CPU")
    cpus = os.cpu_count() or 1
    if mode == "1":
        # one core for every thread of every library (XLA sizes its pool from this)
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
        threads = 1
    elif mode == "all":
        os.environ["DESCENTLAB_BLAS_THREADS"] = "inherit"
        threads = cpus
    else:
        return notes
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    import torch

    torch.set_num_threads(threads)
    return notes


def _cases(mode: str, X: np.ndarray, y: np.ndarray, opt: str, have_jax: bool) -> dict:
    """The contenders of one optimizer's epoch in a process of thread setting ``mode``."""
    if mode.endswith("+ftz"):
        return {"descentlab": descentlab_epoch(X, y, opt), FLUSHED: torch_epoch(X, y, opt)}
    cases = {
        "descentlab": (loop := descentlab_epoch(X, y, opt)),
        "descentlab fit": descentlab_fit_epoch(loop),
        "torch": torch_epoch(X, y, opt),
        "NumPy by hand": numpy_epoch(X, y, opt),
        "GEMMs alone, NumPy": gemms_alone(X, "numpy"),
        "GEMMs alone, torch": gemms_alone(X, "torch"),
    }
    if have_jax:
        cases["jax"] = jax_epoch(X, y, opt)
    if mode == "default":
        # the thread settings of descentlab side by side in this one process, so that a
        # slower spell of a shared machine does not pass for a setting's cost
        for policy, name in (("1", "descentlab, 1 thread"), ("inherit", "descentlab, all")):
            cases[name] = _with_policy(descentlab_epoch(X, y, opt), policy)
    return cases


def child(mode: str, quick: bool, reps: int, memory: bool) -> dict:
    notes = _set_mode(mode)
    n = 6_000 if quick else 60_000
    X, y = make_data(n)
    out: dict = {"mode": mode, "samples": n, "times": {}, "notes": notes}
    flushed = mode.endswith("+ftz")  # (torch flushed beside descentlab, and nothing else)
    have_jax = False
    if not flushed:
        try:
            import jax  # noqa: F401

            have_jax = True
        except ImportError:
            out["notes"].append("jax: skipped (not installed; pip install 'descentlab[bench]')")
    for optimizer in ("adam", "sgd_momentum"):
        opt = "adam" if optimizer == "adam" else "sgd"
        cases = _cases(mode, X, y, opt, have_jax)
        out["times"][optimizer] = alternate(cases, reps, settle=0.0 if quick else SETTLE)
        if memory and not flushed:
            out.setdefault("memory", {})[optimizer] = {
                which: peak_memory_mb(which, opt, n) for which in ("descentlab", "torch")
            }
    if mode == "default":
        from descentlab.autograd import blas

        out["policy"] = blas.choices()
    return out


def _burn() -> None:  # pragma: no cover - a busy process for --load
    while True:
        pass


@contextlib.contextmanager
def busy(count: int) -> Iterator[None]:
    """``count`` other processes kept busy meanwhile (``--load``), as on a shared machine."""
    burners = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(count)]
    for b in burners:
        b.start()
    try:
        yield
    finally:
        for b in burners:
            b.terminate()


def main() -> None:
    p = parser(__doc__)
    p.add_argument(
        "--modes",
        default=",".join(MODES),
        help="thread settings to measure, each in its own process (default: %(default)s)",
    )
    p.add_argument("--load", type=int, default=0, help="busy processes to run meanwhile")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    reps = args.reps or (1 if args.quick else 5)
    if args.child:
        print(json.dumps(child(args.child, args.quick, reps, not args.quick)))
        return
    modes = ["default", "default+ftz"] if args.quick else args.modes.split(",")
    with busy(args.load):
        results = run_children(HERE / "mlp.py", modes, reps, args.quick)
    summarize(results, args)


def run_children(script: Path, modes: list[str], reps: int, quick: bool) -> dict[str, dict]:
    """``script --child MODE`` in a fresh process per thread setting; each one's results,
    the JSON of its last line."""
    results = {}
    for mode in modes:
        cmd = [sys.executable, str(script), "--child", mode, "--reps", str(reps)]
        if quick:
            cmd.append("--quick")
        run = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[mode] = json.loads(run.stdout.strip().splitlines()[-1])
    return results


def summarize(results: dict, args) -> None:
    load = f", {args.load} busy processes alongside" if args.load else ""
    for mode, res in results.items():
        for optimizer, times in res["times"].items():
            if FLUSHED in times:
                pairs = [("descentlab", FLUSHED)]
            else:
                pairs = [("descentlab", "torch"), ("descentlab fit", "descentlab")]
                pairs += [("descentlab", "NumPy by hand"), ("NumPy by hand", "torch")]
                pairs += [("GEMMs alone, NumPy", "torch"), ("GEMMs alone, NumPy", "descentlab")]
                pairs += [("GEMMs alone, torch", "torch")]
            if "jax" in times:
                pairs.append(("descentlab", "jax"))
            extra: dict[str, object] = {"samples": res["samples"], "threads": mode}
            for which, mb in res.get("memory", {}).get(optimizer, {}).items():
                extra[f"peak memory added by an epoch, {which}"] = f"{mb:.0f} MB"
            report(f"mlp epoch, {optimizer}, threads: {mode}{load}", times, pairs, extra, args.json)
        for note in res["notes"]:
            print(f"  {note}")
        for shape, choice in res.get("policy", {}).items():
            print(f"  thread policy: {shape}: {choice}")
    if "default" in results and "descentlab, all" in next(
        iter(results["default"]["times"].values())
    ):
        print(f"\n== descentlab's default against the better of 1 and all threads{load},")
        print("   side by side in one process (target <= 1.10)")
        for optimizer, times in results["default"]["times"].items():
            med = {k: float(np.median(v)) for k, v in times.items()}
            best = min(med["descentlab, 1 thread"], med["descentlab, all"])
            paired = paired_better(
                times["descentlab"], times["descentlab, 1 thread"], times["descentlab, all"]
            )
            print(
                f"  {optimizer}: 1 thread {med['descentlab, 1 thread']:.3f} s, all "
                f"{med['descentlab, all']:.3f} s, default {med['descentlab']:.3f} s = "
                f"{med['descentlab'] / best:.3f} x the better (repetition by repetition: "
                f"median {paired:.3f})"
            )
    if {"1", "all", "default"} <= set(results):
        print(f"\n== the same across the three processes{load}")
        for optimizer in results["default"]["times"]:
            med = {
                m: float(np.median(results[m]["times"][optimizer]["descentlab"]))
                for m in ("1", "all", "default")
            }
            best = min(med["1"], med["all"])
            print(
                f"  {optimizer}: 1 thread {med['1']:.3f} s, all {med['all']:.3f} s, "
                f"default {med['default']:.3f} s = {med['default'] / best:.3f} x the better "
                "(target <= 1.10)"
            )


if __name__ == "__main__":
    main()

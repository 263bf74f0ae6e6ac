"""The parity harness: run a registered optimizer beside a reference, step for step.

``check_parity(spec, opts, reference)`` builds the optimizer from its registry
entry with two parameter groups (the second with 0.3 x the learning rate),
feeds both it and the reference the same gradient sequence (a random quadratic
plus a small nonlinear term at the reference's iterate, plus fixed noise;
sometimes a parameter has no gradient), optionally reloads its state dict
mid-run into a freshly built optimizer, and compares parameters (and, where the
state keys match, every state entry) to a relative tolerance. Any optimizer
registered anywhere, even in a test module, can be checked with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch

from descentlab.optim import ArrayParam
from descentlab.optim.registry import OptimizerSpec

SHAPES: tuple[tuple[int, ...], ...] = ((3,), (2, 4), (5,))
STEPS = 300
RTOL = 1e-12

#: Parameter shapes for optimizers that need others than SHAPES (e.g. matrices only).
SHAPES_FOR: dict[str, tuple[tuple[int, ...], ...]] = {
    # Muon takes matrices only; wide, square and tall (transposed in Newton-Schulz), small
    # enough that its bfloat16 products round exactly as PyTorch's
    "muon": ((3, 5), (4, 4), (5, 2)),
}

#: reference(groups, **torch_kwargs) -> a torch optimizer
Reference = Callable[..., Any]


def problem(seed: int = 0, shapes: Sequence[tuple[int, ...]] = SHAPES):
    """Matrices, vectors and starts of a random well-posed quadratic per parameter."""
    rng = np.random.default_rng(seed)
    mats, vecs, x0 = [], [], []
    for shape in shapes:
        n = int(np.prod(shape))
        q = rng.normal(size=(n, n))
        mats.append(q @ q.T / n + 0.5 * np.eye(n))
        vecs.append(rng.normal(size=n))
        x0.append(rng.normal(size=shape))
    return mats, vecs, x0


def gradient(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    flat = x.reshape(-1)
    return (a @ flat + b + 0.1 * np.sin(flat)).reshape(x.shape)


def relative_error(ours: Any, theirs: Any) -> float:
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    scale = max(float(np.max(np.abs(theirs), initial=0.0)), 1e-300)
    return float(np.max(np.abs(ours - theirs), initial=0.0)) / scale


def assert_close(ours: Any, theirs: Any, what: str, rtol: float = RTOL) -> float:
    err = relative_error(ours, theirs)
    assert err <= rtol, f"{what}: relative error {err:.3e}"
    return err


def torch_kwargs(spec: OptimizerSpec, full: dict[str, Any]) -> dict[str, Any]:
    """Our settings as PyTorch's keywords: packed members (beta1, beta2) become tuples."""
    out = dict(full)
    for pack, members in spec.packs.items():
        if any(m in out for m in members):
            out[pack] = tuple(out.pop(m) for m in members)
    return out


def torch_twin(spec: OptimizerSpec) -> Reference | None:
    """``torch.optim``'s class of the same name, if there is one."""
    return getattr(torch.optim, spec.cls.__name__, None)


@pytest.fixture
def float64_torch():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def check_parity(
    spec: OptimizerSpec,
    opts: dict[str, Any],
    reference: Reference,
    *,
    steps: int = STEPS,
    rtol: float = RTOL,
    reload_at: int | None = None,
    compare_state: bool = True,
    exact_state_keys: bool = False,
    state_keys: dict[str, str] | None = None,
    seed: int = 0,
    shapes: Sequence[tuple[int, ...]] | None = None,
    reference_kwargs: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> float:
    """Run ``spec`` with ``opts`` beside ``reference`` and return the worst relative error.

    ``reference_kwargs`` maps our full settings to the reference's keywords (default:
    :func:`torch_kwargs`). ``state_keys`` maps our state names to the reference's
    where they differ; with ``compare_state`` every state entry of the reference
    that we also keep is compared (``exact_state_keys``: and the key sets agree).
    ``reload_at``: at that step the state dict is reloaded into a new optimizer. An invalid combination must be refused by both.
    Call it with torch's default dtype set to float64 (the ``float64_torch`` fixture).
    """
    full = {name: hp.default for name, hp in spec.hyperparameters.items()}
    full.update(opts)
    lr = full["lr"]
    kwargs_for = reference_kwargs or (lambda f: torch_kwargs(spec, f))
    mats, vecs, x0 = problem(seed, SHAPES_FOR.get(spec.name, SHAPES) if shapes is None else shapes)
    ours = [ArrayParam(x.copy()) for x in x0]
    theirs = [torch.tensor(x.copy(), requires_grad=True) for x in x0]
    group_opts = {k: v for k, v in full.items() if k != "lr"}

    def build() -> Any:
        return spec.build(
            [{"params": ours[:2]}, {"params": ours[2:], "lr": lr * 0.3}], **group_opts, lr=lr
        )

    try:
        opt = build()
    except ValueError:
        with pytest.raises(ValueError):
            reference(theirs, **kwargs_for(full))
        return 0.0
    topt = reference(
        [{"params": theirs[:2]}, {"params": theirs[2:], "lr": lr * 0.3}], **kwargs_for(full)
    )

    noise = np.random.default_rng(7 + seed)
    for step in range(steps):
        if reload_at is not None and step == reload_at:
            saved = opt.state_dict()
            opt = build()
            opt.load_state_dict(saved)
        skip_last = step % 97 == 50  # sometimes a parameter has no gradient
        for i, (p, tp) in enumerate(zip(ours, theirs)):
            if skip_last and i == len(ours) - 1:
                p.grad, tp.grad = None, None
                continue
            # One gradient for both, taken at the reference's iterate plus fixed noise:
            # round-off differences are compared, not amplified by chaotic dynamics.
            g = gradient(tp.detach().numpy(), mats[i], vecs[i])
            g += 0.3 * noise.normal(size=g.shape)
            p.grad = g.copy()
            tp.grad = torch.from_numpy(g)
        opt.step()
        topt.step()

    worst = 0.0
    moved = 0.0
    names = state_keys or {}
    for i, (p, tp) in enumerate(zip(ours, theirs)):
        worst = max(worst, assert_close(p.data, tp.detach().numpy(), f"param {i}", rtol))
        moved = max(moved, float(np.max(np.abs(p.data - x0[i]))))
        if not compare_state:
            continue
        tstate = topt.state[tp]
        ostate = opt.state[p]
        if exact_state_keys:
            assert {names.get(k, k) for k in ostate} == set(tstate), f"state keys of param {i}"
        for key in ostate:
            tkey = names.get(key, key)
            if tkey not in tstate:
                continue
            tval = tstate[tkey]
            tval = tval.detach().numpy() if torch.is_tensor(tval) else tval
            if tval is None:
                continue
            worst = max(
                worst, assert_close(ostate[key], tval, f"state[{key!r}] of param {i}", rtol)
            )
    assert moved > 1e-3, "the run must actually move the parameters"
    return worst

"""Every optimizer of the registry, in every option combination, equals torch.optim.

300 steps on the same gradient sequence (a fixed random quadratic plus a small
nonlinear term, evaluated at the current parameters, plus fixed noise), two parameter groups with
different learning rates, float64: parameters and every state entry agree to a
relative error of 1e-12. AdagradNorm has no torch twin and is checked against a
direct loop of its formula.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from descentlab.optim import REGISTRY, ArrayParam

from .conftest import variant_id, variants

SHAPES = [(3,), (2, 4), (5,)]
STEPS = 300
RTOL = 1e-12


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    mats, vecs, x0 = [], [], []
    for shape in SHAPES:
        n = int(np.prod(shape))
        q = rng.normal(size=(n, n))
        mats.append(q @ q.T / n + 0.5 * np.eye(n))
        vecs.append(rng.normal(size=n))
        x0.append(rng.normal(size=shape))
    return mats, vecs, x0


def _grad(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    flat = x.reshape(-1)
    return (a @ flat + b + 0.1 * np.sin(flat)).reshape(x.shape)


def _close(ours, theirs, what: str) -> None:
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, what
    scale = max(float(np.max(np.abs(theirs))), 1e-300)
    err = float(np.max(np.abs(ours - theirs))) / scale
    assert err <= RTOL, f"{what}: relative error {err:.3e}"


def _torch_kwargs(kwargs: dict) -> dict:
    kwargs = dict(kwargs)
    if "beta1" in kwargs or "beta2" in kwargs:
        kwargs["betas"] = (kwargs.pop("beta1"), kwargs.pop("beta2"))
    return kwargs


CASES = [
    pytest.param(name, opts, id=variant_id(name, opts))
    for name in REGISTRY
    if name != "adagrad_norm"
    for opts in variants(name)
]


@pytest.fixture
def float64_torch():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.mark.parametrize(("name", "opts"), CASES)
def test_matches_torch(name: str, opts: dict, float64_torch) -> None:
    spec = REGISTRY[name]
    full = {hp.name: hp.default for hp in spec.hyperparameters.values()}
    full.update(opts)
    torch_cls = getattr(torch.optim, spec.cls.__name__)
    mats, vecs, x0 = _problem()
    lr = full["lr"]

    ours = [ArrayParam(x.copy()) for x in x0]
    theirs = [torch.tensor(x.copy(), requires_grad=True) for x in x0]
    group_opts = {k: v for k, v in full.items() if k != "lr"}
    try:
        opt = spec.build(
            [{"params": ours[:2]}, {"params": ours[2:], "lr": lr * 0.3}], **group_opts, lr=lr
        )
    except ValueError:
        # an invalid combination (e.g. nesterov without momentum): torch refuses it too
        with pytest.raises(ValueError):
            torch_cls(theirs, **_torch_kwargs(full))
        return
    topt = torch_cls(
        [{"params": theirs[:2]}, {"params": theirs[2:], "lr": lr * 0.3}], **_torch_kwargs(full)
    )

    noise = np.random.default_rng(7)
    for step in range(STEPS):
        skip_last = step % 97 == 50  # sometimes a parameter has no gradient
        for i, (p, tp) in enumerate(zip(ours, theirs)):
            if skip_last and i == len(ours) - 1:
                p.grad, tp.grad = None, None
                continue
            # One gradient array for both, taken at torch's iterate plus a fixed noise
            # sequence (as SGD sees it): round-off differences of the two
            # implementations are compared, not amplified by chaotic dynamics.
            g = _grad(tp.detach().numpy(), mats[i], vecs[i])
            g += 0.3 * noise.normal(size=g.shape)
            p.grad = g.copy()
            tp.grad = torch.from_numpy(g)
        opt.step()
        topt.step()

    moved = 0.0
    for i, (p, tp) in enumerate(zip(ours, theirs)):
        _close(p.data, tp.detach().numpy(), f"param {i}")
        moved = max(moved, float(np.max(np.abs(p.data - x0[i]))))
        tstate = topt.state[tp]
        ostate = opt.state[p]
        assert set(ostate) == set(tstate), f"state keys of param {i}"
        for key, tval in tstate.items():
            tval = tval.detach().numpy() if torch.is_tensor(tval) else tval
            _close(ostate[key], tval, f"state[{key!r}] of param {i}")
    assert moved > 1e-3, "the run must actually move the parameters"


def test_adagrad_norm_matches_direct_loop(rng) -> None:
    """Two groups, weight decay: x <- x - eta / sqrt(eps + sum_j ||g_j||^2) g_t per group."""
    mats, vecs, x0 = _problem(1)
    lrs, eps, wd = [0.5, 0.2], 1e-3, 0.01
    ours = [ArrayParam(x.copy()) for x in x0]
    spec = REGISTRY["adagrad_norm"]
    opt = spec.build(
        [{"params": ours[:2], "lr": lrs[0]}, {"params": ours[2:], "lr": lrs[1]}],
        eps=eps,
        weight_decay=wd,
    )
    xs = [x.copy() for x in x0]
    groups = [[0, 1], [2]]
    acc = [0.0, 0.0]
    for _ in range(STEPS):
        for i, p in enumerate(ours):
            p.grad = _grad(p.data, mats[i], vecs[i])
        opt.step()
        for k, members in enumerate(groups):
            gs = {i: _grad(xs[i], mats[i], vecs[i]) + wd * xs[i] for i in members}
            acc[k] += sum(float(np.sum(g**2)) for g in gs.values())
            for i in members:
                xs[i] = xs[i] - lrs[k] / np.sqrt(eps + acc[k]) * gs[i]
    for i in range(len(xs)):
        _close(ours[i].data, xs[i], f"param {i}")
        assert np.max(np.abs(ours[i].data - x0[i])) > 1e-3
    for k, members in enumerate(groups):
        state = opt.state[ours[members[0]]]
        assert state["step"] == STEPS
        _close(state["sum_sq_norm"], acc[k], f"sum_sq_norm of group {k}")

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

from descentlab.optim import REGISTRY, ArrayParam

from .conftest import variant_id, variants
from .harness import STEPS, assert_close, check_parity, float64_torch, gradient, problem, torch_twin

__all__ = ["float64_torch"]

#: Registered optimizers with a twin of the same name in torch.optim; the others are
#: checked against their authors' reference implementations in their own test modules.
#: (LBFGS's step needs a closure; test_lbfgs.py runs it beside torch.)
TWINNED = [
    name
    for name, spec in REGISTRY.items()
    if torch_twin(spec) is not None and not getattr(spec.cls, "needs_closure", False)
]

CASES = [
    pytest.param(name, opts, id=variant_id(name, opts))
    for name in TWINNED
    for opts in variants(name)
]


@pytest.mark.parametrize(("name", "opts"), CASES)
def test_matches_torch(name: str, opts: dict, float64_torch) -> None:
    spec = REGISTRY[name]
    # Muon's Newton-Schulz iterations in emulated bfloat16 make each step ~100 x dearer:
    # 100 steps of it (still far past its warm-up) instead of 300
    steps = 100 if name == "muon" else STEPS
    check_parity(spec, opts, torch_twin(spec), exact_state_keys=True, steps=steps)


@pytest.mark.parametrize("name", TWINNED)
def test_state_dict_reload_mid_run_matches_torch(name: str, float64_torch) -> None:
    spec = REGISTRY[name]
    check_parity(spec, {}, torch_twin(spec), reload_at=123, exact_state_keys=True)


def test_adagrad_norm_matches_direct_loop(rng) -> None:
    """Two groups, weight decay: x <- x - eta / sqrt(eps + sum_j ||g_j||^2) g_t per group."""
    mats, vecs, x0 = problem(1)
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
            p.grad = gradient(p.data, mats[i], vecs[i])
        opt.step()
        for k, members in enumerate(groups):
            gs = {i: gradient(xs[i], mats[i], vecs[i]) + wd * xs[i] for i in members}
            acc[k] += sum(float(np.sum(g**2)) for g in gs.values())
            for i in members:
                xs[i] = xs[i] - lrs[k] / np.sqrt(eps + acc[k]) * gs[i]
    for i in range(len(xs)):
        assert_close(ours[i].data, xs[i], f"param {i}")
        assert np.max(np.abs(ours[i].data - x0[i])) > 1e-3
    for k, members in enumerate(groups):
        state = opt.state[ours[members[0]]]
        assert state["step"] == STEPS
        assert_close(state["sum_sq_norm"], acc[k], f"sum_sq_norm of group {k}")

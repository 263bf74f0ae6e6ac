"""Muon: Newton-Schulz by hand, torch's shape errors, and random configurations against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab.optim import REGISTRY, ArrayParam, Muon
from descentlab.optim.muon import _bfloat16, newton_schulz

from .harness import check_parity, float64_torch

__all__ = ["float64_torch"]

#: (configuration, worst relative error) of every random configuration compared.
COMPARED: list[tuple[dict, float]] = []


def test_newton_schulz_nearly_orthogonalizes() -> None:
    """The default quintic pushes every singular value into roughly [0.7, 1.2]."""
    G = np.random.default_rng(0).normal(size=(4, 6))
    O32 = newton_schulz(G)
    O = O32.astype(np.float64)
    s = np.linalg.svd(O, compute_uv=False)
    assert np.all((s > 0.6) & (s < 1.25)), s
    u, _, vt = np.linalg.svd(G, full_matrices=False)
    assert np.abs(O - u @ vt).max() < 0.35  # the same directions as U V^T
    assert O32.dtype == np.float32
    assert not np.any(O32.view(np.uint32) & 0xFFFF)  # bfloat16 values: 16 low bits zero


def test_zero_steps_only_normalize_and_tall_matrices_are_handled_transposed() -> None:
    G = np.array([[3.0, 0.0], [0.0, 4.0], [0.0, 0.0]])
    np.testing.assert_array_equal(newton_schulz(G, steps=0), _bfloat16(G / 5.0))
    assert _bfloat16(np.array([0.6]))[0] == 0.6015625  # 8 significant bits


def test_first_step_by_hand() -> None:
    """B_1 = (1 - beta) g, Nesterov D_1 = (1 - beta) g + beta B_1, then shape-scaled lr."""
    theta = np.zeros((3, 2))
    g = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    p = ArrayParam(theta.copy())
    opt = Muon([p], lr=0.1, weight_decay=0.0, momentum=0.5)
    p.grad = g
    opt.step()
    np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], 0.5 * g)
    D = 0.5 * g + 0.5 * (0.5 * g)
    expected = -0.1 * np.sqrt(3 / 2) * newton_schulz(D).astype(np.float64)
    np.testing.assert_array_equal(p.data, expected)


@pytest.mark.parametrize("shape", [(3,), (), (2, 3, 4)])
def test_only_matrices_like_torch(shape: tuple[int, ...]) -> None:
    pattern = r"2-D parameters.*shape " + (r"\(\)" if not shape else r"\(" + str(shape[0]))
    with pytest.raises(ValueError, match=pattern):
        Muon([ArrayParam(np.zeros(shape))])
    with pytest.raises(ValueError, match="2D parameters"):
        torch.optim.Muon([torch.zeros(shape, requires_grad=True)])
    opt = Muon([ArrayParam(np.zeros((2, 2)))])
    with pytest.raises(ValueError, match="2-D parameters"):
        opt.add_param_group({"params": [ArrayParam(np.zeros(shape))]})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"momentum": -0.1}, "momentum"),
        ({"ns_steps": 100}, "ns_steps"),
        ({"ns_steps": 1.5}, "ns_steps"),
        ({"ns_coefficients": (1.0, 2.0)}, "ns_coefficients"),
        ({"adjust_lr_fn": "foo"}, "adjust_lr_fn"),
    ],
)
def test_invalid_settings_raise_where_torch_raises(kwargs: dict, pattern: str) -> None:
    """Torch refuses some of these only at the first step; we refuse them at once."""
    with pytest.raises(ValueError, match=pattern):
        Muon([ArrayParam(np.zeros((2, 2)))], **kwargs)
    with pytest.raises((ValueError, TypeError)):
        p = torch.zeros(2, 2, requires_grad=True)
        opt = torch.optim.Muon([p], **kwargs)
        p.grad = torch.ones(2, 2)
        opt.step()


SHAPES = st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6)), min_size=3, max_size=3).map(
    tuple
)
COEFFICIENTS = st.sampled_from([(3.4445, -4.775, 2.0315), (1.5, -0.5, 0.0), (2.0, -1.5, 0.5)])


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    shapes=SHAPES,
    lr=st.floats(1e-3, 0.1),
    weight_decay=st.sampled_from([0.0, 0.1, 0.5]),
    momentum=st.floats(0.0, 0.99),
    nesterov=st.booleans(),
    coefficients=COEFFICIENTS,
    eps=st.sampled_from([1e-7, 1e-3]),
    ns_steps=st.integers(0, 8),
    adjust_lr_fn=st.sampled_from([None, "original", "match_rms_adamw"]),
    reload_at=st.integers(1, 59),
)
def test_random_configurations_match_torch(
    shapes,
    lr,
    weight_decay,
    momentum,
    nesterov,
    coefficients,
    eps,
    ns_steps,
    adjust_lr_fn,
    reload_at,
) -> None:
    a, b, c = coefficients
    opts = {
        "lr": lr,
        "weight_decay": weight_decay,
        "momentum": momentum,
        "nesterov": nesterov,
        "ns_a": a,
        "ns_b": b,
        "ns_c": c,
        "eps": eps,
        "ns_steps": ns_steps,
        "adjust_lr_fn": adjust_lr_fn,
    }
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        worst = check_parity(
            REGISTRY["muon"],
            opts,
            torch.optim.Muon,
            steps=60,
            reload_at=reload_at,
            exact_state_keys=True,
            shapes=shapes,
        )
    finally:
        torch.set_default_dtype(old)
    COMPARED.append((opts, worst))


def test_minimize_orthogonalizes_each_run_on_its_own() -> None:
    """Each start is a 1 x D matrix of its own: its update is its normalized direction."""
    from descentlab.landscapes import minimize

    starts = np.array([[-1.5, 2.0], [0.5, 0.5]])
    together = minimize("rosenbrock", starts, optimizer="muon", lr=0.01, steps=30)
    for i in range(2):
        alone = minimize("rosenbrock", starts[i], optimizer="muon", lr=0.01, steps=30)
        np.testing.assert_array_equal(together.x[i], alone.x)
    first = minimize("rosenbrock", starts[1], optimizer="muon", lr=0.01, steps=1, weight_decay=0.0)
    step = first.trajectory.positions[1] - starts[1]
    # the quintic maps the one singular value into about [0.7, 1.2]: |step| ~ eta, any |grad|
    assert 0.006 < np.linalg.norm(step) < 0.012


def test_fit_names_the_shape_muon_refuses() -> None:
    from descentlab import nn
    from descentlab.train import Trainer

    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"2-D parameters.*shape \(2,\)"):
        Trainer(
            nn.Linear(4, 2),
            (rng.normal(size=(8, 4)), rng.normal(size=(8, 2))),
            loss="mse",
            optimizer="muon",
            progress=False,
        )

"""Adafactor: a golden step by hand, torch's errors, and random configurations against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab.optim import REGISTRY, Adafactor, ArrayParam

from .harness import check_parity, float64_torch

__all__ = ["float64_torch"]

#: (configuration, worst relative error) of every random configuration compared.
COMPARED: list[tuple[dict, float]] = []


def test_first_step_of_a_matrix_by_hand() -> None:
    """t = 1: beta2_1 = 0, so R and C are the row and column means of G^2."""
    theta = np.array([[1.0, 2.0], [3.0, 4.0]])
    g = np.array([[0.5, -1.0], [2.0, 0.0]])
    p = ArrayParam(theta.copy())
    opt = Adafactor([p], lr=0.1, weight_decay=0.2)
    p.grad = g.copy()
    opt.step()
    R = np.array([[(0.25 + 1.0) / 2], [(4.0 + 0.0) / 2]])
    C = np.array([[(0.25 + 4.0) / 2, (1.0 + 0.0) / 2]])
    V = R @ C / R.mean()
    U = g / np.sqrt(V)
    rms_u = np.sqrt(np.mean(U**2))
    alpha = max(1e-3, np.sqrt(np.mean(theta**2))) * min(0.1, 1.0)
    expected = theta * (1 - 0.1 * 0.2) - alpha * U / max(1.0, rms_u)
    np.testing.assert_allclose(p.data, expected, rtol=1e-14)
    np.testing.assert_allclose(opt.state[p]["row_var"], R, rtol=1e-15)
    np.testing.assert_allclose(opt.state[p]["col_var"], C, rtol=1e-15)
    assert opt.state[p]["step"] == 1


def test_vectors_keep_the_full_variance_and_batches_of_matrices_factor_the_last_two_axes() -> None:
    v, m = ArrayParam(np.ones(3)), ArrayParam(np.ones((2, 3, 4)))
    opt = Adafactor([v, m])
    v.grad, m.grad = np.ones(3), np.ones((2, 3, 4))
    opt.step()
    assert set(opt.state[v]) == {"step", "variance"}
    assert opt.state[m]["row_var"].shape == (2, 3, 1)
    assert opt.state[m]["col_var"].shape == (2, 1, 4)


def test_eps1_none_is_the_dtype_epsilon(float64_torch) -> None:
    """A zero gradient: V = 0 is floored at eps1^2, and nothing moves but the decay."""
    p = ArrayParam(np.ones((2, 2), dtype=np.float32))
    opt = Adafactor([p], weight_decay=0.5)
    p.grad = np.zeros((2, 2), dtype=np.float32)
    opt.step()
    assert p.data.dtype == np.float32
    np.testing.assert_allclose(p.data, 1 - 1e-2 * 0.5, rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"lr": -1.0}, "lr"),
        ({"beta2_decay": 0.1}, "beta2_decay"),
        ({"eps": (-1.0, 1e-3)}, "eps1"),
        ({"eps": (None, -1.0)}, "eps2"),
        ({"d": 0.0}, "d"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_torch_refuses_what_we_refuse(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        Adafactor([ArrayParam(np.ones(2))], **kwargs)
    with pytest.raises(ValueError):
        torch.optim.Adafactor([torch.ones(2, requires_grad=True)], **kwargs)


def test_eps_must_be_a_pair() -> None:
    with pytest.raises(ValueError, match="eps"):
        Adafactor([ArrayParam(np.ones(2))], eps=(1e-3,))


SHAPES = st.sampled_from(
    [
        ((3,), (2, 4), (5,)),
        ((2, 3), (4,), (3, 1, 2)),
        ((), (4, 4), (2, 2, 3)),
        ((1, 5), (6, 1), (3,)),
    ]
)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    shapes=SHAPES,
    lr=st.floats(1e-3, 0.5),
    beta2_decay=st.floats(-1.0, 0.0),
    eps1=st.one_of(st.none(), st.floats(1e-8, 1e-2)),
    eps2=st.floats(1e-4, 1.0),
    d=st.floats(1.0, 3.0),
    weight_decay=st.sampled_from([0.0, 0.01, 0.2]),
    maximize=st.booleans(),
    reload_at=st.integers(1, 79),
)
def test_random_configurations_match_torch(
    shapes, lr, beta2_decay, eps1, eps2, d, weight_decay, maximize, reload_at
) -> None:
    opts = {
        "lr": lr,
        "beta2_decay": beta2_decay,
        "eps1": eps1,
        "eps2": eps2,
        "d": d,
        "weight_decay": weight_decay,
        "maximize": maximize,
    }
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        worst = check_parity(
            REGISTRY["adafactor"],
            opts,
            torch.optim.Adafactor,
            steps=80,
            reload_at=reload_at,
            exact_state_keys=True,
            shapes=shapes,
        )
    finally:
        torch.set_default_dtype(old)
    COMPARED.append((opts, worst))


def test_minimize_runs_every_start_alone() -> None:
    """Adafactor couples a parameter's entries (RMS, factored moments): N starts run apart."""
    from descentlab.landscapes import minimize

    starts = np.array([[-1.5, 2.0], [0.5, 0.5], [2.0, -1.0]])
    together = minimize("rosenbrock", starts, optimizer="adafactor", lr=[0.1, 0.05, 0.1], steps=40)
    for i, lr in enumerate([0.1, 0.05, 0.1]):
        alone = minimize("rosenbrock", starts[i], optimizer="adafactor", lr=lr, steps=40)
        np.testing.assert_array_equal(together.x[i], alone.x)


def test_fit_steps_the_model_arrays_not_one_flat_buffer() -> None:
    from descentlab import nn
    from descentlab.train import Trainer

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 4)), rng.normal(size=(32, 2))
    model = nn.Linear(4, 2)
    trainer = Trainer(
        model,
        (X, y),
        loss="mse",
        optimizer="adafactor",
        epochs=1,
        batch_size=16,
        progress=False,
        seed=0,
    )
    trainer.run()
    assert trainer.flat is None
    shapes = {
        tuple(s[k].shape) for s in trainer.optimizer.state.values() for k in s if k == "row_var"
    }
    assert shapes  # the weight matrix's second moment is factored

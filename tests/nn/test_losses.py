"""Loss modules: torch.nn's constructors, the functions' values, rebuilt from their config."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import descentlab as dl

RNG = np.random.default_rng(5)


def test_loss_modules_wrap_the_functions() -> None:
    z, y = RNG.standard_normal((6, 3, 2)), RNG.integers(0, 3, (6, 2))
    w = np.array([0.5, 1.0, 2.0])
    module = dl.nn.CrossEntropyLoss(weight=w, ignore_index=1, label_smoothing=0.1)
    expected = TF.cross_entropy(
        torch.tensor(z), torch.tensor(y), torch.tensor(w), ignore_index=1, label_smoothing=0.1
    ).item()
    assert module(z, y).item() == pytest.approx(expected, rel=1e-12)
    rebuilt = dl.nn.CrossEntropyLoss.from_config(module.config())
    assert rebuilt(z, y).item() == module(z, y).item()
    x, t = RNG.standard_normal(7), RNG.standard_normal(7)
    pairs = [
        (
            dl.nn.NLLLoss(w, reduction="sum"),
            TF.nll_loss(torch.tensor(z), torch.tensor(y), torch.tensor(w), reduction="sum"),
            (z, y),
        ),
        (dl.nn.L1Loss(), TF.l1_loss(torch.tensor(x), torch.tensor(t)), (x, t)),
        (
            dl.nn.SmoothL1Loss(beta=0.5),
            TF.smooth_l1_loss(torch.tensor(x), torch.tensor(t), beta=0.5),
            (x, t),
        ),
        (
            dl.nn.HuberLoss(delta=0.5),
            TF.huber_loss(torch.tensor(x), torch.tensor(t), delta=0.5),
            (x, t),
        ),
        (
            dl.nn.BCEWithLogitsLoss(pos_weight=np.full(7, 2.0)),
            TF.binary_cross_entropy_with_logits(
                torch.tensor(x),
                torch.tensor(t > 0, dtype=torch.float64),
                pos_weight=torch.full((7,), 2.0, dtype=torch.float64),
            ),
            (x, (t > 0).astype(float)),
        ),
        (
            dl.nn.BCELoss(reduction="sum"),
            TF.binary_cross_entropy(
                torch.sigmoid(torch.tensor(x)),
                torch.tensor(t > 0, dtype=torch.float64),
                reduction="sum",
            ),
            (1 / (1 + np.exp(-x)), (t > 0).astype(float)),
        ),
    ]
    for mod, ref, args in pairs:
        assert mod(*args).item() == pytest.approx(ref.item(), rel=1e-12), type(mod).__name__
        again = type(mod).from_config(mod.config())
        assert again(*args).item() == mod(*args).item()
    with pytest.raises(TypeError, match="reduction= by keyword"):
        dl.nn.CrossEntropyLoss("sum")
    with pytest.raises(ValueError, match="reduction"):
        dl.nn.MSELoss(reduction="avg")

"""Shared helpers for the optimizer tests: option variants generated from the registry."""

from __future__ import annotations

import numpy as np
import pytest

from descentlab.optim import REGISTRY
from descentlab.spec import HyperParam

# A non-default value to try for each hyperparameter name (the names come from the
# registry; a hyperparameter without an entry here makes test_registry fail).
VARIANT_VALUES = {
    "lr": None,  # lr is varied per parameter group instead
    "momentum": 0.7,
    "dampening": 0.3,
    "weight_decay": 0.05,
    "nesterov": True,
    "maximize": True,
    "lr_decay": 0.02,
    "initial_accumulator_value": 0.3,
    "eps": 1e-3,
    "rho": 0.8,
    "alpha": 0.9,
    "centered": True,
    "beta1": 0.8,
    "beta2": 0.99,
    "amsgrad": True,
    "decoupled_weight_decay": True,
    "momentum_decay": 0.02,
    "batched": None,  # exercised by the batched tests
    "etaminus": 0.3,
    "etaplus": 1.5,
    "step_size_min": 1e-3,
    "step_size_max": 0.05,  # low enough that the upper clip is reached
    "lambd": 0.05,
    "t0": 100.0,  # averaging starts within the run
    "warmup_steps": 10,
    "r": 1.0,
    "weight_lr_power": 1.0,
    "foreach": None,  # accepted for compatibility, ignored
    "beta3": 0.95,
    "growth_rate": 1.02,
    "fsdp_in_use": None,  # accepted for compatibility, ignored
    "beta2_decay": -0.5,
    "eps1": 1e-3,  # large enough to be the floor of the variance estimate at times
    "eps2": 0.5,  # the floor of RMS(theta) in Adafactor's relative step
    "d": 1.5,
    "ns_a": 3.0,
    "ns_b": -5.0,
    "ns_c": 1.2,
    "ns_steps": 3,
    "adjust_lr_fn": "match_rms_adamw",
    "max_iter": None,  # LBFGS: closure-driven, tested in test_lbfgs.py
    "max_eval": None,
    "tolerance_grad": None,
    "tolerance_change": None,
    "history_size": None,
    "line_search_fn": None,
}

# Combinations that interact (the single-option variants come from the registry).
COMBOS = {
    "sgd": [{"momentum": 0.9, "dampening": 0.2}, {"momentum": 0.5, "weight_decay": 0.1}],
    "nesterov": [{"weight_decay": 0.05, "maximize": True}],
    "rmsprop": [
        {"momentum": 0.5, "centered": True},
        {"momentum": 0.5, "centered": True, "weight_decay": 0.05, "maximize": True},
    ],
    "adam": [{"amsgrad": True, "weight_decay": 0.05, "maximize": True}],
    "adamw": [{"amsgrad": True, "weight_decay": 0.1}],
    "adagrad": [{"lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.02}],
    "nadam": [{"momentum_decay": 0.01, "weight_decay": 0.05, "decoupled_weight_decay": True}],
    "adamax": [{"weight_decay": 0.05, "maximize": True, "beta2": 0.9}],
    "radam": [
        {"weight_decay": 0.05, "decoupled_weight_decay": True, "maximize": True},
        {"beta2": 0.5, "eps": 1e-3},  # rho_t never exceeds 5: momentum steps only
    ],
    "rprop": [{"etaminus": 0.3, "etaplus": 1.5, "step_size_min": 1e-3, "step_size_max": 0.05}],
    "asgd": [
        {"t0": 50.0, "lambd": 0.05, "alpha": 0.5, "weight_decay": 0.05},
        {"t0": 0.0, "maximize": True},
    ],
    "lion": [{"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}],
    "schedulefree_sgd": [{"warmup_steps": 20, "r": 0.5, "weight_decay": 0.01, "maximize": True}],
    "schedulefree_adamw": [{"warmup_steps": 20, "r": 0.5, "weight_decay": 0.01, "beta1": 0.5}],
    "prodigy": [
        {"beta1": 0.0, "weight_decay": 0.05, "decouple": False, "maximize": True},
        {"use_bias_correction": True, "safeguard_warmup": True, "growth_rate": 1.1, "slice_p": 3},
    ],
    "adafactor": [
        {"eps1": 1e-3, "weight_decay": 0.05, "maximize": True},
        {"d": 1.0, "eps2": 1e-2, "beta2_decay": -1.0},
    ],
    "muon": [
        {"nesterov": False, "adjust_lr_fn": "original"},
        {"ns_a": 1.5, "ns_b": -0.5, "ns_c": 0.0, "ns_steps": 10},  # the classic cubic iteration
    ],
}


def variants(name: str) -> list[dict]:
    """Default settings, each hyperparameter changed alone, and the COMBOS."""
    spec = REGISTRY[name]
    out: list[dict] = [{}]
    for hp in spec.hyperparameters.values():
        value = VARIANT_VALUES[hp.name] if hp.name in VARIANT_VALUES else variant_value(hp)
        if value is not None and value != hp.default:
            out.append({hp.name: value})
    out.extend(COMBOS.get(name, []))
    return out


def variant_value(hp: HyperParam) -> object:
    """A valid non-default value of a setting the table above does not know."""
    if hp.type == "bool":
        return not hp.default
    if hp.type == "choice":
        return next((c for c in hp.choices if c != hp.default), None)
    if hp.type == "int" and isinstance(hp.default, int):
        return hp.check(hp.default + 1)
    if hp.type == "float" and isinstance(hp.default, (int, float)):
        lo, hi = hp.slider_low, hp.slider_high
        if hp.default != 0:
            value = hp.default * 0.7
        elif lo is not None and hi is not None:
            value = lo + 0.3 * (hi - lo)
        else:
            return None
        return hp.check(value)
    return None


def variant_id(name: str, opts: dict) -> str:
    return name + ("" if not opts else "-" + "-".join(f"{k}={v}" for k, v in opts.items()))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)

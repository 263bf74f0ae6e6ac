"""Plans: grids, random search, seeds, keys and their round trip through JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from descentlab.sweep.plan import (
    Arm,
    DataProblem,
    LandscapeProblem,
    Plan,
    coerce_arms,
    coerce_problems,
    parse_values,
    replicate_seed,
)


def _plan(**kw):
    defaults = {
        "problems": (LandscapeProblem("rosenbrock", steps=50),),
        "arms": coerce_arms("sgd,momentum,adam"),
        "grid": {"lr": "1e-4:1:9"},
        "seeds": 3,
    }
    return Plan(**{**defaults, **kw})


def test_log_range_gives_n_log_spaced_values():
    plan = _plan()
    lrs = [s["lr"] for s in plan.settings(plan.arms[0])]
    assert len(lrs) == 9
    np.testing.assert_allclose(lrs, np.logspace(-4, 0, 9))
    ratios = np.diff(np.log10(lrs))
    np.testing.assert_allclose(ratios, 0.5)


@pytest.mark.parametrize(
    "text, expected",
    [("0.5,0.9,0.99", [0.5, 0.9, 0.99]), ("3", [3]), ("true,false", [True, False])],
)
def test_value_lists(text, expected):
    assert parse_values(text, "x") == expected


@pytest.mark.parametrize("text", ["1:0.1:3", "abc:1:3", "0:1:3", "1e-3:1:0", "1e-3:1", "1,,2"])
def test_bad_axes_name_the_value(text):
    with pytest.raises(ValueError) as err:
        parse_values(text, "lr")
    assert "lr" in str(err.value) and text in str(err.value)


def test_a_hyperparameter_applies_only_to_the_optimizers_that_have_it():
    plan = _plan(grid={"lr": "1e-3:1e-1:3", "momentum": "0.5,0.9"})
    sizes = {a.label: len(plan.settings(a)) for a in plan.arms}
    # sgd and momentum have a momentum; adam does not
    assert sizes == {"sgd": 6, "momentum": 6, "adam": 3}
    assert len(plan.trials()) == (6 + 6 + 3) * 3


def test_a_hyperparameter_no_optimizer_has_is_refused():
    with pytest.raises(ValueError, match="beta2"):
        _plan(arms=coerce_arms("sgd"), grid={"lr": "1e-3:1e-1:3", "beta2": "0.9,0.99"})


def test_an_invalid_setting_is_refused_before_anything_runs():
    with pytest.raises(ValueError, match="momentum"):
        _plan(grid={"lr": [0.1], "momentum": [-0.5]})


def test_unknown_optimizer_and_duplicate_labels():
    with pytest.raises(ValueError, match="nosuch"):
        coerce_arms("sgd,nosuch")
    with pytest.raises(ValueError, match="labels must differ"):
        _plan(arms=coerce_arms("adam,adam"))


def test_fixed_settings_are_not_swept():
    arm = Arm("sgd", label="heavy ball", fixed={"momentum": 0.99})
    plan = _plan(arms=(arm,), grid={"lr": [0.1, 0.01], "momentum": [0.5, 0.9]})
    settings = plan.settings(arm)
    assert settings == [{"lr": 0.1}, {"lr": 0.01}]
    assert all(t.hyperparameters["momentum"] == 0.99 for t in plan.trials())


def test_random_search_is_log_uniform_inside_the_range_and_reproducible():
    plan = _plan(search="random:200", grid={"lr": "1e-4:1:9", "momentum": "0.5,0.9"})
    arm = plan.arms[1]
    lrs = np.array([s["lr"] for s in plan.settings(arm)])
    assert len(lrs) == 200 and lrs.min() >= 1e-4 and lrs.max() <= 1.0
    # log-uniform: about a quarter of the samples in each decade
    per_decade = np.histogram(np.log10(lrs), bins=[-4, -3, -2, -1, 0])[0]
    assert per_decade.min() > 25, per_decade
    assert {s["momentum"] for s in plan.settings(arm)} == {0.5, 0.9}
    assert plan.settings(arm) == _plan(
        search="random:200", grid={"lr": "1e-4:1:9", "momentum": "0.5,0.9"}
    ).settings(arm)


def test_replicates_share_random_numbers_across_optimizers_and_settings():
    plan = _plan()
    seeds: dict[int, set[int]] = {}
    for t in plan.trials():
        seeds.setdefault(t.replicate, set()).add(t.seed)
    assert all(len(s) == 1 for s in seeds.values())
    assert len({next(iter(s)) for s in seeds.values()}) == 3
    assert seeds[0] == {replicate_seed(0, "rosenbrock", 0)}
    other = _plan(seed=1).trials()[0].seed
    assert other != plan.trials()[0].seed


def test_keys_are_unique_and_stable():
    trials = _plan().trials()
    keys = [t.key for t in trials]
    assert len(set(keys)) == len(keys)
    assert keys[0] == "rosenbrock|sgd|lr=0.0001|seed0"


def test_plan_round_trips_through_json():
    plan = Plan(
        problems=(
            LandscapeProblem("beale", starts=((1.0, 1.0), (2.0, 0.5)), steps=20),
            DataProblem("digits", hidden=(32, 16), epochs=2, dropout=0.1),
        ),
        arms=(Arm("sgd", label="gd"), Arm("sgd", label="noisy", problem={"grad_noise": 0.1})),
        grid={"lr": "1e-3:1e-1:3"},
        grids={"beale": {"lr": [0.5, 0.05]}},
        arms_of={"beale": ["gd", "noisy"], "digits (dropout 0.1)": ["gd"]},
        seeds=2,
        seed=7,
    )
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again.to_dict() == plan.to_dict()
    assert [t.key for t in again.trials()] == [t.key for t in plan.trials()]
    assert [t.seed for t in again.trials()] == [t.seed for t in plan.trials()]
    # beale: its own grid of 2, both arms; digits: the common grid of 3, one arm
    assert len(plan.trials()) == (2 * 2 + 3) * 2


def test_problems_from_names():
    (digits,) = coerce_problems("digits", epochs=3)
    assert isinstance(digits, DataProblem) and digits.epochs == 3
    (rb,) = coerce_problems("rosenbrock", steps=10, epochs=None)
    assert isinstance(rb, LandscapeProblem) and rb.steps == 10
    (formula,) = coerce_problems("x**2 + 3*y**2")
    assert isinstance(formula, LandscapeProblem)
    with pytest.raises(ValueError, match="epochs does not apply to the landscape"):
        coerce_problems("rosenbrock", epochs=3)
    with pytest.raises(ValueError, match="starts"):
        LandscapeProblem("rosenbrock", starts="everywhere:4")


def test_a_sweep_too_large_is_refused_before_it_starts():
    with pytest.raises(ValueError, match="trials; at most"):
        _plan(grid={"lr": "1e-6:1:10000"}, seeds=200)


def test_seed_count_bounds():
    for bad in (0, -1, 1.5):
        with pytest.raises((ValueError, TypeError)):
            _plan(seeds=bad)


def test_a_label_with_the_key_separator_is_refused():
    with pytest.raises(ValueError, match="'\\|'"):
        _plan(arms=(Arm("sgd", label="sgd|fast"),))

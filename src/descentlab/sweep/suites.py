"""Built-in comparisons: the ones the optimization lecture implies.

``lecture``: gradient descent against momentum and Nesterov on an ill-conditioned
quadratic and on Rosenbrock; GD against SGD with gradient noise on a saddle with
two minima beside it; AdaGrad, AdaGrad-Norm and Adam on Beale; SGD, momentum,
RMSprop, Adam and AdamW on the digits MLP, without and with dropout and L2. Every
optimizer is tuned on its own log-spaced learning-rate grid, over 3 seeds.
``lecture-quick`` is the same with fewer settings, steps and epochs (the demo, CI).
"""

from __future__ import annotations

from descentlab.sweep.plan import Arm, DataProblem, LandscapeProblem, Plan

__all__ = ["SUITES", "get_suite"]

#: f = x^2 + y^4/4 - y^2/2: a strict saddle at 0 and two minima (0, +-1) of value -1/4.
SADDLE = "x**2 + y**4/4 - y**2/2"

SUITES = {
    "lecture": "GD vs momentum vs Nesterov, noise on a saddle, adaptive methods on Beale, "
    "five optimizers on the digits MLP with and without dropout/L2 (3 seeds each)",
    "lecture-quick": "the lecture suite with fewer settings, steps and epochs (seconds)",
}


def get_suite(name: str, seed: int = 0) -> Plan:
    """The plan of the built-in suite ``name`` (see :data:`SUITES`)."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; expected one of {', '.join(SUITES)}")
    quick = name == "lecture-quick"
    n = 5 if quick else 9
    steps = 300 if quick else 1000
    epochs = 4 if quick else 12
    seeds = 2 if quick else 3
    starts = "random:2" if quick else "random:4"
    problems = (
        LandscapeProblem("ill_conditioned", steps=steps, starts=starts, name="ill-conditioned"),
        LandscapeProblem("rosenbrock", steps=steps, starts=starts, name="rosenbrock"),
        LandscapeProblem(
            SADDLE, steps=steps, starts=((1.0, 0.0),), target=-0.24, name="saddle escape"
        ),
        LandscapeProblem("beale", steps=steps, starts=starts, name="beale"),
        DataProblem("digits", hidden=(64,), epochs=epochs, target=0.9, name="digits MLP"),
        DataProblem(
            "digits",
            hidden=(64,),
            epochs=epochs,
            dropout=0.2,
            l2=1e-4,
            target=0.9,
            name="digits MLP + dropout 0.2 + L2 1e-4",
        ),
    )
    arms = (
        Arm("sgd", label="gd"),
        Arm("momentum"),
        Arm("nesterov"),
        Arm("sgd", label="sgd + noise", problem={"grad_noise": 0.5}),
        Arm("adagrad"),
        Arm("adagrad_norm"),
        Arm("adam"),
        Arm("sgd"),
        Arm("rmsprop"),
        Arm("adamw"),
    )
    digits = ("sgd", "momentum", "rmsprop", "adam", "adamw")
    arms_of = {
        "ill-conditioned": ("gd", "momentum", "nesterov"),
        "rosenbrock": ("gd", "momentum", "nesterov"),
        "saddle escape": ("gd", "sgd + noise"),
        "beale": ("adagrad", "adagrad_norm", "adam"),
        "digits MLP": digits,
        "digits MLP + dropout 0.2 + L2 1e-4": digits,
    }
    grids = {
        "rosenbrock": {"lr": (1e-5, 1e-2, n)},
        "saddle escape": {"lr": (1e-3, 0.3, n)},
        "beale": {"lr": (1e-3, 10.0, n)},
    }
    return Plan(
        problems=problems,
        arms=arms,
        grid={"lr": (1e-4, 1.0, n)},
        seeds=seeds,
        seed=seed,
        arms_of=arms_of,
        grids=grids,
    )

"""descentlab.spec: settings described once, one registry, every surface generated from them.

The last test is the promise of the design: an optimizer defined here, with its
hyperparameters described once and one registration, appears in the CLI's
choices and help, runs from the command line, appears in the playground's
``hello`` registry, is checked by the protocol, and runs through the parity
harness against torch.optim, without touching any other file.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab import cli, optim
from descentlab.optim import settings as common
from descentlab.optim.base import Optimizer
from descentlab.optim.registry import REGISTRY, register
from descentlab.spec import Entry, HyperParam, Registry, parse_value

from .optim.harness import check_parity


# ---------------------------------------------------------------------------- HyperParam
def test_float_bounds_open_and_closed() -> None:
    beta = HyperParam("beta", "float", 0.9, low=0.0, high=1.0, high_open=True)
    assert beta.check(0.0) == 0.0 and beta.check(0.999) == 0.999
    for bad in (1.0, -0.1, float("nan"), "0.5", True, None, 1 + 2j):
        with pytest.raises(
            ValueError, match=r"Invalid beta value: .*expected a number in \[0.0, 1.0\)"
        ):
            beta.check(bad)


def test_int_bool_choice_and_nullable() -> None:
    n = HyperParam("n", "int", 3, low=1)
    assert n.check(np.int64(5)) == 5 and isinstance(n.check(np.int64(5)), int)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="Invalid n value"):
            n.check(bad)
    flag = HyperParam("nesterov", "bool", False)
    assert flag.check(np.bool_(True)) is True
    with pytest.raises(ValueError, match="True or False"):
        flag.check(1)
    mode = HyperParam("mode", "choice", "min", choices=("min", "max"), nullable=True)
    assert mode.check(None) is None and mode.check("max") == "max"
    with pytest.raises(ValueError, match="one of 'min', 'max' or None"):
        mode.check("middle")
    with pytest.raises(ValueError, match="needs choices"):
        HyperParam("mode", "choice", "a")
    with pytest.raises(ValueError, match="not one of"):
        HyperParam("x", "complex", 0)  # type: ignore[arg-type]


def test_array_values_where_allowed() -> None:
    lr = common.lr(0.1)
    rates = np.array([[0.1], [0.2]])
    assert lr.check(rates) is rates
    with pytest.raises(ValueError, match="Invalid lr value"):
        lr.check(np.array([0.1, -0.2]))
    with pytest.raises(ValueError, match="Invalid eps value"):
        common.eps(1e-8).check(np.array([1e-8]))


def test_slider_is_separate_from_the_hard_bounds() -> None:
    lr = common.lr(1e-3)
    assert (lr.low, lr.high) == (0.0, None)
    assert (lr.slider_low, lr.slider_high) == (1e-5, 10.0)
    assert lr.check(1000.0) == 1000.0  # typed above the slider: still valid
    described = lr.to_dict()
    assert described["low"] == 1e-5 and described["high"] == 10.0
    assert described["min"] == 0.0 and described["max"] is None


@given(st.floats(allow_nan=True, allow_infinity=True))
@settings(max_examples=200, deadline=None)
def test_check_accepts_exactly_the_values_in_bounds(x: float) -> None:
    hp = HyperParam("x", "float", 0.5, low=0.0, high=1.0, low_open=True)
    inside = 0.0 < x <= 1.0
    if inside:
        assert hp.check(x) == x
    else:
        with pytest.raises(ValueError, match="Invalid x value"):
            hp.check(x)


def test_parse_value_reads_command_line_text() -> None:
    assert parse_value(common.flag("amsgrad", "h"), "yes") is True
    assert parse_value(HyperParam("n", "int", 1, low=0), "7") == 7
    assert parse_value(HyperParam("e", "float", None, nullable=True, low=0.0), "none") is None
    with pytest.raises(ValueError, match="Invalid n value: '7.5'"):
        parse_value(HyperParam("n", "int", 1, low=0), "7.5")
    with pytest.raises(ValueError, match="Invalid lr value: -1.0"):
        parse_value(common.lr(0.1), "-1")


# ---------------------------------------------------------------------- Entry, Registry
def test_entry_checks_overrides_and_packs() -> None:
    def make(**kw: object) -> dict[str, object]:
        return kw

    entry = Entry(
        "thing",
        make,
        [common.lr(0.1), *common.betas(0.9, 0.99)],
        label="widget",
        presets={"lr": 0.5},
    )
    assert entry.build(beta2=0.5) == {"lr": 0.5, "betas": (0.9, 0.5)}
    assert entry.build(betas=(0.1, 0.2)) == {"lr": 0.5, "betas": (0.1, 0.2)}
    with pytest.raises(ValueError, match="unknown setting.*'momentum' for widget 'thing'"):
        entry.build(momentum=0.9)
    with pytest.raises(ValueError, match="Invalid betas value"):
        entry.build(betas=(0.1,))
    with pytest.raises(ValueError, match="Invalid beta1 value"):
        entry.build(betas=(1.0, 0.2))
    with pytest.raises(ValueError, match="presets"):
        Entry("thing", make, [common.lr(0.1)], presets={"rho": 1.0})


def test_registry_names_aliases_and_errors() -> None:
    reg: Registry[Entry[object]] = Registry("gadget")
    a = reg.register(Entry("first_one", dict, []), aliases=("uno",))
    reg.register(Entry("second", dict, []))
    assert list(reg) == ["first_one", "second"] and len(reg) == 2
    assert reg.get("First-One") is a and reg.get("UNO") is a and reg.get("firstone") is a
    assert "first_one" in reg and "uno" not in reg and reg.knows("uno")
    with pytest.raises(
        ValueError,
        match=r"unknown gadget 'third'; expected one of first_one, "
        r"second \(aliases: uno\)",
    ):
        reg.get("third")
    with pytest.raises(ValueError, match="already taken"):
        reg.register(Entry("uno", dict, []))
    version = reg.version
    reg.unregister("uno")
    assert list(reg) == ["second"] and not reg.knows("uno") and reg.version > version


def test_every_registry_is_a_spec_registry() -> None:
    from descentlab import data, landscapes

    for registry in (optim.REGISTRY, landscapes.REGISTRY, data.DATASETS):
        assert isinstance(registry, Registry)
        for entry in registry.values():
            assert isinstance(entry, Entry)
            for hp in entry.hyperparameters.values():
                assert isinstance(hp, HyperParam)
                assert hp.check(hp.default) == hp.default or hp.default is None


# ------------------------------------------------------- one registration, every surface
def heavy_ball(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[dict],
    *,
    lr: float,
    momentum: float,
) -> None:
    """b <- beta b + g (b = g at the first step);  theta <- theta - eta b."""
    for theta, g, state in zip(params, grads, states):
        if "momentum_buffer" in state:
            b = state["momentum_buffer"]
            b *= momentum
            b += g
        else:
            b = state["momentum_buffer"] = np.array(g, copy=True)
        theta -= lr * b


class HeavyBall(Optimizer):
    """Polyak's heavy ball, written again from scratch for this test."""

    hyperparameters = (
        common.lr(0.01),
        common.number(
            "momentum", 0.5, "beta: momentum", high=1.0, high_open=True, slider=(0.0, 0.99)
        ),
    )
    rule = staticmethod(heavy_ball)


@pytest.fixture
def heavy_ball_registered():
    register(
        HeavyBall, "heavy_ball_test", "heavy ball, defined in a test module", aliases=("hb_test",)
    )
    yield REGISTRY["heavy_ball_test"]
    REGISTRY.unregister("heavy_ball_test")


def test_an_optimizer_registered_here_appears_everywhere(
    heavy_ball_registered, capsys: pytest.CaptureFixture[str]
) -> None:
    import inspect

    spec = heavy_ball_registered
    # the class: generated constructor with the described signature and checks
    assert str(inspect.signature(HeavyBall)) == "(params, lr=0.01, momentum=0.5)"
    with pytest.raises(ValueError, match="Invalid momentum value: 1.5"):
        HeavyBall([optim.ArrayParam([1.0])], momentum=1.5)
    # the CLI: listed, in the choices and the help, and runnable by name or alias
    assert cli.main(["optimizers"]) == 0
    listing = capsys.readouterr().out
    assert "heavy_ball_test: heavy ball, defined in a test module" in listing
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    help_text = capsys.readouterr().out
    assert "heavy_ball_test" in help_text
    assert (
        cli.main(
            [
                "minimize",
                "parabola",
                "--optimizer",
                "hb_test",
                "--lr",
                "0.1",
                "--momentum",
                "0.3",
                "--steps",
                "200",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "hb_test" in out and "converged" in out
    assert cli.main(["minimize", "parabola", "--optimizer", "hb_test", "--momentum", "2"]) == 2
    assert "Invalid momentum value: 2.0" in capsys.readouterr().err
    # the playground: in the hello registry, and its settings checked by the protocol
    from descentlab.web import protocol, session

    described = {o["name"]: o for o in session.registry()["optimizers"]}
    assert [h["name"] for h in described["heavy_ball_test"]["hyperparameters"]] == [
        "lr",
        "momentum",
    ]
    assert described["heavy_ball_test"]["hyperparameters"][1]["high"] == 0.99
    with pytest.raises(protocol.ProtocolError, match="momentum"):
        protocol.parse_client_message(
            json.dumps(
                {
                    "type": "race.start",
                    "config": {
                        "optimizers": [
                            {"id": "a", "name": "heavy_ball_test", "hyper": {"momentum": 1.2}}
                        ]
                    },
                }
            )
        )
    accepted = protocol.parse_client_message(
        json.dumps(
            {
                "type": "race.start",
                "config": {
                    "optimizers": [{"id": "a", "name": "hb_test", "hyper": {"momentum": 0.2}}]
                },
            }
        )
    )
    assert accepted.config.optimizers[0].hyper == {"momentum": 0.2}
    # the parity harness: identical to torch.optim.SGD with momentum, dampening 0
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        worst = check_parity(
            spec,
            {"lr": 0.02, "momentum": 0.7},
            torch.optim.SGD,
            reload_at=100,
            exact_state_keys=True,
        )
    finally:
        torch.set_default_dtype(old)
    assert worst < 1e-12

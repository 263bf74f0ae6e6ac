"""The registry of test functions: values, analytic gradients, minima, saddles."""

import numpy as np
import pytest

import descentlab.autograd as ag
from descentlab import landscapes
from descentlab.landscapes import REGISTRY, from_formula, from_function
from descentlab.landscapes.functions import LandscapeSpec

ANALYTIC = [n for n, s in REGISTRY.items() if s.factory.__module__.endswith("functions")]
N_D = ["quadratic", "rosenbrock", "rastrigin", "styblinski_tang", "ackley"]


def _points(f, n=25, seed=0):
    rng = np.random.default_rng(seed)
    lo, hi = f.bounds[:, 0], f.bounds[:, 1]
    return rng.uniform(lo, hi, size=(n, f.dim))


def test_registry_lists_every_function_of_the_lecture():
    wanted = {
        "parabola",
        "double_well",
        "cubic",
        "xcos",
        "quadratic",
        "ill_conditioned",
        "rosenbrock",
        "beale",
        "himmelblau",
        "booth",
        "goldstein_price",
        "six_hump_camel",
        "rastrigin",
        "ackley",
        "styblinski_tang",
        "saddle",
        "monkey_saddle",
        "eight_points",
        "logistic_regression",
    }
    assert wanted <= set(REGISTRY)
    for name, spec in REGISTRY.items():
        assert isinstance(spec, LandscapeSpec) and spec.name == name
        assert spec.description and "\n" not in spec.description
        assert spec.dims in ("1", "2", "n")


@pytest.mark.parametrize("name", ANALYTIC)
def test_landscape_facts_have_consistent_shapes(name):
    f = landscapes.get(name)
    assert f.bounds.shape == (f.dim, 2)
    assert f.start.shape == (f.dim,)
    assert np.all(f.bounds[:, 0] <= f.start) and np.all(f.start <= f.bounds[:, 1])
    assert f.lr > 0 and isinstance(f.log_scale, bool)
    assert f.minima.ndim == 2 and f.minima.shape[1] == f.dim
    assert f.saddles.ndim == 2 and f.saddles.shape[1] == f.dim
    assert f.formula and f.latex and f.description
    X = _points(f)
    assert f.value(X).shape == (25,)
    assert f.grad(X).shape == (25, f.dim)
    assert f.value(X.reshape(5, 5, f.dim)).shape == (5, 5)


@pytest.mark.parametrize("name", ANALYTIC)
def test_analytic_gradient_matches_central_differences(name):
    f = landscapes.get(name)
    X = _points(f, seed=1)
    h = 1e-6
    fd = np.stack(
        [(f.value(X + h * e) - f.value(X - h * e)) / (2 * h) for e in np.eye(f.dim)], axis=-1
    )
    g = f.grad(X)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5 * (1 + np.abs(g).max()))


@pytest.mark.parametrize("name", [n for n in ANALYTIC if n not in ("rastrigin", "styblinski_tang")])
def test_gradient_and_value_match_the_formula_differentiated_exactly(name):
    # the formula string is parsed and differentiated by forward-mode AD: an independent
    # derivation of the same function
    f = landscapes.get(name)
    g = from_formula(f.formula, dim=f.dim)
    X = _points(f, seed=2)
    np.testing.assert_allclose(g.value(X), f.value(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        g.grad(X), f.grad(X), rtol=1e-10, atol=1e-10 * (1 + np.abs(f.grad(X)).max())
    )


def _ag_rosenbrock(X):
    x, nxt = X[..., :-1], X[..., 1:]
    return (100 * (nxt - x**2) ** 2 + (1 - x) ** 2).sum(axis=-1)


def _ag_rastrigin(X):
    return 10 * X.shape[-1] + (X**2 - 10 * ag.cos(2 * np.pi * X)).sum(axis=-1)


def _ag_styblinski(X):
    return 0.5 * (X**4 - 16 * X**2 + 5 * X).sum(axis=-1)


def _ag_ackley(X):
    d = X.shape[-1]
    r = ag.sqrt((X**2).sum(axis=-1) / d)
    return -20 * ag.exp(-0.2 * r) - ag.exp(ag.cos(2 * np.pi * X).sum(axis=-1) / d) + 20 + np.e


def _ag_quadratic(X):
    return (X**2).sum(axis=-1)


@pytest.mark.parametrize(
    "name,fn",
    [
        ("rosenbrock", _ag_rosenbrock),
        ("rastrigin", _ag_rastrigin),
        ("styblinski_tang", _ag_styblinski),
        ("ackley", _ag_ackley),
        ("quadratic", _ag_quadratic),
    ],
)
@pytest.mark.parametrize("dim", [2, 5])
def test_n_d_gradient_equals_autograd(name, fn, dim):
    f = landscapes.get(name, dim=dim)
    auto = from_function(fn, dim=dim)
    X = _points(f, n=12, seed=3)
    np.testing.assert_allclose(auto.value(X), f.value(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(auto.grad(X), f.grad(X), rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("name", ANALYTIC)
def test_each_listed_minimum_is_stationary_with_its_tabled_value(name):
    f = landscapes.get(name)
    if name in ("cubic", "saddle", "monkey_saddle"):
        assert len(f.minima) == 0 and len(f.saddles) == 1
        assert np.abs(f.grad(f.saddles)).max() == 0
        return
    assert len(f.minima) >= 1
    assert np.abs(f.grad(f.minima)).max() < 1e-6
    np.testing.assert_allclose(f.value(f.minima), f.minimum_values, atol=1e-12)


TABLE = {
    "parabola": ([[0.0]], 0.0),
    "quadratic": ([[0.0, 0.0]], 0.0),
    "ill_conditioned": ([[0.0, 0.0]], 0.0),
    "rosenbrock": ([[1.0, 1.0]], 0.0),
    "beale": ([[3.0, 0.5]], 0.0),
    "himmelblau": (
        [[3, 2], [-2.805118, 3.131312], [-3.779310, -3.283186], [3.584428, -1.848126]],
        0.0,
    ),
    "booth": ([[1.0, 3.0]], 0.0),
    "goldstein_price": ([[0.0, -1.0]], 3.0),
    "six_hump_camel": (
        [[0.0898420131, -0.7126564033], [-0.0898420131, 0.7126564033]],
        -1.0316284535,
    ),
    "rastrigin": ([[0.0, 0.0]], 0.0),
    "ackley": ([[0.0, 0.0]], 0.0),
    "styblinski_tang": ([[-2.903534027771, -2.903534027771]], -39.166165704 * 2),
}


@pytest.mark.parametrize("name", TABLE)
def test_minima_match_the_reference_table(name):
    f = landscapes.get(name)
    pts, val = TABLE[name]
    np.testing.assert_allclose(f.minima, pts, atol=1e-6)
    np.testing.assert_allclose(f.minimum_values, val, atol=1e-8)
    assert f.global_minimum == pytest.approx(val, abs=1e-8)


def test_one_d_functions():
    dw = landscapes.get("double_well")
    assert dw.minimum_values[0] < dw.minimum_values[1]  # a global and a local minimum
    assert dw.value(dw.minima[0]) == pytest.approx(-3.5139050389, abs=1e-9)
    xc = landscapes.get("xcos")
    lo, hi = xc.bounds[0]
    grid = np.linspace(lo, hi, 30001)
    assert xc.minimum_values[0] == pytest.approx(xc.value(grid).min(), abs=1e-8)
    cubic = landscapes.get("cubic")
    assert cubic.grad(0.0) == 0 and cubic.grad(1.0) == 3.0
    # scalars and flat arrays are read as points of a 1-D landscape
    assert landscapes.get("parabola").value([1.0, 2.0, 3.0]).tolist() == [1.0, 4.0, 9.0]
    assert landscapes.get("parabola").grad([1.0, 2.0]).tolist() == [2.0, 4.0]


def test_n_dimensional_versions():
    f = landscapes.get("rosenbrock", dim=10)
    assert f.dim == 10 and f.minima.shape == (1, 10)
    assert f.value(np.ones(10)) == 0 and np.all(f.grad(np.ones(10)) == 0)
    st = landscapes.get("styblinski_tang", dim=5)
    assert st.minimum_values[0] == pytest.approx(-39.16616570377 * 5, abs=1e-8)
    assert st.minimum_values[0] == pytest.approx(-39.16599 * 5, abs=1e-3 * 5)
    assert landscapes.get("rastrigin", dim=7).value(np.zeros(7)) == 0
    assert landscapes.get("quadratic", dim=1).value(3.0) == 9.0
    # the n = 4 local minimum of Rosenbrock from the reference notes
    local = np.array([-0.7757, 0.6131, 0.3821, 0.1460])
    assert landscapes.get("rosenbrock", dim=4).value(local) == pytest.approx(3.7014, abs=1e-3)


def test_himmelblau_local_maximum_and_saddle_hessians():
    h = landscapes.get("himmelblau")
    m = np.array([-0.270845, -0.923039])
    assert h.value(m) == pytest.approx(181.617, abs=1e-3)
    assert np.abs(h.grad(m)).max() < 1e-4
    s = landscapes.get("saddle")
    eps = 1e-4
    hess = np.stack([(s.grad(eps * e) - s.grad(-eps * e)) / (2 * eps) for e in np.eye(2)])
    np.testing.assert_allclose(np.linalg.eigvalsh(hess), [-2, 2], atol=1e-8)
    monkey = landscapes.get("monkey_saddle")
    hess = np.stack([(monkey.grad(eps * e) - monkey.grad(-eps * e)) / (2 * eps) for e in np.eye(2)])
    np.testing.assert_allclose(hess, 0, atol=1e-6)


def test_ackley_subgradient_zero_at_its_minimum_without_warning():
    f = landscapes.get("ackley")
    g = f.grad(np.zeros((3, 2)))  # RuntimeWarning would be an error here
    assert np.array_equal(g, np.zeros((3, 2)))
    assert abs(float(f.value([0.0, 0.0]))) < 1e-14
    # near the tip the gradient has norm about a*b/sqrt(D) (the cone's slope)
    assert np.linalg.norm(f.grad([1e-9, 0.0])) == pytest.approx(20 * 0.2 / np.sqrt(2), rel=1e-3)
    assert np.all(np.isfinite(landscapes.get("ackley", dim=6).grad(np.zeros(6))))


def test_get_names_aliases_and_errors():
    assert landscapes.get("Six-Hump Camel").name == "six_hump_camel"
    assert landscapes.get("banana").name == "rosenbrock"
    assert landscapes.get("ROSENBROCK", dim=3).dim == 3
    with pytest.raises(ValueError, match="unknown landscape 'nope'.*rosenbrock"):
        landscapes.get("nope")
    with pytest.raises(ValueError, match="has no parameter 'dim'"):
        landscapes.get("beale", dim=3)
    with pytest.raises(ValueError, match="dim=0 is outside"):
        landscapes.get("quadratic", dim=0)
    with pytest.raises(TypeError, match="dim must be an integer"):
        landscapes.get("quadratic", dim=2.5)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        landscapes.get("beale").value(np.zeros((4, 3)))
    # a formula is accepted where a name is expected
    f = landscapes.get("x**2 + 3*sin(y)")
    assert f.dim == 2 and f.value([1.0, 0.0]) == 1.0
    assert landscapes.resolve("himmelblau").name == "himmelblau"


def test_batched_evaluation_equals_rowwise_evaluation_exactly():
    rng = np.random.default_rng(5)
    for name in ANALYTIC:
        f = landscapes.get(name)
        X = _points(f, n=9, seed=int(rng.integers(100)))
        rows_v = np.array([f.value(x[None])[0] for x in X])
        rows_g = np.stack([f.grad(x[None])[0] for x in X])
        assert np.array_equal(f.value(X), rows_v), name
        assert np.array_equal(f.grad(X), rows_g), name


@pytest.mark.parametrize("name", [n for n in ANALYTIC if n not in ("rastrigin", "styblinski_tang")])
def test_every_analytic_gradient_equals_autograd(name):
    # the registry's formula text, evaluated on autograd Tensors (trusted test input)
    f = landscapes.get(name)
    namespace = {
        "sin": ag.sin,
        "cos": ag.cos,
        "exp": ag.exp,
        "sqrt": ag.sqrt,
        "pi": np.pi,
        "e": np.e,
    }
    variables = ["x", "y"][: f.dim]
    code = compile(f.formula, "<formula>", "eval")

    def fn(X):
        values = {v: X[..., i] for i, v in enumerate(variables)}
        return eval(code, {"__builtins__": {}}, {**namespace, **values})

    auto = from_function(fn, dim=f.dim)
    X = _points(f, n=10, seed=4)
    np.testing.assert_allclose(
        auto.grad(X), f.grad(X), rtol=1e-10, atol=1e-10 * (1 + np.abs(f.grad(X)).max())
    )

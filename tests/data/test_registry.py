import inspect
import json

import numpy as np
import pytest

from descentlab.data import ALIASES, DATASETS, DataBundle, DatasetSpec, HyperParam, get, load

GENERATED = [name for name, spec in DATASETS.items() if spec.needs_path is None]


def test_registry_lists_every_data_set():
    assert list(DATASETS) == [
        "moons",
        "circles",
        "spirals",
        "xor",
        "blobs",
        "digits",
        "line",
        "polynomial",
        "mnist",
        "fashion-mnist",
        "npz",
    ]
    assert ALIASES["gaussians"] == "blobs" and ALIASES["spiral"] == "spirals"
    for name, spec in DATASETS.items():
        assert isinstance(spec, DatasetSpec) and spec.name == name
        assert spec.kind in ("classification", "regression") and spec.summary
        signature = inspect.signature(spec.loader)
        for hp_name, hp in spec.hyperparameters.items():
            assert isinstance(hp, HyperParam) and hp.name == hp_name and hp.help
            assert hp.type in ("int", "float", "bool", "str")
            assert hp_name in signature.parameters
            # the registry's default is the function's default
            assert signature.parameters[hp_name].default == hp.default, (name, hp_name)
            if hp.low is not None:
                assert hp.low <= hp.default <= hp.high


@pytest.mark.parametrize("name", GENERATED)
def test_load_every_generated_name(name):
    bundle = load(name, seed=0)
    spec = DATASETS[name]
    assert isinstance(bundle, DataBundle) and bundle.name == name and bundle.kind == spec.kind
    Xtr, ytr = bundle.train
    assert Xtr.dtype == np.float32 and Xtr.ndim == 2 and bundle.num_features == Xtr.shape[1]
    n = sum(len(pair[0]) for pair in (bundle.train, bundle.val, bundle.test))
    if "n" in spec.hyperparameters:
        assert n == spec.hyperparameters["n"].default
    if spec.kind == "classification":
        assert ytr.dtype == np.int64 and bundle.num_classes == len(np.unique(ytr))
        for pair in (bundle.val, bundle.test):  # stratified: every class everywhere
            assert len(np.unique(pair[1])) == bundle.num_classes
    else:
        assert ytr.dtype == np.float32 and ytr.shape[1] == 1 and bundle.num_classes is None
    again = load(name, seed=0)
    np.testing.assert_array_equal(again.train[0], Xtr)
    assert "DataBundle(" in repr(bundle)


def test_generated_data_equals_generator_output():
    from descentlab.data import make_moons

    bundle = load("moons", seed=5, n=120, noise=0.2, val=0.0, test=0.0)
    X, y = make_moons(n=120, noise=0.2, seed=5)
    assert bundle.val is None and bundle.test is None
    order, expected = np.lexsort(bundle.train[0].T), np.lexsort(X.T)
    np.testing.assert_array_equal(bundle.train[0][order], X[expected])
    np.testing.assert_array_equal(bundle.train[1][order], y[expected])


def test_aliases_and_params():
    bundle = load("gaussians", seed=1, centers=5, n=250)
    assert bundle.name == "blobs" and bundle.num_classes == 5
    assert load("spiral", seed=1, classes=4).num_classes == 4
    assert load("  Moons ", seed=1).name == "moons"
    line = load("line", seed=0, n=20, slope=-1.0, noise=0.0, val=0.0, test=0.0)
    np.testing.assert_allclose(line.train[1], -line.train[0] + 0.2, atol=1e-6)
    poly = load("polynomial", seed=0, coeffs=(1.0,), noise=0.0, test=0.0, val=0.0)
    np.testing.assert_array_equal(poly.train[1], 1.0)


def test_digits_bundle():
    bundle = load("digits", seed=0)
    assert bundle.num_features == 64 and bundle.num_classes == 10
    assert bundle.class_names == tuple("0123456789")
    assert sum(len(p[1]) for p in (bundle.train, bundle.val, bundle.test)) == 1797
    assert 0.0 <= bundle.train[0].min() and bundle.train[0].max() <= 1.0


def test_mnist_bundle_keeps_official_test_set(mnist_dir):
    bundle = load(f"mnist:{mnist_dir}", seed=0, val=0.1)
    assert len(bundle.test[1]) == 10000 and len(bundle.val[1]) == 2000
    assert len(bundle.train[1]) == 18000 and bundle.num_features == 784
    np.testing.assert_array_equal(bundle.test[1][:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    np.testing.assert_array_equal(
        np.bincount(bundle.test[1]), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
    assert bundle.num_classes == 10 and bundle.kind == "classification"
    images = load("mnist", directory=mnist_dir, val=0.0, flatten=False)
    assert images.val is None and images.train[0].shape == (20000, 28, 28)
    assert images.num_features == 784


def test_fashion_mnist_bundle(tmp_path, make_fake_mnist):
    make_fake_mnist(tmp_path, n_train=100, n_test=30, gz=False)
    bundle = load(f"fashion-mnist:{tmp_path}", seed=0)
    assert bundle.name == "fashion-mnist" and bundle.class_names[-1] == "Ankle boot"
    assert len(bundle.test[1]) == 30 and len(bundle.val[1]) == 10
    assert load(f"fashion_mnist:{tmp_path}").name == "fashion-mnist"


def test_npz_bundles(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(100, 4)), rng.integers(0, 3, 100)
    np.savez(tmp_path / "pool.npz", X=X, y=y)
    bundle = load(str(tmp_path / "pool.npz"), seed=0)
    assert bundle.name == "npz" and bundle.num_classes == 3 and bundle.num_features == 4
    assert [len(p[1]) for p in (bundle.train, bundle.val, bundle.test)] == [70, 10, 20]
    np.savez(tmp_path / "split.npz", x_train=X[:80], y_train=y[:80], x_test=X[80:], y_test=y[80:])
    split = load(str(tmp_path / "split.npz"), val=0.25, seed=0)
    assert [len(p[1]) for p in (split.train, split.val, split.test)] == [60, 20, 20]
    np.testing.assert_array_equal(split.test[0], X[80:].astype(np.float32))
    np.savez(tmp_path / "reg.npz", X=X, y=X.sum(axis=1))
    reg = load("npz", path=tmp_path / "reg.npz")
    assert reg.kind == "regression" and reg.num_classes is None


@pytest.mark.parametrize("bad", ["mnsit", "", "cifar10:/tmp", "moons2"])
def test_unknown_names_list_valid_ones(bad):
    with pytest.raises(ValueError) as info:
        load(bad)
    message = str(info.value)
    assert repr(bad.strip()) in message or repr(bad) in message
    if bad:
        for name in ("moons", "digits", "mnist:DIR", "path/to/file.npz"):
            assert name in message


def test_bad_arguments_name_the_value(tmp_path):
    with pytest.raises(ValueError, match="unknown parameter.*colour.*expected some of: n, noise"):
        load("moons", colour="red")
    with pytest.raises(ValueError, match="noise must be .* got -1"):
        load("moons", noise=-1)
    with pytest.raises(ValueError, match="needs a path"):
        load("npz")
    with pytest.raises(ValueError, match="val must be a fraction"):
        load("xor", val=1.5)
    with pytest.raises(ValueError, match="does not exist"):
        load(f"mnist:{tmp_path / 'absent'}")
    with pytest.raises(TypeError, match="must be a string"):
        get(3)


def test_registry_is_json_describable():
    # the CLI and the playground serialise the hyperparameter tables
    table = {
        name: {hp: vars(p) for hp, p in spec.hyperparameters.items()}
        for name, spec in DATASETS.items()
    }
    assert json.loads(json.dumps(table))["spirals"]["classes"]["default"] == 3


def test_spec_options_are_parsed_and_typed():
    bundle = load("moons:n=120,noise=0.2", seed=5, val=0.0, test=0.0)
    expected = load("moons", seed=5, n=120, noise=0.2, val=0.0, test=0.0)
    np.testing.assert_array_equal(bundle.train[0], expected.train[0])
    assert load("spirals: classes = 4 ", seed=1).num_classes == 4
    assert load("digits:flatten=false", seed=0).train[0].shape[1:] == (8, 8)


@pytest.mark.parametrize(
    ("spec", "kwargs", "message"),
    [
        (
            "moons:foo",
            {},
            (
                r"unknown option 'foo' in data spec 'moons:foo'; .*n \(int in \[2, "
                r"100000\], default 200\), noise \(float in \[0, 1\], default 0.1\)"
            ),
        ),
        ("moons:n=-1", {}, r"n must be an int in \[2, 100000\] for data set 'moons', got -1"),
        ("moons:n=1000000", {}, r"n must be an int in \[2, 100000\].*got 1000000"),
        ("xor:noise=5", {}, r"noise must be a float in \[0, 1\] for data set 'xor', got 5.0"),
        ("moons:n=abc", {}, "option n='abc' of data set 'moons' must be an integer"),
        ("moons:noise=nan", {}, "must be a finite number"),
        ("digits:flatten=maybe", {}, "must be true or false"),
        ("moons:colour=red", {}, r"unknown option\(s\) 'colour'.*takes the options n"),
        ("line:n=3,n=4", {}, "given twice"),
        ("moons:n=50", {"n": 60}, "given both in the data spec"),
        ("moons", {"n": -1}, r"n must be an int in \[2, 100000\] for data set 'moons', got -1"),
        ("circles", {"factor": 2.0}, r"factor must be a float in \[0.05, 0.95\]"),
    ],
)
def test_bad_spec_options_name_value_and_allowed(spec, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load(spec, **kwargs)


def test_mnist_spec_with_directory_and_options(tmp_path, make_fake_mnist):
    make_fake_mnist(tmp_path, n_train=40, n_test=10)
    bundle = load(f"mnist:{tmp_path},flatten=false", val=0.0)
    assert bundle.train[0].shape == (40, 28, 28)
    with pytest.raises(ValueError, match="unknown option"):
        load(f"mnist:{tmp_path},size=3")


def test_mnist_without_directory_reads_the_cache(tmp_path, monkeypatch, make_fake_mnist):
    monkeypatch.setenv("DESCENTLAB_DATA", str(tmp_path))
    make_fake_mnist(tmp_path / "mnist", n_train=40, n_test=10)
    bundle = load("mnist", val=0.0)
    assert len(bundle.train[1]) == 40 and len(bundle.test[1]) == 10


def test_npz_labels_bounded_through_the_registry(tmp_path):
    np.savez(tmp_path / "huge.npz", X=np.zeros((4, 2)), y=np.array([0, 1, 2, 10**9]))
    with pytest.raises(ValueError, match="class label 1000000000"):
        load(str(tmp_path / "huge.npz"))

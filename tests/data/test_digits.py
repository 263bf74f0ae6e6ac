import numpy as np

from descentlab.data import load_digits


def test_digits_scaled_to_unit_interval():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.unique(y), np.arange(10))
    # values are the raw 0..16 counts divided by 16
    np.testing.assert_array_equal(np.round(X * 16), X * 16)
    images, _ = load_digits(flatten=False)
    assert images.shape == (1797, 8, 8)
    np.testing.assert_array_equal(images.reshape(1797, 64), X)


def test_the_bundled_file_is_read_without_importing_scikit_learn_and_matches_it():
    import subprocess
    import sys

    import numpy as np
    import pytest

    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    code = (
        "import sys; from descentlab.data import load_digits; load_digits(); "
        "print('sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    X, y = load_digits()
    bunch = sklearn_datasets.load_digits()
    np.testing.assert_array_equal(X, (bunch.data / 16.0).astype(np.float32))
    np.testing.assert_array_equal(y, bunch.target)

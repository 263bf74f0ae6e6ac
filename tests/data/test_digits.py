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

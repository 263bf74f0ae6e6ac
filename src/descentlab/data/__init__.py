"""Data sets and mini-batches: toy 2-D sets, regression sets, digits, MNIST, your own npz.

Conventions: features float32 of shape ``(n, d)`` (images flattened unless
``flatten=False``), class labels int64 of shape ``(n,)``, regression targets float32
of shape ``(n, 1)``. Generators take ``n``, ``noise`` and ``seed`` and are
deterministic given the seed.

>>> from descentlab import data
>>> bundle = data.load("moons", seed=0, n=100)
>>> X_train, y_train = bundle.train
>>> loader = data.DataLoader(X_train, y_train, batch_size=16, seed=0)
"""

from descentlab.data.digits import load_digits
from descentlab.data.idx import (
    FASHION_MNIST_CLASSES,
    MNIST_FILES,
    DataError,
    load_fashion_mnist,
    load_mnist,
    read_idx,
    write_idx,
)
from descentlab.data.loader import DataLoader
from descentlab.data.npz import load_npz
from descentlab.data.preprocess import (
    MinMax,
    Standardization,
    normalize,
    standardize,
    train_val_test_split,
)
from descentlab.data.registry import (
    ALIASES,
    DATASETS,
    DataBundle,
    DatasetSpec,
    HyperParam,
    get,
    load,
)
from descentlab.data.regression import make_line, make_polynomial
from descentlab.data.toy2d import make_blobs, make_circles, make_moons, make_spirals, make_xor

__all__ = [
    "ALIASES",
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "MNIST_FILES",
    "DataBundle",
    "DataError",
    "DataLoader",
    "DatasetSpec",
    "HyperParam",
    "MinMax",
    "Standardization",
    "get",
    "load",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_npz",
    "make_blobs",
    "make_circles",
    "make_line",
    "make_moons",
    "make_polynomial",
    "make_spirals",
    "make_xor",
    "normalize",
    "read_idx",
    "standardize",
    "train_val_test_split",
    "write_idx",
]

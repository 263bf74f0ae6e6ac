"""Weight initialisation, and the generator that seeds it.

``descentlab.manual_seed(s)`` makes every later model (and each Dropout's own
generator) reproducible, as ``torch.manual_seed`` does.
"""

from __future__ import annotations

import math

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator used for initialisation and dropout seeds."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    return _generator


def child_seed() -> int:
    """A fresh seed drawn from the global generator (for a layer's own generator)."""
    return int(_generator.integers(2**63 - 1))


def uniform_(
    array: np.ndarray, low: float, high: float, rng: np.random.Generator | None = None
) -> np.ndarray:
    rng = rng or _generator
    array[...] = rng.uniform(low, high, size=array.shape)
    return array


def kaiming_uniform_linear_(
    weight: np.ndarray, rng: np.random.Generator | None = None
) -> np.ndarray:
    """PyTorch's default for ``nn.Linear``: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    (``kaiming_uniform_(a=sqrt(5))`` works out to exactly this bound.)
    """
    fan_in = weight.shape[1] if weight.ndim > 1 else weight.shape[0]
    bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
    return uniform_(weight, -bound, bound, rng)


def xavier_uniform_(
    weight: np.ndarray, gain: float = 1.0, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Glorot & Bengio (2010): U(-a, a) with a = gain sqrt(6 / (fan_in + fan_out))."""
    fan_out, fan_in = weight.shape[0], weight.shape[1]
    bound = gain * math.sqrt(6 / (fan_in + fan_out))
    return uniform_(weight, -bound, bound, rng)


def kaiming_normal_(weight: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """He et al. (2015) for ReLU: N(0, 2 / fan_in)."""
    rng = rng or _generator
    weight[...] = rng.normal(0, math.sqrt(2 / weight.shape[1]), size=weight.shape)
    return weight


def zeros_(array: np.ndarray) -> np.ndarray:
    array[...] = 0
    return array

"""Two-dimensional toy classification sets for small networks.

Every generator returns ``(X, y)`` with ``X`` float32 of shape ``(n, 2)`` and ``y``
int64 of shape ``(n,)``; class sizes differ by at most one and the samples come
in shuffled order (so even an unshuffled mini-batch mixes classes). ``noise`` is
the standard deviation of Gaussian noise added to both coordinates, and the
result is a deterministic function of ``seed`` (``np.random.default_rng(seed)``).

Ranges before noise (all centred on the origin, so that a small MLP with
default initialisation trains without standardisation):

=============  ===========================================  ==================
generator      geometry                                     box (before noise)
=============  ===========================================  ==================
make_moons     two interleaved half circles of radius 1     [-1.5, 1.5] x [-0.75, 0.75]
make_circles   circle of radius 1 around one of ``factor``  [-1, 1] x [-1, 1]
make_spirals   ``classes`` arms, each 3/4 of a turn         [-1, 1] x [-1, 1]
make_xor       the four quadrants, |x_i| in [0.1, 1]         [-1, 1] x [-1, 1]
make_blobs     Gaussians around points on the unit circle   centres in [-1, 1]^2
=============  ===========================================  ==================
"""

from __future__ import annotations

import numpy as np

from descentlab.data._checks import balanced_counts, check_int, check_noise

__all__ = ["make_blobs", "make_circles", "make_moons", "make_spirals", "make_xor"]

Dataset = tuple[np.ndarray, np.ndarray]


def _finish(rng: np.random.Generator, parts: list[np.ndarray], noise: float) -> Dataset:
    """Stack per-class point clouds, add noise, shuffle, and cast to the conventions."""
    X = np.concatenate(parts, axis=0)
    y = np.concatenate([np.full(len(p), k, dtype=np.int64) for k, p in enumerate(parts)])
    X = X + noise * rng.standard_normal(X.shape)  # drawn even for noise=0: same seed, same points
    order = rng.permutation(len(X))
    return X[order].astype(np.float32), y[order]


def make_moons(n: int = 200, noise: float = 0.1, seed: int | None = None) -> Dataset:
    """Two interleaving half circles ("moons"), class 0 on top, class 1 below.

    Class 0: ``(cos t, sin t) - (0.5, 0.25)``, class 1: ``(1 - cos t, 0.5 - sin t) - (0.5,
    0.25)`` with ``t ~ U[0, pi]``; before noise the points lie in [-1.5, 1.5] x [-0.75, 0.75].
    """
    n = check_int("n", n, 2)
    noise = check_noise(noise)
    rng = np.random.default_rng(seed)
    n0, n1 = balanced_counts(n, 2)
    t0 = rng.uniform(0.0, np.pi, n0)
    t1 = rng.uniform(0.0, np.pi, n1)
    shift = np.array([0.5, 0.25])
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1) - shift
    lower = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1) - shift
    return _finish(rng, [upper, lower], noise)


def make_circles(
    n: int = 200, noise: float = 0.1, factor: float = 0.5, seed: int | None = None
) -> Dataset:
    """A circle of radius 1 (class 0) around a circle of radius ``factor`` (class 1).

    Angles are uniform on [0, 2 pi); ``0 < factor < 1``. Points lie in [-1, 1]^2 before noise.
    """
    n = check_int("n", n, 2)
    noise = check_noise(noise)
    if (
        isinstance(factor, bool)
        or not isinstance(factor, (int, float, np.floating))
        or not (0.0 < factor < 1.0)
    ):
        raise ValueError(f"factor must be a number with 0 < factor < 1, got {factor!r}")
    rng = np.random.default_rng(seed)
    parts = []
    for radius, count in zip((1.0, float(factor)), balanced_counts(n, 2)):
        t = rng.uniform(0.0, 2.0 * np.pi, count)
        parts.append(radius * np.stack([np.cos(t), np.sin(t)], axis=1))
    return _finish(rng, parts, noise)


def make_spirals(
    n: int = 300, classes: int = 3, noise: float = 0.05, seed: int | None = None
) -> Dataset:
    """``classes`` interleaved spiral arms (the CS231n "spiral" set), one class per arm.

    Arm k: radius ``r ~ U[0.05, 1]`` and angle ``theta = 2 pi k / classes + 1.5 pi r``
    (3/4 of a turn), point ``r (cos theta, sin theta)``; all inside the unit disc before
    noise. Any ``classes >= 2`` works; arms get closer as ``classes`` grows.
    """
    n = check_int("n", n, 2)
    classes = check_int("classes", classes, 2)
    if n < classes:
        raise ValueError(f"n must be at least classes={classes} (one point per arm), got {n}")
    noise = check_noise(noise)
    rng = np.random.default_rng(seed)
    parts = []
    for k, count in enumerate(balanced_counts(n, classes)):
        r = rng.uniform(0.05, 1.0, count)
        theta = 2.0 * np.pi * k / classes + 1.5 * np.pi * r
        parts.append(r[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1))
    return _finish(rng, parts, noise)


def make_xor(n: int = 200, noise: float = 0.1, seed: int | None = None) -> Dataset:
    """The XOR pattern: class 0 in quadrants I and III (x1 x2 > 0), class 1 in II and IV.

    Each coordinate's magnitude is uniform on [0.1, 1] (a margin of 0.1 around the axes
    before noise), so points lie in [-1, 1]^2. Labels follow the noise-free quadrant.
    """
    n = check_int("n", n, 2)
    noise = check_noise(noise)
    rng = np.random.default_rng(seed)
    parts = []
    for k, count in enumerate(balanced_counts(n, 2)):
        magnitude = rng.uniform(0.1, 1.0, size=(count, 2))
        s1 = rng.choice(np.array([-1.0, 1.0]), size=count)
        s2 = s1 if k == 0 else -s1
        parts.append(magnitude * np.stack([s1, s2], axis=1))
    return _finish(rng, parts, noise)


def make_blobs(
    n: int = 200,
    centers: int | np.ndarray = 3,
    noise: float = 0.25,
    seed: int | None = None,
) -> Dataset:
    """Isotropic Gaussian clusters ("gaussians"), one class per centre.

    Args:
        n: number of points (split evenly over the centres).
        centers: the number of centres k >= 2, placed on the unit circle at angles
            ``pi / 2 + 2 pi j / k``; or an explicit ``(k, 2)`` array of centres.
        noise: the standard deviation of every cluster.
        seed: random seed.
    """
    n = check_int("n", n, 2)
    noise = check_noise(noise)
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        k = check_int("centers", centers, 2)
        angles = np.pi / 2 + 2.0 * np.pi * np.arange(k) / k
        points = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    else:
        points = np.asarray(centers, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2:
            raise ValueError(
                f"centers must be an integer >= 2 or an array of shape (k >= 2, 2), got {centers!r}"
            )
        if not np.all(np.isfinite(points)):
            raise ValueError(f"centers must be finite, got {centers!r}")
        k = len(points)
    if n < k:
        raise ValueError(f"n must be at least the number of centres ({k}), got {n}")
    rng = np.random.default_rng(seed)
    counts = balanced_counts(n, k)
    parts = [np.broadcast_to(c, (count, 2)).copy() for c, count in zip(points, counts)]
    return _finish(rng, parts, noise)

"""Two-dimensional data to watch a network learn (the web playground's generators).

Every generator takes ``seed`` (the same seed gives the same points), ``n_samples``, ``noise``
(the standard deviation of Gaussian noise added to each coordinate, in the units of the
points, which lie roughly in ``[-1, 1]``) and, for the class generators that allow it,
``n_classes``. Points come in a shuffled order.
"""

from __future__ import annotations

import math

import numpy as np

from . import Dataset, circles, moons

__all__ = ["GENERATORS", "generate"]

_FEATURES = ["x1", "x2"]


def _classes(name: str, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> Dataset:
    order = rng.permutation(len(X))
    labels = np.asarray(y, dtype=np.int64)[order]
    names = [str(c) for c in range(int(labels.max()) + 1)]
    return Dataset(name, X[order], labels, "classification", list(_FEATURES), names, "label")


def circle(seed: int | None = 0, n_samples: int = 400, noise: float = 0.08,
           n_classes: int = 2) -> Dataset:
    """A small circle (class 1) inside a large one (class 0)."""
    data = circles(seed, n_samples, noise)
    return Dataset("circle", data.X, data.y, "classification", list(_FEATURES), ["0", "1"],
                   "label")


def half_moons(seed: int | None = 0, n_samples: int = 400, noise: float = 0.1,
               n_classes: int = 2) -> Dataset:
    """Two interleaving half circles."""
    data = moons(seed, n_samples, noise)
    X = data.X - np.array([0.5, 0.25])  # centred on the origin
    rng = np.random.default_rng([0 if seed is None else seed, 1])
    return _classes("moons", X, data.y, rng)


def xor(seed: int | None = 0, n_samples: int = 400, noise: float = 0.05,
        n_classes: int = 2) -> Dataset:
    """Points in the square; class 1 where the coordinates' signs differ (x1 * x2 < 0)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n_samples, 2))
    # A small margin around the axes keeps the classes apart before the noise.
    X += np.sign(X) * 0.05
    y = (X[:, 0] * X[:, 1] < 0).astype(int)
    X += rng.normal(0, noise, X.shape)
    return _classes("xor", X, y, rng)


def gaussians(seed: int | None = 0, n_samples: int = 400, noise: float = 0.15,
              n_classes: int = 2) -> Dataset:
    """``n_classes`` Gaussian blobs with centres evenly spaced on a circle of radius 0.6;
    ``noise`` is each blob's standard deviation."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % n_classes
    angle = 2 * math.pi * y / n_classes + math.pi / 4
    centres = 0.6 * np.c_[np.cos(angle), np.sin(angle)]
    X = centres + rng.normal(0, noise, (n_samples, 2))
    return _classes("gaussians", X, y, rng)


def spiral(seed: int | None = 0, n_samples: int = 400, noise: float = 0.05,
           n_classes: int = 2) -> Dataset:
    """``n_classes`` arms of a spiral, one class each: radius r in [0.05, 1], angle
    ``1.75 * 2 * pi * r + 2 * pi * class / n_classes``."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % n_classes
    radius = 0.05 + 0.95 * rng.uniform(0, 1, n_samples)
    angle = 1.75 * 2 * math.pi * radius + 2 * math.pi * y / n_classes
    X = radius[:, None] * np.c_[np.cos(angle), np.sin(angle)]
    X += rng.normal(0, noise, X.shape)
    return _classes("spiral", X, y, rng)


def plane(seed: int | None = 0, n_samples: int = 400, noise: float = 0.05,
          n_classes: int = 0) -> Dataset:
    """Regression: ``y = (x1 + x2) / 2`` plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n_samples, 2))
    y = (X[:, 0] + X[:, 1]) / 2 + rng.normal(0, noise, n_samples)
    return Dataset("plane", X, y.reshape(-1, 1), "regression", list(_FEATURES), [], "y")


def bumps(seed: int | None = 0, n_samples: int = 400, noise: float = 0.05,
          n_classes: int = 0) -> Dataset:
    """Regression: a positive and a negative Gaussian bump,
    ``y = exp(-|x - a|^2 / 0.18) - exp(-|x - b|^2 / 0.18)`` with a = (0.4, 0.4),
    b = (-0.4, -0.4), plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n_samples, 2))
    up = np.exp(-np.sum((X - 0.4) ** 2, axis=1) / 0.18)
    down = np.exp(-np.sum((X + 0.4) ** 2, axis=1) / 0.18)
    y = up - down + rng.normal(0, noise, n_samples)
    return Dataset("bumps", X, y.reshape(-1, 1), "regression", list(_FEATURES), [], "y")


#: The generators by name, with whether they take ``n_classes`` beyond 2.
GENERATORS = {"circle": circle, "xor": xor, "gaussians": gaussians, "spiral": spiral,
              "moons": half_moons, "plane": plane, "bumps": bumps}
MULTICLASS = ("gaussians", "spiral")


def generate(name: str, seed: int | None = 0, n_samples: int = 400, noise: float = 0.1,
             n_classes: int = 2) -> Dataset:
    """The generator ``name``'s points (see :data:`GENERATORS`)."""
    if name not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; expected one of: {', '.join(GENERATORS)}")
    if n_classes != 2 and name not in MULTICLASS and GENERATORS[name] not in (plane, bumps):
        raise ValueError(f"{name} has 2 classes; n_classes applies to {', '.join(MULTICLASS)}")
    return GENERATORS[name](seed=seed, n_samples=n_samples, noise=noise, n_classes=n_classes)

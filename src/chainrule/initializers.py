"""Initial weights, drawn from a seeded ``numpy.random.Generator``.

Every draw is made in float64 and then cast, so a float32 network starts from the float64
network's weights rounded to float32, and the same seed gives the same start in both.
"""

from __future__ import annotations

import numpy as np

__all__ = ["INITIALIZERS", "initial_parameters"]


def _uniform(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """The tutorial's ``numpy.random.rand``: weights and bias uniform in [0, 1)."""
    return rng.random((n_in, n_out)), rng.random(n_out)


def _xavier(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Glorot uniform: U(-a, a) with ``a = sqrt(6 / (n_in + n_out))``; bias 0."""
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, (n_in, n_out)), np.zeros(n_out)


def _he(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """He normal: N(0, 2 / n_in), suited to relu layers; bias 0."""
    return rng.normal(0.0, np.sqrt(2.0 / n_in), (n_in, n_out)), np.zeros(n_out)


INITIALIZERS = {"uniform": _uniform, "xavier": _xavier, "he": _he}


def initial_parameters(
    init: str, sizes: list[int], rng: np.random.Generator, dtype: np.dtype
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights shaped ``(n_in, n_out)`` and biases shaped ``(n_out,)`` for each layer."""
    if init not in INITIALIZERS:
        raise ValueError(f"unknown init {init!r}; expected one of: {', '.join(INITIALIZERS)}")
    draw = INITIALIZERS[init]
    weights, biases = [], []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        weight, bias = draw(rng, n_in, n_out)
        weights.append(np.ascontiguousarray(weight, dtype=dtype))
        biases.append(np.ascontiguousarray(bias, dtype=dtype))
    return weights, biases

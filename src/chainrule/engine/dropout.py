"""Inverted dropout after a hidden layer's activation: the maths, on buffers made once.

In training, each output of a hidden layer with dropout ``p`` is kept with probability ``1 - p``
and scaled by ``1 / (1 - p)``, so that its expected value is the output itself::

    mask[i, j]   = 1 if u[i, j] >= t else 0        (u uniform 16-bit integers from the
                                                    network's rng, t = round(p * 2^16))
    output[l]    = activation(z[l]) * mask / (1 - p)

In evaluation nothing is dropped or scaled: ``output[l] = activation(z[l])`` (PyTorch's
``nn.Dropout``). The mask is a constant of the step, so the chain rule through it is the same
product, where ``delta`` enters the layer::

    dError/dActivation = dError/dOutput * mask / (1 - p)

The passes keep the mask as booleans and multiply by ``factor = mask / (1 - p)`` (0 or
``1 / (1 - p)``), so each direction is one product; ``x * factor`` is bit for bit
``(x * mask) * (1 / (1 - p))``.

The draws come from :attr:`Engine.rng` (the generator that also shuffles): raw 16-bit words of
its bit generator (four per 64-bit output), a full array per layer per step in the layers'
order, compared with ``t`` as integers. So ``p`` is resolved to 2^-16 (a layer drops with
probability ``t / 2^16``, within 8e-6 of ``p``), a quarter of the cost of float32 uniforms
(those took about a fifth of a 64-100-10 step at batch 200). A run replays bit for bit from a
seed, and a checkpoint (which stores the generator's state) resumes bit for bit.
"""

from __future__ import annotations

import functools
import numbers
import sys
from typing import Any

import numpy as np

from .normalization import _per_hidden

__all__ = ["check_dropout", "draw_kept", "draw_mask", "keep_threshold"]


def check_dropout(value: Any, n_hidden: int) -> list[float]:
    """One dropout probability in ``[0, 1)`` per hidden layer (0: none), from one value for
    all or a list with one per hidden layer (or per layer, the output's 0 or ``None``)."""
    values = _per_hidden(value, n_hidden, "dropout", lambda v: v is None or v == 0)
    checked = []
    for layer, p in enumerate(values):
        if p is None:
            p = 0.0
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real) \
                or not 0.0 <= float(p) < 1.0:
            raise ValueError(f"dropout of layer {layer} must be a number in [0, 1), got {p!r}")
        checked.append(float(p))
    return checked


@functools.lru_cache(maxsize=64)
def keep_threshold(p: float) -> np.uint16:
    """``t = round(p * 2^16)`` (at most ``2^16 - 1``): a uniform 16-bit word ``u`` is dropped
    when ``u < t``, with probability ``t / 2^16``."""
    return np.uint16(min(round(p * 65536.0), 65535))


#: Where a 32-bit output of MT19937 lies among the four 16-bit words of its 64-bit raw value.
_LOW_HALF = slice(0, 2) if sys.byteorder == "little" else slice(2, 4)


def _compare(rng: np.random.Generator, p: float, out: np.ndarray) -> np.ndarray:
    """``out = u >= t`` for ``out.size`` uniform 16-bit words ``u``: the four quarters of each
    of the bit generator's 64-bit outputs, or the two halves of each of MT19937's (32-bit
    outputs, each in the low half of a 64-bit raw value: read in place, not copied). NumPy
    writes raw outputs only into a new array: the one allocation of a training pass with
    dropout."""
    bit_generator, size, threshold = rng.bit_generator, out.size, keep_threshold(p)
    if not isinstance(bit_generator, np.random.MT19937):
        raw = bit_generator.random_raw((size + 3) // 4)
        return np.greater_equal(raw.view(np.uint16)[:size].reshape(out.shape), threshold,
                                out=out)
    halves = bit_generator.random_raw((size + 1) // 2).view(np.uint16).reshape(-1, 4)[
        :, _LOW_HALF]
    flat = out.reshape(-1)
    if not np.shares_memory(flat, out):  # a strided ``out``: compare a contiguous copy
        return np.greater_equal(np.ascontiguousarray(halves).reshape(-1)[:size].reshape(
            out.shape), threshold, out=out)
    pairs = size // 2
    np.greater_equal(halves[:pairs], threshold, out=flat[:2 * pairs].reshape(pairs, 2))
    if size % 2:
        flat[-1] = halves[pairs, 0] >= threshold
    return out


def draw_kept(rng: np.random.Generator, p: float, kept: np.ndarray) -> np.ndarray:
    """Fill the boolean ``kept`` with the mask, True with probability ``1 - p``."""
    return _compare(rng, p, kept)


def draw_mask(rng: np.random.Generator, p: float, mask: np.ndarray) -> np.ndarray:
    """Fill ``mask`` with 1.0 (kept, probability ``1 - p``) or 0.0 (dropped): the mask
    :func:`draw_kept` draws from the same generator state."""
    return _compare(rng, p, mask)

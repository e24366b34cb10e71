"""The error function and the normal distribution's CDF, vectorised, in NumPy alone.

NumPy has no ``erf`` (SciPy has, but the core takes NumPy only), and the exact GELU needs the
normal CDF ``Phi(z) = (1 + erf(z / sqrt(2))) / 2`` on every sop of a layer. One approximation
serves all three functions here: for ``a >= 0``,

    erfc(a) = t * exp(-a^2 + P(x)),   t = K / (K + a),   x = 2 t - 1 in (-1, 1],   K = 3,

where ``P`` is a polynomial of degree 25 in ``x``: the Chebyshev interpolant of ``log(erfc(a)
exp(a^2) / t)``, a smooth function of ``x`` on all of ``[-1, 1]`` (as ``a -> inf`` it tends to
``-log(2 sqrt(pi))``), computed at 50 digits with mpmath and written in powers of ``x``
(evaluated by Horner's rule; the recipe is in ``docs/toolbox.md``). ``P`` is within 3e-16 of that
logarithm in double precision, so ``erfc`` is within a few ulp, relative, from 0 to where it
underflows (``a`` about 26.5), and ``erf = 1 - erfc`` for ``|x| >= 0.5``; below, the Maclaurin
series ``erf(x) = 2 / sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n + 1))`` keeps the relative
accuracy where ``erf`` is small. ``tests/test_special.py`` holds both against ``math.erf`` and
``math.erfc`` on a dense grid, tails included.

:func:`erf` and :func:`erfc` return new arrays; :func:`normal_cdf_into` writes into two buffers
it is given (the engine's hot path).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["erf", "erfc", "normal_cdf_into"]

#: ``K`` of ``t = K / (K + a)``.
K = 3.0
#: The powers of ``x`` of ``P``, from ``x^0`` up.
P = (
    -1.0272158614211673, 0.8225221340194065, 0.21128598913593302, 0.02254118221769376,
    -0.020113320405273513, -0.011957869713193873, -8.396702232465755e-05,
    0.002800196362017051, 0.0009273610051281805, -0.00045062344311988636,
    -0.00037525317345921, 2.172383638869349e-05, 0.00010672055435285944,
    1.9475007034980795e-05, -2.3879113564134817e-05, -1.027610819371647e-05,
    3.927208712358596e-06, 3.3834087346657033e-06, -2.74418546201328e-07,
    -8.552523602947905e-07, -8.906777221162083e-08, 1.6650092343414224e-07,
    3.556596447466574e-08, -2.2650188755537383e-08, -4.644388686218233e-09,
    1.6112622578347834e-09,
)
#: ``(-1)^n / (n! (2n + 1))``: erf's Maclaurin series in ``x^2``, enough terms for ``|x| < 0.5``.
MACLAURIN = tuple((-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(14))
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_HALF = math.sqrt(0.5)


def _polynomial_into(a: np.ndarray, out: np.ndarray, scratch: np.ndarray, xp: Any,
                     scale: float = 1.0) -> np.ndarray:
    """``out = P(x)`` at ``a * scale`` (``a`` read only, ``|a|`` taken); ``scratch`` then
    holds ``x``."""
    xp.abs(a, out=scratch)
    if scale != 1.0:
        xp.multiply(scratch, scale, out=scratch)
    xp.add(scratch, K, out=scratch)
    xp.divide(2.0 * K, scratch, out=scratch)      # 2 t
    xp.subtract(scratch, 1.0, out=scratch)        # x = 2 t - 1
    xp.multiply(scratch, P[-1], out=out)
    xp.add(out, P[-2], out=out)
    for coefficient in P[-3::-1]:
        xp.multiply(out, scratch, out=out)
        xp.add(out, coefficient, out=out)
    return out


def normal_cdf_into(z: np.ndarray, out: np.ndarray, scratch: np.ndarray,
                    xp: Any = np) -> np.ndarray:
    """``Phi(z) = (1 + erf(z / sqrt(2))) / 2``, written into ``out`` (``scratch`` is
    overwritten; ``z`` is read only). Allocation-free.

    With ``e = Phi(-|z|) = erfc(|z| / sqrt(2)) / 2``: ``Phi(z) = e`` for ``z < 0`` and ``1 - e``
    for ``z >= 0``, written ``heaviside(z) - sign(z) * e`` (``heaviside(0) = 1/2``), so no mask
    is made. The exponent ``-z^2 / 2`` is rounded once (two more buffers would split it, as
    :func:`erfc` does), so the relative error of ``Phi`` grows as ``z^2 * 2^-53`` in the left
    tail: measured against mpmath, below 1.3e-15 for ``|z| <= 4``, 2.3e-15 for ``|z| <= 6``
    (where ``Phi(-6) = 1e-9``) and 1.1e-13 at ``|z| = 38``, where ``Phi`` underflows."""
    _polynomial_into(z, out, scratch, xp, _SQRT_HALF)
    xp.multiply(z, z, out=scratch)
    xp.multiply(scratch, -0.5, out=scratch)
    xp.add(out, scratch, out=out)
    xp.exp(out, out=out)
    xp.abs(z, out=scratch)                          # t / 2 = (K / 2) / (K + |z| / sqrt(2))
    xp.multiply(scratch, _SQRT_HALF, out=scratch)
    xp.add(scratch, K, out=scratch)
    xp.divide(0.5 * K, scratch, out=scratch)
    xp.multiply(out, scratch, out=out)              # e
    xp.sign(z, out=scratch)
    xp.multiply(out, scratch, out=out)
    xp.heaviside(z, 0.5, out=scratch)
    return xp.subtract(scratch, out, out=out)


def _erfc_of_magnitude(a: np.ndarray) -> np.ndarray:
    """``erfc(a)`` for ``a >= 0`` (float64), with ``exp(-a^2)`` taken as ``exp(-h^2) *
    exp(-(a - h)(a + h))``: ``h`` is ``a`` with its low 27 bits cleared, so ``h^2`` is exact and
    the exponent is not rounded where it is large."""
    a = np.minimum(a, 40.0)  # erfc(40) = 0 in double precision; inf would make (a - h) nan
    exponent = _polynomial_into(a, np.empty_like(a), np.empty_like(a), np)
    high = (a.view(np.int64) & np.int64(~((1 << 27) - 1))).view(np.float64)
    exponent -= (a - high) * (a + high)
    with np.errstate(over="ignore"):
        return (K / (K + a)) * np.exp(-high * high) * np.exp(exponent)


def erfc(x: Any) -> np.ndarray:
    """The complementary error function ``erfc(x) = 1 - erf(x) = 2 / sqrt(pi) *
    integral_x^inf exp(-s^2) ds``, element-wise, float64 (a new array); ``erfc(-x) = 2 -
    erfc(x)``."""
    x = np.asarray(x, dtype=np.float64)
    magnitude = np.abs(x)
    value = _erfc_of_magnitude(magnitude)
    value = np.where(x < 0, 2.0 - value, value)
    return np.where(np.isnan(x), np.nan, value)


def erf(x: Any) -> np.ndarray:
    """The error function ``erf(x) = 2 / sqrt(pi) * integral_0^x exp(-s^2) ds``, element-wise,
    float64 (a new array): the Maclaurin series below ``|x| = 0.5``, ``1 - erfc(|x|)`` (with
    ``x``'s sign) from there."""
    x = np.asarray(x, dtype=np.float64)
    magnitude = np.abs(x)
    square = x * x
    series = np.full_like(x, MACLAURIN[-1])
    for coefficient in MACLAURIN[-2::-1]:
        series = series * square + coefficient
    series *= _TWO_OVER_SQRT_PI * x
    far = np.copysign(1.0 - _erfc_of_magnitude(magnitude), x)
    return np.where(magnitude < 0.5, series, far)

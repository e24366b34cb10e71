"""The smooth activations of modern networks: ELU, SELU, GELU (exact and tanh), softplus, SiLU.

Each follows PyTorch's operation of the same name (``torch.nn.functional.elu`` with
``alpha=1``, ``selu``, ``gelu`` with ``approximate="none"`` and ``"tanh"``, ``softplus`` with
``beta=1``, ``silu``); ``benchmarks/torch_oracle.py`` compares them. With ``z`` the sop and
``sigmoid(z) = 1 / (1 + exp(-z))``:

* ``elu``: ``f = z if z > 0 else exp(z) - 1``; ``f' = 1 if z > 0 else exp(z)``.
* ``selu``: ``f = scale * (z if z > 0 else alpha * (exp(z) - 1))``; ``f' = scale * (1 if z > 0
  else alpha * exp(z))``.
* ``gelu``: ``f = z * Phi(z)``, ``Phi(z) = (1 + erf(z / sqrt(2))) / 2``; ``f' = Phi(z) + z *
  phi(z)``, ``phi(z) = exp(-z^2 / 2) / sqrt(2 pi)``.
* ``gelu_tanh``: ``f = z * s``, ``s = (1 + tanh(u)) / 2``, ``u = k (z + c z^3)``, ``k =
  sqrt(2 / pi)``, ``c = 0.044715``; ``f' = s * (1 + 2 k z (1 - s) (1 + 3 c z^2))``.
* ``softplus``: ``f = log(1 + exp(z))``; ``f' = sigmoid(z)``.
* ``silu`` (also ``swish``): ``f = z * sigmoid(z)``; ``f' = sigmoid(z) * (1 + z (1 -
  sigmoid(z)))``.

SELU's ``alpha`` and ``scale`` are PyTorch's (Klambauer et al. 2017). At ``z = 0``, ELU and SELU
take the left branch, as PyTorch does (for ELU both branches give 1). Softplus is computed as
``logaddexp(0, z) = max(z, 0) + log1p(exp(-|z|))``, exact for every ``z``; PyTorch's default
returns ``z`` itself above ``threshold=20`` (and slope 1), which differs from the exact value by
less than ``2.1e-9`` there: the only place chainrule does not follow PyTorch's numbers.

Where the derivative needs a second buffer (SELU, the GELUs, SiLU), :meth:`backward`, the hot
path, lends it the delta's buffer before writing the delta there, so training allocates
nothing; :meth:`derivative` on its own allocates that buffer.
"""

from __future__ import annotations

import math

import numpy as np

from .activation_base import Activation
from .special import normal_cdf_into

__all__ = ["ELU", "GELU", "SELU", "SiLU", "Softplus", "TanhGELU"]

#: PyTorch's SELU constants (``torch.nn.SELU``).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
#: The tanh approximation's constants: ``k = sqrt(2 / pi)``, ``c``.
GELU_K = math.sqrt(2.0 / math.pi)
GELU_C = 0.044715
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class _TwoBufferDerivative(Activation):
    """An activation whose derivative needs a buffer besides the one it is written into."""

    def _derivative_into(self, sop, output, out, temp) -> np.ndarray:
        """``f'(sop)`` into ``out``, ``temp`` overwritten."""
        raise NotImplementedError

    def derivative(self, sop, output, out=None):
        xp = self.xp
        if out is None:
            out = xp.empty_like(sop)
        return self._derivative_into(sop, output, out, xp.empty_like(sop))

    def backward(self, output_grad, sop, output, out, scratch):
        self._derivative_into(sop, output, scratch, out)
        return self.xp.multiply(scratch, output_grad, out=out)


def _sigmoid_into(xp, sop, out) -> np.ndarray:
    """``1 / (1 + exp(-sop))`` into ``out`` (``exp`` overflows to inf below -709: 1 / inf = 0)."""
    xp.negative(sop, out=out)
    xp.exp(out, out=out)
    xp.add(out, 1.0, out=out)
    return xp.divide(1.0, out, out=out)


class ELU(Activation):
    """``f(sop) = sop if sop > 0 else exp(sop) - 1``; ``f'(sop) = 1 if sop > 0 else exp(sop)``
    (alpha = 1)."""

    name = "elu"

    def forward(self, sop, out, scratch):
        xp = self.xp
        xp.minimum(sop, 0.0, out=out)
        xp.expm1(out, out=out)
        return xp.maximum(out, sop, out=out)  # exp(z) - 1 >= z: the larger is f for every z

    def derivative(self, sop, output, out=None):
        xp = self.xp
        out = xp.minimum(sop, 0.0, out=out)
        return xp.exp(out, out=out)  # exp(0) = 1 for sop > 0

    def formula(self):
        return "1 if sop > 0 else exp(sop)"


class SELU(_TwoBufferDerivative):
    """``f(sop) = scale * (sop if sop > 0 else alpha * (exp(sop) - 1))``; ``f'(sop) = scale *
    (1 if sop > 0 else alpha * exp(sop))``, with PyTorch's ``alpha`` and ``scale``."""

    name = "selu"

    def forward(self, sop, out, scratch):
        xp = self.xp
        xp.minimum(sop, 0.0, out=out)
        xp.expm1(out, out=out)
        xp.multiply(out, SELU_ALPHA, out=out)
        xp.maximum(sop, 0.0, out=scratch)
        xp.add(out, scratch, out=out)
        return xp.multiply(out, SELU_SCALE, out=out)

    def _derivative_into(self, sop, output, out, temp):
        xp = self.xp
        xp.minimum(sop, 0.0, out=out)
        xp.exp(out, out=out)
        xp.multiply(out, SELU_ALPHA, out=out)    # alpha exp(min(z, 0))
        xp.heaviside(sop, 0.0, out=temp)         # 1 where z > 0, else 0
        xp.subtract(1.0, temp, out=temp)
        xp.multiply(out, temp, out=out)          # kept where z <= 0
        xp.subtract(1.0, temp, out=temp)
        xp.add(out, temp, out=out)               # 1 where z > 0
        return xp.multiply(out, SELU_SCALE, out=out)

    def formula(self):
        return f"{SELU_SCALE:.6g} * (1 if sop > 0 else {SELU_ALPHA:.6g} * exp(sop))"


class GELU(_TwoBufferDerivative):
    """``f(sop) = sop * Phi(sop)``, ``Phi`` the standard normal CDF (exact, through
    :func:`chainrule.special.normal_cdf_into`); ``f'(sop) = Phi(sop) + sop * phi(sop)``, ``phi(z)
    = exp(-z^2 / 2) / sqrt(2 pi)``."""

    name = "gelu"

    def forward(self, sop, out, scratch):
        normal_cdf_into(sop, out, scratch, self.xp)
        return self.xp.multiply(out, sop, out=out)

    def _derivative_into(self, sop, output, out, temp):
        xp = self.xp
        normal_cdf_into(sop, out, temp, xp)
        xp.multiply(sop, sop, out=temp)
        xp.multiply(temp, -0.5, out=temp)
        xp.exp(temp, out=temp)
        xp.multiply(temp, sop, out=temp)
        xp.multiply(temp, _INV_SQRT_2PI, out=temp)
        return xp.add(out, temp, out=out)

    def formula(self):
        return "Phi(sop) + sop * exp(-sop^2 / 2) / sqrt(2 pi)"


class TanhGELU(_TwoBufferDerivative):
    """GELU's tanh approximation (PyTorch's ``approximate="tanh"``): ``f(sop) = sop * s``, ``s =
    (1 + tanh(u)) / 2``, ``u = k * (sop + c * sop^3)``, ``k = sqrt(2 / pi)``, ``c = 0.044715``;
    ``f'(sop) = s * (1 + 2 k sop (1 - s) (1 + 3 c sop^2))`` (``ds/du = 2 s (1 - s)``). ``s``
    and ``1 - s`` are computed as ``sigmoid(2u)`` and ``sigmoid(-2u)``, equal to ``(1 +
    tanh(u)) / 2`` and ``(1 - tanh(u)) / 2``, but without their cancellation where ``tanh(u)``
    nears -1 or 1: in the left tail ``f`` and ``f'`` keep their relative accuracy."""

    name = "gelu_tanh"

    def _inner_into(self, sop, out):
        """``u = k * sop * (1 + c * sop^2)`` into ``out``."""
        xp = self.xp
        xp.multiply(sop, sop, out=out)
        xp.multiply(out, GELU_C, out=out)
        xp.add(out, 1.0, out=out)
        xp.multiply(out, sop, out=out)
        return xp.multiply(out, GELU_K, out=out)

    def _half_into(self, sop, out, sign):
        """``s = sigmoid(2u)`` (``sign = 1``) or ``1 - s = sigmoid(-2u)`` (``sign = -1``) into
        ``out``."""
        self._inner_into(sop, out)
        self.xp.multiply(out, 2.0 * sign, out=out)
        return _sigmoid_into(self.xp, out, out)

    def forward(self, sop, out, scratch):
        self._half_into(sop, out, 1.0)
        return self.xp.multiply(out, sop, out=out)

    def _derivative_into(self, sop, output, out, temp):
        xp = self.xp
        self._half_into(sop, temp, -1.0)          # 1 - s
        xp.multiply(sop, sop, out=out)
        xp.multiply(out, 3.0 * GELU_C, out=out)
        xp.add(out, 1.0, out=out)
        xp.multiply(out, sop, out=out)
        xp.multiply(out, 2.0 * GELU_K, out=out)
        xp.multiply(out, temp, out=out)
        xp.add(out, 1.0, out=out)
        self._half_into(sop, temp, 1.0)           # s
        return xp.multiply(out, temp, out=out)

    def formula(self):
        return "s * (1 + 2 k sop (1 - s) (1 + 3 c sop^2)), s = (1 + tanh(k (sop + c sop^3))) / 2"


class Softplus(Activation):
    """``f(sop) = log(1 + exp(sop))``, as ``logaddexp(0, sop)`` (no overflow, exact for large
    sop); ``f'(sop) = sigmoid(sop)`` (beta = 1, no threshold: see the module docstring)."""

    name = "softplus"

    def forward(self, sop, out, scratch):
        return self.xp.logaddexp(0.0, sop, out=out)

    def derivative(self, sop, output, out=None):
        if out is None:
            out = self.xp.empty_like(sop)
        return _sigmoid_into(self.xp, sop, out)

    def formula(self):
        return "sigmoid(sop)"


class SiLU(_TwoBufferDerivative):
    """SiLU, also called swish: ``f(sop) = sop * sigmoid(sop)``; ``f'(sop) = sigmoid(sop) * (1 +
    sop * (1 - sigmoid(sop)))``."""

    name = "silu"

    def forward(self, sop, out, scratch):
        _sigmoid_into(self.xp, sop, out)
        return self.xp.multiply(out, sop, out=out)

    def _derivative_into(self, sop, output, out, temp):
        xp = self.xp
        _sigmoid_into(xp, sop, out)
        xp.subtract(1.0, out, out=temp)
        xp.multiply(temp, sop, out=temp)
        xp.add(temp, 1.0, out=temp)
        return xp.multiply(out, temp, out=out)

    def formula(self):
        return "sigmoid(sop) * (1 + sop * (1 - sigmoid(sop)))"

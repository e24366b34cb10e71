"""Activation functions: the output of a neuron from its sum of products (sop).

Each activation defines two things, once:

* ``forward(sop, out, scratch)``: ``output = f(sop)``, written into ``out``.
* ``derivative(sop, output, out=None)``: ``dOutput/dSop = f'(sop)``, element-wise, evaluated
  *at the sop*. Where the derivative is cheaper to express through the output already computed
  (sigmoid: ``f'(sop) = f(sop) * (1 - f(sop))``) it is written that way; that is still the
  derivative at the sop. The published tutorial code evaluated ``f'(f(sop))`` instead, which is
  wrong; :mod:`chainrule.tutorial` reproduces that slip on purpose, nothing here does.

The chain rule through an activation, ``dError/dSop = dError/dOutput * dOutput/dSop``, is then
:meth:`Activation.backward`, the same for every element-wise activation. Softmax mixes the
neurons of its layer, so its derivative is a Jacobian (:meth:`Softmax.jacobian`) and its
``backward`` is the product of that Jacobian with ``dError/dOutput``; ``tests/test_activations.py``
ties every ``backward`` to its ``derivative`` or ``jacobian``.

The functions write into buffers the engine allocated once, so a training step allocates
nothing. ``scratch`` is a second buffer, so that few NumPy calls write over one of their own
inputs: on small arrays such an in-place call costs about twice a call into another buffer.
Callers on the hot path run inside ``numpy.errstate(over="ignore")``: the sigmoid computes
``1 / (1 + exp(-sop))``, whose ``exp`` overflows to ``inf`` for ``sop < -709`` (float64), and
``1 / inf`` is exactly the saturated value 0. Calling an activation (``sigmoid(sop)``) sets that
state itself.

The base class is in :mod:`chainrule.activation_base`; ELU, SELU, GELU (exact and tanh),
softplus and SiLU (swish) in :mod:`chainrule.smooth_activations`, with their formulas and the
PyTorch conventions they follow; all are registered in :data:`ACTIVATIONS` here.
"""

from __future__ import annotations

import numpy as np

from .activation_base import Activation
from .smooth_activations import ELU, GELU, SELU, SiLU, Softplus, TanhGELU

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "GELU",
    "SELU",
    "Activation",
    "SiLU",
    "Softplus",
    "TanhGELU",
    "elu",
    "gelu",
    "gelu_tanh",
    "get_activation",
    "identity",
    "leaky_relu",
    "relu",
    "selu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "tanh",
]


class Sigmoid(Activation):
    """``f(sop) = 1 / (1 + exp(-sop))``; ``f'(sop) = f(sop) * (1 - f(sop))``."""

    name = "sigmoid"

    def forward(self, sop, out, scratch):
        xp = self.xp
        xp.negative(sop, out=scratch)
        xp.exp(scratch, out=out)  # inf for sop < -709 (float64): 1 / inf below gives exactly 0
        xp.add(out, 1.0, out=scratch)
        return xp.divide(1.0, scratch, out=out)

    def derivative(self, sop, output, out=None):
        xp = self.xp
        one_minus = xp.subtract(1.0, output, out=out)
        return xp.multiply(one_minus, output, out=one_minus)

    def formula(self):
        return "sigmoid(sop) * (1 - sigmoid(sop))"


class Tanh(Activation):
    """``f(sop) = tanh(sop)``; ``f'(sop) = 1 - tanh(sop)^2``."""

    name = "tanh"

    def forward(self, sop, out, scratch):
        return self.xp.tanh(sop, out=out)

    def derivative(self, sop, output, out=None):
        xp = self.xp
        square = xp.multiply(output, output, out=out)
        return xp.subtract(1.0, square, out=square)

    def formula(self):
        return "1 - tanh(sop)^2"


class ReLU(Activation):
    """``f(sop) = max(sop, 0)``; ``f'(sop) = 1 if sop > 0 else 0`` (0 at the kink)."""

    name = "relu"

    def forward(self, sop, out, scratch):
        # Against an array of zeros rather than the scalar 0.0: NumPy (2.4) takes a scalar on a
        # path about three times slower (11 against 4 us on 200 x 100; 2.5 % of a W2 step).
        # The scratch is free until the backward pass writes the derivative into it.
        scratch.fill(0.0)
        return self.xp.maximum(sop, scratch, out=out)

    def derivative(self, sop, output, out=None):
        # The comparison written straight into a float buffer: 1.0 where sop > 0, else 0.0 (the
        # kink included); one call, no boolean temporary.
        if out is None:
            out = self.xp.empty_like(sop)
        return self.xp.greater(sop, 0.0, out=out)

    def formula(self):
        return "1 if sop > 0 else 0"


class LeakyReLU(Activation):
    """``f(sop) = sop if sop > 0 else slope * sop``; ``f'(sop) = 1 if sop > 0 else slope``."""

    name = "leaky_relu"

    def __init__(self, slope: float = 0.01):
        if not 0.0 <= slope < 1.0:
            raise ValueError(f"leaky_relu slope must be in [0, 1), got {slope}")
        self.slope = float(slope)

    def forward(self, sop, out, scratch):
        self.xp.multiply(sop, self.slope, out=scratch)
        return self.xp.maximum(sop, scratch, out=out)  # the larger of the two, as slope < 1

    def derivative(self, sop, output, out=None):
        xp = self.xp
        step = xp.heaviside(sop, 0.0, out=out)  # 1 where sop > 0, else 0
        xp.multiply(step, 1.0 - self.slope, out=step)
        return xp.add(step, self.slope, out=step)

    def formula(self):
        return f"1 if sop > 0 else {self.slope:g}"


class Identity(Activation):
    """``f(sop) = sop``; ``f'(sop) = 1``. No copy is made: the output *is* the sop."""

    name = "identity"

    def forward(self, sop, out, scratch):
        return sop

    def derivative(self, sop, output, out=None):
        if out is None:
            return self.xp.ones_like(sop)
        out.fill(1.0)
        return out

    def backward(self, output_grad, sop, output, out, scratch):
        # f' = 1: the chain passes dError/dOutput through unchanged. The engine gives an
        # identity layer's delta and output gradient one array, so nothing is copied there.
        if out is not output_grad:
            self.xp.copyto(out, output_grad)
        return out

    def formula(self):
        return "1"


class Softmax(Activation):
    """``f(sop)_k = exp(sop_k) / sum_j exp(sop_j)`` over a layer's neurons.

    Its derivative is a Jacobian, ``dOutput_k/dSop_j = output_k * (delta_kj - output_j)``, so the
    chain rule through it is ``dError/dSop_j = output_j * (g_j - sum_k g_k output_k)`` with
    ``g = dError/dOutput``. Categorical cross-entropy skips this: with softmax it combines into
    ``dError/dSop = (predicted - target) / n`` (see :mod:`chainrule.losses`).
    """

    name = "softmax"
    couples_neurons = True

    def forward(self, sop, out, scratch):
        self.forward_log_sum_exp(sop, out, scratch)
        return out

    def forward_log_sum_exp(self, sop, out, scratch):
        """Write ``softmax(sop)`` into ``out``; return ``log(sum_j exp(sop_j))`` per sample,
        which the categorical cross-entropy needs (a by-product, so the loss costs little)."""
        xp = self.xp
        # Subtracting the row maximum leaves the result unchanged and keeps exp from overflowing.
        top = xp.maximum.reduce(sop, axis=1, keepdims=True)
        xp.subtract(sop, top, out=out)
        xp.exp(out, out=scratch)
        sums = xp.add.reduce(scratch, axis=1, keepdims=True)
        xp.divide(scratch, sums, out=out)
        log_sum_exp = xp.log(sums)
        log_sum_exp += top
        return log_sum_exp[:, 0]

    def derivative(self, sop, output, out=None):
        raise TypeError("softmax has no element-wise derivative; see Softmax.jacobian")

    def jacobian(self, output: np.ndarray) -> np.ndarray:
        """``J[i, k, j] = dOutput_k / dSop_j`` of each sample ``i``: ``output_k (delta_kj -
        output_j)``, shaped ``(n, n_outputs, n_outputs)`` (a new array)."""
        xp = self.xp
        eye = xp.eye(output.shape[1], dtype=output.dtype)
        return output[:, :, None] * (eye[None, :, :] - output[:, None, :])

    def backward(self, output_grad, sop, output, out, scratch):
        xp = self.xp
        xp.multiply(output_grad, output, out=scratch)
        weighted = xp.add.reduce(scratch, axis=1, keepdims=True)  # sum_k g_k output_k
        xp.subtract(output_grad, weighted, out=scratch)
        return xp.multiply(scratch, output, out=out)

    def formula(self):
        return "softmax_k * (delta_kj - softmax_j)"


sigmoid = Sigmoid()
tanh = Tanh()
relu = ReLU()
leaky_relu = LeakyReLU()
identity = Identity()
softmax = Softmax()
elu = ELU()
selu = SELU()
gelu = GELU()
gelu_tanh = TanhGELU()
softplus = Softplus()
silu = SiLU()

#: The activations by name. ``linear`` is an alias of ``identity``, ``swish`` of ``silu``.
ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "identity": identity,
    "linear": identity,
    "softmax": softmax,
    "elu": elu,
    "selu": selu,
    "gelu": gelu,
    "gelu_tanh": gelu_tanh,
    "softplus": softplus,
    "silu": silu,
    "swish": silu,
}


def get_activation(spec: str | Activation) -> Activation:
    """Look up an activation by name (or pass an :class:`Activation` through)."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str) and spec in ACTIVATIONS:
        return ACTIVATIONS[spec]
    known = ", ".join(sorted(ACTIVATIONS))
    raise ValueError(f"unknown activation {spec!r}; expected one of: {known}")

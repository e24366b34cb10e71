"""Activation functions: the output of a neuron from its sum of products (sop).

Each activation knows three things:

* ``forward(sop, out)``: ``output = f(sop)``, written into ``out``.
* ``backward(output_grad, sop, output, out)``: the chain rule through the activation,
  ``dError/dSop = dError/dOutput * dOutput/dSop``, with the derivative evaluated *at the sop*.
  Where the derivative is cheaper to express through the cached output (sigmoid:
  ``f'(sop) = f(sop) * (1 - f(sop))``) the cached ``output = f(sop)`` is used; that is still the
  derivative at the sop. The published tutorial code instead evaluated ``f'(f(sop))``, which is
  wrong; :func:`chainrule.tutorial` reproduces that slip on purpose, nothing here does.
* ``derivative(sop, output)``: the element-wise ``dOutput/dSop`` (a new array), for explanations.

The functions write into preallocated buffers so that a training step allocates nothing. Each
gets a second buffer, ``scratch``, so that no NumPy call writes over one of its own inputs: on
small arrays such an in-place call costs about twice a call into a separate buffer (NumPy then
checks the operands for overlap), which is most of a tiny network's step.
Callers on the hot path run inside ``numpy.errstate(over="ignore")``: the sigmoid computes
``1 / (1 + exp(-sop))``, whose ``exp`` overflows to ``inf`` for ``sop < -709`` (float64), and
``1 / inf`` is exactly the saturated value 0. The module-level helpers below set that state
themselves.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "get_activation",
    "identity",
    "leaky_relu",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]


class Activation:
    """Base class: an element-wise activation ``output = f(sop)``."""

    name: str = ""
    #: True when ``f`` mixes the neurons of a layer (softmax): its derivative is a Jacobian.
    couples_neurons: bool = False

    def forward(self, sop: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
        """Return ``f(sop)``, written into ``out`` (identity returns ``sop`` itself)."""
        raise NotImplementedError

    def backward(
        self, output_grad: np.ndarray, sop: np.ndarray, output: np.ndarray, out: np.ndarray,
        scratch: np.ndarray,
    ) -> np.ndarray:
        """Return ``dError/dSop = output_grad * f'(sop)``, in ``out`` or ``scratch``."""
        np.multiply(self.derivative(sop, output), output_grad, out=out)
        return out

    def derivative(self, sop: np.ndarray, output: np.ndarray) -> np.ndarray:
        """Element-wise ``dOutput/dSop`` at ``sop`` (``output`` is ``f(sop)``, already known)."""
        raise NotImplementedError

    def formula(self) -> str:
        """The derivative as a formula, for explanations."""
        raise NotImplementedError

    def __call__(self, sop: np.ndarray) -> np.ndarray:
        """Apply the activation to a new array (convenience, not the hot path)."""
        sop = np.asarray(sop, dtype=np.result_type(sop, np.float32))
        with np.errstate(over="ignore"):
            return self.forward(sop, np.empty_like(sop), np.empty_like(sop))

    def __repr__(self) -> str:
        return f"<activation {self.name}>"


class Sigmoid(Activation):
    """``f(sop) = 1 / (1 + exp(-sop))``; ``f'(sop) = f(sop) * (1 - f(sop))``."""

    name = "sigmoid"

    def forward(self, sop, out, scratch):
        np.negative(sop, out=scratch)
        np.exp(scratch, out=out)  # inf for sop < -709 (float64): 1 / inf below gives exactly 0
        np.add(out, 1.0, out=scratch)
        return np.divide(1.0, scratch, out=out)

    def backward(self, output_grad, sop, output, out, scratch):
        np.subtract(1.0, output, out=scratch)
        np.multiply(scratch, output, out=out)
        return np.multiply(out, output_grad, out=scratch)

    def derivative(self, sop, output):
        return output * (1.0 - output)

    def formula(self):
        return "sigmoid(sop) * (1 - sigmoid(sop))"


class Tanh(Activation):
    """``f(sop) = tanh(sop)``; ``f'(sop) = 1 - tanh(sop)^2``."""

    name = "tanh"

    def forward(self, sop, out, scratch):
        return np.tanh(sop, out=out)

    def backward(self, output_grad, sop, output, out, scratch):
        np.multiply(output, output, out=scratch)
        np.subtract(1.0, scratch, out=out)
        return np.multiply(out, output_grad, out=scratch)

    def derivative(self, sop, output):
        return 1.0 - output * output

    def formula(self):
        return "1 - tanh(sop)^2"


class ReLU(Activation):
    """``f(sop) = max(sop, 0)``; ``f'(sop) = 1 if sop > 0 else 0`` (0 at the kink)."""

    name = "relu"

    def forward(self, sop, out, scratch):
        return np.maximum(sop, 0.0, out=out)

    def backward(self, output_grad, sop, output, out, scratch):
        # output = max(sop, 0) >= 0, so sign(output) is 1 where sop > 0 and 0 elsewhere:
        # the step function, computed faster than heaviside.
        np.sign(output, out=scratch)
        return np.multiply(scratch, output_grad, out=out)

    def derivative(self, sop, output):
        return np.heaviside(sop, 0.0)

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
        np.multiply(sop, self.slope, out=scratch)
        return np.maximum(sop, scratch, out=out)  # valid because slope < 1

    def backward(self, output_grad, sop, output, out, scratch):
        np.heaviside(sop, 0.0, out=scratch)
        np.multiply(scratch, 1.0 - self.slope, out=out)
        np.add(out, self.slope, out=scratch)
        return np.multiply(scratch, output_grad, out=out)

    def derivative(self, sop, output):
        return np.where(sop > 0, 1.0, self.slope).astype(sop.dtype)

    def formula(self):
        return f"1 if sop > 0 else {self.slope:g}"


class Identity(Activation):
    """``f(sop) = sop``; ``f'(sop) = 1``. No copy is made: the output *is* the sop."""

    name = "identity"

    def forward(self, sop, out, scratch):
        return sop

    def backward(self, output_grad, sop, output, out, scratch):
        return output_grad

    def derivative(self, sop, output):
        return np.ones_like(sop)

    def formula(self):
        return "1"


class Softmax(Activation):
    """``f(sop)_k = exp(sop_k) / sum_j exp(sop_j)`` over a layer's neurons.

    Its derivative is a Jacobian, ``dOutput_k/dSop_j = output_k * (delta_kj - output_j)``, so the
    chain rule through it is ``dError/dSop_j = output_j * (g_j - sum_k g_k output_k)`` with
    ``g = dError/dOutput``. With categorical cross-entropy the network skips this and uses the
    combined derivative ``predicted - target`` instead.
    """

    name = "softmax"
    couples_neurons = True

    def forward(self, sop, out, scratch):
        self.forward_log_sum_exp(sop, out, scratch)
        return out

    def forward_log_sum_exp(self, sop, out, scratch):
        """Write ``softmax(sop)`` into ``out``; return ``log(sum_j exp(sop_j))`` per sample,
        which the categorical cross-entropy needs (a by-product, so the loss costs little)."""
        # Subtracting the row maximum leaves the result unchanged and keeps exp from overflowing.
        top = np.maximum.reduce(sop, axis=1, keepdims=True)
        np.subtract(sop, top, out=out)
        np.exp(out, out=scratch)
        sums = np.add.reduce(scratch, axis=1, keepdims=True)
        np.divide(scratch, sums, out=out)
        log_sum_exp = np.log(sums)
        log_sum_exp += top
        return log_sum_exp[:, 0]

    def backward(self, output_grad, sop, output, out, scratch):
        np.multiply(output_grad, output, out=scratch)
        weighted = np.add.reduce(scratch, axis=1, keepdims=True)
        np.subtract(output_grad, weighted, out=out)
        return np.multiply(out, output, out=scratch)

    def derivative(self, sop, output):
        """The diagonal of the Jacobian, ``output_k * (1 - output_k)`` (see :meth:`jacobian`)."""
        return output * (1.0 - output)

    @staticmethod
    def jacobian(output_row: np.ndarray) -> np.ndarray:
        """``J[k, j] = dOutput_k / dSop_j`` for one sample."""
        return np.diag(output_row) - np.outer(output_row, output_row)

    def formula(self):
        return "softmax_k * (delta_kj - softmax_j)"


sigmoid = Sigmoid()
tanh = Tanh()
relu = ReLU()
leaky_relu = LeakyReLU()
identity = Identity()
softmax = Softmax()

#: The activations by name. ``linear`` is an alias of ``identity``.
ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "identity": identity,
    "linear": identity,
    "softmax": softmax,
}


def get_activation(spec: str | Activation) -> Activation:
    """Look up an activation by name (or pass an :class:`Activation` through)."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str) and spec in ACTIVATIONS:
        return ACTIVATIONS[spec]
    known = ", ".join(sorted(ACTIVATIONS))
    raise ValueError(f"unknown activation {spec!r}; expected one of: {known}")

"""The reference engine's maths: every activation and loss, and their derivatives, written
from their formulas for :mod:`chainrule.reference` (not taken from the engine's code).

A table a learner looks up, one entry per function: the value, the derivative, and the
derivative as :mod:`chainrule.explain` and the playground print it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["ACTIVATIONS", "COMBINED", "LOSSES", "softmax_jacobian"]


def _sigmoid(sop, slope):
    with np.errstate(over="ignore"):  # exp(-sop) = inf for sop < -709: 1 / inf is exactly 0
        return 1.0 / (1.0 + np.exp(-sop))


def _softmax(sop, slope):
    exp = np.exp(sop - sop.max(axis=1, keepdims=True))  # the row's maximum off: no overflow
    return exp / exp.sum(axis=1, keepdims=True)


def softmax_jacobian(output: np.ndarray) -> np.ndarray:
    """Softmax's derivative, ``J[i, k, j] = dOutput_k/dSop_j = output_k (delta_kj - output_j)``
    for each sample ``i``: a softmax neuron's output depends on every sop of its layer."""
    return output[:, :, None] * (np.eye(output.shape[1], dtype=output.dtype) - output[:, None, :])


_SELU = (1.0507009873554804934193349852946, 1.6732632423543772848170429916717)  # scale, alpha


def _phi(z):
    """The standard normal CDF, ``(1 + erf(z / sqrt(2))) / 2``, from libm's erfc number by
    number (the engine has a vectorised erf of its own)."""
    return 0.5 * np.vectorize(math.erfc, otypes=[np.float64])(-z / np.sqrt(2.0))


def _gelu_tanh(z, slope, derivative=False):
    """``z (1 + tanh(u)) / 2``, ``u = k (z + c z^3)``, ``k = sqrt(2 / pi)``, ``c = 0.044715``,
    or its derivative ``(1 + tanh u) / 2 + z (1 - tanh(u)^2) k (1 + 3 c z^2) / 2``; ``(1 +
    tanh u) / 2 = sigmoid(2u)`` and ``1 - tanh(u)^2 = 4 sigmoid(2u) sigmoid(-2u)``, which do not
    cancel where ``tanh(u)`` nears -1."""
    k, c = np.sqrt(2.0 / np.pi), 0.044715
    u = k * (z + c * z**3)
    half = _sigmoid(2.0 * u, slope)
    if not derivative:
        return z * half
    return half + 2.0 * z * half * _sigmoid(-2.0 * u, slope) * k * (1.0 + 3.0 * c * z * z)


def _silu_derivative(z, output, slope):
    s = _sigmoid(z, slope)
    return s + z * s * (1.0 - s)


#: name: ``(f(sop, slope), f'(sop, output, slope), f' as printed)``: ``output = f(sop)`` and
#: its derivative ``dOutput/dSop`` element-wise, at the sop (``slope``: leaky relu's).
ACTIVATIONS: dict[str, tuple[Any, Any, str]] = {
    "sigmoid": (_sigmoid, lambda z, out, a: out * (1.0 - out),
                "sigmoid(sop) * (1 - sigmoid(sop))"),
    "tanh": (lambda z, a: np.tanh(z), lambda z, out, a: 1.0 - out * out, "1 - tanh(sop)^2"),
    "relu": (lambda z, a: np.maximum(z, 0.0), lambda z, out, a: (z > 0).astype(z.dtype),
             "1 if sop > 0 else 0"),  # 0 at the kink
    "leaky_relu": (lambda z, a: np.where(z > 0, z, a * z),
                   lambda z, out, a: np.where(z > 0, 1.0, a).astype(z.dtype),
                   "1 if sop > 0 else {slope:g}"),
    "identity": (lambda z, a: z, lambda z, out, a: np.ones_like(z), "1"),
    "softmax": (_softmax, None, "softmax_k * (delta_kj - softmax_j)"),  # see softmax_jacobian
    "elu": (lambda z, a: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
            lambda z, out, a: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0))),
            "1 if sop > 0 else exp(sop)"),
    "selu": (lambda z, a: _SELU[0] * np.where(z > 0, z, _SELU[1] * np.expm1(np.minimum(z, 0))),
             lambda z, out, a: _SELU[0] * np.where(z > 0, 1.0, _SELU[1] * np.exp(np.minimum(z, 0))),
             "1.0507 * (1 if sop > 0 else 1.67326 * exp(sop))"),
    "gelu": (lambda z, a: z * _phi(z),
             lambda z, out, a: _phi(z) + z * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi),
             "Phi(sop) + sop * exp(-sop^2 / 2) / sqrt(2 pi)"),
    "gelu_tanh": (_gelu_tanh, lambda z, out, a: _gelu_tanh(z, a, derivative=True),
                  "(1 + tanh(u)) / 2 + sop (1 - tanh(u)^2) k (1 + 3 c sop^2) / 2"),
    "softplus": (lambda z, a: np.logaddexp(0.0, z), lambda z, out, a: _sigmoid(z, a),
                 "sigmoid(sop)"),
    "silu": (lambda z, a: z * _sigmoid(z, a), _silu_derivative,
             "sigmoid(sop) + sop * sigmoid(sop) * (1 - sigmoid(sop))"),
}


def _clip(p):
    """Probabilities clipped into ``[eps, 1 - eps]`` (as the engine clips them): no log(0)."""
    return np.clip(p, np.finfo(p.dtype).eps, 1.0 - np.finfo(p.dtype).eps)


#: name: ``(error(p, t), g1(p, t), g1 per sample as printed)``, ``p`` predicted, ``t`` target.
#: The error is summed over the outputs (``mse``: averaged) and averaged over the ``n``
#: samples, so ``g1 = dError/dPredicted`` carries the 1/n; the squared error has no 1/2.
LOSSES: dict[str, tuple[Any, Any, str]] = {
    "squared_error": (lambda p, t: np.sum((p - t) ** 2) / len(p),
                      lambda p, t: (p - t) * (2.0 / len(p)), "2 * (predicted - target)"),
    "mse": (lambda p, t: np.sum((p - t) ** 2) / p.size, lambda p, t: (p - t) * (2.0 / p.size),
            "2 * (predicted - target) / n_outputs"),
    "binary_cross_entropy": (  # -(t log p + (1 - t) log(1 - p)) per output
        lambda p, t: -np.sum(t * np.log(_clip(p)) + (1 - t) * np.log1p(-_clip(p))) / len(p),
        lambda p, t: (_clip(p) - t) / (_clip(p) * (1.0 - _clip(p)) * len(p)),
        "(predicted - target) / (predicted * (1 - predicted))"),
    "categorical_cross_entropy": (  # -sum_k t_k log p_k per sample; rows of t sum to 1
        lambda p, t: -np.sum(t * np.log(_clip(p))) / len(p),
        lambda p, t: t / _clip(p) * (-1.0 / len(p)), "-target / predicted"),
}


def _log_sum_exp(sop):
    """``log(sum_k exp(sop_k))`` per sample, the row's maximum taken out first."""
    top = sop.max(axis=1)
    return top + np.log(np.exp(sop - top[:, None]).sum(axis=1))


#: ``(loss, output activation)`` whose ``g1 * g2`` cancels to ``(predicted - target) / n``,
#: and the error's sum over the batch from the output sop ``z``, exact where ``log(p)`` would
#: round: ``log(1 + exp(z)) - t z`` after a sigmoid, ``logsumexp(z) - sum_k t_k z_k`` after a
#: softmax.
COMBINED = {
    ("binary_cross_entropy", "sigmoid"): lambda z, t: np.sum(np.logaddexp(0.0, z) - t * z),
    ("categorical_cross_entropy", "softmax"): lambda z, t: np.sum(_log_sum_exp(z)) - np.sum(t * z),
}

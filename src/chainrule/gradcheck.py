"""Gradient checking: the backward pass against central finite differences.

For every parameter ``p`` the numerical derivative is the five-point central difference
``(-loss(p + 2h) + 8 loss(p + h) - 8 loss(p - h) + loss(p - 2h)) / (12 h)``, whose error is
``O(h^4)`` plus the rounding of the loss divided by ``h``; with ``h = 1e-4`` both stay near
``1e-12``, so even layers with tiny gradients (deep sigmoid stacks) are checked sharply.
The check runs on a float64 copy of the network, so a float32 network is checked for its
mathematics rather than for float32 rounding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - annotations only: `import chainrule` stays light
    from .engine import Engine

__all__ = ["gradcheck", "numerical_derivative", "numerical_gradients"]


def _five_point(net: Engine, inputs: np.ndarray, targets: np.ndarray, flat: np.ndarray,
                index: int, step: float) -> float:
    """The five-point central difference of the loss in ``flat[index]`` (restored after)."""
    original = flat[index]
    losses = []
    for offset in (2.0, 1.0, -1.0, -2.0):
        flat[index] = original + offset * step
        losses.append(net.loss(inputs, targets))
    flat[index] = original
    far_up, up, down, far_down = losses
    return (far_down - far_up + 8.0 * (up - down)) / (12.0 * step)


def numerical_derivative(net: Engine, X: Any, Y: Any, layer: int, weight: Any = None,
                         bias: int | None = None, step: float = 1e-4) -> float:
    """The central-difference estimate of one parameter's ``dError/dp`` on a float64 copy:
    ``weights[layer][i, j]`` for ``weight=(i, j)``, or ``biases[layer][j]`` for ``bias=j``."""
    checked = net.copy(dtype="float64")
    inputs, targets = checked.check_data(X, Y)
    if bias is None:
        array, index = checked.weights[layer], int(np.ravel_multi_index(weight,
                                                                          net.weights[layer].shape))
    else:
        array, index = checked.biases[layer], int(bias)
    if array is None:
        raise ValueError(f"layer {layer} has no bias")
    return _five_point(checked, inputs, targets, array.reshape(-1), index, step)


def numerical_gradients(
    net: Engine, X: Any, Y: Any, step: float = 1e-4
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Central-difference estimates of ``(weight_grads, bias_grads)`` on a float64 copy."""
    checked = net.copy(dtype="float64")
    inputs, targets = checked.check_data(X, Y)

    def estimate(param: np.ndarray) -> np.ndarray:
        grad = np.empty_like(param)
        flat, flat_grad = param.reshape(-1), grad.reshape(-1)
        for index in range(flat.size):
            flat_grad[index] = _five_point(checked, inputs, targets, flat, index, step)
        return grad

    weight_grads = [estimate(w) for w in checked.weights]
    bias_grads = [None if b is None else estimate(b) for b in checked.biases]
    return weight_grads, bias_grads


def relative_error(analytic: np.ndarray, numeric: np.ndarray, resolution: float = 0.0) -> float:
    """``max |analytic - numeric| / max(|analytic|, |numeric|, resolution)`` over a layer.

    The denominator is the layer's largest gradient, so entries that are zero do not turn
    rounding into huge relative errors, while a wrong entry of any size that matters shows up.
    ``resolution`` is the smallest derivative finite differences can resolve: a layer whose
    gradients are all below it (a saturated softmax, say) is compared at that scale.
    """
    scale = max(float(np.max(np.abs(analytic), initial=0.0)),
                float(np.max(np.abs(numeric), initial=0.0)), resolution)
    difference = float(np.max(np.abs(analytic - numeric), initial=0.0))
    if scale == 0.0:
        return difference
    return difference / scale


def gradcheck(net: Engine, X: Any, Y: Any, step: float = 1e-4) -> list[float]:
    """The largest relative error between backpropagation and finite differences, per layer.

    A layer's weights and bias are checked together. Values around 1e-8 or below mean the
    gradients are right; a wrong derivative gives errors of order 1e-2 to 1.
    """
    checked = net.copy(dtype="float64")
    analytic_weights, analytic_biases = checked.gradients(X, Y)
    numeric_weights, numeric_biases = numerical_gradients(checked, X, Y, step)
    # Each loss is known to about eps * |loss|, so the difference quotient carries an absolute
    # noise of about 2 eps |loss| / step. Gradients are compared to six digits, so entries
    # below a million times that noise are compared at that scale rather than relatively.
    noise = 2 * np.finfo(np.float64).eps * abs(checked.loss(X, Y)) / step
    resolution = noise * 1e6
    errors = []
    for layer in range(net.n_layers):
        analytic = [analytic_weights[layer].ravel()]
        numeric = [numeric_weights[layer].ravel()]
        if analytic_biases[layer] is not None:
            analytic.append(analytic_biases[layer])
            numeric.append(numeric_biases[layer])
        errors.append(relative_error(np.concatenate(analytic), np.concatenate(numeric),
                                     resolution))
    return errors

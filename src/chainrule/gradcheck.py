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

__all__ = ["gradcheck", "numerical_derivative", "numerical_gradients",
           "numerical_normalization_gradients"]


def _loss(net: Engine, inputs: np.ndarray, targets: np.ndarray,
          sample_weight: np.ndarray | None, masks: Any = None) -> float:
    """The loss on checked data: the mean over the samples, or with ``sample_weight`` the
    weighted mean ``sum_i w_i e_i / sum_i w_i``. With dropout or normalisation, as a training
    step sees it (:meth:`Engine.training_loss`): batch statistics, dropout's ``masks`` fixed
    (a constant of the step)."""
    if net.has_layers:
        return net.training_loss(inputs, targets, masks, sample_weight)
    if sample_weight is None:
        return net.loss(inputs, targets)
    from .engine import Engine  # the engine's own evaluation, which takes the weights

    return Engine.evaluate(net, inputs, targets, sample_weight)[0]


def _weights(net: Engine, sample_weight: Any, n_samples: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    from .losses import check_sample_weight

    return check_sample_weight(sample_weight, n_samples, net.dtype)


def _five_point(net: Engine, inputs: np.ndarray, targets: np.ndarray, flat: np.ndarray,
                index: int, step: float, sample_weight: np.ndarray | None = None,
                masks: Any = None) -> float:
    """The five-point central difference of the loss in ``flat[index]`` (restored after)."""
    original = flat[index]
    losses = []
    for offset in (2.0, 1.0, -1.0, -2.0):
        flat[index] = original + offset * step
        losses.append(_loss(net, inputs, targets, sample_weight, masks))
    flat[index] = original
    far_up, up, down, far_down = losses
    return (far_down - far_up + 8.0 * (up - down)) / (12.0 * step)


def numerical_derivative(net: Engine, X: Any, Y: Any, layer: int, weight: Any = None,
                         bias: int | None = None, step: float = 1e-4,
                         sample_weight: Any = None, masks: Any = None) -> float:
    """The central-difference estimate of one parameter's ``dError/dp`` on a float64 copy:
    ``weights[layer][i, j]`` for ``weight=(i, j)``, or ``biases[layer][j]`` for ``bias=j``
    (with ``sample_weight``: of the weighted mean)."""
    checked = net.copy(dtype="float64")
    inputs, targets = checked.check_data(X, Y)
    weights = _weights(checked, sample_weight, inputs.shape[0])
    if bias is None:
        array, index = checked.weights[layer], int(np.ravel_multi_index(weight,
                                                                          net.weights[layer].shape))
    else:
        array, index = checked.biases[layer], int(bias)
    if array is None:
        raise ValueError(f"layer {layer} has no bias")
    return _five_point(checked, inputs, targets, array.reshape(-1), index, step, weights,
                       masks)


def numerical_gradients(
    net: Engine, X: Any, Y: Any, step: float = 1e-4, sample_weight: Any = None,
    masks: Any = None, parameters: str = "weights"
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Central-difference estimates of ``(weight_grads, bias_grads)`` on a float64 copy (with
    ``sample_weight``: of the weighted mean; ``masks``: dropout's, fixed). ``parameters=
    "normalization"``: of ``(gamma_grads, beta_grads)`` instead (``None`` where a layer has
    no normalisation)."""
    checked = net.copy(dtype="float64")
    inputs, targets = checked.check_data(X, Y)
    weights = _weights(checked, sample_weight, inputs.shape[0])

    def estimate(param: np.ndarray) -> np.ndarray:
        grad = np.empty_like(param)
        flat, flat_grad = param.reshape(-1), grad.reshape(-1)
        for index in range(flat.size):
            flat_grad[index] = _five_point(checked, inputs, targets, flat, index, step,
                                           weights, masks)
        return grad

    if parameters == "normalization":
        return ([None if g is None else estimate(g) for g in checked.gammas],
                [None if b is None else estimate(b) for b in checked.betas])
    weight_grads = [estimate(w) for w in checked.weights]
    bias_grads = [None if b is None else estimate(b) for b in checked.biases]
    return weight_grads, bias_grads


def numerical_normalization_gradients(net: Engine, X: Any, Y: Any, step: float = 1e-4,
                                      sample_weight: Any = None, masks: Any = None):
    """Central-difference estimates of ``(gamma_grads, beta_grads)``, as
    :func:`numerical_gradients` estimates the weights'."""
    return numerical_gradients(net, X, Y, step, sample_weight, masks, "normalization")


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


def gradcheck(net: Engine, X: Any, Y: Any, step: float = 1e-4,
              sample_weight: Any = None) -> list[float]:
    """The largest relative error between backpropagation and finite differences, per layer.

    A layer's weights and bias (and normalisation's gamma and beta) are checked together,
    dropout's masks fixed at those the backward pass drew. Values around 1e-8 or below mean the
    gradients are right; a wrong derivative gives errors of order 1e-2 to 1. With
    ``sample_weight`` the loss checked is the weighted mean ``sum_i w_i e_i / sum_i w_i``.
    """
    checked = net.copy(dtype="float64")
    analytic_weights, analytic_biases = checked.gradients(X, Y, sample_weight)
    masks = checked.dropout_masks()
    analytic_gammas, analytic_betas = ([None if g is None else g.copy() for g in grads]
                                       for grads in (checked.gamma_grads, checked.beta_grads))
    numeric_weights, numeric_biases = numerical_gradients(checked, X, Y, step, sample_weight,
                                                          masks)
    numeric_gammas, numeric_betas = numerical_normalization_gradients(
        checked, X, Y, step, sample_weight, masks)
    # Each loss is known to about eps * |loss|, so the difference quotient carries an absolute
    # noise of about 2 eps |loss| / step. Gradients are compared to six digits, so entries
    # below a million times that noise are compared at that scale rather than relatively.
    inputs, targets = checked.check_data(X, Y)
    loss = _loss(checked, inputs, targets, _weights(checked, sample_weight, inputs.shape[0]),
                 masks)
    noise = 2 * np.finfo(np.float64).eps * abs(loss) / step
    resolution = noise * 1e6
    errors = []
    for layer in range(net.n_layers):
        analytic = [analytic_weights[layer].ravel()]
        numeric = [numeric_weights[layer].ravel()]
        if analytic_biases[layer] is not None:
            analytic.append(analytic_biases[layer])
            numeric.append(numeric_biases[layer])
        if analytic_gammas[layer] is not None:
            analytic += [analytic_gammas[layer], analytic_betas[layer]]
            numeric += [numeric_gammas[layer], numeric_betas[layer]]
        errors.append(relative_error(np.concatenate(analytic), np.concatenate(numeric),
                                     resolution))
    return errors

"""The reference engine: backpropagation in plain NumPy, on one screen, for any network.

This is the algorithm as a learner reads it, in the notation of :mod:`chainrule.engine` and
``docs/tutorial.md``: no buffers, no slices, no flat views, a new array for every value. The fast
engine (:class:`chainrule.engine.Engine`) computes exactly this, allocation-free;
``tests/test_reference.py`` proves them equal (relative 1e-12) on random architectures, and
:mod:`chainrule.explain` uses :func:`forward` for the values it prints.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["backprop", "forward"]


def forward(net: Any, X: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(sops, outputs)`` per layer: ``sop[l] = input[l] @ W[l] + b[l]``, ``output[l] =
    f(sop[l])``."""
    sops, outputs, layer_input = [], [], X
    for weight, bias, f in zip(net.weights, net.biases, net.activation_functions):
        sop = layer_input @ weight + (0.0 if bias is None else bias)
        layer_input = f(sop)
        sops.append(sop)
        outputs.append(layer_input)
    return sops, outputs


def backprop(net: Any, X: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
    """The error, every ``delta[l] = dError/dSop[l]`` and every gradient, on checked data."""
    sops, outputs = forward(net, X)
    inputs = [X, *outputs[:-1]]                     # input[l] of each layer
    f, loss, predicted = net.activation_functions, net.loss_function, outputs[-1]
    combined = loss.combines_with(f[-1])
    error = loss.value(predicted, Y, sops[-1] if combined else None)
    if combined:                                    # e.g. softmax + cross-entropy
        delta = (predicted - Y) / len(X)
    else:                                           # g1 * g2, the tutorial's chain
        g1 = loss.predicted_deriv(predicted, Y, np.empty_like(predicted))
        if f[-1].couples_neurons:                   # softmax: through its Jacobian
            delta = np.einsum("ik,ikj->ij", g1, f[-1].jacobian(predicted))
        else:
            delta = g1 * f[-1].derivative(sops[-1], predicted)
    deltas = [delta]
    weight_grads, bias_grads = [], []
    for layer in range(net.n_layers - 1, -1, -1):   # from the output layer back
        weight_grads.insert(0, inputs[layer].T @ delta)     # dSop/dW = the layer's input
        bias_grads.insert(0, delta.sum(axis=0) if net.bias[layer] else None)
        if layer:                                   # every path through the next layer
            output_grad = delta @ net.weights[layer].T
            delta = output_grad * f[layer - 1].derivative(sops[layer - 1], outputs[layer - 1])
            deltas.insert(0, delta)
    return {"error": error, "sops": sops, "outputs": outputs, "deltas": deltas,
            "weight_grads": weight_grads, "bias_grads": bias_grads}

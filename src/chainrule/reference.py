"""The reference engine: backpropagation in plain NumPy, on a screen or two, for any network.

The algorithm as a learner reads it, in the notation of :mod:`chainrule.engine`: a new array for
every value, no buffers, and maths of its own. Every function and derivative is written
from its formula; of the network only the weights, biases, activation names (leaky relu's slope
as a number), loss name and, for dropout and normalisation, the rates, kinds, ``gammas``,
``betas`` and running statistics are read. The fast engine computes the same allocation-free, and
``tests/test_reference.py`` proves the two equal on random architectures (relative 1e-12), so a
wrong derivative in the engine fails it. :mod:`chainrule.explain` prints the values made here.

The functions and their derivatives are a table of their own (:mod:`chainrule.reference_maths`),
and so is the maths of normalisation and dropout (:mod:`chainrule.reference_layers`): this file
is the algorithm that looks them up.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .reference_layers import normalize, through_layer
from .reference_maths import ACTIVATIONS, COMBINED, LOSSES, softmax_jacobian

__all__ = ["ACTIVATIONS", "COMBINED", "LOSSES", "backprop", "forward", "softmax_jacobian"]


def _names(net: Any) -> tuple[list[tuple[str, Any]], str]:
    """``[(activation, slope)]`` per layer and the loss; a name missing from the tables is
    refused."""
    spec = net.spec()
    for name, table in [*((a, ACTIVATIONS) for a in spec["activations"]), (spec["loss"], LOSSES)]:
        if name not in table:
            kind = "activation" if table is ACTIVATIONS else "loss"
            raise ValueError(f"the reference engine has no {kind} {name!r} "
                             f"(it knows {', '.join(table)})")
    return list(zip(spec["activations"], spec["leaky_relu_slopes"])), spec["loss"]


def _forward_all(net: Any, X: np.ndarray, training: bool, masks: Any) -> dict[str, list]:
    """Every value of the forward pass, per layer: ``sops``, ``zs`` (the activation's input:
    the normalised sop, or the sop), ``xhats`` and ``stds`` (normalised layers), ``activated``
    (``f(z)``) and ``outputs`` (``f(z) * mask / (1 - p)`` for dropout in training)."""
    spec = net.spec()
    n_hidden = net.n_layers - 1
    kinds = [*spec.get("normalization", [None] * n_hidden), None]
    rates = [*spec.get("dropout", [0.0] * n_hidden), 0.0]
    if training and any(rates) and masks is None:
        raise ValueError("the reference engine replays dropout with the engine's masks: give "
                         "masks=net.dropout_masks() (or training=False)")
    values: dict[str, list] = {k: [] for k in ("sops", "zs", "xhats", "stds", "activated",
                                                "outputs")}
    layer_input = X
    for layer, (weight, bias, (name, slope)) in enumerate(zip(net.weights, net.biases,
                                                              _names(net)[0])):
        sop = layer_input @ weight + (0.0 if bias is None else bias)
        xhat, z, std = None, sop, None
        if kinds[layer] is not None:
            running = (net.running_means[layer], net.running_vars[layer])
            xhat, z, std = normalize(sop, net.gammas[layer], net.betas[layer], kinds[layer],
                                      running, training)
        activated = layer_input = ACTIVATIONS[name][0](z, slope)
        if rates[layer] and training:
            layer_input = activated * masks[layer] / (1.0 - rates[layer])
        for key, value in zip(values, (sop, z, xhat, std, activated, layer_input)):
            values[key].append(value)
    return values | {"rates": rates, "kinds": kinds, "masks": masks}


def forward(net: Any, X: np.ndarray, training: bool = False,
            masks: Any = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(sops, outputs)`` per layer: ``sop[l] = input[l] @ W[l] + b[l]``, ``output[l] =
    f(sop[l])``, where ``input[0] = X`` and ``input[l + 1] = output[l]`` (with dropout or
    normalisation: see :func:`_forward_all`; ``training``: batch statistics and dropout with
    ``masks``, as :func:`backprop` computes; by default evaluation's)."""
    values = _forward_all(net, X, training, masks)
    return values["sops"], values["outputs"]


def _output_layer(loss: str, activation: tuple[str, Any], sop, predicted, target):
    """``(error, g1, g2, delta)`` of the output layer: ``delta = g1 * g2`` with ``g1 =
    dError/dPredicted`` and ``g2 = dPredicted/dSop``, or ``(predicted - target) / n`` for a
    :data:`COMBINED` pair (g1, g2 None). After a softmax, g2 is the Jacobian ``J`` and ``delta_j
    = sum_m g1_m J_mj = p_j (g1_j - sum_m g1_m p_m)``, the product written out."""
    (name, slope), n = activation, len(predicted)
    if (loss, name) in COMBINED:
        return COMBINED[loss, name](sop, target) / n, None, None, (predicted - target) * (1.0 / n)
    error, g1 = LOSSES[loss][0](predicted, target), LOSSES[loss][1](predicted, target)
    if name == "softmax":
        delta = predicted * (g1 - np.sum(g1 * predicted, axis=1, keepdims=True))
        return error, g1, softmax_jacobian(predicted), delta
    g2 = ACTIVATIONS[name][1](sop, predicted, slope)
    return error, g1, g2, g1 * g2


def _weighted(loss, activation, sop, predicted, target, weights, g1, delta):
    """``(error, g1, delta)`` of the weighted mean ``sum_i w_i e_i / W``, ``W = sum_i w_i``:
    ``e_i`` the error of sample ``i`` alone; the rows of g1 and delta (which carry ``1/n``)
    scaled by ``w_i n / W`` (all by 0 when ``W`` is 0: such a batch weighs nothing)."""
    n, total = len(predicted), float(np.sum(weights))
    rows = [_output_layer(loss, activation, sop[i:i + 1], predicted[i:i + 1], target[i:i + 1])[0]
            for i in range(n)]
    scale = (np.asarray(weights, dtype=float) * (n / total if total else 0.0))[:, None]
    error = float(np.dot(weights, rows)) / total if total else 0.0
    return error, None if g1 is None else g1 * scale, delta * scale


def backprop(net: Any, X: np.ndarray, Y: np.ndarray,
             sample_weight: np.ndarray | None = None, masks: Any = None) -> dict[str, Any]:
    """The error and every value of the chain rule, on checked data; from the output down,
    with ``delta[l] = dError/dSop[l]`` (the output layer's: :func:`_output_layer`)::

        dError/dWeights[l]  = input[l].T @ delta[l]      (dSop/dWeight is the layer's input)
        dError/dBiases[l]   = the sum of delta[l] over the samples
        dError/dOutput[l-1] = delta[l] @ weights[l].T    (every path through layer l at once)
        delta[l - 1]        = dError/dOutput[l - 1] * f'(sop[l - 1])

    Keys: ``error``, ``sops``, ``outputs``, ``deltas``, ``output_grads`` (dError/dOutput; the
    output layer's is g1), ``derivatives`` (dOutput/dSop; the output layer's is g2),
    ``weight_grads`` and ``bias_grads`` (None for a layer without bias); with dropout (the
    engine's ``masks``) or normalisation, also those of ``reference_layers.through_layer``."""
    values = _forward_all(net, X, True, masks)
    sops, outputs = values["sops"], values["outputs"]
    layers, loss = _names(net)
    error, g1, g2, delta = _output_layer(loss, layers[-1], sops[-1], outputs[-1], Y)
    if sample_weight is not None:  # the weighted mean over the samples: see _weighted
        error, g1, delta = _weighted(loss, layers[-1], sops[-1], outputs[-1], Y, sample_weight,
                                     g1, delta)
    deltas, output_grads, derivatives, extra = [delta], [g1], [g2], [(delta, None, None)]
    for below in range(len(sops) - 2, -1, -1):         # from the output layer down
        name, slope = layers[below]
        output_grads.insert(0, deltas[0] @ net.weights[below + 1].T)
        derivatives.insert(0, ACTIVATIONS[name][1](values["zs"][below],
                                                   values["activated"][below], slope))
        *parts, delta = through_layer(net, values, below, output_grads[0], derivatives[0])
        extra.insert(0, parts)
        deltas.insert(0, delta)
    weight_grads = [layer_input.T @ delta for layer_input, delta in zip([X, *outputs[:-1]], deltas)]
    bias_grads = [None if b is None else delta.sum(axis=0) for b, delta in zip(net.biases, deltas)]
    return values | {"error": float(error), "deltas": deltas, "output_grads": output_grads,
                     "derivatives": derivatives, "weight_grads": weight_grads,
                     "bias_grads": bias_grads} | dict(zip(("z_grads", "gamma_grads",
                                                          "beta_grads"), map(list, zip(*extra))))

"""The reference engine: backpropagation in plain NumPy, on a screen or two, for any network.

The algorithm as a learner reads it, in the notation of :mod:`chainrule.engine`: a new array for
every value, no buffers, and maths of its own. Every function and derivative is written below
from its formula; of the network only the weights, biases, activation names (leaky relu's slope
as a number) and loss name are read. The fast engine computes the same allocation-free, and
``tests/test_reference.py`` proves the two equal on random architectures (relative 1e-12), so a
wrong derivative in the engine fails it. :mod:`chainrule.explain` prints the values made here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ACTIVATIONS", "COMBINED", "LOSSES", "backprop", "forward", "softmax_jacobian"]


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


def _names(net: Any) -> tuple[list[tuple[str, Any]], str]:
    """``[(activation, slope)]`` per layer and the loss; a name missing above is refused."""
    spec = net.spec()
    for name, table in [*((a, ACTIVATIONS) for a in spec["activations"]), (spec["loss"], LOSSES)]:
        if name not in table:
            kind = "activation" if table is ACTIVATIONS else "loss"
            raise ValueError(f"the reference engine has no {kind} {name!r} "
                             f"(it knows {', '.join(table)})")
    return list(zip(spec["activations"], spec["leaky_relu_slopes"])), spec["loss"]


def forward(net: Any, X: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(sops, outputs)`` per layer: ``sop[l] = input[l] @ W[l] + b[l]``, ``output[l] =
    f(sop[l])``, where ``input[0] = X`` and ``input[l + 1] = output[l]``."""
    sops, outputs, layer_input = [], [], X
    for weight, bias, (name, slope) in zip(net.weights, net.biases, _names(net)[0]):
        sop = layer_input @ weight + (0.0 if bias is None else bias)
        layer_input = ACTIVATIONS[name][0](sop, slope)
        sops.append(sop)
        outputs.append(layer_input)
    return sops, outputs


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


def backprop(net: Any, X: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
    """The error and every value of the chain rule, on checked data; from the output down,
    with ``delta[l] = dError/dSop[l]`` (the output layer's: :func:`_output_layer`)::

        dError/dWeights[l]  = input[l].T @ delta[l]      (dSop/dWeight is the layer's input)
        dError/dBiases[l]   = the sum of delta[l] over the samples
        dError/dOutput[l-1] = delta[l] @ weights[l].T    (every path through layer l at once)
        delta[l - 1]        = dError/dOutput[l - 1] * f'(sop[l - 1])

    Keys: ``error``, ``sops``, ``outputs``, ``deltas``, ``output_grads`` (dError/dOutput; the
    output layer's is g1), ``derivatives`` (dOutput/dSop; the output layer's is g2),
    ``weight_grads`` and ``bias_grads`` (None for a layer without bias)."""
    sops, outputs = forward(net, X)
    layers, loss = _names(net)
    error, g1, g2, delta = _output_layer(loss, layers[-1], sops[-1], outputs[-1], Y)
    deltas, output_grads, derivatives = [delta], [g1], [g2]
    for below in range(len(sops) - 2, -1, -1):         # from the output layer down
        name, slope = layers[below]
        output_grads.insert(0, deltas[0] @ net.weights[below + 1].T)
        derivatives.insert(0, ACTIVATIONS[name][1](sops[below], outputs[below], slope))
        deltas.insert(0, output_grads[0] * derivatives[0])
    weight_grads = [layer_input.T @ delta for layer_input, delta in zip([X, *outputs[:-1]], deltas)]
    bias_grads = [None if b is None else delta.sum(axis=0) for b, delta in zip(net.biases, deltas)]
    return {"error": float(error), "sops": sops, "outputs": outputs, "deltas": deltas,
            "output_grads": output_grads, "derivatives": derivatives,
            "weight_grads": weight_grads, "bias_grads": bias_grads}

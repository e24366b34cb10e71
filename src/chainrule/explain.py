"""The chain of derivatives from the error to one weight (or bias), with every factor's value.

For a weight ``W[l][i, j]`` (layer ``l``, from neuron ``i`` of the layer's input to neuron ``j``)::

    dError/dW = sum over samples of  dError/dSop_j * dSop_j/dW          with dSop_j/dW = input_i

At the output layer ``dError/dSop_j = dError/dPredicted_j * dPredicted_j/dSop_j`` (the tutorial's
g1 * g2; through a softmax, every output ``k`` contributes: ``sum_k g1_k * dPredicted_k/dSop_j``).
At a hidden layer the error reaches neuron ``j`` through every neuron ``k`` of the next layer::

    dError/dSop_j = dOutput_j/dSop_j * sum_k  dSop_next_k/dOutput_j * dError/dSop_next_k
                                              (= the next weight W[l+1][j, k])

and ``dError/dSop_next_k`` is explained the same way, one layer further, up to the outputs. That
nesting is the sum over all paths, computed in linear time. The computation here is written out
per neuron, independently of the engine's backward pass (its forward values come from
:func:`chainrule.reference.forward`), and a test checks the gradients agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .engine import Engine
from .reference import forward

__all__ = ["Explanation", "Factor", "explain"]


@dataclass
class Factor:
    """One derivative of the chain: its name, formula and value (one per sample)."""

    name: str
    formula: str
    value: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "formula": self.formula, "value": self.value.tolist()}


@dataclass
class NeuronDelta:
    """``dError/dSop`` of one neuron, and how it was made from the layer after it."""

    layer: int
    neuron: int
    value: np.ndarray
    factors: list[Factor]
    paths: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer, "neuron": self.neuron, "value": self.value.tolist(),
            "factors": [f.to_dict() for f in self.factors],
            "paths": [
                {"to_neuron": p["to_neuron"], "weight": p["weight"],
                 "product": p["product"].tolist(), "next": p["next"].to_dict()}
                for p in self.paths
            ],
        }


@dataclass
class Explanation:
    """The whole chain for one parameter; ``str()`` prints it, :meth:`to_dict` gives data."""

    layer: int
    from_neuron: int | None  # None for a bias
    to_neuron: int
    delta: NeuronDelta
    sop_weight_deriv: Factor
    gradient: float

    @property
    def parameter(self) -> str:
        if self.from_neuron is None:
            return f"biases[{self.layer}][{self.to_neuron}]"
        return f"weights[{self.layer}][{self.from_neuron}, {self.to_neuron}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameter": self.parameter, "layer": self.layer,
            "from_neuron": self.from_neuron, "to_neuron": self.to_neuron,
            "dError_dSop": self.delta.to_dict(),
            "dSop_dWeight": self.sop_weight_deriv.to_dict(),
            "gradient": self.gradient,
        }

    def __str__(self) -> str:
        lines = [f"dError/d{self.parameter}", ""]
        lines += _describe(self.delta, indent="")
        factor = self.sop_weight_deriv
        lines.append(f"{factor.name} = {factor.formula} = {_fmt(factor.value)}")
        lines.append("")
        lines.append(
            f"gradient = sum over samples of dError/dSop * {factor.name} = {self.gradient:.12g}"
        )
        return "\n".join(lines)


def _fmt(values: np.ndarray) -> str:
    values = np.asarray(values, dtype=float).ravel()
    if values.size == 1:
        return f"{values[0]:.10g}"
    return "[" + ", ".join(f"{v:.6g}" for v in values) + "]"


def _describe(delta: NeuronDelta, indent: str) -> list[str]:
    name = f"dError/dSop[{delta.layer}][{delta.neuron}]"
    lines = []
    for factor in delta.factors:
        lines.append(f"{indent}{factor.name} = {factor.formula} = {_fmt(factor.value)}")
    if delta.paths:
        lines.append(f"{indent}sum over the {len(delta.paths)} neuron(s) k of layer "
                     f"{delta.layer + 1}: dSop_next_k/dOutput (= the next weight) * "
                     f"dError/dSop_next_k")
        for path in delta.paths:
            lines.append(
                f"{indent}  k={path['to_neuron']}: weight {path['weight']:.6g} * "
                f"{_fmt(path['next'].value)} = {_fmt(path['product'])}"
            )
            lines += _describe(path["next"], indent + "    ")
    lines.append(f"{indent}=> {name} = {_fmt(delta.value)}")
    return lines


def explain(
    net: Engine, X: Any, Y: Any, layer: int, weight: Any = None, bias: int | None = None
) -> Explanation:
    """Explain the gradient of one weight ``(from_neuron, to_neuron)`` of ``layer`` — or, with
    ``bias=j``, of that layer's bias of neuron ``j`` — on the data ``(X, Y)``."""
    inputs, targets = net.check_data(X, Y)
    if not isinstance(layer, (int, np.integer)) or not 0 <= layer < net.n_layers:
        raise ValueError(f"layer {layer!r} is outside the network (layers 0..{net.n_layers - 1})")
    n_in, n_out = net.sizes[layer], net.sizes[layer + 1]
    if bias is not None:
        if not net.bias[layer]:
            raise ValueError(f"layer {layer} has no bias")
        from_neuron, to_neuron = None, bias
    else:
        try:
            from_neuron, to_neuron = (int(i) for i in weight)
        except (TypeError, ValueError):
            raise ValueError(f"weight must be a pair (from_neuron, to_neuron), got {weight!r}") \
                from None
        if not 0 <= from_neuron < n_in:
            raise ValueError(
                f"from_neuron {from_neuron} is outside layer {layer}'s inputs (0..{n_in - 1})"
            )
    if not 0 <= to_neuron < n_out:
        raise ValueError(f"to_neuron {to_neuron} is outside layer {layer} (0..{n_out - 1})")

    with np.errstate(over="ignore"):
        sops, outputs = forward(net, inputs)
    layer_inputs = [inputs, *outputs[:-1]]

    n_samples = inputs.shape[0]
    cache: dict[tuple[int, int], NeuronDelta] = {}

    def delta_of(at_layer: int, neuron: int) -> NeuronDelta:
        key = (at_layer, neuron)
        if key not in cache:
            cache[key] = (_output_delta if at_layer == net.n_layers - 1 else _hidden_delta)(
                at_layer, neuron
            )
        return cache[key]

    def _output_delta(at_layer: int, neuron: int) -> NeuronDelta:
        predicted, target = outputs[at_layer], targets
        function = net.activation_functions[at_layer]
        loss = net.loss_function
        if loss.combines_with(function):
            value = (predicted[:, neuron] - target[:, neuron]) / n_samples
            factor = Factor(
                "dError/dSop (dError/dPredicted * dPredicted/dSop combined)",
                f"(predicted - target) / n  [{loss.name} with {function.name}]", value,
            )
            return NeuronDelta(at_layer, neuron, value, [factor])
        error_predicted_deriv = loss.predicted_deriv(predicted, target, np.empty_like(predicted))
        if function.couples_neurons:
            # dError/dSop_j = sum_k dError/dPredicted_k * predicted_k * (delta_kj - predicted_j)
            jacobian_column = function.jacobian(predicted)[:, :, neuron]
            value = np.sum(error_predicted_deriv * jacobian_column, axis=1)
            factors = [
                Factor("dError/dPredicted_k (all outputs k)", f"({loss.formula()}) / n",
                       error_predicted_deriv),
                Factor("dPredicted_k/dSop_j", function.formula(), jacobian_column),
            ]
            return NeuronDelta(at_layer, neuron, value, factors)
        g1 = error_predicted_deriv[:, neuron]
        g2 = function.derivative(sops[at_layer], predicted)[:, neuron]
        factors = [
            Factor("dError/dPredicted", f"({loss.formula()}) / n", g1),
            Factor("dPredicted/dSop", function.formula(), g2),
        ]
        return NeuronDelta(at_layer, neuron, g1 * g2, factors)

    def _hidden_delta(at_layer: int, neuron: int) -> NeuronDelta:
        function = net.activation_functions[at_layer]
        output_sop_deriv = function.derivative(sops[at_layer], outputs[at_layer])[:, neuron]
        paths, total = [], np.zeros(n_samples)
        next_weights = net.weights[at_layer + 1]
        for k in range(net.sizes[at_layer + 2]):
            following = delta_of(at_layer + 1, k)
            product = next_weights[neuron, k] * following.value
            total = total + product
            paths.append({"to_neuron": k, "weight": float(next_weights[neuron, k]),
                          "product": product, "next": following})
        factor = Factor("dOutput/dSop", function.formula(), output_sop_deriv)
        return NeuronDelta(at_layer, neuron, output_sop_deriv * total, [factor], paths)

    delta = delta_of(layer, to_neuron)
    if from_neuron is None:
        sop_weight_deriv = Factor("dSop/dBias", "1", np.ones(n_samples))
    else:
        source = "x" if layer == 0 else f"output[{layer - 1}]"
        sop_weight_deriv = Factor(
            "dSop/dWeight", f"the layer's input {source}[{from_neuron}]",
            layer_inputs[layer][:, from_neuron],
        )
    gradient = float(np.sum(delta.value * sop_weight_deriv.value))
    return Explanation(layer, from_neuron, to_neuron, delta, sop_weight_deriv, gradient)

"""The chain of derivatives from the error to one weight (or bias), with every value it uses.

Layers are counted as the engine counts them: layer ``l`` is the neurons that ``weights[l]``
feeds (layer 0 takes the inputs ``x``; the last layer ``L`` is the output layer, its output is
``predicted``), and ``weights[l][i, j]`` joins input ``i`` of layer ``l`` to its neuron ``j``. For
that weight::

    dError/dW = sum over samples of  dError/dSop[l][j] * dSop[l][j]/dW     (g3 = dSop/dW = input i)

At the output layer ``dError/dSop = dError/dPredicted * dPredicted/dSop``, the tutorial's g1 * g2
(through a softmax every output ``m`` contributes: ``sum_m g1[m] * dPredicted[m]/dSop[j]``). At a
hidden layer the error reaches neuron ``j`` through every neuron ``k`` of the layer above::

    dError/dOutput[l][j] = sum over k of weights[l + 1][j, k] * dError/dSop[l + 1][k]
    dError/dSop[l][j]    = dError/dOutput[l][j] * dOutput/dSop[l][j]

and ``dError/dSop[l + 1][k]`` is derived the same way one layer up, from the output layer down:
the sum over all paths, in linear time. Every value is the reference engine's
(:func:`chainrule.reference.backprop`, plain NumPy with its own table of derivatives, which the
fast engine is proved equal to) and every formula its table's: this module picks one neuron's
column of each layer's arrays and lays the chain out, and ``tests/test_explain.py`` checks that
the gradients agree with the engine's. The text shows the forward pass (with the parameter's
own value, and its neuron's sop written out as the sum of the weights and the bias feeding it),
then the backward pass in the order a person derives it, every number to 10 significant digits;
for a batch, each value per sample. It says once where the batch's 1/n enters: in g1 (the error
is the mean over the n samples), so every ``dError/dSop`` carries it and the gradient is the sum
over the samples of ``dError/dSop * g3``, as the playground's chain says it.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .engine import Engine
from .notebook import explanation_html
from .reference import ACTIVATIONS, LOSSES, backprop

__all__ = ["Explanation", "Factor", "NeuronDelta", "explain"]

DIGITS = 10  # significant digits of every number in the text
_SHOWN = 12  # values of a layer shown in full; a longer layer is summarised


def _fmt(values: Any) -> str:
    """One number, or a per-sample list (nested for per-output values), to DIGITS digits."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 0:
        return f"{float(values):.{DIGITS}g}"
    if values.size == 1:
        return f"{float(values.ravel()[0]):.{DIGITS}g}"
    items = [_fmt(v) for v in values[:_SHOWN]]
    more = f", ... ({len(values)} values)" if len(values) > _SHOWN else ""
    return "[" + ", ".join(items) + more + "]"


@dataclass
class Factor:
    """One derivative of the chain: its name, formula and value (one per sample)."""

    name: str
    formula: str
    value: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "formula": self.formula, "value": self.value.tolist()}

    def line(self) -> str:
        value = _fmt(self.value)
        if self.formula == value:  # a constant (dSop/dBias = 1): no "1 = 1"
            return f"{self.name} = {value}"
        return f"{self.name} = {self.formula} = {value}"


@dataclass
class NeuronDelta:
    """``dError/dSop`` of one neuron, and how it was made: the output layer's g1 and g2, or
    a hidden neuron's ``dError/dOutput`` (the sum over ``paths`` to the layer above) and its
    ``dOutput/dSop``."""

    layer: int
    neuron: int
    value: np.ndarray
    factors: list[Factor]
    paths: list[dict[str, Any]] = field(default_factory=list)
    output_grad: np.ndarray | None = None  # dError/dOutput, hidden neurons only

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer, "neuron": self.neuron, "value": self.value.tolist(),
            "factors": [f.to_dict() for f in self.factors],
            "dError_dOutput": None if self.output_grad is None else self.output_grad.tolist(),
            # The next layer's deltas by reference ([layer, neuron], each once in the
            # explanation's "backward" list): nested copies would grow with the product of the
            # layers' widths.
            "paths": [
                {"to_neuron": p["to_neuron"], "weight": p["weight"],
                 "product": p["product"].tolist(),
                 "next": [p["next"].layer, p["next"].neuron]}
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
    inputs: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    targets: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    sops: list[np.ndarray] = field(default_factory=list)
    outputs: list[np.ndarray] = field(default_factory=list)
    activations: list[str] = field(default_factory=list)
    loss: str = ""
    error: float = float("nan")
    #: Every neuron's delta the chain needs, in the order derived (output layer first).
    derivation: list[NeuronDelta] = field(default_factory=list)
    bias: list[bool] = field(default_factory=list)
    #: The parameter's own value, and the weights (``weights[layer][:, to_neuron]``) and bias
    #: feeding its neuron, as the chain was computed with them (None: not known).
    value: float | None = None
    incoming: np.ndarray | None = None
    incoming_bias: float | None = None

    @property
    def parameter(self) -> str:
        if self.from_neuron is None:
            return f"biases[{self.layer}][{self.to_neuron}]"
        return f"weights[{self.layer}][{self.from_neuron}, {self.to_neuron}]"

    @property
    def per_sample_gradient(self) -> np.ndarray:
        """Each sample's own ``dError/dW`` (of its own error, without the batch's 1/n); their
        mean is :attr:`gradient`."""
        return self.delta.value * self.sop_weight_deriv.value * len(self.delta.value)

    @property
    def terms(self) -> np.ndarray:
        """Each sample's share of the gradient, ``dError/dSop * g3`` (the batch's 1/n already
        in it, from g1); their sum is :attr:`gradient`."""
        return self.delta.value * self.sop_weight_deriv.value

    def to_dict(self) -> dict[str, Any]:
        last = len(self.sops) - 1
        return {
            "parameter": self.parameter, "layer": self.layer,
            "from_neuron": self.from_neuron, "to_neuron": self.to_neuron,
            "forward": {
                "x": self.inputs.tolist(),
                "layers": [{"layer": at, "activation": self.activations[at],
                            "sop": self.sops[at].tolist(), "output": self.outputs[at].tolist()}
                           for at in range(len(self.sops))],
                "predicted": self.outputs[last].tolist() if self.outputs else [],
                "target": self.targets.tolist(), "loss": self.loss, "error": self.error,
            },
            "backward": [d.to_dict() for d in self.derivation],
            "dError_dSop": self.delta.to_dict(),
            "dSop_dWeight": self.sop_weight_deriv.to_dict(),
            "per_sample_gradient": self.per_sample_gradient.tolist(),
            "gradient": self.gradient,
            "value": self.value,
            "incoming": {"weights": None if self.incoming is None else self.incoming.tolist(),
                         "bias": self.incoming_bias},
            "terms": self.terms.tolist(),
        }

    def _repr_html_(self) -> str:
        """The chain as HTML tables, for Jupyter (see :mod:`chainrule.notebook`)."""
        return explanation_html(self)

    def __str__(self) -> str:
        last = len(self.sops) - 1
        n = self.inputs.shape[0]
        if self.from_neuron is None:
            what = f"the bias of neuron {self.to_neuron} of layer {self.layer}"
        else:
            source = "input x" if self.layer == 0 else f"output[{self.layer - 1}]"
            what = (f"the weight from {source}[{self.from_neuron}] to neuron {self.to_neuron} "
                    f"of layer {self.layer}")
        if self.value is not None:
            what += f", whose value is {self.value:.{DIGITS}g}"
        batch = "one sample" if n == 1 else f"a batch of {n} samples: each value is per sample"
        legend = textwrap.fill(
            f"Legend: layer l is the neurons weights[l] feeds (layer 0 takes the inputs x, "
            f"layer {last} is the output layer); weights[l][i, j] joins input i of layer l to "
            "its neuron j. g1 = dError/dPredicted, g2 = dPredicted/dSop, g3 = dSop/dWeight. "
            f"Numbers to {DIGITS} significant digits; {batch}. The error is the mean over the "
            f"n samples (here n = {n}): its 1/n enters once, in g1 (or in g1 * g2 where the "
            "two combine) at the output layer, so every dError/dSop below carries it, and the "
            "gradient is the sum over the samples of dError/dSop * g3.", width=100)
        lines = [
            f"dError/d{self.parameter}: {what}",
            "",
            legend,
            "",
            "Forward pass",
            f"  x = {_fmt(self.inputs.T if n > 1 else self.inputs[0])}",
        ]
        for at, (sop, output) in enumerate(zip(self.sops, self.outputs)):
            source = "x" if at == 0 else f"output[{at - 1}]"
            name = "predicted" if at == last else f"output[{at}]"
            kind = "output layer, " if at == last else ""
            plus = f" + biases[{at}]" if not self.bias or self.bias[at] else ""
            lines.append(f"  layer {at} ({kind}{self.activations[at]}): sop[{at}] = {source} @ "
                         f"weights[{at}]{plus} = {_neurons(sop)}")
            lines.append(f"      {name} = {self.activations[at]}(sop[{at}]) = "
                         f"{_neurons(output)}")
            if at == self.layer:
                lines += _neuron_lines(self)
        lines.append(f"  target = {_neurons(self.targets)}; error ({self.loss}) = "
                     f"{self.error:.{DIGITS}g}")
        lines += ["", "Backward pass, from the error down to the parameter"]
        for delta in self.derivation:
            lines += _describe(delta, last)
        factor = self.sop_weight_deriv
        lines.append(f"  g3 = {factor.line()}")
        lines.append("")
        product = f"dError/dSop[{self.layer}][{self.to_neuron}] * g3"
        if n == 1:
            lines.append(f"gradient = {product} = {_fmt(self.delta.value)} * "
                         f"{_fmt(factor.value)} = {self.gradient:.{DIGITS}g}")
        else:
            terms = " + ".join(_signed(t) for t in self.terms[:_SHOWN])
            more = f" + ... ({n} terms)" if n > _SHOWN else ""
            lines.append(f"gradient = sum over the samples of {product}")
            lines.append(f"         = {terms}{more} = {self.gradient:.{DIGITS}g}")
        return "\n".join(lines)


def _neurons(values: np.ndarray) -> str:
    """A layer's values: one list per sample (a single sample: one list)."""
    values = np.asarray(values, dtype=float)
    if values.shape[0] == 1:
        return _fmt(values[0]) if values.shape[1] > 1 else f"[{_fmt(values[0])}]"
    return "[" + ", ".join(_fmt(row) if row.size > 1 else f"[{_fmt(row)}]"
                           for row in values) + "]"


def _signed(value: float) -> str:
    """A number to DIGITS digits, in brackets when negative (as a term of a sum or product)."""
    text = f"{float(value):.{DIGITS}g}"
    return f"({text})" if text.startswith("-") else text


def _neuron_lines(e: Explanation) -> list[str]:
    """The forward pass of the parameter's own neuron ``j`` of layer ``l``: the weights
    ``weights[l][:, j]`` and the bias feeding it, ``sop[l][j] = sum over i of input[i] *
    weights[l][i, j] + biases[l][j]`` written out (with its numbers, for one sample), and its
    output ``f(sop[l][j])``."""
    if e.incoming is None:
        return []
    at, j, last = e.layer, e.to_neuron, len(e.sops) - 1
    source = "x" if at == 0 else f"output[{at - 1}]"
    layer_input = e.inputs if at == 0 else e.outputs[at - 1]
    weights = np.asarray(e.incoming, dtype=float)
    has_bias = e.incoming_bias is not None
    if e.from_neuron is None:
        role = f"whose bias is explained (biases[{at}][{j}] = {e.incoming_bias:.{DIGITS}g})"
    else:
        role = (f"which the weight explained feeds (weights[{at}][{e.from_neuron}, {j}] = "
                f"{weights[e.from_neuron]:.{DIGITS}g})")
    shown = _fmt(weights) if len(weights) > 1 else f"[{_fmt(weights)}]"
    feeding = f"weights[{at}][:, {j}] = {shown}" + (
        f"; biases[{at}][{j}] = {e.incoming_bias:.{DIGITS}g}" if has_bias else "; no bias")
    names = [f"{source}[{i}] * weights[{at}][{i}, {j}]" for i in range(len(weights))]
    if len(names) > _SHOWN:
        names = [*names[:_SHOWN - 1], "...", names[-1]]
    bias_name = f" + biases[{at}][{j}]" if has_bias else ""
    sop = e.sops[at][:, j]
    lines = [f"    neuron {j} of layer {at}, {role}:", f"      {feeding}",
             f"      sop[{at}][{j}] = {' + '.join(names)}{bias_name}"]
    if len(sop) == 1 and len(weights) <= _SHOWN:
        products = " + ".join(f"{_signed(x)} * {_signed(w)}"
                              for x, w in zip(layer_input[0], weights))
        bias_value = f" + {_signed(e.incoming_bias)}" if has_bias else ""
        lines.append(f"          = {products}{bias_value} = {_fmt(sop)}")
    else:
        lines.append(f"          = {_fmt(sop)}")
    name = f"predicted[{j}]" if at == last else f"output[{at}][{j}]"
    lines.append(f"      {name} = {e.activations[at]}(sop[{at}][{j}]) = "
                 f"{_fmt(e.outputs[at][:, j])}")
    return lines


def _describe(delta: NeuronDelta, last: int) -> list[str]:
    """One neuron's dError/dSop, as a person derives it."""
    where = "output layer" if delta.layer == last else "layer"
    name = f"dError/dSop[{delta.layer}][{delta.neuron}]"
    lines = [f"  {where} {delta.layer}, neuron {delta.neuron}:" if delta.layer != last
             else f"  output layer {delta.layer}, neuron {delta.neuron}:"]
    if delta.output_grad is None:  # the output layer
        for factor in delta.factors:
            lines.append(f"    {factor.line()}")
        if len(delta.factors) == 2 and delta.factors[0].name.endswith("every output m"):
            lines.append(f"    {name} = sum over the outputs m of g1[m] * g2[m] = "
                         f"{_fmt(delta.value)}")
        elif len(delta.factors) == 2:
            lines.append(f"    {name} = g1 * g2 = {_fmt(delta.value)}")
        return lines
    terms = " + ".join(f"{p['weight']:.{DIGITS}g} * {_fmt(p['next'].value)}"
                       for p in delta.paths[:_SHOWN])
    more = f" + ... ({len(delta.paths)} terms)" if len(delta.paths) > _SHOWN else ""
    lines.append(f"    dError/dOutput[{delta.layer}][{delta.neuron}] = sum over k of "
                 f"weights[{delta.layer + 1}][{delta.neuron}, k] * "
                 f"dError/dSop[{delta.layer + 1}][k]")
    lines.append(f"        = {terms}{more} = {_fmt(delta.output_grad)}")
    factor = delta.factors[0]
    lines.append(f"    {factor.line()}")
    lines.append(f"    {name} = dError/dOutput * dOutput/dSop = {_fmt(delta.value)}")
    return lines


def explain(
    net: Engine, X: Any, Y: Any, layer: int, weight: Any = None, bias: int | None = None
) -> Explanation:
    """Explain the gradient of one weight ``(from_neuron, to_neuron)`` of ``layer`` — or, with
    ``bias=j``, of that layer's bias of neuron ``j`` — on the data ``(X, Y)``."""
    inputs, targets = net.check_data(X, Y)
    from_neuron, to_neuron = _parameter(net, layer, weight, bias)
    with np.errstate(over="ignore"):
        values = backprop(net, inputs, targets)
    spec = net.spec()
    derivation = _derivation(values, net.weights, spec, layer, to_neuron)
    delta = derivation[-1]
    n_samples = inputs.shape[0]
    if from_neuron is None:
        sop_weight_deriv = Factor(f"dSop[{layer}][{to_neuron}]/dBias", "1", np.ones(n_samples))
    else:
        source = "x" if layer == 0 else f"output[{layer - 1}]"
        layer_input = inputs if layer == 0 else values["outputs"][layer - 1]
        sop_weight_deriv = Factor(
            f"dSop[{layer}][{to_neuron}]/dWeight", f"the input {source}[{from_neuron}]",
            layer_input[:, from_neuron],
        )
    gradient = float(np.sum(delta.value * sop_weight_deriv.value))
    biases = net.biases[layer]
    incoming_bias = None if biases is None else float(biases[to_neuron])
    value = incoming_bias if from_neuron is None else float(net.weights[layer][from_neuron,
                                                                                to_neuron])
    return Explanation(layer, from_neuron, to_neuron, delta, sop_weight_deriv, gradient,
                       inputs, targets, values["sops"], values["outputs"], spec["activations"],
                       spec["loss"], values["error"], derivation,
                       [b is not None for b in net.biases], value=value,
                       incoming=np.array(net.weights[layer][:, to_neuron], dtype=float),
                       incoming_bias=incoming_bias)


def _parameter(net: Engine, layer: Any, weight: Any, bias: Any) -> tuple[int | None, int]:
    """``(from_neuron, to_neuron)`` of the parameter asked for (``from_neuron`` None: a bias),
    checked against the network."""
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) \
            or not 0 <= layer < net.n_layers:
        raise ValueError(f"layer {layer!r} is outside the network (layers 0..{net.n_layers - 1})")
    n_in, n_out = net.sizes[layer], net.sizes[layer + 1]
    if bias is not None:
        if net.biases[layer] is None:
            raise ValueError(f"layer {layer} has no bias")
        from_neuron, to_neuron = None, bias
    else:
        try:
            from_neuron, to_neuron = (_index(i) for i in weight)
        except (TypeError, ValueError):
            raise ValueError(f"weight must be a pair (from_neuron, to_neuron), got {weight!r}") \
                from None
        if not 0 <= from_neuron < n_in:
            raise ValueError(
                f"from_neuron {from_neuron} is outside layer {layer}'s inputs (0..{n_in - 1})"
            )
    if not 0 <= to_neuron < n_out:
        raise ValueError(f"to_neuron {to_neuron} is outside layer {layer} (0..{n_out - 1})")
    return from_neuron, to_neuron


def _derivation(values: dict[str, Any], weights: list[np.ndarray], spec: dict[str, Any],
                layer: int, neuron: int) -> list[NeuronDelta]:
    """Every neuron's ``dError/dSop`` the chain to ``neuron`` of ``layer`` needs, in the order
    derived: each neuron of each layer above it, from the output layer down, then that neuron.
    The values are columns of the reference's per-layer arrays (nothing is recomputed per
    neuron); a hidden neuron's paths add one array of ``n x width`` products."""
    last = len(values["sops"]) - 1
    derived: dict[tuple[int, int], NeuronDelta] = {}
    for at in range(last, layer - 1, -1):
        name, slope = spec["activations"][at], spec["leaky_relu_slopes"][at]
        formula = ACTIVATIONS[name][2].format(slope=slope)
        for j in [neuron] if at == layer else range(values["sops"][at].shape[1]):
            if at == last:
                derived[at, j] = _output_delta(values, at, j, name, formula, spec["loss"])
            else:
                derived[at, j] = _hidden_delta(values, weights[at + 1], at, j, formula, derived)
    return list(derived.values())


def _output_delta(values: dict[str, Any], at: int, neuron: int, activation: str, formula: str,
                  loss: str) -> NeuronDelta:
    """``dError/dSop`` of an output neuron: the tutorial's g1 * g2 (through a softmax, the sum
    over the outputs ``m`` of ``g1[m] * dPredicted[m]/dSop[j]``), or the two combined."""
    value, g1 = values["deltas"][at][:, neuron], values["output_grads"][at]
    if g1 is None:  # the loss combines with the activation: g1 * g2 = (predicted - target) / n
        factor = Factor(
            f"dError/dSop[{at}][{neuron}] (g1 * g2 combined: {loss} with {activation})",
            f"(predicted[{neuron}] - target[{neuron}]) / n", value)
        return NeuronDelta(at, neuron, value, [factor])
    g1_formula = f"({LOSSES[loss][2]}) / n"
    if activation == "softmax":
        column = values["derivatives"][at][:, :, neuron]  # dPredicted[m]/dSop[j], every m
        factors = [
            Factor("g1 = dError/dPredicted[m] for every output m", g1_formula, _per_sample(g1)),
            Factor(f"g2 = dPredicted[m]/dSop[{at}][{neuron}]",
                   f"softmax_m * (delta_m{neuron} - softmax_{neuron})", _per_sample(column)),
        ]
        return NeuronDelta(at, neuron, value, factors)
    factors = [Factor("g1 = dError/dPredicted", g1_formula, g1[:, neuron]),
               Factor("g2 = dPredicted/dSop", formula, values["derivatives"][at][:, neuron])]
    return NeuronDelta(at, neuron, value, factors)


def _hidden_delta(values: dict[str, Any], next_weights: np.ndarray, at: int, neuron: int,
                  formula: str, derived: dict[tuple[int, int], NeuronDelta]) -> NeuronDelta:
    """``dError/dSop`` of a hidden neuron: ``dError/dOutput`` (the sum over the paths to every
    neuron ``k`` of the layer above) times ``dOutput/dSop``."""
    weights = next_weights[neuron]                      # to each neuron k of the layer above
    products = values["deltas"][at + 1] * weights       # one column per path
    paths = [{"to_neuron": k, "weight": float(weights[k]), "product": products[:, k],
              "next": derived[at + 1, k]} for k in range(len(weights))]
    factor = Factor("dOutput/dSop", formula, values["derivatives"][at][:, neuron])
    return NeuronDelta(at, neuron, values["deltas"][at][:, neuron], [factor], paths,
                       values["output_grads"][at][:, neuron])


def _index(value: Any) -> int:
    """A neuron index: an integer, not a bool or a float that happens to be whole."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(value)
    return int(value)


def _per_sample(values: np.ndarray) -> np.ndarray:
    """Per-output values of a single sample as one row; a batch keeps one row per sample."""
    return values[0] if values.shape[0] == 1 else values

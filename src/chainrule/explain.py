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
the gradients agree with the engine's. The text (:mod:`chainrule.explain_text`) shows the
forward pass, then the backward pass in the order a person derives it, every number to 10
significant digits; for a batch, each value per sample. It says once where the batch's 1/n
enters: in g1 (the error is the mean over the n samples), so every ``dError/dSop`` carries it
and the gradient is the sum over the samples of ``dError/dSop * g3``, as the playground's chain
says it.

Through a hidden layer with dropout or normalisation, ``dError/dOutput`` reaches
``dError/dSop`` through the mask factor ``mask / (1 - p)``, ``f'(z)`` and the normalisation's
backward terms (:mod:`chainrule.explain_layers`: dxhat, dvar, dmean, dsop with their numbers),
on the batch statistics and the dropout masks of a training step; a normalised layer's
``gammas[l][j]`` and ``betas[l][j]`` are explained as ``dError/dZ * xhat`` and ``dError/dZ``
summed over the samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .engine import Engine
from .explain_layers import LayerTerms, layer_arrays, layer_terms
from .explain_layers_text import layered_backward, layered_forward
from .explain_numbers import fmt
from .explain_text import explanation_text
from .notebook import explanation_html
from .reference import ACTIVATIONS, LOSSES, backprop

__all__ = ["ONE_ROW_BATCH_NORM", "Explanation", "Factor", "NeuronDelta", "explain", "next_masks"]

#: Why a batch-normalised network is not explained on one row: the engine refuses to train so.
ONE_ROW_BATCH_NORM = (
    "batch normalisation needs at least 2 rows per batch in training (its variance over one "
    "row is 0, so no gradient reaches a sop through it): explain it on a batch of 2 rows or "
    "more")


@dataclass
class Factor:
    """One derivative of the chain: its name, formula and value (one per sample)."""

    name: str
    formula: str
    value: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "formula": self.formula, "value": self.value.tolist()}

    def line(self) -> str:
        value = fmt(self.value)
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
    #: Through dropout and normalisation, from dError/dOutput to dError/dSop (None: a plain
    #: layer, where dError/dSop = dError/dOutput * dOutput/dSop, the one factor).
    layer_terms: LayerTerms | None = None

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
            **({} if self.layer_terms is None
               else {"through_layer": self.layer_terms.to_dict()}),
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
    #: "weight", "bias", "gamma" or "beta" (a normalised layer's scale or shift).
    kind: str = "weight"
    #: Per layer, with dropout or normalisation: the activation's input ``z`` (the sop where
    #: not normalised), its output before the mask, the dropout masks (None: none), the
    #: normalisation kinds and the dropout rates (empty lists: a network without them).
    zs: list[np.ndarray] = field(default_factory=list)
    activated: list[np.ndarray] = field(default_factory=list)
    masks: list[np.ndarray | None] = field(default_factory=list)
    kinds: list[str | None] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)

    @property
    def parameter(self) -> str:
        if self.kind in ("gamma", "beta"):
            return f"{self.kind}s[{self.layer}][{self.to_neuron}]"
        if self.from_neuron is None:
            return f"biases[{self.layer}][{self.to_neuron}]"
        return f"weights[{self.layer}][{self.from_neuron}, {self.to_neuron}]"

    @property
    def per_sample_gradient(self) -> np.ndarray:
        """Each sample's own ``dError/dW`` (of its own error, without the batch's 1/n); their
        mean is :attr:`gradient`."""
        return self.chain_grad * self.sop_weight_deriv.value * len(self.delta.value)

    @property
    def chain_grad(self) -> np.ndarray:
        """What g3 multiplies: ``dError/dSop`` of the neuron, or ``dError/dZ`` for its
        gamma or beta."""
        if self.kind in ("gamma", "beta"):
            return self.delta.layer_terms.z_grad
        return self.delta.value

    @property
    def terms(self) -> np.ndarray:
        """Each sample's share of the gradient, ``dError/dSop * g3`` (the batch's 1/n already
        in it, from g1); their sum is :attr:`gradient`."""
        return self.chain_grad * self.sop_weight_deriv.value

    def to_dict(self) -> dict[str, Any]:
        last = len(self.sops) - 1
        return {
            "parameter": self.parameter, "layer": self.layer,
            "from_neuron": self.from_neuron, "to_neuron": self.to_neuron,
            "forward": {
                "x": self.inputs.tolist(),
                "layers": [{"layer": at, "activation": self.activations[at],
                            "sop": self.sops[at].tolist(), "output": self.outputs[at].tolist(),
                            **self._layer_forward(at)}
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
            "kind": self.kind,
        }

    def _layer_forward(self, at: int) -> dict[str, Any]:
        """A layer's dropout and normalisation in :meth:`to_dict`'s forward pass (nothing for
        a plain layer): ``normalization`` (its kind), ``z``, ``dropout`` (its rate),
        ``activated`` (before the mask) and ``mask``."""
        if not self.kinds or not (self.kinds[at] or self.rates[at]):
            return {}
        out: dict[str, Any] = {"normalization": self.kinds[at], "dropout": self.rates[at],
                               "z": self.zs[at].tolist(),
                               "activated": self.activated[at].tolist()}
        if self.rates[at]:
            out["mask"] = np.asarray(self.masks[at], dtype=float).tolist()
        return out

    def _repr_html_(self) -> str:
        """The chain as HTML tables, for Jupyter (see :mod:`chainrule.notebook`), with the
        lines through dropout and normalisation as the text writes them."""
        forward = {at: layered_forward(self, at)[1:] for at in range(len(self.sops))
                   if self.kinds and (self.kinds[at] or self.rates[at])}
        backward = {(d.layer, d.neuron): layered_backward(d) for d in self.derivation
                    if d.layer_terms is not None}
        return explanation_html(self, forward, backward)

    def __str__(self) -> str:
        return explanation_text(self)


def explain(
    net: Engine, X: Any, Y: Any, layer: int, weight: Any = None, bias: int | None = None, *,
    gamma: int | None = None, beta: int | None = None, masks: Any = None
) -> Explanation:
    """Explain the gradient of one weight ``(from_neuron, to_neuron)`` of ``layer`` — or, with
    ``bias=j``, of that layer's bias of neuron ``j``; with ``gamma=j`` or ``beta=j``, of the
    scale or shift of neuron ``j`` of a normalised layer — on the data ``(X, Y)``, as a
    training step computes it (batch statistics; dropout with ``masks``, one per layer as
    :meth:`~chainrule.engine.Engine.dropout_masks` gives them; by default the masks the
    network's next training pass on ``X`` draws: :func:`next_masks`). A network with batch
    normalisation needs 2 rows or more, as the engine's training does (a ``ValueError``)."""
    inputs, targets = net.check_data(X, Y)
    kind, from_neuron, to_neuron = _parameter(net, layer, weight, bias, gamma, beta)
    if getattr(net, "couples_rows", False) and inputs.shape[0] < 2:
        raise ValueError(ONE_ROW_BATCH_NORM)
    if masks is None and any(getattr(net, "dropout", ())):
        masks = next_masks(net, inputs.shape[0])
    with np.errstate(over="ignore"):
        values = backprop(net, inputs, targets, masks=masks)
    spec = net.spec()
    derivation = _derivation(net, values, spec, layer, to_neuron)
    delta = derivation[-1]
    sop_weight_deriv = _g3(kind, values, inputs, layer, from_neuron, to_neuron)
    chain = delta.layer_terms.z_grad if kind in ("gamma", "beta") else delta.value
    gradient = float(np.sum(chain * sop_weight_deriv.value))
    biases = net.biases[layer]
    incoming_bias = None if biases is None else float(biases[to_neuron])
    value = {"bias": incoming_bias,
             "weight": None if from_neuron is None
             else float(net.weights[layer][from_neuron, to_neuron]),
             "gamma": None if kind != "gamma" else float(net.gammas[layer][to_neuron]),
             "beta": None if kind != "beta" else float(net.betas[layer][to_neuron])}[kind]
    layered = {}
    if getattr(net, "has_layers", False):
        layered = {"zs": values["zs"], "activated": values["activated"],
                   "masks": values["masks"] or [None] * net.n_layers,
                   "kinds": values["kinds"], "rates": values["rates"]}
    return Explanation(layer, from_neuron, to_neuron, delta, sop_weight_deriv, gradient,
                       inputs, targets, values["sops"], values["outputs"], spec["activations"],
                       spec["loss"], values["error"], derivation,
                       [b is not None for b in net.biases], value=value,
                       incoming=np.array(net.weights[layer][:, to_neuron], dtype=float),
                       incoming_bias=incoming_bias, kind=kind, **layered)


def next_masks(net: Engine, n_samples: int) -> list[np.ndarray | None]:
    """The dropout masks (one per layer, None where there is none) that the network's next
    training pass on ``n_samples`` rows draws, from a copy of its generator (which is left as
    it was): :meth:`Engine.next_masks <chainrule.engine.Engine.next_masks>`, the very masks
    :meth:`~chainrule.engine.Engine.gradients` and
    :meth:`~chainrule.engine.Engine.training_loss` use by default, so an explanation and the
    engine's gradient agree. (A pass in slices, beyond
    :attr:`~chainrule.engine.Engine.rows_per_slice` rows, draws per slice.)"""
    return net.next_masks(n_samples)


def _g3(kind: str, values: dict[str, Any], inputs: np.ndarray, layer: int,
        from_neuron: int | None, to_neuron: int) -> Factor:
    """The last factor: ``dSop/dWeight`` (the input), ``dSop/dBias`` (1), ``dZ/dGamma``
    (xhat) or ``dZ/dBeta`` (1)."""
    n_samples = inputs.shape[0]
    if kind == "gamma":
        return Factor(f"dZ[{layer}][{to_neuron}]/dGamma", f"xhat[{layer}][{to_neuron}]",
                      values["xhats"][layer][:, to_neuron])
    if kind == "beta":
        return Factor(f"dZ[{layer}][{to_neuron}]/dBeta", "1", np.ones(n_samples))
    if kind == "bias":
        return Factor(f"dSop[{layer}][{to_neuron}]/dBias", "1", np.ones(n_samples))
    source = "x" if layer == 0 else f"output[{layer - 1}]"
    layer_input = inputs if layer == 0 else values["outputs"][layer - 1]
    return Factor(f"dSop[{layer}][{to_neuron}]/dWeight", f"the input {source}[{from_neuron}]",
                  layer_input[:, from_neuron])


def _parameter(net: Engine, layer: Any, weight: Any, bias: Any, gamma: Any = None,
               beta: Any = None) -> tuple[str, int | None, int]:
    """``(kind, from_neuron, to_neuron)`` of the parameter asked for (``from_neuron`` None:
    not a weight), checked against the network."""
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) \
            or not 0 <= layer < net.n_layers:
        raise ValueError(f"layer {layer!r} is outside the network (layers 0..{net.n_layers - 1})")
    n_in, n_out = net.sizes[layer], net.sizes[layer + 1]
    given = [name for name, v in (("bias", bias), ("gamma", gamma), ("beta", beta))
             if v is not None]
    if len(given) > 1 or (given and weight is not None):
        raise ValueError("give one of weight, bias, gamma or beta")
    kind = given[0] if given else "weight"
    from_neuron = None
    if kind == "bias":
        if net.biases[layer] is None:
            raise ValueError(f"layer {layer} has no bias")
        to_neuron = bias
    elif kind in ("gamma", "beta"):
        if getattr(net, "gammas", None) is None or net.gammas[layer] is None:
            raise ValueError(f"layer {layer} is not normalised: it has no {kind}")
        to_neuron = _checked(gamma if kind == "gamma" else beta, kind)
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
    return kind, from_neuron, to_neuron


def _checked(value: Any, name: str) -> int:
    try:
        return _index(value)
    except ValueError:
        raise ValueError(f"{name} must be a neuron index, got {value!r}") from None


def _derivation(net: Engine, values: dict[str, Any], spec: dict[str, Any],
                layer: int, neuron: int) -> list[NeuronDelta]:
    """Every neuron's ``dError/dSop`` the chain to ``neuron`` of ``layer`` needs, in the order
    derived: each neuron of each layer above it, from the output layer down, then that neuron.
    The values are columns of the reference's per-layer arrays (nothing is recomputed per
    neuron; a normalised layer's backward terms: once per layer, :func:`layer_arrays`); a
    hidden neuron's paths add one array of ``n x width`` products."""
    last = len(values["sops"]) - 1
    kinds = values.get("kinds") or [None] * (last + 1)
    derived: dict[tuple[int, int], NeuronDelta] = {}
    for at in range(last, layer - 1, -1):
        name, slope = spec["activations"][at], spec["leaky_relu_slopes"][at]
        formula = ACTIVATIONS[name][2].format(slope=slope)
        arrays = None if kinds[at] is None else layer_arrays(net, values, at)
        for j in [neuron] if at == layer else range(values["sops"][at].shape[1]):
            if at == last:
                derived[at, j] = _output_delta(values, at, j, name, formula, spec["loss"])
            else:
                derived[at, j] = _hidden_delta(net, values, at, j, formula, derived, arrays)
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


def _hidden_delta(net: Engine, values: dict[str, Any], at: int, neuron: int, formula: str,
                  derived: dict[tuple[int, int], NeuronDelta],
                  arrays: dict[str, np.ndarray] | None) -> NeuronDelta:
    """``dError/dSop`` of a hidden neuron: ``dError/dOutput`` (the sum over the paths to every
    neuron ``k`` of the layer above) times ``dOutput/dSop``; through dropout and normalisation,
    their :class:`~chainrule.explain_layers.LayerTerms` between the two."""
    weights = net.weights[at + 1][neuron]               # to each neuron k of the layer above
    products = values["deltas"][at + 1] * weights       # one column per path
    paths = [{"to_neuron": k, "weight": float(weights[k]), "product": products[:, k],
              "next": derived[at + 1, k]} for k in range(len(weights))]
    terms = layer_terms(net, values, at, neuron, arrays) if "kinds" in values else None
    if terms is None:
        factor = Factor("dOutput/dSop", formula, values["derivatives"][at][:, neuron])
    elif terms.norm is None:
        factor = Factor("dActivated/dSop", formula, terms.derivative)
    else:  # the activation's input is z, the normalised sop
        factor = Factor("dActivated/dZ", formula.replace("sop", "z"), terms.derivative)
    return NeuronDelta(at, neuron, values["deltas"][at][:, neuron], [factor], paths,
                       values["output_grads"][at][:, neuron], terms)


def _index(value: Any) -> int:
    """A neuron index: an integer, not a bool or a float that happens to be whole."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(value)
    return int(value)


def _per_sample(values: np.ndarray) -> np.ndarray:
    """Per-output values of a single sample as one row; a batch keeps one row per sample."""
    return values[0] if values.shape[0] == 1 else values

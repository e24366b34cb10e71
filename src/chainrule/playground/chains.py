"""The chain of derivatives of one weight, as the page shows it: a part of
:class:`~chainrule.playground.session.Session`.

On the batch of the step on show (and with the weights that step started from): the forward
pass the weight depends on and the backward pass down to it (:func:`~chainrule.explain.explain`),
the check by finite differences (:func:`~chainrule.gradcheck.numerical_derivative`), the
gradient the engine used, and the optimizer's update of the weight (its own
:meth:`~chainrule.optimizers.Optimizer.terms`); beside the delta recursion, the output layer's
g1 and g2 apart (:func:`output_factors`) and the same gradient as the sum over the paths from the
weight to the error (:func:`paths`, up to :data:`MAX_PATHS`), from the plain reference's values
(:func:`~chainrule.reference.backprop`). A chain whose values would take more than
:data:`~chainrule.playground.budget.MAX_STEP_BYTES` is refused before it is computed.
"""

from __future__ import annotations

import gc
from typing import Any

import numpy as np

from .. import tutorial
from ..explain import explain
from ..gradcheck import numerical_derivative
from ..network import Network
from ..reference import ACTIVATIONS, COMBINED, LOSSES, backprop, softmax_jacobian
from ..training.step import CLIP_EPSILON
from .budget import MAX_STEP_BYTES, TooLarge, chain_bytes, size
from .inputs import whole

__all__ = ["MAX_PATHS", "SHOWN_SAMPLES", "Chains", "output_factors", "paths"]

#: Samples of a batch whose own values a chain shows (all samples count in its sums).
SHOWN_SAMPLES = 32
#: The most paths from a weight to the error whose products a chain lists (beyond: the count).
MAX_PATHS = 64


class Chains:
    """The chain of one weight (mixed into :class:`~chainrule.playground.session.Session`)."""

    def chain(self, layer: int, to: int, source: int | None = None) -> dict[str, Any]:
        """The chain of derivatives of ``weights[layer][source, to]`` (or the bias of neuron
        ``to`` when ``source`` is None) on the batch of the step on show, its check by finite
        differences, the engine's gradient, and the optimizer's update of it."""
        layer, to = whole(layer, "layer"), whole(to, "to")
        source = None if source is None else whole(source, "from")
        if layer >= self.net.n_layers:
            raise ValueError(f"layer {layer} is outside the network (0..{self.net.n_layers - 1})")
        if self.last is None and self.position:  # arrived by replay: retake the step watched
            self.goto(self.shown_position, self.sample)
        last = self.last
        if last is None:
            parameters, statistics, inputs, targets = (
                self.net.flat_parameters(), None, self.data.X_train, self.data.Y_train)
            batch_note = ("no step taken yet: the gradient of a full-batch step from these "
                          "weights")
            record = None
        else:
            record = last["record"]
            parameters, statistics, inputs, targets = (last["before"], last["statistics"],
                                                       record.inputs, record.targets)
            batch_note = (f"update {self.position} (epoch {record.epoch + 1}, batch "
                          f"{record.batch + 1}): {len(record.rows)} "
                          f"{'row' if len(record.rows) == 1 else 'rows'}")
            if self.sample:
                batch_note += f", shown row by row (row {self.sample} of {len(record.rows)})"
        needed = chain_bytes(self.net.sizes, layer, len(inputs),
                             self.net.activation_functions[-1].couples_neurons,
                             self.net.normalization, self.net.dropout)
        if needed > MAX_STEP_BYTES:
            raise TooLarge(
                f"the chain of a weight of layer {layer} on {len(inputs):,} rows needs about "
                f"{size(needed)} (every neuron above it keeps its values on every row); the "
                f"playground computes at most {size(MAX_STEP_BYTES)} for one request: a smaller "
                "batch size, or a weight of a layer nearer the output")
        extra = needed - self.footprint.step  # beyond what a step request may take
        if extra > 0 and self.budget is not None:
            self.budget.reserve(extra)
        try:
            return self._chain(layer, to, source, (parameters, statistics), inputs, targets,
                               record, batch_note)
        finally:
            if needed > 32 * 2**20:  # explain's values are held in reference cycles: free them
                gc.collect()
            if extra > 0 and self.budget is not None:
                self.budget.release(extra)

    def _chain(self, layer, to, source, shown, inputs, targets, record,
               batch_note) -> dict[str, Any]:
        net = self._probe_at(*shown)  # the parameters and running statistics before the step
        weight = None if source is None else (source, to)
        bias = to if source is None else None
        # Dropout: the step's own masks where its record kept them, else those the probe's
        # next pass would draw (then the chain is not the step's: "masks_of_step" says so).
        masks = None if record is None else getattr(record, "masks", None)
        explanation = explain(net, inputs, targets, layer, weight, bias=bias, masks=masks)
        masks = explanation.masks or None
        explained = explanation.gradient
        numeric = numerical_derivative(net, inputs, targets, layer, weight, bias, masks=masks)
        value = float(net.weights[layer][source, to] if source is not None
                      else net.biases[layer][to])
        slip = self._published_slip(explanation, net)
        out: dict[str, Any] = {
            "parameter": explanation.parameter, "value": value, "batch": batch_note,
            "explanation": _first_rows(explanation, SHOWN_SAMPLES),
            "n_samples": int(inputs.shape[0]), "gradient": explained,
            "numerical": numeric,
            "numerical_relative_difference": _relative(explained, numeric),
        }
        if slip is not None:
            out["published_slip"] = slip
        if any(net.dropout):
            out["masks_of_step"] = record is not None and getattr(record, "masks", None) \
                is not None
        # Where the batch's 1/n enters: in g1 (the error is the mean of the rows' errors), so
        # every dError/dSop carries it and each row's term below is its share of the sum.
        out["row_terms"] = explanation.terms[:SHOWN_SAMPLES].tolist()
        with np.errstate(over="ignore"):  # as explain runs it
            values = backprop(net, *net.check_data(inputs, targets), masks=masks)
        out["output_layer"] = output_factors(net, values, targets, SHOWN_SAMPLES)
        out["paths"] = paths(net, values, inputs, layer, source, to, SHOWN_SAMPLES)
        out["incoming"] = {"weights": net.weights[layer][:, to].tolist(),
                           "bias": None if net.biases[layer] is None
                           else float(net.biases[layer][to])}
        out["shown_row"] = self.sample - 1 if self.sample else 0
        # The penalties and clipping the step's trainer applied (the configuration's, once
        # the session hands them on).
        applied = {name: getattr(self.trainer, name, self.config.get(name))
                   for name in ("l2", "l1", "clip_norm", "clip_value")}
        penalties = _penalties(applied, source is not None, value)
        out.update(penalties)
        penalised = explained + penalties["l2"]["term"] + penalties["l1"]["term"]
        out["clipping"] = _clipping(net, values, applied, penalised)
        if record is not None:
            used = float(record.weight_grads[layer][source, to] if source is not None
                         else record.bias_grads[layer][to])
            out["engine_gradient"] = used
            out["engine_relative_difference"] = _relative(out["clipping"]["gradient"], used)
            out["update"] = self._update_terms(layer, source, to, value, used,
                                               record.learning_rate)
        return out

    @staticmethod
    def _published_slip(explanation, net: Network) -> dict[str, Any] | None:
        """For a sigmoid output whose loss does not combine with it (the tutorial's squared
        error): what the published Part 1 code would compute instead, with the sigmoid's
        derivative taken at the predicted value (``tutorial.activation_sop_deriv(predicted)``)
        rather than at the sop."""
        last = net.n_layers - 1
        function = net.activation_functions[last]
        if explanation.layer != last or function.name != "sigmoid" or \
                net.loss_function.combines_with(function):
            return None
        predicted = explanation.outputs[last][:, explanation.to_neuron]
        g1 = explanation.delta.factors[0].value
        g2 = tutorial.activation_sop_deriv(predicted)
        gradient = float(np.sum(g1 * g2 * explanation.sop_weight_deriv.value))
        return {"g2": g2[:SHOWN_SAMPLES].tolist(), "gradient": gradient,
                "ratio": gradient / explanation.gradient if explanation.gradient else None}

    def _update_terms(self, layer, source, to, value, grad, learning_rate) -> dict[str, Any]:
        optimizer = self.trainer.optimizer
        index = self._flat_index(layer, source, to)
        state = {name: float(buffers[0][index])
                 for name, buffers in self.last["optimizer"].items()}
        terms = optimizer.terms(value, grad, learning_rate, state, self.last["steps"])
        after = float(self.net.flat_parameters()[index])
        return {"optimizer": optimizer.name, "hyperparameters": optimizer.hyperparameters(),
                "learning_rate": learning_rate, "gradient": grad,
                "terms": [{"name": n, "formula": f, "value": v} for n, f, v in terms],
                "after": after}

    def _flat_index(self, layer: int, source: int | None, to: int) -> int:
        offset = 0
        for at, (n_in, n_out) in enumerate(zip(self.net.sizes, self.net.sizes[1:])):
            if at == layer:
                if source is None:
                    return offset + n_in * n_out + to
                return offset + source * n_out + to
            offset += n_in * n_out + (n_out if self.net.has_bias[at] else 0)
        raise ValueError(f"layer {layer} is outside the network")


def output_factors(net: Network, values: dict[str, Any], targets: np.ndarray,
                   rows: int) -> dict[str, Any]:
    """The output layer's g1 = dError/dPredicted and g2 = dPredicted/dSop apart, for every
    loss and output pair, on the first ``rows`` rows: ``delta = g1 * g2`` (after a softmax
    ``delta_j = sum_m g1_m * g2[m, j]``). For a pair whose product cancels (binary
    cross-entropy with a sigmoid, categorical cross-entropy with a softmax) the engine uses the
    combined form ``(predicted - target) / n`` (``combined``), which g1 * g2 equals up to
    rounding (and up to the clipping of g1 where predicted saturates)."""
    last = net.n_layers - 1
    name, slope = net.activations[last], net.spec()["leaky_relu_slopes"][last]
    sop, predicted, n = values["sops"][last], values["outputs"][last], len(targets)
    with np.errstate(all="ignore"):
        g1 = LOSSES[net.loss_name][1](predicted, targets)
        g2 = softmax_jacobian(predicted) if name == "softmax" else \
            ACTIVATIONS[name][1](sop, predicted, slope)
    combined = (net.loss_name, name) in COMBINED
    g1, g2 = g1[:rows], g2[:rows]
    together = np.einsum("im,imj->ij", g1, g2) if name == "softmax" else g1 * g2
    return {"g1": g1.tolist(), "g2": g2.tolist(), "g1g2": together.tolist(),
            "g1_formula": f"({LOSSES[net.loss_name][2]}) / n",
            "g2_formula": ACTIVATIONS[name][2].format(slope=slope),
            "softmax": name == "softmax", "combined": combined, "n": n,
            "delta": values["deltas"][last][:rows].tolist()}


def paths(net: Network, values: dict[str, Any], inputs: np.ndarray, layer: int,
          source: int | None, to: int, rows: int) -> dict[str, Any]:
    """The gradient of ``weights[layer][source, to]`` (a bias: ``source`` None, g3 = 1) as the
    sum over the paths from it to the error, one neuron per layer above::

        dError/dW = sum over rows and over paths (to, k1, ..., m) of
            g1[m] * g2[m] * weights[L][k, m] * f'(sop[L-1][k]) * ... * f'(sop[layer][to]) * g3

    multiplied left to right in that order (after a softmax, or for a loss that combines with
    the output, ``g1[m] * g2[m]`` is the engine's ``dError/dSop[L][m]``, one factor). With more
    than :data:`MAX_PATHS` paths only their ``count`` is given. ``product``: each path's
    product on the first ``rows`` rows; ``total``: summed over every row; ``sum``: of the
    totals, the gradient (up to rounding). Through dropout each hidden ``f'`` is multiplied by
    its mask factor ``mask / (1 - p)`` (``mask_factors``: the weight's own neuron's, then each
    layer's above, None where there is no dropout); through normalisation a path has no
    product of its own (its backward pass mixes the batch's rows or the layer's neurons):
    ``normalised`` is then True and no products are given."""
    last = net.n_layers - 1
    widths = net.sizes[layer + 2:]
    count = int(np.prod(widths, dtype=np.int64)) if widths else 1
    out: dict[str, Any] = {"count": count, "limit": MAX_PATHS}
    kinds, rates = values.get("kinds") or [None] * (last + 1), values.get("rates") or \
        [0.0] * (last + 1)
    if any(kinds[layer:last]):
        return out | {"normalised": True}
    if count > MAX_PATHS:
        return out
    factors = [None if not rates[at] else values["masks"][at] / (1.0 - rates[at])
               for at in range(last + 1)]
    layer_input = inputs if layer == 0 else values["outputs"][layer - 1]
    g3 = np.ones(len(inputs)) if source is None else layer_input[:, source]
    grid = np.indices(widths).reshape(len(widths), -1) if widths else np.zeros((0, 1), int)
    neurons = np.vstack([np.full((1, count), to), grid])  # a row per layer, layer..last
    split = values["output_grads"][last] is not None and \
        net.activations[last] != "softmax"  # g1 and g2 apart, element-wise
    m = neurons[-1]
    if split:
        product = values["output_grads"][last][:, m] * values["derivatives"][last][:, m]
    else:
        product = values["deltas"][last][:, m].copy()
    for at in range(last, layer, -1):  # down from the output layer: w, f', the mask factor
        below = neurons[at - layer - 1]
        product = product * net.weights[at][below, neurons[at - layer]]
        product = product * values["derivatives"][at - 1][:, below]
        if factors[at - 1] is not None:  # one factor of its own, as the page shows it
            product = product * factors[at - 1][:, below]
    product = product * g3[:, None]
    total = product.sum(axis=0)
    out.update(neurons=neurons.T.tolist(), split=split, product=product[:rows].T.tolist(),
               total=total.tolist(), sum=float(total.sum()),
               g3=g3[:rows].tolist(),
               # f' of the weight's own neuron, then of each layer above (each under 64 wide)
               own_derivative=None if layer == last else
               values["derivatives"][layer][:rows, to].tolist(),
               derivatives=[values["derivatives"][at][:rows].tolist()
                            for at in range(layer + 1, last)],
               # the weights out of the weight's own neuron, then each layer's above
               own_weights=None if layer == last else net.weights[layer + 1][to].tolist(),
               weights=[net.weights[at].tolist() for at in range(layer + 2, last + 1)])
    if any(rates):
        out["mask_factors"] = [None if factors[at] is None else factors[at][:rows].tolist()
                               for at in range(layer, last)]
    return out


def _penalties(config: dict[str, Any], is_weight: bool, value: float) -> dict[str, Any]:
    """The penalties' terms added to a weight's gradient (biases have none): ``l2 * w`` and
    ``l1 * sign(w)`` (0 at w = 0, as the loop's ``add_l1`` takes it)."""
    l2 = config.get("l2", 0.0) or 0.0
    l1 = config.get("l1", 0.0) or 0.0
    return {"l2": {"l2": l2, "term": l2 * value if is_weight else 0.0},
            "l1": {"l1": l1, "sign": float(np.sign(value)),
                   "term": l1 * float(np.sign(value)) if is_weight else 0.0}}


def _clipping(net: Network, values: dict[str, Any], applied: dict[str, Any],
              penalised: float) -> dict[str, Any]:
    """The clipping of the step, for the parameter whose penalised gradient is
    ``penalised``: ``norm``, the global 2-norm of the whole penalised gradient (every weight,
    bias, gamma and beta, from the reference's values); ``factor = clip_norm / (norm + 1e-6)``
    where below 1 (else 1); then the clamp into ``[-clip_value, clip_value]``: ``gradient``,
    what the optimizer receives (``penalised`` itself without clipping; ``scaled``: after the
    factor, before the clamp)."""
    clip_norm, clip_value = applied.get("clip_norm"), applied.get("clip_value")
    out: dict[str, Any] = {"clip_norm": clip_norm, "clip_value": clip_value, "norm": None,
                           "factor": 1.0, "penalised": penalised, "gradient": penalised}
    if clip_norm is not None:
        l2, l1 = applied.get("l2") or 0.0, applied.get("l1") or 0.0
        squares = 0.0
        for weight, grad in zip(net.weights, values["weight_grads"]):
            full = grad + l2 * weight if l2 else grad
            full = full + l1 * np.sign(weight) if l1 else full
            squares += float(np.vdot(full, full))
        for key in ("bias_grads", "gamma_grads", "beta_grads"):
            squares += sum(float(np.vdot(g, g)) for g in values.get(key) or [] if g is not None)
        norm = float(np.sqrt(squares))
        factor = clip_norm / (norm + CLIP_EPSILON)
        out["norm"] = norm
        if factor < 1.0:
            out["factor"], out["gradient"] = factor, penalised * factor
    out["scaled"] = out["gradient"]  # after the norm's factor, before the clamp
    if clip_value is not None:
        out["gradient"] = float(np.clip(out["gradient"], -clip_value, clip_value))
    return out


def _relative(a: float, b: float) -> float:
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def _first_rows(explanation, rows: int) -> dict[str, Any]:
    """The explanation as the page shows it: per-row values cut to the batch's first ``rows``
    rows (its sums, computed before, cover every row), and each path of a hidden neuron's sum
    as its weight and the delta it leads to (the page shows no per-path products)."""
    data = _cut(explanation, rows) if explanation.inputs.shape[0] > rows \
        else explanation.to_dict()
    data.pop("dError_dSop")  # the same as the entry of "backward" it names
    for delta in data["backward"]:
        delta["paths"] = [{k: path[k] for k in ("to_neuron", "weight", "next")}
                          for path in delta["paths"]]
    return data


def _cut(explanation, rows: int) -> dict[str, Any]:
    per_row = explanation.per_sample_gradient[:rows]
    explanation.inputs, explanation.targets = (explanation.inputs[:rows],
                                               explanation.targets[:rows])
    explanation.sops = [values[:rows] for values in explanation.sops]
    explanation.outputs = [values[:rows] for values in explanation.outputs]
    explanation.zs = [values[:rows] for values in explanation.zs]
    explanation.activated = [values[:rows] for values in explanation.activated]
    explanation.masks = [None if mask is None else mask[:rows] for mask in explanation.masks]
    for delta in explanation.derivation:
        if delta.layer_terms is not None:
            delta.layer_terms.cut(rows)
        delta.value = delta.value[:rows]
        if delta.output_grad is not None:
            delta.output_grad = delta.output_grad[:rows]
        for factor in delta.factors:
            factor.value = factor.value[:rows]
        for path in delta.paths:
            path["product"] = path["product"][:rows]
    explanation.sop_weight_deriv.value = explanation.sop_weight_deriv.value[:rows]
    return explanation.to_dict() | {"per_sample_gradient": per_row.tolist()}

"""The chain of derivatives of one weight, as the page shows it: a part of
:class:`~chainrule.playground.session.Session`.

On the batch of the step on show (and with the weights that step started from): the forward
pass the weight depends on and the backward pass down to it (:func:`~chainrule.explain.explain`),
the check by finite differences (:func:`~chainrule.gradcheck.numerical_derivative`), the
gradient the engine used, and the optimizer's update of the weight (its own
:meth:`~chainrule.optimizers.Optimizer.terms`). A chain whose values would take more than
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
from .budget import MAX_STEP_BYTES, TooLarge, chain_bytes, size
from .inputs import whole

__all__ = ["SHOWN_SAMPLES", "Chains"]

#: Samples of a batch whose own values a chain shows (all samples count in its sums).
SHOWN_SAMPLES = 32


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
            parameters, inputs, targets = (self.net.flat_parameters(), self.data.X_train,
                                           self.data.Y_train)
            batch_note = ("no step taken yet: the gradient of a full-batch step from these "
                          "weights")
            record = None
        else:
            record = last["record"]
            parameters, inputs, targets = last["before"], record.inputs, record.targets
            batch_note = (f"update {self.position} (epoch {record.epoch + 1}, batch "
                          f"{record.batch + 1}): {len(record.rows)} "
                          f"{'row' if len(record.rows) == 1 else 'rows'}")
            if self.sample:
                batch_note += f", shown row by row (row {self.sample} of {len(record.rows)})"
        needed = chain_bytes(self.net.sizes, layer, len(inputs),
                             self.net.activation_functions[-1].couples_neurons)
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
            return self._chain(layer, to, source, parameters, inputs, targets, record,
                               batch_note)
        finally:
            if needed > 32 * 2**20:  # explain's values are held in reference cycles: free them
                gc.collect()
            if extra > 0 and self.budget is not None:
                self.budget.release(extra)

    def _chain(self, layer, to, source, parameters, inputs, targets, record,
               batch_note) -> dict[str, Any]:
        net = self._probe_at(parameters)
        weight = None if source is None else (source, to)
        bias = to if source is None else None
        explanation = explain(net, inputs, targets, layer, weight, bias=bias)
        explained = explanation.gradient
        numeric = numerical_derivative(net, inputs, targets, layer, weight, bias)
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
        out["incoming"] = {"weights": net.weights[layer][:, to].tolist(),
                           "bias": None if net.biases[layer] is None
                           else float(net.biases[layer][to])}
        out["shown_row"] = self.sample - 1 if self.sample else 0
        l2 = self.config["l2"] if source is not None else 0.0
        out["l2"] = {"l2": self.config["l2"], "term": l2 * value}
        if record is not None:
            used = float(record.weight_grads[layer][source, to] if source is not None
                         else record.bias_grads[layer][to])
            out["engine_gradient"] = used
            out["engine_relative_difference"] = _relative(explained + l2 * value, used)
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
    for delta in explanation.derivation:
        delta.value = delta.value[:rows]
        if delta.output_grad is not None:
            delta.output_grad = delta.output_grad[:rows]
        for factor in delta.factors:
            factor.value = factor.value[:rows]
        for path in delta.paths:
            path["product"] = path["product"][:rows]
    explanation.sop_weight_deriv.value = explanation.sop_weight_deriv.value[:rows]
    return explanation.to_dict() | {"per_sample_gradient": per_row.tolist()}

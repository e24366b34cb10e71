"""The text of an explained chain (:class:`chainrule.explain.Explanation`'s ``str()``).

The forward pass (with the parameter's own value, and its neuron's sop written out as the sum
of the weights and the bias feeding it), then the backward pass in the order a person derives
it, every number to :data:`DIGITS` significant digits; for a batch, each value per sample.
Every line that writes numbers out closes: the expression, recomputed from the digits shown,
gives the result shown (to those digits). Dropout and normalisation's lines:
:mod:`chainrule.explain_layers_text`.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from .explain_layers_text import layered_backward, layered_forward, layered_neuron
from .explain_numbers import DIGITS, SHOWN, fmt, neurons, signed

__all__ = ["explanation_text"]


def _what(e: Any) -> str:
    if e.kind in ("gamma", "beta"):
        what = f"the {e.kind} of neuron {e.to_neuron} of layer {e.layer}'s normalisation"
    elif e.from_neuron is None:
        what = f"the bias of neuron {e.to_neuron} of layer {e.layer}"
    else:
        source = "input x" if e.layer == 0 else f"output[{e.layer - 1}]"
        what = (f"the weight from {source}[{e.from_neuron}] to neuron {e.to_neuron} "
                f"of layer {e.layer}")
    if e.value is not None:
        what += f", whose value is {e.value:.{DIGITS}g}"
    return what


def explanation_text(e: Any) -> str:
    """The whole chain of ``e``, an :class:`~chainrule.explain.Explanation`, as text."""
    last = len(e.sops) - 1
    n = e.inputs.shape[0]
    batch = "one sample" if n == 1 else f"a batch of {n} samples: each value is per sample"
    legend = textwrap.fill(
        f"Legend: layer l is the neurons weights[l] feeds (layer 0 takes the inputs x, "
        f"layer {last} is the output layer); weights[l][i, j] joins input i of layer l to "
        "its neuron j. g1 = dError/dPredicted, g2 = dPredicted/dSop, g3 = dSop/dWeight. "
        f"Numbers to {DIGITS} significant digits; {batch}. The error is the mean over the "
        f"n samples (here n = {n}): its 1/n enters once, in g1 (or in g1 * g2 where the "
        "two combine) at the output layer, so every dError/dSop below carries it, and the "
        "gradient is the sum over the samples of dError/dSop * g3.", width=100)
    lines = [f"dError/d{e.parameter}: {_what(e)}", "", legend, "", "Forward pass",
             f"  x = {fmt(e.inputs.T if n > 1 else e.inputs[0])}"]
    for at, (sop, output) in enumerate(zip(e.sops, e.outputs)):
        source = "x" if at == 0 else f"output[{at - 1}]"
        name = "predicted" if at == last else f"output[{at}]"
        kind = "output layer, " if at == last else ""
        plus = f" + biases[{at}]" if not e.bias or e.bias[at] else ""
        layered = bool(e.kinds and (e.kinds[at] or e.rates[at]))
        extra = layered_forward(e, at) if layered else []
        lines.append(f"  layer {at} ({kind}{e.activations[at]}{extra[0] if extra else ''}): "
                     f"sop[{at}] = {source} @ weights[{at}]{plus} = {neurons(sop)}")
        if layered:
            lines += extra[1:]
        else:
            lines.append(f"      {name} = {e.activations[at]}(sop[{at}]) = {neurons(output)}")
        if at == e.layer:
            lines += _neuron_lines(e)
    lines.append(f"  target = {neurons(e.targets)}; error ({e.loss}) = {e.error:.{DIGITS}g}")
    lines += ["", "Backward pass, from the error down to the parameter"]
    for delta in e.derivation:
        lines += _describe(delta, last)
    factor = e.sop_weight_deriv
    lines.append(f"  g3 = {factor.line()}")
    lines.append("")
    chained = "dZ" if e.kind in ("gamma", "beta") else "dSop"
    product = f"dError/{chained}[{e.layer}][{e.to_neuron}] * g3"
    if n == 1:
        lines.append(f"gradient = {product} = {fmt(e.chain_grad)} * "
                     f"{fmt(factor.value)} = {e.gradient:.{DIGITS}g}")
    else:
        terms = " + ".join(signed(t) for t in e.terms[:SHOWN])
        more = f" + ... ({n} terms)" if n > SHOWN else ""
        lines.append(f"gradient = sum over the samples of {product}")
        lines.append(f"         = {terms}{more} = {e.gradient:.{DIGITS}g}")
    return "\n".join(lines)


def _neuron_lines(e: Any) -> list[str]:
    """The forward pass of the parameter's own neuron ``j`` of layer ``l``: the weights
    ``weights[l][:, j]`` and the bias feeding it, ``sop[l][j] = sum over i of input[i] *
    weights[l][i, j] + biases[l][j]`` written out (with its numbers, for one sample), and its
    output ``f(sop[l][j])`` (through normalisation and dropout: see
    :func:`~chainrule.explain_layers_text.layered_neuron`)."""
    if e.incoming is None:
        return []
    at, j, last = e.layer, e.to_neuron, len(e.sops) - 1
    source = "x" if at == 0 else f"output[{at - 1}]"
    layer_input = e.inputs if at == 0 else e.outputs[at - 1]
    weights = np.asarray(e.incoming, dtype=float)
    has_bias = e.incoming_bias is not None
    if e.kind in ("gamma", "beta"):
        role = f"whose {e.kind} is explained ({e.parameter} = {e.value:.{DIGITS}g})"
    elif e.from_neuron is None:
        role = f"whose bias is explained (biases[{at}][{j}] = {e.incoming_bias:.{DIGITS}g})"
    else:
        role = (f"which the weight explained feeds (weights[{at}][{e.from_neuron}, {j}] = "
                f"{weights[e.from_neuron]:.{DIGITS}g})")
    shown = fmt(weights) if len(weights) > 1 else f"[{fmt(weights)}]"
    feeding = f"weights[{at}][:, {j}] = {shown}" + (
        f"; biases[{at}][{j}] = {e.incoming_bias:.{DIGITS}g}" if has_bias else "; no bias")
    names = [f"{source}[{i}] * weights[{at}][{i}, {j}]" for i in range(len(weights))]
    if len(names) > SHOWN:
        names = [*names[:SHOWN - 1], "...", names[-1]]
    bias_name = f" + biases[{at}][{j}]" if has_bias else ""
    sop = e.sops[at][:, j]
    lines = [f"    neuron {j} of layer {at}, {role}:", f"      {feeding}",
             f"      sop[{at}][{j}] = {' + '.join(names)}{bias_name}"]
    if len(sop) == 1 and len(weights) <= SHOWN:
        products = " + ".join(f"{signed(x)} * {signed(w)}"
                              for x, w in zip(layer_input[0], weights))
        bias_value = f" + {signed(e.incoming_bias)}" if has_bias else ""
        lines.append(f"          = {products}{bias_value} = {fmt(sop)}")
    else:
        lines.append(f"          = {fmt(sop)}")
    terms = e.delta.layer_terms
    if terms is not None:
        return lines + layered_neuron(e, terms)
    name = f"predicted[{j}]" if at == last else f"output[{at}][{j}]"
    lines.append(f"      {name} = {e.activations[at]}(sop[{at}][{j}]) = "
                 f"{fmt(e.outputs[at][:, j])}")
    return lines


def _describe(delta: Any, last: int) -> list[str]:
    """One neuron's dError/dSop, as a person derives it."""
    where = "output layer" if delta.layer == last else "layer"
    name = f"dError/dSop[{delta.layer}][{delta.neuron}]"
    lines = [f"  {where} {delta.layer}, neuron {delta.neuron}:"]
    if delta.output_grad is None:  # the output layer
        for factor in delta.factors:
            lines.append(f"    {factor.line()}")
        if len(delta.factors) == 2 and delta.factors[0].name.endswith("every output m"):
            lines.append(f"    {name} = sum over the outputs m of g1[m] * g2[m] = "
                         f"{fmt(delta.value)}")
        elif len(delta.factors) == 2:
            lines.append(f"    {name} = g1 * g2 = {fmt(delta.value)}")
        return lines
    terms = " + ".join(f"{p['weight']:.{DIGITS}g} * {fmt(p['next'].value)}"
                       for p in delta.paths[:SHOWN])
    more = f" + ... ({len(delta.paths)} terms)" if len(delta.paths) > SHOWN else ""
    lines.append(f"    dError/dOutput[{delta.layer}][{delta.neuron}] = sum over k of "
                 f"weights[{delta.layer + 1}][{delta.neuron}, k] * "
                 f"dError/dSop[{delta.layer + 1}][k]")
    lines.append(f"        = {terms}{more} = {fmt(delta.output_grad)}")
    if delta.layer_terms is not None:
        return lines + layered_backward(delta)
    factor = delta.factors[0]
    lines.append(f"    {factor.line()}")
    lines.append(f"    {name} = dError/dOutput * dOutput/dSop = {fmt(delta.value)}")
    return lines

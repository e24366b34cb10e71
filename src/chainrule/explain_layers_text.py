"""The lines of an explained chain through dropout and normalisation (see
:mod:`chainrule.explain_layers` for the maths): each value per sample, then the same line
written out with the numbers of sample 0 (a group's sum written out over its members: the
batch's samples for batch norm, sample 0's neurons for layer norm), closing to the value shown.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .explain_layers import EPS
from .explain_numbers import DIGITS, SHOWN, fmt, neurons, signed

__all__ = ["layered_backward", "layered_forward", "layered_neuron"]

_KINDS = {"batch": "batch normalisation", "layer": "layer normalisation"}
_GROUPS = {"batch": "over the batch's samples", "layer": "over the layer's neurons, per sample"}


def _first(values: Any) -> float:
    """Sample 0's value (a group's statistic of batch norm is one number for all samples)."""
    values = np.asarray(values, dtype=float)
    return float(values if values.ndim == 0 else values[0])


def _out(indent: str, expression: str, result: Any, sample: bool = True) -> str:
    """A line written out with numbers: ``(sample 0) = expression = result``."""
    label = "(sample 0) " if sample else ""
    return f"{indent}{label}= {expression} = {signed(result).strip('()')}"


def _sum(values: np.ndarray) -> str | None:
    """``a + b + ...`` of a group's members, or None when there are too many to write out."""
    if len(values) > SHOWN:
        return None
    return " + ".join(signed(v) for v in values)


def layered_forward(e: Any, at: int) -> list[str]:
    """The layer's title suffix, then its lines after the sop: z (normalised), the activation,
    the dropout mask and the output."""
    kind, rate, act = e.kinds[at], e.rates[at], e.activations[at]
    suffix = (f", {_KINDS[kind]}" if kind else "") + (f", dropout {rate:g}" if rate else "")
    lines = [suffix]
    z = f"sop[{at}]"
    if kind:
        z = f"z[{at}]"
        lines.append(f"      z[{at}] = gammas[{at}] * (sop[{at}] - mean) / sqrt(var + {EPS:g}) "
                     f"+ betas[{at}] = {neurons(e.zs[at])}   (mean, var {_GROUPS[kind]})")
    if rate:
        lines.append(f"      activated[{at}] = {act}({z}) = {neurons(e.activated[at])}")
        lines.append(f"      mask[{at}] = {neurons(e.masks[at])}   (1: kept, 0: dropped)")
        lines.append(f"      output[{at}] = activated[{at}] * mask[{at}] / (1 - {rate:g}) = "
                     f"{neurons(e.outputs[at])}")
    else:
        lines.append(f"      output[{at}] = {act}({z}) = {neurons(e.outputs[at])}")
    return lines


def layered_neuron(e: Any, terms: Any) -> list[str]:
    """The explained neuron's normalisation (mean, var, std, xhat, gamma, beta, z), its
    activation and its dropout mask factor, each written out for sample 0."""
    at, j, norm = e.layer, e.to_neuron, terms.norm
    act = e.activations[at]
    pad, lines = "          ", []
    z = f"sop[{at}][{j}]"
    if norm is not None:
        z = f"z[{at}][{j}]"
        sample = norm.per_sample_stats
        m, mean, var, std = norm.size, _first(norm.mean), _first(norm.var), _first(norm.std)
        lines.append(f"      {_KINDS[norm.kind]} {_GROUPS[norm.kind]} (M = {m} values):")
        lines.append(f"      mean = sum of sop / M = {fmt(norm.mean)}")
        written = _sum(norm.group_sop)
        if written is not None:
            lines.append(_out(pad, f"({written}) / {m}", mean, sample))
            squares = " + ".join(f"({signed(s)} - {signed(mean)})^2" for s in norm.group_sop)
            lines.append(f"      var = sum of (sop - mean)^2 / M = {fmt(norm.var)}")
            lines.append(_out(pad, f"({squares}) / {m}", var, sample))
        else:
            lines.append(f"      var = sum of (sop - mean)^2 / M = {fmt(norm.var)}")
        lines.append(f"      std = sqrt(var + {EPS:g}) = {fmt(norm.std)}")
        lines.append(_out(pad, f"sqrt({signed(var)} + {EPS:g})", std, sample))
        sop0 = e.sops[at][0, j]
        lines.append(f"      xhat[{at}][{j}] = (sop - mean) / std = {fmt(norm.xhat)}")
        lines.append(_out(pad, f"({signed(sop0)} - {signed(mean)}) / {signed(std)}",
                          norm.xhat[0]))
        lines.append(f"      {z} = gammas[{at}][{j}] * xhat + betas[{at}][{j}], gamma = "
                     f"{norm.gamma:.{DIGITS}g}, beta = {norm.beta:.{DIGITS}g}: {fmt(norm.z)}")
        lines.append(_out(pad, f"{signed(norm.gamma)} * {signed(norm.xhat[0])} + "
                          f"{signed(norm.beta)}", norm.z[0]))
    if terms.mask is None:
        lines.append(f"      output[{at}][{j}] = {act}({z}) = {fmt(e.outputs[at][:, j])}")
        return lines
    lines.append(f"      activated[{at}][{j}] = {act}({z}) = {fmt(terms.activated)}")
    lines.append(f"      mask[{at}][:, {j}] = {fmt(terms.mask)}: its factor mask / (1 - "
                 f"{terms.rate:g}) = {fmt(terms.mask_factor)} (0: dropped, "
                 f"1 / (1 - p) = {1.0 / (1.0 - terms.rate):.{DIGITS}g}: kept)")
    lines.append(f"      output[{at}][{j}] = activated * mask / (1 - p) = "
                 f"{fmt(e.outputs[at][:, j])}")
    lines.append(_out(pad, f"{signed(terms.activated[0])} * {signed(terms.mask_factor[0])}",
                      e.outputs[at][0, j]))
    return lines


def layered_backward(delta: Any) -> list[str]:
    """From ``dError/dOutput`` of a hidden neuron to its ``dError/dSop``: through the mask
    factor, ``f'(z)`` and normalisation's backward terms, each written out for sample 0."""
    t, at, j = delta.layer_terms, delta.layer, delta.neuron
    pad, norm, lines = "        ", delta.layer_terms.norm, []
    into = "dError/dOutput"
    if t.mask is not None:
        lines.append(f"    dOutput/dActivated = mask[{at}][:, {j}] / (1 - {t.rate:g}) = "
                     f"{fmt(t.mask_factor)}")
        lines.append(f"    dError/dActivated[{at}][{j}] = dError/dOutput * mask / (1 - p) = "
                     f"{fmt(t.activated_grad)}")
        lines.append(_out(pad, f"{signed(delta.output_grad[0])} * {signed(t.mask_factor[0])}",
                          t.activated_grad[0]))
        into = "dError/dActivated"
    factor = delta.factors[0]
    lines.append(f"    {factor.line()}")
    z = "dZ" if norm is not None else "dSop"
    lines.append(f"    dError/{z}[{at}][{j}] = {into} * {factor.name} = {fmt(t.z_grad)}")
    lines.append(_out(pad, f"{signed(t.activated_grad[0])} * {signed(t.derivative[0])}",
                      t.z_grad[0]))
    if norm is None:
        return lines
    return lines + _norm_backward(norm, at, j, delta.value, t.z_grad, pad)


def _norm_backward(norm: Any, at: int, j: int, value: np.ndarray, z_grad: np.ndarray,
                   pad: str) -> list[str]:
    """dxhat, dvar, dmean and dsop with their numbers (``value``: the reference's delta,
    ``z_grad``: dError/dZ)."""
    sample, m = norm.per_sample_stats, norm.size
    std, dvar, dmean = _first(norm.std), _first(norm.dvar), _first(norm.dmean)
    lines = [f"    {_KINDS[norm.kind]}'s backward pass (sums {_GROUPS[norm.kind]}, M = {m}; "
             f"std = {fmt(norm.std)}):",
             f"    dError/dXhat = dError/dZ * gammas[{at}][{j}] = {fmt(norm.dxhat)}",
             _out(pad, f"{signed(z_grad[0])} * {signed(norm.gamma)}", norm.dxhat[0]),
             f"    sop - mean = xhat * std = {fmt(norm.centred)}",
             f"    sum(dError/dXhat * (sop - mean)) = {fmt(norm.sum_dxhat_centred)}"]
    if len(norm.group_dxhat) <= SHOWN:
        products = " + ".join(f"{signed(d)} * {signed(c)}"
                              for d, c in zip(norm.group_dxhat, norm.group_centred))
        lines.append(_out(pad, products, _first(norm.sum_dxhat_centred), sample))
    lines.append(f"    dError/dVar = sum(dError/dXhat * (sop - mean)) * (-1/2) / std^3 = "
                 f"{fmt(norm.dvar)}")
    lines.append(_out(pad, f"{signed(_first(norm.sum_dxhat_centred))} * (-0.5) / "
                      f"{signed(std)}^3", dvar, sample))
    for name, total, members in (("dError/dXhat", norm.sum_dxhat, norm.group_dxhat),
                                 ("sop - mean", norm.sum_centred, norm.group_centred)):
        lines.append(f"    sum({name}) = {fmt(total)}")
        written = _sum(members)
        if written is not None:
            lines.append(_out(pad, written, _first(total), sample))
    lines.append("    dError/dMean = -sum(dError/dXhat) / std + dError/dVar * (-2) * "
                 f"sum(sop - mean) / M = {fmt(norm.dmean)}")
    lines.append(_out(pad, f"-{signed(_first(norm.sum_dxhat))} / {signed(std)} + "
                      f"{signed(dvar)} * (-2) * {signed(_first(norm.sum_centred))} / {m}",
                      dmean, sample))
    lines.append(f"    dError/dSop[{at}][{j}] = dError/dXhat / std + dError/dVar * 2 * "
                 f"(sop - mean) / M + dError/dMean / M = {fmt(value)}")
    lines.append(_out(pad, f"{signed(norm.dxhat[0])} / {signed(std)} + {signed(dvar)} * 2 * "
                      f"{signed(norm.centred[0])} / {m} + {signed(dmean)} / {m}", value[0]))
    if norm.kind == "batch" and m == 1:
        lines.append("    (a batch of one sample: its mean is its sop, so xhat = 0 and no "
                     "gradient reaches the sop through batch normalisation)")
    return lines

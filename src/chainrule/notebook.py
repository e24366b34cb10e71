"""HTML for Jupyter: how a network, a training history and an explanation show in a notebook.

Jupyter calls an object's ``_repr_html_``; :class:`~chainrule.network.Network`,
:class:`~chainrule.history.History` and :class:`~chainrule.explain.Explanation` each have one
that calls a function here. The page is self-contained: a table or two and, for a history, its
curves as an inline SVG drawn from the numbers (a polyline per curve, the epoch on x, the value
scaled into the plot's box on y). No script, no style sheet, nothing loaded from elsewhere.

This module sits on the bottom floor and imports nothing of chainrule: it reads the attributes
the three classes have (``sizes``, ``activations``, ``history``, ``derivation``, ...), so every
floor may call it. Every value that reaches the HTML goes through :func:`html.escape`.
Numbers show to :data:`DIGITS` significant digits; the exact value is each one's tooltip.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["DIGITS", "explanation_html", "history_html", "network_html"]

DIGITS = 6  # significant digits shown; the tooltip holds the exact value
_SHOWN = 8  # per-sample values shown in one cell before the rest is counted
_WIDTH, _HEIGHT, _MARGIN = 320, 140, 52  # the SVG plot, in pixels
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
_TABLE = 'style="border-collapse:collapse;font-family:monospace;font-size:12px"'
_CELL = 'style="border:1px solid #ccc;padding:2px 6px;text-align:left"'


def _e(value: Any) -> str:
    """Any value as escaped text."""
    return html.escape(str(value), quote=True)


def number(value: Any) -> str:
    """One number to DIGITS significant digits in a ``<span>`` whose title is its exact repr."""
    value = float(value)
    return f'<span title="{_e(repr(value))}">{_e(f"{value:.{DIGITS}g}")}</span>'


def numbers(values: Any) -> str:
    """A number, or a per-sample list of numbers (the first _SHOWN, then a count)."""
    values = np.asarray(values, dtype=float)
    if values.size == 1:
        return number(values.ravel()[0])
    flat = values.ravel()
    shown = ", ".join(number(v) for v in flat[:_SHOWN])
    more = f", … ({_e(flat.size)} values)" if flat.size > _SHOWN else ""
    return f"[{shown}{more}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table of cells already made HTML (each escaped where it was made)."""
    head = "".join(f"<th {_CELL}>{cell}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td {_CELL}>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table {_TABLE}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def network_html(net: Any) -> str:
    """A network's architecture: one row per layer (its sizes, activation, has_bias, and its
    parameters ``inputs · neurons + neurons`` with a bias), the loss and the total count."""
    rows = []
    for at in range(len(net.sizes) - 1):
        n_in, n_out, has_bias = net.sizes[at], net.sizes[at + 1], net.has_bias[at]
        rows.append([_e(at), _e(f"{n_in} → {n_out}"), _e(net.activations[at]), _e(has_bias),
                     _e(n_in * n_out + (n_out if has_bias else 0))])
    title = (f"<b>{_e(type(net).__name__)}</b> {_e(list(net.sizes))} · loss "
             f"<code>{_e(net.loss_name)}</code> · {_e(net.n_parameters)} parameters · "
             f"{_e(net.dtype)}")
    return (f"<div>{title}"
            + _table(["layer", "inputs → neurons", "activation", "has_bias", "parameters"], rows)
            + "</div>")


def _finite_points(values: Sequence[float]) -> list[tuple[int, float]]:
    """``(epoch, value)`` of the finite values (a diverged epoch's inf or nan is left out)."""
    return [(at + 1, float(v)) for at, v in enumerate(values) if math.isfinite(float(v))]


def _thinned(points: list[tuple[int, float]], columns: int) -> list[tuple[int, float]]:
    """At most two points per pixel column: each column's lowest and highest value, in epoch
    order (a long run stays small, and a spike stays visible)."""
    if len(points) <= 2 * columns:
        return points
    buckets: dict[int, list[tuple[int, float]]] = {}
    first, span = points[0][0], max(points[-1][0] - points[0][0], 1)
    for point in points:
        buckets.setdefault(int((point[0] - first) / span * (columns - 1)), []).append(point)
    kept = []
    for bucket in buckets.values():
        low, high = min(bucket, key=lambda p: p[1]), max(bucket, key=lambda p: p[1])
        kept += sorted({low, high})
    return kept


def svg_curves(curves: dict[str, Sequence[float]], title: str) -> str:
    """One SVG plot of several curves against the epoch (1..n): each a polyline of its finite
    values (at most two a pixel column), x = margin + (epoch − 1) / (n − 1) · width, y from the
    lowest value (bottom) to the highest (top) of all the curves; the range's ends labelled, a
    legend below the box."""
    points = {name: _thinned(_finite_points(values), _WIDTH)
              for name, values in curves.items()}
    every = [v for found in points.values() for _, v in found]
    if not every:
        return ""
    epochs = max(len(values) for values in curves.values())
    low, high = min(every), max(every)
    span = (high - low) or (abs(high) or 1.0)

    def x(epoch: int) -> float:
        return _MARGIN + (epoch - 1) / max(epochs - 1, 1) * _WIDTH

    def y(value: float) -> float:
        return 10 + (high - value) / span * _HEIGHT

    parts = [f'<rect x="{_MARGIN}" y="10" width="{_WIDTH}" height="{_HEIGHT}" fill="none" '
             'stroke="#999"/>',
             f'<text x="2" y="16" font-size="10">{_e(f"{high:.3g}")}</text>',
             f'<text x="2" y="{10 + _HEIGHT}" font-size="10">{_e(f"{low:.3g}")}</text>',
             f'<text x="{_MARGIN}" y="{_HEIGHT + 24}" font-size="10">epoch 1</text>',
             f'<text x="{_MARGIN + _WIDTH - 50}" y="{_HEIGHT + 24}" font-size="10">'
             f'epoch {_e(epochs)}</text>']
    legend_y = _HEIGHT + 40
    for at, (name, found) in enumerate(points.items()):
        colour = _COLOURS[at % len(_COLOURS)]
        line = " ".join(f"{x(epoch):.1f},{y(value):.1f}" for epoch, value in found)
        if len(found) == 1:
            epoch, value = found[0]
            parts.append(f'<circle cx="{x(epoch):.1f}" cy="{y(value):.1f}" r="2.5" '
                         f'fill="{colour}"/>')
        elif found:
            parts.append(f'<polyline points="{_e(line)}" fill="none" stroke="{colour}" '
                         'stroke-width="1.5"/>')
        parts.append(f'<text x="{_MARGIN + 110 * at}" y="{legend_y}" font-size="11" '
                     f'fill="{colour}">— {_e(name)}</text>')
    height = legend_y + 6
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH + _MARGIN + 10}" '
            f'height="{height}" role="img" aria-label="{_e(title)}">'
            f'<title>{_e(title)}</title>' + "".join(parts) + "</svg>")


def history_html(history: Any) -> str:
    """A training history: the loss per epoch (and validation loss) as one SVG plot, the
    accuracy (and validation accuracy) as another where recorded, and the last epoch's
    records as a table."""
    records = history.history
    summary = (f"<b>History</b>: {_e(history.epochs)} epochs, {_e(history.updates)} updates"
               + (f"; stopped: {_e(history.stopped_reason)}" if history.stopped_reason else ""))
    if not history.epochs:
        return f"<div>{summary}; nothing recorded yet.</div>"
    plots = []
    for keys, title in ((("loss", "val_loss"), "loss per epoch"),
                        (("accuracy", "val_accuracy"), "accuracy per epoch")):
        curves = {key: records[key] for key in keys if records.get(key)}
        if curves:
            plots.append(svg_curves(curves, title))
    last = [[_e(key), number(values[-1])] for key, values in records.items()
            if values and key != "time"]
    table = _table([f"epoch {_e(history.epochs)}", "value"], last)
    return (f"<div>{summary}<div style=\"display:flex;flex-wrap:wrap;gap:8px\">"
            + "".join(plots) + f"</div>{table}</div>")


def _factor_rows(factors: Sequence[Any]) -> list[list[str]]:
    return [[_e(f.name), f"<code>{_e(f.formula)}</code>", numbers(f.value)] for f in factors]


def _delta_html(delta: Any, last: int) -> str:
    """One neuron's dError/dSop: its factors, then how they make it (g1 · g2 at the output
    layer; at a hidden neuron, the sum over k of weight · dError/dSop one layer up, times
    dOutput/dSop)."""
    name = f"dError/dSop[{delta.layer}][{delta.neuron}]"
    where = "output layer" if delta.layer == last else "layer"
    rows = []
    if delta.output_grad is not None:
        terms = " + ".join(f"{number(p['weight'])} · {numbers(p['next'].value)}"
                           for p in delta.paths[:_SHOWN])
        more = f" + … ({_e(len(delta.paths))} terms)" if len(delta.paths) > _SHOWN else ""
        rows.append([_e(f"dError/dOutput[{delta.layer}][{delta.neuron}]"),
                     _e(f"sum over k of weights[{delta.layer + 1}][{delta.neuron}, k] · "
                        f"dError/dSop[{delta.layer + 1}][k]"),
                     f"{terms}{more} = {numbers(delta.output_grad)}"])
    rows += _factor_rows(delta.factors)
    if delta.output_grad is not None:
        product = "dError/dOutput · dOutput/dSop"
    elif len(delta.factors) == 1:
        product = "g1 · g2 combined"
    elif delta.factors[0].name.endswith("every output m"):
        product = "sum over the outputs m of g1[m] · g2[m]"
    else:
        product = "g1 · g2"
    rows.append([f"<b>{_e(name)}</b>", _e(product), f"<b>{numbers(delta.value)}</b>"])
    return (f"<div><i>{_e(where)} {_e(delta.layer)}, neuron {_e(delta.neuron)}</i>"
            + _table(["factor", "formula", "value"], rows) + "</div>")


def _incoming(explanation: Any) -> str:
    """The weights (and bias) feeding the parameter's neuron, where the explanation has them."""
    weights = getattr(explanation, "incoming", None)
    if weights is None:
        return ""
    source = "x" if explanation.layer == 0 else f"output[{explanation.layer - 1}]"
    name = f"weights[{explanation.layer}][:, {explanation.to_neuron}]"
    bias = getattr(explanation, "incoming_bias", None)
    bias_name = f"biases[{explanation.layer}][{explanation.to_neuron}]"
    plus = f"; {_e(bias_name)} = {number(bias)}" if bias is not None else ""
    return (f"<p>Neuron {_e(explanation.to_neuron)} of layer {_e(explanation.layer)}: "
            f"sop = {_e(source)} @ {_e(name)}{_e(' + ' + bias_name) if bias is not None else ''}"
            f", with {_e(name)} = {numbers(weights)}{plus}</p>")


def _lines_html(lines: list[str] | None) -> str:
    """Lines of the text form (through dropout and normalisation), escaped, as they print."""
    return f"<pre>{_e(chr(10).join(line.strip() for line in lines))}</pre>" if lines else ""


def explanation_html(explanation: Any, forward_lines: dict | None = None,
                     backward_lines: dict | None = None) -> str:
    """An explanation's chain as the playground shows it: the parameter with its value (where
    the explanation has it) and the weights feeding its neuron, each neuron's dError/dSop from
    the output layer down with its factors, g3 = dSop/dW, and the gradient = dError/dSop · g3
    (summed over the samples of a batch). ``forward_lines`` (by layer) and ``backward_lines``
    (by ``(layer, neuron)``): the text's lines through dropout and normalisation, shown under
    the forward pass and in their neuron's dError/dSop."""
    last = len(explanation.sops) - 1
    n = explanation.inputs.shape[0]
    value = getattr(explanation, "value", None)
    own = (f" · its value {_e(explanation.parameter)} = {number(value)}"
           if value is not None else "")
    head = (f"<b>dError/d{_e(explanation.parameter)}</b>{own} · loss "
            f"<code>{_e(explanation.loss)}</code> · error {number(explanation.error)} · "
            + _e("one sample" if n == 1 else f"a batch of {n} samples (values per sample; "
                 "each dError/dSop carries the batch's 1/n)"))
    forward = [[_e(f"layer {at} ({explanation.activations[at]})"), numbers(sop),
                numbers(output)]
               for at, (sop, output) in enumerate(zip(explanation.sops, explanation.outputs))]
    forward.append([_e("target"), "", numbers(explanation.targets)])
    backward_lines = backward_lines or {}
    deltas = "".join(_delta_html(delta, last)
                     + _lines_html(backward_lines.get((delta.layer, delta.neuron)))
                     for delta in explanation.derivation)
    through = "".join(f"<p>{_e(f'layer {at}, through its layers')}</p>{_lines_html(lines)}"
                      for at, lines in (forward_lines or {}).items())
    g3 = explanation.sop_weight_deriv
    product = (f"{numbers(explanation.delta.value)} · {numbers(g3.value)}" if n == 1
               else "sum over the samples of dError/dSop · g3")
    gradient = _table(["", "formula", "value"], [
        [_e(f"g3 = {g3.name}"), f"<code>{_e(g3.formula)}</code>", numbers(g3.value)],
        ["<b>gradient</b>", _e(f"dError/dSop[{explanation.layer}][{explanation.to_neuron}] · g3"),
         f"{product} = <b>{number(explanation.gradient)}</b>"]])
    return (f"<div>{head}<p>Forward pass</p>"
            + _table(["layer", "sop", "output (predicted at the last layer)"], forward)
            + through + _incoming(explanation)
            + f"<p>Backward pass, from the error down</p>{deltas}<p>g3 and the gradient</p>"
            + gradient + "</div>")

// The chain of derivatives of one weight, as the server's explain() gave it. Every number is
// the engine's; the page lays them out and does no arithmetic on them.
import { full } from "./api.js";
import { html, setHtml } from "./html.js";

function num(key, value) {
  return html`<span class="num" data-key="${key}">${full(value)}</span>`;
}

// One sample's value of a per-sample list (a number when the batch has one sample).
function at(values, row) {
  if (!Array.isArray(values)) return values;
  return values.length > row ? values[row] : values[values.length - 1];
}

function show(values, row) {
  const v = at(values, row);
  return Array.isArray(v) ? `[${v.map(full).join(", ")}]` : full(v);
}

function factorLines(delta, row) {
  return delta.factors.map((f, k) => {
    const key = `factor:${delta.layer}:${delta.neuron}:${k}`;
    const value = Array.isArray(at(f.value, row))
      ? html`<span class="num" data-key="${key}">${show(f.value, row)}</span>` : num(key, at(f.value, row));
    return html`<div>${f.name} = <code>${f.formula}</code> = ${value}</div>`;
  });
}

function forwardRows(e, row, source) {
  const layer = e.layer, last = e.forward.layers.length - 1, target = e.forward.layers[layer];
  const rows = [];
  if (e.from_neuron !== null) rows.push(html`<tr><td>g3 = dSop[${layer}][${e.to_neuron}]/dW = ${source}[${e.from_neuron}]</td><td class="num">${num("g3", at(e.dSop_dWeight.value, row))}</td></tr>`);
  rows.push(html`<tr><td>sop[${layer}][${e.to_neuron}]</td><td class="num">${num(`sop:${layer}:${e.to_neuron}`, at(target.sop, row)[e.to_neuron])}</td></tr>`);
  rows.push(html`<tr><td>output[${layer}][${e.to_neuron}] = ${target.activation}(sop)</td><td class="num">${num(`output:${layer}:${e.to_neuron}`, at(target.output, row)[e.to_neuron])}</td></tr>`);
  const predicted = at(e.forward.predicted, row), wanted = at(e.forward.target, row);
  rows.push(html`<tr><td>predicted (output layer ${last})</td><td class="num">${predicted.map((v, k) => html`${k ? " " : ""}${num(`predicted:${k}`, v)}`)}</td></tr>`);
  rows.push(html`<tr><td>target</td><td class="num">${wanted.map((v, k) => html`${k ? " " : ""}${num(`target:${k}`, v)}`)}</td></tr>`);
  rows.push(html`<tr><td>error of the batch (${e.forward.loss})</td><td class="num">${num("error", e.forward.error)}</td></tr>`);
  return rows;
}

function backwardSteps(e, row) {
  const last = e.forward.layers.length - 1;
  return e.backward.map((d) => {
    const head = `dError/dSop[${d.layer}][${d.neuron}]`;
    if (d.layer === last) {
      return html`<div class="chain-step"><b>${head}</b> (output layer) = g1 · g2 = ${num(`delta:${d.layer}:${d.neuron}`, at(d.value, row))}${factorLines(d, row)}</div>`;
    }
    const paths = d.paths.map((p, k) => html`${k ? " + " : ""}weights[${d.layer + 1}][${d.neuron}, ${p.to_neuron}] ${num(`path:${d.layer}:${d.neuron}:${p.to_neuron}`, p.weight)} · dError/dSop[${d.layer + 1}][${p.to_neuron}]`);
    return html`<div class="chain-step"><b>${head}</b> = dError/dOutput · dOutput/dSop = ${num(`delta:${d.layer}:${d.neuron}`, at(d.value, row))}
      <div>dError/dOutput[${d.layer}][${d.neuron}] = Σ over the ${d.paths.length === 1 ? "1 path" : `${d.paths.length} paths`} through layer ${d.layer + 1}: ${paths} = ${num(`output_grad:${d.layer}:${d.neuron}`, at(d.dError_dOutput, row))}</div>${factorLines(d, row)}</div>`;
  });
}

function checks(chain, e, row) {
  const fdOk = chain.numerical_relative_difference < 1e-6;
  const out = [html`<div>finite differences (five-point, h = 1e-4): ${num("numerical", chain.numerical)}
    <span class="${fdOk ? "ok" : "bad"}">relative difference ${full(chain.numerical_relative_difference)}</span></div>`];
  if (chain.engine_gradient !== undefined) {
    const ok = chain.engine_relative_difference <= 1e-12;
    const l2 = chain.l2.term ? html` (with L2: + l2 · w = ${num("l2_term", chain.l2.term)})` : "";
    out.push(html`<div>the engine's gradient in this step${l2}: ${num("engine_gradient", chain.engine_gradient)}
      <span class="${ok ? "ok" : "bad"}">relative difference ${full(chain.engine_relative_difference)}</span></div>`);
  }
  if (chain.published_slip) {
    const slip = chain.published_slip;
    out.push(html`<div class="chain-step">The published Part 1 code takes g2 at the predicted value instead of the sop:
      sigmoid(predicted) · (1 − sigmoid(predicted)) = ${num("slip_g2", at(slip.g2, row))} where the right g2 is
      ${num("slip_right_g2", at(e.backward[0].factors[1]?.value, row))}; its gradient would be ${num("slip_gradient", slip.gradient)}
      (${full(slip.ratio)} × the right one). <code>chainrule tutorial --as-published</code> runs that code to the end.</div>`);
  }
  return out;
}

function update(chain) {
  if (!chain.update) return "";
  const u = chain.update;
  const settings = Object.entries(u.hyperparameters).map(([k, v]) => `${k} = ${full(v)}`).join(", ");
  return html`<h3>The update of this weight (${u.optimizer}${settings ? `, ${settings}` : ""})</h3>
    <table class="values"><tr><td>learning_rate</td><td></td><td class="num">${num("learning_rate", u.learning_rate)}</td></tr>
    <tr><td>g (gradient used)</td><td></td><td class="num">${num("update_gradient", u.gradient)}</td></tr>
    ${u.terms.map((t) => html`<tr><td>${t.name}</td><td><code>${t.formula}</code></td><td class="num">${num(`term:${t.name}`, t.value)}</td></tr>`)}
    <tr><td>the weight after the update (engine)</td><td></td><td class="num">${num("after", u.after)}</td></tr></table>`;
}

export function renderChain(element, chain, state, onEdit, onBias, chosenRow = null) {
  const e = chain.explanation, layer = e.layer;
  const rowsShown = Array.isArray(e.per_sample_gradient) ? e.per_sample_gradient.length : 1;
  const row = Math.min(chosenRow ?? chain.shown_row, rowsShown - 1);
  const isBias = e.from_neuron === null;
  const source = layer === 0 ? "x" : `output[${layer - 1}]`;
  const incoming = chain.incoming;
  const inputs = layer === 0 ? at(e.forward.x, row) : at(e.forward.layers[layer - 1].output, row);
  const neuronRows = incoming.weights.map((w, i) =>
    html`<tr><td>${source}[${i}]</td><td class="num">${num(`in:${i}`, inputs[i])}</td><td>weights[${layer}][${i}, ${e.to_neuron}]</td><td class="num">${num(`w:${i}`, w)}</td></tr>`);
  const n = chain.n_samples;
  const rowChoice = rowsShown > 1
    ? html`<label>show row <input id="chain-row" type="number" min="1" max="${rowsShown}" value="${row + 1}"></label>${n > rowsShown ? ` (the first ${rowsShown} rows can be shown)` : ""}` : "";
  setHtml(element, html`
    <div><b>dError/d${chain.parameter}</b>: ${chain.batch}; values of row ${row + 1}${n > 1 ? ` of ${n} (the gradient sums all rows)` : ""}.
      The weight was ${num("value", chain.value)} when the step began.
      ${rowChoice}</div>
    <h3>Forward pass</h3>
    <table class="values">${forwardRows(e, row, source)}</table>
    <details ${isBias ? html`open` : ""}><summary>neuron ${e.to_neuron} of layer ${layer}: sop = Σ input · weight + bias, output = f(sop)</summary>
      <div class="scroll"><table class="values"><tr><th>input</th><th></th><th>weight</th><th></th></tr>${neuronRows}
      <tr><td colspan="2">bias</td><td>biases[${layer}][${e.to_neuron}]</td><td class="num">${incoming.bias === null ? "none" : num("bias", incoming.bias)}</td></tr></table></div>
      ${incoming.bias !== null && !isBias ? html`<button id="chain-bias">chain of this neuron's bias</button>` : ""}
    </details>
    <h3>Backward pass, from the output layer down</h3>${backwardSteps(e, row)}
    <div class="chain-step"><b>dError/d${chain.parameter}</b> = dError/dSop[${layer}][${e.to_neuron}] · ${isBias ? "1" : "g3"}: this row's own gradient ${num("per_sample_term", at(e.per_sample_gradient, row))} (of its own error, without the batch's 1/n);
      ${n > 1 ? `the batch's gradient, the mean of its ${n} rows' gradients` : "the batch's gradient (it has this row alone)"}: <b>${num("gradient", chain.gradient)}</b></div>
    <h3>Checks</h3>${checks(chain, e, row)}
    ${update(chain)}
    <h3>Edit</h3>
    <label>set ${chain.parameter} to <input id="edit-value" type="text" value="${full(chain.update ? chain.update.after : chain.value)}"></label>
    <button id="edit-apply">set</button> <span class="note">training goes on from the edited value; the edit is part of the URL</span>`);
  element.querySelector("#edit-apply").onclick = () => {
    const value = Number(element.querySelector("#edit-value").value);
    onEdit(e.layer, e.from_neuron, e.to_neuron, value);
  };
  const rowInput = element.querySelector("#chain-row");
  if (rowInput) {
    rowInput.onchange = () => renderChain(element, chain, state, onEdit, onBias,
      Math.max(0, Math.min(rowsShown - 1, Number(rowInput.value) - 1)));
  }
  const biasButton = element.querySelector("#chain-bias");
  if (biasButton) biasButton.onclick = () => onBias(e.layer, e.to_neuron);
}

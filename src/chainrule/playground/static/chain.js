// The chain of derivatives of one weight, as the server's explain() gave it. Every number is
// the engine's; the page lays them out and does no arithmetic on them. Each line that
// multiplies or adds shown numbers says so in its data-check (the kind, the keys of its terms,
// the key of its result), so a test can recompute every line from the numbers on show.
import { full } from "./api.js";
import { layerBackward, layerForward } from "./chain-layers.js";
import { at, check, num } from "./chain-lines.js";
import { pathsSection } from "./chain-paths.js";
import { html, setHtml } from "./html.js";
import { applyPrecision } from "./precision.js";

function outputStep(chain, d, row) {
  const e = chain.explanation, o = chain.output_layer, j = d.neuron, L = d.layer;
  const head = `dError/dSop[${L}][${j}]`, delta = `delta:${L}:${j}`;
  const g1 = at(o.g1, row), g2 = at(o.g2, row), width = g1.length;
  const lines = [html`<div>g1 = dError/dPredicted = <code>${o.g1_formula}</code>, g2 = dPredicted/dSop = <code>${o.g2_formula}</code></div>`];
  if (o.softmax) {  // every output m depends on sop j: delta_j = Σ_m g1[m] · g2[m, j]
    const pairs = [], body = [];
    for (let m = 0; m < width; m++) {
      pairs.push(`g1:${m}*g2:${m}:${j}`);
      body.push(html`${m ? " + " : ""}${num(`g1:${m}`, g1[m])} · ${num(`g2:${m}:${j}`, g2[m][j])}`);
    }
    lines.push(check("dot", pairs, o.combined ? `g1g2:${j}` : delta,
      html`Σ over the outputs m of g1[m] · g2[m][${j}] = ${body} = ${num(o.combined ? `g1g2:${j}` : delta, o.combined ? at(o.g1g2, row)[j] : at(d.value, row))}`));
  } else {
    // explain's own factors when the engine multiplies g1 and g2 (keys factor:L:j:0 and :1)
    const k1 = o.combined ? `g1:${j}` : `factor:${L}:${j}:0`, k2 = o.combined ? `g2:${j}` : `factor:${L}:${j}:1`;
    lines.push(check("product", [k1, k2], o.combined ? `g1g2:${j}` : delta,
      html`g1 · g2 = ${num(k1, g1[j])} · ${num(k2, g2[j])} = ${num(o.combined ? `g1g2:${j}` : delta, o.combined ? at(o.g1g2, row)[j] : at(d.value, row))}`));
  }
  if (o.combined) {
    const p = at(e.forward.predicted, row)[j], t = at(e.forward.target, row)[j];
    lines.push(check("combined", [`predicted:${j}`, `target:${j}`, "n"], `factor:${L}:${j}:0`,
      html`combined (${e.forward.loss} with ${e.forward.layers[L].activation}, what the engine uses): g1 · g2 cancels to (predicted − target) · (1/n) = (${num(`predicted:${j}`, p)} − ${num(`target:${j}`, t)}) · (1/${num("n", o.n)}) = ${num(`factor:${L}:${j}:0`, at(d.value, row))}`));
  }
  return html`<div class="chain-step"><b>${head}</b> (output layer) = g1 · g2 = ${num(delta, at(d.value, row))}${lines}</div>`;
}

function hiddenStep(d, row, deltas) {
  const key = `${d.layer}:${d.neuron}`, pairs = [];
  const terms = d.paths.map((p, k) => {
    const next = `delta:${d.layer + 1}:${p.to_neuron}`;
    pairs.push(`path:${key}:${p.to_neuron}*${next}`);
    return html`${k ? " + " : ""}${num(`path:${key}:${p.to_neuron}`, p.weight)} · ${num(next, at(deltas[`${d.layer + 1}:${p.to_neuron}`], row))}`;
  });
  const f = d.factors[0], t = d.through_layer;
  const sum = check("dot", pairs, `output_grad:${key}`, html`dError/dOutput[${d.layer}][${d.neuron}] = Σ over the ${d.paths.length === 1 ? "1 neuron" : `${d.paths.length} neurons`} k of layer ${d.layer + 1}: weights[${d.layer + 1}][${d.neuron}, k] · dError/dSop[${d.layer + 1}][k] = ${terms} = ${num(`output_grad:${key}`, at(d.dError_dOutput, row))}`);
  if (t) {  // through dropout and normalisation (chain-layers.js)
    const through = [t.dropout ? "its dropout mask" : "", "its activation", t.normalization ? `its ${t.normalization.kind} normalisation` : ""].filter(Boolean).join(", ");
    return html`<div class="chain-step"><b>dError/dSop[${d.layer}][${d.neuron}]</b> = dError/dOutput, back through ${through} = ${num(`delta:${key}`, at(d.value, row))}
      ${sum}${layerBackward(d, row)}</div>`;
  }
  return html`<div class="chain-step"><b>dError/dSop[${d.layer}][${d.neuron}]</b> = dError/dOutput · dOutput/dSop = ${num(`delta:${key}`, at(d.value, row))}
    ${sum}
    <div>${f.name} = <code>${f.formula}</code> = ${num(`factor:${key}:0`, at(f.value, row))}</div>
    ${check("product", [`output_grad:${key}`, `factor:${key}:0`], `delta:${key}`, html`dError/dOutput · dOutput/dSop = ${num(`output_grad:${key}`, at(d.dError_dOutput, row))} · ${num(`factor:${key}:0`, at(f.value, row))} = ${num(`delta:${key}`, at(d.value, row))}`)}</div>`;
}

function backwardSteps(chain, row) {
  const e = chain.explanation, last = e.forward.layers.length - 1, deltas = {};
  for (const d of e.backward) deltas[`${d.layer}:${d.neuron}`] = d.value;
  return e.backward.map((d) => (d.layer === last ? outputStep(chain, d, row) : hiddenStep(d, row, deltas)));
}

function forwardRows(e, row, source) {
  const layer = e.layer, last = e.forward.layers.length - 1, target = e.forward.layers[layer];
  const rows = [];
  rows.push(html`<tr><td>sop[${layer}][${e.to_neuron}]</td><td class="num">${num(`sop:${layer}:${e.to_neuron}`, at(target.sop, row)[e.to_neuron])}</td></tr>`);
  const through = target.normalization || target.dropout ? html` (through ${[target.normalization && `${target.normalization} norm`, target.dropout && "dropout"].filter(Boolean).join(" and ")}, below)` : "";
  rows.push(html`<tr><td>output[${layer}][${e.to_neuron}] = ${target.activation}(${target.normalization ? "z" : "sop"})${through}</td><td class="num">${num(`output:${layer}:${e.to_neuron}`, at(target.output, row)[e.to_neuron])}</td></tr>`);
  const predicted = at(e.forward.predicted, row), wanted = at(e.forward.target, row);
  rows.push(html`<tr><td>predicted (output layer ${last})</td><td class="num">${predicted.map((v, k) => html`${k ? " " : ""}${num(`predicted:${k}`, v)}`)}</td></tr>`);
  rows.push(html`<tr><td>target</td><td class="num">${wanted.map((v, k) => html`${k ? " " : ""}${num(`target:${k}`, v)}`)}</td></tr>`);
  rows.push(html`<tr><td>error of the batch (${e.forward.loss}): the mean of its rows' errors</td><td class="num">${num("error", e.forward.error)}</td></tr>`);
  return rows;
}

// Whose dropout masks these are: the step's own (its training pass drew them), or those the
// next pass would draw (no step taken yet, or one the server did not watch).
function masksNote(chain) {
  if (chain.masks_of_step === undefined) return "";
  return html`<p class="note" id="masks-note">${chain.masks_of_step
    ? "The dropout masks are this step's own: the ones its training pass drew (a mask is a constant of the step, so the chain runs through it as a factor)."
    : "No step on show: the dropout masks are those the next training pass draws."}</p>`;
}

function gradientStep(chain, row, n, source) {
  const e = chain.explanation, isBias = e.from_neuron === null, delta = `delta:${e.layer}:${e.to_neuron}`;
  const g3 = html`g3 = dSop[${e.layer}][${e.to_neuron}]/d${isBias ? "Bias = 1" : `W = ${source}[${e.from_neuron}]`} = ${num("g3", at(e.dSop_dWeight.value, row))}`;
  const term = check("product", [delta, "g3"], "row_term", html`this row's term, dError/dSop[${e.layer}][${e.to_neuron}] · g3 = ${num(delta, at(e.backward.at(-1).value, row))} · ${num("g3", at(e.dSop_dWeight.value, row))} = ${num("row_term", at(chain.row_terms, row))}`);
  const terms = chain.row_terms;
  let sum;
  if (terms.length === n && n > 1) {
    sum = check("sum", terms.map((_, i) => `row_term:${i}`), "gradient", html`the batch's gradient, the sum of its ${n} rows' terms: ${terms.map((t, i) => html`${i ? " + " : ""}${num(`row_term:${i}`, t)}`)} = <b>${num("gradient", chain.gradient)}</b>`);
  } else if (n > 1) {
    sum = html`<div>the batch's gradient, the sum of its ${n} rows' terms (the first ${terms.length} can be shown): <b>${num("gradient", chain.gradient)}</b></div>`;
  } else {
    sum = html`<div>the batch's gradient (it has this row alone): <b>${num("gradient", chain.gradient)}</b></div>`;
  }
  return html`<div class="chain-step"><b>dError/d${chain.parameter}</b> = Σ over the rows of dError/dSop[${e.layer}][${e.to_neuron}] · g3<div>${g3}</div>${term}${sum}</div>`;
}

// L2's and L1's terms added to a weight's gradient (biases have none): l2 · w, l1 · sign(w).
function penalties(chain) {
  const l2 = chain.l2, l1 = chain.l1 || { term: 0 }, c = chain.clipping;
  if (!l2.term && !l1.term) return "";
  const lines = [];
  if (l2.term) lines.push(check("product", ["l2", "value"], "l2_term", html`L2's term: l2 · w = ${num("l2", l2.l2)} · ${num("value", chain.value)} = ${num("l2_term", l2.term)}`));
  if (l1.term) lines.push(check("product", ["l1", "sign"], "l1_term", html`L1's term: l1 · sign(w) = ${num("l1", l1.l1)} · ${num("sign", l1.sign)} = ${num("l1_term", l1.term)}`));
  const keys = ["gradient", ...(l2.term ? ["l2_term"] : []), ...(l1.term ? ["l1_term"] : [])];
  const parts = [num("gradient", chain.gradient), ...(l2.term ? [num("l2_term", l2.term)] : []), ...(l1.term ? [num("l1_term", l1.term)] : [])];
  lines.push(check("sum", keys, "penalised", html`the gradient with the penalties: ${parts.map((p, i) => html`${i ? " + " : ""}${p}`)} = ${num("penalised", c ? c.penalised : chain.engine_gradient)}`));
  return lines;
}

// Clipping, after the penalties: by the global norm of the whole gradient (every weight,
// bias, gamma and beta), then each entry into [−clip_value, clip_value].
function clipping(chain) {
  const c = chain.clipping;
  if (!c || (c.clip_norm === null && c.clip_value === null)) return "";
  const lines = [];
  if (c.clip_norm !== null) {
    lines.push(html`<div>the global 2-norm of the whole gradient of this step (every weight, bias, gamma and beta, penalties included): ‖g‖ = ${num("norm", c.norm)}</div>`);
    if (c.factor < 1) {
      lines.push(check("clipfactor", ["clip_norm", "norm"], "clip_factor", html`clip by norm: factor = clip_norm / (‖g‖ + 1e-6) = ${num("clip_norm", c.clip_norm)} / (${num("norm", c.norm)} + 1e-6) = ${num("clip_factor", c.factor)}`));
      lines.push(check("product", ["penalised", "clip_factor"], "scaled", html`the gradient scaled: ${num("penalised", c.penalised)} · ${num("clip_factor", c.factor)} = ${num("scaled", c.scaled)}`));
    } else {
      lines.push(html`<div>clip by norm: ‖g‖ is at most clip_norm = ${num("clip_norm", c.clip_norm)}, so the gradient is left as it is: ${num("scaled", c.scaled)}</div>`);
    }
  }
  if (c.clip_value !== null) {
    lines.push(check("clamp", ["scaled", "clip_value"], "clipped", html`clip by value: clamp(${num("scaled", c.scaled)}, −${num("clip_value", c.clip_value)}, ${num("clip_value", c.clip_value)}) = ${num("clipped", c.gradient)}`));
  }
  return html`<div class="chain-step" id="clipping">${lines}</div>`;
}

function checks(chain, e, row) {
  const fdOk = chain.numerical_relative_difference < 1e-6;
  const out = [html`<div>finite differences (five-point, h = 1e-4): ${num("numerical", chain.numerical)}
    <span class="${fdOk ? "ok" : "bad"}">relative difference ${full(chain.numerical_relative_difference)}</span></div>`];
  if (chain.engine_gradient !== undefined) {
    const ok = chain.engine_relative_difference <= 1e-12;
    out.push(html`${penalties(chain)}${clipping(chain)}<div>the engine's gradient in this step: ${num("engine_gradient", chain.engine_gradient)}
      <span class="${ok ? "ok" : "bad"}">relative difference from the chain's ${full(chain.engine_relative_difference)}</span></div>`);
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

// The optimizer's terms in the page's words: the weight w (a bias b), as the training panel
// writes it, and learning_rate, where the optimizer's own text says p and lr.
function spelled(text, symbol) {
  return text.replace(/\bp\b/g, symbol).replace(/\blr\b/g, "learning_rate").replace(/ \* /g, " · ");
}

function update(chain) {
  if (!chain.update) return "";
  const u = chain.update, w = chain.explanation.from_neuron === null ? "b" : "w";
  const settings = Object.entries(u.hyperparameters).map(([k, v]) => `${k} = ${full(v)}`).join(", ");
  return html`<h3>The update of this ${w === "b" ? "bias" : "weight"}, ${w} = ${chain.parameter} (${u.optimizer}${settings ? `, ${settings}` : ""})</h3>
    <table class="values"><tr><td>learning_rate</td><td></td><td class="num">${num("learning_rate", u.learning_rate)}</td></tr>
    <tr><td>g (gradient used)</td><td></td><td class="num">${num("update_gradient", u.gradient)}</td></tr>
    ${u.terms.map((t) => html`<tr><td>${spelled(t.name, w)}</td><td><code>${spelled(t.formula, w)}</code></td><td class="num">${num(`term:${t.name}`, t.value)}</td></tr>`)}
    <tr><td>${w} after the update (the engine's)</td><td></td><td class="num">${num("after", u.after)}</td></tr></table>`;
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
    ${layerForward(e, row)}
    ${masksNote(chain)}
    <details ${isBias ? html`open` : ""}><summary>neuron ${e.to_neuron} of layer ${layer}: sop = Σ input · weight + bias, output = f(sop)</summary>
      <div class="scroll"><table class="values"><tr><th>input</th><th></th><th>weight</th><th></th></tr>${neuronRows}
      <tr><td colspan="2">bias</td><td>biases[${layer}][${e.to_neuron}]</td><td class="num">${incoming.bias === null ? "none" : num("bias", incoming.bias)}</td></tr></table></div>
      ${incoming.bias !== null && !isBias ? html`<button id="chain-bias">chain of this neuron's bias</button>` : ""}
    </details>
    <h3>Backward pass, from the output layer down</h3>
    <p class="note" id="one-over-n">Where 1/n enters: the batch's error is the mean of its ${n === 1 ? "one row's error" : `${n} rows' errors`}, so g1 = dError/dPredicted carries the 1/n (n = ${n}), and so does every dError/dSop below. Each row's term dError/dSop · g3 is its share of the gradient, and the gradient is the sum of the terms: no other 1/n appears.</p>
    ${backwardSteps(chain, row)}
    ${gradientStep(chain, row, n, source)}
    ${pathsSection(chain, row)}
    <h3>Checks</h3>${checks(chain, e, row)}
    ${update(chain)}
    <h3>Edit</h3>
    <label>set ${chain.parameter} to <input id="edit-value" type="text" value="${full(chain.update ? chain.update.after : chain.value)}"></label>
    <button id="edit-apply">set</button> <span class="note">training goes on from the edited value; the edit is part of the URL</span>`);
  applyPrecision(element);
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

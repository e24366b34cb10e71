// The tutorial's form of a weight's gradient: the sum over the paths from the weight to the
// error, each path the product of its derivatives, g1 · g2 · w · f′ · … · g3, with the numbers
// of the row on show. The server multiplied them (chains.paths); the page lays them out.
import { at, check, num } from "./chain-lines.js";
import { html } from "./html.js";

// The factors of path p on the row shown, output end first: [name, key, value].
function factors(chain, p, row) {
  const P = chain.paths, o = chain.output_layer, e = chain.explanation, l = e.layer;
  const nodes = P.neurons[p], L = l + nodes.length - 1, m = nodes.at(-1), out = [];
  if (P.split) {
    out.push([`g1[${m}]`, at(o.g1, row)[m]], [`g2[${m}]`, at(o.g2, row)[m]]);
  } else {
    out.push([`dError/dSop[${L}][${m}]`, at(o.delta, row)[m]]);
  }
  for (let layer = L; layer > l; layer--) {
    const from = nodes[layer - l - 1], to = nodes[layer - l];
    const w = layer === l + 1 ? P.own_weights[to] : P.weights[layer - l - 2][from][to];
    const f = layer - 1 === l ? at(P.own_derivative, row) : at(P.derivatives[layer - l - 2], row)[from];
    out.push([`weights[${layer}][${from}, ${to}]`, w], [`f′(sop[${layer - 1}][${from}])`, f]);
    const masks = P.mask_factors && P.mask_factors[layer - 1 - l];
    if (masks) out.push([`mask / (1 − p) of neuron ${from} of layer ${layer - 1}`, at(masks, row)[from]]);
  }
  out.push([e.from_neuron === null ? "g3 = 1" : "g3", at(P.g3, row)]);
  return out.map(([name, value], i) => [name, `pf:${p}:${i}`, value]);
}

export function pathsSection(chain, row) {
  const P = chain.paths, e = chain.explanation;
  if (!P) return "";
  const head = html`<h3>The same gradient as a sum over paths</h3>`;
  if (P.normalised) {
    return html`${head}<p class="note" id="paths-normalised">The sum over paths does not apply here: between ${chain.parameter} and the error lies a normalised layer, and normalisation mixes what a path keeps apart. Batch norm's mean and variance are taken over the batch's rows, so one row's sop moves every row's output; layer norm's over the layer's neurons, so one neuron's sop moves every neuron of its layer. The chain through it is the delta recursion above, whose normalisation lines carry these sums (dvar, dmean) term by term.</p>`;
  }
  if (!P.neurons) {
    return html`${head}<p class="note" id="paths-count">${P.count.toLocaleString("en")} paths lead from ${chain.parameter} to the error: more than the ${P.limit} listed here, so the delta recursion above alone (it adds them all up, one layer at a time).</p>`;
  }
  const rows = P.neurons.map((nodes, p) => {
    const fs = factors(chain, p, row);
    const body = fs.map(([name, key, value], i) => html`${i ? " · " : ""}${num(key, value, name)}`);
    return html`<tr><td>${nodes.join(" → ")}</td><td>${check("product", fs.map(([, key]) => key), `pp:${p}`, html`${body} = ${num(`pp:${p}`, at(P.product[p], row))}`)}</td></tr>`;
  });
  const sum = check("sum", P.neurons.map((_, p) => `pp:${p}`), "row_term",
    html`Σ over the ${P.count === 1 ? "1 path" : `${P.count} paths`} on this row = this row's term ${num("row_term", at(chain.row_terms, row))}`);
  const masks = P.mask_factors ? ", each f′ of a layer with dropout followed by its mask factor mask / (1 − p) (0 on a dropped neuron: that path adds nothing)" : "";
  return html`${head}<p class="note">Each path runs from neuron ${e.to_neuron} of layer ${e.layer} through one neuron of each layer above to an output m; its product, output end first: ${P.split ? "g1[m] · g2[m]" : "dError/dSop[output][m] (g1 and g2 combined, as above)"} · weights · f′(sop) · … · g3${masks}. Hover a factor for its name.</p>
    <div class="scroll"><table class="values paths" id="paths"><tr><th>neurons</th><th>product of the path's factors, on this row</th></tr>${rows}</table></div>${sum}`;
}

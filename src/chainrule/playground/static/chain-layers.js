// The chain through a hidden layer's dropout mask and normalisation, term by term, with the
// numbers of the row on show (explain's "through_layer", chainrule.explain_layers). As in
// chain.js every number is the engine's: each line that computes a shown number from shown
// numbers says how in its data-check, so a test recomputes it.
//
//   forward:  mean, var = over the group (batch norm: the batch's rows; layer norm: the row's
//             neurons); std = √(var + eps); xhat = (sop − mean) / std; z = gamma · xhat + beta;
//             activated = f(z); output = activated · mask / (1 − p)
//   backward: dError/dActivated = dError/dOutput · mask / (1 − p); dError/dZ = · f′(z);
//             dxhat = dError/dZ · gamma; dvar = Σ dxhat · (sop − mean) · (−1/2) / std³;
//             dmean = −Σ dxhat / std + dvar · (−2) · Σ (sop − mean) / M;
//             dError/dSop = dxhat / std + dvar · 2 · (sop − mean) / M + dmean / M
import { at, check, num } from "./chain-lines.js";
import { html } from "./html.js";

// The most members of a group whose terms a sum writes out (beyond: its result alone).
const MAX_GROUP = 64;

// What the group is, in words, for the row on show.
function group(n) {
  return n.kind === "batch" ? `the batch's ${n.M} rows (this neuron's column)` : `this row's ${n.M} neurons (the layer)`;
}

// The members of the group the sums run over, as written out: batch norm's column is every
// row's; layer norm's written-out members are row 0's (other rows give their sums alone).
function members(n, row) {
  return n.M <= MAX_GROUP && (n.kind === "batch" || row === 0);
}

// A sum over the group: written out (and checked) where its members are known, else its value.
function groupSum(kind, pairs, result, value, label, terms) {
  if (!pairs) return html`<div>${label} = ${num(result, value)} (the sum over the group; its terms are written out for groups of up to ${MAX_GROUP} and, in layer norm, for row 1)</div>`;
  return check(kind, pairs, result, html`${label} = ${terms} = ${num(result, value)}`);
}

function series(keys, values, name, between = " + ") {
  return keys.map((key, i) => html`${i ? between : ""}${num(key, values[i], `${name}[${i}]`)}`);
}

// The forward pass of neuron j of hidden layer l through its normalisation and dropout:
// lines for the chain panel's forward section (nothing for a plain layer).
export function layerForward(e, row) {
  const l = e.layer, j = e.to_neuron, d = e.backward.at(-1), t = d?.through_layer;
  if (!t || d.layer !== l || d.neuron !== j) return "";
  const layer = e.forward.layers[l], key = `${l}:${j}`, n = t.normalization, lines = [];
  const sop = at(layer.sop, row)[j];
  if (n) {
    const shown = members(n, row);
    const gs = n.group_sop.map((_, i) => `gsop:${key}:${i}`), gc = n.group_centred.map((_, i) => `gcent:${key}:${i}`);
    lines.push(html`<div>${n.kind} normalisation over ${group(n)}, M = ${num(`M:${key}`, n.M)}, eps = ${num(`eps:${key}`, n.eps)}:</div>`);
    lines.push(shown
      ? check("mean", [...gs, `M:${key}`], `mean:${key}`, html`mean = Σ sop / M = (${series(gs, n.group_sop, "sop")}) / ${num(`M:${key}`, n.M)} = ${num(`mean:${key}`, at(n.mean, row))}`)
      : html`<div>mean = Σ sop / M = ${num(`mean:${key}`, at(n.mean, row))}</div>`);
    lines.push(shown
      ? check("meansquare", [...gc, `M:${key}`], `var:${key}`, html`var = Σ (sop − mean)² / M, the group's sop − mean being (${series(gc, n.group_centred, "sop − mean", ", ")}): ${num(`var:${key}`, at(n.var, row))}`)
      : html`<div>var = Σ (sop − mean)² / M = ${num(`var:${key}`, at(n.var, row))}</div>`);
    lines.push(check("std", [`var:${key}`, `eps:${key}`], `std:${key}`, html`std = √(var + eps) = √(${num(`var:${key}`, at(n.var, row))} + ${num(`eps:${key}`, n.eps)}) = ${num(`std:${key}`, at(n.std, row))}`));
    lines.push(check("xhat", [`sop:${key}`, `mean:${key}`, `std:${key}`], `xhat:${key}`, html`xhat = (sop − mean) / std = (${num(`sop:${key}`, sop)} − ${num(`mean:${key}`, at(n.mean, row))}) / ${num(`std:${key}`, at(n.std, row))} = ${num(`xhat:${key}`, at(n.xhat, row))}`));
    lines.push(check("affine", [`gamma:${key}`, `xhat:${key}`, `beta:${key}`], `z:${key}`, html`z = gamma · xhat + beta = ${num(`gamma:${key}`, n.gamma, `gammas[${l}][${j}]`)} · ${num(`xhat:${key}`, at(n.xhat, row))} + ${num(`beta:${key}`, n.beta, `betas[${l}][${j}]`)} = ${num(`z:${key}`, at(n.z, row))}`));
  }
  const z = n ? "z" : "sop";
  lines.push(html`<div>activated = ${layer.activation}(${z}) = ${num(`activated:${key}`, at(t.activated, row))}</div>`);
  if (t.dropout) {
    const p = t.dropout;
    lines.push(check("dropout", [`activated:${key}`, `mask:${key}`, `rate:${key}`], `output:${key}`, html`dropout (in training; its mask is a constant of the step): output = activated · mask / (1 − p) = ${num(`activated:${key}`, at(t.activated, row))} · ${num(`mask:${key}`, at(p.mask, row))} / (1 − ${num(`rate:${key}`, p.rate)}) = ${num(`output:${key}`, at(layer.output, row)[j])}`));
  }
  return html`<div class="chain-step" id="layer-forward"><b>neuron ${j} of layer ${l}, from its sop to its output</b>${lines}</div>`;
}

// The backward lines of a hidden neuron from dError/dOutput (the key `output_grad:key`, shown
// above them) to dError/dSop (`delta:key`) through its mask, f′ and normalisation.
export function layerBackward(d, row) {
  const t = d.through_layer, key = `${d.layer}:${d.neuron}`, f = d.factors[0], n = t.normalization, lines = [];
  let into = `output_grad:${key}`, intoValue = at(d.dError_dOutput, row);
  if (t.dropout) {
    const p = t.dropout;
    lines.push(html`<div>the mask's factor on this row, mask / (1 − p) = ${num(`mfactor:${key}`, at(p.factor, row))} (0: dropped; 1 / (1 − p): kept)</div>`);
    lines.push(check("dropout", [into, `mask:${key}`, `rate:${key}`], `dact:${key}`, html`dError/dActivated = dError/dOutput · mask / (1 − p) = ${num(into, intoValue)} · ${num(`mask:${key}`, at(p.mask, row))} / (1 − ${num(`rate:${key}`, p.rate)}) = ${num(`dact:${key}`, at(p.dError_dActivated, row))}`));
    into = `dact:${key}`; intoValue = at(p.dError_dActivated, row);
  }
  lines.push(html`<div>${f.name} = <code>${f.formula}</code> = ${num(`factor:${key}:0`, at(f.value, row))}</div>`);
  const dz = n ? `dz:${key}` : `delta:${key}`, dzValue = n ? at(t.dError_dZ, row) : at(d.value, row);
  lines.push(check("product", [into, `factor:${key}:0`], dz, html`dError/d${n ? "Z" : "Sop"} = ${t.dropout ? "dError/dActivated" : "dError/dOutput"} · ${f.name} = ${num(into, intoValue)} · ${num(`factor:${key}:0`, at(f.value, row))} = ${num(dz, dzValue)}`));
  if (n) lines.push(...normBackward(n, key, row, dzValue, at(d.value, row)));
  return lines;
}

function normBackward(n, key, row, dz, delta) {
  const shown = members(n, row), M = num(`M:${key}`, n.M);
  const gd = n.group_dxhat.map((_, i) => `gdx:${key}:${i}`), gc = n.group_centred.map((_, i) => `gcent:${key}:${i}`);
  const std = num(`std:${key}`, at(n.std, row)), dvar = num(`dvar:${key}`, at(n.dvar, row)), dmean = num(`dmean:${key}`, at(n.dmean, row));
  const sdc = num(`sdc:${key}`, at(n.sum_dxhat_centred, row)), sdx = num(`sdx:${key}`, at(n.sum_dxhat, row)), sc = num(`sc:${key}`, at(n.sum_centred, row));
  const dxhat = num(`dxhat:${key}`, at(n.dxhat, row)), centred = num(`cent:${key}`, at(n.centred, row));
  const dotTerms = gd.map((k, i) => html`${i ? " + " : ""}${num(k, n.group_dxhat[i], `dxhat[${i}]`)} · ${num(gc[i], n.group_centred[i], `sop − mean [${i}]`)}`);
  return [
    html`<div>through ${n.kind} normalisation (gamma = ${num(`gamma:${key}`, n.gamma)}, M = ${M}, std = ${std}; the sums run over ${group(n)}):</div>`,
    check("product", [`dz:${key}`, `gamma:${key}`], `dxhat:${key}`, html`dxhat = dError/dZ · gamma = ${num(`dz:${key}`, dz)} · ${num(`gamma:${key}`, n.gamma)} = ${dxhat}`),
    groupSum("dot", shown && gd.map((k, i) => `${k}*${gc[i]}`), `sdc:${key}`, at(n.sum_dxhat_centred, row), "Σ dxhat · (sop − mean)", dotTerms),
    check("dvar", [`sdc:${key}`, `std:${key}`], `dvar:${key}`, html`dvar = Σ dxhat · (sop − mean) · (−1/2) / std³ = ${sdc} · (−1/2) / ${std}³ = ${dvar}`),
    groupSum("sum", shown && gd, `sdx:${key}`, at(n.sum_dxhat, row), "Σ dxhat", series(gd, n.group_dxhat, "dxhat")),
    groupSum("sum", shown && gc, `sc:${key}`, at(n.sum_centred, row), "Σ (sop − mean)", series(gc, n.group_centred, "sop − mean")),
    check("dmean", [`sdx:${key}`, `std:${key}`, `dvar:${key}`, `sc:${key}`, `M:${key}`], `dmean:${key}`, html`dmean = −(Σ dxhat) / std + dvar · (−2) · Σ (sop − mean) / M = −(${sdx}) / ${std} + ${dvar} · (−2) · ${sc} / ${M} = ${dmean}`),
    check("dsop", [`dxhat:${key}`, `std:${key}`, `dvar:${key}`, `cent:${key}`, `dmean:${key}`, `M:${key}`], `delta:${key}`, html`dError/dSop = dxhat / std + dvar · 2 · (sop − mean) / M + dmean / M = ${dxhat} / ${std} + ${dvar} · 2 · ${centred} / ${M} + ${dmean} / ${M} = ${num(`delta:${key}`, delta)}`),
  ];
}

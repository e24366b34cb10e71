// Drawing a state the server sent: the network, the data plane, the curves, the metrics and
// where the run stands. Nothing here asks the server for anything.
import { decode, full, short } from "./api.js";
import { DataView, NetworkView, drawCurves, neuronPictures } from "./draw.js";
import { html, setHtml } from "./html.js";
import { applyPrecision } from "./precision.js";
import { $, S } from "./state.js";
import { writeHash } from "./url.js";

export const networkView = new NetworkView($("network"));
export const dataView = new DataView($("data-canvas"));

// Merged into what the page holds: the points (once per configuration), the metrics (a few
// times a second while playing), the curves (the epochs the page lacks).
function merge(state) {
  if (state.pictures) {
    if (state.pictures.points) S.points = state.pictures;
    else if (S.points) Object.assign(state.pictures, { points: S.points.points, labels: S.points.labels, test_rows: S.points.test_rows });
  }
  if (state.metrics) S.metrics = state.metrics;
  else state.metrics = S.metrics;
  if (!state.curves_from) S.curves = {};
  for (const [k, values] of Object.entries(state.curves)) {
    S.curves[k] = (S.curves[k] || []).slice(0, state.curves_from).concat(values);
  }
}

// A change of loss that also changed the output layer (its width or its activation), said
// on the page: e.g. squared error takes one output per class where binary cross-entropy took one.
function outputChange(before, state) {
  const note = $("output-change");
  if (!note || !before || before.loss_name === state.loss_name) return;
  const was = `${before.sizes.at(-1)} ${before.activations.at(-1)}`, now = `${state.sizes.at(-1)} ${state.activations.at(-1)}`;
  note.hidden = was === now;
  note.textContent = was === now ? "" : `The loss changed from ${before.loss_name} to ${state.loss_name}, and with it the output layer: ${was} output${before.sizes.at(-1) === 1 ? "" : "s"} became ${now} output${state.sizes.at(-1) === 1 ? "" : "s"} (network ${before.sizes.join("-")} → ${state.sizes.join("-")}).`;
}

// Text that changes only now and then is written only then (each write costs the page a
// layout while playing).
function setText(element, text) { if (element.textContent !== text) element.textContent = text; }

export function render(state) {
  const t0 = performance.now();
  outputChange(S.state, state);
  S.state = state;
  merge(state);
  S.view = {
    weights: state.weights.map((w) => decode(w)),
    biases: state.biases.map((b) => decode(b)),
    gradients: state.gradients ? { weights: state.gradients.weights.map((g) => decode(g)),
      biases: state.gradients.biases.map((g) => decode(g)) } : null,
    overlay: $("overlay").value,
    pictures: state.pictures ? neuronPictures(state.pictures, state, decode) : null,
  };
  networkView.selected = S.selected;
  networkView.draw(state, S.view);
  dataView.draw(state, state.pictures, decode);
  setText($("data-note"), `${state.n_train} training rows, ${state.n_test} held out` +
    (state.pictures ? "" : "; the plane is drawn for 2-D data only"));
  drawCurves($("curves"), S.curves);
  if (state.metrics !== S.metricsShown) { renderMetrics(state); S.metricsShown = state.metrics; }
  const where = state.sample
    ? `update ${state.position} · batch ${state.batch || state.n_batches} of epoch ${state.epoch + (state.batch ? 1 : 0)}: row ${state.sample} of ${state.pending.rows} on show`
    : `update ${state.position} · epoch ${state.epoch}${state.batch ? ` + ${state.batch}/${state.n_batches} batches` : ""}`;
  $("position").textContent = `${where} · loss ${short(state.metrics.train.loss)} · learning_rate ${short(state.learning_rate)}`;
  $("position").dataset.position = state.position;
  setText($("stopped"), state.stopped ? `stopped: ${state.stopped}` : "");
  const scrub = $("scrub");
  scrub.max = String(state.furthest); scrub.value = String(state.position);
  const model = `/api/session/${S.session}/model.npz`;
  if ($("export-model").getAttribute("href") !== model) $("export-model").href = model;
  // While playing, the URL follows a few times a second (browsers throttle history updates).
  if (!S.playing || performance.now() - (S.hashWritten || 0) > 500) {
    writeHash(); S.hashWritten = performance.now();
  }
  S.stats.drawMs += performance.now() - t0; S.stats.frames += 1;
}

function renderMetrics(state) {
  const rows = Object.entries(state.metrics).map(([part, m]) => html`<tr><td>${part === "train" ? "training" : "held out"}</td><td class="num" data-key="${part}-loss" data-exact="${full(m.loss)}" title="${full(m.loss)}" tabindex="0">${full(m.loss)}</td>${
    "accuracy" in m ? html`<td>accuracy <span class="num" data-key="${part}-accuracy" data-exact="${full(m.accuracy)}" title="${full(m.accuracy)}" tabindex="0">${full(m.accuracy)}</span></td>` : ""}${
    "r2" in m ? html`<td>R² <span class="num" data-key="${part}-r2" data-exact="${full(m.r2)}" title="${full(m.r2)}" tabindex="0">${full(m.r2)}</span> · mse ${short(m.mse)}</td>` : ""}</tr>`);
  const shown = state.metrics.test || state.metrics.train;
  let confusion = "";
  if (shown.confusion_matrix) {
    const labels = Object.keys(shown.per_class);  // the table's own labels: text, never markup
    confusion = html`<div>confusion matrix (${state.metrics.test ? "held out" : "training"}; rows: true class, columns: predicted)</div>
      <table class="values confusion"><tr><th></th>${labels.map((l) => html`<th>${l}</th>`)}</tr>
      ${shown.confusion_matrix.map((row, i) => html`<tr><th>${labels[i]}</th>${row.map((v) => html`<td>${v}</td>`)}</tr>`)}</table>`;
  }
  setHtml($("metrics"), html`<table class="values"><tr><th></th><th>loss</th><th></th></tr>${rows}</table>${confusion}`);
  applyPrecision($("metrics"));
}

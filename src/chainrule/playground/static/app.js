// The playground page: controls, the play loop, and the URL that replays a run.
import { ApiError, decode, esc, full, get, post, short, upload } from "./api.js";
import { DataView, NetworkView, drawCurves, neuronPictures } from "./draw.js";
import { renderChain } from "./chain.js";

const $ = (id) => document.getElementById(id);
const S = {
  options: null, config: null, session: null, state: null, curves: {}, view: null,
  playing: false, selected: null, hide: new Set(),
  stats: { steps: 0, frames: 0, started: 0, requestMs: 0, drawMs: 0 },
};
const networkView = new NetworkView($("network"));
const dataView = new DataView($("data-canvas"));

const PRESETS = {
  circle: {},
  spiral: { data: { source: "generator", name: "spiral", samples: 500, noise: 0.03, classes: 3, seed: 0 },
    hidden: [16, 16], activations: ["tanh", "tanh", "softmax"], loss: "categorical_cross_entropy",
    optimizer: "adam", learning_rate: 0.01, batch_size: 32 },
  xor: { data: { source: "generator", name: "xor", samples: 500, noise: 0.05, classes: 2, seed: 0 },
    hidden: [8, 8], activations: ["tanh", "tanh", "sigmoid"], loss: "binary_cross_entropy", learning_rate: 0.3 },
  tutorial: { data: { source: "builtin", name: "tutorial" }, test_split: 0, standardize: false,
    hidden: [], activations: ["sigmoid"], bias: false, loss: "squared_error", init: "uniform",
    optimizer: "gd", learning_rate: 0.5, epochs: 10000 },
  digits: { data: { source: "builtin", name: "digits" }, hidden: [100], activations: ["relu", "softmax"],
    loss: "categorical_cross_entropy", init: "he", optimizer: "adam", learning_rate: 0.001, batch_size: 32, epochs: 50 },
};

// ------------------------------------------------------------------ messages
function say(text, kind = "error") {
  const box = $("message");
  box.textContent = text; box.className = kind === "info" ? "info" : ""; box.hidden = !text;
}

async function guarded(work) {
  try { say(""); return await work(); } catch (error) {
    say(error instanceof ApiError ? error.message : `the page failed: ${error.message}`);
    S.playing = false; $("play").textContent = "▶ play";
    return undefined;
  }
}

// ------------------------------------------------------------------ the URL
function encodeConfig(config) {
  const bytes = new TextEncoder().encode(JSON.stringify(config));
  let text = ""; bytes.forEach((b) => { text += String.fromCharCode(b); });
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeConfig(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const out = { config: null, position: 0, sample: 0, hide: [] };
  if (params.get("c")) out.config = decodeConfig(params.get("c"));
  out.position = Number(params.get("p") || 0);
  out.sample = Number(params.get("s") || 0);
  out.hide = (params.get("hide") || "").split(",").filter(Boolean);
  return out;
}

function writeHash() {
  if (!S.config || !S.state) return;
  const config = { ...S.config, edits: S.state.edits };
  const params = new URLSearchParams();
  params.set("c", encodeConfig(config));
  params.set("p", String(S.state.position));
  if (S.state.sample) params.set("s", String(S.state.sample));
  if (S.hide.size) params.set("hide", [...S.hide].join(","));
  S.lastHash = `#${params}`;
  history.replaceState(null, "", `${location.pathname}${location.search}${S.lastHash}`);
}

// A URL pasted or edited in the address bar: replay the run it names.
window.addEventListener("hashchange", () => {
  if (location.hash === S.lastHash) return;
  const hash = readHash();
  S.hide = new Set(hash.hide);
  buildClassroom();
  guarded(() => start(hash.config || S.options.default, hash.position, hash.sample));
});

// ------------------------------------------------------------------ controls <-> config
function fillSelect(select, values, labels) {  // DOM options: a file's column names stay text
  select.replaceChildren(...values.map((v, i) => new Option(String(labels ? labels[i] : v), String(v))));
}

function activationSelects(count, values, bias) {
  const box = $("activation-controls");
  const names = S.options.activations;
  const biases = Array.isArray(bias) ? bias : Array(count).fill(bias);
  box.innerHTML = Array.from({ length: count }, (_, l) =>
    `<label>${l === count - 1 ? "output" : `layer ${l}`} <select data-layer="${l}">${names.map((n) => `<option${n === values[l] ? " selected" : ""}>${n}</option>`).join("")}</select></label>` +
    `<label title="this layer's bias"><input type="checkbox" data-bias-layer="${l}"${biases[l] ? " checked" : ""}>b</label>`).join("");
}

function settingInputs(box, defaults, values, prefix) {
  box.innerHTML = Object.entries(defaults).map(([k, v]) =>
    `<label>${k} <input data-setting="${k}" id="${prefix}-${k}" type="number" step="any" value="${values[k] ?? v}"></label>`).join("");
}

function showConfig(config) {
  const d = config.data;
  $("data-source").value = d.source;
  $("generator-controls").hidden = d.source !== "generator";
  $("builtin-controls").hidden = d.source !== "builtin";
  $("upload-controls").hidden = d.source !== "upload";
  if (d.source === "generator") {
    $("data-name").value = d.name; $("data-samples").value = d.samples; $("data-noise").value = d.noise;
    $("data-classes").value = d.classes; $("data-seed").value = d.seed;
  } else if (d.source === "builtin") {
    $("data-builtin").value = d.name;
  } else {
    $("data-task").value = d.task || "";
  }
  $("test-split").value = config.test_split;
  $("standardize").checked = config.standardize;
  $("hidden").value = config.hidden.join(",");
  activationSelects(config.hidden.length + 1, config.activations, config.bias);
  $("bias").checked = Array.isArray(config.bias) ? config.bias.every(Boolean) : config.bias;
  $("bias").indeterminate = Array.isArray(config.bias) && !config.bias.every((b) => b === config.bias[0]);
  $("loss").value = config.loss; $("init").value = config.init; $("seed").value = config.seed;
  $("optimizer").value = config.optimizer;
  settingInputs($("optimizer-settings"), S.options.optimizers[config.optimizer], config.optimizer_settings, "opt");
  $("learning-rate").value = config.learning_rate;
  $("schedule").value = config.schedule;
  settingInputs($("schedule-settings"), S.options.schedules[config.schedule], config.schedule_settings, "sched");
  $("batch-size").value = config.batch_size; $("l2").value = config.l2; $("epochs").value = config.epochs;
  $("stop-loss").value = config.stop_loss ?? ""; $("stop-accuracy").value = config.stop_accuracy ?? "";
}

function number(id) {
  const text = $(id).value.trim();
  const value = Number(text);
  if (text === "" || !Number.isFinite(value)) throw new ApiError(`${id.replace(/-/g, " ")}: not a number (${JSON.stringify(text)})`);
  return value;
}

function settingsFrom(box, defaults) {
  const out = {};
  box.querySelectorAll("input[data-setting]").forEach((input) => {
    const value = Number(input.value);
    if (value !== defaults[input.dataset.setting]) out[input.dataset.setting] = value;
  });
  return out;
}

function readConfig() {
  const c = structuredClone(S.config);
  const source = $("data-source").value;
  if (source === "generator") {
    c.data = { source, name: $("data-name").value, samples: number("data-samples"), noise: number("data-noise"),
      classes: number("data-classes"), seed: number("data-seed"),
      added: source === S.config.data.source ? S.config.data.added : [],
      removed: source === S.config.data.source ? S.config.data.removed : [] };
    if (!S.options.multiclass.includes(c.data.name)) c.data.classes = 2;
  } else if (source === "builtin") {
    c.data = { source, name: $("data-builtin").value, added: [], removed: [] };
  } else {
    c.data = { ...S.config.data, target: $("data-target").value || null, task: $("data-task").value || null };
  }
  c.test_split = number("test-split");
  c.standardize = $("standardize").checked;
  const hiddenText = $("hidden").value.trim();
  c.hidden = hiddenText ? hiddenText.split(/[ ,]+/).map(Number) : [];
  const selects = [...$("activation-controls").querySelectorAll("select")].map((s) => s.value);
  c.activations = Array.from({ length: c.hidden.length + 1 }, (_, l) =>
    l === c.hidden.length ? selects[selects.length - 1] : (selects[l] ?? selects[0] ?? "tanh"));
  // One switch for all layers, or one per layer (the b boxes beside the activations).
  const perLayer = [...$("activation-controls").querySelectorAll("input[data-bias-layer]")].map((b) => b.checked);
  if (S.biasAll !== undefined || perLayer.length !== c.hidden.length + 1) {
    c.bias = S.biasAll ?? $("bias").checked;
  } else {
    c.bias = perLayer.every((b) => b === perLayer[0]) ? perLayer[0] : perLayer;
  }
  S.biasAll = undefined;
  c.loss = $("loss").value; c.init = $("init").value; c.seed = number("seed");
  c.optimizer = $("optimizer").value;
  c.optimizer_settings = settingsFrom($("optimizer-settings"), S.options.optimizers[c.optimizer]);
  c.learning_rate = number("learning-rate");
  c.schedule = $("schedule").value;
  c.schedule_settings = settingsFrom($("schedule-settings"), S.options.schedules[c.schedule]);
  c.batch_size = number("batch-size"); c.l2 = number("l2"); c.epochs = number("epochs");
  c.stop_loss = $("stop-loss").value.trim() === "" ? null : number("stop-loss");
  c.stop_accuracy = $("stop-accuracy").value.trim() === "" ? null : number("stop-accuracy");
  c.edits = [];
  return harmonize(c);
}

// What the page knows of the data before the server reads it: its task and classes.
function dataFacts(d) {
  if (d.source === "generator") {
    return ["plane", "bumps"].includes(d.name) ? { task: "regression", classes: 0 } : { task: "classification", classes: d.classes };
  }
  if (d.source === "builtin") return S.options.datasets[d.name];
  const upload = S.upload || { task: "classification", classes: 2 };
  return d.task ? { ...upload, task: d.task } : upload;
}

// The output layer and the loss that fit the data (a convenience: the server checks anyway).
function harmonize(c) {
  const d = c.data, facts = dataFacts(d);
  const regression = facts.task === "regression";
  const out = c.activations.length - 1;
  if (regression && !["mse", "squared_error"].includes(c.loss)) { c.loss = "mse"; c.activations[out] = "identity"; }
  const before = dataFacts(S.config.data);
  if (!regression && before.task === "regression" && ["mse", "squared_error"].includes(c.loss)) {
    c.loss = facts.classes > 2 ? "categorical_cross_entropy" : "binary_cross_entropy";  // the data changed task
  }
  if (facts.classes > 2 && c.loss === "binary_cross_entropy") c.loss = "categorical_cross_entropy";
  if (d.source === "builtin" && facts.rows < 4) { c.test_split = 0; c.standardize = false; }
  else if (S.config.data.name === "tutorial" && c.test_split === 0) {  // leaving the one sample
    c.test_split = S.options.default.test_split; c.standardize = true;
  }
  if (c.loss === "categorical_cross_entropy") c.activations[out] = "softmax";
  if (c.loss === "binary_cross_entropy") c.activations[out] = "sigmoid";
  if (c.activations[out] === "softmax" && c.loss !== "categorical_cross_entropy") c.activations[out] = "identity";
  return c;
}

// ------------------------------------------------------------------ drawing a state
function render(state) {
  const t0 = performance.now();
  S.state = state;
  if (state.pictures) {  // the points come once per configuration; steps leave them out
    if (state.pictures.points) S.points = state.pictures;
    else if (S.points) Object.assign(state.pictures, { points: S.points.points, labels: S.points.labels, test_rows: S.points.test_rows });
  }
  if (state.metrics) S.metrics = state.metrics;  // while playing they come a few times a second
  else state.metrics = S.metrics;
  if (!state.curves_from) S.curves = {};
  for (const [k, values] of Object.entries(state.curves)) {
    S.curves[k] = (S.curves[k] || []).slice(0, state.curves_from).concat(values);
  }
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
  $("data-note").textContent = `${state.n_train} training rows, ${state.n_test} held out` +
    (state.pictures ? "" : "; the plane is drawn for 2-D data only");
  drawCurves($("curves"), S.curves);
  if (state.metrics !== S.metricsShown) { renderMetrics(state); S.metricsShown = state.metrics; }
  const where = state.sample
    ? `update ${state.position} · batch ${state.batch || state.n_batches} of epoch ${state.epoch + (state.batch ? 1 : 0)}: row ${state.sample} of ${state.pending.rows} on show`
    : `update ${state.position} · epoch ${state.epoch}${state.batch ? ` + ${state.batch}/${state.n_batches} batches` : ""}`;
  $("position").textContent = `${where} · loss ${short(state.metrics.train.loss)} · lr ${short(state.learning_rate)}`;
  $("position").dataset.position = state.position;
  $("stopped").textContent = state.stopped ? `stopped: ${state.stopped}` : "";
  const scrub = $("scrub");
  scrub.max = String(state.furthest); scrub.value = String(state.position);
  $("export-model").href = `/api/session/${S.session}/model.npz`;
  // While playing, the URL follows a few times a second (browsers throttle history updates).
  if (!S.playing || performance.now() - (S.hashWritten || 0) > 500) {
    writeHash(); S.hashWritten = performance.now();
  }
  S.stats.drawMs += performance.now() - t0; S.stats.frames += 1;
}

function renderMetrics(state) {
  const rows = [];
  for (const [part, m] of Object.entries(state.metrics)) {
    const cells = [`<td>${part === "train" ? "training" : "held out"}</td>`, `<td class="num" data-key="${part}-loss">${full(m.loss)}</td>`];
    if ("accuracy" in m) cells.push(`<td>accuracy <span class="num" data-key="${part}-accuracy">${full(m.accuracy)}</span></td>`);
    if ("r2" in m) cells.push(`<td>R² <span class="num" data-key="${part}-r2">${full(m.r2)}</span> · mse ${short(m.mse)}</td>`);
    rows.push(`<tr>${cells.join("")}</tr>`);
  }
  let html = `<table class="values"><tr><th></th><th>loss</th><th></th></tr>${rows.join("")}</table>`;
  const shown = state.metrics.test || state.metrics.train;
  if (shown.confusion_matrix) {
    const labels = Object.keys(shown.per_class);
    html += `<div>confusion matrix (${state.metrics.test ? "held out" : "training"}; rows: true class, columns: predicted)</div>
      <table class="values confusion"><tr><th></th>${labels.map((l) => `<th>${esc(l)}</th>`).join("")}</tr>
      ${shown.confusion_matrix.map((row, i) => `<tr><th>${esc(labels[i])}</th>${row.map((v) => `<td>${v}</td>`).join("")}</tr>`).join("")}</table>`;
  }
  $("metrics").innerHTML = html;
}

// What the server made of the data: for an uploaded file its columns (the target's choices),
// the class labels as the table has them, and what the preparation did with each column.
// Built with textContent only: every name and label here is the file's own text.
const PLANE_TITLE = "click: add a point of the chosen class; shift-click: remove the nearest point";

function showData(info) {
  const box = $("data-columns");
  box.replaceChildren();
  const uploaded = Boolean(info && info.file);
  $("data-canvas").title = uploaded ? "an uploaded file is trained on as it is" : PLANE_TITLE;
  $("add-class").closest("label").hidden = uploaded;
  if (!uploaded) return;
  fillSelect($("data-target"), info.columns);
  $("data-target").value = info.target;
  if (!S.config.data.task) S.upload = { ...(S.upload || {}), task: info.task, classes: info.classes, target: info.target };
  const line = (text) => { const p = document.createElement("p"); p.className = "note"; p.textContent = text; return p; };
  box.append(line(`${info.file}: ${info.rows} rows with a target, ${info.features.length} features` +
    (info.labels.length ? `; classes (as the table has them): ${info.labels.join(", ")}` : "")));
  const table = document.createElement("table");
  table.className = "values";
  table.id = "data-summary";
  const heads = ["column", "role", "encoding", "filled", "note"];
  const header = table.insertRow();
  for (const h of heads) { const th = document.createElement("th"); th.textContent = h; header.append(th); }
  for (const row of info.summary) {
    const tr = table.insertRow();
    tr.dataset.role = row.role;
    for (const h of heads) tr.insertCell().textContent = h === "filled" ? (row.filled ? String(row.filled) : "") : String(row[h] ?? "");
  }
  box.append(table);
}

// ------------------------------------------------------------------ talking to the session
function since() { return (S.curves.loss || []).length; }

async function start(config, position = 0, sample = 0) {
  S.playing = false;
  const answer = await post("/api/session", { config, position, sample });
  if (S.session) post(`/api/session/${S.session}/close`, {}).catch(() => {});
  S.session = answer.session; S.config = answer.config; S.selected = null;
  showConfig(S.config);
  showData(answer.data);
  $("chain").innerHTML = `<p class="note">Click a weight or a neuron in the network.</p>`;
  $("commands").innerHTML = "";
  render(answer.state);
}

// Actions run one after the other, in the order they were asked for (a click during another
// action waits its turn; a click during play pauses it first).
function act(path, message) {
  const run = async () => {
    if (S.playing) { S.playing = false; await S.playDone; }
    const state = await post(`/api/session/${S.session}/${path}`, { since: path === "goto" || path === "edit" ? 0 : since(), ...message });
    if (path === "goto" || path === "edit") S.curves = {};
    render(state);
    if (S.selected) await loadChain();
  };
  S.queue = (S.queue || Promise.resolve()).then(run, run);
  return S.queue;
}

async function loadChain() {
  if (!S.selected) return;
  const { layer, from, to } = S.selected;
  const chain = await post(`/api/session/${S.session}/chain`, { layer, from, to });
  renderChain($("chain"), chain, S.state,
    (l, f, t, value) => guarded(() => act("edit", { layer: l, from: f, to: t, value })),
    (l, t) => guarded(() => select({ layer: l, from: null, to: t })));
}

async function select(target) {
  S.selected = target;
  networkView.selected = target;
  if (S.state) networkView.draw(S.state, S.view);
  await loadChain();
}

// Epochs of curves the page holds once this state is merged.
function sinceAfter(state) { return state.curves_from + (state.curves.loss || []).length; }

function play() {
  if (S.playing) { S.playing = false; return S.playDone; }
  S.playDone = playing();
  return S.playDone;
}

async function playing() {
  S.playing = true; $("play").textContent = "❚❚ pause";
  S.stats = { steps: 0, frames: 0, started: performance.now(), requestMs: 0, drawMs: 0 };
  let metricsAsked = 0;
  const ask = (from) => {
    const t0 = performance.now();
    const metrics = t0 - metricsAsked > 250;
    if (metrics) metricsAsked = t0;
    return post(`/api/session/${S.session}/step`, { unit: "batch", count: 1, since: from, points: false, metrics })
      .then((state) => { S.stats.requestMs += performance.now() - t0; return state; });
  };
  try {
    // At full speed the next update is asked for before this one is drawn: the server
    // computes while the page draws. Every update is still drawn, in order.
    let pending = ask(since());
    while (true) {
      const t0 = performance.now();
      const state = await pending;
      const speed = Number($("speed").value);
      const more = S.playing && !state.stopped && !state.finished;
      pending = more && speed === 0 ? ask(sinceAfter(state)) : null;
      render(state);
      S.stats.steps += 1;
      if (!more) break;
      await new Promise((resolve) => requestAnimationFrame(resolve));
      if (speed > 0) {
        const wait = 1000 / speed - (performance.now() - t0);
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        pending = S.playing ? ask(since()) : null;
        if (!pending) break;
      }
    }
  } finally {
    S.playing = false; $("play").textContent = "▶ play";
    // Paused: everything as of the last update, the metrics on all rows included.
    render(await get(`/api/session/${S.session}/state?since=${since()}`));
    if (S.selected) await loadChain();
  }
}

function download(href, name) {
  const a = document.createElement("a");
  a.href = href; a.download = name; document.body.appendChild(a); a.click(); a.remove();
}

// ------------------------------------------------------------------ wiring
function wire() {
  $("step-batch").onclick = () => guarded(() => act("step", { unit: "batch", count: 1 }));
  $("step-epoch").onclick = () => guarded(() => act("step", { unit: "epoch", count: 1 }));
  $("step-sample").onclick = () => guarded(() => act("step", { unit: "sample", count: 1 }));
  $("reset").onclick = () => guarded(() => act("goto", { position: 0, sample: 0 }));
  $("back").onclick = () => guarded(() => {
    const s = S.state;
    const target = s.sample ? { position: s.position, sample: s.sample - 1 } : { position: Math.max(0, s.position - 1), sample: 0 };
    return act("goto", target);
  });
  $("play").onclick = () => guarded(play);
  $("scrub").onchange = () => guarded(() => act("goto", { position: Number($("scrub").value), sample: 0 }));
  $("apply").onclick = () => guarded(() => start(readConfig()));
  for (const id of ["data-source", "data-name", "data-builtin", "data-samples", "data-noise", "data-classes", "data-seed", "test-split", "standardize", "hidden", "loss", "init", "seed", "data-target", "data-task"]) {
    $(id).onchange = () => guarded(async () => {
      if (id === "data-source" && $("data-source").value === "upload" && S.config.data.source !== "upload") {
        showConfig({ ...S.config, data: { ...S.config.data, source: "upload" } });
        say("choose a CSV file", "info");
        return;
      }
      await start(readConfig());
    });
  }
  $("optimizer").onchange = () => settingInputs($("optimizer-settings"), S.options.optimizers[$("optimizer").value], {}, "opt");
  $("schedule").onchange = () => settingInputs($("schedule-settings"), S.options.schedules[$("schedule").value], {}, "sched");
  $("activation-controls").onchange = () => guarded(() => start(readConfig()));
  $("bias").onchange = () => guarded(() => { S.biasAll = $("bias").checked; return start(readConfig()); });
  $("overlay").onchange = () => { if (S.state) { S.view.overlay = $("overlay").value; networkView.draw(S.state, S.view); } };
  $("preset").onchange = () => guarded(() => {
    const preset = PRESETS[$("preset").value];
    return start({ ...S.options.default, ...structuredClone(preset) });
  });

  const canvas = $("network"), hover = $("hover");
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
  };
  canvas.onmousemove = (event) => {
    if (!S.state) return;
    const hit = networkView.hit(...point(event), S.state.sizes);
    if (!hit) { hover.hidden = true; return; }
    let text;
    if (hit.kind === "weight") {
      const n = S.state.sizes[hit.layer + 1], k = hit.from * n + hit.to;
      text = `weights[${hit.layer}][${hit.from}, ${hit.to}] = ${full(S.view.weights[hit.layer][k])}`;
      if (S.view.gradients) text += `\ngradient of the last step = ${full(S.view.gradients.weights[hit.layer][k])}`;
    } else if (hit.column === 0) {
      text = `input x[${hit.index}]`;
    } else {
      const l = hit.column - 1, b = S.view.biases[l];
      text = `layer ${l} neuron ${hit.index} (${S.state.activations[l]})` + (b ? `\nbiases[${l}][${hit.index}] = ${full(b[hit.index])}` : "\nno bias");
      if (b && S.view.gradients) text += `\ngradient of the last step = ${full(S.view.gradients.biases[l][hit.index])}`;
    }
    hover.textContent = text; hover.style.whiteSpace = "pre";
    hover.style.left = `${event.clientX + 12}px`; hover.style.top = `${event.clientY + 12}px`; hover.hidden = false;
  };
  canvas.onmouseleave = () => { hover.hidden = true; };
  canvas.onclick = (event) => guarded(async () => {
    const hit = networkView.hit(...point(event), S.state.sizes);
    if (!hit) return;
    if (hit.kind === "weight") await select({ layer: hit.layer, from: hit.from, to: hit.to });
    else if (hit.column > 0) {
      const l = hit.column - 1;
      await select(S.state.bias[l] ? { layer: l, from: null, to: hit.index } : { layer: l, from: 0, to: hit.index });
    }
  });

  $("data-canvas").onclick = (event) => guarded(async () => {
    const state = S.state;
    if (!state?.pictures || S.config.data.source === "upload") return;  // a file is trained on as it is
    const c = $("data-canvas"), box = c.getBoundingClientRect();
    const px = (event.clientX - box.left) * c.width / box.width, py = (event.clientY - box.top) * c.height / box.height;
    const config = structuredClone(S.config);
    if (event.shiftKey) {
      const row = dataView.nearest(px, py, state.pictures, decode);
      if (row < 0) return;
      const added = config.data.added, removed = config.data.removed;
      const total = state.pictures.labels.length, original = total - added.length + removed.length;
      const kept = []; const gone = new Set(removed);
      for (let r = 0; r < original; r++) if (!gone.has(r)) kept.push(r);
      if (row < kept.length) removed.push(kept[row]); else added.splice(row - kept.length, 1);
    } else {
      const [x, y] = dataView.toPlane(px, py);
      config.data.added.push([x, y, Number($("add-class").value)]);
    }
    config.edits = [];
    await start(config);
  });

  $("upload-csv").onchange = () => guarded(async () => {
    const file = $("upload-csv").files[0];
    if (!file) return;
    const info = await upload(`/api/upload?name=${encodeURIComponent(file.name)}`, file);
    S.upload = info;
    fillSelect($("data-target"), info.columns);
    $("data-target").value = info.target;
    const config = structuredClone(S.config);
    config.data = { source: "upload", upload: info.upload, target: info.target, added: [], removed: [] };
    config.hidden = config.hidden.length ? config.hidden : [8];
    if (info.task === "classification" && ["mse", "squared_error"].includes(config.loss)) config.loss = "categorical_cross_entropy";
    config.activations = Array.from({ length: config.hidden.length + 1 }, (_, l) => config.activations[l] || "tanh");
    config.edits = [];
    await start(harmonize(config));
    say(`${info.name}: ${info.rows} rows, target ${info.target} (${info.task}` +
      (info.labels.length ? `: ${info.labels.join(", ")})` : ")"), "info");
  });
  $("import-model").onchange = () => guarded(async () => {
    const file = $("import-model").files[0];
    if (!file) return;
    const info = await upload(`/api/import-model?name=${encodeURIComponent(file.name)}`, file);
    const config = structuredClone(S.config);
    Object.assign(config, { hidden: info.sizes.slice(1, -1), activations: info.activations, bias: info.bias, loss: info.loss, model: info.model, edits: [] });
    await start(config);
    say(`continuing from ${info.name}`, "info");
  });
  $("download-data").onclick = () => download(`/api/session/${S.session}/data.csv`, "data.csv");
  $("download-curves-csv").onclick = () => download(`/api/session/${S.session}/curves.csv`, "curves.csv");
  $("download-curves-png").onclick = () => download($("curves").toDataURL("image/png"), "curves.png");
  $("show-commands").onclick = () => guarded(async () => {
    const c = await get(`/api/session/${S.session}/commands`);
    const esc = (t) => t.replace(/[&<>]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[ch]);
    $("commands").innerHTML = (c.data_file ? `<p>Download the data as <b>${esc(c.data_file)}</b> (“data as CSV”), then:</p>` : "") +
      (c.cli ? `<pre id="cli">${esc(c.cli)}</pre><p class="note">${esc(c.cli_note)}</p>` : `<p class="note">${esc(c.cli_note)}</p>`) +
      `<pre id="python">${esc(c.python)}</pre>`;
  });
  $("classroom-toggle").onclick = () => { $("classroom").hidden = !$("classroom").hidden; };
  // Keys, outside the form fields: space plays or pauses, → one update (shift: an epoch),
  // ← one update back, s the next row of the batch.
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea, button") || event.ctrlKey || event.metaKey || event.altKey) return;
    const keys = { " ": "play", ArrowRight: event.shiftKey ? "step-epoch" : "step-batch", ArrowLeft: "back", s: "step-sample" };
    const button = keys[event.key];
    if (!button || $(button).closest("[hidden]")) return;
    event.preventDefault();
    $(button).click();
  });
}

function buildClassroom() {
  const items = [...document.querySelectorAll("[data-hideable]")];
  $("classroom-list").innerHTML = items.map((el) =>
    `<label><input type="checkbox" data-hide="${el.dataset.hideable}"${S.hide.has(el.dataset.hideable) ? " checked" : ""}> ${el.dataset.hideable.replace(/-/g, " ")}</label>`).join("");
  const apply = () => items.forEach((el) => { el.hidden = S.hide.has(el.dataset.hideable); });
  $("classroom-list").onchange = (event) => {
    const name = event.target.dataset.hide;
    if (event.target.checked) S.hide.add(name); else S.hide.delete(name);
    apply(); writeHash();
  };
  apply();
}

async function main() {
  S.options = await get("/api/options");
  const o = S.options;
  fillSelect($("data-name"), o.generators);
  fillSelect($("data-builtin"), Object.keys(o.datasets));
  fillSelect($("loss"), o.losses);
  fillSelect($("init"), o.initializers);
  fillSelect($("optimizer"), Object.keys(o.optimizers));
  fillSelect($("schedule"), Object.keys(o.schedules));
  fillSelect($("add-class"), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const presets = document.createElement("label");
  presets.innerHTML = `preset <select id="preset"><option value="">—</option>${Object.keys(PRESETS).map((k) => `<option>${k}</option>`).join("")}</select>`;
  $("panel-data").querySelector(".controls").prepend(presets);
  wire();
  const hash = readHash();
  hash.hide.forEach((h) => S.hide.add(h));
  buildClassroom();
  try {
    await start(hash.config || o.default, hash.position, hash.sample);
  } catch (error) {
    // A URL the server cannot run (a file it does not have, a hand-edited field): the default
    // run, and the reason.
    await guarded(() => start(o.default));
    say(`this URL's run cannot start: ${error.message}`);
  }
  document.body.dataset.ready = "true";
}

window.chainrule = {
  state: () => S.state, config: () => S.config, stats: () => S.stats, curves: () => S.curves,
  edgePoint: (l, i, j) => networkView.edgePoint(l, i, j),
  neuronPoint: (c, i) => networkView.neuronPoint(c, i),
  dataPoint: (x, y) => dataView.toCanvas(x, y),
};
window.addEventListener("pagehide", () => { if (S.session) navigator.sendBeacon?.(`/api/session/${S.session}/close`); });
main().catch((error) => say(`the page failed to start: ${error.message}`));

// The controls and the configuration they show: a configuration into the controls, the
// controls back into a configuration, and the data panel. No request is made here.
import { ApiError } from "./api.js";
import { html, setHtml } from "./html.js";
import { $, S } from "./state.js";

export const PRESETS = {
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

export function fillSelect(select, values, labels) {  // DOM options: a file's column names stay text
  select.replaceChildren(...values.map((v, i) => new Option(String(labels ? labels[i] : v), String(v))));
}

// A per-hidden-layer field of the configuration (one value for all, or a list) for each layer.
function eachLayer(value, count) { return Array.isArray(value) ? value : Array(count).fill(value); }

// A hidden layer's dropout rate and normalisation menu (the output layer has neither).
function layerExtras(l, rate, kind) {
  return html`<label title="inverted dropout after layer ${l}'s activation, in training only: the share of its outputs dropped, in [0, 1)">dropout <input type="number" data-dropout-layer="${l}" min="0" max="0.99" step="0.05" value="${rate ?? 0}"></label><label title="normalisation of layer ${l}'s sop before its activation: over the batch's rows or over the layer's neurons">norm <select data-norm-layer="${l}">${["none", "batch", "layer"].map((k) => html`<option${k === (kind ?? "none") ? html` selected` : ""}>${k}</option>`)}</select></label>`;
}

function activationSelects(count, config) {
  const names = S.options.activations, values = config.activations;
  const biases = eachLayer(config.bias, count);
  const rates = eachLayer(config.dropout ?? 0, count - 1), kinds = eachLayer(config.normalization ?? null, count - 1);
  // One group per layer: its activation, its bias box, and a hidden layer's dropout and
  // normalisation side by side, apart from the next layer's.
  const box = $("activation-controls"), typing = box.contains(document.activeElement) && document.activeElement.tagName === "INPUT" && document.activeElement.type === "number" ? document.activeElement : null;
  setHtml(box, html`${Array.from({ length: count }, (_, l) => html`<span class="layer-control"><label>${l === count - 1 ? "output" : `layer ${l}`} <select data-layer="${l}">${names.map((n) => html`<option${n === values[l] ? html` selected` : ""}>${n}</option>`)}</select></label><label title="whether layer ${l} has biases"><input type="checkbox" data-bias-layer="${l}"${biases[l] ? html` checked` : ""}> bias</label>${l < count - 1 ? layerExtras(l, rates[l], kinds[l]) : ""}</span>`)}`);
  if (typing) {  // the field being typed in keeps its text and the focus
    const again = box.querySelector(`input[data-dropout-layer="${typing.dataset.dropoutLayer}"]`);
    if (again) { again.value = typing.value; again.focus(); }
  }
}

export function settingInputs(box, defaults, values, prefix) {
  const keys = Object.keys(defaults).join(" ");
  if (box.dataset.keys === keys && box.contains(document.activeElement)) {  // typing in one
    box.querySelectorAll("input[data-setting]").forEach((input) => {
      if (input !== document.activeElement) input.value = values[input.dataset.setting] ?? defaults[input.dataset.setting];
    });
    return;
  }
  box.dataset.keys = keys;
  setHtml(box, html`${Object.entries(defaults).map(([k, v]) =>
    html`<label>${k} <input data-setting="${k}" id="${prefix}-${k}" type="number" step="any" value="${values[k] ?? v}"></label>`)}`);
}

// A control's value as the configuration says, except in the field being typed in (its own
// change restarts the run again, with what was typed).
function put(id, value, property = "value") {
  const el = $(id);
  if (el === document.activeElement && el.tagName === "INPUT" && el.type !== "checkbox") return;
  el[property] = value;
}

// The configuration into the controls; while a newer restart waits, the controls keep what the
// learner has set since (they are that restart's configuration).
export function showConfig(config) {
  if (S.restarts > 1) return;
  const d = config.data;
  put("data-source", d.source);
  $("generator-controls").hidden = d.source !== "generator";
  $("builtin-controls").hidden = d.source !== "builtin";
  $("upload-controls").hidden = d.source !== "upload";
  if (d.source === "generator") {
    put("data-name", d.name); put("data-samples", d.samples); put("data-noise", d.noise);
    put("data-classes", d.classes); put("data-seed", d.seed);
  } else if (d.source === "builtin") {
    put("data-builtin", d.name);
  } else {
    put("data-task", d.task || "");
  }
  put("test-split", config.test_split);
  put("standardize", config.standardize, "checked");
  put("hidden", config.hidden.join(","));
  activationSelects(config.hidden.length + 1, config);
  put("bias", Array.isArray(config.bias) ? config.bias.every(Boolean) : config.bias, "checked");
  $("bias").indeterminate = Array.isArray(config.bias) && !config.bias.every((b) => b === config.bias[0]);
  put("loss", config.loss); put("init", config.init); put("seed", config.seed);
  put("optimizer", config.optimizer);
  settingInputs($("optimizer-settings"), S.options.optimizers[config.optimizer], config.optimizer_settings, "opt");
  put("learning-rate", config.learning_rate);
  put("schedule", config.schedule);
  settingInputs($("schedule-settings"), S.options.schedules[config.schedule], config.schedule_settings, "sched");
  put("batch-size", config.batch_size); put("l2", config.l2); put("l1", config.l1 ?? 0); put("epochs", config.epochs);
  put("clip-norm", config.clip_norm ?? ""); put("clip-value", config.clip_value ?? "");
  put("target-loss", config.target_loss ?? ""); put("target-accuracy", config.target_accuracy ?? "");
}

function number(id) {
  const text = $(id).value.trim();
  const value = Number(text);
  if (text === "" || !Number.isFinite(value)) throw new ApiError(`${id.replace(/-/g, " ")}: not a number (${JSON.stringify(text)})`);
  return value;
}

function optional(id) { return $(id).value.trim() === "" ? null : number(id); }

function settingsFrom(box, defaults) {
  const out = {};
  box.querySelectorAll("input[data-setting]").forEach((input) => {
    const value = Number(input.value);
    if (value !== defaults[input.dataset.setting]) out[input.dataset.setting] = value;
  });
  return out;
}

function dataFrom(source) {
  if (source === "generator") {
    const same = source === S.config.data.source;
    const data = { source, name: $("data-name").value, samples: number("data-samples"), noise: number("data-noise"),
      classes: number("data-classes"), seed: number("data-seed"),
      added: same ? S.config.data.added : [], removed: same ? S.config.data.removed : [] };
    if (!S.options.multiclass.includes(data.name)) data.classes = 2;
    return data;
  }
  if (source === "builtin") return { source, name: $("data-builtin").value, added: [], removed: [] };
  return { ...S.config.data, target: $("data-target").value || null, task: $("data-task").value || null };
}

export function readConfig() {
  const c = structuredClone(S.config);
  c.data = dataFrom($("data-source").value);
  c.test_split = number("test-split");
  c.standardize = $("standardize").checked;
  const hiddenText = $("hidden").value.trim();
  c.hidden = hiddenText ? hiddenText.split(/[ ,]+/).map(Number) : [];
  const selects = [...$("activation-controls").querySelectorAll("select[data-layer]")].map((s) => s.value);
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
  c.dropout = perHidden([...$("activation-controls").querySelectorAll("input[data-dropout-layer]")].map((input) => {
    const text = input.value.trim(), value = Number(text);
    if (text === "" || !Number.isFinite(value)) throw new ApiError(`dropout of layer ${input.dataset.dropoutLayer}: not a number (${JSON.stringify(text)})`);
    return value;
  }), c.hidden.length, 0);
  c.normalization = perHidden([...$("activation-controls").querySelectorAll("select[data-norm-layer]")].map((s) => (s.value === "none" ? null : s.value)), c.hidden.length, null);
  c.loss = $("loss").value; c.init = $("init").value; c.seed = number("seed");
  c.optimizer = $("optimizer").value;
  c.optimizer_settings = settingsFrom($("optimizer-settings"), S.options.optimizers[c.optimizer]);
  c.learning_rate = number("learning-rate");
  c.schedule = $("schedule").value;
  c.schedule_settings = settingsFrom($("schedule-settings"), S.options.schedules[c.schedule]);
  c.batch_size = number("batch-size"); c.l2 = number("l2"); c.l1 = number("l1"); c.epochs = number("epochs");
  c.clip_norm = optional("clip-norm"); c.clip_value = optional("clip-value");
  c.target_loss = optional("target-loss"); c.target_accuracy = optional("target-accuracy");
  c.edits = [];
  return harmonize(c);
}

// One value per hidden layer, from the controls of the layers there were: a new layer takes
// the last one's; one value where all are the same (none: `none`).
function perHidden(values, count, none) {
  if (!count) return none;
  const out = Array.from({ length: count }, (_, l) => (l < values.length ? values[l] : values.at(-1) ?? none));
  return out.every((v) => v === out[0]) ? out[0] : out;
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

// The loss and the output layer that fit the data, by the library's policy for losses as the
// server states it (options.loss_policy); a convenience: the server checks anyway. A loss the
// data cannot take, or a regression loss left from data of another task (or a new file),
// gives way to the task's default; a loss that combines with an output activation gets it,
// and an output that belongs to another loss gives way to the plain one.
export function harmonize(c, newData = false) {
  const P = S.options.loss_policy, d = c.data, facts = dataFacts(d);
  const kind = facts.task === "regression" ? "regression" : facts.classes > 2 ? "more_classes" : "two_classes";
  const asked = c.loss, takes = P.takes[asked];
  const changed = newData || facts.task !== dataFacts(S.config.data).task;
  if (!takes || !takes[kind] || (changed && kind !== "regression" && takes.regression)) c.loss = P.default[kind];
  if (d.source === "builtin" && facts.rows < 4) { c.test_split = 0; c.standardize = false; }
  else if (S.config.data.name === "tutorial" && c.test_split === 0) {  // leaving the one sample
    c.test_split = S.options.default.test_split; c.standardize = true;
  }
  const out = c.activations.length - 1, paired = P.output[c.loss];
  if (paired) c.activations[out] = paired;
  else if (P.coupled.includes(c.activations[out]) || (c.loss !== asked && c.activations[out] === P.output[asked])) {
    c.activations[out] = P.plain;
  }
  return c;
}

// What the server made of the data: for an uploaded file its columns (the target's choices),
// the class labels as the table has them, and what the preparation did with each column.
// Built with textContent only: every name and label here is the file's own text.
const PLANE_TITLE = "click: add a point of the chosen class; shift-click: remove the nearest point";

export function showData(info) {
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

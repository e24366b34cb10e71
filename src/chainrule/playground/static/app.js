// The playground page: the controls wired to the session and the play loop, classroom mode,
// the keys, and the start. The state is state.js's; the controls' values controls.js's; the
// drawing render.js's; the requests and play play.js's; the URL url.js's.
import { decode, full, get, upload } from "./api.js";
import { fillSelect, harmonize, PRESETS, readConfig, settingInputs, showConfig } from "./controls.js";
import { html, setHtml } from "./html.js";
import { act, guarded, play, say, select, start } from "./play.js";
import { drawCurves, fitCanvas, frame } from "./draw.js";
import { dataView, networkView } from "./render.js";
import { $, S } from "./state.js";
import { dropToken, readHash, writeHash } from "./url.js";

// A URL pasted or edited in the address bar: replay the run it names.
window.addEventListener("hashchange", () => {
  if (location.hash === S.lastHash) return;
  const hash = readHash();
  S.hide = new Set(hash.hide);
  S.asked = null;
  buildClassroom();
  guarded(() => start(hash.config || S.options.default, hash.position, hash.sample));
});

function download(href, name) {
  const a = document.createElement("a");
  a.href = href; a.download = name; document.body.appendChild(a); a.click(); a.remove();
}

// ------------------------------------------------------------------ wiring
// Time: steps, back, reset, play and the scrubber.
function wireTime() {
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
}

// Every control of the configuration, of the data, the network and the training alike, acts
// one way: its change starts at once the run the controls now describe, from update 0 (so the
// controls always show the run on show; docs/playground.md says why). The restarts run one
// after the other; of those still waiting only the newest starts (it holds every change). A
// change event that changes nothing (a field left as it was) restarts nothing, unless forced
// (a preset, a file: asked for again, they start again).
function restart(config, force = false) {
  const asked = JSON.stringify(config);
  if (asked === S.asked && !force) return Promise.resolve();
  S.asked = asked; S.nextConfig = config;
  S.restarts += 1;
  const run = async () => {
    try {
      if (S.nextConfig === config) await start(config);
    } catch (error) {
      S.asked = null;  // asking again says why again
      throw error;
    } finally { S.restarts -= 1; }
  };
  S.restartQueue = (S.restartQueue || Promise.resolve()).then(run, run);
  return S.restartQueue;
}

const CONFIG_CONTROLS = ["data-source", "data-name", "data-builtin", "data-samples", "data-noise", "data-classes",
  "data-seed", "test-split", "standardize", "data-target", "data-task", "hidden", "activation-controls", "loss",
  "init", "seed", "optimizer-settings", "learning-rate", "schedule-settings", "batch-size", "l2", "l1", "clip-norm", "clip-value", "epochs",
  "target-loss", "target-accuracy"];

function wireControls() {
  for (const id of CONFIG_CONTROLS) {
    $(id).onchange = () => guarded(async () => {
      if (id === "data-source" && $("data-source").value === "upload" && S.config.data.source !== "upload") {
        showConfig({ ...S.config, data: { ...S.config.data, source: "upload" } });
        say("choose a CSV file", "info");
        return;
      }
      await restart(readConfig());
    });
  }
  // A new optimizer or schedule: its own settings, at their defaults, then the restart.
  $("optimizer").onchange = () => guarded(() => {
    settingInputs($("optimizer-settings"), S.options.optimizers[$("optimizer").value], {}, "opt");
    return restart(readConfig());
  });
  $("schedule").onchange = () => guarded(() => {
    settingInputs($("schedule-settings"), S.options.schedules[$("schedule").value], {}, "sched");
    return restart(readConfig());
  });
  $("bias").onchange = () => guarded(() => { S.biasAll = $("bias").checked; return restart(readConfig()); });
  $("overlay").onchange = () => { if (S.state) { S.view.overlay = $("overlay").value; networkView.draw(S.state, S.view); } };
  $("preset").onchange = () => guarded(() => {
    const preset = PRESETS[$("preset").value];
    return restart({ ...S.options.default, ...structuredClone(preset) }, true);
  });
}

// The canvases follow their containers' size (crisp at the screen's devicePixelRatio): each
// is drawn again when it changes.
function fitCanvases() {
  const changed = ["network", "data-canvas", "curves"].map((id) => fitCanvas($(id)));
  if (!S.state) return;
  if (changed[0]) networkView.draw(S.state, S.view);
  if (changed[1]) dataView.draw(S.state, S.state.pictures, decode);
  if (changed[2]) drawCurves($("curves"), S.curves);
}

// Where a frame-unit box of a canvas lies on the page, in CSS pixels: [left, top, width, height].
function onPage(canvas, [x, y, w, h]) {
  const box = canvas.getBoundingClientRect(), s = canvas.clientWidth / frame(canvas).width;
  const left = box.left + canvas.clientLeft + window.scrollX, top = box.top + canvas.clientTop + window.scrollY;
  return [left + x * s, top + y * s, w * s, h * s];
}

// The network: hover for a value, click for a chain.
function wireNetwork() {
  const canvas = $("network"), hover = $("hover");
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    const f = frame(canvas);
    return [(event.clientX - box.left) * f.width / box.width, (event.clientY - box.top) * f.height / box.height];
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
      const rate = [S.config.dropout].flat()[Array.isArray(S.config.dropout) ? l : 0], kind = [S.config.normalization].flat()[Array.isArray(S.config.normalization) ? l : 0];
      const extras = l < S.state.activations.length - 1 ? [kind && `${kind} norm`, rate && `dropout ${rate}`].filter(Boolean).join(", ") : "";
      text = `layer ${l} neuron ${hit.index} (${S.state.activations[l]}${extras ? `; ${extras}` : ""})` + (b ? `\nbiases[${l}][${hit.index}] = ${full(b[hit.index])}` : "\nno bias");
      if (b && S.view.gradients) text += `\ngradient of the last step = ${full(S.view.gradients.biases[l][hit.index])}`;
    }
    hover.textContent = text; hover.style.whiteSpace = "pre";
    hover.hidden = false;  // beside the pointer, kept on the screen (a phone's is narrow)
    hover.style.left = `${Math.max(0, Math.min(event.clientX + 12, innerWidth - hover.offsetWidth - 4))}px`;
    hover.style.top = `${event.clientY + 12}px`;
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
}

// The plane: click adds a point, shift-click removes the nearest.
function wirePlane() {
  $("data-canvas").onclick = (event) => guarded(async () => {
    const state = S.state;
    if (!state?.pictures || S.config.data.source === "upload") return;  // a file is trained on as it is
    const c = $("data-canvas"), box = c.getBoundingClientRect(), f = frame(c);
    const px = (event.clientX - box.left) * f.width / box.width, py = (event.clientY - box.top) * f.height / box.height;
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
    await restart(config);
  });
}

// Files in and out: a table, a model file, the downloads, the command and the code.
function wireFiles() {
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
    config.activations = Array.from({ length: config.hidden.length + 1 }, (_, l) => config.activations[l] || "tanh");
    config.edits = [];
    await restart(harmonize(config, true), true);
    say(`${info.name}: ${info.rows} rows, target ${info.target} (${info.task}` +
      (info.labels.length ? `: ${info.labels.join(", ")})` : ")"), "info");
  });
  $("import-model").onchange = () => guarded(async () => {
    const file = $("import-model").files[0];
    if (!file) return;
    const info = await upload(`/api/import-model?name=${encodeURIComponent(file.name)}`, file);
    const config = structuredClone(S.config);
    Object.assign(config, { hidden: info.sizes.slice(1, -1), activations: info.activations, bias: info.bias, loss: info.loss, model: info.model, edits: [],
      dropout: info.dropout ?? 0, normalization: info.normalization ?? null });
    await restart(config, true);
    say(`continuing from ${info.name}`, "info");
  });
  $("download-data").onclick = () => download(`/api/session/${S.session}/data.csv`, "data.csv");
  $("download-curves-csv").onclick = () => download(`/api/session/${S.session}/curves.csv`, "curves.csv");
  $("download-curves-png").onclick = () => download($("curves").toDataURL("image/png"), "curves.png");
  $("show-commands").onclick = () => guarded(async () => {
    const c = await get(`/api/session/${S.session}/commands`);
    setHtml($("commands"), html`${c.data_file ? html`<p>Download the data as <b>${c.data_file}</b> (“data as CSV”), then:</p>` : ""}${
      c.cli ? html`<pre id="cli">${c.cli}</pre>` : ""}<p class="note">${c.cli_note}</p><pre id="python">${c.python}</pre>`);
  });
}

// Keys, outside the form fields: space plays or pauses, → one update (shift: an epoch),
// ← one update back, s the next row of the batch.
function wireKeys() {
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
  setHtml($("classroom-list"), html`${items.map((el) =>
    html`<label><input type="checkbox" data-hide="${el.dataset.hideable}"${S.hide.has(el.dataset.hideable) ? html` checked` : ""}> ${el.dataset.hideable.replace(/-/g, " ")}</label>`)}`);
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
  dropToken();  // that answer came on the cookie alone: the address bar needs no token
  const o = S.options;
  fillSelect($("data-name"), o.generators);
  fillSelect($("data-builtin"), Object.keys(o.datasets));
  fillSelect($("loss"), o.losses);
  fillSelect($("init"), o.initializers);
  fillSelect($("optimizer"), Object.keys(o.optimizers));
  fillSelect($("schedule"), Object.keys(o.schedules));
  fillSelect($("add-class"), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const presets = document.createElement("label");
  setHtml(presets, html`preset <select id="preset"><option value="">—</option>${Object.keys(PRESETS).map((k) => html`<option>${k}</option>`)}</select>`);
  $("panel-data").querySelector(".controls").prepend(presets);
  for (const wire of [wireTime, wireControls, wireNetwork, wirePlane, wireFiles, wireKeys]) wire();
  fitCanvases();
  const watcher = new ResizeObserver(fitCanvases);
  for (const id of ["network", "data-canvas", "curves"]) watcher.observe($(id));
  $("classroom-toggle").onclick = () => { $("classroom").hidden = !$("classroom").hidden; };
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
  // The curves' plot and each legend entry, where they lie on the page (CSS pixels).
  curvesLayout: () => {
    const canvas = $("curves"), layout = frame(canvas).layout;
    return layout && { plot: onPage(canvas, layout.plot), legend: layout.legend.map(([name, ...box]) => [name, ...onPage(canvas, box)]) };
  },
};
window.addEventListener("pagehide", () => { if (S.session) navigator.sendBeacon?.(`/api/session/${S.session}/close`); });
main().catch((error) => say(`the page failed to start: ${error.message}`));

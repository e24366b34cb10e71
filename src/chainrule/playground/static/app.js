// The playground page: the controls wired to the session and the play loop, classroom mode,
// the keys, and the start. The state is state.js's; the controls' values controls.js's; the
// drawing render.js's; the requests and play play.js's; the URL url.js's.
import { decode, full, get, upload } from "./api.js";
import { fillSelect, harmonize, PRESETS, readConfig, settingInputs, showConfig } from "./controls.js";
import { html, setHtml } from "./html.js";
import { act, guarded, play, say, select, start } from "./play.js";
import { dataView, networkView } from "./render.js";
import { $, S } from "./state.js";
import { dropToken, readHash, writeHash } from "./url.js";

// A URL pasted or edited in the address bar: replay the run it names.
window.addEventListener("hashchange", () => {
  if (location.hash === S.lastHash) return;
  const hash = readHash();
  S.hide = new Set(hash.hide);
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

// The configuration's controls: a change starts the run it describes.
function wireControls() {
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
}

// The network: hover for a value, click for a chain.
function wireNetwork() {
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
}

// The plane: click adds a point, shift-click removes the nearest.
function wirePlane() {
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
    await start(harmonize(config, true));
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
};
window.addEventListener("pagehide", () => { if (S.session) navigator.sendBeacon?.(`/api/session/${S.session}/close`); });
main().catch((error) => say(`the page failed to start: ${error.message}`));

// Talking to the session and the play loop: a run started from a configuration, the actions
// (step, go to, edit) one after the other, the chain of the weight chosen, and play.
import { ApiError, get, post } from "./api.js";
import { renderChain } from "./chain.js";
import { showConfig, showData } from "./controls.js";
import { html, setHtml } from "./html.js";
import { networkView, render } from "./render.js";
import { $, S } from "./state.js";

export function say(text, kind = "error") {
  const box = $("message");
  box.textContent = text; box.className = kind === "info" ? "info" : ""; box.hidden = !text;
}

// Runs work; a failure is said in the message box (the server's words) and pauses play.
export async function guarded(work) {
  try { say(""); return await work(); } catch (error) {
    say(error instanceof ApiError ? error.message : `the page failed: ${error.message}`);
    S.playing = false; $("play").textContent = "▶ play";
    return undefined;
  }
}

// Epochs of curves the page holds (the server sends the ones after).
export function since() { return (S.curves.loss || []).length; }

export async function start(config, position = 0, sample = 0) {
  S.playing = false;
  const answer = await post("/api/session", { config, position, sample });
  if (S.session) post(`/api/session/${S.session}/close`, {}).catch(() => {});
  S.session = answer.session; S.config = answer.config; S.selected = null;
  showConfig(S.config);
  showData(answer.data);
  setHtml($("chain"), html`<p class="note">Click a weight or a neuron in the network.</p>`);
  $("commands").replaceChildren();
  render(answer.state);
}

// Actions run one after the other, in the order they were asked for (a click during another
// action waits its turn; a click during play pauses it first).
export function act(path, message) {
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

export async function select(target) {
  S.selected = target;
  networkView.selected = target;
  if (S.state) networkView.draw(S.state, S.view);
  await loadChain();
}

// Epochs of curves the page holds once this state is merged.
function sinceAfter(state) { return state.curves_from + (state.curves.loss || []).length; }

export function play() {
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

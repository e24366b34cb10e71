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

// Lets the browser put a frame on the screen, or answer a click, between two drawings (a task,
// not a timer: no 4 ms clamp); the next drawing does not wait for a frame.
function yieldToBrowser() {
  return new Promise((resolve) => { const c = new MessageChannel(); c.port1.onmessage = resolve; c.port2.postMessage(0); });
}

// Drawing goes on for at most about this many milliseconds before the browser may put a frame
// on the screen (and answer a click).
const TASK_MS = 8;

// Updates one request of full-speed play asks for: about this many milliseconds of drawing
// (at most the server's MAX_PLAYED), so that the time a request costs is shared by several
// updates and a pause takes effect within a fraction of a second.
const BATCH_MS = 100, MAX_PLAYED = 32;

// Play: every update the server makes is drawn, in order, in full (render(): the network, the
// neurons' pictures, the plane, the curves, the position), from that update's own state. At
// full speed each request asks for several updates and gets the state after each, and the next
// request is on its way while these are drawn; after about TASK_MS of drawing the browser may
// put a frame on the screen, which shows the latest update drawn (so above the frame rate not
// every update stays a frame on the screen). The stats: updates drawn (steps; frames counts
// render()'s calls), requests, the browser's frames (screenFrames), and the milliseconds from
// asking to reading the answers, waiting with nothing to draw, and drawing.
async function playing() {
  S.playing = true; $("play").textContent = "❚❚ pause";
  const stats = S.stats = { steps: 0, frames: 0, requests: 0, screenFrames: 0,
    started: performance.now(), requestMs: 0, waitMs: 0, drawMs: 0 };
  const onFrame = () => { if (S.playing) { stats.screenFrames += 1; requestAnimationFrame(onFrame); } };
  requestAnimationFrame(onFrame);
  let metricsAsked = 0, count = 1;
  const ask = (from, n) => {
    const t0 = performance.now();
    const metrics = t0 - metricsAsked > 250;
    if (metrics) metricsAsked = t0;
    stats.requests += 1;
    return post(`/api/session/${S.session}/play`, { count: n, since: from, points: false, metrics })
      .then((answer) => { stats.requestMs += performance.now() - t0; return answer.states; });
  };
  try {
    let pending = ask(since(), 1);
    while (pending) {
      const t0 = performance.now();
      const states = await pending;
      stats.waitMs += performance.now() - t0;
      const speed = Number($("speed").value), last = states.at(-1);
      const more = S.playing && !last.stopped && !last.finished;
      pending = more && speed === 0 ? ask(sinceAfter(last), count) : null;
      let task = performance.now();
      for (let i = 0; i < states.length; i++) {
        if (i && performance.now() - task > TASK_MS) { await yieldToBrowser(); task = performance.now(); }
        render(states[i]);
        stats.steps += 1;
      }
      if (!more) break;
      if (speed === 0) {
        const perUpdate = (performance.now() - t0) / states.length;
        count = Math.max(1, Math.min(MAX_PLAYED, Math.round(BATCH_MS / Math.max(perUpdate, 1))));
      } else {
        await new Promise((resolve) => requestAnimationFrame(resolve));
        const wait = 1000 / speed - (performance.now() - t0);
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        pending = S.playing ? ask(since(), 1) : null;
      }
    }
  } finally {
    S.playing = false; $("play").textContent = "▶ play";
    // Paused: everything as of the last update, the metrics on all rows included.
    render(await get(`/api/session/${S.session}/state?since=${since()}`));
    if (S.selected) await loadChain();
  }
}

// How numbers read: four significant digits by default (aligned in their columns), the exact
// value (the shortest text that reads back to the same double) on hover or focus, a click
// copies it, and the switch #precision-full shows every number in full. A number is a
// <span class="num" data-exact="..."> whose text this module sets; nothing here computes.
import { full } from "./api.js";

let exact = false;

// Four significant digits, keeping trailing zeros so that columns line up.
export function readable(x) {
  if (typeof x !== "number" || !Number.isFinite(x) || x === 0) return full(x);
  const size = Math.abs(x);
  if (Number.isInteger(x) && size < 1e5) return String(x);
  return size < 1e-3 || size >= 1e5 ? x.toExponential(3) : x.toPrecision(4);
}

export function shown(x) { return exact ? full(x) : readable(x); }

export function fullPrecision() { return exact; }

// Every number under ``root`` written as the switch says (after markup is set, or a switch).
export function applyPrecision(root = document) {
  for (const el of root.querySelectorAll(".num[data-exact]")) {
    const x = Number(el.dataset.exact);
    el.textContent = exact || el.dataset.exact !== full(x) ? el.dataset.exact : readable(x);
  }
}

// The switch holds across reloads (the browser's own storage; nothing goes to the server).
export function setFullPrecision(on) {
  exact = Boolean(on);
  document.body.dataset.precision = exact ? "full" : "readable";
  try { localStorage.setItem("chainrule.precision", exact ? "full" : "readable"); } catch { /* storage off */ }
  applyPrecision();
}

function remembered() {
  try { return localStorage.getItem("chainrule.precision") === "full"; } catch { return false; }
}

async function copyExact(event) {
  const el = event.target.closest?.(".num[data-exact]");
  if (!el) return;
  try {
    await navigator.clipboard.writeText(el.dataset.exact);
    el.classList.add("copied");
    setTimeout(() => el.classList.remove("copied"), 800);
  } catch { /* no clipboard (an insecure page): the title still shows the value */ }
}

const toggle = document.getElementById("precision-full");
if (toggle) {
  toggle.onchange = () => setFullPrecision(toggle.checked);
  toggle.checked = remembered();
  setFullPrecision(toggle.checked);
}
document.addEventListener("click", copyExact);
document.addEventListener("keydown", (event) => { if (event.key === "c") copyExact(event); });

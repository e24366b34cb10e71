// The pieces every line of a chain is made of: a number (readable text, exact value on
// demand) and a line that multiplies or adds shown numbers, which says so in its data-check.
import { full } from "./api.js";
import { html } from "./html.js";
import { shown } from "./precision.js";

// A number: its readable text, its exact value in data-exact and the title (with its name).
export function num(key, value, name = "") {
  return html`<span class="num" data-key="${key}" data-exact="${full(value)}" title="${name ? `${name} = ` : ""}${full(value)} (click to copy the exact value)" tabindex="0">${shown(value)}</span>`;
}

// A line whose result is the product (or sum, or sum of pair products) of shown numbers.
export function check(kind, terms, result, body) {
  return html`<div class="line" data-check="${kind}" data-terms="${terms.join(" ")}" data-result="${result}">${body}</div>`;
}

// One sample's value of a per-sample list (a number when the batch has one sample).
export function at(values, row) {
  if (!Array.isArray(values)) return values;
  return values.length > row ? values[row] : values[values.length - 1];
}


// The one way text reaches the page's markup. html`...` escapes every value put into it (a
// file's column names, class labels, every number), except markup made by html`` itself (and
// arrays of it); setHtml is the only place the page sets innerHTML, and takes nothing else.

class Markup {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}

// Text made safe inside HTML (element content or a quoted attribute).
export function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function part(value) {
  if (value instanceof Markup) return value.text;
  if (Array.isArray(value)) return value.map(part).join("");
  if (value === null || value === undefined) return "";
  return esc(value);
}

export function html(strings, ...values) {
  let text = strings[0];
  values.forEach((value, i) => { text += part(value) + strings[i + 1]; });
  return new Markup(text);
}

export function setHtml(element, markup) {
  if (!(markup instanceof Markup)) throw new TypeError("setHtml takes markup made by html``");
  element.innerHTML = markup.text;
}

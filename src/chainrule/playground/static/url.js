// The URL that replays a run: the configuration, the update on show and what classroom mode
// hides, in the hash (base64url of the configuration's JSON). The token is not part of it:
// once the page has its cookie, dropToken takes it out of the address bar, so the address a
// person copies replays the run without handing out the server's token.
import { S } from "./state.js";

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

export function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const out = { config: null, position: 0, sample: 0, hide: [] };
  if (params.get("c")) out.config = decodeConfig(params.get("c"));
  out.position = Number(params.get("p") || 0);
  out.sample = Number(params.get("s") || 0);
  out.hide = (params.get("hide") || "").split(",").filter(Boolean);
  return out;
}

export function writeHash() {
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

// The address without its ?token= (the rest of the query and the hash kept as they are).
export function dropToken() {
  const params = new URLSearchParams(location.search);
  if (!params.has("token")) return;
  params.delete("token");
  const query = params.toString();
  history.replaceState(history.state, "", `${location.pathname}${query ? `?${query}` : ""}${location.hash}`);
}

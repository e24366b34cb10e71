// Talking to the server: every number the page shows comes from these answers.

export class ApiError extends Error {}

async function answer(response) {
  const text = await response.text();
  let body;
  try { body = JSON.parse(text); } catch { body = { error: text || response.statusText }; }
  if (!response.ok) throw new ApiError(body.error || `${response.status} ${response.statusText}`);
  return body;
}

export async function post(path, message) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(message ?? {}), credentials: "same-origin",
  });
  return answer(response);
}

export async function get(path) {
  return answer(await fetch(path, { credentials: "same-origin" }));
}

export async function upload(path, file) {
  const response = await fetch(path, { method: "POST", body: file, credentials: "same-origin" });
  return answer(response);
}

// base64 of little-endian float64 (exact values) or float32 (pictures).
export function decode(text, kind = "f8") {
  if (text == null) return null;
  let bytes;
  if (Uint8Array.fromBase64) bytes = Uint8Array.fromBase64(text);  // the browser's own, fast
  else {
    const binary = atob(text);
    bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  }
  return kind === "f8" ? new Float64Array(bytes.buffer) : new Float32Array(bytes.buffer);
}

// A number as the shortest text that reads back to the same double (what Python's repr gives,
// up to the exponent's spelling), so a reader sees the engine's exact value.
export function full(x) {
  if (x === null || x === undefined) return "—";
  if (typeof x !== "number") return String(x);
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  return String(x);
}

export function short(x, digits = 4) {
  if (x === null || x === undefined) return "—";
  if (typeof x !== "number" || !Number.isFinite(x)) return full(x);
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e5)) return x.toExponential(digits - 1);
  return String(Number(x.toPrecision(digits)));
}

// Drawing: the network, the data plane and the curves. Nothing here computes a pass of the
// network; it draws the values the server sent.

const BLUE = [47, 111, 219], ORANGE = [232, 135, 30], WHITE = [255, 255, 255];
export const CLASS_COLOURS = ["#e8871e", "#2f6fdb", "#2a9d55", "#c2419b", "#7b57c9", "#c9b037",
  "#3bb3c3", "#8c5a2b", "#555555", "#d04545"];

function mix(a, b, t) { return a.map((v, i) => Math.round(v + (b[i] - v) * t)); }

// -1 orange, 0 white, +1 blue.
export function diverging(v) {
  const t = Math.max(-1, Math.min(1, v));
  return t >= 0 ? mix(WHITE, BLUE, t) : mix(WHITE, ORANGE, -t);
}

// The diverging colours of 511 evenly spaced values in [-1, 1], for filling images fast.
const LUT = Array.from({ length: 511 }, (_, k) => diverging(k / 255 - 1));

function fillImage(data, values, scale, offset) {
  for (let k = 0; k < values.length; k++) {
    let index = Math.round((values[k] * scale + offset + 1) * 255);
    index = index < 0 ? 0 : index > 510 ? 510 : index;
    const rgb = LUT[index];
    data[4 * k] = rgb[0]; data[4 * k + 1] = rgb[1]; data[4 * k + 2] = rgb[2]; data[4 * k + 3] = 255;
  }
}

function hexRgb(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

// ------------------------------------------------------------------ the network
export class NetworkView {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.columns = [];
    this.selected = null;
  }

  layout(sizes) {
    const { width, height } = this.canvas;
    const margin = 30, columns = sizes.length;
    this.columns = sizes.map((n, c) => {
      const x = margin + 20 + (columns === 1 ? 0 : c * (width - 2 * margin - 40) / (columns - 1));
      const spacing = Math.min(56, (height - 30) / n);
      const top = height / 2 - spacing * (n - 1) / 2;
      const size = Math.max(2, Math.min(36, spacing * 0.78));
      return { x, ys: Array.from({ length: n }, (_, i) => top + i * spacing), size };
    });
  }

  // Where weights[layer][from, to] can be clicked: a point on its line, near its source.
  edgePoint(layer, from, to) {
    const a = this.columns[layer], b = this.columns[layer + 1];
    const t = 0.3;
    const x1 = a.x + a.size / 2, x2 = b.x - b.size / 2;
    return { x: x1 + (x2 - x1) * t, y: a.ys[from] + (b.ys[to] - a.ys[from]) * t };
  }

  neuronPoint(column, index) {
    return { x: this.columns[column].x, y: this.columns[column].ys[index] };
  }

  draw(state, view) {
    const ctx = this.ctx, { width, height } = this.canvas;
    ctx.clearRect(0, 0, width, height);
    this.layout(state.sizes);
    const values = view.overlay === "gradients" && view.gradients ? view.gradients.weights
      : view.weights;
    const edges = state.sizes.slice(1).reduce((n, s, l) => n + s * state.sizes[l], 0);
    ctx.globalAlpha = edges > 3000 ? 0.35 : edges > 500 ? 0.6 : 0.9;
    // Edges in a few strokes: one path per colour and width class (many small strokes cost
    // the browser far more than the lines themselves).
    const WIDTHS = edges > 3000 ? 1 : 8;
    values.forEach((w, layer) => {
      const n_out = state.sizes[layer + 1];
      let largest = 1e-12;
      for (const v of w) largest = Math.max(largest, Math.abs(v));
      const a = this.columns[layer], b = this.columns[layer + 1];
      const paths = Array.from({ length: 2 * WIDTHS }, () => new Path2D());
      for (let i = 0; i < state.sizes[layer]; i++) {
        for (let j = 0; j < n_out; j++) {
          const v = w[i * n_out + j];
          const level = Math.min(WIDTHS - 1, Math.floor(WIDTHS * Math.abs(v) / largest));
          const path = paths[(v >= 0 ? 0 : WIDTHS) + level];
          path.moveTo(a.x + a.size / 2, a.ys[i]);
          path.lineTo(b.x - b.size / 2, b.ys[j]);
        }
      }
      paths.forEach((path, k) => {
        const level = k % WIDTHS;
        ctx.strokeStyle = k < WIDTHS ? "rgb(47,111,219)" : "rgb(232,135,30)";
        ctx.lineWidth = WIDTHS === 1 ? 0.6 : 0.4 + 3.6 * (level + 0.5) / WIDTHS;
        ctx.stroke(path);
      });
    });
    ctx.globalAlpha = 1;
    if (this.selected && this.selected.from !== null) {
      const { layer, from, to } = this.selected;
      const a = this.columns[layer], b = this.columns[layer + 1];
      if (a && b && from < a.ys.length && to < b.ys.length) {
        ctx.strokeStyle = "#000"; ctx.lineWidth = 2.5; ctx.setLineDash([5, 3]);
        ctx.beginPath(); ctx.moveTo(a.x + a.size / 2, a.ys[from]);
        ctx.lineTo(b.x - b.size / 2, b.ys[to]); ctx.stroke(); ctx.setLineDash([]);
      }
    }
    const pictures = view.pictures;
    this.columns.forEach((column, c) => {
      const picture = pictures ? pictures[c] : null;
      column.ys.forEach((y, i) => {
        const s = column.size, x = column.x;
        if (picture && s >= 14) {
          ctx.drawImage(picture[i], x - s / 2, y - s / 2, s, s);
          ctx.strokeStyle = "#888"; ctx.lineWidth = 1;
          ctx.strokeRect(x - s / 2, y - s / 2, s, s);
        } else {
          ctx.fillStyle = c === 0 ? "#ddd" : "#fff";
          ctx.strokeStyle = "#555"; ctx.lineWidth = 1;
          ctx.beginPath(); ctx.arc(x, y, Math.max(1.5, s / 2), 0, 2 * Math.PI);
          ctx.fill(); ctx.stroke();
        }
        if (this.selected && this.selected.layer + 1 === c && this.selected.to === i
            && this.selected.from === null) {
          ctx.strokeStyle = "#000"; ctx.lineWidth = 2.5;
          ctx.strokeRect(x - s / 2 - 3, y - s / 2 - 3, s + 6, s + 6);
        }
      });
    });
    ctx.fillStyle = "#333"; ctx.font = "11px system-ui";
    this.columns.forEach((column, c) => {
      const label = c === 0 ? `x (${state.sizes[0]})`
        : `${state.activations[c - 1]} (${state.sizes[c]})`;
      ctx.fillText(label, column.x - 24, 12);
    });
  }

  // What is under (x, y): {kind: "neuron", column, index} or {kind: "weight", layer, from, to}.
  hit(x, y, sizes) {
    for (let c = 0; c < this.columns.length; c++) {
      const column = this.columns[c];
      if (Math.abs(x - column.x) <= Math.max(4, column.size / 2 + 2)) {
        // The nearest neuron of the column (in a wide layer the neurons nearly touch).
        let nearest = -1, distance = Math.max(3, column.size / 2 + 1);
        column.ys.forEach((ny, i) => {
          const d = Math.abs(y - ny);
          if (d <= distance) { distance = d; nearest = i; }
        });
        if (nearest >= 0) return { kind: "neuron", column: c, index: nearest };
      }
    }
    let best = null, bestDistance = 5;
    for (let layer = 0; layer + 1 < this.columns.length; layer++) {
      const a = this.columns[layer], b = this.columns[layer + 1];
      const x1 = a.x + a.size / 2, x2 = b.x - b.size / 2;
      if (x < x1 - 2 || x > x2 + 2) continue;
      const t = (x - x1) / (x2 - x1);
      for (let i = 0; i < sizes[layer]; i++) {
        for (let j = 0; j < sizes[layer + 1]; j++) {
          const ly = a.ys[i] + (b.ys[j] - a.ys[i]) * t;
          const slope = (b.ys[j] - a.ys[i]) / (x2 - x1);
          const d = Math.abs(y - ly) / Math.sqrt(1 + slope * slope);
          if (d < bestDistance) { bestDistance = d; best = { kind: "weight", layer, from: i, to: j }; }
        }
      }
    }
    return best;
  }
}

// Small images of each neuron's output over the plane (2-D data): one canvas per neuron.
const canvasPool = [];

function pooledCanvas(index, size) {
  if (!canvasPool[index]) canvasPool[index] = document.createElement("canvas");
  const canvas = canvasPool[index];
  if (canvas.width !== size) { canvas.width = size; canvas.height = size; }
  return canvas;
}

export function neuronPictures(pictures, state, decode) {
  if (!pictures) return null;
  let used = 0;
  const g = pictures.grid, cells = g * g;
  const functions = ["identity", ...state.activations];
  return pictures.layers.map((encoded, c) => {
    if (encoded == null) return null;
    const values = decode(encoded, "f4");
    const n = values.length / cells;
    const bounded = ["sigmoid", "softmax"].includes(functions[c]);
    return Array.from({ length: n }, (_, i) => {
      const slice = values.subarray(i * cells, (i + 1) * cells);
      let largest = 1e-12;
      for (const v of slice) largest = Math.max(largest, Math.abs(v));
      const canvas = pooledCanvas(used++, g);
      const context = canvas.getContext("2d"), image = context.createImageData(g, g);
      if (bounded) fillImage(image.data, slice, 2, -1);
      else fillImage(image.data, slice, 1 / Math.max(1, largest), 0);
      context.putImageData(image, 0, 0);
      return canvas;
    });
  });
}

// ------------------------------------------------------------------ the data plane
export class DataView {
  constructor(canvas) { this.canvas = canvas; this.ctx = canvas.getContext("2d"); }

  toPlane(px, py) {
    const [x0, x1, y0, y1] = this.extent, { width, height } = this.canvas;
    return [x0 + (x1 - x0) * px / width, y1 - (y1 - y0) * py / height];
  }

  toCanvas(x, y) {
    const [x0, x1, y0, y1] = this.extent, { width, height } = this.canvas;
    return [(x - x0) / (x1 - x0) * width, (y1 - y) / (y1 - y0) * height];
  }

  draw(state, pictures, decode) {
    const ctx = this.ctx, { width, height } = this.canvas;
    ctx.clearRect(0, 0, width, height);
    if (!pictures) { this.extent = null; return; }
    this.extent = pictures.extent;
    const g = pictures.grid, cells = g * g;
    const last = decode(pictures.layers[pictures.layers.length - 1], "f4");
    const n_out = last.length / cells, task = state.task;
    const image = ctx.createImageData(g, g);
    for (let k = 0; k < cells; k++) {
      let rgb;
      if (task === "classification" && n_out > 1) {
        let best = 0;
        for (let o = 1; o < n_out; o++) if (last[o * cells + k] > last[best * cells + k]) best = o;
        const colour = hexRgb(CLASS_COLOURS[best % CLASS_COLOURS.length]);
        rgb = mix(WHITE, colour, 0.15 + 0.5 * Math.max(0, (last[best * cells + k] - 1 / n_out) * n_out / (n_out - 1)));
      } else if (task === "classification") {
        rgb = diverging(0.7 * (2 * last[k] - 1));
      } else {
        rgb = diverging(0.7 * Math.tanh(last[k]));
      }
      image.data.set([...rgb, 255], 4 * k);
    }
    const scratch = document.createElement("canvas");
    scratch.width = g; scratch.height = g;
    scratch.getContext("2d").putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(scratch, 0, 0, width, height);
    const points = decode(pictures.points), labels = pictures.labels;
    const held = new Set(pictures.test_rows);
    for (let r = 0; r < labels.length; r++) {
      const [cx, cy] = this.toCanvas(points[2 * r], points[2 * r + 1]);
      const colour = task === "classification" ? CLASS_COLOURS[labels[r] % CLASS_COLOURS.length]
        : `rgb(${diverging(Math.tanh(labels[r])).join(",")})`;
      ctx.beginPath(); ctx.arc(cx, cy, 3.2, 0, 2 * Math.PI);
      ctx.fillStyle = held.has(r) ? "#fff" : colour; ctx.fill();
      ctx.strokeStyle = held.has(r) ? colour : "#fff"; ctx.lineWidth = held.has(r) ? 1.6 : 0.8;
      ctx.stroke();
    }
  }

  nearest(px, py, pictures, decode) {
    const points = decode(pictures.points);
    let best = -1, distance = 8;
    for (let r = 0; r < points.length / 2; r++) {
      const [cx, cy] = this.toCanvas(points[2 * r], points[2 * r + 1]);
      const d = Math.hypot(cx - px, cy - py);
      if (d < distance) { distance = d; best = r; }
    }
    return best;
  }
}

// ------------------------------------------------------------------ the curves
export function drawCurves(canvas, curves) {
  const ctx = canvas.getContext("2d"), { width, height } = canvas;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, width, height);
  const left = 48, right = 40, top = 12, bottom = 26;
  const loss = curves.loss || [], n = loss.length;
  ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
  ctx.strokeRect(left, top, width - left - right, height - top - bottom);
  ctx.fillStyle = "#333"; ctx.font = "11px system-ui";
  ctx.fillText("epoch", width / 2 - 12, height - 6);
  if (!n) { ctx.fillText("no epoch finished yet", left + 10, top + 20); return; }
  const series = [["loss", "#183153"], ["test_loss", "#d04545"]].filter(([k]) => curves[k]?.length);
  let high = 0;
  for (const [k] of series) for (const v of curves[k]) if (Number.isFinite(v)) high = Math.max(high, v);
  high = high || 1;
  const x = (i) => left + (width - left - right) * (n === 1 ? 0.5 : i / (n - 1));
  const y = (v, top_value) => top + (height - top - bottom) * (1 - v / top_value);
  for (const [k, colour] of series) {
    ctx.strokeStyle = colour; ctx.lineWidth = 1.5; ctx.beginPath();
    curves[k].forEach((v, i) => (i ? ctx.lineTo(x(i), y(v, high)) : ctx.moveTo(x(i), y(v, high))));
    ctx.stroke();
  }
  const accuracy = [["accuracy", "#2a9d55"], ["test_accuracy", "#c2419b"], ["test_r2", "#c2419b"]]
    .filter(([k]) => curves[k]?.length);
  for (const [k, colour] of accuracy) {
    ctx.strokeStyle = colour; ctx.setLineDash([4, 3]); ctx.beginPath();
    curves[k].forEach((v, i) => {
      const yy = y(Math.max(0, Math.min(1, v)), 1);
      return i ? ctx.lineTo(x(i), yy) : ctx.moveTo(x(i), yy);
    });
    ctx.stroke(); ctx.setLineDash([]);
  }
  ctx.fillStyle = "#333";
  ctx.fillText(high.toPrecision(3), 4, top + 8); ctx.fillText("0", 30, height - bottom);
  ctx.fillText("1", width - right + 6, top + 8); ctx.fillText(String(n), width - right - 10, height - 12);
  let lx = left + 6;
  for (const [k, colour] of [...series, ...accuracy]) {
    ctx.fillStyle = colour; ctx.fillText(k, lx, top + 12); lx += ctx.measureText(k).width + 12;
  }
}

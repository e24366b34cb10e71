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

// ------------------------------------------------------------------ canvases that fit
// Each canvas keeps the frame its width and height attributes first gave (the network
// 760 × 420, the plane 300 × 300, the curves 420 × 220): it is drawn, hit and clicked in
// those units whatever its size. CSS scales the canvas to its container; fitCanvas gives it a
// device pixel per backing pixel (crisp at any devicePixelRatio) and notes one CSS pixel's
// size in frame units, so that text stays 11 CSS pixels high on a small screen.
const frames = new WeakMap();

export function frame(canvas) {
  if (!frames.has(canvas)) frames.set(canvas, { width: canvas.width, height: canvas.height, css: canvas.width });
  return frames.get(canvas);
}

// Backing pixels for the canvas's CSS width; true when its size changed (then redraw).
export function fitCanvas(canvas) {
  const f = frame(canvas), css = canvas.clientWidth;
  if (!css) return false;
  const ratio = window.devicePixelRatio || 1;
  const width = Math.round(css * ratio), height = Math.round(css * ratio * f.height / f.width);
  const changed = css !== f.css || canvas.width !== width || canvas.height !== height;
  f.css = css;
  if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
  return changed;
}

// The canvas's context set to draw in frame units; px is one CSS pixel in those units.
function begin(canvas) {
  const f = frame(canvas), ctx = canvas.getContext("2d"), s = canvas.width / f.width;
  ctx.setTransform(s, 0, 0, s, 0, 0);
  return { ctx, width: f.width, height: f.height, px: f.width / f.css };
}

// ------------------------------------------------------------------ the network
export class NetworkView {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.columns = [];
    this.selected = null;
  }

  // The columns of neurons, below a band for the layers' labels (16 CSS pixels high).
  layout(sizes, px = 1) {
    const { width, height } = frame(this.canvas);
    const margin = 30, columns = sizes.length, band = 16 * px, room = height - band - 8;
    this.columns = sizes.map((n, c) => {
      const x = margin + 20 + (columns === 1 ? 0 : c * (width - 2 * margin - 40) / (columns - 1));
      const spacing = Math.min(56, room / n);
      const top = band + 4 + room / 2 - spacing * (n - 1) / 2;
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
    const { ctx, width, height, px } = begin(this.canvas);
    ctx.clearRect(0, 0, width, height);
    this.layout(state.sizes, px);
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
    // Each layer's label centred on its column, kept inside the canvas; where the columns
    // are too close for the names, the sizes alone.
    ctx.fillStyle = "#333"; ctx.font = `${11 * px}px system-ui`; ctx.textAlign = "center";
    const gap = this.columns.length > 1 ? this.columns[1].x - this.columns[0].x : width;
    const labels = this.columns.map((column, c) => (c === 0 ? `x (${state.sizes[0]})`
      : `${state.activations[c - 1]} (${state.sizes[c]})`));
    const fits = labels.every((label) => ctx.measureText(label).width + 6 * px < gap);
    this.columns.forEach((column, c) => {
      const label = fits ? labels[c] : String(state.sizes[c]);
      const half = ctx.measureText(label).width / 2;
      ctx.fillText(label, Math.max(half + 2, Math.min(width - half - 2, column.x)), 12 * px);
    });
    ctx.textAlign = "start";
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
    const [x0, x1, y0, y1] = this.extent, { width, height } = frame(this.canvas);
    return [x0 + (x1 - x0) * px / width, y1 - (y1 - y0) * py / height];
  }

  toCanvas(x, y) {
    const [x0, x1, y0, y1] = this.extent, { width, height } = frame(this.canvas);
    return [(x - x0) / (x1 - x0) * width, (y1 - y) / (y1 - y0) * height];
  }

  draw(state, pictures, decode) {
    const { ctx, width, height } = begin(this.canvas);
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
// The legend's entries laid out in rows across the top of the canvas, above the plot (so
// that they never cover a curve): [name, colour, x, y (baseline)] each, and the band's height.
function legendRows(ctx, names, width, px) {
  const line = 14 * px, out = [];
  let x = 4 * px, y = 11 * px;
  for (const [name, colour] of names) {
    const w = ctx.measureText(name).width;
    if (x > 4 * px && x + w > width - 4 * px) { x = 4 * px; y += line; }
    out.push([name, colour, x, y, w]);
    x += w + 12 * px;
  }
  return { entries: out, height: out.length ? y + 5 * px : 0 };
}

// The curves: losses on the left axis (0 to their largest), accuracies and R² dashed on the
// right (0 to 1). The frame's layout (plot and legend boxes, frame units) is kept in
// frame(canvas).layout for whoever needs to know where they are.
export function drawCurves(canvas, curves) {
  const { ctx, width, height, px } = begin(canvas);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, width, height);
  ctx.font = `${11 * px}px system-ui`;
  const loss = curves.loss || [], n = loss.length;
  const series = [["loss", "#183153"], ["test_loss", "#d04545"]].filter(([k]) => curves[k]?.length);
  const accuracy = [["accuracy", "#2a9d55"], ["test_accuracy", "#c2419b"], ["test_r2", "#c2419b"]]
    .filter(([k]) => curves[k]?.length);
  const legend = legendRows(ctx, n ? [...series, ...accuracy] : [], width, px);
  const left = 44 * px, right = 16 * px, top = Math.max(8 * px, legend.height + 6 * px), bottom = 26 * px;
  const plot = [left, top, width - left - right, height - top - bottom];
  frame(canvas).layout = { plot, legend: legend.entries.map(([name, , x, y, w]) => [name, x, y - 10 * px, w, 13 * px]) };
  ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
  ctx.strokeRect(...plot);
  ctx.fillStyle = "#333";
  ctx.textAlign = "center"; ctx.fillText("epoch", left + plot[2] / 2, height - 6 * px); ctx.textAlign = "start";
  if (!n) { ctx.fillText("no epoch finished yet", left + 10 * px, top + 20 * px); return; }
  let high = 0;
  for (const [k] of series) for (const v of curves[k]) if (Number.isFinite(v)) high = Math.max(high, v);
  high = high || 1;
  const x = (i) => left + plot[2] * (n === 1 ? 0.5 : i / (n - 1));
  const y = (v, top_value) => top + plot[3] * (1 - v / top_value);
  for (const [k, colour] of series) {
    ctx.strokeStyle = colour; ctx.lineWidth = 1.5; ctx.beginPath();
    curves[k].forEach((v, i) => (i ? ctx.lineTo(x(i), y(v, high)) : ctx.moveTo(x(i), y(v, high))));
    ctx.stroke();
  }
  for (const [k, colour] of accuracy) {
    ctx.strokeStyle = colour; ctx.setLineDash([4, 3]); ctx.beginPath();
    curves[k].forEach((v, i) => {
      const yy = y(Math.max(0, Math.min(1, v)), 1);
      return i ? ctx.lineTo(x(i), yy) : ctx.moveTo(x(i), yy);
    });
    ctx.stroke(); ctx.setLineDash([]);
  }
  // The axes' ends: the largest loss and 0 on the left, 1 on the right, the epochs below.
  ctx.fillStyle = "#333"; ctx.textAlign = "right";
  ctx.fillText(high.toPrecision(3), left - 3 * px, top + 9 * px); ctx.fillText("0", left - 3 * px, top + plot[3]);
  ctx.fillText(String(n), left + plot[2], top + plot[3] + 13 * px);
  ctx.textAlign = "start"; ctx.fillText("1", left + plot[2] + 3 * px, top + 9 * px);
  for (const [name, colour, lx, ly] of legend.entries) {
    ctx.fillStyle = colour; ctx.fillText(name, lx, ly);
  }
}

// A scatter chart drawn on one canvas: tens of thousands of points in a few milliseconds (a
// single path per colour), axes with round ticks (linear, log or time), step lines drawn over
// the points, a band above the plot for points without a y value (failed candidates), a
// tooltip and a click on the nearest point. The root element's data-points attribute says how
// many points were drawn.

import { el, int } from "./format.js";

const MARGIN = { left: 64, right: 16, top: 14, bottom: 42 };
const STRIP = 22; // the band for points without a y value
const RADIUS = 2.4;
// Dots shrink as they multiply: a dense cloud reads better, and is stamped faster.
const dotRadius = (n) => (n > 5000 ? 1.8 : n > 1000 ? 2.1 : RADIUS);
const PICK_CELL = 12; // px; the hover index is a grid of cells this wide
const PICK_DISTANCE = 9;
const FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

export class ScatterChart {
  constructor(root, options = {}) {
    this.root = root;
    this.options = options;
    this.data = null;
    this.wrap = el("div", { class: "chart-area" });
    this.canvas = el("canvas", { "aria-label": options.label || "chart", role: "img" });
    this.tooltip = el("div", { class: "chart-tooltip", hidden: true });
    this.empty = el("div", { class: "chart-empty", hidden: true });
    this.legend = el("div", { class: "chart-legend" });
    this.wrap.append(this.canvas, this.tooltip, this.empty);
    root.replaceChildren(this.wrap, this.legend);
    this.width = 0;
    root.chart = this; // for the browser tests: root.chart.position(i)
    this.wrap.addEventListener("mousemove", (e) => this.hover(e));
    this.wrap.addEventListener("mouseleave", () => this.hideTooltip());
    this.wrap.addEventListener("click", (e) => this.click(e));
    new ResizeObserver(() => {
      if (this.data && this.wrap.clientWidth !== this.width) this.render();
    }).observe(this.wrap);
  }

  // data: {x: [], y: [] (null: no value, drawn in the band), category: [] (index into
  // categories), categories: [{label, color, mark: "dot" | "cross"}], lines: [{x, y, color,
  // label, step}], emptyText, note}
  setData(data) {
    this.data = data;
    this.render();
  }

  render() {
    const d = this.data;
    const W = this.wrap.clientWidth;
    const H = this.wrap.clientHeight;
    this.width = W;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(W * dpr));
    this.canvas.height = Math.max(1, Math.round(H * dpr));
    this.canvas.style.width = `${W}px`;
    this.canvas.style.height = `${H}px`;
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    this.pick = null;
    this.hideTooltip();

    const n = d.x.length;
    const { xLog, yLog } = this.options;
    const xs = extent(d.x, xLog, d.lines, "x");
    const ys = extent(d.y, yLog, d.lines, "y");
    const hasStrip = d.y.some((v, i) => !isValue(v, yLog) && isValue(d.x[i], xLog));
    if (xs === null) {
      this.showEmpty(d.emptyText || "Nothing to draw yet.");
      this.root.dataset.points = "0";
      this.legend.replaceChildren();
      return;
    }
    this.empty.hidden = !d.note;
    this.empty.textContent = d.note || "";
    const box = {
      left: MARGIN.left,
      right: W - MARGIN.right,
      top: MARGIN.top + (hasStrip ? STRIP : 0),
      bottom: H - MARGIN.bottom,
    };
    const sx = scale(padded(xs, xLog), xLog, box.left, box.right);
    const sy = scale(padded(ys || [1, 10], yLog), yLog, box.bottom, box.top);
    this.drawAxes(ctx, box, sx, sy, ys !== null, W, H);

    // Screen positions of every point, for drawing and for the hover index.
    this.px = new Float32Array(n);
    this.py = new Float32Array(n);
    const byCategory = d.categories.map(() => []);
    const stripY = MARGIN.top + STRIP / 2 - 2;
    let drawn = 0;
    for (let i = 0; i < n; i++) {
      if (!isValue(d.x[i], xLog)) {
        this.px[i] = NaN;
        continue;
      }
      this.px[i] = sx.map(d.x[i]);
      this.py[i] = isValue(d.y[i], yLog) ? sy.map(d.y[i]) : stripY;
      byCategory[d.category[i]].push(i);
      drawn++;
    }
    if (hasStrip) {
      ctx.fillStyle = "#fef2f2";
      ctx.fillRect(box.left, MARGIN.top, box.right - box.left, STRIP - 4);
      ctx.fillStyle = "#991b1b";
      ctx.font = FONT;
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      ctx.fillText(d.stripLabel || "no value", box.left - 6, stripY);
    }
    this.drawPoints(ctx, byCategory, W, H, dpr);
    for (const line of d.lines || []) drawLine(ctx, line, sx, sy, xLog, yLog);
    this.root.dataset.points = String(drawn);
    this.renderLegend(byCategory);
  }

  drawAxes(ctx, box, sx, sy, hasY, W, H) {
    const { xLabel, yLabel, formatX, formatY, xTime } = this.options;
    ctx.font = FONT;
    ctx.lineWidth = 1;
    const xt = xTime
      ? timeTicks(sx.domain)
      : ticks(sx.domain, this.options.xLog, box.right - box.left);
    const yt = hasY ? ticks(sy.domain, this.options.yLog, box.bottom - box.top, 45) : [];
    ctx.strokeStyle = "#eef0f3";
    ctx.beginPath();
    for (const t of xt)
      line(ctx, Math.round(sx.map(t)) + 0.5, box.top, Math.round(sx.map(t)) + 0.5, box.bottom);
    for (const t of yt)
      line(ctx, box.left, Math.round(sy.map(t)) + 0.5, box.right, Math.round(sy.map(t)) + 0.5);
    ctx.stroke();
    ctx.strokeStyle = "#c5cad3";
    ctx.beginPath();
    line(ctx, box.left + 0.5, box.top, box.left + 0.5, box.bottom + 0.5);
    line(ctx, box.left, box.bottom + 0.5, box.right, box.bottom + 0.5);
    ctx.stroke();
    ctx.fillStyle = "#5b6472";
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of xt) ctx.fillText((formatX || String)(t), sx.map(t), box.bottom + 6);
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of yt) ctx.fillText((formatY || String)(t), box.left - 6, sy.map(t));
    ctx.fillStyle = "#374151";
    ctx.font = `600 ${FONT}`;
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    if (xLabel) ctx.fillText(xLabel, (box.left + box.right) / 2, H - 4);
    if (yLabel) {
      ctx.save();
      ctx.translate(13, (box.top + box.bottom) / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.textBaseline = "middle";
      ctx.fillText(yLabel, 0, 0);
      ctx.restore();
    }
  }

  // Crosses are stroked as one path (they are few: failures); dots are stamped into one RGBA
  // buffer and drawn in one go: tens of thousands of anti-aliased discs in a few milliseconds,
  // where a path of as many arcs takes ten times longer to build and fill.
  drawPoints(ctx, byCategory, W, H, dpr) {
    const dots = [];
    const radius = dotRadius(this.data.x.length);
    this.data.categories.forEach((category, k) => {
      const indexes = byCategory[k];
      if (!indexes.length) return;
      if (category.mark !== "cross") {
        dots.push({
          indexes,
          color: category.color,
          alpha: category.alpha ?? 0.8,
          radius: category.radius || radius,
        });
        return;
      }
      const r = RADIUS + 0.6;
      ctx.beginPath();
      for (const i of indexes) {
        line(ctx, this.px[i] - r, this.py[i] - r, this.px[i] + r, this.py[i] + r);
        line(ctx, this.px[i] - r, this.py[i] + r, this.px[i] + r, this.py[i] - r);
      }
      ctx.strokeStyle = category.color;
      ctx.lineWidth = 1.3;
      ctx.stroke();
    });
    if (dots.length) stampDots(ctx, this.px, this.py, dots, W, H, dpr);
  }

  renderLegend(byCategory) {
    const items = this.data.categories
      .map((c, k) => [c, byCategory[k].length])
      .filter(([, count]) => count > 0)
      .map(([c, count]) =>
        el(
          "span",
          { class: "legend-item" },
          el("span", {
            class: `swatch ${c.mark === "cross" ? "cross" : ""}`,
            style: `--c:${c.color}`,
          }),
          `${c.label} `,
          el("span", { class: "muted", text: int(count) }),
        ),
      );
    for (const l of this.data.lines || []) {
      if (!l.label || l.x.length === 0) continue;
      items.push(
        el(
          "span",
          { class: "legend-item" },
          el("span", { class: "swatch line", style: `--c:${l.color}` }),
          l.label,
        ),
      );
    }
    this.legend.replaceChildren(...items);
  }

  showEmpty(text) {
    this.empty.textContent = text;
    this.empty.hidden = false;
  }

  nearest(event) {
    if (!this.data || !this.px) return -1;
    const rect = this.canvas.getBoundingClientRect();
    const mx = event.clientX - rect.left;
    const my = event.clientY - rect.top;
    if (!this.pick) this.pick = buildPickIndex(this.px, this.py);
    const cx = Math.floor(mx / PICK_CELL);
    const cy = Math.floor(my / PICK_CELL);
    let best = -1;
    let bestDistance = PICK_DISTANCE * PICK_DISTANCE;
    for (let gx = cx - 1; gx <= cx + 1; gx++) {
      for (let gy = cy - 1; gy <= cy + 1; gy++) {
        for (const i of this.pick.get(gx * 65536 + gy) || []) {
          const dd = (this.px[i] - mx) ** 2 + (this.py[i] - my) ** 2;
          if (dd <= bestDistance) [best, bestDistance] = [i, dd];
        }
      }
    }
    return best;
  }

  hover(event) {
    const i = this.nearest(event);
    if (i < 0) return this.hideTooltip();
    const lines = this.options.describe ? this.options.describe(i) : [`#${i}`];
    this.tooltip.replaceChildren(
      ...lines.map((text, k) => el("div", { class: k === 0 ? "tt-title" : "", text })),
    );
    this.tooltip.hidden = false;
    const x = this.px[i];
    const flip = x > this.width - 200;
    this.tooltip.style.left = flip ? "" : `${x + 12}px`;
    this.tooltip.style.right = flip ? `${this.width - x + 12}px` : "";
    this.tooltip.style.top = `${Math.max(0, this.py[i] - 12)}px`;
    this.wrap.style.cursor = this.options.onPick ? "pointer" : "default";
  }

  // Where point i was drawn, in CSS pixels from the canvas's top left (null: not drawn).
  position(i) {
    return this.px && !Number.isNaN(this.px[i]) ? { x: this.px[i], y: this.py[i] } : null;
  }

  hideTooltip() {
    this.tooltip.hidden = true;
    this.wrap.style.cursor = "default";
  }

  click(event) {
    const i = this.nearest(event);
    if (i >= 0 && this.options.onPick) this.options.onPick(i);
  }
}

// A disc of `radius` device pixels as offsets from its centre, each with the share of the
// pixel it covers (its edge anti-aliased).
function discMask(radius) {
  const reach = Math.ceil(radius + 0.5);
  const dx = [];
  const dy = [];
  const cover = [];
  for (let y = -reach; y <= reach; y++) {
    for (let x = -reach; x <= reach; x++) {
      const c = Math.min(1, Math.max(0, radius + 0.5 - Math.hypot(x, y)));
      if (c > 0) {
        dx.push(x);
        dy.push(y);
        cover.push(c);
      }
    }
  }
  return { dx, dy, cover };
}

function rgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

// Draws each group's dots (positions in CSS pixels) with "source over" blending, computed here
// on the pixels of one image, which is then drawn over the axes. A dot whose disc would cross
// the canvas's edge is skipped (the plot's margins keep every point clear of it).
function stampDots(ctx, px, py, groups, W, H, dpr) {
  const w = Math.max(1, Math.round(W * dpr));
  const h = Math.max(1, Math.round(H * dpr));
  const image = new ImageData(w, h);
  const data = image.data;
  const words = new Uint32Array(data.buffer); // one write for a pixel still empty
  const little = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  for (const g of groups) {
    const [r, gr, b] = rgb(g.color);
    const { dx, dy, cover } = discMask(g.radius * dpr);
    const m = dx.length;
    const offset = new Int32Array(m);
    const alpha = new Float32Array(m);
    const solid = new Uint32Array(m); // the colour at each cell's alpha, as one RGBA word
    let reach = 0;
    for (let k = 0; k < m; k++) {
      offset[k] = dy[k] * w + dx[k];
      alpha[k] = g.alpha * cover[k];
      const a = Math.round(alpha[k] * 255);
      solid[k] = little
        ? ((a << 24) | (b << 16) | (gr << 8) | r) >>> 0
        : ((r << 24) | (gr << 16) | (b << 8) | a) >>> 0;
      reach = Math.max(reach, Math.abs(dx[k]), Math.abs(dy[k]));
    }
    for (const i of g.indexes) {
      const cx = Math.round(px[i] * dpr);
      const cy = Math.round(py[i] * dpr);
      if (!(cx >= reach && cy >= reach && cx < w - reach && cy < h - reach)) continue;
      const base = cy * w + cx;
      for (let k = 0; k < m; k++) {
        const p = base + offset[k];
        if (words[p] === 0) {
          words[p] = solid[k];
          continue;
        }
        const o = p * 4;
        const a = alpha[k];
        const below = (data[o + 3] / 255) * (1 - a);
        const scale = 1 / (a + below);
        data[o] = (r * a + data[o] * below) * scale;
        data[o + 1] = (gr * a + data[o + 1] * below) * scale;
        data[o + 2] = (b * a + data[o + 2] * below) * scale;
        data[o + 3] = (a + below) * 255;
      }
    }
  }
  const layer = document.createElement("canvas");
  layer.width = w;
  layer.height = h;
  layer.getContext("2d").putImageData(image, 0, 0);
  ctx.save();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.drawImage(layer, 0, 0);
  ctx.restore();
}

function buildPickIndex(px, py) {
  const grid = new Map();
  for (let i = 0; i < px.length; i++) {
    if (Number.isNaN(px[i])) continue;
    const key = Math.floor(px[i] / PICK_CELL) * 65536 + Math.floor(py[i] / PICK_CELL);
    const cell = grid.get(key);
    if (cell) cell.push(i);
    else grid.set(key, [i]);
  }
  return grid;
}

function isValue(v, log) {
  return v !== null && v !== undefined && Number.isFinite(v) && (!log || v > 0);
}

function extent(values, log, lines, axis) {
  let lo = Infinity;
  let hi = -Infinity;
  const visit = (v) => {
    if (!isValue(v, log)) return;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  };
  for (let i = 0; i < values.length; i++) visit(values[i]);
  for (const l of lines || []) for (const v of l[axis]) visit(v);
  return lo === Infinity ? null : [lo, hi];
}

function padded([lo, hi], log) {
  if (log) {
    let a = Math.log10(lo);
    let b = Math.log10(hi);
    if (b - a < 1e-9) [a, b] = [a - 0.05, b + 0.05];
    const pad = (b - a) * 0.05;
    return [10 ** (a - pad), 10 ** (b + pad)];
  }
  if (hi - lo < 1e-12) {
    const w = Math.abs(lo) * 0.1 || 1;
    return [lo - w, hi + w];
  }
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}

function scale(domain, log, r0, r1) {
  const t = log ? Math.log10 : (v) => v;
  const d0 = t(domain[0]);
  const k = (r1 - r0) / (t(domain[1]) - d0);
  return { domain, map: (v) => r0 + (t(v) - d0) * k };
}

function line(ctx, x0, y0, x1, y1) {
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
}

function drawLine(ctx, l, sx, sy, xLog, yLog) {
  let started = false;
  let lastY = 0;
  ctx.beginPath();
  for (let i = 0; i < l.x.length; i++) {
    if (!isValue(l.x[i], xLog) || !isValue(l.y[i], yLog)) continue;
    const x = sx.map(l.x[i]);
    const y = sy.map(l.y[i]);
    if (!started) ctx.moveTo(x, y);
    else if (l.step) {
      ctx.lineTo(x, lastY);
      ctx.lineTo(x, y);
    } else ctx.lineTo(x, y);
    started = true;
    lastY = y;
  }
  if (l.extendTo !== undefined && started) ctx.lineTo(sx.map(l.extendTo), lastY);
  ctx.strokeStyle = l.color;
  ctx.lineWidth = l.width || 2;
  ctx.lineJoin = "round";
  ctx.stroke();
}

// Round tick values: about one every `spacing` px, 1-2-5 steps; on a log axis spanning less than a
// decade the same round values (placed logarithmically), else 1-2-5 per decade.
function ticks([lo, hi], log, pixels, spacing = 80) {
  const count = Math.max(2, Math.floor(pixels / spacing));
  if (!log || hi / lo < 8) return linearTicks(lo, hi, count);
  const out = [];
  const multiples =
    Math.log10(hi / lo) > count ? [1] : Math.log10(hi / lo) > count / 3 ? [1, 3] : [1, 2, 5];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of multiples) {
      const v = m * 10 ** e;
      if (v >= lo && v <= hi) out.push(v);
    }
  }
  return out;
}

function linearTicks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const r = raw / mag;
  const step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}

const TIME_STEPS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
];

function timeTicks([lo, hi]) {
  const step =
    TIME_STEPS.find((s) => (hi - lo) / s <= 8) || 86400 * Math.ceil((hi - lo) / 86400 / 8);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) out.push(v);
  return out;
}

// The lower-left staircase of (x, y): the points no other point beats in both (lower is better
// in both). Returns the front's x, y and indexes, sorted by x. Only the points lower than every
// point of the x-buckets to their left can be on it (those have a smaller x): they are few, so
// only they are sorted.
export function paretoFront(x, y) {
  const finite = [];
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]) || !Number.isFinite(y[i])) continue;
    finite.push(i);
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  const buckets = 1024;
  const width = (hi - lo) / (buckets - 1) || 1;
  const bucket = (i) => Math.floor((x[i] - lo) / width);
  const lowest = new Float64Array(buckets).fill(Infinity);
  for (const i of finite) lowest[bucket(i)] = Math.min(lowest[bucket(i)], y[i]);
  const left = new Float64Array(buckets); // the lowest y in the buckets strictly to the left
  let running = Infinity;
  for (let b = 0; b < buckets; b++) {
    left[b] = running;
    running = Math.min(running, lowest[b]);
  }
  const order = finite.filter((i) => y[i] < left[bucket(i)]);
  order.sort((a, b) => x[a] - x[b] || y[a] - y[b]);
  const fx = [];
  const fy = [];
  const index = [];
  let best = Infinity;
  for (const i of order) {
    if (y[i] < best) {
      best = y[i];
      fx.push(x[i]);
      fy.push(y[i]);
      index.push(i);
    }
  }
  return { x: fx, y: fy, index };
}

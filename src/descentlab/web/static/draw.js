// Drawing helpers: HiDPI canvases, colour maps, contour lines (marching squares on the
// server's value grid), axes and line charts. No optimizer or landscape maths here.

/** Size a canvas to its CSS box (or the given size) at device pixel ratio; returns ctx. */
export function fitCanvas(canvas, width, height) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(10, Math.round(width ?? canvas.clientWidth));
  const h = Math.max(10, Math.round(height ?? canvas.clientHeight));
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return { ctx, w, h };
}

function hexToRgb(hex) {
  const n = parseInt(hex.replace('#', ''), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

export function rgba(hex, a) {
  const [r, g, b] = hexToRgb(hex);
  return `rgba(${r},${g},${b},${a})`;
}

// A soft sequential map: deep valley blue -> teal -> pale sand -> warm peach.
const LAND_STOPS = [
  [0.0, [38, 84, 124]],
  [0.18, [62, 132, 160]],
  [0.4, [125, 186, 182]],
  [0.62, [204, 226, 196]],
  [0.82, [246, 236, 208]],
  [1.0, [250, 214, 180]],
];

export function landColor(t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 1));
  for (let i = 1; i < LAND_STOPS.length; i += 1) {
    const [t1, c1] = LAND_STOPS[i];
    const [t0, c0] = LAND_STOPS[i - 1];
    if (x <= t1) {
      const u = (x - t0) / (t1 - t0);
      return [0, 1, 2].map((k) => Math.round(c0[k] + u * (c1[k] - c0[k])));
    }
  }
  return LAND_STOPS[LAND_STOPS.length - 1][1];
}

/** Mix a hex colour with white: amount 0 = white, 1 = the colour. */
export function tint(hex, amount) {
  const [r, g, b] = hexToRgb(hex);
  const a = Math.min(1, Math.max(0, amount));
  return [255 + a * (r - 255), 255 + a * (g - 255), 255 + a * (b - 255)].map(Math.round);
}

/** Finite min/max of a (nested) array of numbers; null entries are skipped. */
export function extent(values) {
  let lo = Infinity;
  let hi = -Infinity;
  let loPos = Infinity;
  const visit = (v) => {
    if (Array.isArray(v)) {
      for (const x of v) visit(x);
    } else if (typeof v === 'number' && Number.isFinite(v)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      if (v > 0 && v < loPos) loPos = v;
    }
  };
  visit(values);
  return { lo, hi, loPos };
}

/**
 * A normalizer value -> [0, 1] over the grid's range; log-spaced when `log` and the range
 * is positive, otherwise a mild power so valleys keep detail.
 */
export function normalizer(lo, hi, log) {
  if (!(hi > lo)) return () => 0.5;
  if (log) {
    const shift = lo > 0 ? 0 : -lo + Math.max((hi - lo) * 1e-6, 1e-12);
    const a = Math.log10(lo + shift);
    const b = Math.log10(hi + shift);
    return (v) => (Math.log10(Math.max(v + shift, 1e-300)) - a) / (b - a);
  }
  return (v) => ((v - lo) / (hi - lo)) ** 0.6;
}

/** n contour levels between lo and hi, log-spaced when log is true. */
export function contourLevels(lo, hi, n, log) {
  const out = [];
  if (!(hi > lo)) return out;
  if (log) {
    const shift = lo > 0 ? 0 : -lo + Math.max((hi - lo) * 1e-6, 1e-12);
    const a = Math.log10(lo + shift);
    const b = Math.log10(hi + shift);
    for (let i = 1; i <= n; i += 1) out.push(10 ** (a + ((b - a) * i) / (n + 1)) - shift);
  } else {
    for (let i = 1; i <= n; i += 1) out.push(lo + (hi - lo) * ((i / (n + 1)) ** (1 / 0.6)));
  }
  return out;
}

/**
 * Marching squares: segments of the level set {f = level} of a grid values[j][i] at
 * (xs[i], ys[j]). Returns a flat array [x0, y0, x1, y1, ...] in data coordinates.
 */
export function contourSegments(values, xs, ys, level) {
  const seg = [];
  const nx = xs.length;
  const ny = ys.length;
  const interp = (x0, y0, v0, x1, y1, v1) => {
    const t = v1 === v0 ? 0.5 : (level - v0) / (v1 - v0);
    return [x0 + t * (x1 - x0), y0 + t * (y1 - y0)];
  };
  for (let j = 0; j < ny - 1; j += 1) {
    const row0 = values[j];
    const row1 = values[j + 1];
    for (let i = 0; i < nx - 1; i += 1) {
      const a = row0[i]; // (x_i, y_j)
      const b = row0[i + 1]; // (x_i+1, y_j)
      const c = row1[i + 1]; // (x_i+1, y_j+1)
      const d = row1[i]; // (x_i, y_j+1)
      if (![a, b, c, d].every((v) => typeof v === 'number' && Number.isFinite(v))) continue;
      const code = (a > level ? 1 : 0) | (b > level ? 2 : 0) | (c > level ? 4 : 0) | (d > level ? 8 : 0);
      if (code === 0 || code === 15) continue;
      const x0 = xs[i];
      const x1 = xs[i + 1];
      const y0 = ys[j];
      const y1 = ys[j + 1];
      const eAB = () => interp(x0, y0, a, x1, y0, b);
      const eBC = () => interp(x1, y0, b, x1, y1, c);
      const eCD = () => interp(x1, y1, c, x0, y1, d);
      const eDA = () => interp(x0, y1, d, x0, y0, a);
      const push = (p, q) => seg.push(p[0], p[1], q[0], q[1]);
      switch (code) {
        case 1: case 14: push(eDA(), eAB()); break;
        case 2: case 13: push(eAB(), eBC()); break;
        case 3: case 12: push(eDA(), eBC()); break;
        case 4: case 11: push(eBC(), eCD()); break;
        case 6: case 9: push(eAB(), eCD()); break;
        case 7: case 8: push(eCD(), eDA()); break;
        case 5: push(eDA(), eAB()); push(eBC(), eCD()); break;
        case 10: push(eAB(), eBC()); push(eCD(), eDA()); break;
        default: break;
      }
    }
  }
  return seg;
}

/** Round tick positions covering [lo, hi]. */
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const span = hi - lo;
  const step0 = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(step0));
  const norm = step0 / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}

export function tickLabel(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

/** A linear map between data and pixels for a plot box. */
export function scales(box, xr, yr) {
  const sx = (x) => box.x + ((x - xr[0]) / (xr[1] - xr[0])) * box.w;
  const sy = (y) => box.y + box.h - ((y - yr[0]) / (yr[1] - yr[0])) * box.h;
  const ix = (px) => xr[0] + ((px - box.x) / box.w) * (xr[1] - xr[0]);
  const iy = (py) => yr[0] + ((box.y + box.h - py) / box.h) * (yr[1] - yr[0]);
  return { sx, sy, ix, iy };
}

export const INK = '#343a40';
export const GRID = 'rgba(52,58,64,0.12)';
export const FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

/**
 * Ten path colours (Okabe-Ito's colour-blind-safe hues, then Tableau-like ones), each at
 * least 3:1 against the white casing the paths are drawn on, and at least 29 CIELAB units
 * apart (1976 delta E); paths 7-10 are dashed as well, so that they stay apart when
 * projected or printed in grey.
 */
export const PATH_COLORS = [
  '#d55e00', '#0072b2', '#009e73', '#cc3d8f', '#a87000',
  '#4b2991', '#1a1a1a', '#8c564b', '#00a0c0', '#6b8e23',
];
const PATH_DASHES = [[], [], [], [], [], [], [7, 4], [2, 3], [9, 3, 2, 3], [4, 4]];

/** Colour and dash pattern of path slot i (0-based; wraps after ten). */
export function pathStyle(i) {
  const k = ((i % PATH_COLORS.length) + PATH_COLORS.length) % PATH_COLORS.length;
  return { color: PATH_COLORS[k], dash: PATH_DASHES[k] };
}

/** The style of an optimizer slot id such as 'o7' (its number, 1-based). */
export function pathStyleForId(id) {
  const m = /(\d+)$/.exec(String(id));
  return pathStyle(m ? Number(m[1]) - 1 : 0);
}

/** Axes with ticks and labels around a box (data ranges xr, yr). */
export function drawAxes(ctx, box, xr, yr, { xLabel = '', yLabel = '', grid = false, logY = false } = {}) {
  const { sx, sy } = scales(box, xr, yr);
  ctx.save();
  ctx.font = FONT;
  ctx.fillStyle = INK;
  ctx.strokeStyle = 'rgba(52,58,64,0.45)';
  ctx.lineWidth = 1;
  ctx.strokeRect(box.x + 0.5, box.y + 0.5, box.w, box.h);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const t of niceTicks(xr[0], xr[1], Math.max(2, Math.floor(box.w / 70)))) {
    const px = sx(t);
    if (px < box.x - 0.5 || px > box.x + box.w + 0.5) continue;
    if (grid) {
      ctx.strokeStyle = GRID;
      ctx.beginPath(); ctx.moveTo(px, box.y); ctx.lineTo(px, box.y + box.h); ctx.stroke();
    }
    ctx.strokeStyle = 'rgba(52,58,64,0.45)';
    ctx.beginPath(); ctx.moveTo(px, box.y + box.h); ctx.lineTo(px, box.y + box.h + 4); ctx.stroke();
    ctx.fillText(tickLabel(t), px, box.y + box.h + 6);
  }
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  const yt = logY ? logTicks(yr[0], yr[1]) : niceTicks(yr[0], yr[1], Math.max(2, Math.floor(box.h / 45)));
  for (const t of yt) {
    const py = sy(t);
    if (py < box.y - 0.5 || py > box.y + box.h + 0.5) continue;
    if (grid) {
      ctx.strokeStyle = GRID;
      ctx.beginPath(); ctx.moveTo(box.x, py); ctx.lineTo(box.x + box.w, py); ctx.stroke();
    }
    ctx.strokeStyle = 'rgba(52,58,64,0.45)';
    ctx.beginPath(); ctx.moveTo(box.x - 4, py); ctx.lineTo(box.x, py); ctx.stroke();
    ctx.fillText(logY ? `1e${t}` : tickLabel(t), box.x - 6, py);
  }
  if (xLabel) {
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    ctx.fillText(xLabel, box.x + box.w / 2, box.y + box.h + 34);
  }
  if (yLabel) {
    ctx.save();
    ctx.translate(box.x - 44, box.y + box.h / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    ctx.fillText(yLabel, 0, 0);
    ctx.restore();
  }
  ctx.restore();
}

function logTicks(lo, hi) {
  const out = [];
  const a = Math.ceil(lo);
  const b = Math.floor(hi);
  const step = Math.max(1, Math.ceil((b - a + 1) / 6));
  for (let e = a; e <= b; e += step) out.push(e);
  return out;
}

/**
 * A line chart.  series: [{color, xs: [...], ys: [...], dash?, width?, label?}].
 * opts: {logY: 'auto'|true|false, xLabel, yLabel, yRange, xRange, empty}
 */
export function lineChart(canvas, series, opts = {}) {
  const parent = canvas.parentElement;
  let width = canvas.clientWidth;
  if (parent) { // the parent's content box: its padding is not the chart's
    const cs = getComputedStyle(parent);
    width = parent.clientWidth - (parseFloat(cs.paddingLeft) || 0) - (parseFloat(cs.paddingRight) || 0);
  }
  const height = opts.height ?? 190;
  const { ctx, w, h } = fitCanvas(canvas, width, height);
  const box = { x: 52, y: 10, w: Math.max(20, w - 64), h: Math.max(20, h - 50) };
  let allPos = true;
  let any = false;
  let xmax = 1;
  let ylo = Infinity;
  let yhi = -Infinity;
  const clipHigh = Number.isFinite(opts.yClipHigh) ? opts.yClipHigh : Infinity;
  for (const s of series) {
    for (let i = 0; i < s.ys.length; i += 1) {
      const y = s.ys[i];
      if (typeof y !== 'number' || !Number.isFinite(y)) continue;
      if (s.xs[i] > xmax) xmax = s.xs[i];
      if (y > clipHigh) continue;
      any = true;
      if (y <= 0) allPos = false;
      if (y < ylo) ylo = y;
      if (y > yhi) yhi = y;
    }
  }
  const logY = opts.logY === 'auto' ? allPos && any : Boolean(opts.logY) && allPos;
  const tr = logY ? (y) => Math.log10(y) : (y) => y;
  let yr;
  if (opts.yRange) yr = opts.yRange;
  else if (!any) yr = [0, 1];
  else if (logY) {
    let a = Math.floor(tr(Math.max(ylo, yhi * 1e-16)));
    let b = Math.ceil(tr(yhi));
    if (b <= a) b = a + 1;
    yr = [a, b];
  } else {
    const pad = (yhi - ylo) * 0.06 || Math.abs(yhi) * 0.1 || 1;
    yr = [Math.min(0, ylo) === 0 && ylo >= 0 ? Math.max(0, ylo - pad) : ylo - pad, yhi + pad];
  }
  const xr = opts.xRange ?? [0, Math.max(1, xmax)];
  drawAxes(ctx, box, xr, yr, { xLabel: opts.xLabel, yLabel: logY ? `${opts.yLabel} (log)` : opts.yLabel, grid: true, logY });
  const { sx, sy } = scales(box, xr, yr);
  ctx.save();
  ctx.beginPath();
  ctx.rect(box.x, box.y, box.w, box.h);
  ctx.clip();
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = s.width ?? 1.8;
    ctx.setLineDash(s.dash ?? []);
    ctx.lineJoin = 'round';
    ctx.beginPath();
    let pen = false;
    // many points per pixel column: each column keeps its first, lowest, highest and last
    // point (the same picture, without tens of thousands of segments per redraw)
    const dense = s.ys.length > 4 * box.w;
    let col = null;
    let colPts = [];
    const flush = () => {
      for (const [px, py] of colPts) {
        if (pen) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
        pen = true;
      }
      colPts = [];
    };
    for (let i = 0; i < s.ys.length; i += 1) {
      const y = s.ys[i];
      if (typeof y !== 'number' || !Number.isFinite(y) || (logY && y <= 0)) {
        flush();
        pen = false;
        continue;
      }
      const px = sx(s.xs[i]);
      const py = Math.max(box.y - 1e4, Math.min(box.y + box.h + 1e4, sy(tr(y))));
      if (!dense) {
        if (pen) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
        pen = true;
        continue;
      }
      const c = Math.floor(px);
      if (c !== col) {
        flush();
        col = c;
      }
      if (colPts.length < 2) colPts.push([px, py]);
      else {
        // keep [first, min, max, last] of the column (in drawing order)
        colPts.push([px, py]);
        if (colPts.length > 4) {
          const inner = colPts.slice(1, -1);
          let lo = inner[0];
          let hi = inner[0];
          for (const q of inner) { if (q[1] < lo[1]) lo = q; if (q[1] > hi[1]) hi = q; }
          const mid = lo === hi ? [lo] : (inner.indexOf(lo) < inner.indexOf(hi) ? [lo, hi] : [hi, lo]);
          colPts = [colPts[0], ...mid, colPts[colPts.length - 1]];
        }
      }
    }
    flush();
    ctx.stroke();
  }
  ctx.restore();
  if (!any && opts.empty) {
    ctx.save();
    ctx.font = FONT;
    ctx.fillStyle = '#868e96';
    ctx.textAlign = 'center';
    ctx.fillText(opts.empty, box.x + box.w / 2, box.y + box.h / 2);
    ctx.restore();
  }
  return { logY, any };
}

/** A five-pointed star (a known minimum). */
export function star(ctx, x, y, r, fill = '#ffd43b', stroke = '#212529') {
  ctx.save();
  ctx.beginPath();
  for (let k = 0; k < 10; k += 1) {
    const rad = k % 2 === 0 ? r : r * 0.45;
    const a = -Math.PI / 2 + (k * Math.PI) / 5;
    ctx.lineTo(x + rad * Math.cos(a), y + rad * Math.sin(a));
  }
  ctx.closePath();
  ctx.fillStyle = fill;
  ctx.fill();
  ctx.lineWidth = 1.2;
  ctx.strokeStyle = stroke;
  ctx.stroke();
  ctx.restore();
}

/** An x mark (a saddle point). */
export function cross(ctx, x, y, r, color = '#212529', width = 2.2) {
  ctx.save();
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = width + 2;
  ctx.lineCap = 'round';
  ctx.beginPath();
  ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r);
  ctx.moveTo(x + r, y - r); ctx.lineTo(x - r, y + r);
  ctx.stroke();
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.stroke();
  ctx.restore();
}

/**
 * Draw a landscape (the server's `surface` message) into ctx inside box: a colour field with
 * contour lines (2-D) or the curve (1-D). Returns the view {xr, yr, sx, sy, ix, iy, dim}.
 */
export function drawSurface(ctx, box, surface, { levels = 14, yRange = null, markers = true } = {}) {
  if (surface.dim === 1) return drawCurve(ctx, box, surface, { yRange, markers });
  const xs = surface.xs;
  const ys = surface.ys;
  const V = surface.values;
  const xr = [surface.bounds[0][0], surface.bounds[0][1]];
  const yr = [surface.bounds[1][0], surface.bounds[1][1]];
  const sc = scales(box, xr, yr);
  const { lo, hi } = extent(V);
  const norm = normalizer(lo, hi, surface.log_scale);
  // colour field: one pixel per grid node, scaled smoothly onto the box
  const img = new ImageData(xs.length, ys.length);
  for (let j = 0; j < ys.length; j += 1) {
    for (let i = 0; i < xs.length; i += 1) {
      const v = V[j][i];
      const c = typeof v === 'number' && Number.isFinite(v) ? landColor(norm(v)) : [250, 214, 180];
      const k = ((ys.length - 1 - j) * xs.length + i) * 4;
      img.data[k] = c[0]; img.data[k + 1] = c[1]; img.data[k + 2] = c[2]; img.data[k + 3] = 255;
    }
  }
  const off = document.createElement('canvas');
  off.width = xs.length;
  off.height = ys.length;
  off.getContext('2d').putImageData(img, 0, 0);
  ctx.save();
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  // grid nodes sit at the box edges: stretch half a cell beyond so nodes align
  const cw = box.w / (xs.length - 1);
  const ch = box.h / (ys.length - 1);
  ctx.beginPath();
  ctx.rect(box.x, box.y, box.w, box.h);
  ctx.clip();
  ctx.drawImage(off, box.x - cw / 2, box.y - ch / 2, box.w + cw, box.h + ch);
  // contour lines
  const lv = contourLevels(lo, hi, levels, surface.log_scale);
  ctx.lineWidth = 0.9;
  lv.forEach((level, n) => {
    const seg = contourSegments(V, xs, ys, level);
    ctx.strokeStyle = n % 4 === 3 ? 'rgba(33,37,41,0.42)' : 'rgba(33,37,41,0.2)';
    ctx.beginPath();
    for (let k = 0; k < seg.length; k += 4) {
      ctx.moveTo(sc.sx(seg[k]), sc.sy(seg[k + 1]));
      ctx.lineTo(sc.sx(seg[k + 2]), sc.sy(seg[k + 3]));
    }
    ctx.stroke();
  });
  ctx.restore();
  drawAxes(ctx, box, xr, yr, { xLabel: 'x', yLabel: 'y' });
  const view = { ...sc, xr, yr, dim: 2, box };
  if (markers) drawMarkers(ctx, view, surface);
  return view;
}

function drawCurve(ctx, box, surface, { yRange, markers }) {
  const xs = surface.xs;
  const V = surface.values;
  const xr = [surface.bounds[0][0], surface.bounds[0][1]];
  const { lo, hi } = extent(V);
  let yr = yRange;
  if (!yr) {
    const pad = (hi - lo) * 0.08 || 1;
    yr = [lo - pad, hi + pad];
  }
  const sc = scales(box, xr, yr);
  ctx.save();
  const grad = ctx.createLinearGradient(0, box.y, 0, box.y + box.h);
  grad.addColorStop(0, '#fbfcfd');
  grad.addColorStop(1, '#eef3f8');
  ctx.fillStyle = grad;
  ctx.fillRect(box.x, box.y, box.w, box.h);
  ctx.restore();
  drawAxes(ctx, box, xr, yr, { xLabel: 'x', yLabel: 'f(x)', grid: true });
  ctx.save();
  ctx.beginPath();
  ctx.rect(box.x, box.y, box.w, box.h);
  ctx.clip();
  // area under the curve, then the curve
  ctx.beginPath();
  let pen = false;
  for (let i = 0; i < xs.length; i += 1) {
    const v = V[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) { pen = false; continue; }
    if (pen) ctx.lineTo(sc.sx(xs[i]), sc.sy(v));
    else ctx.moveTo(sc.sx(xs[i]), sc.sy(v));
    pen = true;
  }
  ctx.strokeStyle = '#26547c';
  ctx.lineWidth = 2.2;
  ctx.stroke();
  ctx.restore();
  const view = { ...sc, xr, yr, dim: 1, box };
  if (markers) drawMarkers(ctx, view, surface);
  return view;
}

/** Stars at the known minima and crosses at the saddles (1-D: on the curve). */
export function drawMarkers(ctx, view, surface) {
  const at = (p) => {
    if (view.dim === 2) return p.length >= 2 ? [view.sx(p[0]), view.sy(p[1])] : null;
    const i = nearestIndex(surface.xs, p[0]);
    const v = surface.values[i];
    return i >= 0 && Number.isFinite(v) ? [view.sx(p[0]), view.sy(v)] : null;
  };
  ctx.save();
  ctx.beginPath();
  ctx.rect(view.box.x - 8, view.box.y - 8, view.box.w + 16, view.box.h + 16);
  ctx.clip();
  for (const m of surface.minima || []) {
    const q = m && at(m);
    if (q) star(ctx, q[0], q[1], 8);
  }
  for (const s of surface.saddles || []) {
    const q = s && at(s);
    if (q) cross(ctx, q[0], q[1], 5);
  }
  ctx.restore();
}

function nearestIndex(xs, x) {
  let best = -1;
  let bd = Infinity;
  for (let i = 0; i < xs.length; i += 1) {
    const d = Math.abs(xs[i] - x);
    if (d < bd) { bd = d; best = i; }
  }
  return best;
}

/**
 * Draw an optimizer path in view coordinates. points: [[x, y], ...] (2-D) or [[x], ...]
 * with values (1-D: drawn at (x, f(x))). Non-finite points end the path.
 */
export function drawPath(ctx, view, points, values, color, { current = true, width = 2.2, dots = false, startMarker = true } = {}) {
  const P = [];
  for (let k = 0; k < points.length; k += 1) {
    const p = points[k];
    if (!p) break;
    const x = p[0];
    const y = view.dim === 1 ? values[k] : p[1];
    if (typeof x !== 'number' || typeof y !== 'number' || !Number.isFinite(x) || !Number.isFinite(y)) break;
    // keep far-away points drawable without overflowing canvas coordinates
    P.push([clampPx(view.sx(x)), clampPx(view.sy(y))]);
  }
  if (!P.length) return;
  ctx.save();
  ctx.beginPath();
  ctx.rect(view.box.x, view.box.y, view.box.w, view.box.h);
  ctx.clip();
  ctx.lineJoin = 'round';
  ctx.lineCap = 'round';
  const trace = () => {
    ctx.beginPath();
    ctx.moveTo(P[0][0], P[0][1]);
    for (let k = 1; k < P.length; k += 1) ctx.lineTo(P[k][0], P[k][1]);
  };
  trace();
  ctx.strokeStyle = 'rgba(255,255,255,0.85)';
  ctx.lineWidth = width + 2.2;
  ctx.stroke();
  trace();
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.stroke();
  if (dots || P.length < 60) {
    ctx.fillStyle = color;
    const r = dots ? 2.6 : 1.8;
    for (const [x, y] of P) {
      ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI); ctx.fill();
    }
  }
  if (startMarker) {
    ctx.beginPath();
    ctx.arc(P[0][0], P[0][1], 4, 0, 2 * Math.PI);
    ctx.fillStyle = '#fff';
    ctx.fill();
    ctx.lineWidth = 2;
    ctx.strokeStyle = color;
    ctx.stroke();
  }
  if (current) {
    const [x, y] = P[P.length - 1];
    ctx.beginPath();
    ctx.arc(x, y, 6, 0, 2 * Math.PI);
    ctx.fillStyle = color;
    ctx.fill();
    ctx.lineWidth = 2;
    ctx.strokeStyle = '#fff';
    ctx.stroke();
  }
  ctx.restore();
}

function clampPx(v) {
  return Math.max(-1e5, Math.min(1e5, v));
}

/**
 * Append the new part of an optimizer path to two layers, `halo` (a white casing) and
 * `ink` (the colour), so that a long path is drawn once, piece by piece, instead of again
 * at every frame. `state` ({next, last, dashLen, ended}) remembers how far the path is
 * drawn; pass a fresh {} to start over. Moves shorter than `minGap` pixels are merged
 * with the next point (the last point is always drawn); a non-finite point ends the path.
 */
export function appendPath(halo, ink, view, points, values, style, state, { width = 2.2, minGap = 0.75, dots = false } = {}) {
  const P = state.last ? [state.last] : [];
  let k = state.next ?? 0;
  const end = points.length;
  for (; k < end && !state.ended; k += 1) {
    const p = points[k];
    const x = p?.[0];
    const y = view.dim === 1 ? values[k] : p?.[1];
    if (typeof x !== 'number' || typeof y !== 'number' || !Number.isFinite(x) || !Number.isFinite(y)) {
      state.ended = true;
      break;
    }
    const q = [clampPx(view.sx(x)), clampPx(view.sy(y))];
    const prev = P.length ? P[P.length - 1] : null;
    if (prev && !dots && k < end - 1 && Math.abs(q[0] - prev[0]) + Math.abs(q[1] - prev[1]) < minGap) continue;
    P.push(q);
  }
  state.next = k;
  if (!P.length) return state;
  const fresh = state.last ? 1 : 0;
  state.last = P[P.length - 1];
  const clip = (ctx) => {
    ctx.save();
    ctx.beginPath();
    ctx.rect(view.box.x, view.box.y, view.box.w, view.box.h);
    ctx.clip();
    ctx.lineJoin = 'round';
    ctx.lineCap = 'round';
  };
  const trace = (ctx) => {
    ctx.beginPath();
    ctx.moveTo(P[0][0], P[0][1]);
    for (let i = 1; i < P.length; i += 1) ctx.lineTo(P[i][0], P[i][1]);
  };
  let length = 0;
  for (let i = 1; i < P.length; i += 1) length += Math.hypot(P[i][0] - P[i - 1][0], P[i][1] - P[i - 1][1]);
  if (P.length > 1) {
    clip(halo);
    trace(halo);
    halo.strokeStyle = 'rgba(255,255,255,0.85)';
    halo.lineWidth = width + 2.4;
    halo.stroke();
    halo.restore();
    clip(ink);
    trace(ink);
    ink.setLineDash(style.dash || []);
    ink.lineDashOffset = state.dashLen || 0;
    ink.strokeStyle = style.color;
    ink.lineWidth = width;
    ink.stroke();
    ink.restore();
  }
  state.dashLen = (state.dashLen || 0) + length;
  if (dots) {
    clip(ink);
    ink.fillStyle = style.color;
    for (let i = fresh; i < P.length; i += 1) {
      ink.beginPath(); ink.arc(P[i][0], P[i][1], 2.6, 0, 2 * Math.PI); ink.fill();
    }
    ink.restore();
  }
  return state;
}

/** An arrow from (x, y) along (dx, dy) pixels, with a white casing; dashed if `dash`. */
export function arrow(ctx, x, y, dx, dy, color, { width = 2.2, dash = null, head = 8 } = {}) {
  const len = Math.hypot(dx, dy);
  if (!(len > 1)) return false;
  const ux = dx / len;
  const uy = dy / len;
  const tx = x + dx;
  const ty = y + dy;
  const shape = () => {
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(tx - ux * head * 0.6, ty - uy * head * 0.6);
  };
  const tip = () => {
    ctx.beginPath();
    ctx.moveTo(tx, ty);
    ctx.lineTo(tx - ux * head - uy * head * 0.5, ty - uy * head + ux * head * 0.5);
    ctx.lineTo(tx - ux * head + uy * head * 0.5, ty - uy * head - ux * head * 0.5);
    ctx.closePath();
  };
  ctx.save();
  ctx.lineCap = 'round';
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = width + 2.5;
  shape(); ctx.stroke();
  tip(); ctx.lineWidth = 2.5; ctx.stroke();
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.lineWidth = width;
  ctx.setLineDash(dash || []);
  shape(); ctx.stroke();
  ctx.setLineDash([]);
  tip(); ctx.fill();
  ctx.restore();
  return true;
}

/** A short line sample of a path style, as inline SVG (legends). */
export function styleSwatch(style, width = 26) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', '10');
  svg.setAttribute('aria-hidden', 'true');
  svg.classList.add('line-swatch');
  const line = document.createElementNS(ns, 'line');
  line.setAttribute('x1', '1'); line.setAttribute('y1', '5');
  line.setAttribute('x2', String(width - 1)); line.setAttribute('y2', '5');
  line.setAttribute('stroke', style.color);
  line.setAttribute('stroke-width', '3');
  line.setAttribute('stroke-linecap', 'butt');
  if (style.dash && style.dash.length) line.setAttribute('stroke-dasharray', style.dash.join(' '));
  svg.append(line);
  return svg;
}

// ---- update rules as MathML (Chromium renders MathML Core: no script, no network) -----------

const mi = (s) => `<mi>${s}</mi>`;
const mo = (s) => `<mo>${s}</mo>`;
const mn = (s) => `<mn>${s}</mn>`;
const row = (...a) => `<mrow>${a.join('')}</mrow>`;
const sub = (a, b) => `<msub>${a}${b}</msub>`;
const sup = (a, b) => `<msup>${a}${b}</msup>`;
const frac = (a, b) => `<mfrac>${a}${b}</mfrac>`;
const sqrt = (a) => `<msqrt>${a}</msqrt>`;
const hat = (a) => `<mover accent="true">${a}<mo>^</mo></mover>`;
const T = mi('t');
const TM1 = row(mi('t'), mo('−'), mn('1'));
const TP1 = row(mi('t'), mo('+'), mn('1'));
const X1 = sub(mi('x'), TP1);
const XT = sub(mi('x'), T);
const GT = sub(mi('g'), T);
const ETA = mi('η');
const EPS = mi('ε');
const eq = (lhs, ...rhs) => row(lhs, mo('='), ...rhs);
const SYM = {
  lr: ETA, momentum: mi('μ'), dampening: mi('τ'), beta1: sub(mi('β'), mn('1')), beta2: sub(mi('β'), mn('2')),
  eps: EPS, alpha: mi('α'), weight_decay: mi('λ'), rho: mi('ρ'), lr_decay: mi('γ'),
};

/**
 * The update rule of optimizer `name` with settings `hyper`, in the lecture's notation:
 * {lines: [MathML rows], settings: [setting names shown], state: {grad, velocity,
 * second_moment}: the symbol of each readout entry}. Unknown optimizers get the generic
 * x_{t+1} = x_t + Δx_t (their summary says the rest).
 */
export function updateRule(name, hyper = {}) {
  const h = hyper || {};
  const decay = Number(h.weight_decay) ? [mo('+'), mi('λ'), XT] : [];
  const gPlus = decay.length ? row(mo('('), GT, ...decay, mo(')')) : GT;
  const gSq = sup(gPlus === GT ? GT : row(mo('('), GT, ...decay, mo(')')), mn('2'));
  const family = { gd: 'sgd', momentum: 'sgd', nesterov: 'sgd' }[name] || name;
  if (family === 'sgd') {
    const mu = Number(h.momentum ?? (name === 'sgd' || name === 'gd' ? 0 : 0.9));
    if (!mu) return { lines: [eq(X1, XT, mo('−'), ETA, gPlus)], settings: ['lr', 'weight_decay'], state: { grad: GT } };
    const B = (s) => sub(mi('b'), s);
    const damp = Number(h.dampening) ? row(mo('('), mn('1'), mo('−'), mi('τ'), mo(')')) : '';
    const nest = name === 'nesterov' || h.nesterov === true;
    return {
      lines: [
        eq(B(T), mi('μ'), B(TM1), mo('+'), damp, gPlus),
        nest ? eq(X1, XT, mo('−'), ETA, row(mo('('), GT, mo('+'), mi('μ'), B(T), mo(')')))
          : eq(X1, XT, mo('−'), ETA, B(T)),
      ],
      settings: ['lr', 'momentum', 'dampening', 'weight_decay'],
      state: { grad: GT, velocity: B(T) },
    };
  }
  if (family === 'adagrad') {
    const S = (s) => sub(mi('s'), s);
    return {
      lines: [eq(S(T), S(TM1), mo('+'), gSq),
        eq(X1, XT, mo('−'), frac(ETA, row(sqrt(S(T)), mo('+'), EPS)), gPlus)],
      settings: ['lr', 'eps', 'weight_decay'],
      state: { grad: GT, second_moment: S(T) },
    };
  }
  if (family === 'adagrad_norm') {
    const B2 = (s) => sup(sub(mi('b'), s), mn('2'));
    return {
      lines: [eq(B2(T), B2(TM1), mo('+'), sup(row(mo('‖'), GT, mo('‖')), mn('2'))),
        eq(X1, XT, mo('−'), frac(ETA, sqrt(row(EPS, mo('+'), B2(T)))), GT)],
      settings: ['lr', 'eps'],
      state: { grad: GT, second_moment: B2(T) },
    };
  }
  if (family === 'rmsprop') {
    const V = (s) => sub(mi('v'), s);
    return {
      lines: [eq(V(T), mi('α'), V(TM1), mo('+'), row(mo('('), mn('1'), mo('−'), mi('α'), mo(')')), gSq),
        eq(X1, XT, mo('−'), frac(ETA, row(sqrt(V(T)), mo('+'), EPS)), gPlus)],
      settings: ['lr', 'alpha', 'eps', 'weight_decay'],
      state: { grad: GT, second_moment: V(T) },
    };
  }
  if (['adam', 'adamw', 'nadam', 'adamax', 'radam'].includes(family)) {
    const M = (s) => sub(mi('m'), s);
    const V = (s) => sub(mi('v'), s);
    const B1 = sub(mi('β'), mn('1'));
    const B2 = sub(mi('β'), mn('2'));
    const decoupled = family === 'adamw' || h.decoupled_weight_decay === true;
    const g = decoupled ? GT : gPlus;
    const gg = decoupled ? sup(GT, mn('2')) : gSq;
    const step = [mo('−'), ETA, frac(hat(M(T)), row(sqrt(hat(V(T))), mo('+'), EPS))];
    if (decoupled && Number(h.weight_decay)) step.push(mo('−'), ETA, mi('λ'), XT);
    return {
      lines: [
        eq(M(T), B1, M(TM1), mo('+'), row(mo('('), mn('1'), mo('−'), B1, mo(')')), g),
        eq(V(T), B2, V(TM1), mo('+'), row(mo('('), mn('1'), mo('−'), B2, mo(')')), gg),
        row(eq(hat(M(T)), frac(M(T), row(mn('1'), mo('−'), sup(B1, T)))), mo(','), mspace(),
          eq(hat(V(T)), frac(V(T), row(mn('1'), mo('−'), sup(B2, T))))),
        eq(X1, XT, ...step),
      ],
      settings: ['lr', 'beta1', 'beta2', 'eps', 'weight_decay'],
      state: { grad: GT, velocity: M(T), second_moment: V(T) },
      variant: family !== 'adam' && family !== 'adamw',
    };
  }
  return {
    lines: [eq(X1, XT, mo('+'), row(mi('Δ'), XT))],
    settings: ['lr'],
    state: { grad: GT },
    variant: true,
  };
}

function mspace() {
  return '<mspace width="1em"></mspace>';
}

/** The MathML of setting `key` (η, β₁, ...) or of a readout symbol. */
export function settingSymbol(key) {
  return SYM[key] || mi(key.replace(/[^a-z0-9_]/gi, ''));
}

/** A block <math> element holding one MathML row (strings from updateRule). */
export function mathElement(content, { display = 'block', label = '' } = {}) {
  const m = document.createElementNS('http://www.w3.org/1998/Math/MathML', 'math');
  m.setAttribute('display', display);
  if (label) m.setAttribute('aria-label', label);
  m.innerHTML = content;
  return m;
}

/** A number as MathML (<mn>, with a minus sign as <mo>); vectors as (a, b). */
export function mathNumber(v, digits = 4) {
  const one = (x) => {
    if (x === null || x === undefined || !Number.isFinite(Number(x))) return mi('—');
    const n = Number(x);
    const a = Math.abs(n);
    let s = a !== 0 && (a >= 1e4 || a < 1e-3) ? a.toExponential(2).replace('e+', 'e') : String(Number(a.toPrecision(digits)));
    s = s.replace(/e(-?)(\d+)$/, (_, sign, e) => `×10^${sign}${e}`);
    const m = /^(.*)×10\^(-?\d+)$/.exec(s);
    const body = m ? row(mn(m[1]), mo('×'), sup(mn('10'), mn(m[2].replace('-', '−')))) : mn(s);
    return n < 0 ? row(mo('−'), body) : body;
  };
  if (Array.isArray(v)) {
    if (v.length === 1) return one(v[0]);
    return row(mo('('), ...v.map((x, i) => (i ? mo(',') : '') + one(x)), mo(')'));
  }
  return one(v);
}

export const MATH = { eq, row, mo, mi, mn, sub, sup };

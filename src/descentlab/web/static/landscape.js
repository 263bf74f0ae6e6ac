// Network-landscape tab: two optimizers train one MLP from the same start (landscape.frame
// from the server); the loss plane around each solution with its path, the loss on straight
// lines between the solutions, and a table with the sharpness beside 2/eta. Every number is
// the server's; this file draws them and sends the controls.

import {
  el, fmt, numberControl, selectControl, hyperControls, specDefaults, setBadge, refuse,
} from './controls.js';
import {
  fitCanvas, drawAxes, scales, lineChart, extent, normalizer, contourLevels, contourSegments,
  landColor, pathStyle,
} from './draw.js';

const $ = (id) => document.getElementById(id);
const DATASET_ALIASES = { blobs: 'gaussians' };
const MULTICLASS = ['spirals', 'gaussians'];
const LINE_DASHES = [[], [], [6, 3]];

export function createLandscape(app) {
  let rows = [];
  let history = [];
  let planes = [null, null];
  let lines = null;
  let frame = null; // the last landscape.frame
  let playing = false;
  let started = false;
  let awaiting = false; // frames of a previous run are ignored until the new run's first
  let done = false;
  let timer = null;
  let drawPending = false;
  let hiddenPaused = false;
  let sent = null;
  let lastGood = null;
  let fallback = false;
  // landscape.start answers (its first frame or a refusal) still to come; a refusal while
  // restart() is pending is stale too (app.js requests())
  const starts = app.requests('landscape.start', () => timer !== null);
  let frames = 0;
  let held = 0;

  const st = () => app.state.landscape;
  const optimizerSpec = (name) => (app.registry?.optimizers || []).find((o) => o.name === name) || null;
  const labels = () => {
    const names = (sent || st()).optimizers.map((o) => o.name);
    return names[0] === names[1] ? names.map((n, k) => `${n} (${'AB'[k]})`) : names;
  };

  function config(autoplay, s = st()) {
    const toy = s.dataset !== 'digits';
    return {
      dataset: s.dataset,
      classes: toy && MULTICLASS.includes(s.dataset) ? s.classes : null,
      noise: toy ? s.noise : null,
      points: s.points,
      hidden: s.hidden.slice(),
      activation: s.activation,
      optimizers: s.optimizers.map((o) => ({ name: o.name, hyper: { ...o.hyper } })),
      batch_size: s.batch_size,
      epochs: s.epochs,
      directions: s.directions,
      grid: s.grid,
      samples: s.samples,
      plane_every: s.plane_every,
      steps_per_frame: s.steps_per_frame,
      seed: s.seed,
      autoplay,
    };
  }

  function clear() {
    rows = [];
    history = [];
    planes = [null, null];
    lines = null;
    frame = null;
    done = false;
    app.debug.landscape = { epoch: 0, step: 0, done: false, frames, planes: {}, lines: 0, rows: [] };
    render();
  }

  /** Start a run with the controls, or with the last accepted configuration (`previous`). */
  function start(autoplay = st().autoplay, { previous = false } = {}) {
    clearTimeout(timer);
    timer = null;
    if (!app.registry) return;
    clear();
    playing = Boolean(autoplay);
    st().autoplay = playing;
    app.changed();
    const base = previous && lastGood ? lastGood : st();
    fallback = base !== st();
    sent = JSON.parse(JSON.stringify(base));
    started = app.send({ type: 'landscape.start', config: config(playing, base) });
    if (started) starts.sent();
    awaiting = started;
    updateButtons();
  }

  /** A refused landscape.start: the error sits at its control (app.js); the last accepted
   * configuration runs again, so the pictures stay meaningful. A stale refusal (a newer
   * landscape.start is on its way, or restart() is about to send one) is not shown and not
   * answered: the newer request's answer decides. */
  function onError(msg) {
    if (msg.request !== 'landscape.start') return;
    if (starts.answered(msg)) return;
    const same = (a, b) => JSON.stringify({ ...a, autoplay: null }) === JSON.stringify({ ...b, autoplay: null });
    if (lastGood && !fallback && !same(lastGood, sent)) {
      start(false, { previous: true });
    } else {
      awaiting = false;
      started = false;
      playing = false;
      updateButtons();
      renderStatus();
    }
  }

  function restart() {
    app.changed();
    clearTimeout(timer);
    timer = setTimeout(() => start(playing), 250);
  }

  function control(action, extra = {}) {
    app.send({ type: 'landscape.control', action, ...extra });
  }

  function play() {
    if (!started || timer || done) {
      start(true);
      return;
    }
    playing = true;
    st().autoplay = true;
    app.changed();
    control('play');
    updateButtons();
    renderStatus();
  }

  function pause() {
    playing = false;
    st().autoplay = false;
    app.changed();
    if (timer) {
      start(false);
      return;
    }
    control('pause');
    updateButtons();
    renderStatus();
  }

  function step() {
    if (!started || timer) start(false);
    playing = false;
    st().autoplay = false;
    app.changed();
    control('step');
    updateButtons();
  }

  function reset() {
    if (!started || timer) {
      start(false);
      return;
    }
    clear();
    playing = false;
    st().autoplay = false;
    app.changed();
    control('reset');
    control('pause');
    updateButtons();
  }

  function setSpeed() {
    if (!started || awaiting) { restart(); return; }
    for (const saved of [sent, lastGood]) if (saved) saved.steps_per_frame = st().steps_per_frame;
    app.changed();
    control('speed', { steps_per_frame: st().steps_per_frame });
  }

  /** Out of sight (another tab, or the browser tab hidden): a playing run pauses on the
   * server, and goes on when the tab is back. */
  function visibilityChanged() {
    const hidden = !app.isVisible('landscape') || document.hidden || $('panel-landscape').hidden;
    if (hidden && playing && started && !awaiting && !done && !hiddenPaused) {
      hiddenPaused = true;
      control('pause');
    } else if (!hidden && hiddenPaused) {
      hiddenPaused = false;
      if (playing && started && !done) control('play');
    }
    if (app.debug.landscape) app.debug.landscape.hidden_paused = hiddenPaused;
    renderStatus();
  }

  function updateButtons() {
    $('landscape-play').classList.toggle('active', playing && !done);
    $('landscape-pause').classList.toggle('active', !playing || done);
    $('landscape-play').setAttribute('aria-pressed', String(playing && !done));
  }

  // ---- controls -------------------------------------------------------------------------------

  function build() {
    const root = $('landscape-controls');
    root.replaceChildren();
    const reg = app.registry;
    const s = st();
    const toy = s.dataset !== 'digits';
    const maxPoints = app.limits?.max_points ?? 2000;

    const dataSec = el('section', { class: 'group' }, el('h3', {}, 'Data'));
    const dsOptions = (reg.datasets || []).map((d) => {
      const value = DATASET_ALIASES[d.name] || d.name;
      return { value, label: value, title: d.summary };
    });
    dsOptions.push({ value: 'digits', label: 'digits (8×8 images, 10 classes)', title: 'handwritten digits, 64 pixels' });
    dataSec.append(selectControl({
      label: 'data set', value: s.dataset, options: dsOptions, testid: 'landscape-dataset', field: 'dataset',
      onChange: (v) => { s.dataset = v; build(); restart(); },
    }));
    const toyOnly = [
      numberControl({
        label: 'classes', value: s.classes, low: 2, high: 5, int: true, testid: 'landscape-classes', field: 'classes',
        onChange: (v) => { s.classes = v; restart(); },
      }),
      numberControl({
        label: 'noise', value: s.noise, low: 0, high: 1, testid: 'landscape-noise', field: 'noise',
        onChange: (v) => { s.noise = v; restart(); },
      }),
      numberControl({
        label: 'points', value: s.points, low: 20, high: maxPoints, int: true, log: true,
        testid: 'landscape-points', field: 'points', onChange: (v) => { s.points = v; restart(); },
      }),
    ];
    toyOnly.forEach((c, i) => {
      if (!toy || (i === 0 && !MULTICLASS.includes(s.dataset))) {
        c.classList.add('disabled');
        c.querySelectorAll('input').forEach((x) => { x.disabled = true; });
      }
      dataSec.append(c);
    });
    root.append(dataSec);

    const netSec = el('section', { class: 'group' }, el('h3', {}, 'Network'));
    netSec.append(hiddenControl());
    netSec.append(selectControl({
      label: 'activation', value: s.activation, testid: 'landscape-activation', field: 'activation',
      options: (reg.activations || ['relu', 'tanh', 'sigmoid']).map((a) => ({ value: a, label: a })),
      onChange: (v) => { s.activation = v; restart(); },
    }));
    root.append(netSec);

    s.optimizers.forEach((o, k) => {
      const style = pathStyle(k);
      const sec = el('section', { class: 'group land-opt', style: `border-left-color:${style.color}` },
        el('h3', {}, `Optimizer ${'AB'[k]}`));
      sec.append(selectControl({
        label: 'optimizer', value: o.name, testid: `landscape-optimizer-${k}`,
        field: `optimizers[${k}] optimizers[${k}].name`,
        options: reg.optimizers.map((x) => ({ value: x.name, label: x.name, title: x.summary })),
        onChange: (v) => {
          const lr = o.hyper.lr;
          s.optimizers[k] = { name: v, hyper: specDefaults(optimizerSpec(v)?.hyperparameters) };
          if (lr !== undefined) s.optimizers[k].hyper.lr = lr;
          app.fieldErrors.clear('landscape');
          build();
          restart();
        },
      }));
      const spec = optimizerSpec(o.name);
      if (spec) {
        sec.append(hyperControls(spec.hyperparameters,
          { ...specDefaults(spec.hyperparameters), ...o.hyper },
          (key, v) => { s.optimizers[k].hyper[key] = v; restart(); }, `landscape-hp-${k}`,
          { field: `optimizers[${k}].hyper` }));
      }
      root.append(sec);
    });

    const runSec = el('section', { class: 'group' }, el('h3', {}, 'Training'));
    runSec.append(numberControl({
      label: 'epochs', value: s.epochs, low: 1, high: 500, int: true, log: true, testid: 'landscape-epochs',
      field: 'epochs', onChange: (v) => { s.epochs = v; restart(); },
    }));
    runSec.append(numberControl({
      label: 'batch size', value: s.batch_size, low: 1, high: 256, int: true, log: true,
      testid: 'landscape-batch', field: 'batch_size', onChange: (v) => { s.batch_size = v; restart(); },
    }));
    runSec.append(numberControl({
      label: 'speed (steps per frame)', value: s.steps_per_frame, low: 1, high: 200, int: true, log: true,
      testid: 'landscape-speed', field: 'steps_per_frame',
      onChange: (v) => { s.steps_per_frame = v; setSpeed(); },
    }));
    runSec.append(numberControl({
      label: 'seed', value: s.seed, int: true, testid: 'landscape-seed', field: 'seed',
      help: 'the same seed: the same initial weights, data and mini-batches for both',
      onChange: (v) => { s.seed = Math.round(v); restart(); },
    }));
    root.append(runSec);

    const planeSec = el('section', { class: 'group' }, el('h3', {}, 'Landscape'));
    planeSec.append(selectControl({
      label: 'directions', value: s.directions, testid: 'landscape-directions', field: 'directions',
      options: [
        { value: 'pca', label: 'PCA of the path' },
        { value: 'filter', label: 'filter-normalized random' },
      ],
      onChange: (v) => { s.directions = v; restart(); },
    }));
    planeSec.append(numberControl({
      label: 'grid (points per axis)', value: s.grid, low: 5, high: 41, int: true, testid: 'landscape-grid',
      field: 'grid', onChange: (v) => { s.grid = v; restart(); },
    }));
    planeSec.append(numberControl({
      label: 'samples', value: s.samples, low: 20, high: 500, int: true, log: true, testid: 'landscape-samples',
      field: 'samples', help: 'the fixed training samples every plane, line and λmax is measured on',
      onChange: (v) => { s.samples = v; restart(); },
    }));
    planeSec.append(numberControl({
      label: 'new plane every (frames)', value: s.plane_every, low: 1, high: 300, int: true, log: true,
      testid: 'landscape-plane-every', field: 'plane_every', onChange: (v) => { s.plane_every = v; restart(); },
    }));
    root.append(planeSec);
    app.fieldErrors.rebuilt('landscape');
    render();
  }

  /** Hidden layer sizes as text ("16, 16"): one number per layer. */
  function hiddenControl() {
    const s = st();
    const input = el('input', {
      type: 'text', id: 'landscape-hidden', class: 'num wide', 'data-testid': 'landscape-hidden',
      spellcheck: 'false', autocomplete: 'off', inputmode: 'numeric',
    });
    input.value = s.hidden.join(', ');
    input.addEventListener('change', () => {
      const parts = input.value.split(/[\s,;]+/).filter(Boolean);
      const sizes = parts.map(Number);
      if (!parts.length || !sizes.every((n) => Number.isInteger(n))) {
        refuse(input, `hidden layers must be whole numbers separated by commas, got '${input.value.slice(0, 40)}'`);
        return;
      }
      s.hidden = sizes;
      restart();
    });
    return el('div', { class: 'control', 'data-field': 'hidden' },
      el('label', { for: 'landscape-hidden' }, 'hidden layers (units per layer)'), input,
      el('div', { class: 'help' }, `e.g. 16 or 32, 16; at most 3 layers of ${app.limits?.max_neurons ?? 64}`));
  }

  // ---- server messages ------------------------------------------------------------------------

  function onFrame(msg) {
    if (awaiting) {
      // a frame of the previous run; none is the answer while only the restart is to come
      if (msg.step !== 0 || msg.tick || !starts.outstanding) return;
      if (starts.answered(msg)) return; // the first frame of a run already replaced
      awaiting = false;
      if (sent) lastGood = sent;
      if (!fallback) app.fieldErrors.succeeded('landscape');
    }
    if (msg.step === 0 && !msg.history?.length && history.length) history = [];
    for (const r of msg.history || []) history.push(r);
    for (const p of msg.planes || []) planes[p.run] = p;
    if (msg.lines) lines = msg.lines;
    // A playing frame that was on its way when the run paused (the button, or the tab
    // hidden): its pictures are kept, its step is not shown; the pause's answer follows.
    if (msg.tick && !msg.done && (!playing || hiddenPaused)) {
      held += 1;
      if (app.debug.landscape) app.debug.landscape.held = held;
      return;
    }
    frames += 1;
    frame = msg;
    rows = msg.rows || rows;
    done = Boolean(msg.done);
    if (done) playing = false;
    const planeInfo = {};
    planes.forEach((p, k) => {
      if (p) {
        planeInfo[k] = {
          epoch: p.epoch, path: p.path.length, grid: p.xs.length, directions: p.directions,
          explained_variance: p.explained_variance, center_loss: p.center_loss,
        };
      }
    });
    app.debug.frames.landscape = frames;
    app.debug.landscape = {
      epoch: msg.epoch, step: msg.step, progress: msg.progress, done, frames, pending: msg.pending,
      planes: planeInfo, lines: lines ? lines.curves.length : 0, history: history.length,
      rows: rows.map((r) => ({ ...r })), hidden_paused: hiddenPaused, playing, tick: Boolean(msg.tick), held,
    };
    updateButtons();
    render();
    scheduleDraw();
  }

  function render() {
    renderStatus();
    renderTable();
  }

  function renderStatus() {
    const epochs = frame?.epochs ?? st().epochs;
    $('landscape-epoch').textContent = String(frame?.epoch ?? 0);
    $('landscape-epochs').textContent = ` / ${epochs}`;
    const pending = frame?.pending ?? 0;
    $('landscape-pending').textContent = pending ? 'measuring…' : '';
    $('landscape-note').textContent = frame?.note || '';
    const samples = frame?.samples;
    $('landscape-samples').textContent = samples ? `${samples} fixed` : 'the';
    const b = $('landscape-status');
    if (done) setBadge(b, 'converged', 'done');
    else if (playing && hiddenPaused) setBadge(b, 'idle', 'waiting (tab hidden)');
    else if (playing) setBadge(b, 'running', 'training');
    else setBadge(b, 'idle', frame && frame.step > 0 ? 'paused' : 'ready');
    const names = labels();
    for (const k of [0, 1]) {
      const p = planes[k];
      const when = p ? ` — plane at epoch ${fmt(p.epoch, 3)}` : '';
      $(`landscape-title-${k}`).replaceChildren(
        el('span', { class: 'swatch', style: `background:${pathStyle(k).color}` }),
        ` ${names[k]}, η = ${fmt(rows[k]?.lr ?? (sent || st()).optimizers[k].hyper.lr ?? null, 3)}${when}`);
    }
  }

  function renderTable() {
    const table = $('landscape-table');
    const pct = (v) => (v == null ? '—' : `${(100 * v).toFixed(1)}%`);
    const names = labels();
    const head = el('tr', {}, el('th', {}, 'optimizer'), el('th', {}, 'loss'),
      el('th', { title: 'accuracy on the same samples' }, 'acc.'),
      el('th', { title: 'accuracy on the held-out test samples' }, 'test'),
      el('th', { title: 'top Hessian eigenvalue of the loss on the samples (sharpness)' }, 'λmax'),
      el('th', { title: 'the stability limit of gradient descent with this learning rate' }, '2/η'));
    const body = (rows.length ? rows : [null, null]).map((r, k) => {
      const over = r && r.sharpness != null && r.two_over_lr != null && r.sharpness > r.two_over_lr;
      return el('tr', { 'data-run': String(k) },
        el('th', {}, el('span', { class: 'swatch', style: `background:${pathStyle(k).color}` }), ` ${names[k]}`,
          r && r.status === 'diverged' ? el('span', { class: 'badge badge-diverged' }, 'diverged') : ''),
        el('td', { class: 'num', 'data-testid': `landscape-loss-${k}` }, r ? fmt(r.loss, 4) : '—'),
        el('td', { class: 'num', 'data-testid': `landscape-accuracy-${k}` }, r ? pct(r.accuracy) : '—'),
        el('td', { class: 'num', 'data-testid': `landscape-test-accuracy-${k}` }, r ? pct(r.test_accuracy) : '—'),
        el('td', {
          class: `num${over ? ' land-over' : ''}`, 'data-testid': `landscape-sharpness-${k}`,
          title: r && r.sharpness_epoch != null ? `measured at epoch ${fmt(r.sharpness_epoch, 3)}` : '',
        }, r && r.sharpness != null ? fmt(r.sharpness, 4) : '—'),
        el('td', { class: 'num', 'data-testid': `landscape-two-over-lr-${k}` }, r ? fmt(r.two_over_lr, 4) : '—'));
    });
    table.replaceChildren(el('thead', {}, head), el('tbody', {}, ...body));
  }

  // ---- drawing --------------------------------------------------------------------------------

  function scheduleDraw() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => {
      drawPending = false;
      draw();
    });
  }

  function draw() {
    if (!app.isVisible('landscape')) return;
    const wrap = $('landscape-canvas-wrap');
    const two = getComputedStyle(wrap).gridTemplateColumns.trim().split(/\s+/).length >= 2;
    const cs = getComputedStyle(wrap);
    const inner = wrap.clientWidth - (parseFloat(cs.paddingLeft) || 0) - (parseFloat(cs.paddingRight) || 0);
    const w = Math.max(240, Math.floor(two ? (inner - 14) / 2 : inner));
    const h = Math.round(Math.min(w, app.mapHeight(300, two ? 300 : 200)));
    for (const k of [0, 1]) drawPlane(k, w, h);
    drawLines();
    drawHistory();
  }

  function drawPlane(k, w, h) {
    const canvas = $(`landscape-plane-${k}`);
    const { ctx } = fitCanvas(canvas, w, h);
    const box = { x: 50, y: 8, w: w - 58, h: h - 52 };
    const p = planes[k];
    if (!p) {
      ctx.font = '13px system-ui, sans-serif';
      ctx.fillStyle = '#868e96';
      ctx.textAlign = 'center';
      const words = !app.connected ? 'connecting to the server…'
        : frame?.pending ? 'measuring the plane…'
          : (sent || st()).directions === 'pca' ? 'press play: the PCA plane needs a few steps of path'
            : 'press play to train';
      ctx.fillText(words, w / 2, h / 2);
      canvas.dataset.drawn = '0';
      return;
    }
    const xr = p.bounds[0];
    const yr = p.bounds[1];
    const sc = scales(box, xr, yr);
    const V = p.values;
    const { lo, hi } = extent(V);
    const norm = normalizer(lo, hi, true);
    const nx = p.xs.length;
    const ny = p.ys.length;
    const img = new ImageData(nx, ny);
    for (let j = 0; j < ny; j += 1) {
      for (let i = 0; i < nx; i += 1) {
        const v = V[j][i];
        const c = typeof v === 'number' && Number.isFinite(v) ? landColor(norm(v)) : [250, 214, 180];
        const o = ((ny - 1 - j) * nx + i) * 4;
        img.data[o] = c[0]; img.data[o + 1] = c[1]; img.data[o + 2] = c[2]; img.data[o + 3] = 255;
      }
    }
    const off = document.createElement('canvas');
    off.width = nx;
    off.height = ny;
    off.getContext('2d').putImageData(img, 0, 0);
    ctx.save();
    ctx.beginPath(); ctx.rect(box.x, box.y, box.w, box.h); ctx.clip();
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    const cw = box.w / (nx - 1);
    const ch = box.h / (ny - 1);
    ctx.drawImage(off, box.x - cw / 2, box.y - ch / 2, box.w + cw, box.h + ch);
    ctx.lineWidth = 0.9;
    contourLevels(lo, hi, 12, true).forEach((level, n) => {
      const seg = contourSegments(V, p.xs, p.ys, level);
      ctx.strokeStyle = n % 4 === 3 ? 'rgba(33,37,41,0.45)' : 'rgba(33,37,41,0.22)';
      ctx.beginPath();
      for (let q = 0; q < seg.length; q += 4) {
        ctx.moveTo(sc.sx(seg[q]), sc.sy(seg[q + 1]));
        ctx.lineTo(sc.sx(seg[q + 2]), sc.sy(seg[q + 3]));
      }
      ctx.stroke();
    });
    // the path: a white casing, then the optimizer's colour; open circle at the start
    const pts = p.path.filter((q) => q[0] != null && q[1] != null).map((q) => [sc.sx(q[0]), sc.sy(q[1])]);
    const color = pathStyle(k).color;
    for (const [width, stroke] of [[5, 'rgba(255,255,255,0.9)'], [2.2, color]]) {
      ctx.beginPath();
      pts.forEach(([x, y], n) => (n ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.lineWidth = width;
      ctx.strokeStyle = stroke;
      ctx.lineJoin = 'round';
      ctx.stroke();
    }
    for (const [x, y] of pts.slice(1, -1)) {
      ctx.beginPath(); ctx.arc(x, y, 1.8, 0, 2 * Math.PI); ctx.fillStyle = color; ctx.fill();
    }
    if (pts.length) {
      const [x0, y0] = pts[0];
      ctx.beginPath(); ctx.arc(x0, y0, 5, 0, 2 * Math.PI);
      ctx.fillStyle = '#fff'; ctx.fill(); ctx.lineWidth = 2; ctx.strokeStyle = color; ctx.stroke();
      const [x1, y1] = pts[pts.length - 1];
      ctx.beginPath(); ctx.arc(x1, y1, 5, 0, 2 * Math.PI);
      ctx.fillStyle = color; ctx.fill(); ctx.lineWidth = 2; ctx.strokeStyle = '#212529'; ctx.stroke();
    }
    ctx.restore();
    const [xl, yl] = p.axis_labels;
    drawAxes(ctx, box, xr, yr, { xLabel: xl, yLabel: yl.replace(" of the path's variance", '') });
    ctx.save();
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = 'rgba(255,255,255,0.85)';
    const text = `loss ${fmt(lo, 3)} … ${fmt(hi, 3)}`;
    const tw = ctx.measureText(text).width;
    ctx.fillRect(box.x + box.w - tw - 10, box.y + 2, tw + 8, 16);
    ctx.fillStyle = '#343a40';
    ctx.textAlign = 'right';
    ctx.textBaseline = 'top';
    ctx.fillText(text, box.x + box.w - 6, box.y + 4);
    ctx.restore();
    canvas.dataset.drawn = '1';
    canvas.dataset.pathPoints = String(pts.length);
  }

  function drawLines() {
    const canvas = $('landscape-lines-chart');
    const colors = [pathStyle(0).color, pathStyle(1).color, '#495057'];
    const series = lines ? lines.curves.map((c, n) => ({
      color: colors[n], xs: lines.alphas, ys: c.loss, dash: LINE_DASHES[n], label: c.label,
    })) : [];
    lineChart(canvas, series, {
      logY: 'auto', xLabel: 'α (0 = θa, 1 = θb)', yLabel: 'loss', height: 190,
      xRange: [-0.5, 1.5], empty: 'no lines yet',
    });
    const legend = $('landscape-lines-legend');
    legend.replaceChildren(...series.map((s) => el('span', { class: 'legend-item' },
      el('span', { class: `land-key${s.dash.length ? ' dashed' : ''}`, style: `border-color:${s.color}` }), ` ${s.label}`)));
  }

  function drawHistory() {
    const ep = history.map((r) => r.epoch);
    lineChart($('landscape-loss-chart'), [0, 1].map((k) => ({
      color: pathStyle(k).color, xs: ep, ys: history.map((r) => r.loss[k]),
    })), { logY: 'auto', xLabel: 'epoch', yLabel: 'train loss', height: 160, empty: 'no epochs yet' });
  }

  function attach() {
    $('landscape-play').addEventListener('click', play);
    $('landscape-pause').addEventListener('click', pause);
    $('landscape-step').addEventListener('click', step);
    $('landscape-reset').addEventListener('click', reset);
    new MutationObserver(visibilityChanged).observe($('panel-landscape'), { attributes: true, attributeFilter: ['hidden'] });
    document.addEventListener('visibilitychange', visibilityChanged);
  }

  return {
    build,
    attach,
    start,
    play,
    pause,
    onFrame,
    onError,
    draw: scheduleDraw,
    isStale: starts.isStale,
    onDisconnect() { started = false; awaiting = false; starts.reset(); },
    get started() { return started; },
    toggle() { if (playing && !done) pause(); else play(); },
  };
}

// Network tab: a small MLP trained on a 2-D toy data set by the server (train.frame), with
// the network drawn as in TensorFlow Playground: each unit's output over the plane, the
// connections by weight, the input features as toggles, weight norm and sparsity per layer.

import {
  el, fmt, numberControl, selectControl, hyperControls, specDefaults, setBadge,
} from './controls.js';
import { fitCanvas, drawAxes, scales, lineChart, tint } from './draw.js';
import { CLASS_COLORS } from './state.js';

const $ = (id) => document.getElementById(id);
const DATASET_ALIASES = { blobs: 'gaussians' };
const MULTICLASS = ['spirals', 'gaussians'];
const NET_W = 250;
const netColX = (i, n) => 14 + (i * (NET_W - 28)) / (n - 1);
const PLAIN_INPUTS = ['x1', 'x2'];
const POS = [25, 113, 194]; // heatmap colours: positive (blue) and negative (orange) outputs
const NEG = [232, 89, 12];

export function createTrain(app) {
  let data = null; // train.data
  let history = [];
  let boundary = null;
  let boundaryImage = null;
  let confusion = null;
  let epoch = 0;
  let done = false;
  let stopReason = '';
  let playing = false;
  let started = false;
  let timer = null;
  let drawPending = false;
  let awaiting = false; // frames of the previous run are ignored until the new train.data
  let sent = null;
  let lastGood = null;
  let fallback = false; // the last train.start re-sent lastGood after a refusal
  // train.start answers (train.data or a refusal) still to come; a refusal while restart()
  // is pending is stale too (app.js requests())
  const starts = app.requests('train.start', () => timer !== null);
  let network = null; // the last train.frame's network pictures
  let readouts = [];
  let threshold = 1e-3;
  let hiddenPaused = false; // the tab is out of sight: the run waits (and goes on when back)
  let held = 0; // playing frames that arrived after a pause (their numbers are kept, not shown)
  let serverStep = 0;
  let pictures = 0;
  let netKey = '';

  const st = () => app.state.train;

  function optimizerSpec(name) {
    return (app.registry?.optimizers || []).find((o) => o.name === name) || null;
  }

  function scheduleSpec(name) {
    return (app.registry?.schedules || []).find((s) => s.name === name) || null;
  }

  function config(autoplay, s = st()) {
    return {
      dataset: s.dataset,
      classes: s.classes,
      noise: s.noise,
      points: s.points,
      train_ratio: s.train_ratio,
      batch_size: Math.min(s.batch_size, s.points),
      hidden: s.hidden.slice(),
      features: features(s).slice(),
      activation: s.activation,
      optimizer: { name: s.optimizer.name, hyper: { ...s.optimizer.hyper } },
      l1: s.l1,
      l2: s.l2,
      dropout: s.dropout,
      schedule: s.schedule ? { name: s.schedule.name, params: { ...s.schedule.params } } : null,
      seed: s.seed,
      epochs_per_frame: s.epochs_per_frame,
      max_epochs: s.max_epochs,
      autoplay,
    };
  }

  function features(s = st()) {
    return Array.isArray(s.features) && s.features.length ? s.features : PLAIN_INPUTS;
  }

  function clear() {
    history = [];
    boundary = null;
    boundaryImage = null;
    confusion = null;
    network = null;
    readouts = [];
    epoch = 0;
    done = false;
    stopReason = '';
    app.debug.train = { epoch: 0, test_accuracy: null, train_accuracy: null, done: false };
    renderStats();
    renderNet();
    scheduleDraw();
  }

  /** Start training with the controls, or with `previous` the last accepted configuration. */
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
    sent.autoplay = playing;
    started = app.send({ type: 'train.start', config: config(playing, base) });
    if (started) starts.sent();
    awaiting = started;
    updateButtons();
  }

  /**
   * The server refused a train.start: the error is shown next to its control (app.js), the
   * controls keep what the user typed, and the last accepted configuration trains again.
   * A stale refusal (a newer train.start is on its way, or restart() is about to send one)
   * is not shown and not answered: the newer request's answer decides.
   */
  function onError(msg) {
    if (msg.request !== 'train.start') return;
    if (starts.answered(msg)) return;
    const same = (a, b) => JSON.stringify({ ...a, autoplay: null }) === JSON.stringify({ ...b, autoplay: null });
    if (lastGood && !fallback && !same(lastGood, sent)) {
      start(sent ? sent.autoplay : playing, { previous: true });
    } else {
      awaiting = false;
      started = false;
      playing = false;
      updateButtons();
      renderStats();
    }
  }

  function restart() {
    app.changed();
    clearTimeout(timer);
    timer = setTimeout(() => start(playing), 200);
  }

  /** Speed changed: the running training goes on at the new pace (no restart). */
  function setSpeed() {
    const n = st().epochs_per_frame;
    if (!started || awaiting) { restart(); return; }
    for (const saved of [sent, lastGood]) if (saved) saved.epochs_per_frame = n;
    app.changed();
    app.send({ type: 'train.control', action: 'speed', epochs_per_frame: n });
  }

  function control(action) {
    app.send({ type: 'train.control', action });
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
    renderStats();
  }

  /** The Network tab (or the browser tab) went out of sight or came back: a playing run
   * pauses on the server while hidden, so other tabs get the machine, and goes on when back. */
  function visibilityChanged() {
    const hidden = !app.isVisible('train') || document.hidden || $('panel-train').hidden;
    if (hidden && playing && started && !awaiting && !done && !hiddenPaused) {
      hiddenPaused = true;
      control('pause');
    } else if (!hidden && hiddenPaused) {
      hiddenPaused = false;
      if (playing && started && !done) control('play');
    }
    app.debug.train.hidden_paused = hiddenPaused;
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
    control('reset');
    control('pause');
    playing = false;
    st().autoplay = false;
    app.changed();
    updateButtons();
  }

  function updateButtons() {
    $('train-play').classList.toggle('active', playing && !done);
    $('train-pause').classList.toggle('active', !playing || done);
    $('train-play').setAttribute('aria-pressed', String(playing && !done));
  }

  // ---- controls -------------------------------------------------------------------------------

  function build() {
    const root = $('train-controls');
    root.replaceChildren();
    const reg = app.registry;
    const s = st();
    const maxPoints = app.limits?.max_points ?? 2000;

    const dataSec = el('section', { class: 'group' }, el('h3', {}, 'Data'));
    const dsOptions = (reg.datasets || []).map((d) => {
      const value = DATASET_ALIASES[d.name] || d.name;
      return { value, label: value, title: d.summary };
    });
    dataSec.append(selectControl({
      label: 'data set', value: s.dataset, options: dsOptions, testid: 'train-dataset', field: 'dataset',
      onChange: (v) => { s.dataset = v; build(); restart(); },
    }));
    const classes = numberControl({
      label: 'classes', value: s.classes, low: 2, high: 5, int: true, testid: 'train-classes', field: 'classes',
      help: 'arms of the spiral / Gaussian clusters',
      onChange: (v) => { s.classes = v; restart(); },
    });
    if (!MULTICLASS.includes(s.dataset)) {
      classes.classList.add('disabled');
      classes.querySelectorAll('input').forEach((i) => { i.disabled = true; });
    }
    dataSec.append(classes);
    dataSec.append(numberControl({
      label: 'noise', value: s.noise, low: 0, high: 1, testid: 'train-noise', field: 'noise',
      onChange: (v) => { s.noise = v; restart(); },
    }));
    dataSec.append(numberControl({
      label: 'points', value: s.points, low: 20, high: maxPoints, int: true, log: true, testid: 'train-points',
      field: 'points',
      onChange: (v) => { s.points = v; restart(); },
    }));
    dataSec.append(numberControl({
      label: 'train : test ratio', value: s.train_ratio, low: 0.1, high: 0.9, testid: 'train-ratio',
      field: 'train_ratio',
      onChange: (v) => { s.train_ratio = v; restart(); },
    }));
    dataSec.append(el('button', {
      class: 'btn small', 'data-testid': 'train-regenerate',
      onclick: () => { s.seed += 1; build(); restart(); },
    }, '↻ new data (seed + 1)'));
    root.append(dataSec);

    // network architecture
    const netSec = el('section', { class: 'group' }, el('h3', {}, 'Network'));
    netSec.append(layerEditor());
    netSec.append(selectControl({
      label: 'activation', value: s.activation, testid: 'train-activation', field: 'activation',
      options: (reg.activations || ['relu', 'tanh', 'sigmoid']).map((a) => ({ value: a, label: a })),
      onChange: (v) => { s.activation = v; renderNetwork(); restart(); },
    }));
    root.append(netSec);

    // optimizer
    const optSec = el('section', { class: 'group' }, el('h3', {}, 'Optimizer'));
    optSec.append(selectControl({
      label: 'optimizer', value: s.optimizer.name, testid: 'train-optimizer', field: 'optimizer optimizer.name',
      options: reg.optimizers.map((o) => ({ value: o.name, label: o.name, title: o.summary })),
      onChange: (v) => {
        const lr = s.optimizer.hyper.lr;
        s.optimizer = { name: v, hyper: specDefaults(optimizerSpec(v)?.hyperparameters) };
        if (lr !== undefined) s.optimizer.hyper.lr = lr;
        app.fieldErrors.clear('train'); // other settings: their errors are the next answer's
        build();
        restart();
      },
    }));
    const spec = optimizerSpec(s.optimizer.name);
    if (spec) {
      optSec.append(el('p', { class: 'help summary' }, spec.summary));
      optSec.append(hyperControls(spec.hyperparameters,
        { ...specDefaults(spec.hyperparameters), ...s.optimizer.hyper },
        (k, v) => { s.optimizer.hyper[k] = v; restart(); }, 'train-hp', { field: 'optimizer.hyper' }));
    }
    optSec.append(numberControl({
      label: 'batch size', value: s.batch_size, low: 1, high: Math.max(2, Math.min(maxPoints, s.points)),
      int: true, log: true, testid: 'train-batch', field: 'batch_size',
      onChange: (v) => { s.batch_size = v; restart(); },
    }));
    const schedNames = (reg.schedules || []).map((x) => x.name);
    optSec.append(selectControl({
      label: 'learning-rate schedule', value: s.schedule ? s.schedule.name : '', testid: 'train-schedule',
      field: 'schedule schedule.name',
      options: [{ value: '', label: 'constant' }, ...schedNames.map((n) => ({ value: n, label: n }))],
      onChange: (v) => {
        s.schedule = v ? { name: v, params: specDefaults(scheduleSpec(v)?.hyperparameters) } : null;
        app.fieldErrors.clear('train');
        build();
        restart();
      },
    }));
    if (s.schedule) {
      const ss = scheduleSpec(s.schedule.name);
      if (ss) {
        optSec.append(hyperControls(ss.hyperparameters,
          { ...specDefaults(ss.hyperparameters), ...s.schedule.params },
          (k, v) => { s.schedule.params[k] = v; restart(); }, 'train-sched',
          { primary: ss.hyperparameters.map((h) => h.name), field: 'schedule.params' }));
      }
    }
    root.append(optSec);

    // regularization
    const regSec = el('section', { class: 'group' }, el('h3', {}, 'Regularization'));
    regSec.append(numberControl({
      label: 'L1 λ₁', value: s.l1, low: 1e-5, high: 1, log: true, zero: true, testid: 'train-l1', field: 'l1',
      help: 'loss + λ₁ Σ|w|', onChange: (v) => { s.l1 = v; restart(); },
    }));
    regSec.append(numberControl({
      label: 'L2 λ₂', value: s.l2, low: 1e-5, high: 1, log: true, zero: true, testid: 'train-l2', field: 'l2',
      help: 'loss + λ₂ Σw² (weights, not biases)', onChange: (v) => { s.l2 = v; restart(); },
    }));
    regSec.append(numberControl({
      label: 'dropout p', value: s.dropout, low: 0, high: 0.9, testid: 'train-dropout', field: 'dropout',
      help: 'drop each hidden unit with probability p while training',
      onChange: (v) => { s.dropout = v; restart(); },
    }));
    root.append(regSec);

    const runSec = el('section', { class: 'group' }, el('h3', {}, 'Run'));
    runSec.append(numberControl({
      label: 'speed (epochs per frame)', value: s.epochs_per_frame, low: 1, high: 50, int: true,
      testid: 'train-speed', field: 'epochs_per_frame', onChange: (v) => { s.epochs_per_frame = v; setSpeed(); },
    }));
    runSec.append(numberControl({
      label: 'max epochs', value: s.max_epochs, low: 1, high: 10000, int: true, log: true,
      testid: 'train-max-epochs', field: 'max_epochs', onChange: (v) => { s.max_epochs = v; restart(); },
    }));
    runSec.append(numberControl({
      label: 'seed', value: s.seed, int: true, testid: 'train-seed', field: 'seed',
      onChange: (v) => { s.seed = Math.round(v); restart(); },
    }));
    root.append(runSec);
    renderNetwork();
    app.fieldErrors.rebuilt('train');
  }

  function layerEditor() {
    const s = st();
    const maxLayers = app.limits?.max_layers ?? 6;
    const maxNeurons = app.limits?.max_neurons ?? 64;
    const head = el('div', { class: 'layer-head' },
      el('button', {
        class: 'icon-btn', 'aria-label': 'remove a hidden layer', 'data-testid': 'train-layer-minus',
        onclick: () => { if (s.hidden.length > 0) { s.hidden.pop(); build(); restart(); } },
      }, '−'),
      el('span', { 'data-testid': 'train-layers' }, `${s.hidden.length} hidden layer${s.hidden.length === 1 ? '' : 's'}`),
      el('button', {
        class: 'icon-btn', 'aria-label': 'add a hidden layer', 'data-testid': 'train-layer-plus',
        onclick: () => {
          if (s.hidden.length < maxLayers) { s.hidden.push(s.hidden[s.hidden.length - 1] ?? 4); build(); restart(); }
        },
      }, '+'));
    const cols = el('div', { class: 'layer-cols', style: `width:${NET_W}px` });
    s.hidden.forEach((n, i) => {
      cols.append(el('div', { class: 'layer-col', style: `left:${netColX(i + 1, s.hidden.length + 2)}px` },
        el('button', {
          class: 'icon-btn tiny', 'aria-label': `more neurons in layer ${i + 1}`, 'data-testid': `train-neurons-plus-${i}`,
          onclick: () => { if (s.hidden[i] < maxNeurons) { s.hidden[i] += 1; build(); restart(); } },
        }, '+'),
        el('span', { class: 'layer-n' }, String(n)),
        el('button', {
          class: 'icon-btn tiny', 'aria-label': `fewer neurons in layer ${i + 1}`, 'data-testid': `train-neurons-minus-${i}`,
          onclick: () => { if (s.hidden[i] > 1) { s.hidden[i] -= 1; build(); restart(); } },
        }, '−')));
    });
    return el('div', { class: 'layer-editor', 'data-field': 'hidden', 'data-testid': 'train-hidden' },
      head, cols, el('div', { id: 'train-network', class: 'network' }));
  }

  /** A schematic of the MLP: columns of units, input (2) -> hidden -> output (k). */
  function renderNetwork() {
    const host = $('train-network');
    if (!host) return;
    const s = st();
    const k = MULTICLASS.includes(s.dataset) ? s.classes : 2;
    const layers = [2, ...s.hidden, k];
    const W = NET_W;
    const H = 120;
    const colX = (i) => netColX(i, layers.length);
    const maxShown = 10;
    const ys = (n) => {
      const m = Math.min(n, maxShown);
      return Array.from({ length: m }, (_, j) => (m === 1 ? H / 2 : 10 + (j * (H - 20)) / (m - 1)));
    };
    const NS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('width', W);
    svg.setAttribute('height', H);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', `network ${layers.join('-')}, ${s.activation}`);
    for (let i = 0; i + 1 < layers.length; i += 1) {
      for (const y0 of ys(layers[i])) {
        for (const y1 of ys(layers[i + 1])) {
          const line = document.createElementNS(NS, 'line');
          line.setAttribute('x1', colX(i)); line.setAttribute('y1', y0);
          line.setAttribute('x2', colX(i + 1)); line.setAttribute('y2', y1);
          line.setAttribute('class', 'edge');
          svg.append(line);
        }
      }
    }
    layers.forEach((n, i) => {
      const kind = i === 0 ? 'in' : i === layers.length - 1 ? 'out' : 'hid';
      ys(n).forEach((y, j) => {
        const c = document.createElementNS(NS, 'circle');
        c.setAttribute('cx', colX(i)); c.setAttribute('cy', y);
        c.setAttribute('r', 4.2);
        c.setAttribute('class', `unit unit-${kind}`);
        if (kind === 'out') c.setAttribute('fill', CLASS_COLORS[j % CLASS_COLORS.length]);
        svg.append(c);
      });
      if (n > maxShown) {
        const t = document.createElementNS(NS, 'text');
        t.setAttribute('x', colX(i)); t.setAttribute('y', H - 1);
        t.setAttribute('class', 'unit-more');
        t.textContent = `${n}`;
        svg.append(t);
      }
    });
    host.replaceChildren(svg);
  }

  // ---- server messages ------------------------------------------------------------------------

  function onData(msg) {
    if (starts.answered(msg)) return; // the data of a run the page has already replaced
    awaiting = false;
    if (sent) lastGood = sent;
    if (!fallback) app.fieldErrors.succeeded('train');
    data = msg;
    boundaryImage = null;
    netKey = '';
    renderNet();
    scheduleDraw();
  }

  function onFrame(msg) {
    if (awaiting) return;
    if (typeof msg.epoch === 'number' && msg.epoch < epoch) history = [];
    for (const row of msg.history || []) history.push(row);
    epoch = msg.epoch ?? epoch;
    serverStep = msg.step ?? serverStep;
    if (msg.boundary) {
      boundary = msg.boundary;
      boundaryImage = null;
    }
    if (msg.network) network = msg.network;
    if (msg.readouts) readouts = msg.readouts;
    if (msg.sparsity_threshold) threshold = msg.sparsity_threshold;
    if (msg.confusion) confusion = msg.confusion;
    if (msg.done) {
      done = true;
      playing = false;
      stopReason = msg.stop_reason || 'done';
    }
    // A playing frame that was on its way when the run paused (by the button or because the
    // tab was hidden): its numbers are kept for the next frame, the page does not move.
    if (msg.tick && !msg.done && (!playing || hiddenPaused)) {
      held += 1;
      app.debug.train.held = held;
      app.debug.train.server_step = serverStep;
      return;
    }
    app.debug.frames.train += 1;
    if (msg.network) pictures += 1;
    const last = history[history.length - 1] || {};
    app.debug.train = {
      epoch, step: msg.step, done, stop_reason: stopReason,
      test_accuracy: last.test_accuracy ?? null, train_accuracy: last.train_accuracy ?? null,
      train_accuracy_eval: last.train_accuracy_eval ?? null,
      test_loss: last.test_loss ?? null, train_loss: last.train_loss ?? null,
      train_loss_eval: last.train_loss_eval ?? null,
      history: history.length,
      first_test_accuracy: history.length ? history[0].test_accuracy : null,
      classes: data?.classes ?? null,
      held, server_step: serverStep, hidden_paused: hiddenPaused, pictures,
      readouts,
    };
    updateButtons();
    renderStats();
    if (msg.network || msg.readouts) renderNet();
    scheduleDraw();
  }

  function renderStats() {
    const last = history[history.length - 1] || {};
    const pct = (v) => (v == null ? '—' : `${(100 * v).toFixed(1)}%`);
    $('train-epoch').textContent = String(epoch).padStart(3, '0');
    $('train-test-accuracy').textContent = pct(last.test_accuracy);
    $('train-train-accuracy').textContent = pct(last.train_accuracy_eval);
    $('train-test-loss').textContent = fmt(last.test_loss ?? null, 3);
    $('train-train-loss').textContent = fmt(last.train_loss_eval ?? null, 3);
    $('train-lr').textContent = fmt(last.lr ?? null, 3);
    const drop = (sent || st()).dropout > 0;
    const during = $('train-train-running');
    during.textContent = last.train_accuracy == null ? ''
      : `during the epoch${drop ? ', dropout on' : ''}: ${pct(last.train_accuracy)}, loss ${fmt(last.train_loss, 3)}`;
    during.title = drop
      ? 'the mean over the epoch\'s mini-batches while training: units dropped, weights still moving'
      : 'the mean over the epoch\'s mini-batches while training (weights still moving)';
    const b = $('train-status');
    if (done) setBadge(b, 'converged', `stopped: ${stopReason}`);
    else if (playing && hiddenPaused) setBadge(b, 'idle', 'waiting (tab hidden)');
    else if (playing) setBadge(b, 'running', 'training');
    else setBadge(b, 'idle', history.length ? 'paused' : 'ready');
    renderConfusion();
  }

  function renderConfusion() {
    const table = $('confusion-matrix');
    if (!confusion || !confusion.length) {
      table.replaceChildren(el('tbody', {}, el('tr', {}, el('td', { class: 'muted' }, 'no test predictions yet'))));
      return;
    }
    const k = confusion.length;
    let max = 1;
    for (const r of confusion) for (const v of r) max = Math.max(max, v);
    const head = el('tr', {}, el('th', { class: 'corner' }, 'true ↓ / pred →'),
      ...confusion.map((_, j) => el('th', {}, el('span', { class: 'swatch', style: `background:${CLASS_COLORS[j % 5]}` }), ` ${j}`)));
    const rows = confusion.map((r, i) => el('tr', {},
      el('th', {}, el('span', { class: 'swatch', style: `background:${CLASS_COLORS[i % 5]}` }), ` ${i}`),
      ...r.map((v, j) => {
        const a = v / max;
        const color = i === j ? `rgba(47,158,68,${0.12 + 0.6 * a})` : `rgba(224,49,49,${v ? 0.1 + 0.6 * a : 0})`;
        return el('td', { class: 'num', style: `background:${color}` }, String(v));
      })));
    table.replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows));
    table.setAttribute('aria-label', `confusion matrix, ${k} classes`);
  }

  // ---- the network diagram --------------------------------------------------------------------

  /** A picture sent by the server (base64 bytes q, value (q - 127.5) / 127.5 in -1..1) drawn
   * into a canvas: blue where the output is positive, orange where negative, white at 0. */
  function paintPicture(canvas, b64, r) {
    const bytes = atob(b64);
    if (canvas.width !== r) { canvas.width = r; canvas.height = r; }
    const img = new ImageData(r, r);
    let sum = 0;
    for (let i = 0; i < r; i += 1) {
      for (let j = 0; j < r; j += 1) {
        const q = bytes.charCodeAt(i * r + j);
        sum += q;
        const v = (q - 127.5) / 127.5;
        const c = v >= 0 ? POS : NEG;
        const a = Math.min(1, Math.abs(v));
        const o = ((r - 1 - i) * r + j) * 4; // row i runs along x2 from low (bottom) to high
        img.data[o] = Math.round(255 + (c[0] - 255) * a);
        img.data[o + 1] = Math.round(255 + (c[1] - 255) * a);
        img.data[o + 2] = Math.round(255 + (c[2] - 255) * a);
        img.data[o + 3] = 255;
      }
    }
    canvas.getContext('2d').putImageData(img, 0, 0);
    canvas.dataset.sum = String(sum);
  }

  function toggleFeature(name) {
    const s = st();
    const now = features(s);
    const next = now.includes(name) ? now.filter((f) => f !== name) : [...now, name];
    if (!next.length) return; // the network needs at least one input
    const order = (data?.inputs || []).map((f) => f.name);
    s.features = order.length ? order.filter((f) => next.includes(f)) : next;
    renderNet();
    restart();
  }

  /**
   * Columns of units: the input features (each a toggle), the hidden layers (each unit's
   * output over the plane, as the server computed it) and the classes; lines between them
   * are the weights, width by |w| and colour by sign. The structure is rebuilt when the
   * architecture changes; each new picture only repaints the canvases and the lines.
   */
  function renderNet() {
    const host = $('train-net');
    if (!host) return;
    const s = st();
    const used = features(s);
    const inputs = data?.inputs?.length
      ? data.inputs.map((f) => ({ name: f.name, label: f.label, picture: f.values }))
      : used.map((name) => ({ name, label: name, picture: null }));
    const k = data?.classes ?? (MULTICLASS.includes(s.dataset) ? s.classes : 2);
    const hidden = network ? network.layers.map((l) => ({ units: l.units, shown: l.shown }))
      : s.hidden.map((n) => ({ units: n, shown: Math.min(n, 10) }));
    const key = JSON.stringify([inputs.map((f) => f.name), used, hidden, k, host.clientWidth]);
    if (key !== netKey) buildNet(host, inputs, used, hidden, k);
    netKey = key;
    paintNet(host, used);
    renderWeights();
  }

  function buildNet(host, inputs, used, hidden, k) {
    const width = Math.max(260, host.clientWidth || 600);
    const cols = 2 + hidden.length;
    const rows = Math.max(inputs.length, k, ...hidden.map((l) => l.shown));
    const S = Math.max(18, Math.min(34, Math.floor((width - 70) / (cols * 2.2))));
    const gap = Math.max(4, Math.round(S / 4));
    const top = 18;
    const left = 58;
    const height = top + rows * (S + gap) + 4;
    const colX = (i) => left + (i * (width - left - S - 8)) / (cols - 1);
    const rowY = (j, n) => top + (rows - n) * (S + gap) / 2 + j * (S + gap);
    host.replaceChildren();
    host.style.height = `${height}px`;
    const NS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('width', width);
    svg.setAttribute('height', height);
    svg.setAttribute('class', 'net-edges');
    svg.setAttribute('aria-hidden', 'true');
    host.append(svg);
    const nodes = []; // per column: [{x, y}] of the units drawn
    // inputs: every feature the tab offers, a toggle each
    nodes.push([]);
    inputs.forEach((f, j) => {
      const on = used.includes(f.name);
      const x = colX(0);
      const y = rowY(j, inputs.length);
      const canvas = el('canvas', { class: 'net-pic', width: 24, height: 24 });
      const btn = el('button', {
        class: `net-unit net-input${on ? ' on' : ''}`, type: 'button',
        style: `left:${x}px;top:${y}px;width:${S}px;height:${S}px`,
        'aria-pressed': String(on), 'data-testid': `train-feature-${f.name}`, 'data-feature': f.name,
        'aria-label': `input feature ${f.label}${on ? ' (used)' : ' (not used)'}`,
        title: on ? `${f.label}: an input of the network (click to remove)` : `${f.label}: click to feed it to the network`,
        onclick: () => toggleFeature(f.name),
      }, canvas, el('span', { class: 'net-label' }, f.label));
      host.append(btn);
      if (f.picture && data) paintPicture(canvas, f.picture, data.resolution || 24);
      if (on) nodes[0].push({ x, y, name: f.name });
    });
    hidden.forEach((l, li) => {
      const col = [];
      const x = colX(li + 1);
      host.append(el('span', { class: 'net-head', style: `left:${x - 20}px;width:${S + 40}px` },
        l.shown < l.units ? `${l.units} (${l.shown} shown)` : `${l.units} unit${l.units === 1 ? '' : 's'}`));
      for (let j = 0; j < l.shown; j += 1) {
        const y = rowY(j, l.shown);
        const canvas = el('canvas', {
          class: 'net-pic', width: 24, height: 24, 'data-testid': `train-neuron-${li}-${j}`,
          role: 'img', 'aria-label': `output of unit ${j + 1} of hidden layer ${li + 1} over the input plane`,
        });
        host.append(el('div', {
          class: 'net-unit net-hidden', style: `left:${x}px;top:${y}px;width:${S}px;height:${S}px`,
        }, canvas));
        col.push({ x, y });
      }
      nodes.push(col);
    });
    const out = [];
    const xo = colX(cols - 1);
    for (let j = 0; j < k; j += 1) {
      const y = rowY(j, k);
      host.append(el('div', {
        class: 'net-unit net-output', title: `class ${j}`,
        style: `left:${xo}px;top:${y}px;width:${S}px;height:${S}px;background:${CLASS_COLORS[j % CLASS_COLORS.length]}`,
      }, el('span', { class: 'net-out-label' }, String(j))));
      out.push({ x: xo, y });
    }
    nodes.push(out);
    // the connections between the units drawn (weights: rows = units of the next column)
    for (let c = 0; c + 1 < nodes.length; c += 1) {
      nodes[c + 1].forEach((b, i) => {
        nodes[c].forEach((a, j) => {
          const line = document.createElementNS(NS, 'line');
          line.setAttribute('x1', a.x + S); line.setAttribute('y1', a.y + S / 2);
          line.setAttribute('x2', b.x); line.setAttribute('y2', b.y + S / 2);
          line.setAttribute('class', 'net-edge');
          line.dataset.layer = String(c);
          line.dataset.i = String(i);
          line.dataset.j = String(j);
          const title = document.createElementNS(NS, 'title');
          line.append(title);
          svg.append(line);
        });
      });
    }
    host.setAttribute('aria-label',
      `network ${[used.length, ...hidden.map((l) => l.units), k].join('-')}, inputs ${used.join(', ')}`);
  }

  function paintNet(host, used) {
    const mats = network ? [...network.layers.map((l) => l.weights), network.output_weights] : null;
    let wmax = 0;
    if (mats) for (const m of mats) for (const row of m) for (const w of row) if (w != null) wmax = Math.max(wmax, Math.abs(w));
    let edges = 0;
    for (const line of host.querySelectorAll('line.net-edge')) {
      const w = mats?.[Number(line.dataset.layer)]?.[Number(line.dataset.i)]?.[Number(line.dataset.j)];
      edges += 1;
      if (w == null || !wmax) {
        line.setAttribute('stroke-width', '0.6');
        line.setAttribute('stroke', '#adb5bd');
        line.removeAttribute('data-w');
        continue;
      }
      const rel = Math.min(1, Math.abs(w) / wmax);
      line.setAttribute('stroke-width', (0.4 + 4.6 * rel).toFixed(2));
      line.setAttribute('stroke', w >= 0 ? 'rgb(25,113,194)' : 'rgb(232,89,12)');
      line.setAttribute('stroke-opacity', (0.2 + 0.7 * rel).toFixed(2));
      line.dataset.w = String(w);
      line.firstChild.textContent = `w = ${fmt(w, 3)}`;
    }
    if (network) {
      network.layers.forEach((l, li) => {
        l.values.forEach((b64, j) => {
          const canvas = host.querySelector(`[data-testid="train-neuron-${li}-${j}"]`);
          if (canvas) paintPicture(canvas, b64, network.resolution);
        });
      });
    }
    app.debug.trainNet = {
      edges, wmax, pictures, features: used.slice(),
      units: host.querySelectorAll('.net-hidden').length,
    };
  }

  function renderWeights() {
    const table = $('train-weights');
    if (!table) return;
    if (!readouts.length) {
      table.replaceChildren(el('tbody', {}, el('tr', {}, el('td', { class: 'muted' }, 'no weights yet'))));
      return;
    }
    const pct = (v) => `${(100 * v).toFixed(1)}%`;
    const thr = threshold.toExponential(0).replace('e-', 'e−');
    const head = el('tr', {}, el('th', {}, 'weights'), el('th', {}, 'shape'),
      el('th', { title: 'sqrt of the sum of w² (biases left out, as L1 and L2 leave them)' }, '‖W‖₂'),
      el('th', { title: `share of weights with |w| < ${thr}: L1 drives weights to 0` }, `|w| < ${thr}`));
    const rows = readouts.map((r) => el('tr', { 'data-layer': String(r.layer), class: r.layer === 0 ? 'total' : '' },
      el('th', {}, r.layer === 0 ? 'all layers' : `layer ${r.layer}`),
      el('td', { class: 'num' }, r.layer === 0 ? String(r.count) : `${r.fan_out}×${r.fan_in}`),
      el('td', { class: 'num', 'data-testid': `train-norm-${r.layer}` }, fmt(r.l2_norm, 3)),
      el('td', { class: 'num', 'data-testid': `train-sparsity-${r.layer}` }, pct(r.sparsity))));
    table.replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows));
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

  function makeBoundaryImage() {
    if (!boundary) return null;
    const r = boundary.resolution;
    const k = boundary.classes || data?.classes || 2;
    const img = new ImageData(r, r);
    const get = (i, j) => {
      // (i, j) = (row along y from low to high, column along x)
      if (boundary.probs) {
        const p = boundary.probs[i][j];
        let best = 0;
        for (let c = 1; c < p.length; c += 1) if (p[c] > p[best]) best = c;
        return [best, p[best]];
      }
      const idx = i * r + j;
      return [boundary.argmax[idx], boundary.confidence[idx]];
    };
    for (let i = 0; i < r; i += 1) {
      for (let j = 0; j < r; j += 1) {
        const [c, conf] = get(i, j);
        const strength = Math.max(0, Math.min(1, (conf - 1 / k) / (1 - 1 / k)));
        const rgb = tint(CLASS_COLORS[c % CLASS_COLORS.length], 0.12 + 0.55 * strength);
        const o = ((r - 1 - i) * r + j) * 4;
        img.data[o] = rgb[0]; img.data[o + 1] = rgb[1]; img.data[o + 2] = rgb[2]; img.data[o + 3] = 255;
      }
    }
    const off = document.createElement('canvas');
    off.width = r;
    off.height = r;
    off.getContext('2d').putImageData(img, 0, 0);
    return off;
  }

  function draw() {
    if (!app.isVisible('train')) return;
    const wrap = $('train-canvas-wrap');
    const w = Math.max(280, wrap.clientWidth);
    const h = Math.round(Math.min(w, app.mapHeight(360, 250)));
    const { ctx } = fitCanvas($('train-canvas'), w, h);
    const side = Math.min(w - 66, h - 56);
    const box = { x: 52 + (w - 66 - side) / 2, y: 12, w: side, h: side };
    if (!data) {
      ctx.font = '14px system-ui, sans-serif';
      ctx.fillStyle = '#868e96';
      ctx.textAlign = 'center';
      ctx.fillText(app.connected ? 'press play to train' : 'connecting to the server…', w / 2, h / 2);
    } else {
      const xr = data.bounds[0];
      const yr = data.bounds[1];
      const { sx, sy } = scales(box, xr, yr);
      ctx.fillStyle = '#f8f9fa';
      ctx.fillRect(box.x, box.y, box.w, box.h);
      if (!boundaryImage) boundaryImage = makeBoundaryImage();
      if (boundaryImage) {
        ctx.save();
        ctx.imageSmoothingEnabled = true;
        ctx.imageSmoothingQuality = 'high';
        const r = boundaryImage.width;
        const cw = box.w / (r - 1);
        ctx.beginPath(); ctx.rect(box.x, box.y, box.w, box.h); ctx.clip();
        ctx.drawImage(boundaryImage, box.x - cw / 2, box.y - cw / 2, box.w + cw, box.h + cw);
        ctx.restore();
      }
      drawAxes(ctx, box, xr, yr, { xLabel: 'x₁', yLabel: 'x₂' });
      ctx.save();
      ctx.beginPath(); ctx.rect(box.x, box.y, box.w, box.h); ctx.clip();
      const drawSet = (set, filled) => {
        if (!set) return;
        for (let n = 0; n < set.X.length; n += 1) {
          const [x, y] = set.X[n];
          const c = CLASS_COLORS[set.y[n] % CLASS_COLORS.length];
          ctx.beginPath();
          ctx.arc(sx(x), sy(y), filled ? 3.6 : 3.8, 0, 2 * Math.PI);
          if (filled) {
            ctx.fillStyle = c;
            ctx.fill();
            ctx.lineWidth = 1;
            ctx.strokeStyle = '#fff';
            ctx.stroke();
          } else {
            ctx.fillStyle = '#fff';
            ctx.fill();
            ctx.lineWidth = 2;
            ctx.strokeStyle = c;
            ctx.stroke();
          }
        }
      };
      drawSet(data.train, true);
      if ($('train-show-test').checked) drawSet(data.test, false);
      ctx.restore();
    }
    drawCurves();
  }

  function drawCurves() {
    const ep = history.map((r) => r.epoch);
    // train: measured in eval mode after each epoch, as the test set is (see the key)
    lineChart($('train-loss-chart'), [
      { color: '#1c7ed6', xs: ep, ys: history.map((r) => r.train_loss_eval) },
      { color: '#e8590c', xs: ep, ys: history.map((r) => r.test_loss), dash: [5, 3] },
    ], { logY: 'auto', xLabel: 'epoch', yLabel: 'loss', height: 180, empty: 'no epochs yet' });
    lineChart($('train-acc-chart'), [
      { color: '#1c7ed6', xs: ep, ys: history.map((r) => r.train_accuracy_eval) },
      { color: '#e8590c', xs: ep, ys: history.map((r) => r.test_accuracy), dash: [5, 3] },
    ], { logY: false, xLabel: 'epoch', yLabel: 'accuracy', yRange: [0, 1], height: 160, empty: 'no epochs yet' });
  }

  function attach() {
    $('train-play').addEventListener('click', play);
    $('train-pause').addEventListener('click', pause);
    $('train-step').addEventListener('click', step);
    $('train-reset').addEventListener('click', reset);
    $('train-show-test').addEventListener('change', scheduleDraw);
    // a hidden Network tab (another tab chosen, or the browser tab hidden) pauses the run
    new MutationObserver(visibilityChanged).observe($('panel-train'), { attributes: true, attributeFilter: ['hidden'] });
    document.addEventListener('visibilitychange', visibilityChanged);
    let lastWidth = 0;
    new ResizeObserver(() => {
      const w = $('train-net')?.clientWidth || 0;
      if (w && w !== lastWidth) { lastWidth = w; renderNet(); }
    }).observe($('train-net'));
  }

  return {
    build,
    attach,
    start,
    play,
    pause,
    onData,
    onFrame,
    onError,
    draw: scheduleDraw,
    isStale: starts.isStale,
    onDisconnect() { started = false; awaiting = false; starts.reset(); },
    get started() { return started; },
    toggle() { if (playing && !done) pause(); else play(); },
  };
}

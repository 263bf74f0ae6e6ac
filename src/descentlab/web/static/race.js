// Race tab: several optimizers on one landscape, streamed by the server as race.frame.

import {
  el, fmt, fmtVec, numberControl, selectControl, hyperControls, specDefaults, statusText, badge,
} from './controls.js';
import {
  fitCanvas, drawSurface, drawMarkers, lineChart, cross, appendPath, arrow, pathStyleForId, styleSwatch,
  updateRule, settingSymbol, mathElement, mathNumber, MATH,
} from './draw.js';

const colorForId = (id) => pathStyleForId(id).color;

const $ = (id) => document.getElementById(id);

const FINITE_SUM_HINT = /mean_i/;

export function createRace(app) {
  const runs = new Map(); // id -> {id, label, optimizer, points, values, status, nit, message, readout}
  let surface = null;
  let view = null;
  let background = null; // cached canvas with the surface drawn
  let playing = false;
  let started = false; // a race.start has been sent on this connection
  let done = false;
  let lastStep = -1;
  let timer = null;
  let drawPending = false;
  let hover = null;
  let awaiting = false; // frames of the previous race are ignored until the new one's surface
  // race.start answers (a surface or a refusal) still to come; a refusal while restart() is
  // pending is stale too (app.js requests())
  const starts = app.requests('race.start', () => timer !== null);
  let sent = null; // the config of the last race.start
  let lastGood = null; // the last config the server accepted
  let fallback = false; // the last race.start re-sent lastGood after a refusal
  let refused = false; // the server refused the controls and there was nothing to go back to
  let hold = false; // paused: frames already on their way are kept aside, not shown
  let held = []; // those frames, applied (in order) before the next step or play
  let layers = null; // {halo, ink, key}: the paths drawn so far, appended to frame by frame
  let selected = null; // the optimizer whose update rule is shown
  let showArrows = false; // gradient and step arrows at the current points
  let textDirty = false; // the readout and the rule's numbers wait for the next draw
  let lastText = 0;
  let textTimer = null;
  const TEXT_PERIOD_MS = 160;

  const st = () => app.state.race;
  const registry = () => app.registry;

  function optimizerSpec(name) {
    const list = registry()?.optimizers || [];
    return list.find((o) => o.name === name)
      || (name === 'gd' ? list.find((o) => o.name === 'sgd') : null);
  }

  function landscapeSpec(name) {
    return (registry()?.landscapes || []).find((l) => l.name === name) || null;
  }

  function isFiniteSum(s = st()) {
    const spec = landscapeSpec(s.landscape);
    if (!spec) return false;
    if (typeof spec.finite_sum === 'boolean') return spec.finite_sum;
    return FINITE_SUM_HINT.test(spec.formula || '');
  }

  // ---- configuration sent to the server ---------------------------------------------------

  function config(autoplay, s = st()) {
    const cfg = {
      landscape: s.landscape,
      params: { ...s.params },
      optimizers: s.optimizers.map((o) => ({ id: o.id, name: o.name, hyper: { ...o.hyper } })),
      max_steps: s.max_steps,
      tol: s.tol,
      grad_noise: s.grad_noise,
      batch_size: isFiniteSum(s) ? s.batch_size : null,
      l1: s.l1,
      l2: s.l2,
      seed: s.seed,
      steps_per_frame: s.steps_per_frame,
      autoplay,
    };
    if (Array.isArray(s.start) && s.start.length) cfg.start = s.start.slice();
    return cfg;
  }

  function clearRuns() {
    runs.clear();
    lastStep = -1;
    done = false;
    layers = null;
    app.debug.runs = {};
    for (const o of st().optimizers) {
      runs.set(o.id, {
        id: o.id, label: o.name, optimizer: o.name, points: [], values: [], xs: [], status: null,
        nit: 0, message: '', readout: null,
      });
    }
    renderReadout();
    renderLegend();
    scheduleDraw();
  }

  /**
   * (Re)create the race on the server with the current controls, or, with `previous`, with
   * the last configuration the server accepted (the controls keep what the user typed).
   */
  function start(autoplay = st().autoplay, { previous = false } = {}) {
    clearTimeout(timer);
    timer = null;
    if (!app.registry) return;
    hold = false;
    held = [];
    clearRuns();
    playing = Boolean(autoplay);
    st().autoplay = playing;
    app.changed();
    const base = previous && lastGood ? lastGood : st();
    fallback = base !== st();
    refused = false;
    sent = JSON.parse(JSON.stringify(base));
    sent.autoplay = playing;
    started = app.send({ type: 'race.start', config: config(playing, base) });
    if (started) {
      awaiting = true;
      starts.sent();
      app.expectSurface('race');
    }
    updateButtons();
  }

  /**
   * The server refused a race.start. The error is shown next to the control that caused
   * it (app.js), the controls keep what the user typed so that it can be corrected, and the
   * race goes on with the last configuration the server accepted.
   */
  function onError(msg) {
    if (msg.request !== 'race.start') return;
    if (starts.answered(msg)) return; // a newer race.start is on its way: its answer decides
    const wasFallback = fallback;
    const same = (a, b) => JSON.stringify({ ...a, autoplay: null }) === JSON.stringify({ ...b, autoplay: null });
    if (lastGood && !wasFallback && !same(lastGood, sent)) {
      start(sent ? sent.autoplay : playing, { previous: true });
    } else {
      awaiting = false;
      started = false;
      playing = false;
      refused = true;
      updateButtons();
      scheduleDraw();
    }
  }

  /**
   * The path of a refused value in terms of the controls: `config.optimizers[i]...` of the
   * refused config names the optimizer by its index then; the controls may have moved since.
   */
  function localField(field) {
    const m = /^(?:config\.)?optimizers\[(\d+)\](.*)$/.exec(field);
    if (!m || !sent) return field;
    const id = sent.optimizers?.[Number(m[1])]?.id;
    const now = st().optimizers.findIndex((o) => o.id === id);
    return now >= 0 ? `config.optimizers[${now}]${m[2]}` : 'config.optimizers';
  }

  /** Speed changed: the running race goes on at the new pace (no restart). */
  function setSpeed() {
    const n = st().steps_per_frame;
    if (!started || awaiting) { restart(); return; }
    for (const saved of [sent, lastGood]) if (saved) saved.steps_per_frame = n;
    app.changed();
    app.send({ type: 'race.control', action: 'speed', steps_per_frame: n });
  }

  /** Config changed: restart soon, keeping the play state. */
  function restart() {
    app.changed();
    clearTimeout(timer);
    timer = setTimeout(() => start(playing || st().autoplay), 150);
  }

  function play() {
    if (!started || timer || done) {
      start(true);
      return;
    }
    release();
    playing = true;
    st().autoplay = true;
    app.changed();
    app.send({ type: 'race.control', action: 'play' });
    updateButtons();
  }

  /** Show the frames that arrived after the pause (they continue the paths). */
  function release() {
    hold = false;
    const frames = held;
    held = [];
    app.debug.raceHeld = 0;
    for (const msg of frames) applyFrame(msg);
    if (frames.length) afterFrames();
  }

  function pause() {
    playing = false;
    hold = true; // from now on nothing moves: late frames wait for the next step or play
    app.debug.racePausedAt = Object.fromEntries([...runs].map(([id, r]) => [id, r.points.length]));
    st().autoplay = false;
    app.changed();
    if (timer) {
      clearTimeout(timer);
      timer = null;
      start(false);
      return;
    }
    app.send({ type: 'race.control', action: 'pause' });
    updateButtons();
  }

  function step() {
    if (!started || timer) start(false);
    release();
    playing = false;
    st().autoplay = false;
    app.changed();
    app.send({ type: 'race.control', action: 'step', steps: 1 });
    updateButtons();
  }

  function reset() {
    if (!started || timer) {
      start(st().autoplay);
      return;
    }
    clearRuns();
    hold = false;
    held = [];
    app.send({ type: 'race.control', action: 'reset' });
    app.send({ type: 'race.control', action: 'pause' });
    playing = false;
    st().autoplay = false;
    app.changed();
    updateButtons();
  }

  function updateButtons() {
    $('race-play').classList.toggle('active', playing && !done);
    $('race-pause').classList.toggle('active', !playing || done);
    $('race-play').setAttribute('aria-pressed', String(playing && !done));
    $('race-step-count').textContent = `step ${Math.max(0, lastStep)}`;
  }

  // ---- controls -----------------------------------------------------------------------------

  function build() {
    const root = $('race-controls');
    root.replaceChildren();
    const reg = registry();
    const s = st();

    // landscape picker
    const groups = { 1: [], 2: [] };
    for (const l of reg.landscapes) {
      const d = String(l.dims) === '1' ? 1 : 2;
      groups[d].push({ value: l.name, label: l.name.replace(/_/g, ' '), title: `${l.description} — ${l.formula}` });
    }
    const custom = !landscapeSpec(s.landscape);
    const picker = selectControl({
      label: 'Landscape',
      testid: 'race-landscape',
      value: custom ? '__formula__' : s.landscape,
      options: [
        { group: '2-D', options: groups[2] },
        { group: '1-D', options: groups[1] },
        { group: 'Your own', options: [{ value: '__formula__', label: 'formula…' }] },
      ],
      onChange: (v) => {
        if (v === '__formula__') {
          formulaInput.focus();
          return;
        }
        s.landscape = v;
        s.params = {};
        s.start = null;
        s.batch_size = null;
        suggestLr();
        app.fieldErrors.clear('race'); // a new landscape: its errors are the next answer's
        build();
        restart();
      },
    });
    const formulaInput = el('input', {
      type: 'text', id: 'race-formula', 'data-testid': 'race-formula', spellcheck: 'false',
      placeholder: 'x**2 + 3*sin(y)', 'aria-label': 'formula of f(x, y)',
      value: custom ? s.landscape : (landscapeSpec(s.landscape)?.formula || ''),
    });
    const applyFormula = () => {
      const text = formulaInput.value.trim();
      if (!text) return;
      const byName = landscapeSpec(text);
      s.landscape = byName ? byName.name : text;
      s.params = {};
      s.start = null;
      build();
      restart();
    };
    formulaInput.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') applyFormula();
    });
    const spec = landscapeSpec(s.landscape);
    const lsSection = el('section', { class: 'group' },
      el('h3', {}, 'Landscape'),
      picker,
      el('div', { class: 'control', 'data-field': 'landscape params', 'data-testid': 'race-formula-control' },
        el('label', { for: 'race-formula' }, 'f(x, y) ='),
        el('div', { class: 'formula-row' }, formulaInput,
          el('button', { class: 'btn small', 'data-testid': 'race-formula-apply', onclick: applyFormula }, 'Use'))),
      el('p', { class: 'help' }, spec ? spec.description : 'your formula (x, y; numpy names: sin, exp, sqrt, ...)'));
    for (const p of spec?.parameters || []) {
      if (p.name === 'dim') continue;
      lsSection.append(numberControl({
        label: p.name, value: s.params[p.name] ?? p.default, low: p.low, high: p.high,
        int: p.type === 'int', help: p.help, testid: `race-param-${p.name}`, field: `params.${p.name}`,
        onChange: (v) => { s.params[p.name] = v; restart(); },
      }));
    }
    lsSection.append(el('div', { class: 'control start-control', 'data-field': 'start params.start', 'data-testid': 'race-start' },
      el('p', { class: 'help hint' }, 'Click the map to set the start point.')));
    root.append(lsSection);

    // optimizers
    const optSection = el('section', {
      class: 'group', 'data-field': 'optimizers', 'data-field-mark': 'group', 'data-testid': 'race-optimizers',
    }, el('h3', {}, 'Optimizers'));
    const list = el('div', { class: 'opt-list', id: 'race-opt-list' });
    s.optimizers.forEach((o, i) => list.append(optimizerCard(o, i)));
    optSection.append(list);
    const addSel = el('select', { 'data-testid': 'race-add-name', 'aria-label': 'optimizer to add' },
      ...reg.optimizers.map((o) => el('option', { value: o.name, title: o.summary }, o.name)));
    addSel.value = 'adam';
    const maxOpt = app.limits?.max_optimizers ?? 10;
    const addBtn = el('button', {
      class: 'btn', 'data-testid': 'race-add',
      onclick: () => {
        if (s.optimizers.length >= maxOpt) {
          app.fieldError('race', 'optimizers', `at most ${maxOpt} optimizers can race at once`);
          return;
        }
        app.fieldErrors.clear('race'); // the optimizers move: their errors are the next answer's
        const ids = s.optimizers.map((o) => Number(/\d+$/.exec(o.id)?.[0] || 0));
        const id = `o${Math.max(0, ...ids) + 1}`;
        s.optimizers.push({ id, name: addSel.value, hyper: defaultHyper(addSel.value) });
        build();
        restart();
      },
    }, '+ Add');
    optSection.append(el('div', { class: 'add-row' }, addSel, addBtn), el('div', { class: 'field-error-slot' }));
    root.append(optSection);

    // noise and regularization
    const reg2 = el('section', { class: 'group' }, el('h3', {}, 'Noise & regularization'));
    reg2.append(numberControl({
      label: 'gradient noise σ', value: s.grad_noise, low: 0, high: 10, log: true, zero: true,
      help: 'g_t + N(0, σ²): a stochastic gradient', testid: 'race-noise', field: 'grad_noise',
      onChange: (v) => { s.grad_noise = v; restart(); },
    }));
    const fs = isFiniteSum();
    const nPoints = Number(s.params.n ?? spec?.parameters?.find((p) => p.name === 'n')?.default ?? 8);
    const bs = numberControl({
      label: 'mini-batch size', value: s.batch_size ?? nPoints, low: 1, high: Math.max(2, nPoints), int: true,
      help: fs ? 'samples per step (full batch = GD)' : 'only for finite-sum landscapes (data fits)',
      testid: 'race-batch', field: 'batch_size',
      onChange: (v) => { s.batch_size = v >= nPoints ? null : v; restart(); },
    });
    if (!fs) {
      bs.classList.add('disabled');
      bs.querySelectorAll('input').forEach((i) => { i.disabled = true; });
    }
    reg2.append(bs);
    reg2.append(numberControl({
      label: 'L1 λ₁', value: s.l1, low: 1e-4, high: 10, log: true, zero: true,
      help: '+ λ₁ ‖x‖₁ reshapes the surface', testid: 'race-l1', field: 'l1',
      onChange: (v) => { s.l1 = v; restart(); },
    }));
    reg2.append(numberControl({
      label: 'L2 λ₂', value: s.l2, low: 1e-4, high: 10, log: true, zero: true,
      help: '+ λ₂ ‖x‖² pulls the minimum to 0', testid: 'race-l2', field: 'l2',
      onChange: (v) => { s.l2 = v; restart(); },
    }));
    root.append(reg2);

    // run settings
    const runSec = el('section', { class: 'group' }, el('h3', {}, 'Run'));
    runSec.append(numberControl({
      label: 'speed (steps per frame)', value: s.steps_per_frame, low: 1, high: 200, log: true, int: true,
      testid: 'race-speed', field: 'steps_per_frame', onChange: (v) => { s.steps_per_frame = Math.round(v); setSpeed(); },
    }));
    runSec.append(numberControl({
      label: 'max steps', value: s.max_steps, low: 10, high: app.limits?.max_steps ?? 20000, log: true, int: true,
      testid: 'race-max-steps', field: 'max_steps', onChange: (v) => { s.max_steps = Math.round(v); restart(); },
    }));
    runSec.append(numberControl({
      label: 'tolerance ‖∇f‖ <', value: s.tol, low: 1e-12, high: 1, log: true,
      testid: 'race-tol', field: 'tol', onChange: (v) => { s.tol = v; restart(); },
    }));
    runSec.append(numberControl({
      label: 'seed', value: s.seed, int: true, testid: 'race-seed', field: 'seed',
      onChange: (v) => { s.seed = Math.round(v); restart(); },
    }));
    root.append(runSec);
    app.fieldErrors.rebuilt('race');
    renderLegend();
    renderRule();
  }

  /**
   * SGD-type runs take the landscape's suggested learning rate (adaptive ones keep theirs);
   * momentum runs half of it, since heavy-ball steps build up to about eta / (1 - beta).
   */
  function suggestLr() {
    const ls = landscapeSpec(st().landscape);
    if (!ls || typeof ls.lr !== 'number') return;
    for (const o of st().optimizers) {
      if (['sgd', 'gd'].includes(o.name)) o.hyper.lr = ls.lr;
      else if (['momentum', 'nesterov'].includes(o.name)) o.hyper.lr = Number((ls.lr / 2).toPrecision(3));
    }
  }

  function defaultHyper(name) {
    const spec = optimizerSpec(name);
    const h = specDefaults(spec?.hyperparameters);
    const ls = landscapeSpec(st().landscape);
    const family = ['sgd', 'momentum', 'nesterov', 'gd'];
    if (ls && typeof ls.lr === 'number' && family.includes(name)) h.lr = ls.lr;
    return h;
  }

  function optimizerCard(o, index) {
    const s = st();
    const spec = optimizerSpec(o.name);
    const color = colorForId(o.id);
    const nameSel = el('select', { 'data-testid': `race-opt-${o.id}-name`, 'aria-label': `optimizer ${o.id}` },
      ...registry().optimizers.map((x) => el('option', { value: x.name, title: x.summary }, x.name)));
    nameSel.value = o.name;
    nameSel.addEventListener('change', () => {
      const lr = o.hyper.lr;
      o.name = nameSel.value;
      o.hyper = defaultHyper(o.name);
      if (lr !== undefined) o.hyper.lr = lr;
      app.fieldErrors.clear('race');
      build();
      restart();
    });
    const remove = el('button', {
      class: 'icon-btn', title: 'remove', 'aria-label': `remove ${o.name} (${o.id})`,
      'data-testid': `race-remove-${o.id}`,
      onclick: () => {
        if (s.optimizers.length <= 1) {
          app.fieldError('race', 'optimizers', 'a race needs at least one optimizer');
          return;
        }
        app.fieldErrors.clear('race');
        s.optimizers = s.optimizers.filter((x) => x !== o);
        build();
        restart();
      },
    }, '×');
    const values = { ...specDefaults(spec?.hyperparameters), ...o.hyper };
    const controls = spec ? hyperControls(spec.hyperparameters, values, (k, v) => {
      o.hyper[k] = v;
      restart();
    }, `race-opt-${o.id}`, { field: `optimizers[${index}].hyper` })
      : el('p', { class: 'help' }, `unknown optimizer ${o.name}`);
    const path = `optimizers[${index}]`;
    return el('div', {
      class: 'opt-card', style: `--c: ${color}`, 'data-testid': `race-opt-${o.id}`,
      'data-field': `${path} ${path}.name ${path}.id`,
    },
      el('div', { class: 'opt-head' },
        el('span', { class: 'swatch', style: `background: ${color}` }),
        nameSel,
        el('span', { class: 'opt-id' }, o.id),
        remove),
      el('div', { class: 'field-error-slot' }),
      el('p', { class: 'help summary' }, spec?.summary || ''),
      controls);
  }

  // ---- server messages ------------------------------------------------------------------------

  function onSurface(msg) {
    if (starts.answered(msg)) return; // the surface of a race the page has already replaced
    awaiting = false;
    if (sent) lastGood = sent;
    if (!fallback) app.fieldErrors.succeeded('race');
    surface = msg;
    background = null;
    app.debug.surface = { landscape: msg.landscape, dim: msg.dim };
    const cap = $('race-caption');
    if (cap) cap.textContent = msg.description ? `${msg.description}` : '';
    scheduleDraw();
  }

  function onFrame(msg) {
    if (awaiting) return;
    if (hold) { // paused: nothing arrives on screen after the pause
      held.push(msg);
      app.debug.raceHeld = held.length;
      return;
    }
    applyFrame(msg);
    afterFrames();
  }

  function applyFrame(msg) {
    app.debug.frames.race += 1;
    const now = performance.now();
    const speed = app.debug.raceSpeed || (app.debug.raceSpeed = { frames: 0, first: now, last: now, step0: msg.step ?? 0, step: 0 });
    speed.frames += 1;
    speed.last = now;
    speed.step = msg.step ?? speed.step;
    if (typeof msg.step === 'number' && msg.step < lastStep) clearRuns();
    lastStep = typeof msg.step === 'number' ? msg.step : lastStep + 1;
    for (const r of msg.runs || []) {
      let run = runs.get(r.id);
      if (!run) {
        run = { id: r.id, points: [], values: [], xs: [], status: null, nit: 0, message: '', readout: null };
        runs.set(r.id, run);
      }
      run.optimizer = r.optimizer ?? run.optimizer;
      run.label = r.label ?? run.label ?? r.optimizer;
      for (const p of r.points || []) run.points.push(p);
      for (const v of r.values || []) {
        run.xs.push(run.values.length);
        run.values.push(v);
      }
      run.status = r.status;
      run.nit = r.nit;
      run.message = r.message || '';
      if (r.readout) run.readout = r.readout;
      const last = run.values.length ? run.values[run.values.length - 1] : null;
      app.debug.runs[r.id] = {
        points: run.points.length, last, first: run.values.length ? run.values[0] : null,
        status: run.status, nit: run.nit, optimizer: run.optimizer,
      };
    }
    if (msg.done) {
      done = true;
      playing = false;
    }
    app.debug.race = { step: lastStep, done };
  }

  function afterFrames() {
    updateButtons();
    textDirty = true;
    scheduleDraw();
  }

  /**
   * The readout table and the rule's numbers are text: while the race plays they follow
   * at most ~6 times a second (rebuilding them at every frame costs the map its frames).
   */
  function renderText(force = false) {
    const now = performance.now();
    if (!textDirty || (!force && playing && !done && now - lastText < TEXT_PERIOD_MS)) return;
    textDirty = false;
    lastText = now;
    renderReadout();
    renderRule();
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

  function canvasSize() {
    const wrap = $('race-canvas-wrap');
    const w = Math.max(280, wrap.clientWidth);
    const h = Math.round(Math.min(Math.max(300, w * 0.78), app.mapHeight(360, 230)));
    return { w, h };
  }

  function makeLayer(w, h, dpr) {
    const c = document.createElement('canvas');
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    const ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { canvas: c, ctx };
  }

  function draw() {
    if (!app.isVisible('race')) return;
    const t0 = performance.now();
    const canvas = $('race-canvas');
    const { w, h } = canvasSize();
    const dpr = window.devicePixelRatio || 1;
    const box = { x: 52, y: 12, w: w - 66, h: h - 56 };
    if (!background || background.width !== Math.round(w * dpr) || background.height !== Math.round(h * dpr)) {
      background = document.createElement('canvas');
      background.width = Math.round(w * dpr);
      background.height = Math.round(h * dpr);
      const bctx = background.getContext('2d');
      bctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      if (surface) view = drawSurface(bctx, box, surface);
      else view = null;
      layers = null;
    }
    const { ctx } = fitCanvas(canvas, w, h);
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(background, 0, 0);
    ctx.restore();
    if (!view) {
      ctx.font = '14px system-ui, sans-serif';
      ctx.fillStyle = '#868e96';
      ctx.textAlign = 'center';
      let words = app.connected ? 'loading the landscape…' : 'connecting to the server…';
      if (refused && app.connected) words = 'the server refused these settings: see the message beside the control';
      ctx.fillText(words, w / 2, h / 2);
      return;
    }
    // the paths: only their new points are drawn, onto layers kept between frames
    if (!layers) {
      layers = { halo: makeLayer(w, h, dpr), ink: makeLayer(w, h, dpr), state: new Map() };
    }
    const width = presentation() ? 3.4 : 2.2;
    for (const o of st().optimizers) {
      const run = runs.get(o.id);
      if (!run || !run.points.length) continue;
      let state = layers.state.get(o.id);
      if (!state) { state = {}; layers.state.set(o.id, state); }
      appendPath(layers.halo.ctx, layers.ink.ctx, view, run.points, run.values, pathStyleForId(o.id), state,
        { width, dots: view.dim === 1 });
    }
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(layers.halo.canvas, 0, 0);
    ctx.drawImage(layers.ink.canvas, 0, 0);
    ctx.restore();
    let anyPoints = false;
    let arrows = 0;
    for (const o of st().optimizers) {
      const run = runs.get(o.id);
      if (!run || !run.points.length) continue;
      anyPoints = true;
      const style = pathStyleForId(o.id);
      markers(ctx, run, style.color);
      if (run.status === 'diverged') markDiverged(ctx, run, style.color);
      if (showArrows) arrows += drawArrows(ctx, run, style.color);
    }
    app.debug.raceArrows = { shown: showArrows, count: arrows };
    drawMarkers(ctx, view, surface);
    if (!anyPoints) {
      const s0 = st().start || surface.start;
      if (s0) {
        const sx = view.sx(s0[0]);
        const sy = view.dim === 1 ? null : view.sy(s0[1]);
        if (sy !== null) {
          ctx.beginPath();
          ctx.arc(sx, sy, 6, 0, 2 * Math.PI);
          ctx.fillStyle = '#fff';
          ctx.fill();
          ctx.lineWidth = 2.5;
          ctx.strokeStyle = '#212529';
          ctx.stroke();
        }
      }
    }
    if (hover && view.dim === 2) {
      ctx.save();
      ctx.strokeStyle = 'rgba(33,37,41,0.35)';
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(hover.px, view.box.y); ctx.lineTo(hover.px, view.box.y + view.box.h);
      ctx.moveTo(view.box.x, hover.py); ctx.lineTo(view.box.x + view.box.w, hover.py);
      ctx.stroke();
      ctx.restore();
    }
    drawLoss();
    renderText();
    if (textDirty && !textTimer) { // the text waits for its period
      textTimer = setTimeout(() => { textTimer = null; renderText(true); }, TEXT_PERIOD_MS);
    }
    const ms = performance.now() - t0;
    const d = app.debug.raceDraw || (app.debug.raceDraw = { count: 0, max: 0, total: 0 });
    d.count += 1;
    d.total += ms;
    if (ms > d.max) d.max = ms;
  }

  function presentation() {
    return document.body.classList.contains('present');
  }

  /** A point of a run in pixels (1-D: at (x, f(x))), or null when not finite. */
  function px(run, k) {
    const p = run.points[k];
    const x = p?.[0];
    const y = view.dim === 1 ? run.values[k] : p?.[1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) return null;
    return [Math.max(-1e5, Math.min(1e5, view.sx(x))), Math.max(-1e5, Math.min(1e5, view.sy(y)))];
  }

  /** Start and current markers (and dots on a short path), redrawn every frame. */
  function markers(ctx, run, color) {
    ctx.save();
    ctx.beginPath();
    ctx.rect(view.box.x, view.box.y, view.box.w, view.box.h);
    ctx.clip();
    const n = run.points.length;
    if (n < 60 && view.dim === 2) {
      ctx.fillStyle = color;
      for (let k = 0; k < n; k += 1) {
        const q = px(run, k);
        if (q) { ctx.beginPath(); ctx.arc(q[0], q[1], 1.8, 0, 2 * Math.PI); ctx.fill(); }
      }
    }
    const s = px(run, 0);
    if (s) {
      ctx.beginPath();
      ctx.arc(s[0], s[1], 4, 0, 2 * Math.PI);
      ctx.fillStyle = '#fff';
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = color;
      ctx.stroke();
    }
    const c = lastFinite(run);
    if (c !== null && run.status !== 'diverged') {
      const q = px(run, c);
      ctx.beginPath();
      ctx.arc(q[0], q[1], presentation() ? 8 : 6, 0, 2 * Math.PI);
      ctx.fillStyle = color;
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = '#fff';
      ctx.stroke();
    }
    ctx.restore();
  }

  function lastFinite(run) {
    for (let k = run.points.length - 1; k >= 0; k -= 1) if (px(run, k)) return k;
    return null;
  }

  /**
   * Two arrows at the current point: -grad f(x_t) (dashed, where plain gradient descent
   * would go) and the step the optimizer just took, x_t - x_{t-1} (solid: its update
   * direction, momentum and scaling included). Both are drawn 46 px long (directions):
   * their sizes differ by orders of magnitude between optimizers.
   */
  function drawArrows(ctx, run, color) {
    const k = lastFinite(run);
    if (k === null || view.dim !== 2 || run.status === 'diverged') return 0;
    const q = px(run, k);
    const L = 46;
    let n = 0;
    const g = run.readout?.grad;
    if (g && g.length === 2 && Number.isFinite(g[0]) && Number.isFinite(g[1])) {
      // a direction in data units becomes one in pixels through the map's scales
      const dx = view.sx(-g[0]) - view.sx(0);
      const dy = view.sy(-g[1]) - view.sy(0);
      const len = Math.hypot(dx, dy);
      if (len > 0 && arrow(ctx, q[0], q[1], (dx / len) * L, (dy / len) * L, color, { dash: [4, 3], width: 1.8 })) n += 1;
    }
    if (k > 0) {
      const p0 = px(run, k - 1);
      if (p0) {
        const dx = q[0] - p0[0];
        const dy = q[1] - p0[1];
        const len = Math.hypot(dx, dy);
        if (len > 1e-9 && arrow(ctx, q[0], q[1], (dx / len) * L, (dy / len) * L, color, { width: 2.6 })) n += 1;
      }
    }
    return n;
  }

  function markDiverged(ctx, run, color) {
    // the last finite point gets a cross: the run left the map there
    for (let k = run.points.length - 1; k >= 0; k -= 1) {
      const p = run.points[k];
      const x = p?.[0];
      const y = view.dim === 1 ? run.values[k] : p?.[1];
      if (Number.isFinite(x) && Number.isFinite(y)) {
        const px = Math.max(view.box.x + 6, Math.min(view.box.x + view.box.w - 6, view.sx(x)));
        const py = Math.max(view.box.y + 6, Math.min(view.box.y + view.box.h - 6, view.sy(y)));
        cross(ctx, px, py, 6, color, 3);
        return;
      }
    }
  }

  function drawLoss() {
    const series = [];
    for (const o of st().optimizers) {
      const run = runs.get(o.id);
      if (!run) continue;
      const style = pathStyleForId(o.id);
      series.push({ color: style.color, dash: style.dash, xs: run.xs, ys: run.values, label: o.name });
    }
    // a diverged run would squash the others against the axis: keep the scale on the rest
    let hi = -Infinity;
    for (const run of runs.values()) {
      if (run.status === 'diverged') continue;
      for (const v of run.values) if (Number.isFinite(v) && v > hi) hi = v;
    }
    lineChart($('race-loss-chart'), series, {
      logY: 'auto', xLabel: 'step t', yLabel: 'f(x_t)', height: 220, empty: 'press play',
      yClipHigh: Number.isFinite(hi) ? hi : null,
    });
  }

  // ---- legend and update rule ---------------------------------------------------------------

  /** One legend entry per optimizer (its line style and name); a click selects its rule. */
  function renderLegend() {
    const host = $('race-loss-legend');
    if (!host) return;
    const s = st();
    if (!s.optimizers.some((o) => o.id === selected)) selected = s.optimizers[0]?.id ?? null;
    host.replaceChildren(...s.optimizers.map((o) => {
      const run = runs.get(o.id);
      const lr = o.hyper?.lr;
      const text = `${o.name}${lr !== undefined ? ` η=${fmt(lr, 3)}` : ''}`;
      return el('li', {},
        el('button', {
          type: 'button', class: 'legend-entry', 'data-testid': `race-legend-${o.id}`, 'data-id': o.id,
          'aria-pressed': String(o.id === selected), title: `show the update rule of ${o.name} (${o.id})${run?.label ? `: ${run.label}` : ''}`,
          onclick: () => { selected = o.id; renderLegend(); renderRule(); },
        }, styleSwatch(pathStyleForId(o.id)), el('span', {}, text)));
    }));
  }

  function renderRule() {
    const host = $('race-rule-body');
    if (!host) return;
    const o = st().optimizers.find((x) => x.id === selected) || st().optimizers[0];
    if (!o) { host.replaceChildren(); return; }
    const spec = optimizerSpec(o.name);
    const hyper = { ...specDefaults(spec?.hyperparameters), ...o.hyper };
    const rule = updateRule(o.name, hyper);
    const run = runs.get(o.id);
    const rd = run?.readout || {};
    const title = $('race-rule-title');
    if (title) {
      title.replaceChildren(el('span', { class: 'swatch', style: `background:${colorForId(o.id)}` }),
        ` ${o.name} `, el('span', { class: 'muted' }, `(${o.id})`));
    }
    const settings = rule.settings.filter((k) => k in hyper && (k === 'lr' || Number(hyper[k]) !== 0 || k.startsWith('beta')));
    const now = [];
    for (const [key, sym] of Object.entries(rule.state)) {
      const v = key === 'grad' ? rd.grad : rd[key];
      if (v !== undefined && v !== null) now.push(MATH.row(sym, MATH.mo('='), mathNumber(v)));
    }
    const k = run ? lastIndex(run) : -1;
    if (k > 0) {
      const a = run.points[k - 1];
      const b = run.points[k];
      const dx = b.map((v, i) => (Number.isFinite(v) && Number.isFinite(a[i]) ? v - a[i] : null));
      now.push(MATH.row(MATH.mi('Δ'), MATH.sub(MATH.mi('x'), MATH.mi('t')), MATH.mo('='), mathNumber(dx)));
    }
    const step = run ? run.nit : 0;
    const parts = [
      ...rule.lines.map((line) => mathElement(line)),
    ];
    if (rule.variant && spec?.summary) parts.push(el('p', { class: 'help' }, spec.summary));
    parts.push(el('div', { class: 'rule-numbers', 'data-testid': 'race-rule-settings' },
      ...settings.map((key) => mathElement(MATH.row(settingSymbol(key), MATH.mo('='), mathNumber(hyper[key])),
        { display: 'inline' }))));
    parts.push(el('p', { class: 'rule-now muted' }, `at step t = ${step}:`));
    parts.push(el('div', { class: 'rule-numbers', 'data-testid': 'race-rule-now' },
      ...now.map((m) => mathElement(m, { display: 'inline' }))));
    host.replaceChildren(...parts);
    app.debug.raceRule = { id: o.id, optimizer: o.name, step, grad: rd.grad ?? null };
  }

  function lastIndex(run) {
    for (let k = run.points.length - 1; k >= 0; k -= 1) {
      if (run.points[k] && run.points[k].every((v) => Number.isFinite(v))) return k;
    }
    return -1;
  }

  // ---- readout table --------------------------------------------------------------------------

  function renderReadout() {
    const body = $('race-readout-body');
    if (!body) return;
    const rows = [];
    for (const o of st().optimizers) {
      const run = runs.get(o.id) || { status: null, nit: 0, values: [], readout: null };
      const color = colorForId(o.id);
      const last = run.values.length ? run.values[run.values.length - 1] : null;
      const rd = run.readout || {};
      const b = badge(run.status, statusText(run.status, run.nit, run.message), `status-${o.id}`);
      if (run.message) b.title = run.message;
      rows.push(el('tr', {},
        el('td', {}, el('span', { class: 'swatch', style: `background:${color}` }), ` ${o.name} `,
          el('span', { class: 'muted' }, run.label || o.id)),
        el('td', {}, b),
        el('td', { class: 'num' }, String(run.nit ?? 0)),
        el('td', { class: 'num' }, fmt(last, 4)),
        el('td', { class: 'num' }, fmtVec(rd.grad)),
        el('td', { class: 'num' }, fmtVec(rd.velocity)),
        el('td', { class: 'num' }, fmtVec(rd.second_moment)),
        el('td', { class: 'num' }, fmtVec(rd.effective_lr))));
    }
    body.replaceChildren(...rows);
  }

  // ---- canvas interaction ---------------------------------------------------------------------

  function pointerData(ev) {
    if (!view) return null;
    const canvas = $('race-canvas');
    const rect = canvas.getBoundingClientRect();
    const zoom = canvas.currentCSSZoom || 1; // presentation mode zooms the map's box
    const px = (ev.clientX - rect.left) / zoom;
    const py = (ev.clientY - rect.top) / zoom;
    const b = view.box;
    if (px < b.x || px > b.x + b.w || py < b.y || py > b.y + b.h) return null;
    return { px, py, x: view.ix(px), y: view.iy(py) };
  }

  function attach() {
    const canvas = $('race-canvas');
    canvas.addEventListener('click', (ev) => {
      const p = pointerData(ev);
      if (!p) return;
      const r3 = (v) => Number(v.toPrecision(4));
      st().start = view.dim === 1 ? [r3(p.x)] : [r3(p.x), r3(p.y)];
      const startHost = $('race-controls').querySelector('[data-testid="race-start"]');
      if (startHost) app.fieldErrors.edited('race', startHost);
      app.changed();
      start(true);
    });
    canvas.addEventListener('mousemove', (ev) => {
      const p = pointerData(ev);
      hover = p;
      const out = $('race-hover');
      if (out) {
        out.textContent = p
          ? (view.dim === 1 ? `x = ${fmt(p.x)}` : `x = ${fmt(p.x)}, y = ${fmt(p.y)}`) + ' — click to start here'
          : '';
      }
      scheduleDraw();
    });
    canvas.addEventListener('mouseleave', () => { hover = null; scheduleDraw(); });
    const arrowsBox = $('race-arrows');
    if (arrowsBox) {
      showArrows = arrowsBox.checked;
      arrowsBox.addEventListener('change', () => { showArrows = arrowsBox.checked; scheduleDraw(); });
    }
    $('race-play').addEventListener('click', play);
    $('race-pause').addEventListener('click', pause);
    $('race-step').addEventListener('click', step);
    $('race-reset').addEventListener('click', reset);
  }

  return {
    build,
    attach,
    start,
    play,
    pause,
    step,
    onSurface,
    onFrame,
    onError,
    isStale: starts.isStale,
    localField,
    draw: () => { background = null; scheduleDraw(); },
    get playing() { return playing; },
    onDisconnect() { started = false; awaiting = false; starts.reset(); },
    get started() { return started; },
    toggle() { if (playing && !done) pause(); else play(); },
  };
}

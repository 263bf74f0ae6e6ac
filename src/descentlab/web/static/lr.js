// Learning-rate tab: the lecture's experiment, one panel per learning rate (lr.result).

import {
  el, fmt, selectControl, numberControl, hyperControls, specDefaults, badge, refuse,
} from './controls.js';
import {
  fitCanvas, drawSurface, drawPath, drawMarkers, cross, lineChart, pathStyle, styleSwatch,
  updateRule, mathElement,
} from './draw.js';

const $ = (id) => document.getElementById(id);

/** The words of one learning-rate run's outcome. */
export function lrOutcome(run) {
  const n = run.nit;
  if (run.status === 'converged') return { kind: 'converged', text: `converged in ${n} steps` };
  if (run.status === 'diverged') return { kind: 'diverged', text: `diverged at step ${n}` };
  if (run.status === 'max_steps') {
    if (/oscillat/i.test(run.message || '') || alternates(run.points)) {
      return { kind: 'oscillating', text: `oscillating (${n} steps)` };
    }
    return { kind: 'max_steps', text: `not converged in ${n} steps` };
  }
  return { kind: run.status || 'idle', text: String(run.status || '') };
}

function alternates(points) {
  // successive displacements pointing back and forth over the last steps
  if (!points || points.length < 8) return false;
  const P = points.slice(-8);
  let flips = 0;
  for (let k = 2; k < P.length; k += 1) {
    let dot = 0;
    for (let d = 0; d < P[k].length; d += 1) dot += (P[k][d] - P[k - 1][d]) * (P[k - 1][d] - P[k - 2][d]);
    if (dot < 0) flips += 1;
  }
  return flips >= P.length - 3;
}

export function createLr(app) {
  let surface = null;
  let result = null;
  let timer = null;
  let started = false;
  let drawPending = false;
  let sent = null;
  let lastGood = null;
  let fallback = false; // the last lr.start re-sent lastGood after a refusal
  // lr.start answers (lr.result or a refusal) still to come; a refusal while rerun() is
  // pending is stale too (app.js requests())
  const starts = app.requests('lr.start', () => timer !== null);

  const st = () => app.state.lr;

  function optimizerSpec(name) {
    const list = app.registry?.optimizers || [];
    return list.find((o) => o.name === name) || (name === 'gd' ? list.find((o) => o.name === 'sgd') : null);
  }

  function landscapeSpec(name) {
    return (app.registry?.landscapes || []).find((l) => l.name === name) || null;
  }

  function requestSurface(s = st()) {
    app.requestSurface('lr', { landscape: s.landscape, params: { ...s.params }, l1: 0, l2: 0, resolution: 90 });
  }

  /** Run the experiment with the controls, or with `previous` the last accepted one. */
  function run({ previous = false } = {}) {
    clearTimeout(timer);
    timer = null;
    if (!app.registry) return;
    const s = previous === true && lastGood ? lastGood : st();
    fallback = s !== st();
    const cfg = {
      landscape: s.landscape,
      params: { ...s.params },
      optimizer: s.optimizer,
      hyper: { ...s.hyper },
      lrs: s.lrs.slice(),
      steps: s.steps,
    };
    delete cfg.hyper.lr;
    if (Array.isArray(s.start) && s.start.length) cfg.start = s.start.slice();
    result = null;
    app.debug.lr = null;
    renderPanels();
    if (!surface || surface.landscape !== s.landscape) requestSurface(s);
    sent = JSON.parse(JSON.stringify(s));
    started = app.send({ type: 'lr.start', config: cfg });
    if (started) starts.sent();
    app.changed();
  }

  function rerun() {
    app.changed();
    clearTimeout(timer);
    timer = setTimeout(run, 250);
  }

  function build() {
    const root = $('lr-controls');
    root.replaceChildren();
    const reg = app.registry;
    const s = st();
    const groups = { 1: [], 2: [] };
    for (const l of reg.landscapes) {
      const d = String(l.dims) === '1' ? 1 : 2;
      groups[d].push({ value: l.name, label: l.name.replace(/_/g, ' '), title: `${l.description} — ${l.formula}` });
    }
    const sec = el('section', { class: 'group' }, el('h3', {}, 'Problem'));
    sec.append(selectControl({
      label: 'landscape', value: s.landscape, testid: 'lr-landscape', field: 'landscape params',
      options: [{ group: '1-D', options: groups[1] }, { group: '2-D', options: groups[2] }],
      onChange: (v) => {
        s.landscape = v;
        s.params = {};
        s.start = null;
        surface = null;
        app.fieldErrors.clear('lr');
        build();
        rerun();
      },
    }));
    const spec = landscapeSpec(s.landscape);
    if (spec) sec.append(el('p', { class: 'help' }, `${spec.description}: f = ${spec.formula}`));
    // start point: one box per coordinate, empty = the landscape's start
    const d = spec && String(spec.dims) === '1' ? 1 : 2;
    const names = d === 1 ? ['x'] : ['x', 'y'];
    const startRow = el('div', { class: 'start-row' });
    names.forEach((nm, k) => {
      const input = el('input', {
        type: 'text', inputmode: 'decimal', spellcheck: 'false', autocomplete: 'off',
        'aria-label': `start ${nm}`, 'data-testid': `lr-start-${nm}`,
        placeholder: 'default', value: s.start ? s.start[k] : null,
      });
      input.addEventListener('change', () => {
        const vals = [...startRow.querySelectorAll('input')].map((i) => i.value.trim());
        const bad = vals.findIndex((v) => v !== '' && !Number.isFinite(Number(v)));
        if (bad >= 0) {
          refuse(input, `start ${names[bad]} must be a number, got '${vals[bad].slice(0, 40)}'`);
          return;
        }
        if (vals.every((v) => v === '')) s.start = null;
        else if (vals.every((v) => v !== '')) s.start = vals.map(Number);
        else return; // the other coordinate is still empty
        rerun();
      });
      startRow.append(el('label', {}, `${nm}₀`, input));
    });
    sec.append(el('div', { class: 'control', 'data-field': 'start params.start', 'data-testid': 'lr-start' },
      el('span', { class: 'label' }, 'start'), startRow));
    root.append(sec);

    const opt = el('section', { class: 'group' }, el('h3', {}, 'Optimizer'));
    const names2 = reg.optimizers.map((o) => o.name);
    const optOptions = [{ value: 'gd', label: 'gd (full-batch SGD)' },
      ...names2.filter((n) => n !== 'gd').map((n) => ({ value: n, label: n }))];
    opt.append(selectControl({
      label: 'optimizer', value: s.optimizer, testid: 'lr-optimizer', options: optOptions, field: 'optimizer',
      onChange: (v) => { s.optimizer = v; s.hyper = {}; app.fieldErrors.clear('lr'); build(); rerun(); },
    }));
    const ospec = optimizerSpec(s.optimizer);
    if (ospec) {
      opt.append(hyperControls(ospec.hyperparameters, { ...specDefaults(ospec.hyperparameters), ...s.hyper },
        (k, v) => { s.hyper[k] = v; renderRule(); rerun(); }, 'lr-hp', { primary: [], skip: ['lr'], field: 'hyper' }));
    }
    root.append(opt);

    const exp = el('section', { class: 'group' }, el('h3', {}, 'Learning rates'));
    const lrsInput = el('input', {
      type: 'text', id: 'lr-lrs', 'data-testid': 'lr-lrs', value: s.lrs.join(', '), spellcheck: 'false',
      'aria-describedby': 'lr-lrs-help',
    });
    const applyLrs = () => {
      const parts = lrsInput.value.split(/[\s,;]+/).filter(Boolean);
      const vals = parts.map(Number);
      const bad = parts.find((p, i) => !(Number.isFinite(vals[i]) && vals[i] > 0));
      if (bad !== undefined || !vals.length) {
        refuse(lrsInput, `learning rates must be positive numbers separated by commas, got '${bad ?? ''}'`);
        return;
      }
      const max = app.limits?.max_lrs ?? 12;
      if (vals.length > max) {
        refuse(lrsInput, `at most ${max} learning rates, got ${vals.length}`);
        return;
      }
      s.lrs = vals;
      rerun();
    };
    lrsInput.addEventListener('change', applyLrs);
    exp.append(el('div', { class: 'control', 'data-field': 'lrs', 'data-testid': 'lr-lrs-control' },
      el('label', { for: 'lr-lrs' }, 'η values'), lrsInput,
      el('div', { class: 'help', id: 'lr-lrs-help' }, 'comma-separated, e.g. 0.01, 0.1, 1, 100, 1000')));
    exp.append(numberControl({
      label: 'steps', value: s.steps, low: 1, high: app.limits?.max_steps ?? 20000, int: true, log: true,
      testid: 'lr-steps', field: 'steps', onChange: (v) => { s.steps = v; rerun(); },
    }));
    root.append(exp);
    app.fieldErrors.rebuilt('lr');
    renderRule();
  }

  function onSurface(msg) {
    surface = msg;
    scheduleDraw();
  }

  /**
   * The server refused the experiment: the error is shown next to its control (app.js), the
   * controls keep what the user typed, and the last accepted experiment is shown again.
   * A stale refusal (a newer lr.start is on its way, or rerun() is about to send one) is
   * not shown and not answered: the newer request's answer decides.
   */
  function onError(msg) {
    if (msg.request !== 'lr.start' || starts.answered(msg)) return;
    started = false;
    if (lastGood && !fallback && JSON.stringify(lastGood) !== JSON.stringify(sent)) {
      run({ previous: true });
    } else {
      renderPanels();
    }
  }

  function onResult(msg) {
    if (starts.answered(msg)) return; // the result of an experiment already replaced
    if (sent) lastGood = sent;
    if (!fallback) app.fieldErrors.succeeded('lr');
    result = msg;
    app.debug.lrChart = null; // until the chart of this result is drawn
    app.debug.lr = (msg.runs || []).map((r) => ({ lr: r.lr, status: r.status, nit: r.nit, outcome: lrOutcome(r).kind }));
    renderPanels();
  }

  function renderPanels() {
    const host = $('lr-panels');
    const lrs = result ? result.runs.map((r) => r.lr) : st().lrs;
    host.replaceChildren(...lrs.map((lr, i) => {
      const r = result ? result.runs[i] : null;
      const out = r ? lrOutcome(r) : { kind: 'idle', text: started ? 'running…' : 'press Run' };
      const style = pathStyle(i);
      return el('figure', {
        class: `lr-panel lr-${out.kind}`, 'data-testid': `lr-panel-${i}`, style: `--c: ${style.color}`,
        'data-color': style.color,
      },
        el('figcaption', {}, el('span', { class: 'eta' }, styleSwatch(style), `η = ${fmt(lr, 4)}`),
          badge(out.kind === 'oscillating' ? 'oscillating' : r?.status, out.text, `lr-status-${i}`)),
        el('canvas', { class: 'lr-canvas', 'data-index': i }),
        el('div', { class: 'lr-foot muted' }, r && r.values && r.values.length
          ? `f(x_${r.nit}) = ${fmt(finiteLast(r.values), 4)}` : ''));
    }));
    host.querySelectorAll('[data-testid^="lr-status-"]').forEach((b, i) => { b.dataset.lr = String(lrs[i]); });
    scheduleDraw();
  }

  function finiteLast(values) {
    for (let k = values.length - 1; k >= 0; k -= 1) if (Number.isFinite(values[k])) return values[k];
    return null;
  }

  function scheduleDraw() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => {
      drawPending = false;
      draw();
    });
  }

  function draw() {
    if (!app.isVisible('lr')) return;
    drawChart();
    const canvases = $('lr-panels').querySelectorAll('canvas.lr-canvas');
    canvases.forEach((canvas) => {
      const i = Number(canvas.dataset.index);
      const w = canvas.parentElement.clientWidth - 2;
      const h = Math.round(w * 0.78);
      const { ctx } = fitCanvas(canvas, w, h);
      if (!surface) return;
      const box = { x: 48, y: 8, w: w - 62, h: h - 44 };
      const view = drawSurface(ctx, box, surface, { levels: 10, markers: true });
      const r = result?.runs?.[i];
      if (!r) return;
      const { color } = pathStyle(i);
      drawPath(ctx, view, r.points || [], r.values || [], color, { dots: true, width: 1.6 });
      drawMarkers(ctx, view, surface);
      if (r.status === 'diverged') {
        const pts = r.points || [];
        for (let k = pts.length - 1; k >= 0; k -= 1) {
          const x = pts[k]?.[0];
          const y = view.dim === 1 ? r.values?.[k] : pts[k]?.[1];
          if (Number.isFinite(x) && Number.isFinite(y)) {
            const px = Math.max(box.x + 6, Math.min(box.x + box.w - 6, view.sx(x)));
            const py = Math.max(box.y + 6, Math.min(box.y + box.h - 6, view.sy(y)));
            cross(ctx, px, py, 6, color, 3);
            break;
          }
        }
      }
    });
  }

  function drawChart() {
    const runs = result?.runs || [];
    const series = runs.map((r, i) => ({
      ...pathStyle(i), xs: (r.values || []).map((_, k) => k), ys: r.values || [],
    }));
    // keep the axis on the runs that stay on the chart: a diverging run would flatten the rest
    let hi = -Infinity;
    for (const r of runs) {
      if (r.status === 'diverged') continue;
      for (const v of r.values || []) if (Number.isFinite(v) && v > hi) hi = v;
    }
    const drawn = lineChart($('lr-chart'), series, {
      logY: 'auto', xLabel: 'step t', yLabel: 'f(x_t)', height: 220, empty: 'press Run',
      yClipHigh: Number.isFinite(hi) ? hi : null,
    });
    // the caption says the scale the chart has (log only when every value is positive)
    const note = $('lr-chart-note');
    const diverging = runs.some((r) => r.status === 'diverged');
    if (note) {
      const scale = drawn.logY ? 'log scale' : 'linear scale: some f values are 0 or negative';
      note.textContent = `(${scale}${diverging ? '; a diverging run leaves the chart' : ''})`;
      note.dataset.scale = drawn.logY ? 'log' : 'linear';
    }
    app.debug.lrChart = result ? { logY: drawn.logY } : null;
    $('lr-legend').replaceChildren(...runs.map((r, i) => el('span', { class: 'legend-item', 'data-testid': `lr-legend-${i}` },
      styleSwatch(pathStyle(i)), ` η = ${fmt(r.lr, 4)}`)));
  }

  /** The heading's equation: the rule of the optimizer the experiment runs. */
  function renderRule() {
    const host = $('lr-rule');
    if (!host) return;
    const s = st();
    const spec = optimizerSpec(s.optimizer);
    const hyper = { ...specDefaults(spec?.hyperparameters), ...s.hyper };
    const rule = updateRule(s.optimizer, hyper);
    host.replaceChildren(el('span', { class: 'muted' }, `The same start, the same optimizer (${s.optimizer}), only η changes:`),
      ...rule.lines.map((line) => mathElement(line, { display: 'inline' })));
    host.dataset.optimizer = s.optimizer;
  }

  function attach() {
    $('lr-run').addEventListener('click', run);
  }

  return {
    build,
    attach,
    run,
    onSurface,
    onResult,
    onError,
    draw: scheduleDraw,
    requestSurface,
    isStale: starts.isStale,
    onDisconnect() { started = false; starts.reset(); },
    get started() { return started; },
    get landscape() { return st().landscape; },
  };
}

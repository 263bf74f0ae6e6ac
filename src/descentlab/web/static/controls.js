// Small DOM helpers and form controls generated from the registry's hyperparameter specs
// ({name, type, default, low, high, log_scale, help, choices}).

let uid = 0;
export function nextId(prefix = 'c') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** el('div', {class: 'x', onclick: f}, child, 'text', ...) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'html') node.innerHTML = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Compact human number: 0.001 -> "0.001", 12345 -> "1.23e+4". */
export function fmt(v, digits = 3) {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : (v > 0 ? '∞' : '−∞');
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(digits - 1).replace('e+', 'e');
  return String(Number(v.toPrecision(digits)));
}

export function fmtVec(v, digits = 3) {
  if (v === null || v === undefined) return '—';
  if (!Array.isArray(v)) return fmt(v, digits);
  return `[${v.map((x) => fmt(x, digits)).join(', ')}]`;
}

function clamp(v, lo, hi) {
  return Math.min(hi, Math.max(lo, v));
}

// Setting names in plain words (as the server says them), for the page's own messages.
const WORDS = {
  lr: 'learning rate', lrs: 'learning rates', l1: 'L1 strength', l2: 'L2 strength',
  tol: 'tolerance', eps: 'epsilon', weight_decay: 'weight decay',
};

export function plainName(label) {
  const text = String(label ?? '').trim();
  return WORDS[text] || text.replace(/_/g, ' ');
}

/**
 * Report a value the page refused (e.g. text in a number box) at the control `node`: a
 * bubbling `fielderror` event that the page shows next to the control (see fields.js).
 */
export function refuse(node, message) {
  node.dispatchEvent(new CustomEvent('fielderror', { bubbles: true, detail: { message } }));
}

/** The data-field attribute of a control: the path of its value in the tab's config. */
function fieldAttr(field) {
  if (!field) return null;
  return Array.isArray(field) ? field.join(' ') : field;
}

/**
 * A labelled slider with an editable number box.
 * opts: {label, value, low, high, log, int, zero (log slider whose first notch is 0), step,
 *        help, testid, field (data-field: the value's path in the tab's config), clamp
 *        (keep typed values within [low, high]; off by default: the slider's range is only a
 *        suggestion, the server judges the value and says what is wrong next to the box),
 *        onChange(value)}
 */
export function numberControl(opts) {
  const id = nextId('num');
  const { low, high } = opts;
  const hasRange = Number.isFinite(low) && Number.isFinite(high) && high > low;
  const log = Boolean(opts.log) && hasRange && high > 0;
  const lo = log ? Math.log10(low > 0 ? low : high * 1e-6) : low;
  const hi = log ? Math.log10(high) : high;
  const N = 1000;
  const toSlider = (v) => {
    if (!hasRange) return 0;
    if (log) {
      if (opts.zero && v <= 0) return 0;
      const t = (Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo);
      return opts.zero ? Math.round(1 + t * (N - 1)) : Math.round(t * N);
    }
    return Math.round(((v - lo) / (hi - lo)) * N);
  };
  const fromSlider = (p) => {
    if (log) {
      if (opts.zero) {
        if (p <= 0) return 0;
        return Number((10 ** (lo + ((p - 1) / (N - 1)) * (hi - lo))).toPrecision(2));
      }
      return Number((10 ** (lo + (p / N) * (hi - lo))).toPrecision(2));
    }
    const v = lo + (p / N) * (hi - lo);
    return opts.int ? Math.round(v) : Number(v.toPrecision(3));
  };
  // a text box (inputmode brings the numeric keyboard): what was typed stays visible, and
  // text that is not a number is refused with a message instead of silently emptied
  const number = el('input', {
    type: 'text', inputmode: opts.int ? 'numeric' : 'decimal', id, class: 'num',
    spellcheck: 'false', autocomplete: 'off',
    'data-testid': opts.testid, 'aria-describedby': opts.help ? `${id}-help` : null,
  });
  const slider = hasRange ? el('input', {
    type: 'range', min: 0, max: N, step: 1, class: 'slider', tabindex: 0,
    'aria-label': opts.label, 'data-testid': opts.testid ? `${opts.testid}-slider` : null,
  }) : null;
  const valueLabel = el('span', { class: 'value-label' });
  // a typed value beyond the slider's ends is used as typed: the slider stays at its end and
  // says so, instead of the value being clamped to fit it
  const rangeNote = hasRange ? el('div', {
    class: 'range-note', 'data-testid': opts.testid ? `${opts.testid}-range-note` : null, hidden: true,
  }) : null;
  let current = opts.value;
  const show = (v) => {
    number.value = v === null || v === undefined ? ''
      : (v !== 0 && Math.abs(v) < 1e-3 ? Number(v).toExponential() : String(v));
    if (slider) {
      slider.value = String(toSlider(v));
      const above = Number.isFinite(v) && v > high;
      const below = Number.isFinite(v) && v < low && !(opts.zero && v === 0);
      slider.classList.toggle('out-of-range', above || below);
      slider.dataset.outOfRange = above ? 'above' : below ? 'below' : '';
      rangeNote.hidden = !(above || below);
      rangeNote.textContent = above ? `out of slider range: ${fmt(v)} > ${fmt(high)}, used as typed`
        : below ? `out of slider range: ${fmt(v)} < ${fmt(low)}, used as typed` : '';
      if (above || below) slider.setAttribute('aria-valuetext', `${fmt(v)} (out of the slider's range)`);
      else slider.removeAttribute('aria-valuetext');
    }
    valueLabel.textContent = fmt(v);
  };
  show(current);
  const commit = (v) => {
    current = v;
    show(v);
    opts.onChange(v);
  };
  if (slider) {
    slider.addEventListener('input', () => commit(fromSlider(Number(slider.value))));
  }
  number.addEventListener('change', () => {
    const text = number.value.trim();
    if (text === '') {
      show(current);
      return;
    }
    let v = Number(text);
    if (!Number.isFinite(v)) {
      refuse(number, `${plainName(opts.label)} must be a number, got '${text.slice(0, 40)}'`);
      return;
    }
    if (opts.int) v = Math.round(v);
    if (opts.clamp && hasRange) v = clamp(v, opts.zero ? 0 : low, high);
    commit(v);
  });
  const root = el('div', { class: 'control number-control', 'data-field': fieldAttr(opts.field) },
    el('label', { for: id, title: opts.help || '' }, opts.label),
    el('div', { class: 'number-row' }, slider, number), rangeNote);
  if (opts.help) root.append(el('div', { class: 'help', id: `${id}-help` }, opts.help));
  root.setValue = (v) => { current = v; show(v); };
  return root;
}

export function selectControl({ label, options, value, onChange, testid, help, field }) {
  const id = nextId('sel');
  const select = el('select', { id, 'data-testid': testid });
  for (const opt of options) {
    if (opt.group) {
      const g = el('optgroup', { label: opt.group });
      for (const o of opt.options) g.append(el('option', { value: o.value, title: o.title || '' }, o.label));
      select.append(g);
    } else {
      select.append(el('option', { value: opt.value, title: opt.title || '' }, opt.label));
    }
  }
  select.value = value;
  select.addEventListener('change', () => onChange(select.value));
  const root = el('div', { class: 'control select-control', 'data-field': fieldAttr(field) },
    el('label', { for: id, title: help || '' }, label), select);
  root.select = select;
  return root;
}

export function checkboxControl({ label, value, onChange, testid, help, field }) {
  const id = nextId('chk');
  const box = el('input', { type: 'checkbox', id, 'data-testid': testid });
  box.checked = Boolean(value);
  box.addEventListener('change', () => onChange(box.checked));
  return el('div', { class: 'control checkbox-control', title: help || '', 'data-field': fieldAttr(field) },
    box, el('label', { for: id }, label));
}

/** One control for one hyperparameter spec; `field` is its path in the config. */
export function hyperControl(spec, value, onChange, testid, field) {
  const v = value ?? spec.default;
  const label = spec.name;
  if (spec.type === 'bool') {
    return checkboxControl({ label, value: v, onChange, testid, help: spec.help, field });
  }
  if (spec.type === 'choice' || (spec.choices && spec.choices.length)) {
    return selectControl({
      label, value: v, onChange, testid, help: spec.help, field,
      options: spec.choices.map((c) => ({ value: c, label: String(c) })),
    });
  }
  const isInt = spec.type === 'int';
  return numberControl({
    label, value: v, low: spec.low, high: spec.high, log: spec.log_scale, int: isInt,
    zero: spec.log_scale && spec.low === 0, help: spec.help, testid, field,
    onChange: (x) => onChange(isInt ? Math.round(x) : x),
  });
}

/**
 * Controls for a list of specs; the first `primary` names are shown, the rest sit in a
 * <details> "more". values: {name: value}; onChange(name, value). `field`: the path of the
 * {name: value} object in the config (e.g. "optimizers[0].hyper"); each control is
 * `${field}.${name}`, and an error about the whole object is shown under the primary ones.
 */
export function hyperControls(specs, values, onChange, testidPrefix,
  { primary = ['lr'], skip = [], field = null } = {}) {
  const main = el('div', { class: 'hyper-main' });
  const more = el('div', { class: 'hyper-more' });
  let nMore = 0;
  for (const spec of specs) {
    if (skip.includes(spec.name)) continue;
    const c = hyperControl(spec, values[spec.name], (v) => onChange(spec.name, v),
      `${testidPrefix}-${spec.name}`, field ? `${field}.${spec.name}` : null);
    if (primary.includes(spec.name)) main.append(c);
    else {
      more.append(c);
      nMore += 1;
    }
  }
  const root = el('div', { class: 'hyper', 'data-field': field, 'data-testid': `${testidPrefix}-hyper` },
    main, el('div', { class: 'field-error-slot' }));
  if (nMore) {
    root.append(el('details', { class: 'more' },
      el('summary', {}, `more hyperparameters (${nMore})`), more));
  }
  return root;
}

/** Defaults of a spec list as {name: default}. */
export function specDefaults(specs) {
  const out = {};
  for (const s of specs || []) out[s.name] = s.default;
  return out;
}

/** The words of a run's status badge: running, converged at step k, diverged at step k, ... */
export function statusText(status, nit, message = '') {
  switch (status) {
    case 'running': return 'running';
    case 'converged': return `converged at step ${nit}`;
    case 'diverged': return `diverged at step ${nit}`;
    case 'max_steps': return /oscillat/i.test(message || '') ? `oscillating (${nit} steps)` : `max steps (${nit})`;
    default: return status ? String(status) : 'ready';
  }
}

export function badge(status, text, testid) {
  return el('span', { class: `badge badge-${status || 'idle'}`, 'data-testid': testid, 'data-status': status || 'idle' }, text);
}

export function setBadge(node, status, text) {
  node.className = `badge badge-${status || 'idle'}`;
  node.dataset.status = status || 'idle';
  node.textContent = text;
}

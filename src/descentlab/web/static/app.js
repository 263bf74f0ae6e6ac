// descentlab playground: wiring of the three tabs, the WebSocket, the URL state, dialogs.
// Every number drawn comes from the server's messages; this file only routes them.

import { Connection } from './conn.js';
import {
  defaultState, normalizeState, readHash, writeHash, stateUrl, TABS,
} from './state.js';
import { el } from './controls.js';
import { createFieldErrors } from './fields.js';
import { createRace } from './race.js';
import { createTrain } from './train.js';
import { createLr } from './lr.js';
import { createLandscape } from './landscape.js';

const $ = (id) => document.getElementById(id);

const debug = {
  frames: { race: 0, train: 0 },
  runs: {},
  train: { epoch: 0, test_accuracy: null },
  lr: null,
  race: { step: 0, done: false },
  surface: null,
  connected: false,
  errors: [],
  ready: false,
};
window.__descentlab = debug;

const app = {
  state: defaultState(),
  registry: null,
  limits: null,
  connected: false,
  debug,
  send: (msg) => conn.send(msg),
  changed: () => scheduleHash(),
  showError,
  fieldError,
  fieldErrors: null,
  isVisible: (tab) => app.state.tab === tab,
  requestSurface,
  expectSurface,
  mapHeight,
  requests,
};

const fieldErrors = createFieldErrors((tab) => $(`panel-${tab}`));
app.fieldErrors = fieldErrors;
const race = createRace(app);
const train = createTrain(app);
const lr = createLr(app);
const landscape = createLandscape(app);
const tabs = { race, train, lr, landscape };
const startedTabs = new Set();
const pendingSurfaces = [];

// ---- URL state --------------------------------------------------------------------------------

let hashTimer = null;
function scheduleHash() {
  clearTimeout(hashTimer);
  hashTimer = setTimeout(() => writeHash(app.state), 80);
}

function loadHashState() {
  try {
    const s = readHash();
    if (s) app.state = s;
  } catch (err) {
    showError(`could not read the shared link: ${err.message}`);
  }
}

// ---- errors -----------------------------------------------------------------------------------

/** The banner at the top: errors that belong to no control (bad JSON, lost link, ...). */
function showError(message, field = null, request = null) {
  const banner = $('error-banner');
  $('error-text').textContent = message;
  banner.dataset.field = field || '';
  banner.hidden = false;
  debug.errors.push({ message, field, request, shown: 'banner' });
}

/**
 * An error about one value of a tab: shown next to its control (fields.js), or in the
 * banner when `field` names no control of the tab.
 */
function fieldError(tab, field, message, request = null) {
  if (tab && field && fieldErrors.show(tab, field, message)) {
    debug.errors.push({ message, field, request, shown: 'field', tab });
    return true;
  }
  showError(message, field, request);
  return false;
}

const REQUEST_TAB = {
  'race.start': 'race', 'race.control': 'race', 'train.start': 'train', 'train.control': 'train',
  'lr.start': 'lr', 'surface.request': 'lr',
  'landscape.start': 'landscape', 'landscape.control': 'landscape',
};

function hideError() {
  $('error-banner').hidden = true;
}

function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 2200);
}

// ---- connection -------------------------------------------------------------------------------

function setStatus(status) {
  const node = $('conn-status');
  node.dataset.state = status;
  const words = { connecting: 'connecting…', open: 'connected', closed: 'offline — reconnecting' };
  $('conn-text').textContent = words[status] || status;
  app.connected = status === 'open';
  debug.connected = app.connected;
  if (status !== 'open') {
    startedTabs.clear();
    pendingSurfaces.length = 0;
    for (const t of Object.values(tabs)) t.onDisconnect();
  }
}

// The server answers one tab's requests in order, so the surfaces come back in the order of
// the requests that make one: race.start (race) and surface.request (learning-rate tab).
// A refused request answers with an error naming it, which drops its place in the queue.
function expectSurface(tab) {
  pendingSurfaces.push(tab);
}

function requestSurface(tab, req) {
  if (app.send({ type: 'surface.request', ...req })) expectSurface(tab);
}

function routeSurface(msg) {
  const target = pendingSurfaces.length ? pendingSurfaces.shift() : 'race';
  if (target === 'lr') lr.onSurface(msg);
  else {
    raceDim = msg.dim === 1 ? 1 : 2;
    race.onSurface(msg);
    labelFormula();
  }
}

// The formula box says f(x) = for a 1-D landscape, f(x, y) = for a 2-D one (the surface
// tells which; a rebuilt box keeps the last answer's).
let raceDim = 2;
function labelFormula() {
  const label = document.querySelector('label[for="race-formula"]');
  const words = raceDim === 1 ? 'f(x) =' : 'f(x, y) =';
  if (label && label.textContent !== words) label.textContent = words;
  const input = $('race-formula');
  if (input) input.setAttribute('aria-label', `formula of ${words.replace(' =', '')}`);
}

function dropExpected(request) {
  const tab = request === 'race.start' ? 'race' : request === 'surface.request' ? 'lr' : null;
  if (!tab) return;
  const k = pendingSurfaces.indexOf(tab);
  if (k >= 0) pendingSurfaces.splice(k, 1);
}

/**
 * The answers a tab waits for to its `kind` requests. The
 * server answers one tab's requests in order, each once: with its result or with an error
 * naming it. An answer is stale when a newer request of the kind is still unanswered, or,
 * for a refusal, when `pending()` says the tab is about to send a newer one (a debounced
 * restart whose timer has not fired): the newer request's answer decides. A stale refusal
 * is neither shown nor answered with the last accepted settings; re-sending those would
 * cancel the pending restart or run over the newer request.
 */
function requests(kind, pending) {
  let outstanding = 0;
  const isStale = (msg) => (msg.request ?? kind) === kind
    && (outstanding > 1 || (msg.type === 'error' && pending()));
  return {
    isStale,
    /** A request of the kind went out. */
    sent() { outstanding += 1; },
    /** An answer of the kind came: whether it is stale (then the tab ignores it). */
    answered(msg) {
      const stale = isStale(msg);
      outstanding = Math.max(0, outstanding - 1);
      return stale;
    },
    get outstanding() { return outstanding; },
    reset() { outstanding = 0; },
  };
}

function onServerError(msg) {
  const request = msg.request ?? null;
  dropExpected(request);
  const tab = REQUEST_TAB[request] || null;
  if (tab && tabs[tab].isStale?.(msg)) {
    // refused, but the tab has sent or is about to send a newer request: its answer counts
    tabs[tab].onError(msg);
    return;
  }
  // the tab names the control by the config it sent (an optimizer's index may have moved)
  const field = tab && msg.field && tabs[tab].localField ? tabs[tab].localField(msg.field, request) : msg.field;
  fieldError(tab, field ?? null, msg.message || 'error', request);
  if (request === 'race.start' || request === 'race.control') race.onError(msg);
  else if (request === 'train.start' || request === 'train.control') train.onError(msg);
  else if (request === 'lr.start') lr.onError(msg);
  else if (tab === 'landscape') landscape.onError(msg);
}

function onMessage(msg) {
  switch (msg.type) {
    case 'hello': onHello(msg); break;
    case 'surface': routeSurface(msg); break;
    case 'race.frame': race.onFrame(msg); break;
    case 'train.data': train.onData(msg); break;
    case 'train.frame': train.onFrame(msg); break;
    case 'lr.result': lr.onResult(msg); break;
    case 'landscape.frame': landscape.onFrame(msg); break;
    case 'export': showExport(msg); break;
    case 'error': onServerError(msg); break;
    case 'pong': break;
    default: break;
  }
}

function onHello(msg) {
  app.registry = msg.registry;
  app.limits = msg.limits || {};
  race.build();
  train.build();
  lr.build();
  landscape.build();
  activate(app.state.tab, { force: true });
  debug.ready = true;
}

// ---- tabs -------------------------------------------------------------------------------------

function startTab(tab) {
  startedTabs.add(tab);
  if (tab === 'race') race.start(app.state.race.autoplay);
  else if (tab === 'train') train.start(app.state.train.autoplay);
  else if (tab === 'landscape') landscape.start(app.state.landscape.autoplay);
  else lr.run();
}

function activate(tab, { force = false } = {}) {
  if (!TABS.includes(tab)) tab = 'race';
  const changed = app.state.tab !== tab;
  app.state.tab = tab;
  for (const t of TABS) {
    const btn = $(`tab-${t}`);
    btn.setAttribute('aria-selected', String(t === tab));
    btn.tabIndex = t === tab ? 0 : -1;
    $(`panel-${t}`).hidden = t !== tab;
  }
  document.body.dataset.tab = tab;
  $(`tab-${tab}`).scrollIntoView({ block: 'nearest', inline: 'nearest' }); // a narrow tab row scrolls
  $('btn-drawer').setAttribute('aria-controls', `${tab}-controls`);
  if (changed || force) scheduleHash();
  if (app.registry && app.connected && !startedTabs.has(tab)) startTab(tab);
  tabs[tab].draw();
}

function applyState(state) {
  app.state = state;
  for (const t of TABS) fieldErrors.clear(t);
  writeHash(app.state);
  startedTabs.clear();
  if (app.registry) {
    race.build();
    train.build();
    lr.build();
    landscape.build();
  }
  activate(app.state.tab, { force: true });
}

// ---- dialogs: export / import / link ------------------------------------------------------------

function openDialog({ title, text, readonly = true, actions = [] }) {
  const dlg = $('dialog');
  $('dialog-title').textContent = title;
  const area = $('dialog-text');
  area.value = text;
  area.readOnly = readonly;
  const bar = $('dialog-actions');
  bar.replaceChildren(...actions, el('button', { class: 'btn', 'data-testid': 'dialog-close', onclick: () => dlg.close() }, 'Close'));
  if (!dlg.open) dlg.showModal();
  area.scrollTop = 0;
  if (!readonly) area.focus();
  else (bar.querySelector('.primary') || bar.lastChild).focus();
}

function copyButton(getText, label = 'Copy') {
  return el('button', {
    class: 'btn primary', 'data-testid': 'dialog-copy',
    onclick: async () => {
      const text = getText();
      try {
        await navigator.clipboard.writeText(text);
        toast('copied to the clipboard');
      } catch {
        const area = $('dialog-text');
        area.focus();
        area.select();
        toast('press Ctrl+C to copy');
      }
    },
  }, label);
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function showExport(msg) {
  const ext = msg.format === 'python' ? 'py' : 'json';
  const name = `descentlab_${msg.what}.${ext}`;
  openDialog({
    title: msg.format === 'python' ? `Python for the ${msg.what} tab` : `JSON config of the ${msg.what} tab`,
    text: msg.text,
    actions: [copyButton(() => msg.text),
      el('button', { class: 'btn', onclick: () => download(name, msg.text, 'text/plain') }, `Download ${name}`)],
  });
}

function exportPython() {
  const tab = app.state.tab;
  if (!app.connected) {
    showError('not connected to the server');
    return;
  }
  if (!startedTabs.has(tab)) startTab(tab);
  app.send({ type: 'export', what: tab, format: 'python' });
}

function exportJson() {
  const text = JSON.stringify(app.state, null, 2);
  openDialog({
    title: 'Playground state (JSON)',
    text,
    actions: [copyButton(() => text),
      el('button', { class: 'btn', onclick: () => download('descentlab_playground.json', text, 'application/json') }, 'Download')],
  });
}

function importJson() {
  openDialog({
    title: 'Import JSON: paste a playground state',
    text: '',
    readonly: false,
    actions: [el('button', {
      class: 'btn primary', 'data-testid': 'dialog-import',
      onclick: () => {
        let obj;
        try {
          obj = JSON.parse($('dialog-text').value);
        } catch (err) {
          showError(`the pasted text is not valid JSON: ${err.message}`);
          return;
        }
        try {
          const state = normalizeState(obj);
          $('dialog').close();
          applyState(state);
          toast('state imported');
        } catch (err) {
          showError(err.message);
        }
      },
    }, 'Load')],
  });
}

async function copyLink() {
  writeHash(app.state);
  const url = stateUrl(app.state);
  try {
    await navigator.clipboard.writeText(url);
    toast('link copied');
  } catch {
    openDialog({ title: 'Link to this exact view', text: url, actions: [copyButton(() => url)] });
  }
}

// ---- presentation mode and the header's menu ----------------------------------------------------

/** ?present=1 in the address: kept by Copy link (stateUrl keeps the query). */
function presentFromUrl() {
  const v = new URLSearchParams(window.location.search).get('present');
  return v !== null && !['0', 'false', 'no', 'off'].includes(v.toLowerCase());
}

function setPresent(on) {
  document.body.classList.toggle('present', on);
  $('btn-present').setAttribute('aria-pressed', String(on));
  $('btn-present').title = on ? 'leave presentation mode'
    : 'presentation mode: the map as large as the screen, larger type, settings in a drawer (also ?present=1 in the link)';
  debug.present = on;
  const url = new URL(window.location.href);
  if (on) url.searchParams.set('present', '1');
  else url.searchParams.delete('present');
  if (url.href !== window.location.href) history.replaceState(null, '', url.href);
  if (!on) setDrawer(false);
  redrawSoon();
}

function setDrawer(open, { focus = false } = {}) {
  const wasOpen = document.body.classList.contains('drawer-open');
  document.body.classList.toggle('drawer-open', open);
  const btn = $('btn-drawer');
  btn.setAttribute('aria-expanded', String(open));
  btn.setAttribute('aria-controls', `${app.state.tab}-controls`);
  debug.drawer = open;
  if (open && focus) {
    const first = $(`${app.state.tab}-controls`).querySelector('select, input, button, textarea');
    if (first) first.focus({ preventScroll: true });
  } else if (!open && wasOpen && document.activeElement && document.activeElement.closest('.controls, .side')) {
    btn.focus();
  }
}

function setMenu(open) {
  document.body.classList.toggle('menu-open', open);
  $('btn-menu').setAttribute('aria-expanded', String(open));
}

/**
 * The height a tab's map may take (CSS px of the map's own, possibly zoomed, box): the
 * window below the map's top in presentation mode, else the window less `reserve`, at least
 * `min`. race.js and train.js size their canvases with it.
 */
function mapHeight(min, reserve) {
  if (!document.body.classList.contains('present')) return Math.max(min, window.innerHeight - reserve);
  const wrap = document.querySelector(`#panel-${app.state.tab} .canvas-card`);
  if (!wrap) return Math.max(min, window.innerHeight - reserve);
  const zoom = wrap.currentCSSZoom || 1;
  const top = wrap.getBoundingClientRect().top + window.scrollY; // zoomed px from the page's top
  const room = (window.innerHeight - top - 30 * zoom) / zoom; // the caption's line stays in view
  return Math.max(200, Math.floor(room));
}

let redrawTimer = null;
function redrawSoon() {
  clearTimeout(redrawTimer);
  redrawTimer = setTimeout(() => tabs[app.state.tab].draw(), 30);
}

// ---- wiring -----------------------------------------------------------------------------------

function attach() {
  for (const t of TABS) $(`tab-${t}`).addEventListener('click', () => activate(t));
  $('tabs').addEventListener('keydown', (ev) => {
    if (ev.key !== 'ArrowRight' && ev.key !== 'ArrowLeft') return;
    const k = TABS.indexOf(app.state.tab);
    const next = TABS[(k + (ev.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length];
    activate(next);
    $(`tab-${next}`).focus();
  });
  $('error-dismiss').addEventListener('click', hideError);
  for (const t of TABS) {
    const panel = $(`panel-${t}`);
    // editing a control clears its error (capture: before the control's own handler runs)
    const edited = (ev) => fieldErrors.edited(t, ev.target);
    panel.addEventListener('input', edited, true);
    panel.addEventListener('change', edited, true);
    panel.addEventListener('click', (ev) => {
      const button = ev.target.closest && ev.target.closest('button');
      if (button) fieldErrors.edited(t, button);
    }, true);
    // a value the page refused itself (text in a number box, ...)
    panel.addEventListener('fielderror', (ev) => {
      const host = ev.target.closest('[data-field]');
      const message = ev.detail?.message || 'invalid value';
      if (host) {
        fieldErrors.showLocal(t, host, message);
        debug.errors.push({ message, field: host.dataset.field, request: null, shown: 'field', tab: t });
      } else showError(message);
    });
  }
  $('btn-present').addEventListener('click', () => setPresent(!document.body.classList.contains('present')));
  $('btn-drawer').addEventListener('click', () => setDrawer(!document.body.classList.contains('drawer-open'), { focus: true }));
  $('btn-menu').addEventListener('click', (ev) => {
    ev.stopPropagation();
    setMenu(!document.body.classList.contains('menu-open'));
  });
  $('header-actions').addEventListener('click', () => setMenu(false));
  document.addEventListener('click', (ev) => {
    if (document.body.classList.contains('menu-open') && !ev.target.closest('#header-actions')) setMenu(false);
  });
  $('btn-copy-link').addEventListener('click', copyLink);
  $('btn-export-python').addEventListener('click', exportPython);
  $('btn-export-json').addEventListener('click', exportJson);
  $('btn-import-json').addEventListener('click', importJson);
  new MutationObserver(labelFormula).observe($('race-controls'), { childList: true });
  race.attach();
  train.attach();
  lr.attach();
  landscape.attach();
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => tabs[app.state.tab].draw(), 60);
  });
  window.addEventListener('hashchange', () => {
    try {
      const s = readHash();
      if (s) applyState(s);
    } catch (err) {
      showError(`could not read the shared link: ${err.message}`);
    }
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !$('dialog').open) {
      if (document.body.classList.contains('menu-open')) setMenu(false);
      if (document.body.classList.contains('drawer-open')) setDrawer(false);
    }
  });
  document.addEventListener('keydown', (ev) => {
    const tag = (ev.target && ev.target.tagName) || '';
    if (['INPUT', 'SELECT', 'TEXTAREA', 'BUTTON'].includes(tag) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if ($('dialog').open) return;
    const tab = app.state.tab;
    if (ev.key === ' ' && tab !== 'lr') {
      ev.preventDefault();
      tabs[tab].toggle();
    }
  });
  setInterval(() => { if (app.connected) app.send({ type: 'ping' }); }, 25000);
}

loadHashState();
attach();
if (presentFromUrl()) setPresent(true);
activate(app.state.tab);
const conn = new Connection(onMessage, setStatus);
conn.connect();

export { app };

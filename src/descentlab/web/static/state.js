// Page state: the configuration of the three tabs, defaults, and the URL hash codec.
// The JSON shape is the protocol's {"tab", "race": RaceConfig, "train": TrainConfig,
// "lr": LrConfig}; nothing here computes an optimizer, loss or landscape.

export const TABS = ['race', 'train', 'lr', 'landscape'];

// One colour per optimizer slot (colour-blind friendly first, then extra hues).
export const PALETTE = [
  '#e8590c', '#1c7ed6', '#2f9e44', '#9c36b5', '#c2255c',
  '#0c8599', '#f08c00', '#5f3dc4', '#66a80f', '#495057',
];

// Class colours of the decision regions and points (class k -> CLASS_COLORS[k]).
export const CLASS_COLORS = ['#f08c00', '#1971c2', '#2f9e44', '#ae3ec9', '#e03131'];

export function colorForId(id) {
  const m = /(\d+)$/.exec(String(id));
  const k = m ? Number(m[1]) - 1 : 0;
  return PALETTE[((k % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

export function defaultRace() {
  return {
    landscape: 'beale',
    params: {},
    start: null,
    optimizers: [
      { id: 'o1', name: 'sgd', hyper: { lr: 0.01 } },
      { id: 'o2', name: 'momentum', hyper: { lr: 0.005 } },
      { id: 'o3', name: 'adam', hyper: { lr: 0.1 } },
    ],
    max_steps: 500,
    tol: 1e-6,
    grad_noise: 0,
    batch_size: null,
    l1: 0,
    l2: 0,
    seed: 0,
    steps_per_frame: 2,
    autoplay: true,
  };
}

export function defaultTrain() {
  return {
    dataset: 'spirals',
    classes: 2,
    noise: 0.1,
    points: 400,
    train_ratio: 0.7,
    batch_size: 16,
    hidden: [8, 8],
    activation: 'tanh',
    optimizer: { name: 'adam', hyper: { lr: 0.01 } },
    l1: 0,
    l2: 0,
    dropout: 0,
    schedule: null,
    seed: 0,
    epochs_per_frame: 1,
    max_epochs: 1000,
    autoplay: false,
  };
}

export function defaultLr() {
  return {
    landscape: 'parabola',
    params: {},
    start: null,
    optimizer: 'gd',
    hyper: {},
    lrs: [0.01, 0.1, 1, 100, 1000],
    steps: 100,
  };
}

// The Network-landscape tab: two optimizers, one network, the planes around their solutions.
export function defaultLandscape() {
  return {
    dataset: 'moons',
    classes: 2,
    noise: 0.2,
    points: 400,
    hidden: [16],
    activation: 'tanh',
    optimizers: [{ name: 'sgd', hyper: { lr: 0.1 } }, { name: 'adam', hyper: { lr: 0.01 } }],
    batch_size: 32,
    epochs: 40,
    directions: 'pca',
    grid: 25,
    samples: 300,
    plane_every: 15,
    steps_per_frame: 4,
    seed: 0,
    autoplay: false,
  };
}

export function defaultState() {
  return { tab: 'race', race: defaultRace(), train: defaultTrain(), lr: defaultLr(), landscape: defaultLandscape() };
}

// ---- base64url JSON -------------------------------------------------------------------------

export function encodeState(obj) {
  const bytes = new TextEncoder().encode(JSON.stringify(obj));
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function decodeState(text) {
  let s = String(text).trim().replace(/-/g, '+').replace(/_/g, '/');
  while (s.length % 4) s += '=';
  let bin;
  try {
    bin = atob(s);
  } catch {
    throw new Error('the #state= part of the link is not valid base64url');
  }
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  let obj;
  try {
    obj = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error('the #state= part of the link does not hold valid JSON');
  }
  return normalizeState(obj);
}

function isObj(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Merge a (possibly partial) state object over the defaults; throws on a wrong shape. */
export function normalizeState(obj) {
  if (!isObj(obj)) throw new Error('the state must be a JSON object {"tab", "race", "train", "lr"}');
  const out = defaultState();
  if (obj.tab !== undefined) {
    if (!TABS.includes(obj.tab)) {
      throw new Error(`unknown tab ${JSON.stringify(obj.tab)}; expected one of ${TABS.join(', ')}`);
    }
    out.tab = obj.tab;
  }
  for (const key of ['race', 'train', 'lr', 'landscape']) {
    if (obj[key] === undefined) continue;
    if (!isObj(obj[key])) throw new Error(`"${key}" must be an object, got ${JSON.stringify(obj[key])}`);
    Object.assign(out[key], obj[key]);
  }
  const race = out.race;
  if (!Array.isArray(race.optimizers)) throw new Error('"race.optimizers" must be a list');
  race.optimizers = race.optimizers.map((o, i) => {
    if (!isObj(o) || typeof o.name !== 'string') {
      throw new Error(`race.optimizers[${i}] must be {"id", "name", "hyper"}`);
    }
    return { id: String(o.id ?? `o${i + 1}`), name: o.name, hyper: isObj(o.hyper) ? { ...o.hyper } : {} };
  });
  if (!isObj(race.params)) race.params = {};
  const train = out.train;
  if (!Array.isArray(train.hidden)) throw new Error('"train.hidden" must be a list of layer widths');
  if (!isObj(train.optimizer) || typeof train.optimizer.name !== 'string') {
    throw new Error('"train.optimizer" must be {"name", "hyper"}');
  }
  if (!isObj(train.optimizer.hyper)) train.optimizer.hyper = {};
  const lr = out.lr;
  if (!Array.isArray(lr.lrs)) throw new Error('"lr.lrs" must be a list of learning rates');
  if (!isObj(lr.hyper)) lr.hyper = {};
  if (!isObj(lr.params)) lr.params = {};
  const land = out.landscape;
  if (!Array.isArray(land.hidden)) throw new Error('"landscape.hidden" must be a list of layer widths');
  if (!Array.isArray(land.optimizers) || land.optimizers.length !== 2
    || !land.optimizers.every((o) => isObj(o) && typeof o.name === 'string')) {
    throw new Error('"landscape.optimizers" must be two {"name", "hyper"}');
  }
  land.optimizers = land.optimizers.map((o) => ({ name: o.name, hyper: isObj(o.hyper) ? { ...o.hyper } : {} }));
  return out;
}

export function readHash(hash = window.location.hash) {
  const m = /^#?state=(.+)$/.exec(hash || '');
  if (!m) return null;
  return decodeState(decodeURIComponent(m[1]));
}

export function stateUrl(state) {
  const url = new URL(window.location.href);
  url.hash = `state=${encodeState(state)}`;
  return url.toString();
}

export function writeHash(state) {
  const hash = `#state=${encodeState(state)}`;
  if (window.location.hash !== hash) history.replaceState(null, '', hash);
}

export function clone(v) {
  return JSON.parse(JSON.stringify(v));
}

// Errors shown next to the control that caused them.
//
// Every control that sends a value is a "field host": an element with
// data-field="<path in its tab's config>", e.g. "optimizers[0].hyper.lr", "dropout",
// "schedule.params.step_size"; several paths may be given, separated by spaces
// ("landscape params"). A server error names the value it refused with a dotted path
// (`config.optimizers[0].hyper.lr`, `landscape`, `steps_per_frame`); the error goes to the
// host of the deepest path that equals the error's path or contains it (an error about
// `config.optimizers[0].hyper` goes to the optimizer's hyperparameter box, one about
// `config.hidden` to the layer editor). An error whose path matches no host is not
// placed here: the caller shows it in the banner.
//
// The message goes into a small role="alert" element inside the host (or into the host's
// `.field-error-slot`), the host's own inputs get aria-invalid="true" and point at the
// message with aria-describedby (a host without inputs of its own gets a red outline).
// It is cleared when a control inside the host is edited, when the tab's next request
// succeeds, or replaced by the next error of the same tab.

let nextId = 0;

/** 'config.optimizers[0].hyper.lr' -> ['optimizers', '[0]', 'hyper', 'lr'] */
export function fieldTokens(path) {
  const text = String(path || '').replace(/^config(?=$|[.[])\.?/, '');
  return text.match(/\[[^\]]*\]|[^.[\]]+/g) || [];
}

/** The field host of `field` under `root`: the deepest data-field path that is a prefix of it. */
export function findHost(root, field) {
  const want = fieldTokens(field);
  if (!root || !want.length) return null;
  let best = null;
  let bestLen = 0;
  for (const node of root.querySelectorAll('[data-field]')) {
    for (const alias of node.dataset.field.split(/\s+/).filter(Boolean)) {
      const t = fieldTokens(alias);
      if (t.length > bestLen && t.length <= want.length && t.every((x, i) => x === want[i])) {
        best = node;
        bestLen = t.length;
      }
    }
  }
  return best;
}

/** The host's own form inputs (not those of a nested host, not sliders). */
function ownInputs(host) {
  if (host.dataset.fieldMark === 'group') return [];
  return [...host.querySelectorAll('input, select, textarea')].filter((i) => i.type !== 'range'
    && !i.disabled && i.closest('[data-field]') === host);
}

function render(entry) {
  const { host } = entry;
  const slot = host.querySelector(':scope > .field-error-slot') || host;
  const id = `field-error-${++nextId}`;
  const box = document.createElement('div');
  box.className = 'field-error';
  box.id = id;
  box.setAttribute('role', 'alert');
  box.dataset.testid = 'field-error';
  box.dataset.errorFor = entry.field;
  box.textContent = entry.message; // the icon is drawn by CSS (::before), the text is the message
  slot.append(box);
  entry.box = box;
  const inputs = ownInputs(host);
  entry.inputs = inputs;
  for (const input of inputs) {
    input.setAttribute('aria-invalid', 'true');
    const ids = (input.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
    input.setAttribute('aria-describedby', [...ids, id].join(' '));
  }
  host.classList.add('has-field-error');
  if (!inputs.length) host.classList.add('field-invalid-group');
  // a hyperparameter under a closed "more" is shown
  for (let d = host.parentElement?.closest('details'); d; d = d.parentElement?.closest('details')) d.open = true;
  if (host.offsetParent !== null) box.scrollIntoView({ block: 'nearest' });
}

function unrender(entry) {
  const { host, box } = entry;
  if (box) box.remove();
  for (const input of entry.inputs || []) {
    input.removeAttribute('aria-invalid');
    const ids = (input.getAttribute('aria-describedby') || '').split(/\s+/)
      .filter((x) => x && x !== box?.id);
    if (ids.length) input.setAttribute('aria-describedby', ids.join(' '));
    else input.removeAttribute('aria-describedby');
  }
  if (host) host.classList.remove('has-field-error', 'field-invalid-group');
  entry.box = null;
  entry.inputs = [];
}

/**
 * The errors of the tabs, each next to its control.
 * panelOf(tab) -> the tab's root element.
 */
export function createFieldErrors(panelOf) {
  const byTab = new Map(); // tab -> [{field, message, local, host, box, inputs}]
  const list = (tab) => {
    if (!byTab.has(tab)) byTab.set(tab, []);
    return byTab.get(tab);
  };

  function remove(tab, pred) {
    const keep = [];
    for (const e of list(tab)) {
      if (pred(e)) unrender(e);
      else keep.push(e);
    }
    byTab.set(tab, keep);
  }

  function add(tab, entry) {
    remove(tab, (e) => e.host === entry.host || (!entry.local && !e.local));
    list(tab).push(entry);
    render(entry);
  }

  return {
    /** A refused value: returns false when `field` names no control of the tab. */
    show(tab, field, message) {
      const host = findHost(panelOf(tab), field);
      if (!host) return false;
      add(tab, { field, message, local: false, host });
      return true;
    },

    /** A value the page itself refused (e.g. text in a number box), shown on `host`. */
    showLocal(tab, host, message) {
      add(tab, { field: host.dataset.field.split(/\s+/)[0], message, local: true, host });
    },

    /** The tab's last request succeeded: its server errors are gone. */
    succeeded(tab) {
      remove(tab, (e) => !e.local);
    },

    /** A control was edited: the errors of its host (or of a host around it) are gone. */
    edited(tab, target) {
      remove(tab, (e) => e.host.contains(target));
    },

    /** The tab's controls were rebuilt: the server errors move to the new controls. */
    rebuilt(tab) {
      const old = list(tab);
      byTab.set(tab, []);
      for (const e of old) {
        if (e.local) continue; // the rebuilt box shows the state's value again
        const host = findHost(panelOf(tab), e.field);
        if (host) add(tab, { field: e.field, message: e.message, local: false, host });
      }
    },

    clear(tab) {
      remove(tab, () => true);
    },

    /** [{field, message, local}] shown in the tab (for tests and the debug hook). */
    current(tab) {
      return list(tab).map(({ field, message, local }) => ({ field, message, local }));
    },
  };
}

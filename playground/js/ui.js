// Shared pieces of the console's pages: states, forms, dialogs, tables, dates.

import { h, replace, uid } from './dom.js';
import { NOT_SERVED_YET, isServed } from './graphql.js';
import { icon } from './icons.js';

// ---------------------------------------------------------------- formatting

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });

export function formatDateTime(iso) {
  return iso ? dateTime.format(new Date(iso)) : '—';
}

export function formatTime(iso) {
  return iso ? timeOnly.format(new Date(iso)) : '—';
}

/** A <time> element showing a date and time, with the exact instant as its title. */
export function time(iso, empty = 'Never') {
  if (!iso) return h('span', { class: 'muted', text: empty });
  return h('time', { datetime: iso, title: iso, text: formatDateTime(iso) });
}

export function formatCents(cents) {
  if (cents === null || cents === undefined) return '—';
  return new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD' }).format(cents / 100);
}

export function formatDuration(seconds) {
  const m = Math.floor(seconds / 60);
  const s = String(seconds % 60).padStart(2, '0');
  return `${m}:${s}`;
}

/** 'INVITATION_SENT' → 'Invitation sent'. */
export function humanize(constant) {
  if (!constant) return '';
  const words = String(constant).toLowerCase().replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

// ---------------------------------------------------------------- badges

const TONES = {
  ADMIN: 'violet', SUPERVISOR: 'blue', CUSTOMER: 'gray',
  ACTIVE: 'green', INVITED: 'amber', DISCARDED: 'red', SUSPENDED: 'amber', ARCHIVED: 'gray',
};

export function badge(text, tone = 'gray') {
  return h('span', { class: `badge badge-${tone}`, text });
}

export function enumBadge(value) {
  return badge(humanize(value), TONES[value] ?? 'gray');
}

// ---------------------------------------------------------------- page states

export function pageHeader(title, { subtitle = null, actions = [], back = null } = {}) {
  return h('header', { class: 'page-header' },
    back && h('a', { class: 'back-link', href: back.href }, '← ', back.label),
    h('div', { class: 'page-header-row' },
      h('div', { class: 'page-title' },
        h('h1', { tabindex: '-1', text: title }),
        subtitle && h('p', { class: 'page-subtitle' }, subtitle)),
      actions.length > 0 && h('div', { class: 'page-actions' }, actions)));
}

export function loading(text = 'Loading…') {
  return h('div', { class: 'state state-loading', role: 'status' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', { text }));
}

/** The API's message in an alert; the "waiting for the API" panel for staged operations. */
export function errorState(error) {
  if (error?.code === NOT_SERVED_YET) return notServedYet(error.operation);
  return h('div', { class: 'alert alert-error', role: 'alert' },
    h('strong', { text: 'Something went wrong. ' }),
    h('span', { text: error?.message || 'Please try again.' }));
}

export function notServedYet(operation) {
  return h('div', { class: 'state state-pending', role: 'status' },
    h('div', { class: 'state-icon', 'aria-hidden': 'true' }, icon('clock', { size: 22 })),
    h('h2', { text: 'Coming with the next API release' }),
    h('p', {},
      'This part of the console is ready, but the server does not offer ',
      h('code', { text: operation || 'this operation' }), ' yet.'));
}

/**
 * `render()` when the server serves every operation in `operations`, else the "waiting for the
 * API" panel naming the first one missing. For forms, so nobody fills one in for nothing.
 */
export function whenServed(operations, render) {
  const slot = h('div', {}, loading());
  Promise.all(operations.map((name) => isServed(name))).then((served) => {
    const missing = operations.find((_, i) => !served[i]);
    replace(slot, missing ? notServedYet(missing) : render());
  });
  return slot;
}

export function emptyState(text) {
  return h('div', { class: 'state state-empty' }, h('p', { text }));
}

/**
 * Renders `load()`'s result into `container`: a loading state first, then `render(data)`, or the
 * error state. Returns a function that loads again.
 */
export function loadInto(container, load, render) {
  const run = async () => {
    replace(container, loading());
    container.setAttribute('aria-busy', 'true');
    try {
      const data = await load();
      replace(container, render(data));
    } catch (error) {
      replace(container, errorState(error));
    } finally {
      container.removeAttribute('aria-busy');
    }
  };
  run();
  return run;
}

// ---------------------------------------------------------------- toasts

let toastRegion = null;
export function toast(message, tone = 'success') {
  if (!toastRegion || !toastRegion.isConnected) {
    toastRegion = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastRegion);
  }
  const item = h('div', { class: `toast toast-${tone}`, text: message });
  toastRegion.append(item);
  setTimeout(() => item.remove(), 5000);
}

// ---------------------------------------------------------------- forms

/**
 * A labelled input. `type` 'select' takes `options: [[value, label], …]`; 'textarea' a
 * multi-line input; 'checkbox' a checkbox with its label beside it.
 */
export function field({ label, name, type = 'text', value = '', required = false, options = [],
  hint = null, autocomplete = null, placeholder = null, inputmode = null, minlength = null,
  pattern = null, rows = null, autofocus = false }) {
  const id = uid(name);
  const hintId = hint ? `${id}-hint` : null;
  const common = {
    id, name, required, autocomplete, placeholder, inputmode, minlength, pattern, autofocus,
    'aria-describedby': hintId,
  };
  let control;
  if (type === 'select') {
    control = h('select', common, options.map(([v, l]) =>
      h('option', { value: v, selected: String(v) === String(value ?? '') }, l)));
  } else if (type === 'textarea') {
    control = h('textarea', { ...common, rows: rows ?? 6 });
    control.value = value ?? '';
  } else if (type === 'checkbox') {
    control = h('input', { ...common, type: 'checkbox', checked: Boolean(value) });
    return h('div', { class: 'field field-checkbox' },
      control, h('label', { for: id, text: label }),
      hint && h('p', { class: 'hint', id: hintId, text: hint }));
  } else {
    control = h('input', { ...common, type, value: value ?? '' });
  }
  return h('div', { class: 'field' },
    h('label', { for: id }, label, required && h('span', { class: 'required', 'aria-hidden': 'true', text: ' *' })),
    control,
    hint && h('p', { class: 'hint', id: hintId, text: hint }));
}

export const ROLE_OPTIONS = [['ADMIN', 'Admin'], ['SUPERVISOR', 'Supervisor'], ['CUSTOMER', 'Customer']];
export const STATUS_OPTIONS = [['INVITED', 'Invited'], ['ACTIVE', 'Active'], ['DISCARDED', 'Discarded']];

export function button(label, { kind = 'secondary', type = 'button', onClick = null, ...rest } = {}) {
  return h('button', { class: `btn btn-${kind}`, type, onClick, ...rest }, label);
}

/**
 * Wires a form: on submit, disables it, runs `action(values)` and shows the API's message in
 * the form's alert when it fails (and marks the input the error names, when there is one).
 */
export function handleSubmit(form, action) {
  const alert = h('div', { class: 'form-alert', role: 'alert', hidden: true });
  // Above the inputs, below the form's heading and introduction when it has them.
  const firstInputs = [...form.children].find((c) => c.matches('.field, fieldset') || c.querySelector('.field'));
  if (firstInputs) firstInputs.before(alert);
  else form.prepend(alert);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    alert.hidden = true;
    form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
    const submit = form.querySelector('[type=submit]');
    const fieldset = form.querySelector('fieldset');
    form.setAttribute('aria-busy', 'true');
    if (submit) submit.disabled = true;
    if (fieldset) fieldset.disabled = true;
    try {
      await action(formValues(form));
    } catch (error) {
      replace(alert, errorText(error));
      alert.hidden = false;
      const input = error?.field && form.querySelector(`[name="${CSS.escape(error.field)}"]`);
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      } else {
        alert.setAttribute('tabindex', '-1');
        alert.focus();
      }
    } finally {
      form.removeAttribute('aria-busy');
      if (submit) submit.disabled = false;
      if (fieldset) fieldset.disabled = false;
    }
  });
  return form;
}

function errorText(error) {
  if (error?.code === NOT_SERVED_YET) {
    return `Not available yet: the server does not offer ${error.operation} yet.`;
  }
  return error?.message || 'Something went wrong. Please try again.';
}

export function formValues(form) {
  const values = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === 'checkbox') values[el.name] = el.checked;
    else values[el.name] = el.value;
  }
  return values;
}

/** Runs `action` with `btn` disabled; shows failures as a toast. */
export async function busy(btn, action) {
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  try {
    return await action();
  } catch (error) {
    toast(errorText(error), 'error');
    return undefined;
  } finally {
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

// ---------------------------------------------------------------- dialogs

/**
 * A modal confirmation. Resolves to null when cancelled, else to the entered `reason` ('' when
 * no reason is asked for). With `reason`, the confirm button stays disabled until one is typed.
 */
export function confirmDialog({ title, body, confirmLabel, danger = false, reason = null, password = null }) {
  return new Promise((resolve) => {
    const titleId = uid('dialog-title');
    const reasonField = reason && field({
      label: reason.label, name: 'reason', type: 'textarea', rows: 3, required: true,
      hint: reason.hint, placeholder: reason.placeholder,
    });
    // Step-up: the API asks for the person's own password again for some operations.
    const passwordField = password && field({
      label: password.label, name: 'password', type: 'password', required: true,
      autocomplete: 'current-password', hint: password.hint,
    });
    const confirm = button(confirmLabel, { kind: danger ? 'danger' : 'primary', type: 'submit' });
    const cancel = button('Cancel', { kind: 'secondary', value: 'cancel' });
    const form = h('form', { method: 'dialog', class: 'dialog-body' },
      h('h2', { id: titleId, text: title }),
      typeof body === 'string' ? h('p', { text: body }) : body,
      reasonField,
      passwordField,
      h('div', { class: 'dialog-actions' }, cancel, confirm));
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId }, form);
    let result = null;
    const textarea = form.querySelector('textarea');
    const secret = form.querySelector('input[type="password"]');
    const ready = () => (!textarea || textarea.value.trim() !== '') && (!secret || secret.value !== '');
    if (textarea || secret) {
      confirm.disabled = true;
      for (const input of [textarea, secret]) input?.addEventListener('input', () => { confirm.disabled = !ready(); });
    }
    cancel.addEventListener('click', () => dialog.close());
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!ready()) return;
      const text = textarea ? textarea.value.trim() : '';
      // With a password field the result carries both; otherwise the reason alone, as before.
      result = secret ? { reason: text, password: secret.value } : text;
      dialog.close();
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    (textarea ?? secret ?? cancel).focus();
  });
}

// ---------------------------------------------------------------- tables and paging

/**
 * A table. `columns: [{ label, render(row) → node|string, class }]`. On narrow screens each row
 * becomes a card, labelled by `data-label`.
 */
export function table(columns, rows, { caption = null, empty = 'Nothing here yet.' } = {}) {
  if (rows.length === 0) return emptyState(empty);
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'table' },
      caption && h('caption', { class: 'visually-hidden', text: caption }),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.class, text: c.label })))),
      h('tbody', {}, rows.map((row) => h('tr', {},
        columns.map((c) => h('td', { class: c.class, 'data-label': c.label }, c.render(row))))))));
}

/**
 * Cursor paging (Relay). Keeps the cursors of earlier pages so "Previous" works; `onPage(after)`
 * loads a page. Shows "of N" when the connection was asked for its totalCount.
 */
export class Pager {
  constructor(onPage) {
    this.onPage = onPage;
    this.stack = [];
    this.after = null;
  }

  reset() {
    this.stack = [];
    this.after = null;
  }

  render({ pageInfo, totalCount }, shown) {
    const first = this.stack.length * PAGE_SIZE + (shown ? 1 : 0);
    const last = this.stack.length * PAGE_SIZE + shown;
    const prev = button('Previous', {
      disabled: this.stack.length === 0,
      onClick: () => { this.after = this.stack.pop() ?? null; this.onPage(this.after); },
    });
    const next = button('Next', {
      disabled: !pageInfo.hasNextPage,
      onClick: () => { this.stack.push(this.after); this.after = pageInfo.endCursor; this.onPage(this.after); },
    });
    return h('nav', { class: 'pager', 'aria-label': 'Pages' },
      h('span', { class: 'muted', text: totalCount === undefined ? `${first}–${last}` : `${first}–${last} of ${totalCount}` }),
      h('div', { class: 'pager-buttons' }, prev, next));
  }
}

export const PAGE_SIZE = 25;

// ---------------------------------------------------------------- cards

export function card(title, ...children) {
  return h('section', { class: 'card' },
    title && h('h2', { class: 'card-title', text: title }),
    children);
}

/** A definition list of [label, value] pairs. */
export function details(pairs) {
  return h('dl', { class: 'details' },
    pairs.filter(Boolean).map(([label, value]) => h('div', { class: 'details-row' },
      h('dt', { text: label }), h('dd', {}, value ?? '—'))));
}

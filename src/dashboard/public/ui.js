// Small UI pieces shared by the screens: role-aware write controls, formatting, state pills, errors.
import { ApiError } from './api.js';
import { h } from './dom.js';
import { getLang, t } from './i18n.js';

/** Who is signed in. `canWrite` is false for viewers (the API refuses their changes anyway). */
export const who = { role: 'viewer', canWrite: false, label: '', pageName: '' };

/**
 * A button that changes something: disabled (and marked read-only) for viewers.
 * @param {string} text
 * @param {(ev: Event) => unknown} onClick
 * @param {{ class?: string, title?: string }} [opts]
 */
export function writeButton(text, onClick, opts = {}) {
  const b = h('button', {
    type: 'button',
    class: opts.class,
    text,
    dataset: { write: '' },
    disabled: !who.canWrite,
    title: who.canWrite ? opts.title : t('common.readOnly'),
    onclick: onClick,
  });
  return b;
}

/**
 * A form that changes something: viewers do not see it (and every control of it is disabled).
 * @param {HTMLFormElement} form
 */
export function writeForm(form) {
  form.dataset.write = '';
  if (!who.canWrite) {
    form.hidden = true;
    for (const el of form.querySelectorAll('button, input, select, textarea')) {
      /** @type {HTMLButtonElement} */ (el).disabled = true;
    }
  }
  return form;
}

/**
 * @param {number} amount minor units
 * @param {string} [currency]
 */
export function money(amount, currency = 'EUR') {
  try {
    return new Intl.NumberFormat(getLang(), { style: 'currency', currency }).format(amount / 100);
  } catch {
    return `${(amount / 100).toFixed(2)} ${currency}`;
  }
}

/** @param {number} n */
export function num(n) {
  return new Intl.NumberFormat(getLang()).format(n);
}

/** @param {string | number | Date | null | undefined} d */
export function dateTime(d) {
  if (d === null || d === undefined || d === '') return '—';
  const date = new Date(d);
  if (Number.isNaN(date.getTime())) return '—';
  return new Intl.DateTimeFormat(getLang(), { dateStyle: 'short', timeStyle: 'short' }).format(date);
}

/**
 * "2d 03:14:05" until `deadline` (or "expired").
 * @param {string | Date} deadline
 * @param {number} [now]
 */
export function countdown(deadline, now = Date.now()) {
  let s = Math.floor((new Date(deadline).getTime() - now) / 1000);
  if (!(s > 0)) return t('campaigns.expired');
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hh = String(Math.floor(s / 3600)).padStart(2, '0');
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return d > 0 ? `${t('campaigns.days', { n: d })} ${hh}:${mm}:${ss}` : `${hh}:${mm}:${ss}`;
}

/** An element whose text counts down to `deadline` (the app ticks every `[data-deadline]` once a second). */
export function countdownEl(/** @type {string | Date} */ deadline) {
  return h('span', {
    class: 'countdown mono',
    dataset: { deadline: new Date(deadline).toISOString() },
    text: countdown(deadline),
  });
}

/** @param {string} state @param {string} [group] i18n group of state names */
export function pill(state, group = 'state') {
  return h('span', { class: 'pill', dataset: { state }, text: t(`${group}.${state}`, {}, state) });
}

/** What to tell the manager about a failed call. @param {unknown} err */
export function errorText(err) {
  if (err instanceof ApiError) {
    const known = t(`errors.${err.code}`, {}, '');
    return known ? `${known} (${err.message})` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs `fn` with the button disabled, reporting the outcome on `status`.
 * @param {HTMLButtonElement | null} button
 * @param {{ set: (text: string, kind?: 'ok'|'error'|'info') => void }} status
 * @param {() => Promise<string | void>} fn  returns the success message
 */
export async function act(button, status, fn) {
  if (button) button.disabled = true;
  status.set(t('common.working'));
  try {
    const msg = await fn();
    status.set(msg || t('common.done'), 'ok');
  } catch (err) {
    status.set(errorText(err), 'error');
  } finally {
    if (button) button.disabled = !who.canWrite;
  }
}

/**
 * A figure card for the overview.
 * @param {string} label
 * @param {string | number} figure
 * @param {{ level?: 'ok'|'warn'|'bad', note?: string, id?: string }} [opts]
 */
export function card(label, figure, opts = {}) {
  return h(
    'div',
    { class: 'card', dataset: { level: opts.level ?? '' }, id: opts.id },
    h('span', { class: 'muted', text: label }),
    h('span', { class: 'figure', text: typeof figure === 'number' ? num(figure) : figure }),
    opts.note ? h('small', { text: opts.note }) : null,
  );
}

/** Parses "19,90" / "19.90" / "19" into cents (NaN when it is not a price). @param {string} text */
export function parseCents(text) {
  const m = /^\s*(\d{1,7})(?:[.,](\d{1,2}))?\s*$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0'));
}

/** A canvas inside a sized box (chart.js needs a positioned parent). @param {string} label @param {string} [cls] */
export function chartBox(label, cls = 'chart') {
  const canvas = /** @type {HTMLCanvasElement} */ (h('canvas', { role: 'img', 'aria-label': label }));
  return { box: h('div', { class: cls }, canvas), canvas };
}

/** The name a fan is shown by. @param {{firstName?: string|null, lastName?: string|null, psid: string}} f */
export function fanName(f) {
  const n = [f.firstName, f.lastName].filter(Boolean).join(' ');
  return n || f.psid;
}

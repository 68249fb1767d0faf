// DOM helpers for the dashboard. Every value reaches the page as a text node or a property:
// there is no innerHTML anywhere in this app, so a product called `<script>` stays text.

/** @typedef {Node | string | number | null | undefined | false} Child */
/** @typedef {Record<string, unknown>} Attrs */

/**
 * Creates an element. `attrs`: `class`, `text` (textContent), `on<event>` (listeners), `dataset`,
 * boolean/DOM properties (`disabled`, `hidden`, `value`, `checked`…); anything else is an attribute.
 * @param {string} tag
 * @param {Attrs | null} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = String(value);
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), /** @type {EventListener} */ (value));
    } else if (key === 'style' || key === 'innerHTML' || key === 'outerHTML' || key === 'srcdoc') {
      throw new Error(`h(): ${key} is not allowed`);
    } else if (key in el && typeof value !== 'string') {
      /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (el))[key] = value;
    } else if (key === 'value' || key === 'checked' || key === 'disabled' || key === 'hidden') {
      /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (el))[key] = value;
    } else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/**
 * @param {Element} el
 * @param {(Child | Child[])[]} children
 */
export function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/**
 * Replaces the children of `el`.
 * @param {Element} el
 * @param {...(Child | Child[])} children
 */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * A table from column definitions. Cells are text unless the column returns a Node.
 * @template T
 * @param {{ label: string, cell: (row: T) => Child | Child[], class?: string }[]} columns
 * @param {T[]} rows
 * @param {{ empty?: string, rowClass?: (row: T) => string }} [opts]
 */
export function table(columns, rows, opts = {}) {
  const head = h(
    'tr',
    null,
    columns.map((c) => h('th', { scope: 'col', class: c.class, text: c.label })),
  );
  const body = rows.map((row) =>
    h(
      'tr',
      { class: opts.rowClass?.(row) },
      columns.map((c) => {
        const td = h('td', { class: c.class });
        const v = c.cell(row);
        append(td, Array.isArray(v) ? v : [v]);
        return td;
      }),
    ),
  );
  if (rows.length === 0 && opts.empty) {
    body.push(h('tr', null, h('td', { colspan: columns.length, class: 'empty', text: opts.empty })));
  }
  return h('table', { class: 'data' }, h('thead', null, head), h('tbody', null, body));
}

/**
 * A labelled form field.
 * @param {string} label
 * @param {HTMLElement} control
 * @param {string} [hint]
 */
export function field(label, control, hint) {
  return h(
    'label',
    { class: 'field' },
    h('span', { text: label }),
    control,
    hint ? h('small', { text: hint }) : null,
  );
}

/**
 * A status line that says what happened (role=status, so screen readers hear it).
 * @param {string} [cls]
 */
export function statusLine(cls = 'status') {
  const el = h('p', { class: cls, role: 'status', 'aria-live': 'polite' });
  return {
    el,
    /** @param {string} text @param {'ok'|'error'|'info'} [kind] */
    set(text, kind = 'info') {
      el.textContent = text;
      el.dataset.kind = kind;
    },
    clear() {
      el.textContent = '';
      delete el.dataset.kind;
    },
  };
}

// Catalogue: products (search, active toggle) and importing a file with its per-line report.
import { api, qs } from './api.js';
import { field, fill, h, statusLine, table } from './dom.js';
import { getLang, t } from './i18n.js';
import { act, dateTime, errorText, money, num, who, writeButton, writeForm } from './ui.js';

/** The import endpoint's limit on the file's text. */
const MAX_IMPORT_CHARS = 30_000;

/** @param {HTMLElement} root */
export async function render(root) {
  const status = statusLine();
  const listEl = h('div', { id: 'product-list' });
  const more = h('div');
  const q = /** @type {HTMLInputElement} */ (
    h('input', { type: 'search', id: 'product-q', placeholder: t('catalogue.search') })
  );
  const search = h(
    'form',
    {
      class: 'inline',
      onsubmit: (/** @type {Event} */ e) => {
        e.preventDefault();
        void load();
      },
    },
    q,
    h('button', { type: 'submit', text: t('common.search') }),
  );

  /** @param {any} p */
  const toggle = (p) => {
    const b = writeButton(p.active ? t('catalogue.deactivate') : t('catalogue.activate'), () =>
      act(b, status, async () => {
        await api('PATCH', `/products/${encodeURIComponent(p.sku)}`, { active: !p.active });
        await load();
        return t('common.saved');
      }),
    );
    return b;
  };

  /** @type {any[]} */
  let rows = [];
  /** @param {string | null} [cursor] */
  async function load(cursor = null) {
    const page = await api('GET', `/products${qs({ q: q.value.trim(), limit: 50, cursor })}`);
    rows = cursor ? [...rows, ...page.items] : page.items;
    fill(
      listEl,
      table(
        [
          { label: 'SKU', cell: (p) => h('span', { class: 'mono', text: p.sku }) },
          {
            label: t('catalogue.product'),
            cell: (p) => h('span', { class: 'product-title', text: p.title[getLang()] || p.title.it }),
          },
          { label: t('catalogue.category'), cell: (p) => p.category.name[getLang()] || p.category.name.it },
          { label: t('catalogue.price'), class: 'num', cell: (p) => money(p.price.amount, p.price.currency) },
          {
            label: t('catalogue.stock'),
            class: 'num',
            cell: (p) =>
              num(p.variants.reduce((/** @type {number} */ a, /** @type {any} */ v) => a + v.stock, 0)),
          },
          { label: t('catalogue.variants'), class: 'num', cell: (p) => num(p.variants.length) },
          { label: t('catalogue.active'), cell: (p) => (p.active ? t('common.yes') : t('common.no')) },
          { label: t('catalogue.updated'), cell: (p) => dateTime(p.updatedAt) },
          { label: '', cell: (p) => toggle(p) },
        ],
        rows,
        { empty: t('catalogue.none') },
      ),
    );
    fill(
      more,
      page.nextCursor
        ? h('button', { type: 'button', text: t('common.more'), onclick: () => void load(page.nextCursor) })
        : null,
    );
  }

  fill(
    root,
    h('h1', { text: t('catalogue.title') }),
    importPanel(() => load()),
    h('h2', { text: t('catalogue.products') }),
    search,
    status.el,
    listEl,
    more,
  );
  await load().catch((err) => status.set(errorText(err), 'error'));
}

/** File input → read as text → POST /products/import → the report. @param {() => Promise<void>} reload */
function importPanel(reload) {
  const status = statusLine();
  const file = /** @type {HTMLInputElement} */ (
    h('input', {
      type: 'file',
      id: 'import-file',
      accept: '.csv,.json,text/csv,application/json',
      required: true,
    })
  );
  const dry = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: 'import-dry' }));
  const progress = /** @type {HTMLProgressElement} */ (
    h('progress', { id: 'import-progress', hidden: true, max: 100 })
  );
  const report = h('div', { id: 'import-report' });
  const submit = h('button', {
    type: 'submit',
    class: 'primary',
    id: 'import-submit',
    text: t('catalogue.import'),
  });

  /** @param {File} f @returns {Promise<string>} */
  const readText = (f) =>
    new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onprogress = (e) => {
        if (e.lengthComputable) progress.value = Math.round((e.loaded / e.total) * 40);
      };
      r.onload = () => resolve(String(r.result ?? ''));
      r.onerror = () => reject(r.error ?? new Error('read failed'));
      r.readAsText(f);
    });

  const form = /** @type {HTMLFormElement} */ (
    h(
      'form',
      {
        class: 'inline',
        id: 'import-form',
        onsubmit: (/** @type {Event} */ ev) => {
          ev.preventDefault();
          const f = file.files?.[0];
          if (!f) return;
          void act(/** @type {HTMLButtonElement} */ (submit), status, async () => {
            fill(report);
            progress.hidden = false;
            progress.value = 0;
            try {
              const content = await readText(f);
              if (content.length > MAX_IMPORT_CHARS)
                throw new Error(t('catalogue.tooBig', { max: num(MAX_IMPORT_CHARS) }));
              const format = /\.json$/i.test(f.name) || /^\s*[[{]/.test(content) ? 'json' : 'csv';
              progress.value = 50;
              progress.removeAttribute('value'); // indeterminate while the server imports
              const r = await api('POST', '/products/import', { format, content, dryRun: dry.checked });
              progress.value = 100;
              showReport(report, r);
              if (!r.dryRun) await reload();
              return r.rejected > 0 ? t('catalogue.seeReport') : t('common.done'); // the figures are in the report
            } finally {
              progress.hidden = true;
            }
          });
        },
      },
      field(t('catalogue.file'), file, t('catalogue.fileHint')),
      h('label', { class: 'field check' }, dry, h('span', { text: t('catalogue.dryRun') })),
      submit,
    )
  );
  return h(
    'div',
    { class: 'panel', hidden: !who.canWrite },
    h('h2', { text: t('catalogue.importTitle') }),
    writeForm(form),
    progress,
    status.el,
    report,
  );
}

/** @param {HTMLElement} el @param {any} r */
function showReport(el, r) {
  fill(
    el,
    h('p', {
      class: 'import-summary',
      text: `${r.dryRun ? `${t('catalogue.dryRun')} · ` : ''}${t('catalogue.imported', { created: r.created, updated: r.updated, unchanged: r.unchanged, rejected: r.rejected })}`,
    }),
    r.issues.length
      ? table(
          [
            { label: t('catalogue.line'), class: 'num', cell: (i) => num(i.line) },
            { label: 'SKU', cell: (i) => h('span', { class: 'mono', text: i.sku ?? '—' }) },
            {
              label: t('catalogue.reasons'),
              cell: (i) =>
                h(
                  'ul',
                  null,
                  i.reasons.map((/** @type {string} */ x) => h('li', { text: x })),
                ),
            },
          ],
          r.issues,
        )
      : null,
    r.issuesTruncated ? h('p', { class: 'muted', text: t('catalogue.truncated') }) : null,
  );
}

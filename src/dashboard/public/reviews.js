// Reviews: verified buyers' ratings per product (average, count, distribution) and the review list;
// managers hide an abusive text or show it again (the API audits both; the stars always count).
import { api, qs } from './api.js';
import { barChart } from './charts.js';
import { fill, h, statusLine, table } from './dom.js';
import { t } from './i18n.js';
import { act, chartBox, dateTime, num, who } from './ui.js';

/**
 * @typedef {{ id: string, productSku: string, stars: number, text: string, hidden: boolean, hiddenReason: string | null, createdAt: string }} Review
 * @typedef {{ productSku: string, count: number, average: number | null, distribution: Record<string, number>, buyers: number }} Summary
 */

/** @param {number} n */
const stars = (n) => '★'.repeat(n) + '☆'.repeat(Math.max(0, 5 - n));

/** @param {Summary} s */
function summaryPanel(s) {
  const chart = chartBox(`${t('reviews.distribution')} ${s.productSku}`, 'chart small');
  const el = h(
    'article',
    { class: 'panel review-summary', dataset: { sku: s.productSku } },
    h('h3', { class: 'mono', text: s.productSku }),
    h(
      'p',
      null,
      h('span', {
        text: `${t('reviews.average')}: ${s.average === null ? '—' : s.average.toFixed(1)} · ${t('reviews.count')}: ${num(s.count)} · ${t('reviews.buyers')}: ${num(s.buyers)}`,
      }),
    ),
    chart.box,
  );
  const keys = ['1', '2', '3', '4', '5'];
  void barChart(
    chart.canvas,
    keys.map((k) => `${k}★`),
    keys.map((k) => s.distribution[k] ?? 0),
    { label: t('reviews.count') },
  );
  return el;
}

/** @param {HTMLElement} root @param {string[]} _params @param {import('./app.js').ScreenCtx} ctx */
export async function render(root, _params, ctx) {
  const summaries = h('div', { class: 'review-summaries' });
  const listEl = h('div');
  const status = statusLine();
  fill(
    root,
    h('h2', { text: t('reviews.title') }),
    h('h3', { text: t('reviews.summary') }),
    summaries,
    h('h3', { text: t('reviews.title') }),
    status.el,
    listEl,
  );
  const page = /** @type {{ items: Review[] }} */ (await api('GET', `/reviews${qs({ limit: 200 })}`));
  const skus = [...new Set(page.items.map((r) => r.productSku))];
  const rows = await Promise.all(
    skus.map(
      (sku) => /** @type {Promise<Summary>} */ (api('GET', `/reviews/products/${encodeURIComponent(sku)}`)),
    ),
  );
  fill(
    summaries,
    rows.length ? rows.map(summaryPanel) : h('p', { class: 'empty', text: t('reviews.noProducts') }),
  );
  /** @type {{ label: string, class?: string, cell: (r: Review) => unknown }[]} */
  const columns = [
    { label: t('reviews.date'), cell: (r) => dateTime(r.createdAt) },
    { label: t('reviews.product'), class: 'mono', cell: (r) => r.productSku },
    { label: t('reviews.stars'), cell: (r) => h('span', { title: String(r.stars), text: stars(r.stars) }) },
    { label: t('reviews.text'), cell: (r) => r.text },
    {
      label: t('reviews.status'),
      cell: (r) =>
        r.hidden
          ? `${t('reviews.hiddenState')}${r.hiddenReason ? ` (${r.hiddenReason})` : ''}`
          : t('reviews.visible'),
    },
  ];
  if (who.canWrite) {
    columns.push({
      label: '',
      cell: (r) => {
        const b = /** @type {HTMLButtonElement} */ (
          h('button', {
            type: 'button',
            text: r.hidden ? t('reviews.unhide') : t('reviews.hide'),
            dataset: { write: '', action: r.hidden ? 'unhide' : 'hide' },
            onclick: () => {
              if (r.hidden)
                return act(b, status, async () => {
                  await api('POST', `/reviews/${r.id}/unhide`);
                  ctx.rerender();
                  return t('reviews.shown');
                });
              const reason = prompt(t('reviews.hideReason'))?.trim();
              if (!reason) return;
              return act(b, status, async () => {
                await api('POST', `/reviews/${r.id}/hide`, { reason });
                ctx.rerender();
                return t('reviews.hidden');
              });
            },
          })
        );
        return b;
      },
    });
  }
  fill(
    listEl,
    table(columns, page.items, { empty: t('reviews.empty'), rowClass: (r) => (r.hidden ? 'muted' : '') }),
  );
}

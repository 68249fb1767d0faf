// Proposals (co-design): fans vote on what gets made. Standings, votes over time and by language;
// managers publish drafts and close votes (viewers see no such button).
import { api, qs } from './api.js';
import { barChart, loadChart } from './charts.js';
import { fill, h, statusLine, table } from './dom.js';
import { getLang, t } from './i18n.js';
import { act, chartBox, countdownEl, dateTime, num, pill, who } from './ui.js';

/**
 * @typedef {{ id: string, texts: { it: string, en: string }, tally: number }} Option
 * @typedef {{ id: string, code: string, state: string, options: Option[], texts: Record<'it'|'en', { title: string, description: string }>,
 *   deadline: string, threshold: number, winnerOptionId: string | null, totalVotes: number }} Proposal
 */

/** @param {Option} o */
function optionName(o) {
  return o.texts[/** @type {'it'|'en'} */ (getLang())] || o.id;
}

/**
 * A line chart of votes per time bucket.
 * @param {HTMLCanvasElement} canvas
 * @param {string[]} labels
 * @param {number[]} values
 */
async function lineChart(canvas, labels, values) {
  const Chart = await loadChart();
  if (!Chart || !canvas.isConnected) return;
  Chart.getChart(canvas)?.destroy();
  new Chart(canvas, {
    type: 'line',
    data: {
      labels,
      datasets: [{ label: t('proposals.votes'), data: values, borderColor: '#2563eb', tension: 0.2 }],
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
}

/**
 * @param {Proposal} p
 * @param {() => void} rerender
 */
function proposalCard(p, rerender) {
  const lang = /** @type {'it'|'en'} */ (getLang());
  const status = statusLine();
  const winner = p.options.find((o) => o.id === p.winnerOptionId);
  const tallies = chartBox(t('proposals.tallies'));
  const timeline = chartBox(t('proposals.timeline'));
  const byLocale = h('div', { class: 'by-locale' });
  const actions = [];
  if (who.canWrite && p.state === 'draft') {
    const b = /** @type {HTMLButtonElement} */ (
      h('button', {
        type: 'button',
        text: t('proposals.publish'),
        dataset: { write: '', action: 'publish' },
        onclick: () =>
          act(b, status, async () => {
            await api('POST', `/proposals/${p.id}/publish`);
            rerender();
            return t('proposals.published');
          }),
      })
    );
    actions.push(b);
  }
  if (who.canWrite && p.state === 'voting') {
    const b = /** @type {HTMLButtonElement} */ (
      h('button', {
        type: 'button',
        text: t('proposals.close'),
        dataset: { write: '', action: 'close' },
        onclick: () => {
          if (!confirm(t('proposals.confirmClose'))) return;
          return act(b, status, async () => {
            await api('POST', `/proposals/${p.id}/close`);
            rerender();
            return t('proposals.closed');
          });
        },
      })
    );
    actions.push(b);
  }
  const article = h(
    'article',
    { class: 'panel proposal', dataset: { proposal: p.code, state: p.state } },
    h('h3', null, h('span', { text: `${p.texts[lang]?.title || p.code} ` }), pill(p.state, 'proposalState')),
    h('p', { class: 'muted', text: p.texts[lang]?.description ?? '' }),
    h(
      'p',
      null,
      h('span', { class: 'mono', text: `${t('proposals.code')}: ${p.code} · ` }),
      h('span', { text: `${t('proposals.threshold', { n: num(p.threshold) })} · ` }),
      h('span', { text: `${t('proposals.deadline')}: ${dateTime(p.deadline)} ` }),
      p.state === 'voting' ? countdownEl(p.deadline) : null,
      winner ? h('strong', { text: ` · ${t('proposals.winner', { option: optionName(winner) })}` }) : null,
    ),
    table(
      [
        { label: t('proposals.option'), cell: (/** @type {Option} */ o) => optionName(o) },
        { label: t('proposals.votes'), class: 'num', cell: (/** @type {Option} */ o) => num(o.tally) },
      ],
      p.options,
      { rowClass: () => 'tally' },
    ),
    h('h4', { text: t('proposals.tallies') }),
    tallies.box,
    h('h4', { text: t('proposals.timeline') }),
    timeline.box,
    h('h4', { text: t('proposals.byLocale') }),
    byLocale,
    actions.length ? h('div', { class: 'actions' }, actions) : null,
    status.el,
  );
  void barChart(
    tallies.canvas,
    p.options.map(optionName),
    p.options.map((o) => o.tally),
    { label: t('proposals.votes') },
  );
  if (p.state !== 'draft') {
    void api('GET', `/proposals/${p.id}/votes/timeline${qs({ bucket: 'hour' })}`).then(
      (/** @type {{ items: { at: string, votes: number }[] }} */ r) =>
        lineChart(
          timeline.canvas,
          r.items.map((i) => dateTime(i.at)),
          r.items.map((i) => i.votes),
        ),
      () => {},
    );
    void api('GET', `/proposals/${p.id}/votes/segments`).then(
      (/** @type {{ byLocale: Record<string, Record<string, number>> }} */ s) => {
        const rows = Object.entries(s.byLocale);
        fill(
          byLocale,
          table(
            [
              {
                label: t('proposals.locale'),
                cell: (/** @type {[string, Record<string, number>]} */ r) => r[0],
              },
              ...p.options.map((o) => ({
                label: optionName(o),
                class: 'num',
                cell: (/** @type {[string, Record<string, number>]} */ r) => num(r[1][o.id] ?? 0),
              })),
            ],
            rows,
            { empty: t('proposals.noVotes') },
          ),
        );
      },
      () => {},
    );
  }
  return article;
}

/** @param {HTMLElement} root @param {string[]} _params @param {import('./app.js').ScreenCtx} ctx */
export async function render(root, _params, ctx) {
  const list = h('div', { class: 'proposals' });
  fill(root, h('h2', { text: t('proposals.title') }), list);
  const page = /** @type {{ items: Proposal[] }} */ (await api('GET', '/proposals?limit=50'));
  if (page.items.length === 0) {
    fill(list, h('p', { class: 'empty', text: t('proposals.empty') }));
    return;
  }
  fill(
    list,
    page.items.map((p) => proposalCard(p, ctx.rerender)),
  );
}

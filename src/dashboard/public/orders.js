// Orders: list by state, and moving an order along its lifecycle (the API's transition table decides).
import { api, qs } from './api.js';
import { field, fill, h, statusLine, table } from './dom.js';
import { getLang, t } from './i18n.js';
import { act, dateTime, errorText, money, pill, who } from './ui.js';

const STATES = ['pending_payment', 'paid', 'shipped', 'delivered', 'cancelled'];
/** Where a manager may ask to move an order (POST /orders/:id/transition). */
const TARGETS = ['paid', 'shipped', 'delivered', 'cancelled'];

/** @param {HTMLElement} root @param {string[]} _p @param {import('./app.js').ScreenCtx} ctx */
export async function render(root, _p, ctx) {
  const status = statusLine();
  const listEl = h('div', { id: 'order-list' });
  const more = h('div');
  const state = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id: 'order-state' },
      h('option', { value: '', text: t('common.all') }),
      STATES.map((s) => h('option', { value: s, text: t(`orderState.${s}`) })),
    )
  );
  const psid = /** @type {HTMLInputElement} */ (
    h('input', { id: 'order-psid', placeholder: 'PSID', pattern: '[0-9]{1,32}' })
  );
  psid.value = sessionStorage.getItem('orders.psid') ?? '';
  sessionStorage.removeItem('orders.psid');
  const filters = h(
    'form',
    {
      class: 'inline',
      onsubmit: (/** @type {Event} */ e) => {
        e.preventDefault();
        void load();
      },
    },
    field(t('common.state'), state),
    field(t('orders.fan'), psid),
    h('button', { type: 'submit', text: t('common.search') }),
  );
  state.addEventListener('change', () => void load());

  /** @param {any} o */
  const mover = (o) => {
    const sel = /** @type {HTMLSelectElement} */ (
      h(
        'select',
        { 'aria-label': t('orders.moveTo'), disabled: !who.canWrite, dataset: { write: '' } },
        TARGETS.filter((s) => s !== o.state).map((s) =>
          h('option', { value: s, text: t(`orderState.${s}`) }),
        ),
      )
    );
    const btn = /** @type {HTMLButtonElement} */ (
      h('button', {
        type: 'button',
        text: t('orders.move'),
        disabled: !who.canWrite,
        dataset: { write: '' },
        title: who.canWrite ? undefined : t('common.readOnly'),
      })
    );
    btn.addEventListener('click', () =>
      act(btn, status, async () => {
        const updated = await api('POST', `/orders/${o.id}/transition`, { to: sel.value });
        await load();
        return t('orders.moved', { number: updated.number, state: t(`orderState.${updated.state}`) });
      }),
    );
    return h('div', { class: 'actions' }, sel, btn);
  };

  /** @type {any[]} */
  let rows = [];
  /** @param {string | null} [cursor] */
  async function load(cursor = null) {
    const page = await api(
      'GET',
      `/orders${qs({ state: state.value, psid: psid.value.trim(), limit: 50, cursor })}`,
    );
    rows = cursor ? [...rows, ...page.items] : page.items;
    fill(
      listEl,
      table(
        [
          { label: t('orders.number'), cell: (o) => h('span', { class: 'mono', text: o.number }) },
          { label: t('orders.created'), cell: (o) => dateTime(o.createdAt) },
          { label: t('orders.fan'), cell: (o) => h('span', { class: 'mono', text: o.psid }) },
          {
            label: t('orders.lines'),
            cell: (o) =>
              o.lines
                .map(
                  (/** @type {any} */ l) =>
                    `${l.qty} × ${l.title[getLang()] || l.title.it}${l.variantLabel ? ` (${l.variantLabel})` : ''}`,
                )
                .join('; '),
          },
          { label: t('orders.total'), class: 'num', cell: (o) => money(o.total.amount, o.total.currency) },
          {
            label: t('orders.source'),
            cell: (o) =>
              o.source.campaignId
                ? h('a', { href: `#/campaigns/${o.source.campaignId}`, text: t('source.campaign') })
                : t(`source.${o.source.type}`, {}, o.source.type),
          },
          { label: t('common.state'), cell: (o) => pill(o.state, 'orderState') },
          { label: '', cell: (o) => mover(o) },
        ],
        rows,
        { empty: t('orders.none') },
      ),
    );
    fill(
      more,
      page.nextCursor
        ? h('button', { type: 'button', text: t('common.more'), onclick: () => void load(page.nextCursor) })
        : null,
    );
  }
  fill(root, h('h1', { text: t('orders.title') }), filters, status.el, listEl, more);
  await load().catch((err) => status.set(errorText(err), 'error'));
  ctx.every(10_000, async () => {
    if (rows.length <= 50) await load();
  });
}

// Inbox: parked events with their errors (retry / discard), and the outbox's recent failures.
import { api, qs } from './api.js';
import { fill, h, statusLine, table } from './dom.js';
import { t } from './i18n.js';
import { act, card, dateTime, errorText, num, writeButton } from './ui.js';

/** @param {HTMLElement} root @param {string[]} _p @param {import('./app.js').ScreenCtx} ctx */
export async function render(root, _p, ctx) {
  const status = statusLine();
  const figures = h('div', { class: 'cards' });
  const parkedEl = h('div', { id: 'parked-list' });
  const failuresEl = h('div', { id: 'outbox-failures' });
  fill(
    root,
    h('h1', { text: t('inbox.title') }),
    figures,
    status.el,
    h('h2', { text: t('inbox.parked') }),
    parkedEl,
    h('h2', { text: t('inbox.failures') }),
    failuresEl,
  );

  /** @param {any} e @param {'retry' | 'discard'} action */
  const button = (e, action) => {
    const b = writeButton(
      t(`inbox.${action}`),
      () =>
        act(b, status, async () => {
          await api('POST', `/inbox/parked/${e.id}/${action}`);
          await load();
          return t(`inbox.${action}Done`);
        }),
      { class: action === 'discard' ? 'danger' : 'primary' },
    );
    return b;
  };

  async function load() {
    const [health, parked, failures] = await Promise.all([
      api('GET', '/inbox/health'),
      api('GET', `/inbox/parked${qs({ limit: 100 })}`),
      api('GET', `/outbox/failures${qs({ limit: 50 })}`),
    ]);
    fill(
      figures,
      ['pending', 'parked', 'done', 'skipped'].map((s) =>
        card(t(`inboxState.${s}`), health.counts[s] ?? 0, {
          level: s === 'parked' && health.counts[s] > 0 ? 'bad' : undefined,
        }),
      ),
      card(t('inbox.due'), health.due),
    );
    fill(
      parkedEl,
      table(
        [
          { label: t('inbox.received'), cell: (e) => dateTime(e.receivedAt) },
          { label: t('inbox.kind'), cell: (e) => e.kind },
          { label: t('inbox.queue'), cell: (e) => h('span', { class: 'mono', text: e.queueKey }) },
          { label: t('inbox.attempts'), class: 'num', cell: (e) => num(e.attempts) },
          { label: t('inbox.error'), cell: (e) => h('code', { text: e.lastError ?? '—' }) },
          {
            label: '',
            cell: (e) => h('div', { class: 'actions' }, button(e, 'retry'), button(e, 'discard')),
          },
        ],
        parked.items,
        { empty: t('inbox.noneParked') },
      ),
    );
    fill(
      failuresEl,
      table(
        [
          { label: t('inbox.created'), cell: (f) => dateTime(f.createdAt) },
          { label: t('common.state'), cell: (f) => f.state },
          { label: t('inbox.purpose'), cell: (f) => f.purpose },
          { label: 'PSID', cell: (f) => h('span', { class: 'mono', text: f.psid ?? '—' }) },
          { label: t('inbox.attempts'), class: 'num', cell: (f) => num(f.attempts) },
          {
            label: t('inbox.error'),
            cell: (f) =>
              h('code', {
                text: f.error
                  ? [f.error.code, f.error.subcode, f.error.message].filter((x) => x !== null).join(' · ')
                  : (f.refusedReason ?? '—'),
              }),
          },
        ],
        failures.items,
        { empty: t('inbox.noFailures') },
      ),
    );
  }
  await load().catch((err) => status.set(errorText(err), 'error'));
  ctx.every(10_000, load);
}

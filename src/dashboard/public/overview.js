// Overview: inbox backlog, parked events, outbox pending/failed, page token health, open campaigns.
import { api, has, health } from './api.js';
import { fill, h } from './dom.js';
import { t } from './i18n.js';
import { card, countdownEl, dateTime, errorText, pill } from './ui.js';

/** @param {HTMLElement} root @param {string[]} _params @param {import('./app.js').ScreenCtx} ctx */
export async function render(root, _params, ctx) {
  const cards = h('div', { class: 'cards', id: 'overview-cards' });
  const campaigns = h('div', { id: 'overview-campaigns' });
  const updated = h('small', { class: 'muted' });
  fill(root, h('h1', { text: t('overview.title') }), cards, updated, campaigns);
  const withCampaigns = await has('GET /campaigns');

  async function refresh() {
    const [hz, inbox, outbox, open] = await Promise.all([
      health().catch(() => null),
      api('GET', '/inbox/health').catch(() => null),
      api('GET', '/outbox/health').catch(() => null),
      withCampaigns ? api('GET', '/campaigns?state=open&limit=10').catch(() => null) : null,
    ]);
    const parked = inbox?.counts?.parked ?? hz?.inbox?.parked ?? 0;
    const inboxPending = inbox?.counts?.pending ?? hz?.inbox?.pending ?? 0;
    const outPending = outbox?.counts?.pending ?? hz?.outbox?.pending ?? 0;
    const outFailed = outbox?.counts?.failed ?? hz?.outbox?.failed ?? 0;
    const token = hz?.pageToken;
    const tokenLevel = !token
      ? undefined
      : token.status === 'valid'
        ? 'ok'
        : token.status === 'expiring'
          ? 'warn'
          : 'bad';
    fill(
      cards,
      card(t('overview.status'), t(`health.${hz?.status ?? 'down'}`, {}, hz?.status ?? '?'), {
        level: hz?.status === 'ok' ? 'ok' : hz?.status === 'degraded' ? 'warn' : 'bad',
        id: 'card-status',
      }),
      card(t('overview.inboxBacklog'), inboxPending, {
        level: inboxPending > 100 ? 'warn' : undefined,
        note: inbox?.oldestPendingAt
          ? t('overview.oldest', { at: dateTime(inbox.oldestPendingAt) })
          : undefined,
        id: 'card-inbox',
      }),
      card(t('overview.parked'), parked, { level: parked > 0 ? 'bad' : 'ok', id: 'card-parked' }),
      card(t('overview.outboxPending'), outPending, { id: 'card-outbox-pending' }),
      card(t('overview.outboxFailed'), outFailed, {
        level: outFailed > 0 ? 'warn' : undefined,
        id: 'card-outbox-failed',
      }),
      card(
        t('overview.pageToken'),
        token ? t(`token.${token.status}`, {}, token.status) : t('overview.tokenUnknown'),
        {
          level: tokenLevel,
          note: token
            ? [token.problem, t('overview.checked', { at: dateTime(token.checkedAt) })]
                .filter(Boolean)
                .join(' · ')
            : hz?.simulator
              ? t('overview.simulator')
              : undefined,
          id: 'card-token',
        },
      ),
      hz?.outbox?.paused ? card(t('overview.senderPaused'), hz.outbox.paused, { level: 'bad' }) : null,
    );
    updated.textContent = t('overview.updated', { at: dateTime(new Date()) });
    if (open?.items) {
      fill(
        campaigns,
        h('h2', { text: t('overview.openCampaigns') }),
        open.items.length === 0
          ? h('p', { class: 'muted', text: t('campaigns.none') })
          : h(
              'div',
              { class: 'cards' },
              open.items.map((/** @type {any} */ c) =>
                h(
                  'a',
                  { class: 'card', href: `#/campaigns/${c.id}` },
                  h('strong', { text: c.texts?.[t('lang')]?.title || c.slug }),
                  ' ',
                  pill(c.state, 'campaignState'),
                  h('progress', { max: Math.max(1, c.progress.target), value: c.progress.committed }),
                  h(
                    'small',
                    { text: `${c.progress.committed}/${c.progress.target} · ` },
                    countdownEl(c.deadline),
                  ),
                ),
              ),
            ),
      );
    }
  }
  try {
    await refresh();
  } catch (err) {
    fill(cards, h('p', { class: 'status', dataset: { kind: 'error' }, text: errorText(err) }));
  }
  ctx.every(5000, refresh);
}

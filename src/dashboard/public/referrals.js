// Referral leaders: shown when the admin API has a leaders endpoint (the referrals feature adds it).
import { api, endpoints, has } from './api.js';
import { fill, h, table } from './dom.js';
import { t } from './i18n.js';
import { card, errorText, num } from './ui.js';

/** The leaders endpoints the API offers: `perCampaign` has one path parameter, `page` none. */
async function leaderPaths() {
  const all = [...(await endpoints())]
    .filter((k) => k.startsWith('GET ') && /leader/i.test(k))
    .map((k) => k.slice(4));
  return {
    perCampaign: all.find((p) => (p.match(/\{\w+\}/g) ?? []).length === 1),
    page: all.find((p) => !p.includes('{')),
  };
}

/** @param {any} body */
function rowsOf(body) {
  if (Array.isArray(body)) return body;
  for (const k of ['items', 'leaders', 'top']) if (Array.isArray(body?.[k])) return body[k];
  return [];
}

/** @param {any[]} rows */
function leadersTable(rows) {
  return table(
    [
      { label: '#', class: 'num', cell: (r) => num(r.rank ?? 0) },
      { label: t('referrals.name'), cell: (r) => r.name || r.referrerPsid || r.psid || '—' },
      { label: t('referrals.invitees'), class: 'num', cell: (r) => num(r.invitees ?? r.joined ?? 0) },
      { label: t('referrals.conversions'), class: 'num', cell: (r) => num(r.conversions ?? r.paid ?? 0) },
    ],
    rows,
    { empty: t('referrals.none') },
  );
}

/** Fills `el` with the leaders of one campaign (or says the feature is not there yet). @param {HTMLElement} el @param {string} campaignId */
export async function leadersSection(el, campaignId) {
  const { perCampaign } = await leaderPaths();
  if (!perCampaign) {
    fill(el, h('p', { class: 'muted', text: t('referrals.unavailable') }));
    return;
  }
  const body = await api('GET', perCampaign.replace(/\{\w+\}/, encodeURIComponent(campaignId)));
  fill(el, leadersTable(rowsOf(body)));
  if (await has('GET /referrals/campaigns/{id}/reach')) {
    const r = await api('GET', `/referrals/campaigns/${encodeURIComponent(campaignId)}/reach`);
    el.append(
      h(
        'div',
        { class: 'cards referral-reach' },
        ['referrers', 'invitees', 'secondLevel', 'arrivedThroughCampaignLinks', 'conversions'].map((k) =>
          card(t(`referrals.reach.${k}`), Number(r[k] ?? 0)),
        ),
      ),
    );
  }
}

/** @param {HTMLElement} root */
export async function render(root) {
  const { perCampaign, page } = await leaderPaths();
  fill(root, h('h1', { text: t('referrals.title') }));
  if (!perCampaign && !page) {
    root.append(h('p', { class: 'banner', text: t('referrals.unavailable') }));
    return;
  }
  if (page) {
    const box = h('div', { class: 'panel' }, h('h2', { text: t('referrals.pageLeaders') }));
    root.append(box);
    try {
      box.append(leadersTable(rowsOf(await api('GET', page))));
    } catch (err) {
      box.append(h('p', { class: 'status', dataset: { kind: 'error' }, text: errorText(err) }));
    }
  }
  if (perCampaign) {
    const campaigns = await api('GET', '/campaigns?limit=20');
    for (const c of campaigns.items.filter((/** @type {any} */ x) => x.state !== 'draft')) {
      const box = h(
        'div',
        { class: 'panel' },
        h('h2', null, h('a', { href: `#/campaigns/${c.id}`, text: c.texts?.it?.title || c.slug })),
      );
      const inner = h('div');
      box.append(inner);
      root.append(box);
      await leadersSection(inner, c.id).catch((err) =>
        fill(inner, h('p', { class: 'status', dataset: { kind: 'error' }, text: errorText(err) })),
      );
    }
  }
}

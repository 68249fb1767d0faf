// Group buys: list with live progress, create, and one campaign (progress, tiers, countdown, funnel,
// linked posts, comment keywords, referral leaders, pledges). Everything goes through /campaigns.
import { api, has, qs } from './api.js';
import { field, fill, h, statusLine, table } from './dom.js';
import { getLang, t } from './i18n.js';
import { barChart } from './charts.js';
import { leadersSection } from './referrals.js';
import {
  act,
  chartBox,
  countdownEl,
  dateTime,
  errorText,
  money,
  num,
  parseCents,
  pill,
  who,
  writeButton,
  writeForm,
} from './ui.js';

const POLL_MS = 3000;
/** Order states that count as paid in the funnel. */
const PAID = ['paid', 'shipped', 'delivered'];

/** @param {any} c */
export function titleOf(c) {
  const lang = getLang();
  return c.texts?.[lang]?.title || c.texts?.it?.title || c.slug;
}

/** A live progress bar: `update(c)` moves it. @param {any} c */
function progressBar(c) {
  const bar = /** @type {HTMLProgressElement} */ (h('progress', { class: 'campaign-progress' }));
  const label = h('small', { class: 'progress-label' });
  const el = h('div', { class: 'progress', dataset: { campaign: c.id } }, bar, label);
  /** @param {any} x */
  const update = (x) => {
    const p = x.progress;
    bar.max = Math.max(1, p.target);
    bar.value = Math.min(p.committed, p.target);
    bar.classList.toggle('tipped', p.tipped);
    el.dataset.committed = String(p.committed);
    const parts = [
      t('campaigns.progress', { committed: p.committed, target: p.target, percent: Math.round(p.percent) }),
    ];
    if (!p.tipped && p.toTip > 0) parts.push(t('campaigns.toTip', { n: p.toTip }));
    if (p.seatsLeft !== null) parts.push(t('campaigns.seatsLeft', { n: p.seatsLeft }));
    label.textContent = parts.join(' · ');
  };
  update(c);
  return { el, update };
}

/** @param {any} c */
function tiersText(c) {
  return c.tiers
    .map((/** @type {any} */ tr) => `${tr.fromQuantity}+ ${money(tr.unitPrice, c.currency)}`)
    .join(' → ');
}

/** @param {HTMLElement} root @param {string[]} params @param {import('./app.js').ScreenCtx} ctx */
export async function render(root, params, ctx) {
  if (params[0]) return renderOne(root, params[0], ctx);
  const status = statusLine();
  const list = h('div', { id: 'campaign-list' });
  const filter = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id: 'campaign-state', 'aria-label': t('common.state') },
      h('option', { value: '', text: t('common.all') }),
      ['draft', 'open', 'tipped', 'closed', 'fulfilled', 'failed', 'cancelled'].map((s) =>
        h('option', { value: s, text: t(`campaignState.${s}`) }),
      ),
    )
  );
  fill(
    root,
    h('h1', { text: t('campaigns.title') }),
    who.canWrite ? createForm(ctx) : null,
    h('div', { class: 'actions' }, field(t('common.state'), filter)),
    status.el,
    list,
  );

  /** @type {Map<string, {update: (c: any) => void}>} */
  let bars = new Map();
  let shown = '';
  async function load() {
    const page = await api('GET', `/campaigns${qs({ state: filter.value, limit: 100 })}`);
    const ids = page.items.map((/** @type {any} */ c) => `${c.id}:${c.state}`).join();
    if (ids === shown) {
      for (const c of page.items) bars.get(c.id)?.update(c);
      return;
    }
    shown = ids;
    bars = new Map();
    fill(
      list,
      table(
        [
          {
            label: t('campaigns.campaign'),
            cell: (c) => [
              h('a', { href: `#/campaigns/${c.id}`, text: titleOf(c) }),
              h('br'),
              h('small', { class: 'mono', text: c.slug }),
            ],
          },
          { label: t('common.state'), cell: (c) => pill(c.state, 'campaignState') },
          {
            label: t('campaigns.progressCol'),
            cell: (c) => {
              const b = progressBar(c);
              bars.set(c.id, b);
              return b.el;
            },
          },
          { label: t('campaigns.tiers'), cell: (c) => tiersText(c) },
          {
            label: t('campaigns.deadline'),
            cell: (c) =>
              ['open', 'tipped', 'draft'].includes(c.state) ? countdownEl(c.deadline) : dateTime(c.deadline),
          },
          { label: t('campaigns.pledges'), class: 'num', cell: (c) => num(c.pledgeCount) },
          { label: t('campaigns.waitlist'), class: 'num', cell: (c) => num(c.waitlistCount) },
          { label: '', cell: (c) => campaignActions(c, status, () => void load()) },
        ],
        page.items,
        { empty: t('campaigns.none') },
      ),
    );
  }
  filter.addEventListener('change', () => {
    shown = '';
    void load().catch((err) => status.set(errorText(err), 'error'));
  });
  await load().catch((err) => status.set(errorText(err), 'error'));
  ctx.every(POLL_MS, load);
}

/**
 * Open / cancel buttons (the API decides whether the move is allowed).
 * @param {any} c @param {{set: (s: string, k?: any) => void}} status @param {() => void} after
 */
function campaignActions(c, status, after) {
  const buttons = [];
  if (c.state === 'draft') {
    const b = writeButton(
      t('campaigns.open'),
      () =>
        act(b, status, async () => {
          await api('POST', `/campaigns/${c.id}/open`);
          after();
          return t('campaigns.opened');
        }),
      { class: 'primary' },
    );
    buttons.push(b);
  }
  if (c.state === 'open' || c.state === 'tipped') {
    const b = writeButton(
      t('campaigns.cancel'),
      () => {
        if (!confirm(t('campaigns.confirmCancel', { title: titleOf(c) }))) return;
        void act(b, status, async () => {
          const res = await api('POST', `/campaigns/${c.id}/cancel`);
          after();
          return t('campaigns.cancelled', { released: res.released, notified: res.notified });
        });
      },
      { class: 'danger' },
    );
    buttons.push(b);
  }
  return h('div', { class: 'actions' }, buttons);
}

/** The create form (managers only). @param {import('./app.js').ScreenCtx} ctx */
function createForm(ctx) {
  const status = statusLine();
  const input = (/** @type {string} */ name, /** @type {Record<string, unknown>} */ attrs = {}) =>
    /** @type {HTMLInputElement} */ (h('input', { name, id: `cc-${name}`, ...attrs }));
  const slug = input('slug', { required: true, pattern: '[A-Za-z0-9_\\-]{2,40}', placeholder: 'JEANS25' });
  const product = /** @type {HTMLSelectElement} */ (
    h('select', { name: 'product', id: 'cc-product', required: true })
  );
  const variant = /** @type {HTMLSelectElement} */ (h('select', { name: 'variant', id: 'cc-variant' }));
  const min = input('minQuantity', { type: 'number', min: 1, required: true, value: '10' });
  const max = input('maxQuantity', { type: 'number', min: 1 });
  const deadline = input('deadline', { type: 'datetime-local', required: true });
  const week = new Date(Date.now() + 7 * 86400_000);
  deadline.value = new Date(week.getTime() - week.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const perFan = input('perFanLimit', { type: 'number', min: 1, max: 100, value: '5', required: true });
  const tiers = [0, 1, 2].map((i) => ({
    from: input(`tierFrom${i}`, { type: 'number', min: 0, value: i === 0 ? '0' : '' }),
    price: input(`tierPrice${i}`, { inputmode: 'decimal', placeholder: '19,90' }),
  }));
  const titleIt = input('titleIt', { required: true, maxlength: 80 });
  const titleEn = input('titleEn', { required: true, maxlength: 80 });
  const descIt = /** @type {HTMLTextAreaElement} */ (
    h('textarea', { name: 'descIt', id: 'cc-descIt', maxlength: 1000 })
  );
  const descEn = /** @type {HTMLTextAreaElement} */ (
    h('textarea', { name: 'descEn', id: 'cc-descEn', maxlength: 1000 })
  );
  const autoNext = input('autoNextBatch', { type: 'checkbox' });
  /** @type {any[]} */
  let products = [];
  const fillVariants = () => {
    const p = products.find((x) => x.sku === product.value);
    fill(
      variant,
      h('option', { value: '', text: t('campaigns.anyVariant') }),
      (p?.variants ?? []).map((/** @type {any} */ v) =>
        h('option', { value: v.sku, text: [v.sku, v.size, v.colour].filter(Boolean).join(' · ') }),
      ),
    );
    if (p && !tiers[0].price.value) tiers[0].price.value = (p.price.amount / 100).toFixed(2);
    if (p && !titleIt.value) titleIt.value = p.title.it;
    if (p && !titleEn.value) titleEn.value = p.title.en || p.title.it;
  };
  product.addEventListener('change', fillVariants);
  api('GET', '/products?limit=200')
    .then((page) => {
      products = page.items;
      fill(
        product,
        h('option', { value: '', text: t('campaigns.chooseProduct') }),
        products.map((p) =>
          h('option', { value: p.sku, text: `${p.title[getLang()] || p.title.it} (${p.sku})` }),
        ),
      );
    })
    .catch((err) => status.set(errorText(err), 'error'));

  const submit = h('button', {
    type: 'submit',
    class: 'primary',
    id: 'cc-submit',
    text: t('campaigns.create'),
  });
  const form = /** @type {HTMLFormElement} */ (
    h(
      'form',
      {
        class: 'grid',
        id: 'campaign-create',
        onsubmit: (/** @type {Event} */ ev) => {
          ev.preventDefault();
          void act(/** @type {HTMLButtonElement} */ (submit), status, async () => {
            const p = products.find((x) => x.sku === product.value);
            const tierList = [];
            for (const tr of tiers) {
              if (tr.price.value.trim() === '' && tr.from.value === '') continue;
              const unitPrice = parseCents(tr.price.value);
              if (!Number.isFinite(unitPrice) || tr.from.value === '')
                throw new Error(t('campaigns.badTier'));
              tierList.push({ fromQuantity: Number(tr.from.value), unitPrice });
            }
            const body = {
              slug: slug.value.trim(),
              productSku: product.value,
              variantSku: variant.value || null,
              minQuantity: Number(min.value),
              maxQuantity: max.value ? Number(max.value) : null,
              deadline: new Date(deadline.value).toISOString(),
              tiers: tierList,
              ...(p ? { currency: p.price.currency } : {}),
              perFanLimit: Number(perFan.value),
              texts: {
                it: { title: titleIt.value.trim(), description: descIt.value.trim() },
                en: { title: titleEn.value.trim(), description: descEn.value.trim() },
              },
              autoNextBatch: autoNext.checked,
            };
            const c = await api('POST', '/campaigns', body);
            ctx.go(`#/campaigns/${c.id}`);
            return t('campaigns.created');
          });
        },
      },
      field(t('campaigns.slug'), slug),
      field(t('campaigns.product'), product),
      field(t('campaigns.variant'), variant),
      field(t('campaigns.minQuantity'), min, t('campaigns.minHint')),
      field(t('campaigns.maxQuantity'), max, t('campaigns.maxHint')),
      field(t('campaigns.deadline'), deadline),
      field(t('campaigns.perFanLimit'), perFan),
      tiers.map((tr, i) =>
        h(
          'div',
          { class: 'field' },
          h('span', { text: t('campaigns.tierN', { n: i + 1 }) }),
          h('div', { class: 'actions' }, tr.from, tr.price),
        ),
      ),
      field(t('campaigns.titleIt'), titleIt),
      field(t('campaigns.titleEn'), titleEn),
      field(t('campaigns.descIt'), descIt),
      field(t('campaigns.descEn'), descEn),
      h('label', { class: 'field check' }, autoNext, h('span', { text: t('campaigns.autoNextBatch') })),
      submit,
    )
  );
  return h(
    'details',
    { class: 'panel' },
    h('summary', { text: t('campaigns.new') }),
    writeForm(form),
    status.el,
  );
}

/** One campaign. @param {HTMLElement} root @param {string} id @param {import('./app.js').ScreenCtx} ctx */
async function renderOne(root, id, ctx) {
  const status = statusLine();
  let seen = await api('GET', `/campaigns/${encodeURIComponent(id)}/inspect?limit=100`);
  let c = seen.campaign;
  const head = h('div');
  const bar = progressBar(c);
  const figures = h('div', { class: 'cards', id: 'campaign-figures' });
  const tiersEl = h('div');
  const funnelBox = chartBox(t('funnel.title'));
  const funnelTable = h('div', { id: 'funnel-table' });
  const postsEl = h('div', { id: 'campaign-posts' });
  const pledgesEl = h('div', { id: 'campaign-pledges' });
  const keywordsEl = h('div', { id: 'campaign-keywords' });
  const leadersEl = h('div', { id: 'campaign-leaders' });
  const [withStats, withSettings] = await Promise.all([
    has('GET /comments/posts/{postId}/stats'),
    has('GET /comments/settings/{scope}/{id}'),
  ]);

  fill(
    root,
    h('p', null, h('a', { href: '#/campaigns', text: `← ${t('campaigns.title')}` })),
    head,
    status.el,
    h('div', { class: 'panel' }, bar.el, figures),
    h(
      'div',
      { class: 'row' },
      h('div', { class: 'panel' }, h('h2', { text: t('campaigns.tiers') }), tiersEl),
      h('div', { class: 'panel' }, h('h2', { text: t('funnel.title') }), funnelBox.box, funnelTable),
    ),
    h('div', { class: 'panel' }, h('h2', { text: t('campaigns.posts') }), postsEl),
    withSettings ? h('div', { class: 'panel' }, h('h2', { text: t('keywords.title') }), keywordsEl) : null,
    h('div', { class: 'panel' }, h('h2', { text: t('referrals.leaders') }), leadersEl),
    h('div', { class: 'panel' }, h('h2', { text: t('campaigns.pledgesTitle') }), pledgesEl),
  );

  const drawHead = () =>
    fill(
      head,
      h('h1', null, titleOf(c), ' ', pill(c.state, 'campaignState')),
      h(
        'p',
        { class: 'muted' },
        `${c.slug} · ${c.productSku}${c.variantSku ? ` / ${c.variantSku}` : ''} · `,
        t('campaigns.batch', { n: c.batch.number }),
      ),
      campaignActions(c, status, () => void refresh()),
    );

  const drawFigures = () => {
    const f = seen.forecast;
    fill(
      figures,
      h(
        'div',
        { class: 'card' },
        h('span', { class: 'muted', text: t('campaigns.timeLeft') }),
        h(
          'span',
          { class: 'figure' },
          ['open', 'tipped', 'draft'].includes(c.state) ? countdownEl(c.deadline) : dateTime(c.deadline),
        ),
      ),
      h(
        'div',
        { class: 'card' },
        h('span', { class: 'muted', text: t('campaigns.price') }),
        h('span', { class: 'figure', text: money(seen.tier.unitPrice, c.currency) }),
        seen.nextTier
          ? h('small', {
              text: t('campaigns.nextTier', {
                more: seen.nextTier.more,
                price: money(seen.nextTier.unitPrice, c.currency),
              }),
            })
          : null,
      ),
      h(
        'div',
        { class: 'card' },
        h('span', { class: 'muted', text: t('campaigns.forecast') }),
        h('span', { class: 'figure', text: t(`forecast.${f.verdict}`, {}, f.verdict) }),
        h('small', {
          text: t('campaigns.pace', { perHour: f.perHour.toFixed(1), projected: Math.round(f.projected) }),
        }),
      ),
      h(
        'div',
        { class: 'card' },
        h('span', { class: 'muted', text: t('campaigns.counted') }),
        h('span', { class: 'figure', id: 'campaign-committed', text: num(c.committed) }),
        h('small', {
          text: t('campaigns.countedNote', {
            active: seen.counted.active,
            waitlisted: seen.counted.waitlisted,
            pending: seen.counted.pending,
          }),
        }),
      ),
    );
    fill(
      tiersEl,
      table(
        [
          { label: t('campaigns.fromQuantity'), class: 'num', cell: (tr) => num(tr.fromQuantity) },
          { label: t('campaigns.unitPrice'), class: 'num', cell: (tr) => money(tr.unitPrice, c.currency) },
          {
            label: '',
            cell: (tr) =>
              tr.i === seen.tier.index
                ? h('span', { class: 'pill', dataset: { state: 'tipped' }, text: t('campaigns.current') })
                : '',
          },
        ],
        c.tiers.map((/** @type {any} */ tr, /** @type {number} */ i) => ({ ...tr, i })),
      ),
    );
  };

  const drawPledges = () =>
    fill(
      pledgesEl,
      table(
        [
          { label: 'PSID', cell: (p) => h('span', { class: 'mono', text: p.psid }) },
          { label: t('campaigns.qty'), class: 'num', cell: (p) => num(p.quantity) },
          { label: t('campaigns.variant'), cell: (p) => p.variantSku },
          { label: t('common.state'), cell: (p) => pill(p.state, 'pledgeState') },
          { label: t('campaigns.source'), cell: (p) => t(`source.${p.source.type}`, {}, p.source.type) },
          { label: t('campaigns.joinedAt'), cell: (p) => dateTime(p.joinedAt) },
        ],
        [...seen.pledges.items, ...seen.waitlist],
        { empty: t('campaigns.noPledges') },
      ),
    );

  const drawPosts = () => {
    const pStatus = statusLine();
    const postId = /** @type {HTMLInputElement} */ (
      h('input', {
        id: 'link-post-id',
        required: true,
        pattern: '[0-9]{1,32}(_[0-9]{1,32})?',
        placeholder: '1234_5678',
      })
    );
    const message = /** @type {HTMLInputElement} */ (
      h('input', { id: 'link-post-message', maxlength: 5000 })
    );
    const submit = h('button', { type: 'submit', text: t('campaigns.linkPost') });
    const form = writeForm(
      /** @type {HTMLFormElement} */ (
        h(
          'form',
          {
            class: 'inline',
            onsubmit: (/** @type {Event} */ ev) => {
              ev.preventDefault();
              void act(/** @type {HTMLButtonElement} */ (submit), pStatus, async () => {
                c = await api('POST', `/campaigns/${c.id}/posts`, {
                  postId: postId.value.trim(),
                  ...(message.value.trim() ? { message: message.value.trim() } : {}),
                });
                drawPosts();
                return t('campaigns.linked');
              });
            },
          },
          field(t('campaigns.postId'), postId),
          field(t('campaigns.postMessage'), message),
          submit,
        )
      ),
    );
    fill(
      postsEl,
      c.linkedPostIds.length === 0
        ? h('p', { class: 'muted', text: t('campaigns.noPosts') })
        : h(
            'ul',
            null,
            c.linkedPostIds.map((/** @type {string} */ p) => {
              const b = writeButton(t('campaigns.unlink'), () =>
                act(b, pStatus, async () => {
                  c = await api('DELETE', `/campaigns/${c.id}/posts/${encodeURIComponent(p)}`);
                  drawPosts();
                  return t('campaigns.unlinked');
                }),
              );
              return h('li', null, h('span', { class: 'mono', text: p }), ' ', b);
            }),
          ),
      form,
      pStatus.el,
    );
  };

  const drawFunnel = async () => {
    const stats = withStats
      ? await Promise.all(
          c.linkedPostIds.map((/** @type {string} */ p) =>
            api('GET', `/comments/posts/${encodeURIComponent(p)}/stats`).catch(() => null),
          ),
        )
      : [];
    const got = stats.filter(Boolean);
    const sum = (/** @type {(s: any) => number} */ pick) => got.reduce((a, s) => a + pick(s), 0);
    let paid = 0;
    let cursor = null;
    for (let i = 0; i < 5; i++) {
      const page = await api('GET', `/orders${qs({ limit: 200, cursor })}`);
      for (const o of page.items) if (o.source?.campaignId === c.id && PAID.includes(o.state)) paid++;
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    const comments = got.length > 0;
    /** @type {[string, number | null][]} */
    const stages = [
      ['comments', comments ? sum((s) => s.comments) : null],
      ['privateReplies', comments ? sum((s) => s.privateReplies.sent) : null],
      ['conversations', comments ? sum((s) => s.conversations) : null],
      ['pledges', c.pledgeCount],
      ['paid', paid],
    ];
    fill(
      funnelTable,
      table(
        [
          { label: t('funnel.stage'), cell: (s) => t(`funnel.${s[0]}`) },
          {
            label: t('funnel.count'),
            class: 'num',
            cell: (s) => (s[1] === null ? t('funnel.notAvailable') : num(s[1])),
          },
        ],
        stages,
      ),
      comments ? null : h('small', { text: t('funnel.noComments') }),
    );
    const shown = stages.filter((s) => s[1] !== null);
    await barChart(
      funnelBox.canvas,
      shown.map((s) => t(`funnel.${s[0]}`)),
      shown.map((s) => /** @type {number} */ (s[1])),
      { horizontal: true },
    );
  };

  const drawKeywords = async () => {
    if (!withSettings) return;
    const kStatus = statusLine();
    const scope = await api('GET', `/comments/settings/campaign/${c.id}`);
    const locale = /** @type {HTMLSelectElement} */ (
      h(
        'select',
        { id: 'kw-locale' },
        h('option', { value: '', text: t('keywords.detect') }),
        h('option', { value: 'it', text: 'Italiano' }),
        h('option', { value: 'en', text: 'English' }),
      )
    );
    locale.value = scope.locale ?? '';
    /** @type {Record<string, HTMLTextAreaElement>} */
    const areas = {};
    const grid = [];
    for (const lang of ['it', 'en']) {
      for (const list of ['join', 'info', 'stop']) {
        const a = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: `kw-${lang}-${list}`, rows: 2 }));
        a.value = (scope.keywords?.[lang]?.[list] ?? []).join(', ');
        areas[`${lang}.${list}`] = a;
        grid.push(field(`${t(`keywords.${list}`)} (${lang})`, a));
      }
    }
    const submit = h('button', { type: 'submit', text: t('common.save') });
    const split = (/** @type {string} */ v) =>
      v
        .split(/[,\n]/)
        .map((s) => s.trim())
        .filter(Boolean);
    const form = writeForm(
      /** @type {HTMLFormElement} */ (
        h(
          'form',
          {
            class: 'grid',
            onsubmit: (/** @type {Event} */ ev) => {
              ev.preventDefault();
              void act(/** @type {HTMLButtonElement} */ (submit), kStatus, async () => {
                /** @type {Record<string, Record<string, string[]>>} */
                const keywords = { it: {}, en: {} };
                for (const [k, a] of Object.entries(areas)) {
                  const [lang, list] = k.split('.');
                  keywords[/** @type {string} */ (lang)][/** @type {string} */ (list)] = split(a.value);
                }
                await api('PUT', `/comments/settings/campaign/${c.id}`, {
                  locale: locale.value || null,
                  keywords,
                });
                return t('common.saved');
              });
            },
          },
          field(t('keywords.locale'), locale),
          grid,
          submit,
        )
      ),
    );
    const readOnly = who.canWrite
      ? null
      : h('p', {
          class: 'muted',
          text: ['it', 'en']
            .map(
              (l) =>
                `${l}: ${['join', 'info', 'stop'].map((k) => `${k} [${(scope.keywords?.[l]?.[k] ?? []).join(', ')}]`).join(' ')}`,
            )
            .join(' · '),
        });
    fill(keywordsEl, h('p', { class: 'muted', text: t('keywords.hint') }), readOnly, form, kStatus.el);
  };

  async function refresh() {
    seen = await api('GET', `/campaigns/${encodeURIComponent(id)}/inspect?limit=100`);
    const stateChanged = seen.campaign.state !== c.state;
    const pledgesChanged = seen.campaign.pledgeCount !== c.pledgeCount;
    c = seen.campaign;
    if (pledgesChanged) void drawFunnel().catch(() => undefined);
    bar.update(c);
    drawFigures();
    drawPledges();
    if (stateChanged) drawHead();
  }

  drawHead();
  drawFigures();
  drawPledges();
  drawPosts();
  await Promise.all([
    drawFunnel().catch((err) =>
      fill(funnelTable, h('p', { class: 'status', dataset: { kind: 'error' }, text: errorText(err) })),
    ),
    drawKeywords().catch((err) =>
      fill(keywordsEl, h('p', { class: 'status', dataset: { kind: 'error' }, text: errorText(err) })),
    ),
    leadersSection(leadersEl, c.id).catch((err) =>
      fill(leadersEl, h('p', { class: 'status', dataset: { kind: 'error' }, text: errorText(err) })),
    ),
  ]);
  ctx.every(POLL_MS, refresh);
  ctx.every(15_000, drawFunnel);
}

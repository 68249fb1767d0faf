// Narrowcast: build a segment and see its reach by policy, compose and schedule a broadcast, and follow
// its progress and outcomes. Segments via /segments, broadcasts via /broadcasts.
import { api, qs } from './api.js';
import { field, fill, h, statusLine, table } from './dom.js';
import { t } from './i18n.js';
import { barChart, doughnutChart } from './charts.js';
import { act, card, chartBox, dateTime, errorText, num, pill, who, writeButton, writeForm } from './ui.js';

const RULE_TYPES = [
  'tags',
  'interests',
  'locale',
  'lastInteraction',
  'optedIn',
  'excludeMarketingOptOut',
  'openCart',
  'campaign',
  'pledgedUnpaid',
];
const REACH_KEYS = ['window', 'optin', 'updatesOnly', 'unreachable'];

/** @param {string} v */
const list = (v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** @param {HTMLElement} root @param {string[]} params @param {import('./app.js').ScreenCtx} ctx */
export async function render(root, params, ctx) {
  if (params[0]) return renderOne(root, params[0], ctx);
  const listEl = h('div', { id: 'broadcast-list' });
  const segmentsEl = h('div', { id: 'segment-list' });
  const reachEl = h('div', { id: 'reach', class: 'panel', hidden: true });
  const campaigns = await api('GET', '/campaigns?limit=50').then(
    (p) => p.items,
    () => [],
  );
  const builder = segmentBuilder(campaigns);
  const purpose = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id: 'bc-purpose' },
      ['promotion', 'update'].map((p) => h('option', { value: p, text: t(`purpose.${p}`) })),
    )
  );

  /** Shows a reach preview. @param {any} r */
  const showReach = async (r) => {
    reachEl.hidden = false;
    const chart = chartBox(t('reach.title'), 'chart small');
    fill(
      reachEl,
      h('h2', { text: t('reach.title') }),
      h(
        'div',
        { class: 'cards' },
        card(t('reach.size'), r.size, { id: 'reach-size' }),
        card(
          t('reach.wouldSend', { purpose: t(`purpose.${r.forPurpose.purpose}`, {}, r.forPurpose.purpose) }),
          r.forPurpose.wouldSend,
          { id: 'reach-would-send' },
        ),
        card(t('reach.optedOut'), r.optedOut),
      ),
      h(
        'div',
        { class: 'row' },
        chart.box,
        table(
          [
            { label: t('reach.policy'), cell: (k) => t(`reach.${k}`) },
            { label: t('funnel.count'), class: 'num', cell: (k) => num(r.reach[k] ?? 0) },
          ],
          REACH_KEYS,
        ),
      ),
      Object.values(r.forPurpose.skipped).some((v) => Number(v) > 0)
        ? h('p', {
            class: 'muted',
            text: `${t('reach.skipped')}: ${Object.entries(r.forPurpose.skipped)
              .filter(([, v]) => Number(v) > 0)
              .map(([k, v]) => `${t(`skip.${k}`, {}, k)} ${v}`)
              .join(', ')}`,
          })
        : null,
      r.notes.length
        ? h(
            'ul',
            null,
            r.notes.map((/** @type {string} */ n) => h('li', { class: 'muted', text: n })),
          )
        : null,
    );
    await doughnutChart(
      chart.canvas,
      REACH_KEYS.map((k) => t(`reach.${k}`)),
      REACH_KEYS.map((k) => r.reach[k] ?? 0),
    );
  };

  // ---- segment builder + preview + save (managers) -------------------------------------------
  const segStatus = statusLine();
  const segName = /** @type {HTMLInputElement} */ (
    h('input', { id: 'seg-name', maxlength: 120, placeholder: t('segments.namePlaceholder') })
  );
  const previewBtn = h('button', {
    type: 'button',
    id: 'seg-preview',
    class: 'primary',
    text: t('segments.preview'),
    dataset: { write: '' },
  });
  previewBtn.addEventListener('click', () =>
    act(/** @type {HTMLButtonElement} */ (previewBtn), segStatus, async () => {
      const r = await api('POST', `/segments/preview${qs({ purpose: purpose.value })}`, {
        definition: builder.read(),
      });
      await showReach(r);
      return t('segments.previewed', { n: r.size });
    }),
  );
  const saveBtn = h('button', {
    type: 'button',
    id: 'seg-save',
    text: t('segments.save'),
    dataset: { write: '' },
  });
  saveBtn.addEventListener('click', () =>
    act(/** @type {HTMLButtonElement} */ (saveBtn), segStatus, async () => {
      if (!segName.value.trim()) throw new Error(t('segments.nameNeeded'));
      await api('POST', '/segments', { name: segName.value.trim(), definition: builder.read() });
      await loadSegments();
      return t('common.saved');
    }),
  );
  const segForm = writeForm(
    /** @type {HTMLFormElement} */ (
      h(
        'form',
        { id: 'segment-builder', onsubmit: (/** @type {Event} */ e) => e.preventDefault() },
        builder.el,
        h(
          'div',
          { class: 'inline actions' },
          field(t('broadcasts.purpose'), purpose),
          previewBtn,
          field(t('segments.name'), segName),
          saveBtn,
        ),
      )
    ),
  );

  // ---- compose -----------------------------------------------------------------------------
  const compose = composeForm(builder, purpose, ctx);

  fill(
    root,
    h('h1', { text: t('broadcasts.title') }),
    h(
      'div',
      { class: 'panel' },
      h('h2', { text: t('segments.build') }),
      segForm,
      segStatus.el,
      who.canWrite ? null : h('p', { class: 'muted', text: t('segments.viewerHint') }),
    ),
    reachEl,
    compose,
    h('h2', { text: t('segments.saved') }),
    segmentsEl,
    h('h2', { text: t('broadcasts.list') }),
    listEl,
  );

  async function loadSegments() {
    const page = await api('GET', '/segments?limit=50');
    fill(
      segmentsEl,
      table(
        [
          { label: t('segments.name'), cell: (s) => s.name },
          {
            label: t('segments.rules'),
            cell: (s) =>
              (s.definition.rules ?? [])
                .map((/** @type {any} */ r) => t(`rule.${r.type}`, {}, r.type))
                .join(' + ') || t('segments.everyone'),
          },
          {
            label: t('segments.lastSize'),
            class: 'num',
            cell: (s) => (s.lastPreview ? num(s.lastPreview.size) : '—'),
          },
          {
            label: '',
            cell: (s) =>
              h('button', {
                type: 'button',
                text: t('segments.reach'),
                onclick: async () => {
                  try {
                    await showReach(
                      await api('GET', `/segments/${s.id}/reach${qs({ purpose: purpose.value })}`),
                    );
                  } catch (err) {
                    segStatus.set(errorText(err), 'error');
                  }
                },
              }),
          },
        ],
        page.items,
        { empty: t('segments.none') },
      ),
    );
    compose.dispatchEvent(new CustomEvent('segments', { detail: page.items }));
  }

  async function loadBroadcasts() {
    const page = await api('GET', '/broadcasts?limit=50');
    fill(
      listEl,
      table(
        [
          {
            label: t('broadcasts.name'),
            cell: (b) => h('a', { href: `#/broadcasts/${b.id}`, text: b.name }),
          },
          { label: t('common.state'), cell: (b) => pill(b.state, 'broadcastState') },
          { label: t('broadcasts.purpose'), cell: (b) => t(`purpose.${b.purpose}`, {}, b.purpose) },
          { label: t('broadcasts.scheduledAt'), cell: (b) => dateTime(b.scheduledAt) },
          { label: t('outcome.targeted'), class: 'num', cell: (b) => num(b.counters.targeted) },
          { label: t('outcome.sent'), class: 'num', cell: (b) => num(b.counters.sent) },
          { label: t('outcome.delivered'), class: 'num', cell: (b) => num(b.counters.delivered) },
          { label: t('outcome.read'), class: 'num', cell: (b) => num(b.counters.read) },
          { label: t('outcome.clicks'), class: 'num', cell: (b) => num(b.counters.clicks) },
        ],
        page.items,
        { empty: t('broadcasts.none') },
      ),
    );
  }
  await Promise.all([
    loadSegments().catch((err) => segStatus.set(errorText(err), 'error')),
    loadBroadcasts().catch((err) =>
      fill(listEl, h('p', { class: 'status', dataset: { kind: 'error' }, text: errorText(err) })),
    ),
  ]);
  ctx.every(5000, loadBroadcasts);
}

/** Rule rows that read back as a segment definition. @param {any[]} campaigns */
function segmentBuilder(campaigns) {
  const rows = h('div', { id: 'seg-rules' });
  /** @type {{ read: () => any }[]} */
  let rules = [];
  const typeSel = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id: 'seg-rule-type' },
      RULE_TYPES.map((r) => h('option', { value: r, text: t(`rule.${r}`) })),
    )
  );
  const campaignSel = () =>
    /** @type {HTMLSelectElement} */ (
      h(
        'select',
        null,
        campaigns.map((c) =>
          h('option', { value: c.id, text: `${c.texts?.it?.title || c.slug} (${c.state})` }),
        ),
      )
    );
  const add = (/** @type {string} */ type) => {
    /** @type {(HTMLElement)[]} */
    let controls = [];
    /** @type {() => any} */
    let read;
    const text = (/** @type {string} */ ph) =>
      /** @type {HTMLInputElement} */ (h('input', { placeholder: ph }));
    if (type === 'tags' || type === 'interests') {
      const any = text('vip, denim');
      const all = text('');
      const none = text('');
      controls = [field(t('rule.any'), any), field(t('rule.all'), all), field(t('rule.none'), none)];
      read = () => {
        /** @type {Record<string, unknown>} */
        const r = { type };
        for (const [k, el] of /** @type {[string, HTMLInputElement][]} */ ([
          ['any', any],
          ['all', all],
          ['none', none],
        ]))
          if (list(el.value).length) r[k] = list(el.value);
        return r;
      };
    } else if (type === 'locale') {
      const it = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', checked: true }));
      const en = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox' }));
      controls = [
        h('label', { class: 'field check' }, it, ' it'),
        h('label', { class: 'field check' }, en, ' en'),
      ];
      read = () => ({ type, in: [it.checked ? 'it' : null, en.checked ? 'en' : null].filter(Boolean) });
    } else if (type === 'lastInteraction') {
      const within = /** @type {HTMLInputElement} */ (h('input', { type: 'number', min: 1, value: '30' }));
      const notWithin = /** @type {HTMLInputElement} */ (h('input', { type: 'number', min: 1 }));
      controls = [field(t('rule.withinDays'), within), field(t('rule.notWithinDays'), notWithin)];
      read = () => ({
        type,
        ...(within.value ? { withinDays: Number(within.value) } : {}),
        ...(notWithin.value ? { notWithinDays: Number(notWithin.value) } : {}),
      });
    } else if (type === 'openCart') {
      const has = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', checked: true }));
      controls = [h('label', { class: 'field check' }, has, ` ${t('rule.hasOpenCart')}`)];
      read = () => ({ type, has: has.checked });
    } else if (type === 'campaign' || type === 'pledgedUnpaid') {
      const sel = campaignSel();
      const joined = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', checked: true }));
      controls = [
        field(t('rule.campaign'), sel),
        type === 'campaign' ? h('label', { class: 'field check' }, joined, ` ${t('rule.joined')}`) : null,
      ].filter(Boolean);
      read = () =>
        type === 'campaign'
          ? { type, campaignId: sel.value, joined: joined.checked }
          : { type, campaignId: sel.value };
    } else {
      read = () => ({ type });
    }
    const entry = { read };
    const remove = h('button', {
      type: 'button',
      text: '×',
      'aria-label': t('segments.removeRule'),
      onclick: () => {
        rules = rules.filter((r) => r !== entry);
        row.remove();
      },
    });
    const row = h(
      'div',
      { class: 'rule', dataset: { rule: type } },
      h('strong', { text: t(`rule.${type}`) }),
      controls,
      remove,
    );
    rules.push(entry);
    rows.append(row);
  };
  const addBtn = h('button', {
    type: 'button',
    id: 'seg-add-rule',
    text: t('segments.addRule'),
    onclick: () => add(typeSel.value),
  });
  const el = h(
    'div',
    null,
    h('p', { class: 'muted', text: t('segments.hint') }),
    rows,
    h('div', { class: 'inline actions' }, typeSel, addBtn),
  );
  return { el, read: () => ({ rules: rules.map((r) => r.read()) }) };
}

/**
 * Compose and schedule (or send now) a broadcast to the builder's rules or a saved segment.
 * @param {{ read: () => any }} builder @param {HTMLSelectElement} purpose @param {import('./app.js').ScreenCtx} ctx
 */
function composeForm(builder, purpose, ctx) {
  const status = statusLine();
  const input = (/** @type {string} */ id, /** @type {Record<string, unknown>} */ a = {}) =>
    /** @type {HTMLInputElement} */ (h('input', { id, ...a }));
  const name = input('bc-name', { required: true, maxlength: 120 });
  const segment = /** @type {HTMLSelectElement} */ (
    h('select', { id: 'bc-segment' }, h('option', { value: '', text: t('broadcasts.builderRules') }))
  );
  const textIt = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: 'bc-text-it', maxlength: 2000 }));
  const textEn = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: 'bc-text-en', maxlength: 2000 }));
  const btnTitle = input('bc-button-title', { maxlength: 20 });
  const btnUrl = input('bc-button-url', { type: 'url', placeholder: 'https://…' });
  const cardTitle = input('bc-card-title', { maxlength: 80 });
  const when = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id: 'bc-when' },
      ['now', 'schedule', 'draft'].map((w) => h('option', { value: w, text: t(`broadcasts.when.${w}`) })),
    )
  );
  const at = input('bc-at', { type: 'datetime-local' });
  const submit = h('button', {
    type: 'submit',
    class: 'primary',
    id: 'bc-submit',
    text: t('broadcasts.create'),
  });
  const form = /** @type {HTMLFormElement} */ (
    h(
      'form',
      {
        class: 'grid',
        id: 'broadcast-compose',
        onsubmit: (/** @type {Event} */ ev) => {
          ev.preventDefault();
          void act(/** @type {HTMLButtonElement} */ (submit), status, async () => {
            const contents = [];
            for (const [locale, area] of /** @type {[string, HTMLTextAreaElement][]} */ ([
              ['it', textIt],
              ['en', textEn],
            ])) {
              if (!area.value.trim()) continue;
              /** @type {Record<string, unknown>} */
              const c = { locale, text: area.value.trim() };
              if (cardTitle.value.trim()) {
                c.card = {
                  title: cardTitle.value.trim(),
                  ...(btnTitle.value.trim() && btnUrl.value.trim()
                    ? { button: { title: btnTitle.value.trim(), target: { url: btnUrl.value.trim() } } }
                    : {}),
                };
              }
              contents.push(c);
            }
            if (contents.length === 0) throw new Error(t('broadcasts.needText'));
            /** @type {Record<string, unknown>} */
            const body = {
              name: name.value.trim(),
              purpose: purpose.value,
              contents,
              segment: segment.value ? { id: segment.value } : { definition: builder.read() },
            };
            if (when.value === 'schedule') {
              if (!at.value) throw new Error(t('broadcasts.needTime'));
              body.scheduledAt = new Date(at.value).toISOString();
            }
            const b = await api('POST', '/broadcasts', body);
            if (when.value === 'now') await api('POST', `/broadcasts/${b.id}/start`);
            ctx.go(`#/broadcasts/${b.id}`);
            return t('broadcasts.created');
          });
        },
      },
      field(t('broadcasts.name'), name),
      field(t('broadcasts.segment'), segment, t('broadcasts.purposeFromAbove')),
      field(t('broadcasts.textIt'), textIt),
      field(t('broadcasts.textEn'), textEn),
      field(t('broadcasts.cardTitle'), cardTitle, t('broadcasts.optional')),
      field(t('broadcasts.buttonTitle'), btnTitle, t('broadcasts.optional')),
      field(t('broadcasts.buttonUrl'), btnUrl, t('broadcasts.optional')),
      field(t('broadcasts.whenLabel'), when),
      field(t('broadcasts.scheduledAt'), at),
      submit,
    )
  );
  const panel = h(
    'div',
    { class: 'panel', id: 'compose-panel' },
    h('h2', { text: t('broadcasts.compose') }),
    writeForm(form),
    status.el,
  );
  panel.hidden = !who.canWrite;
  panel.addEventListener('segments', (/** @type {Event} */ ev) => {
    const items = /** @type {CustomEvent} */ (ev).detail;
    const keep = segment.value;
    fill(
      segment,
      h('option', { value: '', text: t('broadcasts.builderRules') }),
      items.map((/** @type {any} */ s) => h('option', { value: s.id, text: s.name })),
    );
    segment.value = keep;
  });
  return panel;
}

/** One broadcast: progress and outcomes, live. @param {HTMLElement} root @param {string} id @param {import('./app.js').ScreenCtx} ctx */
async function renderOne(root, id, ctx) {
  let b = await api('GET', `/broadcasts/${encodeURIComponent(id)}`);
  const status = statusLine();
  const head = h('div');
  const figures = h('div', { class: 'cards', id: 'broadcast-figures' });
  const progress = /** @type {HTMLProgressElement} */ (h('progress', { id: 'broadcast-progress' }));
  const outcomes = chartBox(t('broadcasts.outcomes'));
  const skipped = chartBox(t('broadcasts.skippedBy'), 'chart small');
  const failed = chartBox(t('broadcasts.failedBy'), 'chart small');
  const skippedNote = h('p', { class: 'muted' });
  const failedNote = h('p', { class: 'muted' });
  fill(
    root,
    h('p', null, h('a', { href: '#/broadcasts', text: `← ${t('broadcasts.title')}` })),
    head,
    status.el,
    h('div', { class: 'panel' }, progress, figures),
    h('div', { class: 'panel' }, h('h2', { text: t('broadcasts.outcomes') }), outcomes.box),
    h(
      'div',
      { class: 'row' },
      h('div', { class: 'panel' }, h('h2', { text: t('broadcasts.skippedBy') }), skipped.box, skippedNote),
      h('div', { class: 'panel' }, h('h2', { text: t('broadcasts.failedBy') }), failed.box, failedNote),
    ),
  );

  const drawHead = () => {
    const buttons = [];
    const move = (/** @type {string} */ action, /** @type {string} */ cls = '') => {
      const btn = writeButton(
        t(`broadcasts.${action}`),
        () =>
          act(btn, status, async () => {
            b = await api('POST', `/broadcasts/${b.id}/${action}`);
            drawHead();
            await refresh();
          }),
        { class: cls },
      );
      buttons.push(btn);
    };
    if (b.state === 'draft' || b.state === 'scheduled') move('start', 'primary');
    if (b.state === 'sending') move('pause');
    if (b.state === 'paused') move('resume', 'primary');
    if (!['completed', 'cancelled'].includes(b.state)) move('cancel', 'danger');
    fill(
      head,
      h('h1', null, b.name, ' ', pill(b.state, 'broadcastState')),
      h('p', {
        class: 'muted',
        text: `${t(`purpose.${b.purpose}`, {}, b.purpose)} · ${t('broadcasts.scheduledAt')}: ${dateTime(b.scheduledAt)} · ${t('broadcasts.startedAt')}: ${dateTime(b.startedAt)} · ${t('broadcasts.completedAt')}: ${dateTime(b.completedAt)}`,
      }),
      h('div', { class: 'actions' }, buttons),
      h(
        'ul',
        null,
        b.contents.map((/** @type {any} */ c) =>
          h('li', null, h('strong', { text: `${c.locale}: ` }), c.text),
        ),
      ),
    );
  };

  async function refresh() {
    const s = await api('GET', `/broadcasts/${encodeURIComponent(id)}/stats`);
    if (s.state !== b.state) {
      b = { ...b, ...(await api('GET', `/broadcasts/${encodeURIComponent(id)}`)) };
      drawHead();
    }
    const k = s.counters;
    const skippedTotal = Object.values(/** @type {Record<string, number>} */ (s.skipped)).reduce(
      (a, n) => a + n,
      0,
    );
    progress.max = Math.max(1, k.targeted);
    progress.value = k.sent + k.failed + k.refused + k.cancelled + skippedTotal;
    fill(
      figures,
      card(t('outcome.targeted'), k.targeted, { id: 'bc-targeted' }),
      card(t('outcome.queued'), k.queued),
      card(t('outcome.pending'), s.pending),
      card(t('outcome.sent'), k.sent, { id: 'bc-sent', level: k.sent > 0 ? 'ok' : undefined }),
      card(t('outcome.skipped'), skippedTotal, { id: 'bc-skipped' }),
      card(t('outcome.failed'), k.failed, { id: 'bc-failed', level: k.failed > 0 ? 'bad' : undefined }),
      card(t('outcome.delivered'), k.delivered, { id: 'bc-delivered' }),
      card(t('outcome.read'), k.read, { id: 'bc-read' }),
      card(t('outcome.clicks'), k.clicks, { id: 'bc-clicks' }),
    );
    const keys = ['sent', 'delivered', 'read', 'clicks', 'failed', 'refused', 'cancelled'];
    await barChart(
      outcomes.canvas,
      keys.map((x) => t(`outcome.${x}`)),
      keys.map((x) => k[x] ?? 0),
    );
    const sk = Object.entries(
      /** @type {Record<string, number>} */ ({
        ...s.skipped,
        ...Object.fromEntries(Object.entries(s.refusedByReason).map(([r, n]) => [`refused:${r}`, n])),
      }),
    );
    skippedNote.textContent = sk.length ? '' : t('broadcasts.noneYet');
    await barChart(
      skipped.canvas,
      sk.map(([r]) => t(`skip.${r}`, {}, r)),
      sk.map(([, n]) => n),
      { horizontal: true },
    );
    const fc = Object.entries(/** @type {Record<string, number>} */ (s.failedByCode));
    failedNote.textContent = fc.length ? '' : t('broadcasts.noneYet');
    await barChart(
      failed.canvas,
      fc.map(([c]) => t('broadcasts.code', { code: c })),
      fc.map(([, n]) => n),
      { horizontal: true },
    );
    root.dataset.done = String(s.done);
  }
  drawHead();
  await refresh();
  ctx.every(2000, refresh);
}

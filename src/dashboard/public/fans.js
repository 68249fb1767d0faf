// Fans: search by name, PSID or tag; tags for managers.
import { api, qs } from './api.js';
import { field, fill, h, statusLine, table } from './dom.js';
import { t } from './i18n.js';
import { act, dateTime, errorText, fanName, who, writeButton } from './ui.js';

/** @param {HTMLElement} root */
export async function render(root) {
  const status = statusLine();
  const listEl = h('div', { id: 'fan-list' });
  const more = h('div');
  const q = /** @type {HTMLInputElement} */ (
    h('input', { type: 'search', id: 'fan-q', placeholder: t('fans.searchName') })
  );
  const tag = /** @type {HTMLInputElement} */ (h('input', { id: 'fan-tag', placeholder: 'vip' }));
  const form = h(
    'form',
    {
      class: 'inline',
      onsubmit: (/** @type {Event} */ e) => {
        e.preventDefault();
        void load().catch((err) => status.set(errorText(err), 'error'));
      },
    },
    field(t('fans.nameOrPsid'), q),
    field(t('fans.tag'), tag),
    h('button', { type: 'submit', text: t('common.search') }),
  );

  /** @param {any} f */
  const tagsCell = (f) => {
    const wrap = h('div', { class: 'tags' });
    const draw = (/** @type {string[]} */ tags) => {
      const input = /** @type {HTMLInputElement} */ (
        h('input', {
          class: 'tag-input',
          placeholder: t('fans.newTag'),
          size: 10,
          hidden: !who.canWrite,
          'aria-label': t('fans.newTag'),
        })
      );
      const add = writeButton(
        '+',
        () =>
          act(add, status, async () => {
            if (!input.value.trim()) return;
            const res = await api('POST', `/fans/${f.psid}/tags`, { tag: input.value.trim() });
            draw(res.tags);
            return t('fans.tagged');
          }),
        { title: t('fans.addTag') },
      );
      add.hidden = !who.canWrite;
      fill(
        wrap,
        tags.map((tg) => {
          const x = writeButton(
            '×',
            () =>
              act(x, status, async () => {
                const res = await api('DELETE', `/fans/${f.psid}/tags/${encodeURIComponent(tg)}`);
                draw(res.tags);
                return t('fans.untagged');
              }),
            { title: t('fans.removeTag') },
          );
          x.hidden = !who.canWrite;
          return h('span', { class: 'tag' }, tg, x);
        }),
        input,
        add,
      );
    };
    draw(f.tags);
    return wrap;
  };

  /** @type {any[]} */
  let rows = [];
  /** @param {string | null} [cursor] */
  async function load(cursor = null) {
    const v = q.value.trim();
    const byPsid = /^\d{1,32}$/.test(v);
    const page = await api(
      'GET',
      `/fans${qs({ q: byPsid ? undefined : v, psid: byPsid ? v : undefined, tag: tag.value.trim(), limit: 50, cursor })}`,
    );
    rows = cursor ? [...rows, ...page.items] : page.items;
    fill(
      listEl,
      table(
        [
          { label: t('fans.name'), cell: (f) => h('span', { class: 'fan-name', text: fanName(f) }) },
          { label: 'PSID', cell: (f) => h('span', { class: 'mono', text: f.psid }) },
          { label: t('fans.locale'), cell: (f) => f.locale },
          { label: t('fans.tags'), cell: (f) => tagsCell(f) },
          {
            label: t('fans.reachable'),
            cell: (f) =>
              (f.reachable ? t('common.yes') : t('common.no')) +
              (f.marketingOptOut ? ` · ${t('fans.optedOut')}` : ''),
          },
          { label: t('fans.lastInteraction'), cell: (f) => dateTime(f.lastInteractionAt) },
          {
            label: t('fans.arrival'),
            cell: (f) => (f.arrival?.ref ? h('span', { class: 'mono', text: f.arrival.ref }) : '—'),
          },
          {
            label: t('orders.title'),
            cell: (f) =>
              h('a', {
                href: '#/orders',
                text: t('fans.orders'),
                onclick: () => sessionStorage.setItem('orders.psid', f.psid),
              }),
          },
        ],
        rows,
        { empty: t('fans.none') },
      ),
    );
    fill(
      more,
      page.nextCursor
        ? h('button', { type: 'button', text: t('common.more'), onclick: () => void load(page.nextCursor) })
        : null,
    );
  }
  fill(root, h('h1', { text: t('fans.title') }), form, status.el, listEl, more);
  await load().catch((err) => status.set(errorText(err), 'error'));
}

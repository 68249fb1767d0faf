// The dashboard's shell: sign in, navigation (hash routes), language, and the screen lifecycle.
import { api, endpoints, session } from './api.js';
import { fill, h, statusLine } from './dom.js';
import { getLang, setLang, t } from './i18n.js';
import { countdown, errorText, who } from './ui.js';

/**
 * A screen module exports `render(root, params, ctx)`.
 * @typedef {{ every: (ms: number, fn: () => unknown) => void, onLeave: (fn: () => void) => void, go: (hash: string) => void, rerender: () => void }} ScreenCtx
 * @typedef {{ render: (root: HTMLElement, params: string[], ctx: ScreenCtx) => Promise<void> | void }} Screen
 */

/** @type {{ id: string, module: string, needs?: string }[]} */
const SCREENS = [
  { id: 'overview', module: './overview.js' },
  { id: 'campaigns', module: './campaigns.js', needs: 'GET /campaigns' },
  { id: 'referrals', module: './referrals.js' },
  { id: 'broadcasts', module: './broadcasts.js', needs: 'GET /broadcasts' },
  { id: 'proposals', module: './proposals.js', needs: 'GET /proposals' },
  { id: 'reviews', module: './reviews.js', needs: 'GET /reviews' },
  { id: 'catalogue', module: './catalogue.js', needs: 'GET /products' },
  { id: 'orders', module: './orders.js', needs: 'GET /orders' },
  { id: 'fans', module: './fans.js', needs: 'GET /fans' },
  { id: 'inbox', module: './inbox.js', needs: 'GET /inbox/parked' },
];

const view = /** @type {HTMLElement} */ (document.getElementById('view'));
const nav = /** @type {HTMLElement} */ (document.getElementById('nav'));
const whoEl = /** @type {HTMLElement} */ (document.getElementById('who'));
const logoutBtn = /** @type {HTMLButtonElement} */ (document.getElementById('logout'));
const langSel = /** @type {HTMLSelectElement} */ (document.getElementById('lang'));
const pageNameEl = /** @type {HTMLElement} */ (document.getElementById('page-name'));

let signedIn = false;
/** @type {Set<string>} */
let available = new Set();
/** Cleanups of the current screen (timers). @type {(() => void)[]} */
let cleanups = [];
let renderSeq = 0;

function leaveScreen() {
  for (const fn of cleanups.splice(0)) fn();
}

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const id = parts[0] ?? 'overview';
  return { id, params: parts.slice(1) };
}

function renderNav() {
  const { id } = parseHash();
  fill(
    nav,
    SCREENS.filter((s) => !s.needs || available.has(s.needs)).map((s) =>
      h('a', { href: `#/${s.id}`, 'aria-current': s.id === id ? 'page' : undefined, text: t(`nav.${s.id}`) }),
    ),
  );
}

async function route() {
  leaveScreen();
  if (!signedIn) return;
  renderNav();
  const seq = ++renderSeq;
  const { id, params } = parseHash();
  const screen = SCREENS.find((s) => s.id === id) ?? SCREENS[0];
  document.title = `${t(`nav.${screen.id}`)} · ${t('app.title')}`;
  const root = h('section', { class: 'screen', dataset: { screen: screen.id } });
  fill(view, root);
  try {
    const mod = /** @type {Screen} */ (await import(screen.module));
    if (seq !== renderSeq) return;
    /** @type {ScreenCtx} */
    const ctx = {
      every(ms, fn) {
        let busy = false;
        const timer = setInterval(async () => {
          if (busy || document.hidden) return;
          busy = true;
          try {
            await fn();
          } catch (err) {
            console.warn('refresh failed', err);
          } finally {
            busy = false;
          }
        }, ms);
        cleanups.push(() => clearInterval(timer));
      },
      onLeave: (fn) => void cleanups.push(fn),
      go: (hash) => {
        location.hash = hash;
      },
      rerender: () => void route(),
    };
    await mod.render(root, params, ctx);
  } catch (err) {
    if (seq === renderSeq)
      fill(root, h('p', { class: 'status', dataset: { kind: 'error' }, text: errorText(err) }));
  }
}

function applyLang() {
  document.documentElement.lang = getLang();
  langSel.value = getLang();
  logoutBtn.textContent = t('auth.logout');
}

function renderLogin() {
  signedIn = false;
  leaveScreen();
  nav.hidden = true;
  logoutBtn.hidden = true;
  whoEl.textContent = '';
  document.title = t('app.title');
  const status = statusLine();
  const email = h('input', {
    type: 'email',
    name: 'email',
    id: 'login-email',
    autocomplete: 'username',
    required: true,
  });
  const password = h('input', {
    type: 'password',
    name: 'password',
    id: 'login-password',
    autocomplete: 'current-password',
    required: true,
  });
  const submit = h('button', {
    type: 'submit',
    class: 'primary',
    id: 'login-submit',
    text: t('auth.signIn'),
  });
  const form = h(
    'form',
    {
      id: 'login-form',
      onsubmit: async (/** @type {SubmitEvent} */ ev) => {
        ev.preventDefault();
        submit.disabled = true;
        status.set(t('common.working'));
        try {
          const res = await api('POST', '/session', {
            email: /** @type {HTMLInputElement} */ (email).value.trim(),
            password: /** @type {HTMLInputElement} */ (password).value,
          });
          session.csrf = res.csrfToken;
          await start();
        } catch (err) {
          status.set(errorText(err), 'error');
          submit.disabled = false;
        }
      },
    },
    h('label', { class: 'field' }, h('span', { text: t('auth.email') }), email),
    h('label', { class: 'field' }, h('span', { text: t('auth.password') }), password),
    submit,
    status.el,
  );
  fill(view, h('div', { class: 'login panel' }, h('h1', { text: t('auth.title') }), form));
  /** @type {HTMLInputElement} */ (email).focus();
}

/** After a sign-in (or with a live session cookie): who am I, what can I do, which screens exist. */
async function start() {
  const me = await api('GET', '/me');
  session.csrf = me.csrfToken ?? session.csrf;
  who.role = me.role;
  who.canWrite = me.role === 'manager' || me.role === 'owner';
  who.label = me.label;
  who.pageName = me.page?.name || me.page?.id || '';
  available = await endpoints();
  signedIn = true;
  pageNameEl.textContent = who.pageName || t('app.title');
  whoEl.textContent = `${who.label} · ${t(`roles.${who.role}`, {}, who.role)}`;
  document.body.dataset.role = who.role;
  nav.hidden = false;
  logoutBtn.hidden = false;
  await route();
}

logoutBtn.addEventListener('click', async () => {
  try {
    await api('DELETE', '/session');
  } catch {
    // Signed out either way.
  }
  session.csrf = null;
  delete document.body.dataset.role;
  renderLogin();
});

langSel.addEventListener('change', () => {
  setLang(langSel.value);
  applyLang();
  if (signedIn) {
    whoEl.textContent = `${who.label} · ${t(`roles.${who.role}`, {}, who.role)}`;
    void route();
  } else renderLogin();
});

window.addEventListener('hashchange', () => void route());

// Countdowns tick here, once a second, for whichever screen shows them.
setInterval(() => {
  const now = Date.now();
  for (const el of document.querySelectorAll('[data-deadline]')) {
    el.textContent = countdown(/** @type {HTMLElement} */ (el).dataset.deadline ?? '', now);
  }
}, 1000);

session.onUnauthenticated = () => {
  if (signedIn) renderLogin();
};

applyLang();
start().catch(() => renderLogin());

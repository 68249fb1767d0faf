import express, { type Request, type Response, type Router } from 'express';
import type { Config, Locale } from '../config/index.js';
import { FanModel } from '../db/models/fan.js';
import { localized } from '../app/catalog.js';
import { getOrderByToken, orderStateLabel, transitionOrder, type OrderView } from '../app/orders.js';
import { formatMoney } from '../domain/money.js';
import { t } from '../i18n/index.js';
import type { Logger } from '../log.js';

/**
 * The order page `/orders/<token>`: server-rendered, every value escaped, in the fan's language
 * (`?lang=it|en` overrides). The token (32 random bytes) is the only credential, so the page is never
 * cached, never indexed and never leaks its URL as a referrer. `POST /orders/<token>/pay` is the
 * demo "mark as paid" button: only in simulator mode.
 */

export interface OrderPageDeps {
  /** The configuration, or a getter for it (the server learns its real port after mounting this). */
  readonly config: Config | (() => Config);
  readonly log: Logger;
  readonly now: () => Date;
}

const escapeHtml = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1c1e21}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem;border-bottom:1px solid #ddd}
td.n,th.n{text-align:right}.state{display:inline-block;padding:.1rem .6rem;border-radius:1rem;background:#e7f3ff}
button,a.button{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:.4rem;background:#0866ff;color:#fff;cursor:pointer;text-decoration:none}
.note{color:#65676b;font-size:.9rem}`;

function setHeaders(res: Response): void {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Robots-Tag', 'noindex, nofollow');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader(
    'Content-Security-Policy',
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  );
}

function page(locale: Locale, title: string, body: string): string {
  return `<!doctype html><html lang="${locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

export function renderOrderPage(
  order: OrderView,
  locale: Locale,
  opts: { readonly canPayHere: boolean; readonly justPaid: boolean },
): string {
  const tt = (key: string, vars?: Record<string, unknown>) => escapeHtml(t(locale, key, vars));
  const money = (m: OrderView['total']) => escapeHtml(formatMoney(m, locale));
  const rows = order.lines
    .map(
      (l) =>
        `<tr><td>${escapeHtml(localized(l.title, locale))}${l.variantLabel ? ` <span class="note">${escapeHtml(l.variantLabel)}</span>` : ''}</td>` +
        `<td class="n">${escapeHtml(String(l.qty))}</td><td class="n">${money(l.unitPrice)}</td><td class="n">${money(l.lineTotal)}</td></tr>`,
    )
    .join('');
  // Invite credit spent at checkout: subtotal, the credit taken off, then the total due.
  const discountRows = order.discount
    ? `<tr><th colspan="3">${tt('shop.checkout.subtotal_label')}</th><th class="n" id="subtotal">${money(order.subtotal)}</th></tr>` +
      `<tr><th colspan="3">${tt('shop.checkout.discount_label')}</th><th class="n" id="discount">−${money(order.discount.amount)}</th></tr>`
    : '';
  let action = '';
  if (order.state === 'pending_payment') {
    if (opts.canPayHere) {
      action = `<form method="post" action="/orders/${encodeURIComponent(order.token)}/pay?lang=${locale}"><button type="submit">${tt('shop.orders.page.pay_demo')}</button></form><p class="note">${tt('shop.orders.page.demo_note')}</p>`;
    } else if (order.payment.strategy !== 'order_page') {
      action = `<p><a class="button" href="${escapeHtml(order.payment.url)}" rel="noreferrer">${tt('shop.orders.page.pay_external')}</a></p>`;
    }
  }
  const body =
    `<h1>${tt('shop.orders.page.title', { number: order.number })}</h1>` +
    `<p>${tt('shop.orders.page.state')}: <span class="state" data-state="${escapeHtml(order.state)}">${escapeHtml(orderStateLabel(order.state, locale))}</span></p>` +
    (opts.justPaid && order.state === 'paid' ? `<p>${tt('shop.orders.page.paid_note')}</p>` : '') +
    `<table><thead><tr><th>${tt('shop.orders.page.item')}</th><th class="n">${tt('shop.orders.page.qty')}</th><th class="n">${tt('shop.orders.page.price')}</th><th class="n">${tt('shop.orders.page.line_total')}</th></tr></thead>` +
    `<tbody>${rows}</tbody><tfoot>${discountRows}<tr><th colspan="3">${tt('shop.orders.page.total')}</th><th class="n" id="total">${money(order.total)}</th></tr></tfoot></table>` +
    action +
    `<p class="note">${tt('shop.orders.page.back_to_chat')}</p>` +
    `<p class="note"><a href="?lang=it">Italiano</a> · <a href="?lang=en">English</a></p>`;
  return page(locale, t(locale, 'shop.orders.page.title', { number: order.number }), body);
}

export function renderNotFound(locale: Locale): string {
  const title = t(locale, 'shop.orders.page.not_found_title');
  return page(
    locale,
    title,
    `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(t(locale, 'shop.orders.page.not_found'))}</p>`,
  );
}

function queryLocale(req: Request): Locale | undefined {
  const lang = req.query.lang;
  return lang === 'it' || lang === 'en' ? lang : undefined;
}

async function localeFor(req: Request, order: OrderView | undefined, config: Config): Promise<Locale> {
  const asked = queryLocale(req);
  if (asked) return asked;
  if (!order) return config.defaultLocale;
  const fan = await FanModel.findOne({ pageId: order.pageId, psid: order.psid }, { locale: 1 }).lean<{
    locale?: Locale;
  }>();
  return fan?.locale ?? config.defaultLocale;
}

/**
 * The demo "mark as paid" exists only in simulator mode: on a real Page anyone holding the order link
 * could otherwise mark it paid. There, payment is a PAYMENT_URL_TEMPLATE shop or a manager's action.
 */
export function demoPaymentAllowed(config: Config): boolean {
  return config.simulator;
}

export function createOrderPageRouter(deps: OrderPageDeps): Router {
  const configOf = typeof deps.config === 'function' ? deps.config : () => deps.config as Config;
  const log = deps.log.child({ module: 'order-page' });
  const router = express.Router();

  router.get('/orders/:token', async (req, res, next) => {
    try {
      setHeaders(res);
      const config = configOf();
      const order = await getOrderByToken(String(req.params.token));
      const locale = await localeFor(req, order, config);
      if (!order) {
        res.status(404).type('html').send(renderNotFound(locale));
        return;
      }
      res
        .status(200)
        .type('html')
        .send(
          renderOrderPage(order, locale, {
            canPayHere: demoPaymentAllowed(config),
            justPaid: req.query.paid === '1',
          }),
        );
    } catch (error) {
      next(error);
    }
  });

  router.post('/orders/:token/pay', async (req, res, next) => {
    try {
      setHeaders(res);
      const config = configOf();
      const order = await getOrderByToken(String(req.params.token));
      const locale = await localeFor(req, order, config);
      if (!order) {
        res.status(404).type('html').send(renderNotFound(locale));
        return;
      }
      if (!demoPaymentAllowed(config)) {
        res.status(403).type('html').send(renderNotFound(locale));
        return;
      }
      if (order.state === 'pending_payment') {
        const result = await transitionOrder(
          { pageId: order.pageId, now: deps.now(), config, log },
          order.id,
          'paid',
          { type: 'fan', id: order.psid },
        );
        if (!result.ok) log.info({ order: order.number, code: result.code }, 'demo payment not applied');
      }
      const lang = queryLocale(req);
      res.redirect(303, `/orders/${encodeURIComponent(order.token)}?paid=1${lang ? `&lang=${lang}` : ''}`);
    } catch (error) {
      next(error);
    }
  });

  return router;
}

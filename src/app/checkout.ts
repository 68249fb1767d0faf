import { createHash } from 'node:crypto';
import { Types } from 'mongoose';
import type { Locale } from '../config/index.js';
import { CartModel } from '../db/models/cart.js';
import { FanModel } from '../db/models/fan.js';
import { CheckoutQuoteModel } from '../db/models/order.js';
import { formatMoney, money, type Money } from '../domain/money.js';
import { MESSAGING_WINDOW_MS } from '../domain/messaging-policy.js';
import { buildPayload } from '../domain/text-match.js';
import { t } from '../i18n/index.js';
import { buttonTemplate, postback } from '../messenger/builders.js';
import { enqueueMessages } from '../messenger/outbox/enqueue.js';
import { viewCart } from './cart.js';
import { decrementStock, findVariant, restoreStock, variantLabel, type LocalizedText } from './catalog.js';
import { findEntry, refundSpend, spendableCredit, spendCredit, spendKey } from './ledger.js';
import {
  applyOrderDiscount,
  createOrder,
  findOrderByIdempotencyKey,
  getOrder,
  transitionOrder,
  type OrdersContext,
  type OrderView,
} from './orders.js';

/**
 * Checkout of the fan's cart, in two steps:
 *
 * 1. `startCheckout` prices the cart as it is now (a *quote*), stores it under a version (a hash of
 *    the cart id, lines, quantities and prices) and reports what changed since the fan last saw a
 *    quote: prices, lines no longer available, lines with less stock than asked.
 * 2. `confirmCheckout(version)` creates the order only if the cart still prices to that version —
 *    the fan confirms exactly what they were shown. Then, as a workflow with compensation: reserve
 *    each line with the catalogue's conditional decrement; if one fails, give back the lines already
 *    taken; create the order; close the cart. The order's idempotency key is `cart:<id>:<version>`,
 *    so a retried turn (same inbox event, same payload) returns the same order.
 * 3. The fan's invite credit in the order's currency pays for what it can (`applyCredit`): one spend
 *    keyed by the order, then the discount stored on the order while it is still pending.
 *
 * A crash between reserving and creating the order can leave units reserved with no order (they are
 * under-counted, never oversold); a stock janitor is future work.
 */

export type CheckoutContext = OrdersContext;

export interface QuoteLine {
  /** Product SKU. */
  readonly sku: string;
  readonly variantSku: string;
  readonly title: LocalizedText;
  readonly variantLabel: string;
  readonly unitPrice: Money;
  readonly qty: number;
  readonly lineTotal: Money;
}

export interface CheckoutQuote {
  readonly cartId: string;
  readonly version: string;
  readonly lines: readonly QuoteLine[];
  readonly units: number;
  readonly total: Money;
}

export type CheckoutChange =
  | {
      readonly type: 'price';
      readonly variantSku: string;
      readonly title: LocalizedText;
      readonly variantLabel: string;
      readonly before: Money;
      readonly after: Money;
    }
  | {
      readonly type: 'unavailable';
      readonly variantSku: string;
      readonly title: LocalizedText;
      readonly variantLabel: string;
    }
  | {
      readonly type: 'stock';
      readonly variantSku: string;
      readonly title: LocalizedText;
      readonly variantLabel: string;
      readonly requested: number;
      readonly available: number;
    };

export type StartCheckoutResult =
  | { readonly ok: true; readonly quote: CheckoutQuote }
  | {
      readonly ok: false;
      readonly code: 'prices_changed';
      readonly changes: readonly CheckoutChange[];
      readonly quote: CheckoutQuote;
    }
  | { readonly ok: false; readonly code: 'empty_cart' }
  | { readonly ok: false; readonly code: 'nothing_available'; readonly changes: readonly CheckoutChange[] };

export type ConfirmCheckoutResult =
  | { readonly ok: true; readonly order: OrderView; readonly created: boolean }
  | Exclude<StartCheckoutResult, { ok: true }>
  | { readonly ok: false; readonly code: 'stale' }
  | {
      readonly ok: false;
      readonly code: 'sold_out';
      readonly line: Pick<QuoteLine, 'variantSku' | 'title' | 'variantLabel'>;
    };

const QUOTE_TTL_MS = 24 * 60 * 60 * 1000;

export function quoteVersion(
  cartId: string,
  lines: readonly Pick<QuoteLine, 'variantSku' | 'qty' | 'unitPrice'>[],
) {
  const h = createHash('sha256').update(cartId);
  for (const l of lines)
    h.update(`\n${l.variantSku}\t${l.qty}\t${l.unitPrice.amount}\t${l.unitPrice.currency}`);
  return h.digest('base64url').slice(0, 16);
}

export function idempotencyKeyFor(cartId: string, version: string): string {
  return `cart:${cartId}:${version}`;
}

interface PricedCart {
  readonly quote: CheckoutQuote | undefined;
  /** Lines that cannot be ordered as they are (gone, or not enough stock). */
  readonly problems: CheckoutChange[];
}

/** Prices the fan's open cart as it is right now. `quote` is undefined when there is no open cart. */
async function priceCart(ctx: CheckoutContext, psid: string): Promise<PricedCart> {
  const cart = await viewCart({ pageId: ctx.pageId, psid, now: ctx.now });
  if (!cart.id || cart.lines.length === 0) return { quote: undefined, problems: [] };
  const lines: QuoteLine[] = [];
  const problems: CheckoutChange[] = [];
  for (const line of cart.lines) {
    if (!line.product || !line.variant || !line.unitPrice || line.available <= 0) {
      const found = await findVariant(ctx, line.sku);
      problems.push({
        type: 'unavailable',
        variantSku: line.sku,
        title: found?.product.title ?? { it: line.sku, en: line.sku },
        variantLabel: found ? variantLabel(found.variant) : '',
      });
      continue;
    }
    const base = {
      variantSku: line.sku,
      title: line.product.title,
      variantLabel: variantLabel(line.variant),
    };
    const qty = Math.min(line.qty, line.available);
    if (qty < line.qty)
      problems.push({ type: 'stock', ...base, requested: line.qty, available: line.available });
    lines.push({
      sku: line.product.sku,
      ...base,
      unitPrice: line.unitPrice,
      qty,
      lineTotal: money(line.unitPrice.amount * qty, line.unitPrice.currency),
    });
  }
  const currency = lines[0]?.unitPrice.currency ?? cart.total.currency;
  return {
    quote: {
      cartId: cart.id,
      version: quoteVersion(cart.id, lines),
      lines,
      units: lines.reduce((n, l) => n + l.qty, 0),
      total: money(
        lines.reduce((n, l) => n + l.lineTotal.amount, 0),
        currency,
      ),
    },
    problems,
  };
}

interface StoredQuote {
  cartId: string;
  version: string;
  lines: { variantSku: string; qty: number; unitPrice: number }[];
  currency: string;
}

function priceChanges(previous: StoredQuote | null, quote: CheckoutQuote): CheckoutChange[] {
  if (!previous) return [];
  const before = new Map(previous.lines.map((l) => [l.variantSku, l.unitPrice]));
  const changes: CheckoutChange[] = [];
  for (const line of quote.lines) {
    const was = before.get(line.variantSku);
    if (was !== undefined && was !== line.unitPrice.amount) {
      changes.push({
        type: 'price',
        variantSku: line.variantSku,
        title: line.title,
        variantLabel: line.variantLabel,
        before: money(was, previous.currency),
        after: line.unitPrice,
      });
    }
  }
  return changes;
}

async function saveQuote(ctx: CheckoutContext, psid: string, quote: CheckoutQuote): Promise<void> {
  await CheckoutQuoteModel.updateOne(
    { pageId: String(ctx.pageId), psid: String(psid), version: quote.version },
    {
      $set: {
        cartId: quote.cartId,
        lines: quote.lines.map((l) => ({
          variantSku: l.variantSku,
          qty: l.qty,
          unitPrice: l.unitPrice.amount,
        })),
        total: quote.total.amount,
        currency: quote.total.currency,
        createdAt: ctx.now,
        expiresAt: new Date(ctx.now.getTime() + QUOTE_TTL_MS),
      },
    },
    { upsert: true },
  );
}

async function latestQuote(ctx: CheckoutContext, psid: string, cartId: string): Promise<StoredQuote | null> {
  return CheckoutQuoteModel.findOne({
    pageId: String(ctx.pageId),
    psid: String(psid),
    cartId: String(cartId),
  })
    .sort({ createdAt: -1, _id: -1 })
    .lean<StoredQuote>();
}

/** Re-prices the cart; reports price changes since the last quote the fan saw, and unavailable lines. */
export async function startCheckout(ctx: CheckoutContext, psid: string): Promise<StartCheckoutResult> {
  const { quote, problems } = await priceCart(ctx, psid);
  if (!quote) return { ok: false, code: 'empty_cart' };
  if (quote.lines.length === 0) return { ok: false, code: 'nothing_available', changes: problems };
  const changes = [...priceChanges(await latestQuote(ctx, psid, quote.cartId), quote), ...problems];
  await saveQuote(ctx, psid, quote);
  return changes.length > 0 ? { ok: false, code: 'prices_changed', changes, quote } : { ok: true, quote };
}

/**
 * Turns the quote the fan confirmed into an order. Idempotent per (cart, version): a second call
 * returns the first call's order with `created: false`.
 */
export async function confirmCheckout(
  ctx: CheckoutContext,
  psid: string,
  cartVersion: string,
): Promise<ConfirmCheckoutResult> {
  const confirmed = await CheckoutQuoteModel.findOne({
    pageId: String(ctx.pageId),
    psid: String(psid),
    version: String(cartVersion),
  }).lean<StoredQuote>();
  if (!confirmed) return { ok: false, code: 'stale' };
  const key = idempotencyKeyFor(confirmed.cartId, confirmed.version);
  const done = await findOrderByIdempotencyKey(ctx, key);
  // A retry also finishes what a crashed first attempt may have left half done (spent, not stored).
  if (done) return { ok: true, order: await applyCredit(ctx, done), created: false };

  const { quote, problems } = await priceCart(ctx, psid);
  if (!quote) return { ok: false, code: 'empty_cart' };
  // Something the fan confirmed ran out in the meantime (someone else bought it): say so plainly.
  for (const line of confirmed.lines) {
    const gone = problems.find(
      (p) =>
        p.variantSku === line.variantSku &&
        (p.type === 'unavailable' || (p.type === 'stock' && p.available < line.qty)),
    );
    if (gone) {
      return {
        ok: false,
        code: 'sold_out',
        line: { variantSku: gone.variantSku, title: gone.title, variantLabel: gone.variantLabel },
      };
    }
  }
  if (quote.lines.length === 0) return { ok: false, code: 'nothing_available', changes: problems };
  if (quote.version !== confirmed.version) {
    await saveQuote(ctx, psid, quote);
    return {
      ok: false,
      code: 'prices_changed',
      changes: [...priceChanges(confirmed, quote), ...problems],
      quote,
    };
  }

  // Reserve line by line; on the first failure, give back what was taken (in reverse).
  const taken: QuoteLine[] = [];
  const giveBack = async () => {
    for (const line of [...taken].reverse()) await restoreStock(ctx, line.variantSku, line.qty);
    taken.length = 0;
  };
  for (const line of quote.lines) {
    if (await decrementStock(ctx, line.variantSku, line.qty)) {
      taken.push(line);
      continue;
    }
    await giveBack();
    // The same fan's other tap may have won this very order.
    const raced = await findOrderByIdempotencyKey(ctx, key);
    if (raced) return { ok: true, order: raced, created: false };
    return {
      ok: false,
      code: 'sold_out',
      line: { variantSku: line.variantSku, title: line.title, variantLabel: line.variantLabel },
    };
  }

  let created: { order: OrderView; created: boolean };
  try {
    created = await createOrder(ctx, {
      psid,
      lines: quote.lines,
      source: { type: 'cart', cartId: quote.cartId },
      idempotencyKey: key,
      stockReserved: true,
      by: { type: 'fan', id: psid },
    });
  } catch (error) {
    await giveBack();
    throw error;
  }
  if (!created.created) await giveBack(); // a concurrent confirm made it (and reserved for it)
  await CartModel.updateOne(
    { _id: new Types.ObjectId(quote.cartId), pageId: String(ctx.pageId), status: 'open' },
    { $set: { status: 'ordered' } },
  );
  const order = await applyCredit(ctx, created.order);
  ctx.log?.info(
    { order: order.number, created: created.created, discount: order.discount?.amount.amount ?? 0 },
    'checkout confirmed',
  );
  return { ok: true, order, created: created.created };
}

/**
 * Spends the fan's invite credit on a pending cart order: `min(credit, total)`, under the ledger key
 * of the order (a retried turn spends nothing more: the first spend is found and re-applied), then
 * stores it as the order's discount with a conditional update (only while `pending_payment` and not
 * discounted yet). If that update loses to a state change (a cancellation, a payment), the spend is
 * given back. Cancelling a discounted order gives the credit back (`onOrderCancelled` → `refundSpend`).
 */
export async function applyCredit(ctx: CheckoutContext, order: OrderView): Promise<OrderView> {
  return settleIfNothingDue(ctx, await spendCreditOn(ctx, order));
}

/**
 * An order the credit paid in full is paid: nobody will ever follow a payment link for 0,00 €. Also
 * finishes a retried confirm whose first attempt died between the discount and this transition.
 */
async function settleIfNothingDue(ctx: CheckoutContext, order: OrderView): Promise<OrderView> {
  if (order.state !== 'pending_payment' || !order.discount || order.total.amount > 0) return order;
  const moved = await transitionOrder(
    ctx,
    order.id,
    'paid',
    { type: 'system', label: 'invite_credit' },
    { tellFan: false }, // the checkout's answer says it: nothing to pay
  );
  return moved.ok ? moved.order : ((await getOrder(ctx, order.id)) ?? order);
}

async function spendCreditOn(ctx: CheckoutContext, order: OrderView): Promise<OrderView> {
  if (order.source.type !== 'cart' || order.state !== 'pending_payment' || order.discount) return order;
  const currency = order.total.currency;
  const prior = await findEntry(spendKey(ctx.pageId, order.id));
  let amount: number;
  if (prior) {
    amount = -prior.amount; // spendCredit below finds it and reports whether it still stands
  } else {
    amount = Math.min(await spendableCredit(ctx, order.psid, currency), order.total.amount);
    if (amount <= 0) return order;
  }
  const spent = await spendCredit(ctx, order.psid, order.id, amount, currency);
  if (!spent.ok) return order;
  const discounted = await applyOrderDiscount(ctx, order, spent.amount, 'referral_credit');
  if (discounted) return discounted;
  const now = (await getOrder(ctx, order.id)) ?? order;
  if (!now.discount) {
    await refundSpend(ctx, order.id);
    ctx.log?.info({ order: order.number, state: now.state }, 'credit given back: order no longer pending');
  }
  return now;
}

// ---------------------------------------------------------------------------------------------
// Abandoned carts

/** A cart untouched this long, whose fan can still be written to, gets one reminder. */
export const ABANDONED_AFTER_MS = 2 * 60 * 60 * 1000;
/** Carts older than this are not looked at (their fans are almost surely outside the window). */
const ABANDONED_LOOKBACK_MS = 7 * 24 * 60 * 60 * 1000;

export interface AbandonedCart {
  readonly id: string;
  readonly pageId: string;
  readonly psid: string;
  /** The cart's last change (ms): a changed cart may be reminded about again. */
  readonly version: string;
  readonly locale: Locale;
  readonly units: number;
  readonly total: Money;
  readonly updatedAt: Date;
}

/**
 * Open, non-empty carts untouched for 2 h whose fan is still inside Meta's 24 h window, reachable,
 * and not talking to a person.
 */
export async function findAbandonedCarts(
  now: Date,
  opts: { readonly pageId?: string; readonly limit?: number } = {},
): Promise<AbandonedCart[]> {
  const filter: Record<string, unknown> = {
    status: 'open',
    updatedAt: {
      $lte: new Date(now.getTime() - ABANDONED_AFTER_MS),
      $gt: new Date(now.getTime() - ABANDONED_LOOKBACK_MS),
    },
    'lines.0': { $exists: true },
  };
  if (opts.pageId) filter.pageId = String(opts.pageId);
  const carts = await CartModel.find(filter, { pageId: 1, psid: 1, updatedAt: 1 })
    .sort({ updatedAt: 1 })
    .limit(opts.limit ?? 1000)
    .lean<{ _id: Types.ObjectId; pageId: string; psid: string; updatedAt: Date }[]>();
  const found: AbandonedCart[] = [];
  for (const cart of carts) {
    const fan = await FanModel.findOne(
      {
        pageId: cart.pageId,
        psid: cart.psid,
        lastInteractionAt: { $gt: new Date(now.getTime() - MESSAGING_WINDOW_MS) },
      },
      { locale: 1, reachable: 1, threadOwner: 1 },
    ).lean<{ locale: Locale; reachable?: boolean; threadOwner?: string }>();
    if (!fan || fan.reachable === false || fan.threadOwner === 'inbox') continue;
    const view = await viewCart({ pageId: cart.pageId, psid: cart.psid, now });
    if (view.units === 0) continue;
    found.push({
      id: String(cart._id),
      pageId: cart.pageId,
      psid: cart.psid,
      version: String(cart.updatedAt.getTime()),
      locale: fan.locale,
      units: view.units,
      total: view.total,
      updatedAt: cart.updatedAt,
    });
  }
  return found;
}

/**
 * Enqueues one reminder for a cart (purpose `reminder`: the messaging policy refuses it outside the
 * 24 h window). Returns true when a new outbox record was written (false: already reminded).
 */
export async function remindAbandonedCart(cart: AbandonedCart, now: Date): Promise<boolean> {
  const message = buttonTemplate(
    t(cart.locale, 'shop.checkout.reminder', {
      count: cart.units,
      total: formatMoney(cart.total, cart.locale),
    }),
    [
      postback(t(cart.locale, 'shop.cart.view'), buildPayload('cart')),
      postback(t(cart.locale, 'shop.cart.checkout'), buildPayload('checkout')),
    ],
  );
  const result = await enqueueMessages(
    [
      {
        pageId: cart.pageId,
        idempotencyKey: `cart-reminder:${cart.id}:${cart.version}`,
        kind: 'message',
        recipient: { psid: cart.psid },
        purpose: 'reminder',
        body: message as unknown as Record<string, unknown>,
        origin: { type: 'cart', id: cart.id },
      },
    ],
    now,
  );
  return result.created === 1;
}

/** For the jobs runner: find and remind. Idempotent (a second run in the same state sends nothing). */
export async function runAbandonedCartReminders(
  now: Date,
  opts: { readonly pageId?: string } = {},
): Promise<{ readonly found: number; readonly reminded: number }> {
  const carts = await findAbandonedCarts(now, opts);
  let reminded = 0;
  for (const cart of carts) if (await remindAbandonedCart(cart, now)) reminded++;
  return { found: carts.length, reminded };
}

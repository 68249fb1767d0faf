import { randomBytes } from 'node:crypto';
import { Types } from 'mongoose';
import type { Config, Locale } from '../config/index.js';
import { nextSequence } from '../db/models/counter.js';
import { FanModel } from '../db/models/fan.js';
import { OrderModel } from '../db/models/order.js';
import { money, formatMoney, type Money } from '../domain/money.js';
import {
  transition,
  type OrderActor,
  type OrderState,
  type TransitionResult,
} from '../domain/order-state.js';
import { t } from '../i18n/index.js';
import type { Logger } from '../log.js';
import {
  buttonTemplate,
  charCount,
  truncate,
  urlButton,
  type OutgoingMessage,
} from '../messenger/builders.js';
import { LIMITS } from '../messenger/limits.js';
import { enqueueMessages } from '../messenger/outbox/enqueue.js';
import { localized, restoreStock, type LocalizedText } from './catalog.js';
import { orderPageUrl, paymentStrategyFor } from './payment-link.js';
import { onOrderCancelled, onOrderPaid } from './referrals.js';

/**
 * Orders: creation (shared by the cart checkout and, later, group buys), the lifecycle moves through
 * the transition table in `domain/order-state.ts`, and what the fan is told about each move.
 *
 * Every state change is one conditional update on the current state (`{_id, state: from}`), so two
 * managers (or a manager and the payment page) can never both win; the loser sees the new state.
 */

export interface OrdersContext {
  readonly pageId: string;
  readonly now: Date;
  readonly config: Pick<Config, 'publicUrl' | 'paymentUrlTemplate' | 'defaultLocale'>;
  readonly log?: Logger | undefined;
}

/** Order numbers: `DL-000123`, one sequence per page. */
export const ORDER_NUMBER_PREFIX = 'DL';

export function formatOrderNumber(seq: number): string {
  return `${ORDER_NUMBER_PREFIX}-${String(seq).padStart(6, '0')}`;
}

export interface OrderLineInput {
  readonly sku: string;
  readonly variantSku: string;
  readonly title: LocalizedText;
  readonly variantLabel: string;
  readonly unitPrice: Money;
  readonly qty: number;
}

export type OrderSource =
  | { readonly type: 'cart'; readonly cartId: string }
  | { readonly type: 'groupbuy'; readonly campaignId: string };

export interface CreateOrderInput {
  readonly psid: string;
  readonly lines: readonly OrderLineInput[];
  readonly source: OrderSource;
  /** Same key, same order (unique per page). */
  readonly idempotencyKey: string;
  /** The caller already took these units from stock (a cancellation before shipping gives them back). */
  readonly stockReserved?: boolean;
  readonly by?: OrderActor;
}

export interface OrderLineView {
  readonly sku: string;
  readonly variantSku: string;
  readonly title: LocalizedText;
  readonly variantLabel: string;
  readonly unitPrice: Money;
  readonly qty: number;
  readonly lineTotal: Money;
}

export interface OrderHistoryView {
  readonly from: OrderState | null;
  readonly to: OrderState;
  readonly at: Date;
  readonly by: OrderActor;
}

export type OrderDiscountReason = 'referral_credit';

export interface OrderDiscountView {
  readonly amount: Money;
  readonly reason: OrderDiscountReason;
}

export interface OrderView {
  readonly id: string;
  readonly pageId: string;
  readonly psid: string;
  readonly number: string;
  readonly lines: OrderLineView[];
  readonly units: number;
  /** The lines' total, before any discount. */
  readonly subtotal: Money;
  /** Taken off the subtotal (invite credit spent at checkout); undefined when none. */
  readonly discount: OrderDiscountView | undefined;
  /** What is due: subtotal − discount, never below 0. */
  readonly total: Money;
  readonly state: OrderState;
  readonly history: OrderHistoryView[];
  readonly token: string;
  readonly idempotencyKey: string;
  readonly source: {
    readonly type: 'cart' | 'groupbuy';
    readonly cartId?: string;
    readonly campaignId?: string;
  };
  readonly payment: { readonly strategy: string; readonly url: string };
  readonly stockReserved: boolean;
  readonly stockReleasedAt: Date | undefined;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

interface OrderDoc {
  _id: Types.ObjectId;
  pageId: string;
  psid: string;
  number: string;
  lines: {
    sku: string;
    variantSku: string;
    title?: { it?: string | null; en?: string | null } | null;
    variantLabel?: string | null;
    unitPrice: number;
    qty: number;
    lineTotal: number;
  }[];
  totals: { units: number; total: number; subtotal?: number | null; currency: string };
  discount?: { amount: number; currency: string; reason: OrderDiscountReason } | null;
  state: OrderState;
  history?: { from?: OrderState | null; to: OrderState; at: Date; by: OrderActor }[] | null;
  token: string;
  idempotencyKey: string;
  source: { type: 'cart' | 'groupbuy'; cartId?: string | null; campaignId?: string | null };
  payment: { strategy: string; url: string };
  stockReserved?: boolean | null;
  stockReleasedAt?: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export function toOrderView(doc: OrderDoc): OrderView {
  const currency = doc.totals.currency;
  return {
    id: String(doc._id),
    pageId: doc.pageId,
    psid: doc.psid,
    number: doc.number,
    lines: doc.lines.map((l) => ({
      sku: l.sku,
      variantSku: l.variantSku,
      title: { it: l.title?.it ?? '', en: l.title?.en ?? '' },
      variantLabel: l.variantLabel ?? '',
      unitPrice: money(l.unitPrice, currency),
      qty: l.qty,
      lineTotal: money(l.lineTotal, currency),
    })),
    units: doc.totals.units,
    subtotal: money(doc.totals.subtotal ?? doc.totals.total, currency),
    discount: doc.discount
      ? { amount: money(doc.discount.amount, doc.discount.currency), reason: doc.discount.reason }
      : undefined,
    total: money(doc.totals.total, currency),
    state: doc.state,
    history: (doc.history ?? []).map((h) => ({
      from: h.from ?? null,
      to: h.to,
      at: h.at,
      by: { type: h.by.type, id: h.by.id ?? undefined, label: h.by.label ?? undefined },
    })),
    token: doc.token,
    idempotencyKey: doc.idempotencyKey,
    source: {
      type: doc.source.type,
      ...(doc.source.cartId ? { cartId: doc.source.cartId } : {}),
      ...(doc.source.campaignId ? { campaignId: doc.source.campaignId } : {}),
    },
    payment: { strategy: doc.payment.strategy, url: doc.payment.url },
    stockReserved: doc.stockReserved === true,
    stockReleasedAt: doc.stockReleasedAt ?? undefined,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}

const DUPLICATE_KEY = 11000;
const isDuplicate = (e: unknown) => (e as { code?: number }).code === DUPLICATE_KEY;

export async function findOrderByIdempotencyKey(
  ctx: Pick<OrdersContext, 'pageId'>,
  idempotencyKey: string,
): Promise<OrderView | undefined> {
  const doc = await OrderModel.findOne({
    pageId: String(ctx.pageId),
    idempotencyKey: String(idempotencyKey),
  }).lean<OrderDoc>();
  return doc ? toOrderView(doc) : undefined;
}

export class OrderInputError extends Error {
  override readonly name = 'OrderInputError';
}

/**
 * Creates an order in `pending_payment` with a frozen snapshot of its lines, a number from the
 * page's counter and an unguessable token. Idempotent: the same key returns the order made the
 * first time (`created: false`). Stock is the caller's business (see `stockReserved`).
 */
export async function createOrder(
  ctx: OrdersContext,
  input: CreateOrderInput,
): Promise<{ readonly order: OrderView; readonly created: boolean }> {
  if (input.lines.length === 0) throw new OrderInputError('an order needs at least one line');
  const currency = input.lines[0]!.unitPrice.currency;
  let total = 0;
  let units = 0;
  const lines = input.lines.map((l) => {
    if (l.unitPrice.currency !== currency) throw new OrderInputError('an order has one currency');
    if (!Number.isSafeInteger(l.qty) || l.qty < 1) throw new OrderInputError(`bad quantity ${l.qty}`);
    const lineTotal = l.unitPrice.amount * l.qty;
    total += lineTotal;
    units += l.qty;
    return {
      sku: l.sku,
      variantSku: l.variantSku,
      title: { it: l.title.it, en: l.title.en },
      variantLabel: l.variantLabel,
      unitPrice: l.unitPrice.amount,
      qty: l.qty,
      lineTotal,
    };
  });
  if (!Number.isSafeInteger(total)) throw new OrderInputError('order total overflows');

  const existing = await findOrderByIdempotencyKey(ctx, input.idempotencyKey);
  if (existing) return { order: existing, created: false };

  const number = formatOrderNumber(await nextSequence(`order:${ctx.pageId}`));
  const token = randomBytes(32).toString('base64url');
  const strategy = paymentStrategyFor(ctx.config);
  const url = strategy.linkFor({ number, token, total: money(total, currency) });
  try {
    const doc = await OrderModel.create({
      pageId: String(ctx.pageId),
      psid: String(input.psid),
      number,
      lines,
      totals: { units, total, subtotal: total, currency },
      state: 'pending_payment',
      history: [
        { from: null, to: 'pending_payment', at: ctx.now, by: input.by ?? { type: 'fan', id: input.psid } },
      ],
      token,
      idempotencyKey: input.idempotencyKey,
      source: input.source,
      payment: { strategy: strategy.name, url },
      stockReserved: input.stockReserved === true,
      createdAt: ctx.now,
      updatedAt: ctx.now,
    });
    return { order: toOrderView(doc.toObject() as unknown as OrderDoc), created: true };
  } catch (error) {
    // A concurrent retry with the same key got there first: theirs is the order.
    if (!isDuplicate(error)) throw error;
    const raced = await findOrderByIdempotencyKey(ctx, input.idempotencyKey);
    if (!raced) throw error;
    return { order: raced, created: false };
  }
}

/**
 * Takes `amount` off a pending order, once: one conditional update that matches only while the order
 * is `pending_payment` with no discount yet. The total becomes subtotal − amount (never below 0) and
 * the payment link is rebuilt for it (a template's `{amount}` is the discounted total). Returns the
 * updated order, or undefined when the update did not apply (state moved on, or already discounted).
 */
export async function applyOrderDiscount(
  ctx: OrdersContext,
  order: OrderView,
  amount: number,
  reason: OrderDiscountReason,
): Promise<OrderView | undefined> {
  if (!Number.isSafeInteger(amount) || amount <= 0) throw new OrderInputError(`bad discount ${amount}`);
  const currency = order.subtotal.currency;
  const subtotal = order.subtotal.amount;
  const total = Math.max(0, subtotal - Math.min(amount, subtotal));
  const strategy = paymentStrategyFor(ctx.config);
  const url = strategy.linkFor({ number: order.number, token: order.token, total: money(total, currency) });
  const updated = await OrderModel.findOneAndUpdate(
    {
      _id: new Types.ObjectId(order.id),
      pageId: String(ctx.pageId),
      state: 'pending_payment',
      discount: { $exists: false },
      'totals.total': subtotal,
    },
    {
      $set: {
        discount: { amount: subtotal - total, currency, reason },
        'totals.subtotal': subtotal,
        'totals.total': total,
        payment: { strategy: strategy.name, url },
        updatedAt: ctx.now,
      },
    },
    { returnDocument: 'after', timestamps: false },
  ).lean<OrderDoc>();
  return updated ? toOrderView(updated) : undefined;
}

export async function getOrder(
  ctx: Pick<OrdersContext, 'pageId'>,
  orderId: string,
): Promise<OrderView | undefined> {
  if (!Types.ObjectId.isValid(orderId) || !/^[a-f0-9]{24}$/i.test(orderId)) return undefined;
  const doc = await OrderModel.findOne({
    _id: new Types.ObjectId(orderId),
    pageId: String(ctx.pageId),
  }).lean<OrderDoc>();
  return doc ? toOrderView(doc) : undefined;
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** The order behind an order-page link (any page: the token alone is the capability). */
export async function getOrderByToken(token: string): Promise<OrderView | undefined> {
  if (!TOKEN_SHAPE.test(token)) return undefined;
  const doc = await OrderModel.findOne({ token: String(token) }).lean<OrderDoc>();
  return doc ? toOrderView(doc) : undefined;
}

/** The fan's most recent orders, newest first. */
export async function listFanOrders(
  ctx: Pick<OrdersContext, 'pageId'>,
  psid: string,
  limit = 10,
): Promise<OrderView[]> {
  const docs = await OrderModel.find({ pageId: String(ctx.pageId), psid: String(psid) })
    .sort({ createdAt: -1, _id: -1 })
    .limit(limit)
    .lean<OrderDoc[]>();
  return docs.map(toOrderView);
}

export interface OrderPageQuery {
  readonly state?: OrderState | undefined;
  readonly psid?: string | undefined;
  readonly limit: number;
  readonly after?: { readonly createdAt: Date; readonly id: Types.ObjectId } | undefined;
}

/** Orders of the page, newest first, `limit` at a time after a (createdAt, _id) cursor. */
export async function listOrders(
  ctx: Pick<OrdersContext, 'pageId'>,
  query: OrderPageQuery,
): Promise<{ items: OrderView[]; next: { createdAt: Date; id: Types.ObjectId } | undefined }> {
  const filter: Record<string, unknown> = { pageId: String(ctx.pageId) };
  if (query.state) filter.state = String(query.state);
  if (query.psid) filter.psid = String(query.psid);
  if (query.after) {
    filter.$or = [
      { createdAt: { $lt: query.after.createdAt } },
      { createdAt: query.after.createdAt, _id: { $lt: query.after.id } },
    ];
  }
  const docs = await OrderModel.find(filter)
    .sort({ createdAt: -1, _id: -1 })
    .limit(query.limit + 1)
    .lean<OrderDoc[]>();
  const items = docs.slice(0, query.limit).map(toOrderView);
  const last = items[items.length - 1];
  return {
    items,
    next:
      docs.length > query.limit && last
        ? { createdAt: last.createdAt, id: new Types.ObjectId(last.id) }
        : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Transitions

export type TransitionOrderResult =
  | { readonly ok: true; readonly order: OrderView; readonly from: OrderState; readonly to: OrderState }
  | { readonly ok: false; readonly code: 'not_found' }
  | (Extract<TransitionResult, { ok: false }> & { readonly order: OrderView });

const MAX_RACE_RETRIES = 5;

/**
 * Moves an order to `to` if the transition table allows it from its current state: one conditional
 * update on that state plus a history entry. Then the transition's side effects, each idempotent:
 * reserved stock goes back on a cancellation before shipping, and the fan is told through the outbox
 * (`order:<id>:<state>`, purpose `order_update`: tagged POST_PURCHASE_UPDATE outside the 24 h window).
 */
export async function transitionOrder(
  ctx: OrdersContext,
  orderId: string,
  to: OrderState,
  actor: OrderActor,
  /** `tellFan: false` when the caller's own answer already tells the fan (checkout paid by credit). */
  opts: { readonly tellFan?: boolean } = {},
): Promise<TransitionOrderResult> {
  for (let attempt = 0; attempt < MAX_RACE_RETRIES; attempt++) {
    const current = await getOrder(ctx, orderId);
    if (!current) return { ok: false, code: 'not_found' };
    const move = transition(current.state, to);
    if (!move.ok) return { ...move, order: current };
    const by = {
      type: actor.type,
      ...(actor.id !== undefined ? { id: actor.id } : {}),
      ...(actor.label !== undefined ? { label: actor.label } : {}),
    };
    const updated = await OrderModel.findOneAndUpdate(
      { _id: new Types.ObjectId(current.id), pageId: String(ctx.pageId), state: current.state },
      {
        $set: { state: to, updatedAt: ctx.now },
        $push: { history: { from: current.state, to, at: ctx.now, by } },
      },
      { returnDocument: 'after', timestamps: false },
    ).lean<OrderDoc>();
    if (!updated) continue; // someone moved it first: judge again from the state they left
    let order = toOrderView(updated);
    if (move.releasesStock && (await releaseStock(ctx, order))) {
      order = (await getOrder(ctx, order.id)) ?? order;
    }
    if (move.notifyFan && opts.tellFan !== false) await notifyFan(ctx, order);
    // Referral rewards follow the order (earned when paid, reversed when cancelled), under ledger keys:
    // safe to repeat, and `settleRewards` re-applies them if this process dies right here.
    if (to === 'paid' || to === 'cancelled') {
      try {
        await (to === 'paid' ? onOrderPaid(ctx, order) : onOrderCancelled(ctx, order));
      } catch (error) {
        ctx.log?.error(
          { err: error, order: order.number, to },
          'referral rewards not updated (settleRewards will)',
        );
      }
    }
    ctx.log?.info({ order: order.number, from: current.state, to, by: actor.type }, 'order transition');
    return { ok: true, order, from: current.state, to };
  }
  throw new Error(`order ${orderId}: state kept changing under ${MAX_RACE_RETRIES} attempts`);
}

/** Gives back the units an order took, once (the `stockReleasedAt` flag is set before the units move). */
export async function releaseStock(ctx: OrdersContext, order: OrderView): Promise<boolean> {
  if (!order.stockReserved) return false;
  const claimed = await OrderModel.updateOne(
    { _id: new Types.ObjectId(order.id), stockReleasedAt: { $exists: false } },
    { $set: { stockReleasedAt: ctx.now } },
    { timestamps: false },
  );
  if (claimed.modifiedCount !== 1) return false;
  for (const line of order.lines) {
    const ok = await restoreStock(ctx, line.variantSku, line.qty);
    if (!ok) ctx.log?.warn({ order: order.number, sku: line.variantSku }, 'released units of a gone variant');
  }
  return true;
}

async function fanLocale(ctx: OrdersContext, psid: string): Promise<Locale> {
  const fan = await FanModel.findOne({ pageId: String(ctx.pageId), psid: String(psid) }, { locale: 1 }).lean<{
    locale?: Locale;
  }>();
  return fan?.locale ?? ctx.config.defaultLocale;
}

/** Tells the fan the order's current state (no-op for a state the fan is not told about, or twice). */
export async function notifyFan(ctx: OrdersContext, order: OrderView): Promise<void> {
  const locale = await fanLocale(ctx, order.psid);
  const message = orderUpdateMessage(order, locale, ctx.config.publicUrl);
  if (!message) return;
  await enqueueMessages(
    [
      {
        pageId: order.pageId,
        idempotencyKey: `order:${order.id}:${order.state}`,
        kind: 'message',
        recipient: { psid: order.psid },
        purpose: 'order_update',
        body: message as unknown as Record<string, unknown>,
        origin: { type: 'order', id: order.id },
      },
    ],
    ctx.now,
  );
}

// ---------------------------------------------------------------------------------------------
// What the fan reads

export function orderStateLabel(state: OrderState, locale: Locale): string {
  return t(locale, `shop.orders.state.${state}`);
}

export function orderLineText(line: OrderLineView, locale: Locale): string {
  return t(locale, 'shop.orders.line', {
    qty: line.qty,
    title: localized(line.title, locale),
    variant: line.variantLabel,
    total: formatMoney(line.lineTotal, locale),
  });
}

/**
 * `head`, then as many lines as fit in `max` characters with "…and N more", then `tail`. Used for
 * receipts and confirmations, whose button-template text is limited to 640 characters.
 */
export function fitLines(
  head: string,
  lines: readonly string[],
  tail: string,
  locale: Locale,
  max = LIMITS.buttonTemplateTextMaxChars,
): string {
  const join = (shown: readonly string[], hidden: number) =>
    [head, ...shown, ...(hidden > 0 ? [t(locale, 'shop.orders.more_lines', { count: hidden })] : []), tail]
      .filter(Boolean)
      .join('\n');
  for (let n = lines.length; n >= 0; n--) {
    const body = join(lines.slice(0, n), lines.length - n);
    if (charCount(body) <= max) return body;
  }
  return truncate(join([], lines.length), max);
}

/** The message for an order entering its current state, or undefined when the fan is not told. */
export function orderUpdateMessage(
  order: OrderView,
  locale: Locale,
  publicUrl: string,
): OutgoingMessage | undefined {
  const total = formatMoney(order.total, locale);
  const view = urlButton(t(locale, 'shop.orders.view'), orderPageUrl(publicUrl, order.token));
  switch (order.state) {
    case 'paid':
      return buttonTemplate(
        fitLines(
          t(locale, 'shop.orders.paid', { number: order.number }),
          order.lines.map((l) => orderLineText(l, locale)),
          t(locale, 'shop.orders.total', { total }),
          locale,
        ),
        [view],
      );
    case 'shipped':
    case 'delivered':
    case 'cancelled':
      return buttonTemplate(
        truncate(t(locale, `shop.orders.${order.state}`, { number: order.number, total }), 640),
        [view],
      );
    default:
      return undefined;
  }
}

import { Types } from 'mongoose';
import type { Config, Locale } from '../config/index.js';
import { FanModel } from '../db/models/fan.js';
import { OrderModel } from '../db/models/order.js';
import { FeedbackRequestModel, ReviewModel, type ReviewDoc } from '../db/models/review.js';
import { isInsideWindow } from '../domain/messaging-policy.js';
import { buildPayload } from '../domain/text-match.js';
import { t } from '../i18n/index.js';
import type { Logger } from '../log.js';
import { quickReplies, truncate } from '../messenger/builders.js';
import { enqueueMessages } from '../messenger/outbox/enqueue.js';
import { recordAudit, type AuditContext } from './audit.js';
import { localized } from './catalog.js';

/**
 * Feedback from buyers: one short request per delivered order (stars, then an optional sentence),
 * verified ratings (only from a buyer whose order was delivered; one per order and product), averages
 * aggregated on read (always right, whatever the concurrency), and the managers' hide/unhide of
 * abusive text — stars are never edited or invented.
 */

export interface ReviewContext {
  readonly pageId: string;
  readonly now: Date;
  readonly config: Pick<Config, 'defaultLocale'>;
  readonly log?: Logger | undefined;
}

/** Meta's feedback rules: keep it inside the window; we stop trying a week after delivery. */
export const FEEDBACK_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;
/** How long a typed message after the stars counts as the review's sentence. */
export const FEEDBACK_TEXT_WINDOW_MS = 60 * 60 * 1000;
export const REVIEW_TEXT_MAX = 500;

export const FEEDBACK_PAYLOADS = {
  stars: (orderId: string, stars: number) => buildPayload('fb.stars', [orderId, String(stars)]),
  skip: (orderId: string) => buildPayload('fb.skip', [orderId]),
  showName: (orderId: string, yes: boolean) => buildPayload('fb.name', [orderId, yes ? '1' : '0']),
} as const;

export const feedbackKey = (orderId: string) => `fb:${orderId}`;

// ---------------------------------------------------------------------------------------------
// Requests (the job)

export interface FeedbackRunResult {
  readonly found: number;
  readonly queued: number;
  readonly refused: number;
  readonly waiting: number;
}

function deliveredAt(order: { history?: { to: string; at: Date }[] | null; updatedAt: Date }): Date {
  const h = [...(order.history ?? [])].reverse().find((x) => x.to === 'delivered');
  return h?.at ?? order.updatedAt;
}

/**
 * Delivered orders without a request: queued once (`fb:<orderId>`, purpose `feedback_request`) when
 * the fan is inside the 24 h window; otherwise left for a later run, and recorded as refused
 * (`outside_window`) once the order was delivered over a week ago. Driven by state.
 */
export async function runFeedbackRequests(ctx: ReviewContext): Promise<FeedbackRunResult> {
  const pageId = String(ctx.pageId);
  const since = new Date(ctx.now.getTime() - 2 * FEEDBACK_MAX_AGE_MS);
  const orders = await OrderModel.find({ pageId, state: 'delivered', updatedAt: { $gte: since } })
    .sort({ updatedAt: 1 })
    .limit(1000)
    .lean();
  const ids = orders.map((o) => String(o._id));
  const done = new Set(
    (await FeedbackRequestModel.find({ orderId: { $in: ids } }, { orderId: 1 }).lean()).map((r) => r.orderId),
  );
  const todo = orders.filter((o) => !done.has(String(o._id)));
  const fans = await FanModel.find(
    { pageId, psid: { $in: [...new Set(todo.map((o) => o.psid))] } },
    { psid: 1, locale: 1, lastInteractionAt: 1, reachable: 1 },
  ).lean();
  const byPsid = new Map(fans.map((f) => [f.psid, f]));
  let queued = 0;
  let refused = 0;
  let waiting = 0;
  for (const o of todo) {
    const orderId = String(o._id);
    const fan = byPsid.get(o.psid);
    const inside =
      fan !== undefined && fan.reachable !== false && isInsideWindow(fan.lastInteractionAt, ctx.now);
    if (!inside) {
      if (ctx.now.getTime() - deliveredAt(o).getTime() > FEEDBACK_MAX_AGE_MS) {
        try {
          await FeedbackRequestModel.create({
            pageId,
            orderId,
            psid: o.psid,
            state: 'refused',
            reason: fan?.reachable === false ? 'unreachable' : 'outside_window',
            at: ctx.now,
          });
          refused += 1;
        } catch (error) {
          if ((error as { code?: number }).code !== 11000) throw error;
        }
      } else waiting += 1;
      continue;
    }
    try {
      await FeedbackRequestModel.create({ pageId, orderId, psid: o.psid, state: 'queued', at: ctx.now });
    } catch (error) {
      if ((error as { code?: number }).code !== 11000) throw error;
      continue; // another run took it
    }
    const locale = (fan.locale as Locale | undefined) ?? ctx.config.defaultLocale;
    const first = o.lines[0];
    const title = first
      ? localized({ it: first.title?.it ?? '', en: first.title?.en ?? '' }, locale)
      : o.number;
    const more = o.lines.length - 1;
    const body = quickReplies(
      truncate(t(locale, 'codesign.feedback.ask', { title, number: o.number, count: more }), 640),
      [1, 2, 3, 4, 5].map((n) => ({ title: '★'.repeat(n), payload: FEEDBACK_PAYLOADS.stars(orderId, n) })),
    );
    const r = await enqueueMessages(
      [
        {
          pageId,
          idempotencyKey: feedbackKey(orderId),
          kind: 'message',
          recipient: { psid: o.psid },
          purpose: 'feedback_request',
          body: body as unknown as Record<string, unknown>,
          origin: { type: 'order', id: orderId },
        },
      ],
      ctx.now,
    );
    queued += r.created;
  }
  return { found: todo.length, queued, refused, waiting };
}

// ---------------------------------------------------------------------------------------------
// Ratings

export type RatingResult =
  | { readonly ok: true; readonly skus: string[]; readonly changed: boolean }
  | { readonly ok: false; readonly code: 'not_found' | 'not_delivered' | 'invalid_stars' };

/**
 * The buyer rates their delivered order: one review per (order, product), stars 1–5. Rating again
 * changes the stars (still one review). Anyone else, or an order not delivered, is refused.
 */
export async function submitRating(
  ctx: ReviewContext,
  input: { readonly psid: string; readonly orderId: string; readonly stars: number },
): Promise<RatingResult> {
  if (!Number.isSafeInteger(input.stars) || input.stars < 1 || input.stars > 5)
    return { ok: false, code: 'invalid_stars' };
  if (!/^[a-f0-9]{24}$/i.test(input.orderId)) return { ok: false, code: 'not_found' };
  const order = await OrderModel.findOne({
    _id: new Types.ObjectId(input.orderId),
    pageId: String(ctx.pageId),
    psid: String(input.psid),
  }).lean();
  if (!order) return { ok: false, code: 'not_found' };
  if (order.state !== 'delivered') return { ok: false, code: 'not_delivered' };
  const skus = [...new Set(order.lines.map((l) => l.sku))];
  let changed = false;
  for (const productSku of skus) {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const res = await ReviewModel.updateOne(
          { orderId: String(input.orderId), productSku },
          {
            $set: { stars: input.stars, updatedAt: ctx.now },
            $setOnInsert: {
              pageId: String(ctx.pageId),
              psid: String(input.psid),
              text: '',
              showName: false,
              hidden: false,
              createdAt: ctx.now,
            },
          },
          { upsert: true },
        );
        changed ||= res.modifiedCount > 0 || res.upsertedCount > 0;
        break;
      } catch (error) {
        // Two upserts of the same review at once: the loser updates the winner's.
        if ((error as { code?: number }).code !== 11000 || attempt === 2) throw error;
      }
    }
  }
  await FeedbackRequestModel.updateOne(
    { orderId: String(input.orderId) },
    {
      $set: {
        state: 'answered',
        stars: input.stars,
        awaitingTextUntil: new Date(ctx.now.getTime() + FEEDBACK_TEXT_WINDOW_MS),
        at: ctx.now,
      },
      $setOnInsert: { pageId: String(ctx.pageId), psid: String(input.psid) },
    },
    { upsert: true },
  );
  return { ok: true, skus, changed };
}

/** The fan's next typed message after rating: the order awaiting a sentence, if any. */
export async function orderAwaitingText(ctx: ReviewContext, psid: string): Promise<string | undefined> {
  const r = await FeedbackRequestModel.findOne({
    pageId: String(ctx.pageId),
    psid: String(psid),
    awaitingTextUntil: { $gt: ctx.now },
  })
    .sort({ awaitingTextUntil: -1 })
    .lean();
  return r?.orderId;
}

/** The optional sentence, on every review of the order (once: the wait ends with it). */
export async function addReviewText(
  ctx: ReviewContext,
  input: { readonly psid: string; readonly orderId: string; readonly text: string },
): Promise<boolean> {
  const claimed = await FeedbackRequestModel.updateOne(
    { orderId: String(input.orderId), psid: String(input.psid), awaitingTextUntil: { $gt: ctx.now } },
    { $set: { awaitingTextUntil: null } },
  );
  if (claimed.modifiedCount === 0) return false;
  const text = truncate(input.text.trim(), REVIEW_TEXT_MAX);
  await ReviewModel.updateMany(
    { orderId: String(input.orderId), psid: String(input.psid) },
    { $set: { text, updatedAt: ctx.now } },
  );
  return true;
}

export async function stopAwaitingText(ctx: ReviewContext, psid: string, orderId: string): Promise<void> {
  await FeedbackRequestModel.updateOne(
    { orderId: String(orderId), psid: String(psid), pageId: String(ctx.pageId) },
    { $set: { awaitingTextUntil: null } },
  );
}

/** The fan's consent to show their first name next to their words (or its withdrawal). */
export async function setShowName(
  ctx: ReviewContext,
  input: { readonly psid: string; readonly orderId: string; readonly showName: boolean },
): Promise<number> {
  const res = await ReviewModel.updateMany(
    { pageId: String(ctx.pageId), orderId: String(input.orderId), psid: String(input.psid) },
    { $set: { showName: input.showName, updatedAt: ctx.now } },
  );
  return res.matchedCount;
}

export interface RatingSummary {
  readonly count: number;
  readonly sum: number;
  /** One decimal, null without ratings. */
  readonly average: number | null;
}

/** Aggregated on read from the verified reviews (hidden text still counts: only its words are hidden). */
export async function ratingSummary(
  ctx: Pick<ReviewContext, 'pageId'>,
  productSku: string,
): Promise<RatingSummary> {
  const [row] = await ReviewModel.aggregate<{ count: number; sum: number }>([
    { $match: { pageId: String(ctx.pageId), productSku: String(productSku) } },
    { $group: { _id: null, count: { $sum: 1 }, sum: { $sum: '$stars' } } },
  ]);
  const count = row?.count ?? 0;
  const sum = row?.sum ?? 0;
  return { count, sum, average: count > 0 ? Math.round((sum * 10) / count) / 10 : null };
}

/** Distinct fans with a paid, shipped or delivered order containing the product. */
export async function buyersCount(ctx: Pick<ReviewContext, 'pageId'>, productSku: string): Promise<number> {
  const psids = await OrderModel.distinct('psid', {
    pageId: String(ctx.pageId),
    state: { $in: ['paid', 'shipped', 'delivered'] },
    'lines.sku': String(productSku),
  });
  return psids.length;
}

export interface Quote {
  readonly text: string;
  /** The buyer's first name, only when they allowed it. */
  readonly name: string | null;
  readonly stars: number;
}

/** The most recent visible sentence about the product. */
export async function recentQuote(
  ctx: Pick<ReviewContext, 'pageId'>,
  productSku: string,
): Promise<Quote | null> {
  const r = await ReviewModel.findOne({
    pageId: String(ctx.pageId),
    productSku: String(productSku),
    hidden: false,
    text: { $nin: ['', null] },
  })
    .sort({ updatedAt: -1, _id: -1 })
    .lean<ReviewDoc>();
  if (!r) return null;
  let name: string | null = null;
  if (r.showName) {
    const fan = await FanModel.findOne({ pageId: String(ctx.pageId), psid: r.psid }, { firstName: 1 }).lean();
    name = fan?.firstName ?? null;
  }
  return { text: r.text, name, stars: r.stars };
}

// ---------------------------------------------------------------------------------------------
// Managers

export interface ReviewView {
  readonly id: string;
  readonly productSku: string;
  readonly orderId: string;
  readonly psid: string;
  readonly stars: number;
  readonly text: string;
  readonly showName: boolean;
  readonly hidden: boolean;
  readonly hiddenBy: string | null;
  readonly hiddenAt: Date | null;
  readonly hiddenReason: string | null;
  readonly createdAt: Date;
}

export function toReviewView(r: ReviewDoc): ReviewView {
  return {
    id: String(r._id),
    productSku: r.productSku,
    orderId: r.orderId,
    psid: r.psid,
    stars: r.stars,
    text: r.text ?? '',
    showName: r.showName === true,
    hidden: r.hidden === true,
    hiddenBy: r.hiddenBy ?? null,
    hiddenAt: r.hiddenAt ?? null,
    hiddenReason: r.hiddenReason ?? null,
    createdAt: r.createdAt,
  };
}

export type HideResult =
  | { readonly ok: true; readonly review: ReviewView; readonly changed: boolean }
  | { readonly ok: false; readonly code: 'not_found' };

/** Hides (or shows again) a review's text; the stars are untouched. Every change is audited. */
export async function setReviewHidden(
  ctx: AuditContext,
  id: string,
  hidden: boolean,
  reason?: string,
): Promise<HideResult> {
  if (!/^[a-f0-9]{24}$/i.test(id)) return { ok: false, code: 'not_found' };
  const _id = new Types.ObjectId(id);
  const set = hidden
    ? { hidden: true, hiddenBy: ctx.actor.id, hiddenAt: ctx.now, hiddenReason: reason ?? null }
    : { hidden: false, hiddenBy: null, hiddenAt: null, hiddenReason: null };
  const before = await ReviewModel.findOneAndUpdate(
    { _id, pageId: String(ctx.pageId), hidden: !hidden },
    { $set: set },
    { returnDocument: 'before' },
  ).lean<ReviewDoc>();
  const now = await ReviewModel.findOne({ _id, pageId: String(ctx.pageId) }).lean<ReviewDoc>();
  if (!now) return { ok: false, code: 'not_found' };
  if (before) {
    await recordAudit(ctx, {
      action: hidden ? 'review.hide' : 'review.unhide',
      target: { type: 'review', id },
      before: { hidden: !hidden },
      after: { hidden, ...(hidden && reason ? { reason } : {}) },
    });
  }
  return { ok: true, review: toReviewView(now), changed: before !== null };
}

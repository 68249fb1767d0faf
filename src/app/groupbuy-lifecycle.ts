import { Types } from 'mongoose';
import type { Locale } from '../config/index.js';
import { CampaignModel, type CampaignDoc } from '../db/models/campaign.js';
import { FanModel } from '../db/models/fan.js';
import { OrderModel } from '../db/models/order.js';
import { OutboxMessageModel } from '../db/models/outbox-message.js';
import { PledgeModel, type PledgeDoc, type PledgeState } from '../db/models/pledge.js';
import type { OrderState } from '../domain/order-state.js';
import { priceFor, tierIndexFor, timeLeft, type Tier } from '../domain/groupbuy.js';
import type { MessagingPurpose } from '../domain/messaging-policy.js';
import { formatMoney, money } from '../domain/money.js';
import { t } from '../i18n/index.js';
import { buttonTemplate, text, truncate, urlButton, type OutgoingMessage } from '../messenger/builders.js';
import { enqueueMessages, type OutgoingItem } from '../messenger/outbox/enqueue.js';
import { getProduct } from './catalog.js';
import {
  announceTipping,
  campaignTitle,
  openNextBatch,
  PENDING_STALE_MS,
  promoteWaitlist,
  reconcileCampaignCounts,
  runTippedHooks,
  toCampaignView,
  type CampaignView,
  type GroupBuyContext,
  type JoinResult,
} from './groupbuy.js';

/**
 * What moves a group buy along without anyone joining: the deadline (`tipped → closed`,
 * `open → failed`), the tipping safety net, deadline reminders, the tier change after tipping, and
 * the janitor (stale joins, waitlist promotion, next batch). Every function asks the database what is
 * due at `ctx.now` (never "since the last tick"), so a missed or doubled job run changes nothing; every
 * message goes through the outbox under a key `gb:<campaignId>:<psid>:<event>`, so a re-run after a
 * crash sends nothing twice.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const PAGE = 200;
/** Closed/failed campaigns younger than this are re-checked for unfinished side effects (a crash). */
const FINISH_WINDOW_MS = 30 * 24 * HOUR;
/** Reminders before the deadline when the campaign does not say otherwise: 24 h and 3 h. */
export const DEFAULT_REMINDER_OFFSETS_MS: readonly number[] = [24 * HOUR, 3 * HOUR];
/**
 * The safety net compares a tipped campaign's queued tipping messages with its participants only this
 * long after tipping: well inside the outbox retention (30 days), so an expired record can never look
 * like a missing message and be sent again. A crash mid-announcement is caught within minutes.
 */
const REANNOUNCE_WINDOW_MS = 7 * 24 * HOUR;
const PAID_STATES: OrderState[] = ['paid', 'shipped', 'delivered'];

type LeanCampaign = Partial<CampaignDoc> & { _id: Types.ObjectId };
type LeanPledge = Partial<PledgeDoc> & { _id: Types.ObjectId };

const oid = (id: string) => new Types.ObjectId(id);

async function load(ctx: GroupBuyContext, id: string): Promise<CampaignView | undefined> {
  const doc = await CampaignModel.findOne({ _id: oid(id), pageId: String(ctx.pageId) }).lean<LeanCampaign>();
  return doc ? toCampaignView(doc) : undefined;
}

async function fanLocales(ctx: GroupBuyContext, psids: readonly string[]): Promise<Map<string, Locale>> {
  const fans = await FanModel.find(
    { pageId: String(ctx.pageId), psid: { $in: [...psids] } },
    { psid: 1, locale: 1 },
  ).lean();
  return new Map(fans.map((f) => [f.psid, f.locale as Locale]));
}

/** One message per pledge, built per locale, keyed `gb:<campaignId>:<psid>:<suffix>`. */
async function tell(
  ctx: GroupBuyContext,
  c: CampaignView,
  pledges: readonly LeanPledge[],
  purpose: MessagingPurpose,
  suffix: string,
  body: (p: LeanPledge, locale: Locale, title: string) => OutgoingMessage | undefined,
): Promise<{ created: number; duplicates: number }> {
  if (pledges.length === 0) return { created: 0, duplicates: 0 };
  const locales = await fanLocales(
    ctx,
    pledges.map((p) => p.psid ?? ''),
  );
  const product = await getProduct(ctx, c.productSku);
  const items: OutgoingItem[] = [];
  for (const p of pledges) {
    const locale = locales.get(p.psid ?? '') ?? ctx.config.defaultLocale;
    const message = body(p, locale, campaignTitle(c, locale, product));
    if (!message) continue;
    items.push({
      pageId: String(ctx.pageId),
      idempotencyKey: `gb:${c.id}:${p.psid}:${suffix}`,
      kind: 'message',
      recipient: { psid: p.psid ?? '' },
      purpose,
      body: message as unknown as Record<string, unknown>,
      origin: { type: 'groupbuy', id: c.id },
    });
  }
  return enqueueMessages(items, ctx.now);
}

/** Pages through a campaign's pledges in the given states, by id (never all in memory). */
async function* pledgePages(
  campaignId: string,
  states: readonly PledgeState[],
  extra: Record<string, unknown> = {},
): AsyncGenerator<LeanPledge[]> {
  let after: Types.ObjectId | undefined;
  for (;;) {
    const page = await PledgeModel.find({
      campaignId: oid(campaignId),
      state: { $in: [...states] },
      ...extra,
      ...(after ? { _id: { $gt: after } } : {}),
    })
      .sort({ _id: 1 })
      .limit(PAGE)
      .lean<LeanPledge[]>();
    if (page.length === 0) return;
    after = page[page.length - 1]!._id;
    yield page;
    if (page.length < PAGE) return;
  }
}

// ---------------------------------------------------------------------------------------------
// Deadlines

export interface CloseResult {
  readonly closed: number;
  readonly failed: number;
  /** Campaigns that crossed the threshold before the deadline but were never marked tipped. */
  readonly tippedLate: number;
  readonly released: number;
  readonly notified: number;
}

/**
 * At the deadline: `tipped → closed` (no more pledges; the waitlist is released and told,
 * `gb:<id>:<psid>:closed`) and `open → failed` (every pledge released, participants told,
 * `gb:<id>:<psid>:failed`). An open campaign that had reached its minimum (a join crashed before
 * marking it) is tipped and announced first, then closed. Side effects are re-run for campaigns
 * that closed recently and still have pledges to release (a crash between the transition and them).
 */
export async function closeDueCampaigns(ctx: GroupBuyContext): Promise<CloseResult> {
  let closed = 0;
  let failed = 0;
  let tippedLate = 0;
  let released = 0;
  let notified = 0;
  const due = await CampaignModel.find({
    pageId: String(ctx.pageId),
    state: { $in: ['open', 'tipped'] },
    deadline: { $lte: ctx.now },
  })
    .sort({ deadline: 1 })
    .limit(500)
    .lean<LeanCampaign[]>();
  for (const doc of due) {
    const c = toCampaignView(doc);
    if (c.state === 'open' && c.committed >= c.minQuantity) {
      if (await tipCampaign(ctx, c)) tippedLate += 1;
    }
    const fresh = await load(ctx, c.id);
    if (!fresh) continue;
    if (fresh.state === 'tipped') {
      // Everyone pays the best tier reached by the close.
      await applyTierChange(ctx, fresh.id);
      await announceTipping(ctx, fresh.id);
      await runTippedHooks(ctx, fresh.id);
      const res = await CampaignModel.updateOne(
        { _id: oid(fresh.id), state: 'tipped', deadline: { $lte: ctx.now } },
        { $set: { state: 'closed', closedAt: ctx.now }, $inc: { version: 1 } },
      );
      if (res.modifiedCount === 1) closed += 1;
    } else if (fresh.state === 'open') {
      const res = await CampaignModel.updateOne(
        {
          _id: oid(fresh.id),
          state: 'open',
          deadline: { $lte: ctx.now },
          committed: { $lt: fresh.minQuantity },
        },
        { $set: { state: 'failed', closedAt: ctx.now }, $inc: { version: 1 } },
      );
      if (res.modifiedCount === 1) failed += 1;
    }
  }
  // Finish (or re-finish) the side effects of every recently closed or failed campaign.
  const ended = await CampaignModel.find({
    pageId: String(ctx.pageId),
    state: { $in: ['closed', 'failed'] },
    closedAt: { $gte: new Date(ctx.now.getTime() - FINISH_WINDOW_MS) },
  }).lean<LeanCampaign[]>();
  for (const doc of ended) {
    const c = toCampaignView(doc);
    const states: PledgeState[] = c.state === 'failed' ? ['active', 'waitlisted', 'pending'] : ['waitlisted'];
    if (!(await PledgeModel.exists({ campaignId: oid(c.id), state: { $in: states } }))) continue;
    const r = await releasePledges(ctx, c, states);
    released += r.released;
    notified += r.notified;
  }
  return { closed, failed, tippedLate, released, notified };
}

/** Tell first, then release: a crash between the two re-sends nothing (same keys) and releases on re-run. */
async function releasePledges(
  ctx: GroupBuyContext,
  c: CampaignView,
  states: readonly PledgeState[],
): Promise<{ released: number; notified: number }> {
  const event = c.state === 'failed' ? 'failed' : 'closed';
  let released = 0;
  let notified = 0;
  for (;;) {
    // Always the first page: released pledges drop out of the filter.
    const page = await PledgeModel.find({ campaignId: oid(c.id), state: { $in: [...states] } })
      .sort({ _id: 1 })
      .limit(PAGE)
      .lean<LeanPledge[]>();
    if (page.length === 0) break;
    const r = await tell(
      ctx,
      c,
      page.filter((p) => p.state !== 'pending'),
      'groupbuy_update',
      event,
      (p, locale, title) =>
        text(
          t(locale, event === 'failed' ? 'groupbuy.notify.failed' : 'groupbuy.notify.closed_waitlist', {
            title,
            committed: c.committed,
            target: c.minQuantity,
            count: p.quantity ?? 1,
          }),
        ),
    );
    notified += r.created;
    const waitlisted = page.filter((p) => p.state === 'waitlisted').map((p) => p._id);
    const res = await PledgeModel.updateMany(
      { _id: { $in: page.map((p) => p._id) }, state: { $in: [...states] } },
      { $set: { state: 'released' } },
    );
    released += res.modifiedCount;
    if (waitlisted.length > 0) {
      const gone = await PledgeModel.countDocuments({ _id: { $in: waitlisted }, state: 'released' });
      if (gone > 0)
        await CampaignModel.updateOne(
          { _id: oid(c.id), waitlistCount: { $gte: gone } },
          { $inc: { waitlistCount: -gone, version: 1 } },
        );
    }
  }
  return { released, notified };
}

// ---------------------------------------------------------------------------------------------
// Tipping safety net

/** open → tipped for a campaign whose committed units reached the minimum; true if this call did it. */
async function tipCampaign(ctx: GroupBuyContext, c: CampaignView): Promise<boolean> {
  const res = await CampaignModel.updateOne(
    { _id: oid(c.id), state: 'open', committed: { $gte: c.minQuantity } },
    { $set: { state: 'tipped', tippedAt: ctx.now, tippedQuantity: c.committed }, $inc: { version: 1 } },
  );
  return res.modifiedCount === 1;
}

export interface SafetyNetResult {
  readonly tipped: number;
  /** Tipped campaigns whose announcement had not reached every participant and was resumed. */
  readonly reannounced: number;
  readonly announced: number;
  readonly repriced: number;
}

/** Tipping messages already queued for a campaign (any outcome). */
async function tippingMessagesQueued(ctx: GroupBuyContext, campaignId: string): Promise<number> {
  return OutboxMessageModel.countDocuments({
    'origin.type': 'groupbuy',
    'origin.id': campaignId,
    pageId: String(ctx.pageId),
    idempotencyKey: { $regex: `^gb:${campaignId}:.*:tipped$` },
  });
}

/**
 * Any open campaign at or over its minimum is tipped and announced (the join that crossed it may
 * have crashed first); any tipped campaign whose announcement did not reach every active pledge (a
 * crash mid-announcement) is announced again — `announceTipping` is idempotent by outbox key, so
 * only the missing messages are created. Then the tier change, for tipped campaigns.
 */
export async function tipSafetyNet(ctx: GroupBuyContext): Promise<SafetyNetResult> {
  let tipped = 0;
  let reannounced = 0;
  let announced = 0;
  let repriced = 0;
  const open = await CampaignModel.find({
    pageId: String(ctx.pageId),
    state: 'open',
    deadline: { $gt: ctx.now },
  }).lean<LeanCampaign[]>();
  for (const doc of open) {
    const c = toCampaignView(doc);
    if (c.committed < c.minQuantity) continue;
    if (await tipCampaign(ctx, c)) {
      tipped += 1;
      announced += (await announceTipping(ctx, c.id)).created;
      await runTippedHooks(ctx, c.id);
    }
  }
  const live = await CampaignModel.find({ pageId: String(ctx.pageId), state: 'tipped' }).lean<
    LeanCampaign[]
  >();
  const recent = ctx.now.getTime() - REANNOUNCE_WINDOW_MS;
  for (const doc of live) {
    const c = toCampaignView(doc);
    const participants = await PledgeModel.countDocuments({
      campaignId: oid(c.id),
      state: { $in: ['active', 'converted'] },
    });
    const tippedRecently = (c.tippedAt?.getTime() ?? 0) >= recent;
    if (tippedRecently && (await tippingMessagesQueued(ctx, c.id)) < participants) {
      reannounced += 1;
      announced += (await announceTipping(ctx, c.id)).created;
      await runTippedHooks(ctx, c.id);
    }
    repriced += (await applyTierChange(ctx, c.id)).repriced;
  }
  return { tipped, reannounced, announced, repriced };
}

// ---------------------------------------------------------------------------------------------
// Tier change after tipping

export interface TierChangeResult {
  /** The best tier reached (its `fromQuantity`), or null when nothing changed since tipping. */
  readonly tierFrom: number | null;
  readonly unitPrice: number;
  readonly notified: number;
  /** Unpaid orders repriced to the new tier. */
  readonly repriced: number;
  /** Paid orders that now owe the fan a refund (see {@link refundsDue}). */
  readonly refundDue: number;
}

interface OrderLean {
  _id: Types.ObjectId;
  idempotencyKey: string;
  state: string;
  lines: { unitPrice: number; qty: number; lineTotal: number }[];
  totals: { total: number; currency: string; units: number };
  payment?: { url?: string };
}

const orderKey = (campaignId: string, psid: string) => `gb:${campaignId}:${psid}:order`;

/**
 * Later joins moved a tipped campaign into a cheaper tier: everyone pays the best tier reached by the
 * close. Each participant whose pledge (or unpaid order) carries a higher price hears the new price
 * once (`gb:<id>:<psid>:tier:<fromQuantity>`, purpose `groupbuy_update`); an order still
 * `pending_payment` is repriced by a conditional update (state and old total in the filter); a paid
 * order is left as it is and owes a refund ({@link refundsDue}). Pledges whose tipping message has not
 * created their order yet are left for the next run (their order is made at the tipping price and
 * repriced then). Order of steps per pledge — message, order, pledge — so a crash in between is
 * finished by the next run and never tells twice.
 */
export async function applyTierChange(ctx: GroupBuyContext, campaignId: string): Promise<TierChangeResult> {
  const c = await load(ctx, campaignId);
  const none = { tierFrom: null, unitPrice: 0, notified: 0, repriced: 0, refundDue: 0 };
  if (!c || !['tipped', 'closed'].includes(c.state) || c.tiers.length === 0) return none;
  const best = tierIndexFor(c.tiers, c.committed);
  const atTipping = tierIndexFor(c.tiers, c.tippedQuantity ?? c.committed);
  if (best <= atTipping) return { ...none, unitPrice: c.tiers[best]!.unitPrice };
  const tier: Tier = c.tiers[best]!;
  const price = tier.unitPrice;
  let notified = 0;
  let repriced = 0;
  let refundDue = 0;
  for await (const page of pledgePages(c.id, ['active', 'converted'], { priceAtTipping: { $ne: null } })) {
    const orders = await OrderModel.find({
      pageId: String(ctx.pageId),
      idempotencyKey: { $in: page.map((p) => orderKey(c.id, p.psid ?? '')) },
    }).lean<OrderLean[]>();
    const byKey = new Map(orders.map((o) => [o.idempotencyKey, o]));
    const todo: { pledge: LeanPledge; order: OrderLean }[] = [];
    for (const p of page) {
      const order = byKey.get(orderKey(c.id, p.psid ?? ''));
      if (!order) continue;
      const unpaidHigh = order.state === 'pending_payment' && order.lines.some((l) => l.unitPrice > price);
      if ((p.priceAtTipping ?? 0) > price || unpaidHigh) todo.push({ pledge: p, order });
    }
    if (todo.length === 0) continue;
    const orderFor = new Map(todo.map((x) => [String(x.pledge._id), x.order]));
    const r = await tell(
      ctx,
      c,
      todo.map((x) => x.pledge),
      'groupbuy_update',
      `tier:${tier.fromQuantity}`,
      (p, locale, title) => {
        const order = orderFor.get(String(p._id))!;
        const qty = p.quantity ?? 1;
        const unit = money(price, c.currency);
        const total = money(price * qty, c.currency);
        if (PAID_STATES.includes(order.state as OrderState)) {
          const paid = order.totals.total;
          const refund = Math.max(0, paid - price * qty);
          return text(
            t(locale, 'groupbuy.notify.tier_paid', {
              title,
              count: qty,
              price: formatMoney(unit, locale),
              paid: formatMoney(money(paid, c.currency), locale),
              refund: formatMoney(money(refund, c.currency), locale),
            }),
          );
        }
        if (order.state !== 'pending_payment') return undefined;
        const body = t(locale, 'groupbuy.notify.tier_unpaid', {
          title,
          count: qty,
          price: formatMoney(unit, locale),
          total: formatMoney(total, locale),
        });
        const url = order.payment?.url;
        return url
          ? buttonTemplate(truncate(body, 640), [urlButton(t(locale, 'groupbuy.notify.pay'), url)])
          : text(body);
      },
    );
    notified += r.created;
    for (const { pledge, order } of todo) {
      if (order.state === 'pending_payment') {
        const lines = order.lines.map((l) =>
          l.unitPrice > price ? { ...l, unitPrice: price, lineTotal: price * l.qty } : l,
        );
        const total = lines.reduce((n, l) => n + l.lineTotal, 0);
        const res = await OrderModel.updateOne(
          { _id: order._id, state: 'pending_payment', 'totals.total': order.totals.total },
          { $set: { lines, 'totals.total': total } },
        );
        if (res.modifiedCount === 1) repriced += 1;
      } else if (PAID_STATES.includes(order.state as OrderState)) refundDue += 1;
      await PledgeModel.updateOne(
        { _id: pledge._id, priceAtTipping: { $gt: price } },
        { $set: { priceAtTipping: price } },
      );
    }
  }
  return { tierFrom: tier.fromQuantity, unitPrice: price, notified, repriced, refundDue };
}

/**
 * The hook in `afterJoin`: a join into an already tipped campaign that crossed a tier boundary
 * (committed before it < tier ≤ committed after it) reprices at once. Joins in flight at the same
 * moment may still activate at the older price; the safety net catches them within a minute.
 */
export async function tierChangeAfterJoin(ctx: GroupBuyContext, result: JoinResult): Promise<void> {
  if (!result.ok || result.code !== 'joined' || result.state !== 'tipped' || result.tippedNow) return;
  const c = await CampaignModel.findOne({ _id: oid(result.campaignId) }, { tiers: 1 }).lean();
  const tiers = (c?.tiers ?? []).map((x) => ({ fromQuantity: x.fromQuantity, unitPrice: x.unitPrice }));
  if (tierIndexFor(tiers, result.committed - result.quantity) < tierIndexFor(tiers, result.committed))
    await applyTierChange(ctx, result.campaignId);
}

export interface RefundDue {
  readonly psid: string;
  readonly orderId: string;
  readonly state: string;
  readonly paid: number;
  readonly due: number;
  readonly refund: number;
  readonly currency: string;
}

/**
 * Paid group-buy orders of a campaign that paid more than the best tier reached (the fan is owed the
 * difference): for the campaign inspection.
 */
export async function refundsDue(ctx: GroupBuyContext, campaignId: string): Promise<RefundDue[]> {
  const c = await load(ctx, campaignId);
  if (!c || c.tiers.length === 0) return [];
  const price = priceFor(c.tiers, c.committed);
  const orders = await OrderModel.find({
    pageId: String(ctx.pageId),
    'source.type': 'groupbuy',
    'source.campaignId': c.id,
    state: { $in: PAID_STATES },
  })
    .sort({ _id: 1 })
    .lean<(OrderLean & { psid: string })[]>();
  const out: RefundDue[] = [];
  for (const o of orders) {
    const due = o.lines.reduce((n, l) => n + Math.min(l.unitPrice, price) * l.qty, 0);
    if (o.totals.total > due)
      out.push({
        psid: o.psid,
        orderId: String(o._id),
        state: o.state,
        paid: o.totals.total,
        due,
        refund: o.totals.total - due,
        currency: o.totals.currency,
      });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reminders

export interface ReminderOptions {
  /** Offsets before the deadline (ms); a campaign's own `reminderOffsetsMinutes` wins when set. */
  readonly offsetsMs?: readonly number[];
}

export interface ReminderResult {
  readonly campaigns: number;
  readonly queued: number;
}

function offsetLabel(ms: number): string {
  return ms % HOUR === 0 ? `${ms / HOUR}h` : `${Math.round(ms / MINUTE)}m`;
}

function offsetsFor(doc: LeanCampaign, defaults: readonly number[]): number[] {
  const own = (doc as { reminderOffsetsMinutes?: unknown }).reminderOffsetsMinutes;
  const list =
    Array.isArray(own) && own.length > 0 && own.every((m) => Number.isFinite(m) && (m as number) > 0)
      ? (own as number[]).map((m) => m * MINUTE)
      : [...defaults];
  return list.sort((a, b) => a - b);
}

/**
 * "Mancano N — invita amici" to the participants of campaigns still `open`, once per offset before
 * the deadline (`gb:<id>:<psid>:reminder:<offset>`). Only the smallest offset already reached is
 * sent (a job that was down past the 24 h mark does not send it at the 3 h mark). Purpose `reminder`:
 * never tagged, so the sender refuses it (`outside_window`) for fans outside their 24 h window.
 */
export async function sendDeadlineReminders(
  ctx: GroupBuyContext,
  opts: ReminderOptions = {},
): Promise<ReminderResult> {
  const defaults = opts.offsetsMs ?? DEFAULT_REMINDER_OFFSETS_MS;
  const horizon = Math.max(...defaults, 7 * 24 * HOUR);
  const docs = await CampaignModel.find({
    pageId: String(ctx.pageId),
    state: 'open',
    deadline: { $gt: ctx.now, $lte: new Date(ctx.now.getTime() + horizon) },
  }).lean<LeanCampaign[]>();
  let campaigns = 0;
  let queued = 0;
  for (const doc of docs) {
    const c = toCampaignView(doc);
    const left = c.deadline.getTime() - ctx.now.getTime();
    const offset = offsetsFor(doc, defaults).find((o) => left <= o);
    if (offset === undefined) continue;
    const needed = Math.max(0, c.minQuantity - c.committed);
    if (needed === 0) continue;
    campaigns += 1;
    const time = timeLeft(c.deadline, ctx.now);
    for await (const page of pledgePages(c.id, ['active'])) {
      const r = await tell(ctx, c, page, 'reminder', `reminder:${offsetLabel(offset)}`, (_p, locale, title) =>
        text(
          t(locale, 'groupbuy.notify.reminder', {
            title,
            count: needed,
            time: t(locale, `groupbuy.time.${time.unit}`, { count: time.count }),
          }),
        ),
      );
      queued += r.created;
    }
  }
  return { campaigns, queued };
}

// ---------------------------------------------------------------------------------------------
// Janitor

export interface ReconcileJobResult {
  readonly reconciled: number;
  readonly resumed: number;
  readonly promoted: number;
  readonly nextBatches: number;
}

/**
 * Counters recomputed for campaigns with joins that died midway (pending pledges older than a minute),
 * the waitlist promoted into free seats, and the next batch opened for full campaigns that have one.
 */
export async function reconcile(ctx: GroupBuyContext): Promise<ReconcileJobResult> {
  let reconciled = 0;
  let resumed = 0;
  let promoted = 0;
  let nextBatches = 0;
  const stale = await PledgeModel.distinct('campaignId', {
    pageId: String(ctx.pageId),
    state: 'pending',
    joinedAt: { $lt: new Date(ctx.now.getTime() - PENDING_STALE_MS) },
  });
  for (const id of stale) {
    const r = await reconcileCampaignCounts(ctx, String(id));
    reconciled += 1;
    resumed += r.resumed;
  }
  const live = await CampaignModel.find({
    pageId: String(ctx.pageId),
    state: { $in: ['open', 'tipped'] },
    deadline: { $gt: ctx.now },
    $or: [{ waitlistCount: { $gt: 0 } }, { 'batch.autoNextBatch': true }],
  }).lean<LeanCampaign[]>();
  for (const doc of live) {
    const c = toCampaignView(doc);
    const full = c.maxQuantity !== null && c.committed >= c.maxQuantity;
    if (c.waitlistCount > 0 && !full) promoted += await promoteWaitlist(ctx, c.id);
    if (c.batch.autoNextBatch && c.maxQuantity !== null && full) {
      const r = await openNextBatch(ctx, c.id);
      if (r.ok && (r.created || r.moved > 0)) nextBatches += 1;
    }
  }
  return { reconciled, resumed, promoted, nextBatches };
}

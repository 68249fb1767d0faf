import { mapLimit } from '../shared/map-limit.js';
import { Types } from 'mongoose';
import type { Config, Locale } from '../config/index.js';
import { CampaignModel, type CampaignDoc } from '../db/models/campaign.js';
import { FanModel } from '../db/models/fan.js';
import { PagePostModel } from '../db/models/page-post.js';
import { PledgeModel, type PledgeDoc, type PledgeSourceType, type PledgeState } from '../db/models/pledge.js';
import {
  forecastTipping,
  isPastDeadline,
  JOINABLE_STATES,
  priceFor,
  progress,
  tierIndexFor,
  timeLeft,
  transition,
  validateSettings,
  type CampaignState,
  type Forecast,
  type Progress,
  type SettingsProblem,
  type Tier,
  type TimeLeft,
} from '../domain/groupbuy.js';
import type { MessagingPurpose } from '../domain/messaging-policy.js';
import { formatMoney, money, multiply } from '../domain/money.js';
import { t } from '../i18n/index.js';
import { buttonTemplate, text, truncate, urlButton, type OutgoingMessage } from '../messenger/builders.js';
import { enqueueMessages, type OutgoingItem } from '../messenger/outbox/enqueue.js';
import { getProduct, localized, variantLabel, type ProductView } from './catalog.js';
import { tierChangeAfterJoin } from './groupbuy-lifecycle.js';
import { createOrder } from './orders.js';

/**
 * Group buys: joining, leaving, the waitlist, tipping and its announcements, the next batch, and the
 * managers' operations.
 *
 * The seat invariant — `committed` never exceeds `maxQuantity`, at any concurrency — is carried by ONE
 * conditional `findOneAndUpdate` on the campaign document per join (`committed ≤ max − qty` in the
 * filter, `$inc` in the update). There are no transactions, so a join is three single-document steps,
 * ordered so that a crash or a duplicate between them can never count a fan twice:
 *
 *   1. insert the pledge as `pending` — the unique (campaignId, psid) index makes a duplicate join
 *      find the first one instead of creating a second;
 *   2. reserve the seats: the conditional `$inc` also pushes the pledge id into `reserving`, and is
 *      itself conditional on the id NOT being there, so it can happen only once per pledge;
 *   3. mark the pledge `active`, then pull the id from `reserving`.
 *
 * If step 2 finds no room the pledge is waitlisted with the next ticket number. A join that died after
 * step 1 leaves a `pending` pledge; after a minute `reconcileCampaignCounts` (the janitor) finishes it
 * (the `reserving` marker tells whether its seats were taken) and recomputes the counters from the
 * pledges. Every counter change bumps `version`, so the recompute is written only if nothing moved.
 */

export interface GroupBuyContext {
  readonly pageId: string;
  readonly now: Date;
  /** Links (payment pages) and the language of fans the database does not know yet. */
  readonly config: Pick<Config, 'publicUrl' | 'paymentUrlTemplate' | 'defaultLocale'>;
  /** How a participant of a tipped campaign pays; default {@link orderCheckout}. */
  readonly checkout?: CheckoutPort;
}

export interface CheckoutPort {
  /** The payment URL for one pledge (idempotent: called again, the same order and link). */
  linkFor(
    ctx: GroupBuyContext,
    input: {
      readonly campaign: CampaignView;
      readonly product: ProductView | undefined;
      readonly pledgeId: string;
      readonly psid: string;
      readonly variantSku: string;
      readonly quantity: number;
      readonly unitPrice: number;
    },
  ): Promise<string>;
}

/**
 * The default: one order per pledge through the shop's `createOrder`, under the idempotency key
 * `gb:<campaignId>:<psid>:order` (a re-run finds the same order), linked from the pledge; the fan
 * gets the order's payment URL.
 */
export const orderCheckout: CheckoutPort = {
  async linkFor(ctx, { campaign, product, pledgeId, psid, variantSku, quantity, unitPrice }) {
    const variant = product?.variants.find((v) => v.sku === variantSku);
    const own = { it: campaign.texts.it.title, en: campaign.texts.en.title };
    const { order } = await createOrder(ctx, {
      psid,
      lines: [
        {
          sku: campaign.productSku,
          variantSku,
          title: product ? product.title : { it: own.it || campaign.slug, en: own.en || campaign.slug },
          variantLabel: variant ? variantLabel(variant) : variantSku,
          unitPrice: money(unitPrice, campaign.currency),
          qty: quantity,
        },
      ],
      source: { type: 'groupbuy', campaignId: campaign.id },
      idempotencyKey: `gb:${campaign.id}:${psid}:order`,
      by: { type: 'system', id: 'groupbuy' },
    });
    await PledgeModel.updateOne(
      { _id: new Types.ObjectId(pledgeId), orderId: null },
      { $set: { orderId: order.id } },
    );
    return order.payment.url;
  },
};

/** A pending pledge older than this is a join that died midway; the janitor finishes it. */
export const PENDING_STALE_MS = 60_000;
const ANNOUNCE_PAGE = 200;
const MAX_REDIRECTS = 3;

// ---------------------------------------------------------------------------------------------
// Views

export interface LocalizedTexts {
  readonly title: string;
  readonly description: string;
}

export interface CampaignView {
  readonly id: string;
  readonly slug: string;
  readonly productSku: string;
  readonly variantSku: string | null;
  readonly minQuantity: number;
  readonly maxQuantity: number | null;
  readonly deadline: Date;
  readonly tiers: Tier[];
  readonly currency: string;
  readonly perFanLimit: number;
  readonly texts: { readonly it: LocalizedTexts; readonly en: LocalizedTexts };
  readonly state: CampaignState;
  readonly committed: number;
  readonly pledgeCount: number;
  readonly waitlistCount: number;
  readonly openedAt: Date | null;
  readonly tippedAt: Date | null;
  readonly tippedQuantity: number | null;
  readonly closedAt: Date | null;
  readonly cancelledAt: Date | null;
  readonly batch: {
    readonly number: number;
    readonly nextCampaignId: string | null;
    readonly previousCampaignId: string | null;
    readonly autoNextBatch: boolean;
  };
  readonly linkedPostIds: string[];
  readonly version: number;
  readonly createdAt: Date | null;
}

type LeanCampaign = Partial<CampaignDoc> & { _id: Types.ObjectId };

const texts = (x: { title?: string | null; description?: string | null } | null | undefined) => ({
  title: x?.title ?? '',
  description: x?.description ?? '',
});

export function toCampaignView(doc: LeanCampaign): CampaignView {
  return {
    id: String(doc._id),
    slug: doc.slug ?? '',
    productSku: doc.productSku ?? '',
    variantSku: doc.variantSku ?? null,
    minQuantity: doc.minQuantity ?? 1,
    maxQuantity: doc.maxQuantity ?? null,
    deadline: doc.deadline ?? new Date(0),
    tiers: (doc.tiers ?? []).map((x) => ({ fromQuantity: x.fromQuantity, unitPrice: x.unitPrice })),
    currency: doc.currency ?? 'EUR',
    perFanLimit: doc.perFanLimit ?? 1,
    texts: { it: texts(doc.texts?.it), en: texts(doc.texts?.en) },
    state: (doc.state ?? 'draft') as CampaignState,
    committed: doc.committed ?? 0,
    pledgeCount: doc.pledgeCount ?? 0,
    waitlistCount: doc.waitlistCount ?? 0,
    openedAt: doc.openedAt ?? null,
    tippedAt: doc.tippedAt ?? null,
    tippedQuantity: doc.tippedQuantity ?? null,
    closedAt: doc.closedAt ?? null,
    cancelledAt: doc.cancelledAt ?? null,
    batch: {
      number: doc.batch?.number ?? 1,
      nextCampaignId: doc.batch?.nextCampaignId ? String(doc.batch.nextCampaignId) : null,
      previousCampaignId: doc.batch?.previousCampaignId ? String(doc.batch.previousCampaignId) : null,
      autoNextBatch: doc.batch?.autoNextBatch ?? false,
    },
    linkedPostIds: [...(doc.linkedPostIds ?? [])],
    version: doc.version ?? 0,
    createdAt: doc.createdAt ?? null,
  };
}

export interface PledgeView {
  readonly id: string;
  readonly campaignId: string;
  readonly psid: string;
  readonly quantity: number;
  readonly variantSku: string;
  readonly state: PledgeState;
  readonly waitlistPosition: number | null;
  readonly source: { readonly type: PledgeSourceType; readonly commentId?: string; readonly postId?: string };
  readonly priceAtTipping: number | null;
  readonly orderId: string | null;
  readonly createdAt: Date;
  readonly joinedAt: Date;
}

type LeanPledge = Partial<PledgeDoc> & { _id: Types.ObjectId };

export function toPledgeView(doc: LeanPledge): PledgeView {
  return {
    id: String(doc._id),
    campaignId: String(doc.campaignId),
    psid: doc.psid ?? '',
    quantity: doc.quantity ?? 0,
    variantSku: doc.variantSku ?? '',
    state: (doc.state ?? 'pending') as PledgeState,
    waitlistPosition: doc.waitlistPosition ?? null,
    source: {
      type: (doc.source?.type ?? 'menu') as PledgeSourceType,
      ...(doc.source?.commentId ? { commentId: doc.source.commentId } : {}),
      ...(doc.source?.postId ? { postId: doc.source.postId } : {}),
    },
    priceAtTipping: doc.priceAtTipping ?? null,
    orderId: doc.orderId ?? null,
    createdAt: doc.createdAt ?? new Date(0),
    joinedAt: doc.joinedAt ?? doc.createdAt ?? new Date(0),
  };
}

export function campaignTitle(c: CampaignView, locale: Locale, product?: ProductView): string {
  const own = locale === 'en' ? c.texts.en.title || c.texts.it.title : c.texts.it.title || c.texts.en.title;
  return own || (product ? localized(product.title, locale) : c.slug);
}

export function campaignProgress(ctx: Pick<GroupBuyContext, 'now'>, c: CampaignView): Progress {
  return progress({
    state: c.state,
    committed: c.committed,
    minQuantity: c.minQuantity,
    maxQuantity: c.maxQuantity,
    deadline: c.deadline,
    tiers: c.tiers,
    now: ctx.now,
  });
}

function isJoinable(c: Pick<CampaignView, 'state' | 'deadline'>, now: Date): boolean {
  return JOINABLE_STATES.includes(c.state) && !isPastDeadline(c.deadline, now);
}

function objectId(id: string): Types.ObjectId | undefined {
  return /^[a-f0-9]{24}$/i.test(id) ? new Types.ObjectId(id) : undefined;
}

async function loadCampaign(ctx: Pick<GroupBuyContext, 'pageId'>, id: string) {
  const _id = objectId(id);
  if (!_id) return undefined;
  const doc = await CampaignModel.findOne({ _id, pageId: String(ctx.pageId) }).lean<LeanCampaign>();
  return doc ? toCampaignView(doc) : undefined;
}

export async function getCampaign(
  ctx: Pick<GroupBuyContext, 'pageId'>,
  id: string,
): Promise<CampaignView | undefined> {
  return loadCampaign(ctx, id);
}

export async function getCampaignBySlug(
  ctx: Pick<GroupBuyContext, 'pageId'>,
  slug: string,
): Promise<CampaignView | undefined> {
  const doc = await CampaignModel.findOne({
    pageId: String(ctx.pageId),
    slug: String(slug),
  }).lean<LeanCampaign>();
  return doc ? toCampaignView(doc) : undefined;
}

/** Campaigns a fan can join now (open or tipped, deadline ahead), soonest deadline first. */
export async function listOpenCampaigns(
  ctx: Pick<GroupBuyContext, 'pageId' | 'now'>,
  opts: { readonly limit?: number } = {},
): Promise<CampaignView[]> {
  const docs = await CampaignModel.find({
    pageId: String(ctx.pageId),
    state: { $in: [...JOINABLE_STATES] },
    deadline: { $gt: ctx.now },
  })
    .sort({ deadline: 1, _id: 1 })
    .limit(opts.limit ?? 50)
    .lean<LeanCampaign[]>();
  return docs.map(toCampaignView);
}

// ---------------------------------------------------------------------------------------------
// Joining

export interface JoinInput {
  readonly campaignId: string;
  readonly psid: string;
  readonly quantity: number;
  /** null/undefined: the campaign's own variant (campaigns fixed to one variant). */
  readonly variantSku?: string | null | undefined;
  readonly source: {
    readonly type: PledgeSourceType;
    readonly commentId?: string;
    readonly postId?: string;
    readonly ref?: string;
  };
  /** The inbox event asking for this join (`Turn.eventKey`): its re-run after a crash is no stranger. */
  readonly eventKey?: string | undefined;
}

export type JoinResult =
  | {
      readonly ok: true;
      readonly code: 'joined';
      readonly campaignId: string;
      readonly pledgeId: string;
      readonly quantity: number;
      readonly variantSku: string;
      readonly committed: number;
      readonly pledgeCount: number;
      readonly state: CampaignState;
      /** This join crossed the tipping point (exactly one join per campaign sees true). */
      readonly tippedNow: boolean;
      /** This join took the last seat of a capped campaign. */
      readonly filledNow: boolean;
    }
  | {
      readonly ok: true;
      readonly code: 'already_joined';
      readonly campaignId: string;
      readonly pledgeId: string;
      readonly pledgeState: PledgeState;
      readonly quantity: number;
      readonly variantSku: string;
      readonly waitlistPosition: number | null;
      /** The quantity or variant was updated. */
      readonly changed: boolean;
      /** Why a requested change was not made. */
      readonly refused?: 'full' | 'locked';
    }
  | {
      readonly ok: true;
      readonly code: 'waitlisted';
      readonly campaignId: string;
      readonly pledgeId: string;
      readonly quantity: number;
      readonly variantSku: string;
      /** Ticket number: 1 for the first fan who found the campaign full, 2 for the next… */
      readonly position: number;
    }
  | { readonly ok: false; readonly code: 'not_found' | 'closed' | 'invalid_quantity' }
  | { readonly ok: false; readonly code: 'over_fan_limit'; readonly limit: number }
  | { readonly ok: false; readonly code: 'variant_unavailable' };

type Reserve =
  | { readonly outcome: 'reserved'; readonly after: CampaignView }
  | { readonly outcome: 'full' | 'closed'; readonly current: CampaignView | undefined };

/**
 * Step 2: takes `qty` seats for the pledge, if (and only if) they are free, the campaign is joinable,
 * and this pledge has not taken them already. One conditional update on the campaign document.
 */
async function reserveSeats(
  ctx: GroupBuyContext,
  c: CampaignView,
  pledgeId: Types.ObjectId,
  qty: number,
): Promise<Reserve> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const filter: Record<string, unknown> = {
      _id: new Types.ObjectId(c.id),
      state: { $in: [...JOINABLE_STATES] },
      deadline: { $gt: ctx.now },
      reserving: { $ne: pledgeId },
    };
    if (c.maxQuantity !== null) filter.committed = { $lte: c.maxQuantity - qty };
    const after = await CampaignModel.findOneAndUpdate(
      filter,
      { $inc: { committed: qty, pledgeCount: 1, version: 1 }, $push: { reserving: pledgeId } },
      { returnDocument: 'after' },
    ).lean<LeanCampaign>();
    if (after) return { outcome: 'reserved', after: toCampaignView(after) };
    const current = await loadCampaign(ctx, c.id);
    if (!current || !isJoinable(current, ctx.now)) return { outcome: 'closed', current };
    if (current.maxQuantity !== null && current.committed + qty > current.maxQuantity)
      return { outcome: 'full', current };
    // Someone left between our attempt and the re-read: try again.
  }
  return { outcome: 'full', current: await loadCampaign(ctx, c.id) };
}

/** Step 3: the pledge holds its seats; then the in-flight marker goes. */
async function activate(
  ctx: GroupBuyContext,
  after: CampaignView,
  pledgeId: Types.ObjectId,
): Promise<{ tippedNow: boolean; state: CampaignState }> {
  const lateJoin = after.state === 'tipped';
  await PledgeModel.updateOne(
    { _id: pledgeId, state: 'pending' },
    {
      $set: {
        state: 'active',
        // Joining a campaign that already tipped: the fan pays today's tier price.
        ...(lateJoin ? { priceAtTipping: priceFor(after.tiers, after.committed) } : {}),
      },
    },
  );
  await CampaignModel.updateOne(
    { _id: new Types.ObjectId(after.id) },
    { $pull: { reserving: pledgeId }, $inc: { version: 1 } },
  );
  return tipIfReached(ctx, after);
}

/** The join whose seats crossed the threshold moves the campaign to `tipped` (exactly one wins). */
async function tipIfReached(
  ctx: GroupBuyContext,
  after: CampaignView,
): Promise<{ tippedNow: boolean; state: CampaignState }> {
  if (after.state !== 'open' || after.committed < after.minQuantity)
    return { tippedNow: false, state: after.state };
  const tipped = await CampaignModel.findOneAndUpdate(
    { _id: new Types.ObjectId(after.id), state: 'open', committed: { $gte: after.minQuantity } },
    { $set: { state: 'tipped', tippedAt: ctx.now, tippedQuantity: after.committed }, $inc: { version: 1 } },
    { returnDocument: 'after', projection: { _id: 1 } },
  ).lean();
  return { tippedNow: tipped !== null, state: 'tipped' };
}

/**
 * Puts a pending pledge on the waitlist. `known`: the pledge's ticket if the caller knows it (null for
 * a new pledge, a number for a promoted one that lost the race again: it keeps its place); undefined
 * reads it.
 */
async function waitlist(
  c: CampaignView,
  pledgeId: Types.ObjectId,
  known: number | null | undefined,
): Promise<number | undefined> {
  let position: number | undefined;
  if (known === undefined) {
    const pledge = await PledgeModel.findOne({ _id: pledgeId }, { waitlistPosition: 1, state: 1 }).lean();
    if (!pledge || pledge.state !== 'pending') return pledge?.waitlistPosition ?? undefined;
    position = pledge.waitlistPosition ?? undefined;
  } else position = known ?? undefined;
  const inc: Record<string, number> = { waitlistCount: 1, version: 1 };
  if (position === undefined) inc.waitlistSeq = 1;
  const ticket = await CampaignModel.findOneAndUpdate(
    { _id: new Types.ObjectId(c.id) },
    { $inc: inc },
    { returnDocument: 'after', projection: { waitlistSeq: 1 } },
  ).lean();
  position ??= ticket?.waitlistSeq ?? 0;
  const res = await PledgeModel.updateOne(
    { _id: pledgeId, state: 'pending' },
    { $set: { state: 'waitlisted', waitlistPosition: position } },
  );
  if (res.modifiedCount === 0) {
    await CampaignModel.updateOne(
      { _id: new Types.ObjectId(c.id) },
      { $inc: { waitlistCount: -1, version: 1 } },
    );
  }
  return position;
}

async function resolveVariant(
  ctx: GroupBuyContext,
  c: CampaignView,
  requested: string | null | undefined,
): Promise<string | undefined> {
  if (c.variantSku) return !requested || requested === c.variantSku ? c.variantSku : undefined;
  if (!requested) return undefined;
  const product = await getProduct(ctx, c.productSku);
  if (!product || !product.active) return undefined;
  return product.variants.some((v) => v.sku === requested) ? requested : undefined;
}

/**
 * A fan joins a campaign (or changes their pledge). Idempotent: the same fan joining again gets their
 * pledge back; a changed quantity is applied atomically within the limits (an increase needs free
 * seats; a decrease only while the campaign is open). Announces tipping at once unless
 * `announce: false` (the Messenger flow replies first, then calls {@link afterJoin}).
 */
export async function joinCampaign(
  ctx: GroupBuyContext,
  input: JoinInput,
  opts: { readonly announce?: boolean; readonly redirects?: number } = {},
): Promise<JoinResult> {
  const announce = opts.announce ?? true;
  const qty = input.quantity;
  if (!Number.isSafeInteger(qty) || qty < 1) return { ok: false, code: 'invalid_quantity' };
  const c = await loadCampaign(ctx, input.campaignId);
  if (!c) return { ok: false, code: 'not_found' };
  const psid = String(input.psid);
  const campaignId = new Types.ObjectId(c.id);

  const redirect = () =>
    joinCampaign(
      ctx,
      { ...input, campaignId: c.batch.nextCampaignId! },
      { ...opts, redirects: (opts.redirects ?? 0) + 1 },
    );
  const canRedirect = c.batch.nextCampaignId !== null && (opts.redirects ?? 0) < MAX_REDIRECTS;

  if (!isJoinable(c, ctx.now)) {
    const existing = await PledgeModel.findOne({ campaignId, psid }).lean<LeanPledge>();
    if (existing && ['active', 'waitlisted', 'converted'].includes(existing.state ?? ''))
      return changePledge(ctx, c, existing, input);
    // A batch that closed with its next batch open: join that one instead.
    return canRedirect ? redirect() : { ok: false, code: 'closed' };
  }
  if (qty > c.perFanLimit) return { ok: false, code: 'over_fan_limit', limit: c.perFanLimit };
  const variantSku = await resolveVariant(ctx, c, input.variantSku);
  if (!variantSku) return { ok: false, code: 'variant_unavailable' };

  // Step 1: the pledge, pending. A duplicate join hits the unique key and finds the first one.
  const fields = {
    quantity: qty,
    variantSku,
    source: { ...input.source },
    joinedAt: ctx.now,
    joinEventKey: input.eventKey ?? null,
  };
  let pledgeId: Types.ObjectId;
  try {
    const created = await PledgeModel.create({
      pageId: String(ctx.pageId),
      campaignId,
      psid,
      state: 'pending',
      createdAt: ctx.now,
      ...fields,
    });
    pledgeId = created._id;
  } catch (error) {
    if ((error as { code?: number }).code !== 11000) throw error;
    const existing = await PledgeModel.findOne({ campaignId, psid }).lean<LeanPledge>();
    if (!existing) throw error;
    if (existing.state !== 'left') {
      // released: the campaign was cancelled, or the pledge moved to the next batch.
      if (existing.state === 'released') return canRedirect ? redirect() : { ok: false, code: 'closed' };
      return pendingOrExisting(ctx, c, existing, input);
    }
    // Coming back after leaving: the same pledge document, pending again.
    const reset = await PledgeModel.updateOne(
      { _id: existing._id, state: 'left' },
      { $set: { state: 'pending', waitlistPosition: null, leftAt: null, priceAtTipping: null, ...fields } },
    );
    if (reset.modifiedCount === 0) {
      const now = await PledgeModel.findOne({ _id: existing._id }).lean<LeanPledge>();
      return now ? pendingOrExisting(ctx, c, now, input) : { ok: false, code: 'closed' };
    }
    pledgeId = existing._id;
  }
  // A full batch whose next batch is open: the fan goes there rather than on this waitlist.
  if (canRedirect && c.maxQuantity !== null && c.committed + qty > c.maxQuantity) {
    const gone = await PledgeModel.deleteOne({ _id: pledgeId, state: 'pending' });
    if (gone.deletedCount === 1) return redirect();
  }

  return completeJoin(ctx, c, pledgeId, qty, variantSku, { announce, waitlistPosition: null });
}

async function completeJoin(
  ctx: GroupBuyContext,
  c: CampaignView,
  pledgeId: Types.ObjectId,
  qty: number,
  variantSku: string,
  opts: { readonly announce: boolean; readonly waitlistPosition?: number | null },
): Promise<JoinResult> {
  const reserved = await reserveSeats(ctx, c, pledgeId, qty);
  if (reserved.outcome === 'reserved') {
    const { tippedNow, state } = await activate(ctx, reserved.after, pledgeId);
    const filledNow =
      reserved.after.maxQuantity !== null && reserved.after.committed >= reserved.after.maxQuantity;
    const result: JoinResult = {
      ok: true,
      code: 'joined',
      campaignId: c.id,
      pledgeId: String(pledgeId),
      quantity: qty,
      variantSku,
      committed: reserved.after.committed,
      pledgeCount: reserved.after.pledgeCount,
      state,
      tippedNow,
      filledNow,
    };
    if (opts.announce) await afterJoin(ctx, result);
    return result;
  }
  if (reserved.outcome === 'closed') {
    // A fresh join leaves nothing behind; a promoted waitlisted pledge goes back to its place.
    const gone = await PledgeModel.deleteOne({ _id: pledgeId, state: 'pending', waitlistPosition: null });
    if (gone.deletedCount === 0) {
      const back = await PledgeModel.updateOne(
        { _id: pledgeId, state: 'pending' },
        { $set: { state: 'waitlisted' } },
      );
      if (back.modifiedCount === 1)
        await CampaignModel.updateOne(
          { _id: new Types.ObjectId(c.id) },
          { $inc: { waitlistCount: 1, version: 1 } },
        );
    }
    return { ok: false, code: 'closed' };
  }
  const position = await waitlist(reserved.current ?? c, pledgeId, opts.waitlistPosition);
  const result: JoinResult = {
    ok: true,
    code: 'waitlisted',
    campaignId: c.id,
    pledgeId: String(pledgeId),
    quantity: qty,
    variantSku,
    position: position ?? 0,
  };
  if (opts.announce) await afterJoin(ctx, result);
  return result;
}

/** Something another feature does when a campaign tips (a public update on its posts, referral rewards). */
export type TippedHook = (ctx: GroupBuyContext, campaignId: string) => Promise<unknown>;
const tippedHooks = new Set<TippedHook>();

/**
 * Features that react to a tipping register here from the composition root, so group buys need not
 * know them. Every hook must be idempotent: the safety-net job runs them again.
 */
export function registerTippedHook(hook: TippedHook): void {
  tippedHooks.add(hook);
}

export async function runTippedHooks(ctx: GroupBuyContext, campaignId: string): Promise<void> {
  for (const hook of tippedHooks) await hook(ctx, campaignId);
}

/**
 * What follows a join, once the fan has had their reply: the tipping announcement (to everyone when
 * this join tipped it; to this fan alone when it had tipped before), and the next batch when this join
 * filled a capped campaign that has one. Idempotent.
 */
export async function afterJoin(ctx: GroupBuyContext, result: JoinResult): Promise<void> {
  if (!result.ok) return;
  if (result.code === 'joined') {
    if (result.tippedNow) {
      await announceTipping(ctx, result.campaignId);
      await runTippedHooks(ctx, result.campaignId);
    } else if (result.state === 'tipped') await announceTippingTo(ctx, result.campaignId, [result.pledgeId]);
    // A late join that moved the campaign into a cheaper tier: everyone hears the new price.
    await tierChangeAfterJoin(ctx, result);
  }
  if ((result.code === 'joined' && result.filledNow) || result.code === 'waitlisted') {
    const c = await loadCampaign(ctx, result.campaignId);
    if (c?.batch.autoNextBatch && c.maxQuantity !== null) await openNextBatch(ctx, c.id);
  }
}

/** Someone else's join of the same fan is in flight (fresh pending), or it died (stale): resume it. */
async function pendingOrExisting(
  ctx: GroupBuyContext,
  c: CampaignView,
  pledge: LeanPledge,
  input: JoinInput,
): Promise<JoinResult> {
  if (pledge.state !== 'pending') return changePledge(ctx, c, pledge, input);
  const stale = (pledge.joinedAt ?? new Date(0)).getTime() < ctx.now.getTime() - PENDING_STALE_MS;
  // The same event run again (its first run died mid-join): the pending pledge is its own.
  const own = input.eventKey !== undefined && pledge.joinEventKey === input.eventKey;
  if (stale || own) {
    await resumePending(ctx, pledge._id);
    const now = await PledgeModel.findOne({ _id: pledge._id }).lean<LeanPledge>();
    if (now && now.state !== 'pending') return changePledge(ctx, c, now, input);
  }
  return {
    ok: true,
    code: 'already_joined',
    campaignId: c.id,
    pledgeId: String(pledge._id),
    pledgeState: 'pending',
    quantity: pledge.quantity ?? 0,
    variantSku: pledge.variantSku ?? '',
    waitlistPosition: null,
    changed: false,
  };
}

/** The fan already has an active or waitlisted pledge: same request → the pledge; changed → update. */
async function changePledge(
  ctx: GroupBuyContext,
  c: CampaignView,
  pledge: LeanPledge,
  input: JoinInput,
): Promise<JoinResult> {
  const current = toPledgeView(pledge);
  const same = (extra: {
    changed: boolean;
    refused?: 'full' | 'locked';
    quantity?: number;
    variantSku?: string;
  }) =>
    ({
      ok: true,
      code: 'already_joined',
      campaignId: c.id,
      pledgeId: current.id,
      pledgeState: current.state,
      quantity: extra.quantity ?? current.quantity,
      variantSku: extra.variantSku ?? current.variantSku,
      waitlistPosition: current.waitlistPosition,
      changed: extra.changed,
      ...(extra.refused ? { refused: extra.refused } : {}),
    }) as const;

  const qty = input.quantity;
  const wantVariant = input.variantSku ?? current.variantSku;
  if (qty === current.quantity && wantVariant === current.variantSku) return same({ changed: false });
  if (current.state === 'converted' || !isJoinable(c, ctx.now))
    return same({ changed: false, refused: 'locked' });
  if (qty > c.perFanLimit) return { ok: false, code: 'over_fan_limit', limit: c.perFanLimit };
  const variantSku = await resolveVariant(ctx, c, wantVariant);
  if (!variantSku) return { ok: false, code: 'variant_unavailable' };
  const pledgeFilter = { _id: pledge._id, state: current.state, quantity: current.quantity };
  const set = { $set: { quantity: qty, variantSku } };

  if (current.state === 'waitlisted') {
    const res = await PledgeModel.updateOne(pledgeFilter, set);
    return same({ changed: res.modifiedCount === 1, quantity: qty, variantSku });
  }
  const delta = qty - current.quantity;
  const campaignId = new Types.ObjectId(c.id);
  if (delta === 0) {
    const res = await PledgeModel.updateOne(pledgeFilter, set);
    return same({ changed: res.modifiedCount === 1, variantSku });
  }
  if (delta < 0) {
    // Fewer units: only while the campaign has not tipped (after that the fan has committed).
    if (c.state !== 'open') return same({ changed: false, refused: 'locked' });
    const res = await PledgeModel.updateOne(pledgeFilter, set);
    if (res.modifiedCount === 0) return same({ changed: false });
    await CampaignModel.updateOne({ _id: campaignId }, { $inc: { committed: delta, version: 1 } });
    await promoteWaitlist(ctx, c.id);
    return same({ changed: true, quantity: qty, variantSku });
  }
  // More units: seats first (never oversell), then the pledge; undo the seats if the pledge moved.
  const filter: Record<string, unknown> = {
    _id: campaignId,
    state: { $in: [...JOINABLE_STATES] },
    deadline: { $gt: ctx.now },
  };
  if (c.maxQuantity !== null) filter.committed = { $lte: c.maxQuantity - delta };
  const after = await CampaignModel.findOneAndUpdate(
    filter,
    { $inc: { committed: delta, version: 1 } },
    { returnDocument: 'after' },
  ).lean<LeanCampaign>();
  if (!after) return same({ changed: false, refused: 'full' });
  const res = await PledgeModel.updateOne(pledgeFilter, set);
  if (res.modifiedCount === 0) {
    await CampaignModel.updateOne({ _id: campaignId }, { $inc: { committed: -delta, version: 1 } });
    return same({ changed: false });
  }
  const view = toCampaignView(after);
  const { tippedNow } = await tipIfReached(ctx, view);
  if (tippedNow) await announceTipping(ctx, c.id);
  return same({ changed: true, quantity: qty, variantSku });
}

/** Finishes a pledge whose join died after step 1 (used by the janitor, and by a retried join). */
async function resumePending(ctx: GroupBuyContext, pledgeId: Types.ObjectId): Promise<void> {
  const pledge = await PledgeModel.findOne({ _id: pledgeId, state: 'pending' }).lean<LeanPledge>();
  if (!pledge) return;
  const c = await loadCampaign(ctx, String(pledge.campaignId));
  if (!c) return;
  const doc = await CampaignModel.findOne(
    { _id: new Types.ObjectId(c.id), reserving: pledgeId },
    { _id: 1 },
  ).lean();
  if (doc) {
    // Its seats were taken: finish step 3.
    await activate(ctx, c, pledgeId);
    return;
  }
  await completeJoin(ctx, c, pledgeId, pledge.quantity ?? 1, pledge.variantSku ?? '', { announce: true });
}

// ---------------------------------------------------------------------------------------------
// Leaving and the waitlist

export type LeaveResult =
  | { readonly ok: true; readonly left: 'active' | 'waitlisted'; readonly promoted: number }
  | { readonly ok: false; readonly code: 'not_found' | 'not_joined' | 'closed' | 'locked' };

/**
 * A fan leaves: only while the campaign is open (not yet tipped) and before the deadline. The seats go
 * back with a conditional `$inc`, and the first waitlisted pledges that fit are promoted.
 */
export async function leaveCampaign(
  ctx: GroupBuyContext,
  input: { readonly campaignId: string; readonly psid: string },
): Promise<LeaveResult> {
  const c = await loadCampaign(ctx, input.campaignId);
  if (!c) return { ok: false, code: 'not_found' };
  const campaignId = new Types.ObjectId(c.id);
  const pledge = await PledgeModel.findOne({ campaignId, psid: String(input.psid) }).lean<LeanPledge>();
  if (!pledge || !['active', 'waitlisted'].includes(pledge.state ?? ''))
    return { ok: false, code: 'not_joined' };
  if (c.state === 'tipped' && pledge.state === 'active') return { ok: false, code: 'locked' };
  if (!['open', 'tipped'].includes(c.state) || isPastDeadline(c.deadline, ctx.now))
    return { ok: false, code: 'closed' };

  if (pledge.state === 'waitlisted') {
    const res = await PledgeModel.updateOne(
      { _id: pledge._id, state: 'waitlisted' },
      { $set: { state: 'left', leftAt: ctx.now } },
    );
    if (res.modifiedCount === 0) return { ok: false, code: 'not_joined' };
    await CampaignModel.updateOne({ _id: campaignId }, { $inc: { waitlistCount: -1, version: 1 } });
    return { ok: true, left: 'waitlisted', promoted: 0 };
  }
  const qty = pledge.quantity ?? 0;
  const res = await PledgeModel.updateOne(
    { _id: pledge._id, state: 'active' },
    { $set: { state: 'left', leftAt: ctx.now } },
  );
  if (res.modifiedCount === 0) return { ok: false, code: 'not_joined' };
  // The seats go back only if the campaign is still open; if it tipped meanwhile, the pledge stays.
  const back = await CampaignModel.updateOne(
    { _id: campaignId, state: 'open', committed: { $gte: qty } },
    { $inc: { committed: -qty, pledgeCount: -1, version: 1 } },
  );
  if (back.modifiedCount === 0) {
    await PledgeModel.updateOne(
      { _id: pledge._id, state: 'left' },
      { $set: { state: 'active', leftAt: null } },
    );
    return { ok: false, code: 'locked' };
  }
  const promoted = await promoteWaitlist(ctx, c.id);
  return { ok: true, left: 'active', promoted };
}

/** Moves waitlisted pledges, in ticket order, into free seats; stops at the first that does not fit. */
export async function promoteWaitlist(ctx: GroupBuyContext, campaignId: string): Promise<number> {
  let promoted = 0;
  for (let i = 0; i < 100; i++) {
    const c = await loadCampaign(ctx, campaignId);
    if (!c || !isJoinable(c, ctx.now)) break;
    const first = await PledgeModel.findOne({ campaignId: new Types.ObjectId(c.id), state: 'waitlisted' })
      .sort({ waitlistPosition: 1, _id: 1 })
      .lean<LeanPledge>();
    if (!first) break;
    const qty = first.quantity ?? 1;
    if (c.maxQuantity !== null && c.committed + qty > c.maxQuantity) break;
    const taken = await PledgeModel.updateOne(
      { _id: first._id, state: 'waitlisted' },
      { $set: { state: 'pending', joinedAt: ctx.now } },
    );
    if (taken.modifiedCount === 0) continue;
    await CampaignModel.updateOne(
      { _id: new Types.ObjectId(c.id) },
      { $inc: { waitlistCount: -1, version: 1 } },
    );
    const result = await completeJoin(ctx, c, first._id, qty, first.variantSku ?? '', {
      announce: false,
      waitlistPosition: first.waitlistPosition ?? null,
    });
    if (result.ok && result.code === 'joined') {
      promoted += 1;
      await notify(ctx, c, [first], 'promoted', (pledge) => `promoted:${pledge.waitlistPosition ?? 0}`);
      await afterJoin(ctx, result);
    } else break;
  }
  return promoted;
}

/** The fan's place in the line now: 1 + waitlisted pledges with an earlier ticket. */
export async function waitlistPlace(campaignId: string, position: number): Promise<number> {
  const ahead = await PledgeModel.countDocuments({
    campaignId: new Types.ObjectId(campaignId),
    state: 'waitlisted',
    waitlistPosition: { $lt: position },
  });
  return ahead + 1;
}

export interface MyGroupBuy {
  readonly campaign: CampaignView;
  readonly pledge: PledgeView;
  /** For a waitlisted pledge: the fan's place in the line now. */
  readonly place: number | null;
}

/** The fan's current pledges (active, waitlisted, converted), newest first. */
export async function myGroupBuys(
  ctx: Pick<GroupBuyContext, 'pageId'>,
  psid: string,
  opts: { readonly limit?: number } = {},
): Promise<MyGroupBuy[]> {
  const pledges = await PledgeModel.find({
    pageId: String(ctx.pageId),
    psid: String(psid),
    state: { $in: ['active', 'waitlisted', 'converted', 'pending'] },
  })
    .sort({ joinedAt: -1, _id: -1 })
    .limit(opts.limit ?? 10)
    .lean<LeanPledge[]>();
  const out: MyGroupBuy[] = [];
  for (const p of pledges) {
    const campaign = await loadCampaign(ctx, String(p.campaignId));
    if (!campaign) continue;
    const pledge = toPledgeView(p);
    const place =
      pledge.state === 'waitlisted' && pledge.waitlistPosition !== null
        ? await waitlistPlace(campaign.id, pledge.waitlistPosition)
        : null;
    out.push({ campaign, pledge, place });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reconciliation (the janitor)

export interface ReconcileResult {
  readonly before: {
    readonly committed: number;
    readonly pledgeCount: number;
    readonly waitlistCount: number;
  };
  readonly after: {
    readonly committed: number;
    readonly pledgeCount: number;
    readonly waitlistCount: number;
  };
  readonly changed: boolean;
  /** Pending pledges older than a minute that were finished. */
  readonly resumed: number;
}

/**
 * Finishes joins that died midway, then recomputes `committed`, `pledgeCount` and `waitlistCount`
 * from the pledges (active ones, plus the pending ones whose seats are marked in `reserving`). The
 * new counts are written only if `version` did not move meanwhile (else it reads again).
 */
export async function reconcileCampaignCounts(
  ctx: GroupBuyContext,
  campaignId: string,
): Promise<ReconcileResult> {
  const _id = objectId(campaignId);
  if (!_id) throw new RangeError(`not a campaign id: ${campaignId}`);
  const stale = await PledgeModel.find(
    { campaignId: _id, state: 'pending', joinedAt: { $lt: new Date(ctx.now.getTime() - PENDING_STALE_MS) } },
    { _id: 1 },
  ).lean();
  for (const p of stale) await resumePending(ctx, p._id);

  for (let attempt = 0; attempt < 10; attempt++) {
    const c = await CampaignModel.findOne({ _id }).lean<LeanCampaign>();
    if (!c) throw new RangeError(`no campaign ${campaignId}`);
    // Converted pledges (orders) keep their seats.
    const active = await PledgeModel.find(
      { campaignId: _id, state: { $in: ['active', 'converted'] } },
      { quantity: 1 },
    ).lean();
    const reservingIds = (c.reserving ?? []).map((x) => new Types.ObjectId(String(x)));
    const inFlight = reservingIds.length
      ? await PledgeModel.find({ _id: { $in: reservingIds }, state: 'pending' }, { quantity: 1 }).lean()
      : [];
    const waitlistCount = await PledgeModel.countDocuments({ campaignId: _id, state: 'waitlisted' });
    const committed = [...active, ...inFlight].reduce((n, p) => n + (p.quantity ?? 0), 0);
    const pledgeCount = active.length + inFlight.length;
    const before = {
      committed: c.committed ?? 0,
      pledgeCount: c.pledgeCount ?? 0,
      waitlistCount: c.waitlistCount ?? 0,
    };
    const after = { committed, pledgeCount, waitlistCount };
    const changed =
      JSON.stringify(before) !== JSON.stringify(after) || inFlight.length !== reservingIds.length;
    if (!changed) return { before, after, changed, resumed: stale.length };
    const res = await CampaignModel.updateOne(
      { _id, version: c.version ?? 0 },
      { $set: { ...after, reserving: inFlight.map((p) => p._id) }, $inc: { version: 1 } },
    );
    if (res.modifiedCount === 1) return { before, after, changed, resumed: stale.length };
  }
  throw new Error(`campaign ${campaignId} kept changing while being reconciled`);
}

// ---------------------------------------------------------------------------------------------
// Announcements (all through the outbox, keyed by campaign, fan and event)

type NoticeEvent = 'tipped' | 'cancelled' | 'promoted' | 'moved' | 'moved_waitlist';

async function fanLocales(ctx: GroupBuyContext, psids: readonly string[]): Promise<Map<string, Locale>> {
  const fans = await FanModel.find(
    { pageId: String(ctx.pageId), psid: { $in: [...psids] } },
    { psid: 1, locale: 1 },
  ).lean();
  return new Map(fans.map((f) => [f.psid, f.locale as Locale]));
}

async function noticeBody(
  ctx: GroupBuyContext,
  c: CampaignView,
  product: ProductView | undefined,
  pledge: PledgeView,
  event: NoticeEvent,
  locale: Locale,
): Promise<OutgoingMessage> {
  const title = campaignTitle(c, locale, product);
  const vars = { title, count: pledge.quantity };
  switch (event) {
    case 'tipped': {
      const unit = pledge.priceAtTipping ?? priceFor(c.tiers, c.tippedQuantity ?? c.committed);
      const price = money(unit, c.currency);
      const link = await (ctx.checkout ?? orderCheckout).linkFor(ctx, {
        campaign: c,
        product,
        pledgeId: pledge.id,
        psid: pledge.psid,
        variantSku: pledge.variantSku,
        quantity: pledge.quantity,
        unitPrice: unit,
      });
      const body = t(locale, 'groupbuy.notify.tipped', {
        ...vars,
        price: formatMoney(price, locale),
        total: formatMoney(multiply(price, pledge.quantity), locale),
      });
      return buttonTemplate(truncate(body, 640), [urlButton(t(locale, 'groupbuy.notify.pay'), link)]);
    }
    case 'cancelled':
      return text(t(locale, 'groupbuy.notify.cancelled', vars));
    case 'promoted':
      return text(t(locale, 'groupbuy.notify.promoted', vars));
    case 'moved':
      return text(t(locale, 'groupbuy.notify.moved', { ...vars, batch: c.batch.number }));
    case 'moved_waitlist':
      return text(
        t(locale, 'groupbuy.notify.moved_waitlist', {
          ...vars,
          batch: c.batch.number,
          position: pledge.waitlistPosition ?? 0,
        }),
      );
  }
}

/** One message per pledge under `gb:<campaignId>:<psid>:<event>`: enqueuing again sends nothing. */
async function notify(
  ctx: GroupBuyContext,
  c: CampaignView,
  pledges: readonly LeanPledge[],
  event: NoticeEvent,
  keySuffix: (p: PledgeView) => string = () => event,
): Promise<{ created: number; duplicates: number }> {
  if (pledges.length === 0) return { created: 0, duplicates: 0 };
  const views = pledges.map(toPledgeView);
  const locales = await fanLocales(
    ctx,
    views.map((p) => p.psid),
  );
  const product = await getProduct(ctx, c.productSku);
  const purpose: MessagingPurpose = 'groupbuy_update';
  // Each body may create the fan's order (one conditional write each): a few at a time, not one by one.
  const items: OutgoingItem[] = await mapLimit(views, 16, async (p) => ({
    pageId: String(ctx.pageId),
    idempotencyKey: `gb:${c.id}:${p.psid}:${keySuffix(p)}`,
    kind: 'message' as const,
    recipient: { psid: p.psid },
    purpose,
    body: (await noticeBody(
      ctx,
      c,
      product,
      p,
      event,
      locales.get(p.psid) ?? ctx.config.defaultLocale,
    )) as unknown as Record<string, unknown>,
    origin: { type: 'groupbuy', id: c.id },
  }));
  return enqueueMessages(items, ctx.now);
}

export interface AnnounceResult {
  readonly created: number;
  readonly duplicates: number;
  readonly participants: number;
}

/**
 * Tells every active participant that the campaign tipped, with their price and a checkout link. Pages
 * through the pledges by id (a cursor, never all at once); fixes each pledge's price first. Running it
 * again sends nothing twice (the outbox key is `gb:<campaignId>:<psid>:tipped`).
 */
export async function announceTipping(ctx: GroupBuyContext, campaignId: string): Promise<AnnounceResult> {
  const c = await loadCampaign(ctx, campaignId);
  if (!c || !['tipped', 'closed'].includes(c.state)) return { created: 0, duplicates: 0, participants: 0 };
  const price = priceFor(c.tiers, c.tippedQuantity ?? c.committed);
  let after: Types.ObjectId | undefined;
  let created = 0;
  let duplicates = 0;
  let participants = 0;
  for (;;) {
    const page = await PledgeModel.find({
      campaignId: new Types.ObjectId(c.id),
      state: 'active',
      ...(after ? { _id: { $gt: after } } : {}),
    })
      .sort({ _id: 1 })
      .limit(ANNOUNCE_PAGE)
      .lean<LeanPledge[]>();
    if (page.length === 0) break;
    after = page[page.length - 1]!._id;
    const unpriced = page.filter((p) => p.priceAtTipping === null || p.priceAtTipping === undefined);
    if (unpriced.length > 0) {
      await PledgeModel.updateMany(
        { _id: { $in: unpriced.map((p) => p._id) }, priceAtTipping: null },
        { $set: { priceAtTipping: price } },
      );
      for (const p of unpriced) p.priceAtTipping = price;
    }
    const r = await notify(ctx, c, page, 'tipped');
    created += r.created;
    duplicates += r.duplicates;
    participants += page.length;
    if (page.length < ANNOUNCE_PAGE) break;
  }
  return { created, duplicates, participants };
}

/** The tipping message for particular pledges (a fan who joined after the campaign tipped). */
export async function announceTippingTo(
  ctx: GroupBuyContext,
  campaignId: string,
  pledgeIds: readonly string[],
): Promise<AnnounceResult> {
  const c = await loadCampaign(ctx, campaignId);
  if (!c || !['tipped', 'closed'].includes(c.state)) return { created: 0, duplicates: 0, participants: 0 };
  const ids = pledgeIds.map(objectId).filter((x): x is Types.ObjectId => x !== undefined);
  const pledges = await PledgeModel.find({ _id: { $in: ids }, state: 'active' }).lean<LeanPledge[]>();
  const r = await notify(ctx, c, pledges, 'tipped');
  return { ...r, participants: pledges.length };
}

// ---------------------------------------------------------------------------------------------
// Next batch

export type NextBatchResult =
  | { readonly ok: true; readonly nextCampaignId: string; readonly created: boolean; readonly moved: number }
  | { readonly ok: false; readonly code: 'not_found' | 'not_applicable' | 'not_full' };

function baseSlug(slug: string): string {
  return slug.replace(/-b\d+$/, '');
}

/**
 * When a capped campaign with `autoNextBatch` is full: opens batch n+1 (same product, tiers and limits,
 * the same length of time from now) and moves the waitlist into it in ticket order. Idempotent: the
 * next batch's slug is unique per page, and a moved pledge is unique in the new campaign.
 */
export async function openNextBatch(ctx: GroupBuyContext, campaignId: string): Promise<NextBatchResult> {
  const c = await loadCampaign(ctx, campaignId);
  if (!c) return { ok: false, code: 'not_found' };
  if (!c.batch.autoNextBatch || c.maxQuantity === null || !JOINABLE_STATES.includes(c.state))
    return { ok: false, code: 'not_applicable' };
  let nextId = c.batch.nextCampaignId;
  let created = false;
  if (!nextId) {
    if (c.committed < c.maxQuantity) return { ok: false, code: 'not_full' };
    const slug = `${baseSlug(c.slug)}-b${c.batch.number + 1}`.slice(0, 40);
    const length = c.deadline.getTime() - (c.openedAt ?? c.createdAt ?? ctx.now).getTime();
    let next = await CampaignModel.findOne({ pageId: String(ctx.pageId), slug }, { _id: 1 }).lean();
    if (!next) {
      try {
        const doc = await CampaignModel.create({
          pageId: String(ctx.pageId),
          slug,
          productSku: c.productSku,
          variantSku: c.variantSku,
          minQuantity: c.minQuantity,
          maxQuantity: c.maxQuantity,
          deadline: new Date(ctx.now.getTime() + Math.max(length, 60 * 60_000)),
          tiers: c.tiers,
          currency: c.currency,
          perFanLimit: c.perFanLimit,
          texts: c.texts,
          state: 'open',
          openedAt: ctx.now,
          batch: {
            number: c.batch.number + 1,
            previousCampaignId: new Types.ObjectId(c.id),
            autoNextBatch: true,
          },
        });
        next = { _id: doc._id };
        created = true;
      } catch (error) {
        if ((error as { code?: number }).code !== 11000) throw error;
        next = await CampaignModel.findOne({ pageId: String(ctx.pageId), slug }, { _id: 1 }).lean();
        if (!next) throw error;
      }
    }
    await CampaignModel.updateOne(
      { _id: new Types.ObjectId(c.id), 'batch.nextCampaignId': null },
      { $set: { 'batch.nextCampaignId': next._id }, $inc: { version: 1 } },
    );
    const fresh = await loadCampaign(ctx, c.id);
    nextId = fresh?.batch.nextCampaignId ?? String(next._id);
  }
  const moved = await moveWaitlist(ctx, c, nextId);
  return { ok: true, nextCampaignId: nextId, created, moved };
}

async function moveWaitlist(ctx: GroupBuyContext, from: CampaignView, nextId: string): Promise<number> {
  let moved = 0;
  for (;;) {
    const page = await PledgeModel.find({ campaignId: new Types.ObjectId(from.id), state: 'waitlisted' })
      .sort({ waitlistPosition: 1, _id: 1 })
      .limit(ANNOUNCE_PAGE)
      .lean<LeanPledge[]>();
    if (page.length === 0) break;
    for (const p of page) {
      const result = await joinCampaign(ctx, {
        campaignId: nextId,
        psid: p.psid ?? '',
        quantity: p.quantity ?? 1,
        variantSku: p.variantSku ?? null,
        source: { type: 'batch' },
      });
      if (!result.ok) return moved;
      const res = await PledgeModel.updateOne(
        { _id: p._id, state: 'waitlisted' },
        { $set: { state: 'released', movedToCampaignId: new Types.ObjectId(result.campaignId) } },
      );
      if (res.modifiedCount === 1) {
        await CampaignModel.updateOne(
          { _id: new Types.ObjectId(from.id) },
          { $inc: { waitlistCount: -1, version: 1 } },
        );
        moved += 1;
      }
      const target = await loadCampaign(ctx, result.campaignId);
      const newPledge = await PledgeModel.findOne({
        campaignId: new Types.ObjectId(result.campaignId),
        psid: p.psid ?? '',
      }).lean<LeanPledge>();
      if (target && newPledge) {
        await notify(
          ctx,
          target,
          [newPledge],
          newPledge.state === 'waitlisted' ? 'moved_waitlist' : 'moved',
          () => (newPledge.state === 'waitlisted' ? 'moved_waitlist' : 'moved'),
        );
      }
    }
  }
  return moved;
}

// ---------------------------------------------------------------------------------------------
// Managers

export interface CampaignInput {
  readonly slug: string;
  readonly productSku: string;
  readonly variantSku: string | null;
  readonly minQuantity: number;
  readonly maxQuantity: number | null;
  readonly deadline: Date;
  readonly tiers: readonly Tier[];
  readonly currency?: string;
  readonly perFanLimit: number;
  readonly texts: { readonly it: LocalizedTexts; readonly en: LocalizedTexts };
  readonly autoNextBatch?: boolean;
}

export type ManagerFailure =
  | { readonly ok: false; readonly code: 'not_found' }
  | {
      readonly ok: false;
      readonly code: 'invalid';
      readonly problem: SettingsProblem | 'product_not_found' | 'variant_not_found';
      readonly index?: number;
    }
  | { readonly ok: false; readonly code: 'slug_taken' }
  | { readonly ok: false; readonly code: 'forbidden_transition'; readonly state: CampaignState }
  | { readonly ok: false; readonly code: 'version_conflict'; readonly version: number };

export type ManagerResult<T> = ({ readonly ok: true } & T) | ManagerFailure;

async function checkInput(
  ctx: GroupBuyContext,
  input: CampaignInput,
  opts: { readonly deadlineMustBeFuture: boolean },
): Promise<ManagerFailure | { ok: true; currency: string }> {
  const product = await getProduct(ctx, input.productSku);
  if (!product) return { ok: false, code: 'invalid', problem: 'product_not_found' };
  if (input.variantSku !== null && !product.variants.some((v) => v.sku === input.variantSku))
    return { ok: false, code: 'invalid', problem: 'variant_not_found' };
  const settings = validateSettings(input, opts.deadlineMustBeFuture ? ctx.now : new Date(0));
  if (!settings.ok)
    return {
      ok: false,
      code: 'invalid',
      problem: settings.code,
      ...(settings.index !== undefined ? { index: settings.index } : {}),
    };
  return { ok: true, currency: input.currency ?? product.price.currency };
}

function storedInput(input: CampaignInput, currency: string) {
  return {
    slug: input.slug,
    productSku: input.productSku,
    variantSku: input.variantSku,
    minQuantity: input.minQuantity,
    maxQuantity: input.maxQuantity,
    deadline: input.deadline,
    tiers: input.tiers.map((x) => ({ fromQuantity: x.fromQuantity, unitPrice: x.unitPrice })),
    currency,
    perFanLimit: input.perFanLimit,
    texts: { it: { ...input.texts.it }, en: { ...input.texts.en } },
    'batch.autoNextBatch': input.autoNextBatch ?? false,
  };
}

/** A new campaign, in `draft`. */
export async function createCampaign(
  ctx: GroupBuyContext,
  input: CampaignInput,
): Promise<ManagerResult<{ campaign: CampaignView }>> {
  const checked = await checkInput(ctx, input, { deadlineMustBeFuture: true });
  if (!checked.ok) return checked;
  const { 'batch.autoNextBatch': autoNextBatch, ...fields } = storedInput(input, checked.currency);
  try {
    const doc = await CampaignModel.create({
      pageId: String(ctx.pageId),
      ...fields,
      state: 'draft',
      batch: { number: 1, autoNextBatch },
    });
    return { ok: true, campaign: toCampaignView(doc.toObject() as LeanCampaign) };
  } catch (error) {
    if ((error as { code?: number }).code === 11000) return { ok: false, code: 'slug_taken' };
    throw error;
  }
}

/** Edits a draft (the whole input; optimistic on `version` when given). Open campaigns are never edited. */
export async function updateCampaign(
  ctx: GroupBuyContext,
  id: string,
  patch: Partial<CampaignInput>,
  opts: { readonly expectedVersion?: number } = {},
): Promise<ManagerResult<{ campaign: CampaignView; before: CampaignView }>> {
  const before = await loadCampaign(ctx, id);
  if (!before) return { ok: false, code: 'not_found' };
  if (before.state !== 'draft') return { ok: false, code: 'forbidden_transition', state: before.state };
  if (opts.expectedVersion !== undefined && opts.expectedVersion !== before.version)
    return { ok: false, code: 'version_conflict', version: before.version };
  const merged: CampaignInput = {
    slug: patch.slug ?? before.slug,
    productSku: patch.productSku ?? before.productSku,
    variantSku: patch.variantSku !== undefined ? patch.variantSku : before.variantSku,
    minQuantity: patch.minQuantity ?? before.minQuantity,
    maxQuantity: patch.maxQuantity !== undefined ? patch.maxQuantity : before.maxQuantity,
    deadline: patch.deadline ?? before.deadline,
    tiers: patch.tiers ?? before.tiers,
    currency: patch.currency ?? before.currency,
    perFanLimit: patch.perFanLimit ?? before.perFanLimit,
    texts: patch.texts ?? before.texts,
    autoNextBatch: patch.autoNextBatch ?? before.batch.autoNextBatch,
  };
  const checked = await checkInput(ctx, merged, { deadlineMustBeFuture: true });
  if (!checked.ok) return checked;
  try {
    const doc = await CampaignModel.findOneAndUpdate(
      { _id: new Types.ObjectId(before.id), state: 'draft', version: before.version },
      { $set: storedInput(merged, checked.currency), $inc: { version: 1 } },
      { returnDocument: 'after' },
    ).lean<LeanCampaign>();
    if (!doc) {
      const now = await loadCampaign(ctx, id);
      if (now && now.state !== 'draft') return { ok: false, code: 'forbidden_transition', state: now.state };
      return { ok: false, code: 'version_conflict', version: now?.version ?? before.version };
    }
    return { ok: true, campaign: toCampaignView(doc), before };
  } catch (error) {
    if ((error as { code?: number }).code === 11000) return { ok: false, code: 'slug_taken' };
    throw error;
  }
}

/** draft → open. The deadline must still be ahead; it never moves afterwards. */
export async function openCampaign(
  ctx: GroupBuyContext,
  id: string,
): Promise<ManagerResult<{ campaign: CampaignView }>> {
  const c = await loadCampaign(ctx, id);
  if (!c) return { ok: false, code: 'not_found' };
  const step = transition(c.state, 'open');
  if (!step.ok) return { ok: false, code: 'forbidden_transition', state: c.state };
  const settings = validateSettings(c, ctx.now);
  if (!settings.ok) return { ok: false, code: 'invalid', problem: settings.code };
  const doc = await CampaignModel.findOneAndUpdate(
    { _id: new Types.ObjectId(c.id), state: 'draft' },
    { $set: { state: 'open', openedAt: ctx.now }, $inc: { version: 1 } },
    { returnDocument: 'after' },
  ).lean<LeanCampaign>();
  if (!doc)
    return {
      ok: false,
      code: 'forbidden_transition',
      state: (await loadCampaign(ctx, id))?.state ?? c.state,
    };
  return { ok: true, campaign: toCampaignView(doc) };
}

/**
 * open|tipped → cancelled. Every participant (and waitlisted fan) is told, once
 * (`gb:<id>:<psid>:cancelled`), and their pledges are released. Calling it again on a cancelled
 * campaign finishes what a crash may have left (no message is sent twice).
 */
export async function cancelCampaign(
  ctx: GroupBuyContext,
  id: string,
): Promise<ManagerResult<{ campaign: CampaignView; released: number; notified: number; already: boolean }>> {
  const c = await loadCampaign(ctx, id);
  if (!c) return { ok: false, code: 'not_found' };
  let already = c.state === 'cancelled';
  if (!already) {
    const step = transition(c.state, 'cancel');
    if (!step.ok) return { ok: false, code: 'forbidden_transition', state: c.state };
    const res = await CampaignModel.updateOne(
      { _id: new Types.ObjectId(c.id), state: c.state },
      { $set: { state: 'cancelled', cancelledAt: ctx.now }, $inc: { version: 1 } },
    );
    if (res.modifiedCount === 0) {
      const now = await loadCampaign(ctx, id);
      if (now?.state !== 'cancelled')
        return { ok: false, code: 'forbidden_transition', state: now?.state ?? c.state };
      already = true;
    }
  }
  const campaign = (await loadCampaign(ctx, id))!;
  let released = 0;
  let notified = 0;
  for (;;) {
    const page = await PledgeModel.find({
      campaignId: new Types.ObjectId(c.id),
      state: { $in: ['active', 'waitlisted', 'pending'] },
    })
      .sort({ _id: 1 })
      .limit(ANNOUNCE_PAGE)
      .lean<LeanPledge[]>();
    if (page.length === 0) break;
    // Tell first, then release: a crash between the two re-sends nothing (same keys) and releases on re-run.
    const r = await notify(
      ctx,
      campaign,
      page.filter((p) => p.state !== 'pending'),
      'cancelled',
    );
    notified += r.created;
    const res = await PledgeModel.updateMany(
      { _id: { $in: page.map((p) => p._id) }, state: { $in: ['active', 'waitlisted', 'pending'] } },
      { $set: { state: 'released' } },
    );
    released += res.modifiedCount;
  }
  return { ok: true, campaign, released, notified, already };
}

export interface Inspection {
  readonly campaign: CampaignView;
  readonly progress: Progress;
  readonly tier: { readonly index: number; readonly unitPrice: number };
  readonly timeLeft: TimeLeft;
  readonly forecast: Forecast;
  /** Counts recomputed from the pledges right now (compare with the campaign's counters). */
  readonly counted: {
    readonly active: number;
    readonly committed: number;
    readonly waitlisted: number;
    readonly pending: number;
  };
  readonly pledges: PledgeView[];
  readonly nextCursor: string | null;
  readonly waitlist: PledgeView[];
}

/** Everything a manager needs about one campaign; the pledges page by id (`after` = last id seen). */
export async function inspectCampaign(
  ctx: GroupBuyContext,
  id: string,
  page: { readonly after?: string | undefined; readonly limit: number; readonly waitlistLimit?: number },
): Promise<Inspection | undefined> {
  const c = await loadCampaign(ctx, id);
  if (!c) return undefined;
  const campaignId = new Types.ObjectId(c.id);
  const after = page.after ? objectId(page.after) : undefined;
  const docs = await PledgeModel.find({
    campaignId,
    state: { $in: ['active', 'pending', 'converted'] },
    ...(after ? { _id: { $gt: after } } : {}),
  })
    .sort({ _id: 1 })
    .limit(page.limit + 1)
    .lean<LeanPledge[]>();
  const more = docs.length > page.limit;
  const pledges = docs.slice(0, page.limit).map(toPledgeView);
  const waitlist = (
    await PledgeModel.find({ campaignId, state: 'waitlisted' })
      .sort({ waitlistPosition: 1, _id: 1 })
      .limit(page.waitlistLimit ?? 50)
      .lean<LeanPledge[]>()
  ).map(toPledgeView);
  const active = await PledgeModel.find(
    { campaignId, state: { $in: ['active', 'converted'] } },
    { quantity: 1 },
  ).lean();
  const counted = {
    active: active.length,
    committed: active.reduce((n, p) => n + (p.quantity ?? 0), 0),
    waitlisted: await PledgeModel.countDocuments({ campaignId, state: 'waitlisted' }),
    pending: await PledgeModel.countDocuments({ campaignId, state: 'pending' }),
  };
  const index = tierIndexFor(c.tiers, c.committed);
  return {
    campaign: c,
    progress: campaignProgress(ctx, c),
    tier: { index, unitPrice: c.tiers[index]?.unitPrice ?? 0 },
    timeLeft: timeLeft(c.deadline, ctx.now),
    forecast: forecastTipping({
      committed: c.committed,
      minQuantity: c.minQuantity,
      openedAt: c.openedAt ?? c.createdAt ?? ctx.now,
      deadline: c.deadline,
      now: ctx.now,
    }),
    counted,
    pledges,
    nextCursor: more ? (pledges[pledges.length - 1]?.id ?? null) : null,
    waitlist,
  };
}

/** Links a Page post to a campaign (creating the post record if the bot did not know it). */
export async function linkPost(
  ctx: GroupBuyContext,
  id: string,
  post: { readonly postId: string; readonly message?: string; readonly imageUrl?: string | null },
): Promise<ManagerResult<{ campaign: CampaignView }>> {
  const c = await loadCampaign(ctx, id);
  if (!c) return { ok: false, code: 'not_found' };
  await PagePostModel.updateOne(
    { pageId: String(ctx.pageId), postId: String(post.postId) },
    {
      $set: {
        link: { type: 'campaign', id: c.id },
        ...(post.message !== undefined ? { message: post.message } : {}),
        ...(post.imageUrl !== undefined ? { imageUrl: post.imageUrl } : {}),
      },
      $setOnInsert: { createdTime: ctx.now, keywords: [] },
    },
    { upsert: true },
  );
  const doc = await CampaignModel.findOneAndUpdate(
    { _id: new Types.ObjectId(c.id) },
    { $addToSet: { linkedPostIds: String(post.postId) }, $inc: { version: 1 } },
    { returnDocument: 'after' },
  ).lean<LeanCampaign>();
  return { ok: true, campaign: toCampaignView(doc!) };
}

/** Unlinks a post: it points at the campaign's product instead. */
export async function unlinkPost(
  ctx: GroupBuyContext,
  id: string,
  postId: string,
): Promise<ManagerResult<{ campaign: CampaignView; wasLinked: boolean }>> {
  const c = await loadCampaign(ctx, id);
  if (!c) return { ok: false, code: 'not_found' };
  const wasLinked = c.linkedPostIds.includes(postId);
  await PagePostModel.updateOne(
    { pageId: String(ctx.pageId), postId: String(postId), 'link.type': 'campaign', 'link.id': c.id },
    { $set: { link: { type: 'product', id: c.productSku } } },
  );
  const doc = await CampaignModel.findOneAndUpdate(
    { _id: new Types.ObjectId(c.id) },
    { $pull: { linkedPostIds: String(postId) }, $inc: { version: 1 } },
    { returnDocument: 'after' },
  ).lean<LeanCampaign>();
  return { ok: true, campaign: toCampaignView(doc!), wasLinked };
}

/** The simulator's "Page posts" tab: the page's known posts, newest first. */
export async function listPagePosts(
  ctx: Pick<GroupBuyContext, 'pageId'>,
  opts: { readonly limit?: number } = {},
): Promise<{ id: string; message: string; imageUrl?: string; createdTime: Date }[]> {
  const posts = await PagePostModel.find({ pageId: String(ctx.pageId) })
    .sort({ createdTime: -1 })
    .limit(opts.limit ?? 50)
    .lean();
  return posts.map((p) => ({
    id: p.postId,
    message: p.message ?? '',
    ...(p.imageUrl ? { imageUrl: p.imageUrl } : {}),
    createdTime: p.createdTime,
  }));
}

import { randomBytes } from 'node:crypto';
import { Types } from 'mongoose';
import type { Config, Locale } from '../config/index.js';
import { CampaignModel } from '../db/models/campaign.js';
import { FanModel } from '../db/models/fan.js';
import { LedgerEntryModel } from '../db/models/ledger-entry.js';
import { OrderModel } from '../db/models/order.js';
import { PledgeModel } from '../db/models/pledge.js';
import { ReferralCodeModel } from '../db/models/referral-code.js';
import { ReferralModel, type ReferralDoc } from '../db/models/referral.js';
import { RewardConfigModel } from '../db/models/reward-config.js';
import { isInsideWindow } from '../domain/messaging-policy.js';
import {
  buildRef,
  decideAttribution,
  DEFAULT_ATTRIBUTION_POLICY,
  fanCodeFrom,
  isDormant,
  isValidRewardSpec,
  leaderName,
  mmeLink,
  PAGE_SCOPE,
  parseRef,
  rankLeaders,
  rewardValue,
  type AttributionOutcome,
  type AttributionPolicy,
  type LeaderCount,
  type ReferralScope,
  type RewardSpec,
} from '../domain/referral.js';
import { t } from '../i18n/index.js';
import type { Logger } from '../log.js';
import { text } from '../messenger/builders.js';
import { enqueueMessages } from '../messenger/outbox/enqueue.js';
import { appendEntry, ledgerSummary, refundSpend, reverseEntry, type UnitSummary } from './ledger.js';

/**
 * Referrals as a service: personal codes and links, attribution of arrivals (the rules are in
 * `domain/referral.ts`; this module gathers the facts and records every decision), telling the
 * referrer, rewards on the order lifecycle (append-only ledger, idempotent keys), and the views fans
 * and managers read (my invites, leaders, reach).
 */

export interface ReferralContext {
  readonly pageId: string;
  readonly now: Date;
  readonly config: Pick<Config, 'defaultLocale'>;
  readonly log?: Logger | undefined;
}

const DUPLICATE_KEY = 11000;
const isDuplicate = (e: unknown) => (e as { code?: number }).code === DUPLICATE_KEY;
const DECISIONS_KEPT = 50;

// ---------------------------------------------------------------------------------------------
// Codes and links

/** The fan's code on this page, created on first use (unique per page; a collision draws again). */
export async function codeFor(ctx: Pick<ReferralContext, 'pageId' | 'now'>, psid: string): Promise<string> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const existing = await ReferralCodeModel.findOne({
      pageId: String(ctx.pageId),
      psid: String(psid),
    }).lean<{
      code: string;
    }>();
    if (existing) return existing.code;
    try {
      const code = fanCodeFrom(randomBytes(8));
      await ReferralCodeModel.collection.insertOne({
        pageId: String(ctx.pageId),
        psid: String(psid),
        code,
        showFirstName: false,
        createdAt: ctx.now,
      });
      return code;
    } catch (error) {
      // Either the fan got a code meanwhile (found next time round) or the code was taken (drawn again).
      if (!isDuplicate(error)) throw error;
    }
  }
  throw new Error(`could not create a referral code for ${psid}`);
}

export async function psidForCode(pageId: string, code: string): Promise<string | null> {
  const doc = await ReferralCodeModel.findOne({ pageId: String(pageId), code: String(code) }).lean<{
    psid: string;
  }>();
  return doc?.psid ?? null;
}

export interface InviteLink {
  readonly ref: string;
  readonly url: string;
}

export async function inviteLink(
  ctx: Pick<ReferralContext, 'pageId' | 'now'>,
  psid: string,
  campaignCode?: string,
): Promise<InviteLink> {
  const ref = buildRef(await codeFor(ctx, psid), campaignCode);
  return { ref, url: mmeLink(ctx.pageId, ref) };
}

/** The fan's leaderboard choice: initials (default) or first name. */
export async function setLeaderOptIn(
  ctx: Pick<ReferralContext, 'pageId' | 'now'>,
  psid: string,
  showFirstName: boolean,
): Promise<void> {
  await codeFor(ctx, psid);
  await ReferralCodeModel.updateOne(
    { pageId: String(ctx.pageId), psid: String(psid) },
    { $set: { showFirstName } },
  );
}

interface CampaignRef {
  readonly id: string;
  readonly slug: string;
}

async function campaignBySlug(pageId: string, slug: string): Promise<CampaignRef | undefined> {
  const doc = await CampaignModel.findOne({ pageId: String(pageId), slug: String(slug) }, { slug: 1 }).lean<{
    _id: Types.ObjectId;
    slug: string;
  }>();
  return doc ? { id: String(doc._id), slug: doc.slug } : undefined;
}

export async function campaignById(pageId: string, id: string): Promise<CampaignRef | undefined> {
  if (!/^[a-f0-9]{24}$/i.test(id)) return undefined;
  const doc = await CampaignModel.findOne(
    { pageId: String(pageId), _id: new Types.ObjectId(id) },
    { slug: 1 },
  ).lean<{
    _id: Types.ObjectId;
    slug: string;
  }>();
  return doc ? { id: String(doc._id), slug: doc.slug } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Reward configuration (per page or campaign) and the attribution policy

export interface RewardConfigView {
  readonly scope: ReferralScope;
  readonly active: boolean;
  readonly referrer: RewardSpec | null;
  readonly friend: RewardSpec | null;
  readonly trigger: 'paid' | 'tipped';
  readonly firstOrderOnly: boolean;
  readonly attributionWindowDays: number;
  readonly maxInviteesPerHour: number;
  readonly maxDormantInvitees: number;
  readonly updatedAt: Date;
  readonly updatedBy: string;
}

interface StoredReward {
  kind: 'credit' | 'percent' | 'points';
  amount?: number | null;
  percent?: number | null;
  points?: number | null;
}

function toSpec(r: StoredReward | null | undefined): RewardSpec | null {
  if (!r) return null;
  if (r.kind === 'credit') return { kind: 'credit', amount: r.amount ?? 0 };
  if (r.kind === 'percent') return { kind: 'percent', percent: r.percent ?? 0 };
  return { kind: 'points', points: r.points ?? 0 };
}

function toConfigView(doc: Record<string, unknown>): RewardConfigView {
  return {
    scope: String(doc.scope),
    active: doc.active !== false,
    referrer: toSpec(doc.referrer as StoredReward | null),
    friend: toSpec(doc.friend as StoredReward | null),
    trigger: doc.trigger === 'tipped' ? 'tipped' : 'paid',
    firstOrderOnly: doc.firstOrderOnly !== false,
    attributionWindowDays: Number(doc.attributionWindowDays ?? 30),
    maxInviteesPerHour: Number(doc.maxInviteesPerHour ?? 20),
    maxDormantInvitees: Number(doc.maxDormantInvitees ?? 10),
    updatedAt: doc.updatedAt as Date,
    updatedBy: String(doc.updatedBy ?? ''),
  };
}

export async function getRewardConfig(
  pageId: string,
  scope: ReferralScope,
): Promise<RewardConfigView | undefined> {
  const doc = await RewardConfigModel.findOne({ pageId: String(pageId), scope: String(scope) }).lean<
    Record<string, unknown>
  >();
  return doc ? toConfigView(doc) : undefined;
}

export async function listRewardConfigs(pageId: string): Promise<RewardConfigView[]> {
  const docs = await RewardConfigModel.find({ pageId: String(pageId) })
    .sort({ scope: 1 })
    .lean<Record<string, unknown>[]>();
  return docs.map(toConfigView);
}

export interface RewardConfigInput {
  readonly active?: boolean | undefined;
  readonly referrer: RewardSpec | null;
  readonly friend?: RewardSpec | null | undefined;
  readonly trigger?: 'paid' | 'tipped' | undefined;
  readonly firstOrderOnly?: boolean | undefined;
  readonly attributionWindowDays?: number | undefined;
  readonly maxInviteesPerHour?: number | undefined;
  readonly maxDormantInvitees?: number | undefined;
}

export type RewardConfigResult =
  | { readonly ok: true; readonly config: RewardConfigView; readonly before: RewardConfigView | undefined }
  | { readonly ok: false; readonly code: 'invalid_reward' | 'unknown_campaign' };

/** Sets the reward of a page (`scope: 'page'`) or of one campaign (its id). */
export async function setRewardConfig(
  ctx: Pick<ReferralContext, 'pageId' | 'now'>,
  scope: ReferralScope,
  input: RewardConfigInput,
  by: string,
): Promise<RewardConfigResult> {
  if (scope !== PAGE_SCOPE && !(await campaignById(ctx.pageId, scope)))
    return { ok: false, code: 'unknown_campaign' };
  for (const spec of [input.referrer, input.friend ?? null]) {
    if (spec && !isValidRewardSpec(spec)) return { ok: false, code: 'invalid_reward' };
  }
  const before = await getRewardConfig(ctx.pageId, scope);
  const stored = (s: RewardSpec | null) =>
    s === null
      ? null
      : {
          kind: s.kind,
          amount: s.kind === 'credit' ? s.amount : null,
          percent: s.kind === 'percent' ? s.percent : null,
          points: s.kind === 'points' ? s.points : null,
        };
  await RewardConfigModel.updateOne(
    { pageId: String(ctx.pageId), scope: String(scope) },
    {
      $set: {
        active: input.active ?? true,
        referrer: stored(input.referrer),
        friend: stored(input.friend ?? null),
        trigger: input.trigger ?? 'paid',
        firstOrderOnly: input.firstOrderOnly ?? true,
        attributionWindowDays: input.attributionWindowDays ?? 30,
        maxInviteesPerHour: input.maxInviteesPerHour ?? 20,
        maxDormantInvitees: input.maxDormantInvitees ?? 10,
        updatedAt: ctx.now,
        updatedBy: by,
      },
    },
    { upsert: true },
  );
  const config = await getRewardConfig(ctx.pageId, scope);
  return { ok: true, config: config!, before };
}

/** The reward that applies: the campaign's own (if active), else the page's (if active). */
export async function effectiveRewardConfig(
  pageId: string,
  campaignId: string | null | undefined,
): Promise<RewardConfigView | undefined> {
  if (campaignId) {
    const own = await getRewardConfig(pageId, campaignId);
    if (own) return own.active ? own : undefined;
  }
  const page = await getRewardConfig(pageId, PAGE_SCOPE);
  return page?.active ? page : undefined;
}

export async function attributionPolicy(pageId: string): Promise<AttributionPolicy> {
  const page = await getRewardConfig(pageId, PAGE_SCOPE);
  if (!page) return DEFAULT_ATTRIBUTION_POLICY;
  return {
    ...DEFAULT_ATTRIBUTION_POLICY,
    windowMs: page.attributionWindowDays * 24 * 60 * 60 * 1000,
    maxPerPeriod: page.maxInviteesPerHour,
    maxDormant: page.maxDormantInvitees,
  };
}

// ---------------------------------------------------------------------------------------------
// Attribution

export interface ArrivalInput {
  readonly inviteePsid: string;
  readonly ref: string;
  /** SHORTLINK, ADS... as Meta said. */
  readonly source: string;
  /** The inbox event: a retried turn records its decision once. */
  readonly eventKey: string;
}

export interface ScopeOutcome {
  readonly scope: ReferralScope;
  readonly referralId: string;
  readonly outcome: AttributionOutcome;
}

export type ArrivalResult =
  | { readonly ours: false }
  | {
      readonly ours: true;
      readonly referrerPsid: string | null;
      readonly campaign: CampaignRef | undefined;
      readonly outcomes: readonly ScopeOutcome[];
      /** True when this arrival made a new attribution in some scope. */
      readonly attributed: boolean;
    };

/**
 * Records what an arrival through `ref` means, for the page and (for a campaign link) for that
 * campaign. Refs that are not ours are ignored (`ours: false`). The referrer hears about a new
 * friend inside their 24 h window, or on their next visit.
 */
export async function attributeArrival(ctx: ReferralContext, input: ArrivalInput): Promise<ArrivalResult> {
  const parsed = parseRef(input.ref);
  if (!parsed) return { ours: false };
  const referrerPsid = await psidForCode(ctx.pageId, parsed.fanCode);
  const campaign = parsed.campaignCode ? await campaignBySlug(ctx.pageId, parsed.campaignCode) : undefined;
  const campaignKnown = parsed.campaignCode === undefined || campaign !== undefined;
  const policy = await attributionPolicy(ctx.pageId);
  const scopes: ReferralScope[] = campaign ? [campaign.id, PAGE_SCOPE] : [PAGE_SCOPE];
  const outcomes: ScopeOutcome[] = [];
  for (const scope of scopes) {
    outcomes.push(
      await decideAndRecord(ctx, input, {
        scope,
        referrerPsid,
        campaignKnown,
        campaignCode: scope === PAGE_SCOPE ? null : (campaign?.slug ?? null),
        policy,
      }),
    );
  }
  const fresh = outcomes.filter((o) => o.outcome.decision === 'attributed');
  if (fresh.length > 0 && referrerPsid)
    await noticeToReferrer(ctx, referrerPsid, input.inviteePsid, fresh[0]!.referralId);
  ctx.log?.info(
    { ref: input.ref, outcomes: outcomes.map((o) => `${o.scope}:${o.outcome.decision}:${o.outcome.reason}`) },
    'referral arrival',
  );
  return { ours: true, referrerPsid, campaign, outcomes, attributed: fresh.length > 0 };
}

interface ScopeFacts {
  readonly scope: ReferralScope;
  readonly referrerPsid: string | null;
  readonly campaignKnown: boolean;
  readonly campaignCode: string | null;
  readonly policy: AttributionPolicy;
}

/** Who invited `psid` (their standing page attribution, else any), or null. */
async function inviterOf(pageId: string, psid: string): Promise<string | null> {
  const docs = await ReferralModel.find(
    { pageId: String(pageId), inviteePsid: String(psid), decision: 'attributed' },
    { scope: 1, referrerPsid: 1 },
  )
    .limit(20)
    .lean<{ scope: string; referrerPsid: string | null }[]>();
  const page = docs.find((d) => d.scope === PAGE_SCOPE);
  return (page ?? docs[0])?.referrerPsid ?? null;
}

async function referrerFacts(
  ctx: ReferralContext,
  referrerPsid: string,
  policy: AttributionPolicy,
): Promise<{ chain: string[]; recent: number; judged: number; dormant: number }> {
  const chain: string[] = [];
  let cursor: string | null = referrerPsid;
  for (let depth = 0; depth < policy.loopDepth && cursor; depth++) {
    cursor = await inviterOf(ctx.pageId, cursor);
    if (cursor) {
      if (chain.includes(cursor)) break;
      chain.push(cursor);
    }
  }
  const base = {
    pageId: String(ctx.pageId),
    referrerPsid: String(referrerPsid),
    decision: 'attributed' as const,
  };
  const recent = (
    await ReferralModel.distinct('inviteePsid', {
      ...base,
      at: { $gte: new Date(ctx.now.getTime() - policy.ratePeriodMs) },
    })
  ).length;
  const judgeable = await ReferralModel.find(
    {
      ...base,
      scope: PAGE_SCOPE,
      at: {
        $gte: new Date(ctx.now.getTime() - policy.windowMs),
        $lte: new Date(ctx.now.getTime() - policy.dormantAfterMs),
      },
    },
    { inviteePsid: 1, at: 1 },
  )
    .limit(200)
    .lean<{ inviteePsid: string; at: Date }[]>();
  let dormant = 0;
  if (judgeable.length > 0) {
    const fans = await FanModel.find(
      { pageId: String(ctx.pageId), psid: { $in: judgeable.map((j) => j.inviteePsid) } },
      { psid: 1, lastInteractionAt: 1 },
    ).lean<{ psid: string; lastInteractionAt?: Date }[]>();
    const seen = new Map(fans.map((f) => [f.psid, f.lastInteractionAt ?? null]));
    for (const j of judgeable)
      if (isDormant(j.at, seen.get(j.inviteePsid) ?? null, ctx.now, policy)) dormant++;
  }
  return { chain, recent, judged: judgeable.length, dormant };
}

async function decideAndRecord(
  ctx: ReferralContext,
  input: ArrivalInput,
  facts: ScopeFacts,
): Promise<ScopeOutcome> {
  const key = {
    pageId: String(ctx.pageId),
    inviteePsid: String(input.inviteePsid),
    scope: String(facts.scope),
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await ReferralModel.findOne(key).lean<ReferralDoc>();
    // A retried turn: the decision this event made is the answer (recorded once).
    const already = current?.decisions.find((d) => d.eventKey === input.eventKey);
    if (current && already) {
      return {
        scope: facts.scope,
        referralId: String(current._id),
        outcome: { decision: already.decision, reason: already.reason } as AttributionOutcome,
      };
    }
    const referrer = facts.referrerPsid;
    const rf =
      referrer && referrer !== input.inviteePsid
        ? await referrerFacts(ctx, referrer, facts.policy)
        : { chain: [], recent: 0, judged: 0, dormant: 0 };
    const outcome = decideAttribution(
      {
        now: ctx.now,
        inviteePsid: input.inviteePsid,
        referrerPsid: referrer,
        campaignKnown: facts.campaignKnown,
        current: current
          ? { decision: current.decision, referrerPsid: current.referrerPsid ?? null, at: current.at }
          : null,
        referrerChain: rf.chain,
        referrerRecentCount: rf.recent,
        referrerJudgedInvitees: rf.judged,
        referrerDormantInvitees: rf.dormant,
      },
      facts.policy,
    );
    const entry = {
      ref: input.ref,
      referrerPsid: referrer,
      decision: outcome.decision,
      reason: outcome.reason,
      source: input.source,
      at: ctx.now,
      eventKey: input.eventKey,
    };
    const push = { decisions: { $each: [entry], $slice: -DECISIONS_KEPT } };
    const standing = {
      referrerPsid: referrer,
      ref: input.ref,
      source: input.source,
      decision: outcome.decision,
      reason: outcome.reason,
      at: ctx.now,
      campaignCode: facts.campaignCode,
    };
    if (!current) {
      try {
        const _id = new Types.ObjectId();
        await ReferralModel.collection.insertOne({
          _id,
          ...key,
          ...standing,
          decisions: [entry],
          rewardedOrderId: null,
          notice: { state: 'none', at: null, eventKey: null },
          version: 0,
        });
        return { scope: facts.scope, referralId: String(_id), outcome };
      } catch (error) {
        if (!isDuplicate(error)) throw error;
        continue; // a concurrent arrival created it: judge again against theirs
      }
    }
    // A new attribution replaces the standing one; a refusal of a fan with no attribution yet
    // becomes the standing (refused) decision; anything else only adds to the history.
    const replaces =
      outcome.decision === 'attributed' ||
      (outcome.decision === 'refused' && current.decision !== 'attributed');
    const update: Record<string, unknown> = replaces
      ? {
          $set: {
            ...standing,
            ...(outcome.decision === 'attributed'
              ? { rewardedOrderId: null, notice: { state: 'none', at: null, eventKey: null } }
              : {}),
          },
          $push: push,
          $inc: { version: 1 },
        }
      : { $push: push, $inc: { version: 1 } };
    const res = await ReferralModel.collection.updateOne(
      { _id: current._id, version: current.version },
      update,
    );
    if (res.modifiedCount === 1) return { scope: facts.scope, referralId: String(current._id), outcome };
    // Someone changed the record between our read and our write: judge again.
  }
  throw new Error(`referral for ${input.inviteePsid}/${facts.scope}: kept changing`);
}

// ---------------------------------------------------------------------------------------------
// Telling the referrer

async function fanFacts(
  pageId: string,
  psid: string,
): Promise<{
  locale?: Locale;
  lastInteractionAt?: Date;
  reachable?: boolean;
  firstName?: string;
  lastName?: string;
  threadOwner?: string;
} | null> {
  return FanModel.findOne(
    { pageId: String(pageId), psid: String(psid) },
    { locale: 1, lastInteractionAt: 1, reachable: 1, firstName: 1, lastName: 1, threadOwner: 1 },
  ).lean<{
    locale?: Locale;
    lastInteractionAt?: Date;
    reachable?: boolean;
    firstName?: string;
    lastName?: string;
    threadOwner?: string;
  }>();
}

/** Initials of a fan ("G. R."), or undefined when their name is unknown. */
async function initialsOf(pageId: string, psid: string): Promise<string | undefined> {
  const fan = await fanFacts(pageId, psid);
  return fan ? leaderName(fan, false) : undefined;
}

/**
 * "A friend joined through your link": through the outbox (purpose `reminder`, which the sender's
 * policy refuses outside the window) when the referrer is inside their 24 h window; otherwise kept
 * pending and shown on their next visit ({@link takePendingNotices}).
 */
async function noticeToReferrer(
  ctx: ReferralContext,
  referrerPsid: string,
  inviteePsid: string,
  referralId: string,
): Promise<void> {
  const id = new Types.ObjectId(referralId);
  const referrer = await fanFacts(ctx.pageId, referrerPsid);
  const inside =
    referrer !== null &&
    referrer.reachable !== false &&
    referrer.threadOwner !== 'inbox' &&
    isInsideWindow(referrer.lastInteractionAt ?? null, ctx.now);
  if (!inside) {
    await ReferralModel.updateOne(
      { _id: id, 'notice.state': 'none' },
      { $set: { notice: { state: 'pending', at: ctx.now, eventKey: null } } },
    );
    return;
  }
  const locale = referrer.locale ?? ctx.config.defaultLocale;
  const who = await initialsOf(ctx.pageId, inviteePsid);
  const body = text(
    who ? t(locale, 'referral.notice.joined_name', { name: who }) : t(locale, 'referral.notice.joined'),
  );
  await enqueueMessages(
    [
      {
        pageId: ctx.pageId,
        idempotencyKey: `ref:${referralId}:notice`,
        kind: 'message',
        recipient: { psid: referrerPsid },
        purpose: 'reminder',
        body: body as unknown as Record<string, unknown>,
        origin: { type: 'referral', id: referralId },
      },
    ],
    ctx.now,
  );
  await ReferralModel.updateOne(
    { _id: id, 'notice.state': 'none' },
    { $set: { notice: { state: 'sent', at: ctx.now, eventKey: null } } },
  );
}

/**
 * Friends who joined while the referrer was away: marked shown by this turn (a retried turn finds the
 * same ones again through its event key). Returns their display names (initials; '' when unknown).
 */
export async function takePendingNotices(
  ctx: Pick<ReferralContext, 'pageId' | 'now'>,
  psid: string,
  eventKey: string,
): Promise<string[]> {
  const docs = await ReferralModel.find(
    {
      pageId: String(ctx.pageId),
      referrerPsid: String(psid),
      $or: [{ 'notice.state': 'pending' }, { 'notice.state': 'shown', 'notice.eventKey': String(eventKey) }],
    },
    { inviteePsid: 1, notice: 1 },
  )
    .sort({ at: 1 })
    .limit(20)
    .lean<{ _id: Types.ObjectId; inviteePsid: string; notice: { state: string } }[]>();
  const names: string[] = [];
  const seen = new Set<string>();
  for (const d of docs) {
    if (d.notice.state === 'pending') {
      const r = await ReferralModel.updateOne(
        { _id: d._id, 'notice.state': 'pending' },
        { $set: { notice: { state: 'shown', at: ctx.now, eventKey: String(eventKey) } } },
      );
      if (r.modifiedCount !== 1) continue;
    }
    if (seen.has(d.inviteePsid)) continue; // a campaign link makes two records for one friend
    seen.add(d.inviteePsid);
    names.push((await initialsOf(ctx.pageId, d.inviteePsid)) ?? '');
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// Rewards on the order lifecycle

/** The order fields rewards need (the orders module's view satisfies it). */
export interface RewardOrder {
  readonly id: string;
  readonly pageId: string;
  readonly psid: string;
  readonly total: { readonly amount: number; readonly currency: string };
  readonly source: { readonly type: string; readonly campaignId?: string | undefined };
  readonly createdAt?: Date | undefined;
}

type RewardContext = Pick<ReferralContext, 'pageId' | 'now' | 'log'>;

/** The attribution that counts for a fan's purchase: the campaign's own, else the page's. */
async function effectiveReferral(
  pageId: string,
  inviteePsid: string,
  campaignId: string | null | undefined,
): Promise<ReferralDoc | null> {
  const scopes = campaignId ? [campaignId, PAGE_SCOPE] : [PAGE_SCOPE];
  const docs = await ReferralModel.find({
    pageId: String(pageId),
    inviteePsid: String(inviteePsid),
    scope: { $in: scopes },
    decision: 'attributed',
  }).lean<ReferralDoc[]>();
  for (const s of scopes) {
    const d = docs.find((x) => x.scope === s && x.referrerPsid);
    if (d) return d;
  }
  return null;
}

export function earnKey(referralId: string, orderId: string, side: 'referrer' | 'friend'): string {
  return side === 'referrer'
    ? `ref:${referralId}:order:${orderId}:earn`
    : `ref:${referralId}:order:${orderId}:friend:earn`;
}

export interface RewardOutcome {
  readonly earned: number;
  readonly skipped?: 'no_referral' | 'no_reward' | 'trigger_tipped' | 'already_rewarded' | 'before_referral';
}

/**
 * A friend's order was paid: the referrer (and, two-sided, the friend) earn their reward, once per
 * order (`ref:<referralId>:order:<orderId>:earn`), and once per friend when the reward is for the
 * first order only. Safe to call again for the same order.
 */
export async function onOrderPaid(ctx: RewardContext, order: RewardOrder): Promise<RewardOutcome> {
  const campaignId = order.source.type === 'groupbuy' ? (order.source.campaignId ?? null) : null;
  const referral = await effectiveReferral(order.pageId, order.psid, campaignId);
  if (!referral?.referrerPsid) return { earned: 0, skipped: 'no_referral' };
  if (order.createdAt && referral.at.getTime() > order.createdAt.getTime())
    return { earned: 0, skipped: 'before_referral' };
  const config = await effectiveRewardConfig(order.pageId, campaignId);
  if (!config || (!config.referrer && !config.friend)) return { earned: 0, skipped: 'no_reward' };
  if (config.trigger === 'tipped' && campaignId) return { earned: 0, skipped: 'trigger_tipped' };
  const referralId = String(referral._id);
  if (config.firstOrderOnly) {
    const claimed = await ReferralModel.updateOne(
      { _id: referral._id, rewardedOrderId: { $in: [null, order.id] } },
      { $set: { rewardedOrderId: order.id } },
    );
    if (claimed.matchedCount !== 1) return { earned: 0, skipped: 'already_rewarded' };
  }
  let earned = 0;
  const sides: ['referrer' | 'friend', RewardSpec | null, string][] = [
    ['referrer', config.referrer, referral.referrerPsid],
    ['friend', config.friend, order.psid],
  ];
  for (const [side, spec, psid] of sides) {
    if (!spec) continue;
    const value = rewardValue(spec, order.total.amount, order.total.currency);
    if (value.amount <= 0) continue;
    const r = await appendEntry(
      { pageId: order.pageId, now: ctx.now },
      {
        psid,
        kind: 'earn',
        amount: value.amount,
        unit: value.unit,
        idempotencyKey: earnKey(referralId, order.id, side),
        reason: side === 'referrer' ? 'friend_order_paid' : 'welcome_order_paid',
        orderId: order.id,
        referralId,
        campaignId,
      },
    );
    if (r.created) earned++;
  }
  ctx.log?.info({ order: order.id, referral: referralId, earned }, 'referral reward on paid order');
  return { earned };
}

/**
 * A friend's order was cancelled: every reward it earned is reversed (`...:reverse`, once), rewards
 * a tipped campaign earned for the same pledge too, and credit the order spent goes back. The
 * referral may then earn on a later order.
 */
export async function onOrderCancelled(
  ctx: RewardContext,
  order: RewardOrder,
): Promise<{ reversed: number }> {
  const lctx = { pageId: order.pageId, now: ctx.now };
  const campaignId = order.source.type === 'groupbuy' ? (order.source.campaignId ?? null) : null;
  const or: Record<string, unknown>[] = [{ orderId: order.id }];
  if (campaignId) {
    const ids = await ReferralModel.find(
      { pageId: String(order.pageId), inviteePsid: String(order.psid) },
      { _id: 1 },
    ).lean<{ _id: Types.ObjectId }[]>();
    if (ids.length > 0) or.push({ campaignId, referralId: { $in: ids.map((i) => i._id) }, orderId: null });
  }
  const earns = await LedgerEntryModel.find(
    { pageId: String(order.pageId), kind: 'earn', $or: or },
    { idempotencyKey: 1 },
  ).lean<{ idempotencyKey: string }[]>();
  let reversed = 0;
  for (const e of earns) {
    const r = await reverseEntry(lctx, e.idempotencyKey, 'friend_order_cancelled');
    if (r?.created) reversed++;
  }
  await ReferralModel.updateMany(
    { pageId: String(order.pageId), inviteePsid: String(order.psid), rewardedOrderId: order.id },
    { $set: { rewardedOrderId: null } },
  );
  await refundSpend(lctx, order.id);
  if (reversed > 0)
    ctx.log?.info({ order: order.id, reversed }, 'referral rewards reversed on cancelled order');
  return { reversed };
}

/**
 * A campaign tipped: for campaigns whose reward triggers on tipping, every active participant who
 * was referred earns their referrer a reward (`ref:<referralId>:campaign:<campaignId>:earn`).
 * Idempotent; reversed by {@link onOrderCancelled} when that participant's order is cancelled.
 */
export async function onCampaignTipped(ctx: RewardContext, campaignId: string): Promise<{ earned: number }> {
  const config = await effectiveRewardConfig(ctx.pageId, campaignId);
  if (!config || config.trigger !== 'tipped' || !/^[a-f0-9]{24}$/i.test(campaignId)) return { earned: 0 };
  const campaign = await CampaignModel.findOne(
    { _id: new Types.ObjectId(campaignId), pageId: String(ctx.pageId) },
    {
      state: 1,
      currency: 1,
    },
  ).lean<{ state: string; currency: string }>();
  if (!campaign || !['tipped', 'closed', 'fulfilled'].includes(campaign.state)) return { earned: 0 };
  const pledges = await PledgeModel.find(
    { campaignId: new Types.ObjectId(campaignId), state: { $in: ['active', 'converted'] } },
    { psid: 1, quantity: 1, priceAtTipping: 1 },
  ).lean<{ psid: string; quantity: number; priceAtTipping: number | null }[]>();
  let earned = 0;
  for (const p of pledges) {
    const referral = await effectiveReferral(ctx.pageId, p.psid, campaignId);
    if (!referral?.referrerPsid) continue;
    const referralId = String(referral._id);
    const total = (p.priceAtTipping ?? 0) * p.quantity;
    const sides: ['referrer' | 'friend', RewardSpec | null, string][] = [
      ['referrer', config.referrer, referral.referrerPsid],
      ['friend', config.friend, p.psid],
    ];
    for (const [side, spec, psid] of sides) {
      if (!spec) continue;
      const value = rewardValue(spec, total, campaign.currency);
      if (value.amount <= 0) continue;
      const r = await appendEntry(
        { pageId: ctx.pageId, now: ctx.now },
        {
          psid,
          kind: 'earn',
          amount: value.amount,
          unit: value.unit,
          idempotencyKey: `ref:${referralId}:campaign:${campaignId}${side === 'friend' ? ':friend' : ''}:earn`,
          reason: side === 'referrer' ? 'friend_campaign_tipped' : 'welcome_campaign_tipped',
          referralId,
          campaignId,
        },
      );
      if (r.created) earned++;
    }
  }
  return { earned };
}

/**
 * The safety net: re-applies the lifecycle hooks to orders changed since `since` (and tipped
 * campaigns), so a reward lost to a crash between an order's move and its hook is earned (or
 * reversed) late rather than never. Every write is keyed, so running it twice changes nothing.
 */
export async function settleRewards(
  ctx: RewardContext,
  since: Date,
): Promise<{ orders: number; earned: number; reversed: number; campaigns: number }> {
  const orders = await OrderModel.find(
    {
      pageId: String(ctx.pageId),
      updatedAt: { $gte: since },
      state: { $in: ['paid', 'shipped', 'delivered', 'cancelled'] },
    },
    { psid: 1, pageId: 1, totals: 1, source: 1, state: 1, createdAt: 1, history: 1 },
  )
    .limit(5000)
    .lean<
      {
        _id: Types.ObjectId;
        pageId: string;
        psid: string;
        totals: { total: number; currency: string };
        source: { type: string; campaignId?: string };
        state: string;
        createdAt: Date;
        history: { to: string }[];
      }[]
    >();
  let earned = 0;
  let reversed = 0;
  for (const o of orders) {
    const order: RewardOrder = {
      id: String(o._id),
      pageId: o.pageId,
      psid: o.psid,
      total: { amount: o.totals.total, currency: o.totals.currency },
      source: { type: o.source.type, campaignId: o.source.campaignId ?? undefined },
      createdAt: o.createdAt,
    };
    if (o.state === 'cancelled') {
      // Only an order that was paid before can have earned anything.
      if (o.history.some((h) => h.to === 'paid')) reversed += (await onOrderCancelled(ctx, order)).reversed;
    } else earned += (await onOrderPaid(ctx, order)).earned;
  }
  const tipped = await CampaignModel.find(
    { pageId: String(ctx.pageId), tippedAt: { $gte: since } },
    { _id: 1 },
  ).lean<{ _id: Types.ObjectId }[]>();
  for (const c of tipped) earned += (await onCampaignTipped(ctx, String(c._id))).earned;
  return { orders: orders.length, earned, reversed, campaigns: tipped.length };
}

// ---------------------------------------------------------------------------------------------
// What the fan sees: my invites

export interface MyInvites {
  readonly link: InviteLink;
  /** Friends who joined through the fan's links (distinct, standing attributions). */
  readonly friends: number;
  /** Friends whose purchase is under way (pledged or ordered, not paid yet). */
  readonly pending: number;
  /** Friends whose purchase earned the fan a reward (not reversed). */
  readonly converted: number;
  /** Per unit: earned (earn + reverse), spent and the balance. */
  readonly units: readonly UnitSummary[];
  readonly showFirstName: boolean;
}

export async function myInvites(
  ctx: Pick<ReferralContext, 'pageId' | 'now'>,
  psid: string,
): Promise<MyInvites> {
  const link = await inviteLink(ctx, psid);
  const pageId = String(ctx.pageId);
  const referrals = await ReferralModel.find(
    { pageId, referrerPsid: String(psid), decision: 'attributed' },
    { inviteePsid: 1 },
  )
    .limit(1000)
    .lean<{ _id: Types.ObjectId; inviteePsid: string }[]>();
  const friends = [...new Set(referrals.map((r) => r.inviteePsid))];
  // Earned and not reversed, per friend.
  const entries = await LedgerEntryModel.find(
    { pageId, psid: String(psid), referralId: { $in: referrals.map((r) => r._id) } },
    { referralId: 1, amount: 1, kind: 1 },
  ).lean<{ referralId: Types.ObjectId; amount: number; kind: string }[]>();
  const net = new Map<string, number>();
  for (const e of entries) net.set(String(e.referralId), (net.get(String(e.referralId)) ?? 0) + e.amount);
  const convertedFriends = new Set(
    referrals.filter((r) => (net.get(String(r._id)) ?? 0) > 0).map((r) => r.inviteePsid),
  );
  const open = friends.filter((f) => !convertedFriends.has(f));
  let pending = 0;
  if (open.length > 0) {
    const ordering = await OrderModel.distinct('psid', {
      pageId,
      psid: { $in: open },
      state: 'pending_payment',
    });
    const pledging = await PledgeModel.distinct('psid', {
      pageId,
      psid: { $in: open },
      state: { $in: ['pending', 'active', 'waitlisted'] },
    });
    pending = new Set([...ordering.map(String), ...pledging.map(String)]).size;
  }
  const units = await ledgerSummary(ctx, psid);
  const code = await ReferralCodeModel.findOne({ pageId, psid: String(psid) }, { showFirstName: 1 }).lean<{
    showFirstName?: boolean;
  }>();
  return {
    link,
    friends: friends.length,
    pending,
    converted: convertedFriends.size,
    units,
    showFirstName: code?.showFirstName === true,
  };
}

// ---------------------------------------------------------------------------------------------
// Leaders and reach (per campaign)

export interface Leader {
  readonly rank: number;
  readonly referrerPsid: string;
  /** First name if the fan opted in, else initials; '' when the name is unknown. */
  readonly name: string;
  readonly invitees: number;
  readonly conversions: number;
}

/** Participants of a campaign and the fans among them whose purchase is paid. */
async function campaignParticipants(
  pageId: string,
  campaignId: string,
): Promise<{ participants: string[]; paid: Set<string> }> {
  const pledges = await PledgeModel.find(
    { campaignId: new Types.ObjectId(campaignId), state: { $in: ['active', 'converted', 'waitlisted'] } },
    { psid: 1 },
  ).lean<{ psid: string }[]>();
  const paidOrders = await OrderModel.distinct('psid', {
    pageId: String(pageId),
    'source.campaignId': String(campaignId),
    state: { $in: ['paid', 'shipped', 'delivered'] },
  });
  return { participants: [...new Set(pledges.map((p) => p.psid))], paid: new Set(paidOrders.map(String)) };
}

/** Who brought each of these fans, for this campaign (its own attribution, else the page's). */
async function referrersOf(
  pageId: string,
  campaignId: string,
  psids: readonly string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (psids.length === 0) return out;
  const docs = await ReferralModel.find(
    {
      pageId: String(pageId),
      inviteePsid: { $in: [...psids] },
      scope: { $in: [campaignId, PAGE_SCOPE] },
      decision: 'attributed',
    },
    { inviteePsid: 1, referrerPsid: 1, scope: 1 },
  ).lean<{ inviteePsid: string; referrerPsid: string | null; scope: string }[]>();
  for (const d of docs) {
    if (!d.referrerPsid) continue;
    if (d.scope === campaignId || !out.has(d.inviteePsid)) out.set(d.inviteePsid, d.referrerPsid);
  }
  return out;
}

/** The top inviters of a campaign: friends they brought who joined it, and how many of them paid. */
export async function campaignLeaders(
  ctx: Pick<ReferralContext, 'pageId'>,
  campaignId: string,
  limit = 10,
): Promise<Leader[]> {
  const { participants, paid } = await campaignParticipants(ctx.pageId, campaignId);
  const byInvitee = await referrersOf(ctx.pageId, campaignId, participants);
  const counts = new Map<string, { invitees: number; conversions: number }>();
  for (const [invitee, referrer] of byInvitee) {
    const c = counts.get(referrer) ?? { invitees: 0, conversions: 0 };
    c.invitees++;
    if (paid.has(invitee)) c.conversions++;
    counts.set(referrer, c);
  }
  const rows: LeaderCount[] = [...counts].map(([referrerPsid, c]) => ({ referrerPsid, ...c }));
  const top = rankLeaders(rows, limit);
  const psids = top.map((r) => r.referrerPsid);
  const fans = await FanModel.find(
    { pageId: String(ctx.pageId), psid: { $in: psids } },
    { psid: 1, firstName: 1, lastName: 1 },
  ).lean<{ psid: string; firstName?: string; lastName?: string }[]>();
  const optIns = await ReferralCodeModel.find(
    { pageId: String(ctx.pageId), psid: { $in: psids }, showFirstName: true },
    { psid: 1 },
  ).lean<{ psid: string }[]>();
  const shown = new Set(optIns.map((o) => o.psid));
  const names = new Map(fans.map((f) => [f.psid, f]));
  return top.map((r, i) => ({
    rank: i + 1,
    referrerPsid: r.referrerPsid,
    name: leaderName(names.get(r.referrerPsid) ?? {}, shown.has(r.referrerPsid)) ?? '',
    invitees: r.invitees,
    conversions: r.conversions,
  }));
}

export interface CampaignReach {
  readonly campaignId: string;
  /** Participants brought by someone (first level). */
  readonly invitees: number;
  /** Of those, brought by someone who was themselves invited (second level). */
  readonly secondLevel: number;
  /** Fans who arrived through this campaign's own links (any outcome of theirs). */
  readonly arrivedThroughCampaignLinks: number;
  /** Invited participants whose order for the campaign is paid. */
  readonly conversions: number;
  readonly referrers: number;
}

/** How far the invite graph reached for one campaign. */
export async function campaignReach(
  ctx: Pick<ReferralContext, 'pageId'>,
  campaignId: string,
): Promise<CampaignReach> {
  const { participants, paid } = await campaignParticipants(ctx.pageId, campaignId);
  const byInvitee = await referrersOf(ctx.pageId, campaignId, participants);
  const referrers = new Set(byInvitee.values());
  let secondLevel = 0;
  for (const referrer of referrers) {
    if (!(await inviterOf(ctx.pageId, referrer))) continue;
    for (const r of byInvitee.values()) if (r === referrer) secondLevel++;
  }
  const arrived = await ReferralModel.countDocuments({
    pageId: String(ctx.pageId),
    scope: String(campaignId),
    decision: 'attributed',
  });
  return {
    campaignId,
    invitees: byInvitee.size,
    secondLevel,
    arrivedThroughCampaignLinks: arrived,
    conversions: [...byInvitee.keys()].filter((p) => paid.has(p)).length,
    referrers: referrers.size,
  };
}

/** A fan's referral records (as invitee or as referrer), for managers. */
export async function referralsOf(
  ctx: Pick<ReferralContext, 'pageId'>,
  psid: string,
): Promise<{ asInvitee: ReferralDoc[]; asReferrer: ReferralDoc[] }> {
  const pageId = String(ctx.pageId);
  const [asInvitee, asReferrer] = await Promise.all([
    ReferralModel.find({ pageId, inviteePsid: String(psid) })
      .limit(50)
      .lean<ReferralDoc[]>(),
    ReferralModel.find({ pageId, referrerPsid: String(psid) })
      .sort({ at: -1 })
      .limit(200)
      .lean<ReferralDoc[]>(),
  ]);
  return { asInvitee, asReferrer };
}

/**
 * How a fan's pledge should record its origin: the invite that brought them (the campaign's own
 * invite first, else their page-wide one), or null when nobody referred them.
 */
export async function referralSourceFor(
  pageId: string,
  psid: string,
  campaignId: string,
): Promise<{ type: 'referral'; ref: string } | null> {
  const docs = await ReferralModel.find(
    { pageId: String(pageId), inviteePsid: String(psid), decision: 'attributed' },
    { scope: 1, ref: 1 },
  )
    .limit(20)
    .lean<{ scope: string; ref: string }[]>();
  const chosen = docs.find((d) => d.scope === campaignId) ?? docs.find((d) => d.scope === PAGE_SCOPE);
  return chosen ? { type: 'referral', ref: chosen.ref } : null;
}

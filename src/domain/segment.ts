/**
 * Segments: who a broadcast is for. A segment is an AND of typed rules (a zod schema, so the admin API,
 * the CLI and the database all agree on one shape), compiled to
 *   - one MongoDB filter on the `fans` collection, and
 *   - optional pre-queries on other collections (carts, pledges, orders) whose PSIDs are folded into
 *     that filter as `psid: {$in}` / `psid: {$nin}`.
 *
 * Pure: no mongoose, no clock (relative rules take `now`). Every value placed in a filter comes from the
 * parsed schema and sits under a fixed key: a client can never smuggle an operator in.
 *
 * The reach classification (who can be reached now, and how) lives here too, next to the rules,
 * because both the preview and the sending path must use exactly the same function.
 */
import { z } from 'zod';
import {
  decideMessaging,
  isInsideWindow,
  type MarketingOptIn,
  type MessagingInput,
} from './messaging-policy.js';

const tagValue = z.string().trim().min(1).max(64);
const tagList = z.array(tagValue).min(1).max(50);
const objectIdLike = z.string().trim().min(1).max(64);
const days = z.number().int().min(1).max(3650);

const setRule = <T extends string>(type: T) =>
  z
    .object({
      type: z.literal(type),
      /** The fan has at least one of these. */
      any: tagList.optional(),
      /** The fan has all of these. */
      all: tagList.optional(),
      /** The fan has none of these. */
      none: tagList.optional(),
    })
    .strict()
    .refine((r) => r.any || r.all || r.none, { message: 'give at least one of any, all, none' });

export const segmentRuleSchema = z.discriminatedUnion('type', [
  setRule('tags'),
  setRule('interests'),
  z.object({ type: z.literal('locale'), in: z.array(z.enum(['it', 'en'])).min(1) }).strict(),
  z
    .object({
      type: z.literal('lastInteraction'),
      /** Absolute bounds (ISO dates). */
      after: z.coerce.date().optional(),
      before: z.coerce.date().optional(),
      /** Relative bounds: wrote within the last N days / not within the last N days. */
      withinDays: days.optional(),
      notWithinDays: days.optional(),
    })
    .strict()
    .refine((r) => r.after || r.before || r.withinDays || r.notWithinDays, {
      message: 'give after, before, withinDays or notWithinDays',
    }),
  z
    .object({
      type: z.literal('optedIn'),
      /** Has an active opt-in on this channel (Marketing Messages). */
      channel: z.literal('notification_messages').default('notification_messages'),
    })
    .strict(),
  /** Leaves out fans who said STOP to offers (promotions skip them anyway, counted as opted_out). */
  z.object({ type: z.literal('excludeMarketingOptOut') }).strict(),
  z.object({ type: z.literal('openCart'), has: z.boolean().default(true) }).strict(),
  z.object({ type: z.literal('campaign'), campaignId: objectIdLike, joined: z.boolean() }).strict(),
  /** Joined the campaign (pledge) but has no paid order for it yet. */
  z.object({ type: z.literal('pledgedUnpaid'), campaignId: objectIdLike }).strict(),
  /** Invited at least N friends who joined. Needs the referrals collection: not supported yet. */
  z.object({ type: z.literal('invitedAtLeast'), count: z.number().int().min(1).max(10_000) }).strict(),
]);
export type SegmentRule = z.infer<typeof segmentRuleSchema>;

export const segmentDefinitionSchema = z
  .object({
    /** All rules must hold. No rule = every fan of the page. */
    rules: z.array(segmentRuleSchema).max(30).default([]),
  })
  .strict();
export type SegmentDefinition = z.infer<typeof segmentDefinitionSchema>;

/** Rule types that need a collection that does not exist yet: refused at save time with this reason. */
export const UNSUPPORTED_RULES: Partial<Record<SegmentRule['type'], string>> = {
  invitedAtLeast: 'needs the referrals collection, which does not exist yet',
};

/**
 * Collections the pre-queries read: `carts` {pageId, psid, status, lines}, `pledges` {campaignId, psid,
 * state} and `orders` {psid, state, source.campaignId} (campaign ids as ObjectId or string: both match).
 */
export const PRE_QUERY_COLLECTIONS = {
  carts: 'carts',
  pledges: 'pledges',
  orders: 'orders',
} as const;

/** Pledge states that count as "joined" (src/db/models/pledge.ts: a join in flight, holding seats, or ordered). */
export const JOINED_PLEDGE_STATES = ['pending', 'active', 'converted'] as const;
/** Order states that mean "paid" (src/domain/order-state.ts). */
export const PAID_ORDER_STATES = ['paid', 'shipped', 'delivered'] as const;

/** "The PSIDs found by this query on that collection must (in) / must not (nin) include the fan". */
export interface PreQuery {
  readonly collection: string;
  readonly filter: Record<string, unknown>;
  /** Field holding the PSID in that collection. */
  readonly field: 'psid';
  readonly mode: 'in' | 'nin';
  /** Which rule asked for it (for errors and explanations). */
  readonly rule: SegmentRule['type'];
}

export interface CompiledSegment {
  /** Filter on `fans` (without the pre-query PSID lists). */
  readonly filter: Record<string, unknown>;
  readonly preQueries: readonly PreQuery[];
  /** Rules that cannot be evaluated yet; a segment with any of them is refused. */
  readonly unsupported: readonly { rule: SegmentRule['type']; reason: string }[];
}

const DAY_MS = 86_400_000;

/**
 * `campaignId` may be stored as a string or an ObjectId by the campaigns feature; the caller turns the
 * `$campaignId` marker into both forms (the domain has no bson dependency).
 */
export interface CampaignIdRef {
  readonly $campaignIdRef: string;
}

function setConditions(field: string, r: { any?: string[]; all?: string[]; none?: string[] }): object[] {
  const out: object[] = [];
  if (r.any) out.push({ [field]: { $in: r.any.map(String) } });
  if (r.all) out.push({ [field]: { $all: r.all.map(String) } });
  if (r.none) out.push({ [field]: { $nin: r.none.map(String) } });
  return out;
}

export function compileSegment(def: SegmentDefinition, ctx: { pageId: string; now: Date }): CompiledSegment {
  const { pageId, now } = ctx;
  // pageId first: the (pageId, psid) index serves the equality prefix.
  const and: object[] = [{ forgottenAt: null }];
  const preQueries: PreQuery[] = [];
  const unsupported: { rule: SegmentRule['type']; reason: string }[] = [];
  const campaign = (id: string): CampaignIdRef => ({ $campaignIdRef: String(id) });

  for (const rule of def.rules) {
    switch (rule.type) {
      case 'tags':
        and.push(...setConditions('tags', rule));
        break;
      case 'interests':
        and.push(...setConditions('interests', rule));
        break;
      case 'locale':
        and.push({ locale: { $in: rule.in.map(String) } });
        break;
      case 'lastInteraction': {
        const range: Record<string, Date> = {};
        const lower: number[] = [];
        const upper: number[] = [];
        if (rule.after) lower.push(rule.after.getTime());
        if (rule.withinDays) lower.push(now.getTime() - rule.withinDays * DAY_MS);
        if (rule.before) upper.push(rule.before.getTime());
        if (rule.notWithinDays) upper.push(now.getTime() - rule.notWithinDays * DAY_MS);
        if (lower.length) range.$gte = new Date(Math.max(...lower));
        if (upper.length) range.$lt = new Date(Math.min(...upper));
        and.push({ lastInteractionAt: range });
        break;
      }
      case 'optedIn':
        and.push({ optIns: { $elemMatch: { channel: rule.channel, status: 'active' } } });
        break;
      case 'excludeMarketingOptOut':
        and.push({ marketingOptOut: { $ne: true } });
        break;
      case 'openCart':
        preQueries.push({
          collection: PRE_QUERY_COLLECTIONS.carts,
          filter: { pageId: String(pageId), status: 'open', 'lines.0': { $exists: true } },
          field: 'psid',
          mode: rule.has ? 'in' : 'nin',
          rule: rule.type,
        });
        break;
      case 'campaign':
        preQueries.push({
          collection: PRE_QUERY_COLLECTIONS.pledges,
          filter: { campaignId: campaign(rule.campaignId), state: { $in: [...JOINED_PLEDGE_STATES] } },
          field: 'psid',
          mode: rule.joined ? 'in' : 'nin',
          rule: rule.type,
        });
        break;
      case 'pledgedUnpaid':
        preQueries.push(
          {
            collection: PRE_QUERY_COLLECTIONS.pledges,
            filter: { campaignId: campaign(rule.campaignId), state: { $in: [...JOINED_PLEDGE_STATES] } },
            field: 'psid',
            mode: 'in',
            rule: rule.type,
          },
          {
            collection: PRE_QUERY_COLLECTIONS.orders,
            filter: {
              'source.campaignId': campaign(rule.campaignId),
              state: { $in: [...PAID_ORDER_STATES] },
            },
            field: 'psid',
            mode: 'nin',
            rule: rule.type,
          },
        );
        break;
      case 'invitedAtLeast':
        unsupported.push({ rule: rule.type, reason: UNSUPPORTED_RULES.invitedAtLeast ?? 'unsupported' });
        break;
    }
  }
  return { filter: { pageId: String(pageId), $and: and }, preQueries, unsupported };
}

/** Folds pre-query results into the fans filter. */
export function withPsidLists(
  filter: Record<string, unknown>,
  lists: readonly { mode: 'in' | 'nin'; psids: readonly string[] }[],
): Record<string, unknown> {
  if (lists.length === 0) return filter;
  const extra = lists.map((l) => ({ psid: { [l.mode === 'in' ? '$in' : '$nin']: [...l.psids] } }));
  const base = (filter.$and as object[] | undefined) ?? [];
  return { ...filter, $and: [...base, ...extra] };
}

// -------------------------------------------------------------------------------------------------
// Reach: who can be reached now, and how (the preview and the queueing use the same functions).

/** The fan fields the policy needs (a projection of the `fans` document). */
export interface FanReachFields {
  readonly psid: string;
  readonly locale?: string | null;
  readonly lastInteractionAt?: Date | null;
  readonly reachable?: boolean | null;
  readonly marketingOptOut?: boolean | null;
  readonly optIns?: readonly {
    channel?: string | null;
    token?: string | null;
    status?: string | null;
    lastSentAt?: Date | null;
    expiresAt?: Date | null;
  }[];
}

export const FAN_REACH_PROJECTION = {
  psid: 1,
  locale: 1,
  lastInteractionAt: 1,
  reachable: 1,
  marketingOptOut: 1,
  optIns: 1,
} as const;

/** The fan's usable opt-in channel, if any (the first active Marketing Messages token). */
export function optInOf(fan: FanReachFields): MarketingOptIn | null {
  const o = fan.optIns?.find((x) => x.channel === 'notification_messages' && x.token);
  if (!o || !o.token) return null;
  return {
    token: o.token,
    stopped: o.status === 'stopped',
    expiresAt: o.expiresAt ?? null,
    lastOptInSendAt: o.lastSentAt ?? null,
  };
}

export function messagingInputFor(
  fan: FanReachFields,
  purpose: MessagingInput['purpose'],
  now: Date,
): MessagingInput {
  return {
    purpose,
    lastInteractionAt: fan.lastInteractionAt ?? null,
    now,
    reachable: fan.reachable !== false,
    optIn: optInOf(fan),
    marketingOptOut: fan.marketingOptOut === true,
  };
}

/**
 * How a fan can be reached right now, whatever the message:
 * - `window`: inside the 24 h window (anything, promotions included unless they said STOP);
 * - `optin`: outside it, but a usable opt-in channel (Marketing Messages) is configured for them;
 * - `updatesOnly`: outside it with no usable opt-in: only tagged, non-promotional updates (order/account);
 * - `unreachable`: Meta said they blocked the page or are gone (551).
 */
export type ReachBucket = 'window' | 'optin' | 'updatesOnly' | 'unreachable';

export function reachBucket(fan: FanReachFields, now: Date): ReachBucket {
  if (fan.reachable === false) return 'unreachable';
  if (isInsideWindow(fan.lastInteractionAt ?? null, now)) return 'window';
  const viaOptIn = decideMessaging({ ...messagingInputFor(fan, 'promotion', now), marketingOptOut: false });
  if (viaOptIn.ok && viaOptIn.channel === 'notification_messages') return 'optin';
  return 'updatesOnly';
}

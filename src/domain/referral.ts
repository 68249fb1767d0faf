/**
 * Referrals (micro-affiliates): personal m.me links, the attribution rules and their fraud checks,
 * and how much a reward is worth. Pure: no I/O, no clock (every time is passed in), no randomness of
 * its own (random bytes are passed in).
 *
 * A fan's link is `https://m.me/<page>?ref=r_<fanCode>` (general) or `r_<fanCode>_<campaignCode>`
 * (one group buy). Meta delivers the `ref` through Get Started on a new thread (`postback.referral`)
 * and as a `messaging_referrals` event on an existing one (reference §5).
 */

/** Meta's limit and alphabet for an m.me `ref` (reference §5). */
export const REF_MAX_CHARS = 2083;
export const REF_CHARSET = /^[A-Za-z0-9_=-]+$/;

export const REF_PREFIX = 'r';
/**
 * Fan codes: 8 characters from 32 unambiguous ones (no 0/o, 1/l): 32⁸ ≈ 1.1·10¹² codes, so a page's
 * codes cannot be enumerated by guessing. Never contain `_` (it separates the campaign code).
 */
export const FAN_CODE_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';
export const FAN_CODE_LENGTH = 8;
const FAN_CODE = /^[a-z2-9]{8}$/;
/** A campaign's short code (its slug): the same shape the campaign model accepts. */
const CAMPAIGN_CODE = /^[A-Za-z0-9_-]{2,40}$/;

export class ReferralRefError extends Error {
  override readonly name = 'ReferralRefError';
}

/** A fan code from at least {@link FAN_CODE_LENGTH} random bytes (the caller passes crypto bytes). */
export function fanCodeFrom(bytes: Uint8Array): string {
  if (bytes.length < FAN_CODE_LENGTH) throw new ReferralRefError('need 8 random bytes for a fan code');
  let code = '';
  // 256 is a multiple of 32: `byte & 31` is uniform.
  for (let i = 0; i < FAN_CODE_LENGTH; i++) code += FAN_CODE_ALPHABET[bytes[i]! & 31];
  return code;
}

export function isFanCode(code: string): boolean {
  return FAN_CODE.test(code);
}

/** True when `ref` is something Meta accepts as an m.me ref. */
export function isValidRef(ref: string): boolean {
  return ref.length > 0 && ref.length <= REF_MAX_CHARS && REF_CHARSET.test(ref);
}

/** `r_<fanCode>` or `r_<fanCode>_<campaignCode>`; throws if the result is not a valid m.me ref. */
export function buildRef(fanCode: string, campaignCode?: string): string {
  if (!isFanCode(fanCode)) throw new ReferralRefError(`not a fan code: ${fanCode}`);
  if (campaignCode !== undefined && !CAMPAIGN_CODE.test(campaignCode))
    throw new ReferralRefError(`not a campaign code: ${campaignCode}`);
  const ref =
    campaignCode === undefined ? `${REF_PREFIX}_${fanCode}` : `${REF_PREFIX}_${fanCode}_${campaignCode}`;
  if (!isValidRef(ref)) throw new ReferralRefError(`not a valid m.me ref: ${ref}`);
  return ref;
}

export interface ParsedRef {
  readonly fanCode: string;
  readonly campaignCode: string | undefined;
}

/** Reads one of our refs; undefined for anything else (ads, comment links, hand-typed junk). */
export function parseRef(ref: string): ParsedRef | undefined {
  if (!isValidRef(ref) || !ref.startsWith(`${REF_PREFIX}_`)) return undefined;
  const rest = ref.slice(REF_PREFIX.length + 1);
  const cut = rest.indexOf('_');
  const fanCode = cut === -1 ? rest : rest.slice(0, cut);
  const campaignCode = cut === -1 ? undefined : rest.slice(cut + 1);
  if (!isFanCode(fanCode)) return undefined;
  if (campaignCode !== undefined && !CAMPAIGN_CODE.test(campaignCode)) return undefined;
  return { fanCode, campaignCode };
}

/** `https://m.me/<page>?ref=<ref>` (the page's username or id). */
export function mmeLink(page: string, ref: string): string {
  if (!isValidRef(ref)) throw new ReferralRefError(`not a valid m.me ref: ${ref}`);
  if (!/^[A-Za-z0-9.]+$/.test(page)) throw new ReferralRefError(`not a page name or id: ${page}`);
  return `https://m.me/${page}?ref=${ref}`;
}

// ---------------------------------------------------------------------------------------------
// Attribution

/** 'page' for the whole shop, or a campaign id for one group buy. */
export type ReferralScope = string;
export const PAGE_SCOPE = 'page';

export const REFERRAL_DECISIONS = ['attributed', 'kept', 'refused'] as const;
export type ReferralDecision = (typeof REFERRAL_DECISIONS)[number];

export const REFERRAL_REASONS = [
  'first_touch', // attributed: nobody had this fan for this scope
  'window_expired', // attributed: the earlier attribution was older than the window
  'same_referrer', // kept: the same link again
  'within_window', // kept: someone else's link inside the first referrer's window
  'self_referral', // refused: their own link
  'loop', // refused: the referrer was (directly or up the chain) invited by this fan
  'farming_rate', // refused: the referrer brought too many fans in the last hour
  'farming_dormant', // refused: too many of the referrer's recent invitees never interacted
  'unknown_code', // refused: no fan has this code on this page
  'unknown_campaign', // refused: the campaign code matches no campaign of this page
] as const;
export type ReferralReason = (typeof REFERRAL_REASONS)[number];

export interface AttributionPolicy {
  /** First touch wins for this long; after it a new link may take the fan. */
  readonly windowMs: number;
  /** More attributions than this for one referrer within {@link ratePeriodMs} are refused. */
  readonly maxPerPeriod: number;
  readonly ratePeriodMs: number;
  /** An invitee who has not interacted this long after arriving counts as dormant... */
  readonly dormantAfterMs: number;
  /** ...and a referrer with at least this many dormant recent invitees (and more dormant than not) is refused. */
  readonly maxDormant: number;
  /** How far up the chain a loop is looked for (A→B→A is depth 1). */
  readonly loopDepth: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_ATTRIBUTION_POLICY: AttributionPolicy = Object.freeze({
  windowMs: 30 * DAY_MS,
  maxPerPeriod: 20,
  ratePeriodMs: 60 * 60 * 1000,
  dormantAfterMs: DAY_MS,
  maxDormant: 10,
  loopDepth: 5,
});

export interface CurrentAttribution {
  readonly decision: ReferralDecision;
  readonly referrerPsid: string | null;
  /** When the standing attribution was made. */
  readonly at: Date;
}

export interface AttributionFacts {
  readonly now: Date;
  readonly inviteePsid: string;
  /** The owner of the ref's fan code; null when the code is unknown. */
  readonly referrerPsid: string | null;
  /** False when the ref names a campaign this page does not have. */
  readonly campaignKnown: boolean;
  /** This invitee's standing record for the scope, if any. */
  readonly current: CurrentAttribution | null;
  /** Who invited the referrer, who invited them, ... (nearest first, up to `loopDepth`). */
  readonly referrerChain: readonly string[];
  /** The referrer's attributions (any scope, distinct invitees) within the rate period. */
  readonly referrerRecentCount: number;
  /** The referrer's recent invitees that arrived long enough ago to judge, and how many never came back. */
  readonly referrerJudgedInvitees: number;
  readonly referrerDormantInvitees: number;
}

export type AttributionOutcome =
  | { readonly decision: 'attributed'; readonly reason: 'first_touch' | 'window_expired' }
  | { readonly decision: 'kept'; readonly reason: 'same_referrer' | 'within_window' }
  | {
      readonly decision: 'refused';
      readonly reason: Exclude<
        ReferralReason,
        'first_touch' | 'window_expired' | 'same_referrer' | 'within_window'
      >;
    };

/**
 * Decides what one arrival through a referral link means. Order matters: an unusable link is refused
 * before anything else; a standing attribution inside its window is never stolen; fraud checks run
 * only for what would otherwise become a new attribution.
 */
export function decideAttribution(
  facts: AttributionFacts,
  policy: AttributionPolicy = DEFAULT_ATTRIBUTION_POLICY,
): AttributionOutcome {
  if (facts.referrerPsid === null) return { decision: 'refused', reason: 'unknown_code' };
  if (!facts.campaignKnown) return { decision: 'refused', reason: 'unknown_campaign' };
  const referrer = facts.referrerPsid;
  if (referrer === facts.inviteePsid) return { decision: 'refused', reason: 'self_referral' };

  const current = facts.current;
  let reason: 'first_touch' | 'window_expired' = 'first_touch';
  if (current && current.decision === 'attributed' && current.referrerPsid !== null) {
    if (current.referrerPsid === referrer) return { decision: 'kept', reason: 'same_referrer' };
    const age = facts.now.getTime() - current.at.getTime();
    if (age < policy.windowMs) return { decision: 'kept', reason: 'within_window' };
    reason = 'window_expired';
  }

  if (facts.referrerChain.slice(0, policy.loopDepth).includes(facts.inviteePsid))
    return { decision: 'refused', reason: 'loop' };
  if (facts.referrerRecentCount >= policy.maxPerPeriod)
    return { decision: 'refused', reason: 'farming_rate' };
  if (
    facts.referrerDormantInvitees >= policy.maxDormant &&
    facts.referrerDormantInvitees * 2 > facts.referrerJudgedInvitees
  )
    return { decision: 'refused', reason: 'farming_dormant' };
  return { decision: 'attributed', reason };
}

/** An invitee who arrived at `arrivedAt` and was last seen at `lastSeenAt` never came back. */
export function isDormant(
  arrivedAt: Date,
  lastSeenAt: Date | null,
  now: Date,
  policy: AttributionPolicy,
): boolean {
  if (now.getTime() - arrivedAt.getTime() < policy.dormantAfterMs) return false;
  // Anything the fan did more than a minute after arriving counts (the arrival itself does not).
  return lastSeenAt === null || lastSeenAt.getTime() <= arrivedAt.getTime() + 60_000;
}

// ---------------------------------------------------------------------------------------------
// Rewards

/** A credit in minor units of the order's currency, a percentage of the friend's order as credit, or points. */
export type RewardSpec =
  | { readonly kind: 'credit'; readonly amount: number }
  | { readonly kind: 'percent'; readonly percent: number }
  | { readonly kind: 'points'; readonly points: number };

export const POINTS_UNIT = 'points';

export interface RewardValue {
  /** Integer: minor units of `unit` (a currency) or points. */
  readonly amount: number;
  /** ISO currency code, or `points`. */
  readonly unit: string;
}

/** What a reward is worth for an order of `orderTotal` minor units of `currency` (never negative). */
export function rewardValue(spec: RewardSpec, orderTotal: number, currency: string): RewardValue {
  switch (spec.kind) {
    case 'credit':
      return { amount: Math.max(0, Math.trunc(spec.amount)), unit: currency };
    case 'percent':
      // Rounded down: a reward never exceeds the stated share.
      return { amount: Math.max(0, Math.floor((orderTotal * spec.percent) / 100)), unit: currency };
    case 'points':
      return { amount: Math.max(0, Math.trunc(spec.points)), unit: POINTS_UNIT };
  }
}

export function isValidRewardSpec(spec: RewardSpec): boolean {
  switch (spec.kind) {
    case 'credit':
      return Number.isSafeInteger(spec.amount) && spec.amount > 0;
    case 'percent':
      return Number.isInteger(spec.percent) && spec.percent > 0 && spec.percent <= 100;
    case 'points':
      return Number.isSafeInteger(spec.points) && spec.points > 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Leaders

/** "Giulia R." with the fan's consent to show their first name; "G. R." (initials) otherwise. */
export function leaderName(
  names: { readonly firstName?: string | null; readonly lastName?: string | null },
  showFirstName: boolean,
): string | undefined {
  const first = (names.firstName ?? '').trim();
  const last = (names.lastName ?? '').trim();
  const initial = (s: string) => (s ? `${[...s][0]!.toUpperCase()}.` : '');
  if (showFirstName && first) return last ? `${first} ${initial(last)}` : first;
  const initials = [initial(first), initial(last)].filter(Boolean).join(' ');
  return initials || undefined;
}

export interface LeaderCount {
  readonly referrerPsid: string;
  readonly invitees: number;
  readonly conversions: number;
}

/** Most conversions first, then most invitees, then the earliest to reach that count (stable input). */
export function rankLeaders(rows: readonly LeaderCount[], limit: number): LeaderCount[] {
  return [...rows]
    .sort((a, b) => b.conversions - a.conversions || b.invitees - a.invitees)
    .slice(0, Math.max(0, limit));
}

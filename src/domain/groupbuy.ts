/**
 * Group buys ("crowd commerce"), the pure rules: price tiers, the campaign lifecycle as a transition
 * table, deadline arithmetic, the pace forecast and the progress figures a card shows. No I/O and no
 * clock of its own: every function that needs the time takes `now`.
 *
 * Texts are not built here: the functions return data (`{unit: 'days', count: 2}`) and the edge turns
 * it into "2 giorni" / "2 days" with i18next plurals.
 */

// ---------------------------------------------------------------------------------------------
// Tiers

/** From `fromQuantity` units committed (across all fans), each unit costs `unitPrice` minor units. */
export interface Tier {
  readonly fromQuantity: number;
  readonly unitPrice: number;
}

export type TierProblem =
  | 'no_tiers'
  | 'too_many_tiers'
  | 'quantity_not_integer'
  | 'price_not_integer'
  | 'not_sorted'
  | 'price_not_decreasing'
  | 'tier_unreachable';

export type TierValidation =
  { readonly ok: true } | { readonly ok: false; readonly code: TierProblem; readonly index: number };

export const MAX_TIERS = 10;

/**
 * Tiers are valid when there is at least one, quantities are non-negative integers in strictly
 * increasing order, prices are positive integers of minor units in strictly decreasing order, and
 * (for a capped campaign) every tier can be reached without passing the cap. The first tier is the
 * starting price: it applies below its own `fromQuantity` too.
 */
export function validateTiers(
  tiers: readonly Tier[],
  opts: { readonly maxQuantity?: number | null } = {},
): TierValidation {
  if (tiers.length === 0) return { ok: false, code: 'no_tiers', index: 0 };
  if (tiers.length > MAX_TIERS) return { ok: false, code: 'too_many_tiers', index: MAX_TIERS };
  for (let i = 0; i < tiers.length; i++) {
    const t = tiers[i]!;
    if (!Number.isSafeInteger(t.fromQuantity) || t.fromQuantity < 0)
      return { ok: false, code: 'quantity_not_integer', index: i };
    if (!Number.isSafeInteger(t.unitPrice) || t.unitPrice <= 0)
      return { ok: false, code: 'price_not_integer', index: i };
    if (i > 0) {
      const prev = tiers[i - 1]!;
      if (t.fromQuantity <= prev.fromQuantity) return { ok: false, code: 'not_sorted', index: i };
      if (t.unitPrice >= prev.unitPrice) return { ok: false, code: 'price_not_decreasing', index: i };
    }
    const max = opts.maxQuantity;
    if (max !== undefined && max !== null && t.fromQuantity > max)
      return { ok: false, code: 'tier_unreachable', index: i };
  }
  return { ok: true };
}

/** Index of the tier in force when `quantity` units are committed (0 below the first tier). */
export function tierIndexFor(tiers: readonly Tier[], quantity: number): number {
  let index = 0;
  for (let i = 0; i < tiers.length; i++) if (quantity >= tiers[i]!.fromQuantity) index = i;
  return index;
}

/** Unit price (minor units) when `quantity` units are committed. */
export function priceFor(tiers: readonly Tier[], quantity: number): number {
  const tier = tiers[tierIndexFor(tiers, quantity)];
  if (!tier) throw new RangeError('a campaign needs at least one price tier');
  return tier.unitPrice;
}

export interface NextTier {
  readonly tier: Tier;
  /** Units still to be committed (by anyone) to reach it. */
  readonly more: number;
}

/** The next cheaper tier and how many more units reach it; undefined at the last tier. */
export function nextTier(tiers: readonly Tier[], quantity: number): NextTier | undefined {
  const current = tierIndexFor(tiers, quantity);
  const tier = tiers.find((t, i) => i > current && t.fromQuantity > quantity);
  return tier ? { tier, more: tier.fromQuantity - quantity } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

export const CAMPAIGN_STATES = [
  'draft',
  'open',
  'tipped',
  'closed',
  'fulfilled',
  'failed',
  'cancelled',
] as const;
export type CampaignState = (typeof CAMPAIGN_STATES)[number];

export type CampaignEvent = 'open' | 'tip' | 'close' | 'fulfil' | 'fail' | 'cancel';

/**
 * The whole lifecycle: `draft → open → tipped → closed → fulfilled`; `open → failed` (deadline before
 * tipping); `open|tipped → cancelled` (the brand). Anything not in this table is forbidden.
 */
export const CAMPAIGN_TRANSITIONS: Readonly<
  Record<CampaignEvent, { readonly from: readonly CampaignState[]; readonly to: CampaignState }>
> = {
  open: { from: ['draft'], to: 'open' },
  tip: { from: ['open'], to: 'tipped' },
  close: { from: ['tipped'], to: 'closed' },
  fulfil: { from: ['closed'], to: 'fulfilled' },
  fail: { from: ['open'], to: 'failed' },
  cancel: { from: ['open', 'tipped'], to: 'cancelled' },
};

export type TransitionResult =
  | {
      readonly ok: true;
      readonly from: CampaignState;
      readonly to: CampaignState;
      readonly event: CampaignEvent;
    }
  | {
      readonly ok: false;
      readonly code: 'forbidden_transition';
      readonly from: CampaignState;
      readonly event: CampaignEvent;
      /** The states this event may start from. */
      readonly allowedFrom: readonly CampaignState[];
    };

export function transition(from: CampaignState, event: CampaignEvent): TransitionResult {
  const rule = CAMPAIGN_TRANSITIONS[event];
  return rule.from.includes(from)
    ? { ok: true, from, to: rule.to, event }
    : { ok: false, code: 'forbidden_transition', from, event, allowedFrom: rule.from };
}

/** True when some event leads from `from` to `to`. */
export function canTransition(from: CampaignState, to: CampaignState): boolean {
  return Object.values(CAMPAIGN_TRANSITIONS).some((r) => r.to === to && r.from.includes(from));
}

/** States in which fans may join (and a join may tip the campaign or fill it). */
export const JOINABLE_STATES: readonly CampaignState[] = ['open', 'tipped'];
/** States that never change again. */
export const FINAL_STATES: readonly CampaignState[] = ['fulfilled', 'failed', 'cancelled'];

// ---------------------------------------------------------------------------------------------
// Deadlines

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export type TimeUnit = 'days' | 'hours' | 'minutes';

export interface TimeLeft {
  readonly expired: boolean;
  /** Milliseconds until the deadline (0 when expired). */
  readonly ms: number;
  /** The largest whole unit, for "2 giorni" / "3 ore" / "5 minuti" (count ≥ 1 unless expired). */
  readonly unit: TimeUnit;
  readonly count: number;
}

/**
 * Time left until the deadline, rounded down to the largest whole unit (2 days and 20 hours is "2
 * days"): a fan is never told they have longer than they have. Under a minute counts as 1 minute.
 */
export function timeLeft(deadline: Date, now: Date): TimeLeft {
  const ms = deadline.getTime() - now.getTime();
  if (ms <= 0) return { expired: true, ms: 0, unit: 'minutes', count: 0 };
  if (ms >= DAY) return { expired: false, ms, unit: 'days', count: Math.floor(ms / DAY) };
  if (ms >= HOUR) return { expired: false, ms, unit: 'hours', count: Math.floor(ms / HOUR) };
  return { expired: false, ms, unit: 'minutes', count: Math.max(1, Math.floor(ms / MINUTE)) };
}

export function isPastDeadline(deadline: Date, now: Date): boolean {
  return now.getTime() >= deadline.getTime();
}

// ---------------------------------------------------------------------------------------------
// Pace forecast

export interface ForecastInput {
  readonly committed: number;
  readonly minQuantity: number;
  /** When the campaign opened (pace is measured from here). */
  readonly openedAt: Date;
  readonly deadline: Date;
  readonly now: Date;
}

export interface Forecast {
  /** 'tipped' (already), 'likely' (on pace), 'unlikely' (behind pace), 'too_early' (under an hour of data), 'ended'. */
  readonly verdict: 'tipped' | 'likely' | 'unlikely' | 'too_early' | 'ended';
  /** Units per hour since opening. */
  readonly perHour: number;
  readonly hoursElapsed: number;
  readonly hoursLeft: number;
  /** Committed + pace × hours left, rounded down. */
  readonly projected: number;
  /** Units still needed to tip (0 when tipped). */
  readonly needed: number;
  /** Units per hour needed from now on to tip by the deadline (0 when tipped). */
  readonly neededPerHour: number;
}

/** Will it tip at the current pace? Pledged units per hour since opening × hours left. */
export function forecastTipping(input: ForecastInput): Forecast {
  const { committed, minQuantity, openedAt, deadline, now } = input;
  const hoursElapsed = Math.max(0, (now.getTime() - openedAt.getTime()) / HOUR);
  const hoursLeft = Math.max(0, (deadline.getTime() - now.getTime()) / HOUR);
  const perHour = hoursElapsed > 0 ? committed / hoursElapsed : 0;
  const projected = Math.floor(committed + perHour * hoursLeft);
  const needed = Math.max(0, minQuantity - committed);
  const neededPerHour = needed === 0 ? 0 : hoursLeft > 0 ? needed / hoursLeft : Infinity;
  const base = { perHour, hoursElapsed, hoursLeft, projected, needed, neededPerHour };
  if (needed === 0) return { verdict: 'tipped', ...base };
  if (hoursLeft === 0) return { verdict: 'ended', ...base };
  if (hoursElapsed < 1) return { verdict: 'too_early', ...base };
  return { verdict: projected >= minQuantity ? 'likely' : 'unlikely', ...base };
}

// ---------------------------------------------------------------------------------------------
// Progress (what a card says: "18/25 · ancora 7 · 2 giorni")

export interface ProgressInput {
  readonly state: CampaignState;
  readonly committed: number;
  readonly minQuantity: number;
  readonly maxQuantity: number | null;
  readonly deadline: Date;
  readonly tiers: readonly Tier[];
  readonly now: Date;
}

export interface Progress {
  readonly state: CampaignState;
  readonly committed: number;
  /** The tipping point. */
  readonly target: number;
  readonly tipped: boolean;
  /** Units still needed to tip (0 once tipped). */
  readonly toTip: number;
  /** Seats left under the cap (null when uncapped). */
  readonly seatsLeft: number | null;
  readonly full: boolean;
  /** 0–100, towards the tipping point (capped at 100). */
  readonly percent: number;
  readonly timeLeft: TimeLeft;
  /** Unit price now, minor units. */
  readonly unitPrice: number;
  readonly next: NextTier | undefined;
}

export function progress(input: ProgressInput): Progress {
  const { committed, minQuantity, maxQuantity } = input;
  const tipped = committed >= minQuantity || ['tipped', 'closed', 'fulfilled'].includes(input.state);
  const seatsLeft = maxQuantity === null ? null : Math.max(0, maxQuantity - committed);
  const next = nextTier(input.tiers, committed);
  return {
    state: input.state,
    committed,
    target: minQuantity,
    tipped,
    toTip: Math.max(0, minQuantity - committed),
    seatsLeft,
    full: seatsLeft === 0,
    percent: minQuantity > 0 ? Math.min(100, Math.floor((committed * 100) / minQuantity)) : 100,
    timeLeft: timeLeft(input.deadline, input.now),
    unitPrice: priceFor(input.tiers, committed),
    // A tier beyond the cap can never be reached.
    next: next && (maxQuantity === null || next.tier.fromQuantity <= maxQuantity) ? next : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Campaign settings

export interface CampaignSettings {
  readonly minQuantity: number;
  readonly maxQuantity: number | null;
  readonly perFanLimit: number;
  readonly deadline: Date;
  readonly tiers: readonly Tier[];
}

export type SettingsProblem =
  TierProblem | 'min_quantity_invalid' | 'max_below_min' | 'per_fan_limit_invalid' | 'deadline_in_past';

export type SettingsValidation =
  { readonly ok: true } | { readonly ok: false; readonly code: SettingsProblem; readonly index?: number };

/** A campaign that can be opened: sensible quantities, valid tiers, a deadline in the future. */
export function validateSettings(s: CampaignSettings, now: Date): SettingsValidation {
  if (!Number.isSafeInteger(s.minQuantity) || s.minQuantity < 1)
    return { ok: false, code: 'min_quantity_invalid' };
  if (s.maxQuantity !== null && (!Number.isSafeInteger(s.maxQuantity) || s.maxQuantity < s.minQuantity))
    return { ok: false, code: 'max_below_min' };
  if (!Number.isSafeInteger(s.perFanLimit) || s.perFanLimit < 1)
    return { ok: false, code: 'per_fan_limit_invalid' };
  const tiers = validateTiers(s.tiers, { maxQuantity: s.maxQuantity });
  if (!tiers.ok) return tiers;
  if (isPastDeadline(s.deadline, now)) return { ok: false, code: 'deadline_in_past' };
  return { ok: true };
}

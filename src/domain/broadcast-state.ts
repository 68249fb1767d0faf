/**
 * Broadcasts, the pure part: the lifecycle as a transition table, the per-recipient decision (the
 * messaging policy plus the broadcast's own frequency cap), the rule that keeps `update` broadcasts
 * non-promotional, and the tap payloads. No I/O, no clock.
 */
import { decideMessaging, type MessagingPurpose, type RefusalReason } from './messaging-policy.js';
import { messagingInputFor, type FanReachFields } from './segment.js';

// -------------------------------------------------------------------------------------------------
// Lifecycle

export const BROADCAST_STATES = [
  'draft',
  'scheduled',
  'sending',
  'paused',
  'completed',
  'cancelled',
] as const;
export type BroadcastState = (typeof BROADCAST_STATES)[number];

export const BROADCAST_ACTIONS = ['schedule', 'start', 'pause', 'resume', 'complete', 'cancel'] as const;
export type BroadcastAction = (typeof BROADCAST_ACTIONS)[number];

/**
 * draft → scheduled → sending ⇄ paused → completed; cancel from any state that is not final.
 * `start` is "send now" (from draft, or early from scheduled); `schedule` may also re-time a scheduled one.
 */
export const BROADCAST_TRANSITIONS: Readonly<
  Record<BroadcastAction, { from: readonly BroadcastState[]; to: BroadcastState }>
> = {
  schedule: { from: ['draft', 'scheduled'], to: 'scheduled' },
  start: { from: ['draft', 'scheduled'], to: 'sending' },
  pause: { from: ['sending'], to: 'paused' },
  resume: { from: ['paused'], to: 'sending' },
  complete: { from: ['sending'], to: 'completed' },
  cancel: { from: ['draft', 'scheduled', 'sending', 'paused'], to: 'cancelled' },
};

export const FINAL_STATES: readonly BroadcastState[] = ['completed', 'cancelled'];

export type TransitionResult =
  | { ok: true; from: BroadcastState; to: BroadcastState }
  | { ok: false; code: 'invalid_transition'; from: BroadcastState; action: BroadcastAction };

export function transition(from: BroadcastState, action: BroadcastAction): TransitionResult {
  const t = BROADCAST_TRANSITIONS[action];
  return t.from.includes(from)
    ? { ok: true, from, to: t.to }
    : { ok: false, code: 'invalid_transition', from, action };
}

// -------------------------------------------------------------------------------------------------
// Purpose

/**
 * `promotion`: offers, news, new campaigns. Sent only inside the fan's 24 h window (or a usable opt-in
 * channel); never tagged; STOP (marketing opt-out) and the frequency cap apply.
 *
 * `update`: an account-related notice that every recipient must get (a policy change, a service
 * notice about their account). It is the one broadcast that may go outside the window, tagged
 * `ACCOUNT_UPDATE`, so the rule is strict: the manager chooses it explicitly, and its content is text
 * only (no card, no quick replies, no buttons) with no promotional wording — see `checkUpdateContent`.
 * Order/group-buy notices to participants are not broadcasts: those features send them themselves
 * under `POST_PURCHASE_UPDATE`.
 */
export const BROADCAST_PURPOSES = ['promotion', 'update'] as const;
export type BroadcastPurpose = (typeof BROADCAST_PURPOSES)[number];

export function messagingPurposeOf(purpose: BroadcastPurpose): MessagingPurpose {
  return purpose === 'promotion' ? 'promotion' : 'account_update';
}

/** Words that make a text an offer, in the languages we speak. Conservative: a false positive costs a rewording. */
const PROMOTIONAL_WORDS = [
  'sconto',
  'sconti',
  'scontato',
  'offerta',
  'offerte',
  'promo',
  'promozione',
  'saldi',
  'coupon',
  'codice sconto',
  'gratis',
  'omaggio',
  'regalo',
  'discount',
  'offer',
  'offers',
  'deal',
  'deals',
  'sale',
  'free',
  'voucher',
  'buy now',
  'compra ora',
  'acquista ora',
  'limited time',
  'tempo limitato',
];

export interface BroadcastContentShape {
  readonly text: string;
  readonly card?: unknown;
  readonly quickReplies?: readonly unknown[] | undefined;
}

export type ContentCheck =
  { ok: true } | { ok: false; code: 'update_not_plain' | 'update_looks_promotional'; detail: string };

/** An `update` broadcast must read like an account notice, not an offer. */
export function checkUpdateContent(contents: readonly BroadcastContentShape[]): ContentCheck {
  for (const c of contents) {
    if (c.card !== undefined && c.card !== null) {
      return { ok: false, code: 'update_not_plain', detail: 'an update carries no card' };
    }
    if (c.quickReplies && c.quickReplies.length > 0) {
      return { ok: false, code: 'update_not_plain', detail: 'an update carries no quick replies' };
    }
    const normalized = ` ${c.text
      .normalize('NFD')
      .replace(/\p{Diacritic}/gu, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}%€$]+/gu, ' ')} `;
    if (/\d+\s*%|%\s*\d+|€|\$/.test(c.text)) {
      return { ok: false, code: 'update_looks_promotional', detail: 'prices or percentages' };
    }
    const hit = PROMOTIONAL_WORDS.find((w) => normalized.includes(` ${w} `));
    if (hit) return { ok: false, code: 'update_looks_promotional', detail: `"${hit}"` };
  }
  return { ok: true };
}

// -------------------------------------------------------------------------------------------------
// One recipient

export const SKIP_REASONS = [
  'unreachable',
  'opted_out',
  'outside_window',
  'optin_channel_unsupported',
  'optin_stopped',
  'optin_expired',
  'optin_cap_reached',
  'frequency_cap',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

const SKIP_FOR_REFUSAL: Record<RefusalReason, SkipReason> = {
  unreachable: 'unreachable',
  marketing_opt_out: 'opted_out',
  outside_window: 'outside_window',
  promotion_needs_window_or_optin: 'outside_window',
  optin_stopped: 'optin_stopped',
  optin_expired: 'optin_expired',
  optin_cap_reached: 'optin_cap_reached',
};

export interface FrequencyCap {
  /** At most this many promotions per fan... */
  readonly max: number;
  /** ...in this many hours (rolling). */
  readonly windowHours: number;
}
export const DEFAULT_FREQUENCY_CAP: FrequencyCap = { max: 1, windowHours: 48 };

export type RecipientDecision =
  | { send: true; messagingType: 'RESPONSE' | 'UPDATE' | 'MESSAGE_TAG'; tag?: string }
  | { send: false; reason: SkipReason };

/**
 * The decision for one fan, made when the broadcast is queued (the sender decides again at send
 * time, with the same policy, so a window that closes in between is still respected).
 *
 * The opt-in channel (Marketing Messages) is recognised but the outbox sender does not deliver through
 * it yet: such fans are skipped as `optin_channel_unsupported`, so the counts say what really happens.
 */
export function decideRecipient(
  fan: FanReachFields,
  input: {
    readonly purpose: BroadcastPurpose;
    readonly now: Date;
    /** Promotions this fan got (or has queued) inside the cap's window, from other broadcasts. */
    readonly recentPromotions: number;
    readonly cap: FrequencyCap | null;
  },
): RecipientDecision {
  const decision = decideMessaging(messagingInputFor(fan, messagingPurposeOf(input.purpose), input.now));
  if (!decision.ok) return { send: false, reason: SKIP_FOR_REFUSAL[decision.reason] };
  if (decision.channel === 'notification_messages')
    return { send: false, reason: 'optin_channel_unsupported' };
  if (input.purpose === 'promotion' && input.cap && input.recentPromotions >= input.cap.max) {
    return { send: false, reason: 'frequency_cap' };
  }
  return decision.messagingType === 'MESSAGE_TAG'
    ? { send: true, messagingType: 'MESSAGE_TAG', tag: decision.tag }
    : { send: true, messagingType: decision.messagingType };
}

// -------------------------------------------------------------------------------------------------
// Taps

export const TAP_PAYLOAD = 'bc.tap';

/** `bc.tap:v1:<broadcastId>:<n>`: button n of the broadcast (0 = the card's button, 1.. = quick replies). */
export function tapPayload(broadcastId: string, n: number): string {
  return `${TAP_PAYLOAD}:v1:${broadcastId}:${n}`;
}

export function parseTap(args: readonly string[]): { broadcastId: string; n: number } | undefined {
  const [id, n] = args;
  if (!id || !/^[0-9a-f]{24}$/.test(id) || n === undefined || !/^\d{1,2}$/.test(n)) return undefined;
  return { broadcastId: id, n: Number(n) };
}

/** STOP words: the fan is opted out of promotions at once and for good. */
export const STOP_PHRASES = [
  'stop',
  'stop offerte',
  'stop promozioni',
  'non voglio offerte',
  'non voglio piu offerte',
  'basta offerte',
  'unsubscribe',
  'stop offers',
  'no more offers',
] as const;

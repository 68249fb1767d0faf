/**
 * Messaging policy: decides how (and whether) a message may be sent to a fan, from its purpose and the
 * fan's last interaction. Pure: no I/O, no clock (`now` is passed in). The one place where Meta's
 * 24-hour window, message tags and the Marketing Messages cap are applied (reference §2.2, §2.3).
 *
 * Invariant: a promotion never gets a tag, on any path.
 */

/** Meta's standard messaging window: 24 h after the fan's last interaction. */
export const MESSAGING_WINDOW_MS = 24 * 60 * 60 * 1000;
/** Marketing Messages / recurring notifications: at most 1 message per subscriber per rolling 48 h. */
export const OPTIN_MESSAGE_INTERVAL_MS = 48 * 60 * 60 * 1000;

export const MESSAGING_PURPOSES = [
  'reply', // an answer to something the fan just did
  'order_update', // receipt, shipment, order change needing action
  'groupbuy_update', // a campaign the fan committed to changed state (tipped / failed / tier change)
  'reminder', // a non-tagged nudge (cart left, deadline approaching for a campaign not joined...)
  'promotion', // offers, deals, new campaigns, broadcasts
  'account_update', // non-recurring change to the fan's account
  'feedback_request', // survey / review request
] as const;
export type MessagingPurpose = (typeof MESSAGING_PURPOSES)[number];

/** Tags this policy may choose. Kept apart from the Graph API types: the domain stays pure. */
export type PolicyTag = 'POST_PURCHASE_UPDATE' | 'ACCOUNT_UPDATE';

/** Purposes that may be sent outside the window, and the tag each one needs. Nothing promotional. */
const TAG_FOR_PURPOSE: Partial<Record<MessagingPurpose, PolicyTag>> = {
  order_update: 'POST_PURCHASE_UPDATE',
  groupbuy_update: 'POST_PURCHASE_UPDATE',
  account_update: 'ACCOUNT_UPDATE',
};

export interface MarketingOptIn {
  /** `notification_messages_token` from the `messaging_optins` event. */
  token: string;
  /** Set when the fan sent "STOP NOTIFICATIONS" (and cleared on "RESUME"). */
  stopped?: boolean;
  /** Token expiry, when Meta gave one. */
  expiresAt?: Date | null;
  /** Last message sent to this fan through the opt-in channel (for the 48 h cap). */
  lastOptInSendAt?: Date | null;
}

export interface MessagingInput {
  purpose: MessagingPurpose;
  /** The fan's last window-opening interaction (message, postback, quick reply, referral...). null = never. */
  lastInteractionAt: Date | null;
  now: Date;
  /** false once Meta said 551 / 1545041 (blocked, deactivated). */
  reachable: boolean;
  /** The page's configured opt-in channel for this fan, if any. Used for promotions only. */
  optIn?: MarketingOptIn | null;
  /** The fan said "stop" to offers: no promotion ever, on any channel, even inside the window. */
  marketingOptOut?: boolean;
}

export type RefusalReason =
  | 'unreachable'
  | 'marketing_opt_out'
  | 'outside_window'
  | 'promotion_needs_window_or_optin'
  | 'optin_stopped'
  | 'optin_expired'
  | 'optin_cap_reached';

export type MessagingDecision =
  | { ok: true; channel: 'standard'; messagingType: 'RESPONSE' | 'UPDATE' }
  | { ok: true; channel: 'standard'; messagingType: 'MESSAGE_TAG'; tag: PolicyTag }
  | { ok: true; channel: 'notification_messages'; token: string }
  | {
      ok: false;
      reason: RefusalReason;
      /** When the same send would become allowed without the fan acting (opt-in cap), if ever. */
      retryAt?: Date;
    };

export function isInsideWindow(lastInteractionAt: Date | null, now: Date): boolean {
  return lastInteractionAt !== null && lastInteractionAt.getTime() > now.getTime() - MESSAGING_WINDOW_MS;
}

/** When the fan's window closes (null if it never opened). */
export function windowClosesAt(lastInteractionAt: Date | null): Date | null {
  return lastInteractionAt === null ? null : new Date(lastInteractionAt.getTime() + MESSAGING_WINDOW_MS);
}

export type OptInCapCheck = { ok: true } | { ok: false; retryAt: Date };

/** The 48 h cap of the opt-in channel: allowed if nothing was sent through it in the last 48 h. */
export function checkOptInCap(lastOptInSendAt: Date | null | undefined, now: Date): OptInCapCheck {
  if (lastOptInSendAt === null || lastOptInSendAt === undefined) return { ok: true };
  const next = lastOptInSendAt.getTime() + OPTIN_MESSAGE_INTERVAL_MS;
  return now.getTime() >= next ? { ok: true } : { ok: false, retryAt: new Date(next) };
}

export function decideMessaging(input: MessagingInput): MessagingDecision {
  const { purpose, lastInteractionAt, now, reachable } = input;
  if (!reachable) return { ok: false, reason: 'unreachable' };
  if (purpose === 'promotion' && input.marketingOptOut === true)
    return { ok: false, reason: 'marketing_opt_out' };

  if (isInsideWindow(lastInteractionAt, now)) {
    return { ok: true, channel: 'standard', messagingType: purpose === 'reply' ? 'RESPONSE' : 'UPDATE' };
  }

  if (purpose === 'promotion') return decidePromotionOutsideWindow(input.optIn ?? null, now);

  const tag = TAG_FOR_PURPOSE[purpose];
  if (tag !== undefined) return { ok: true, channel: 'standard', messagingType: 'MESSAGE_TAG', tag };

  // reply, reminder, feedback_request: only inside the window.
  return { ok: false, reason: 'outside_window' };
}

function decidePromotionOutsideWindow(optIn: MarketingOptIn | null, now: Date): MessagingDecision {
  if (optIn === null || optIn.token.length === 0) {
    return { ok: false, reason: 'promotion_needs_window_or_optin' };
  }
  if (optIn.stopped === true) return { ok: false, reason: 'optin_stopped' };
  if (optIn.expiresAt && optIn.expiresAt.getTime() <= now.getTime()) {
    return { ok: false, reason: 'optin_expired' };
  }
  const cap = checkOptInCap(optIn.lastOptInSendAt, now);
  if (!cap.ok) return { ok: false, reason: 'optin_cap_reached', retryAt: cap.retryAt };
  return { ok: true, channel: 'notification_messages', token: optIn.token };
}

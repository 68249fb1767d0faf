/**
 * Meta's Messenger Platform limits, in one table shared by the message builders (which throw before
 * anything is sent) and the fake Graph API (which rejects violations with error 100, as Meta does).
 * Source: /work/shared/reference/messenger-platform.md §2, §3, §4.
 *
 * Lengths are counted in Unicode code points ("UTF-8 characters"), never UTF-16 code units.
 */
export const LIMITS = Object.freeze({
  /** Text: "< 2000 UTF-8 characters" → at most 1999. */
  textMaxChars: 1999,
  quickRepliesMax: 13,
  quickReplyTitleMaxChars: 20,
  quickReplyPayloadMaxChars: 1000,
  genericElementsMax: 10,
  genericTitleMaxChars: 80,
  genericSubtitleMaxChars: 80,
  genericButtonsMax: 3,
  buttonTemplateTextMaxChars: 640,
  buttonTemplateButtonsMin: 1,
  buttonTemplateButtonsMax: 3,
  buttonTitleMaxChars: 20,
  buttonPayloadMaxChars: 1000,
  /** Send API `metadata`: "< 1000 chars". */
  metadataMaxChars: 999,
  getStartedPayloadMaxChars: 1000,
  greetingTextMaxChars: 160,
  persistentMenuTitleMaxChars: 30,
  iceBreakersMaxPerLocale: 4,
  /** Messenger Profile API: 10 calls per 10 minutes per Page. */
  messengerProfileCallsMax: 10,
  messengerProfileWindowMs: 10 * 60 * 1000,
  /** A private reply must be sent within 7 days of the comment. */
  privateReplyMaxAgeMs: 7 * 24 * 60 * 60 * 1000,
  /** HUMAN_AGENT tag: up to 7 days after the person's last message. */
  humanAgentWindowMs: 7 * 24 * 60 * 60 * 1000,
  /** m.me `ref`: up to 2,083 characters of [A-Za-z0-9_=-]. */
  refMaxChars: 2083,
});

export type LimitName = keyof typeof LIMITS;

export const MESSAGING_TYPES = ['RESPONSE', 'UPDATE', 'MESSAGE_TAG'] as const;
export type MessagingType = (typeof MESSAGING_TYPES)[number];

/** The only tags Meta still accepts (§2.2). */
export const MESSAGE_TAGS = [
  'POST_PURCHASE_UPDATE',
  'CONFIRMED_EVENT_UPDATE',
  'ACCOUNT_UPDATE',
  'HUMAN_AGENT',
] as const;
export type MessageTag = (typeof MESSAGE_TAGS)[number];

export const NOTIFICATION_TYPES = ['REGULAR', 'SILENT_PUSH', 'NO_PUSH'] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

export const SENDER_ACTIONS = ['mark_seen', 'typing_on', 'typing_off'] as const;
export type SenderAction = (typeof SENDER_ACTIONS)[number];

export const BUTTON_TYPES = ['web_url', 'postback', 'phone_number'] as const;
export type ButtonType = (typeof BUTTON_TYPES)[number];

export const MEDIA_ATTACHMENT_TYPES = ['image', 'audio', 'video', 'file'] as const;

export const REF_PATTERN = /^[A-Za-z0-9_=-]+$/;

/** Length in Unicode code points (what Meta calls "UTF-8 characters"). */
export function charCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

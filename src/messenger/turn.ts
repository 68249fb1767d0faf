import type { Config, Locale } from '../config/index.js';
import type { MessagingPurpose } from '../domain/messaging-policy.js';
import type { Logger } from '../log.js';
import type { OutgoingMessage } from './builders.js';

/** What a flow knows about the fan it is talking to. */
export interface FanView {
  readonly psid: string;
  readonly firstName: string | undefined;
  readonly locale: Locale;
  readonly isNew: boolean;
  readonly tags: readonly string[];
}

/** How the fan reached us this turn; flows route on this, never on text that looks like a payload. */
export type TurnInput =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'quick_reply'; readonly payload: string; readonly text: string }
  | { readonly type: 'postback'; readonly payload: string; readonly title: string; readonly ref?: string }
  | { readonly type: 'referral'; readonly ref: string; readonly source: string }
  | { readonly type: 'attachment'; readonly attachmentTypes: readonly string[] }
  | { readonly type: 'optin'; readonly token?: string; readonly status?: string };

export type QueuedMessage =
  | { readonly kind: 'message'; readonly message: OutgoingMessage; readonly purpose: MessagingPurpose }
  /** Hand the thread to the Page inbox (handover protocol), after the messages before it. */
  | { readonly kind: 'handover'; readonly purpose: 'reply' };

/**
 * One turn: built once per inbox event and passed first to every handler. Messages are collected
 * and written to the outbox when the turn ends, under keys derived from the event, so a turn that is
 * retried never says anything twice.
 */
export interface Turn {
  readonly pageId: string;
  readonly psid: string;
  readonly fan: FanView;
  readonly locale: Locale;
  readonly input: TurnInput;
  readonly now: Date;
  readonly log: Logger;
  readonly config: Config;
  /** The inbox event's dedupe key: the base of every idempotency key this turn produces. */
  readonly eventKey: string;
  t(key: string, vars?: Record<string, unknown>): string;
  say(message: OutgoingMessage, purpose?: MessagingPurpose): void;
  passToInbox(): void;
  /** Changes the language for the rest of this turn (and is saved on the fan by the caller). */
  setLocale(locale: Locale): void;
  readonly queued: readonly QueuedMessage[];
}

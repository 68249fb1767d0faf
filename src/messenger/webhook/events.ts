import { createHash } from 'node:crypto';
import type { InboxKind } from '../../db/models/inbox-event.js';

/** One event split out of a webhook batch, ready for the inbox. */
export interface SplitEvent {
  readonly pageId: string;
  readonly kind: InboxKind;
  readonly dedupeKey: string;
  readonly queueKey: string;
  readonly eventTime: Date;
  readonly payload: Record<string, unknown>;
}

export interface SplitResult {
  readonly events: SplitEvent[];
  /** Parts of the body we could not make sense of: logged, never fatal. */
  readonly problems: string[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' ? String(v) : undefined;

function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 32);
}

/** Messaging `timestamp`s are in milliseconds; feed `created_time`s in seconds (`unit: 's'`). */
function timeOf(ms: unknown, fallback: Date, unit: 'ms' | 's' = 'ms'): Date {
  if (typeof ms === 'number' && Number.isFinite(ms) && ms > 0) {
    const date = new Date(unit === 's' ? ms * 1000 : ms);
    // Beyond ±8.64e15 ms a Date is invalid: fall back rather than store an Invalid Date.
    return Number.isNaN(date.getTime()) ? fallback : date;
  }
  if (typeof ms === 'string') {
    // Feed changes carry `created_time` in seconds (number) or ISO text depending on the field version.
    const asNumber = Number(ms);
    const date = Number.isFinite(asNumber) ? new Date(asNumber * (asNumber < 1e12 ? 1000 : 1)) : new Date(ms);
    if (!Number.isNaN(date.getTime())) return date;
  }
  return fallback;
}

function classifyMessaging(event: Json): InboxKind {
  const message = event.message;
  if (isObject(message)) return message.is_echo === true ? 'echo' : 'message';
  if (isObject(event.postback)) return 'postback';
  if (isObject(event.referral)) return 'referral';
  if (isObject(event.delivery)) return 'delivery';
  if (isObject(event.read)) return 'read';
  if (isObject(event.optin)) return 'optin';
  if (
    isObject(event.pass_thread_control) ||
    isObject(event.take_thread_control) ||
    isObject(event.request_thread_control)
  )
    return 'handover';
  return 'unknown';
}

function splitMessaging(pageId: string, event: Json, standby: boolean, now: Date): SplitEvent {
  const kind: InboxKind = standby ? 'standby' : classifyMessaging(event);
  const sender = isObject(event.sender) ? str(event.sender.id) : undefined;
  const recipient = isObject(event.recipient) ? str(event.recipient.id) : undefined;
  // For echoes the fan is the recipient; for everything else the sender.
  const fanId = kind === 'echo' ? recipient : sender;
  const userRef = isObject(event.optin) ? str(event.optin.user_ref) : undefined;
  const queueKey = fanId ? `fan:${fanId}` : userRef ? `user_ref:${userRef}` : `page:${pageId}`;
  const eventTime = timeOf(event.timestamp, now);

  let id: string | undefined;
  const message = isObject(event.message) ? event.message : undefined;
  const postback = isObject(event.postback) ? event.postback : undefined;
  if (message && str(message.mid)) id = `mid:${str(message.mid)}`;
  else if (postback && str(postback.mid)) id = `mid:${str(postback.mid)}`;
  else if (isObject(event.delivery))
    id = `delivery:${fanId}:${str(event.delivery.watermark) ?? hashOf(event)}`;
  else if (isObject(event.read)) id = `read:${fanId}:${str(event.read.watermark) ?? hashOf(event)}`;
  // Standby copies of a message share its mid with the primary app's copy; keep them apart.
  const dedupeKey = `${standby ? 'standby:' : ''}${id ?? `${kind}:${hashOf(event)}`}`;
  return { pageId, kind, dedupeKey, queueKey, eventTime, payload: event };
}

function splitChange(pageId: string, change: Json, now: Date): SplitEvent {
  const value = isObject(change.value) ? change.value : {};
  const field = str(change.field) ?? 'unknown';
  const commentId = str(value.comment_id);
  const postId = str(value.post_id);
  const verb = str(value.verb) ?? 'unknown';
  const eventTime = timeOf(value.created_time, now, 's');
  const isComment = field === 'feed' && value.item === 'comment' && commentId !== undefined;
  // An edit can happen several times: each distinct text is its own event, a redelivery is not.
  const dedupeKey = isComment
    ? `comment:${commentId}:${verb}${verb === 'edited' ? `:${hashOf(value.message ?? '')}` : ''}`
    : `change:${field}:${hashOf(change)}`;
  return {
    pageId,
    kind: field === 'feed' ? 'feed' : 'unknown',
    dedupeKey,
    queueKey: postId ? `post:${postId}` : `page:${pageId}`,
    eventTime,
    payload: change,
  };
}

/**
 * Splits a webhook body (already signature-checked and parsed) into inbox events.
 * Pure and total: any shape yields a result, never an exception.
 */
export function splitWebhookBody(body: unknown, now: Date): SplitResult {
  const events: SplitEvent[] = [];
  const problems: string[] = [];
  if (!isObject(body)) return { events, problems: ['body is not a JSON object'] };
  if (body.object !== 'page') problems.push(`object is ${JSON.stringify(body.object)}, expected "page"`);
  if (!Array.isArray(body.entry)) {
    problems.push('body has no entry[]');
    return { events, problems };
  }
  body.entry.forEach((entry, i) => {
    if (!isObject(entry)) {
      problems.push(`entry[${i}] is not an object`);
      return;
    }
    const pageId = str(entry.id);
    if (!pageId) {
      problems.push(`entry[${i}] has no id`);
      return;
    }
    let seen = false;
    for (const [list, standby] of [
      [entry.messaging, false],
      [entry.standby, true],
    ] as const) {
      if (list === undefined) continue;
      seen = true;
      if (!Array.isArray(list)) {
        problems.push(`entry[${i}].${standby ? 'standby' : 'messaging'} is not an array`);
        continue;
      }
      list.forEach((event, j) => {
        if (isObject(event)) events.push(splitMessaging(pageId, event, standby, now));
        else problems.push(`entry[${i}].${standby ? 'standby' : 'messaging'}[${j}] is not an object`);
      });
    }
    if (entry.changes !== undefined) {
      seen = true;
      if (!Array.isArray(entry.changes)) problems.push(`entry[${i}].changes is not an array`);
      else
        entry.changes.forEach((change, j) => {
          if (isObject(change)) events.push(splitChange(pageId, change, now));
          else problems.push(`entry[${i}].changes[${j}] is not an object`);
        });
    }
    if (!seen) problems.push(`entry[${i}] has no messaging, standby or changes`);
  });
  return { events, problems };
}

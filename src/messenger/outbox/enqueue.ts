import { OutboxMessageModel, type OutboxKind } from '../../db/models/outbox-message.js';
import type { MessagingPurpose } from '../../domain/messaging-policy.js';

/** One thing the bot wants to say. Written first, sent later, never twice. */
export interface OutgoingItem {
  readonly pageId: string;
  /** Same key, same message: a retried turn or job that enqueues again is a no-op. */
  readonly idempotencyKey: string;
  readonly kind: OutboxKind;
  readonly recipient: { readonly psid?: string; readonly commentId?: string };
  readonly purpose: MessagingPurpose;
  /** The Send API `message` object, `{text}` for a public reply, `{sender_action}` for an action. */
  readonly body: Record<string, unknown>;
  readonly origin?: { readonly type: string; readonly id: string };
  /** Do not send before this time (scheduled sends). */
  readonly notBefore?: Date;
  /**
   * The fan's messaging-policy fields as the writer just read them (a turn has the fan in hand): the
   * sender then decides without a fan lookup. Ignored for promotions, whose opt-out must be current.
   */
  readonly policy?: PolicySnapshot;
}

/** What the sender needs from the fan record to pick a messaging type (see `decideMessaging`). */
export interface PolicySnapshot {
  readonly lastInteractionAt: Date | null;
  readonly reachable: boolean;
}

export interface EnqueueResult {
  readonly created: number;
  readonly duplicates: number;
}

const DUPLICATE_KEY = 11000;
let lastSeqBase = 0;
let seqCounter = 0;

/** Increasing within this process; messages to one recipient come from one process at a time (leases). */
function nextSeq(now: Date): number {
  const base = now.getTime() * 1000;
  if (base > lastSeqBase) {
    lastSeqBase = base;
    seqCounter = 0;
  }
  seqCounter += 1;
  return lastSeqBase + seqCounter;
}

export function queueKeyFor(recipient: OutgoingItem['recipient']): string {
  if (recipient.psid) return `fan:${recipient.psid}`;
  if (recipient.commentId) return `comment:${recipient.commentId}`;
  throw new Error('an outgoing message needs a psid or a comment id');
}

export async function enqueueMessages(items: readonly OutgoingItem[], now: Date): Promise<EnqueueResult> {
  if (items.length === 0) return { created: 0, duplicates: 0 };
  const docs = items.map((item) => ({
    pageId: item.pageId,
    idempotencyKey: item.idempotencyKey,
    kind: item.kind,
    queueKey: queueKeyFor(item.recipient),
    seq: nextSeq(now),
    recipient: { ...item.recipient },
    purpose: item.purpose,
    body: JSON.stringify(item.body),
    state: 'pending',
    attempts: 0,
    nextAttemptAt: item.notBefore ?? now,
    createdAt: now,
    ...(item.origin ? { origin: { ...item.origin } } : {}),
    ...(item.policy
      ? { policy: { lastInteractionAt: item.policy.lastInteractionAt, reachable: item.policy.reachable } }
      : {}),
  }));
  try {
    const result = await OutboxMessageModel.collection.insertMany(docs, { ordered: true });
    return { created: result.insertedCount, duplicates: 0 };
  } catch (error) {
    // Ordered inserts stop at the first duplicate; insert the rest one by one so order is kept.
    if ((error as { code?: number }).code !== DUPLICATE_KEY && !hasOnlyDuplicates(error)) throw error;
    let created = 0;
    let duplicates = 0;
    for (const doc of docs) {
      try {
        await OutboxMessageModel.collection.insertOne(doc);
        created += 1;
      } catch (inner) {
        if ((inner as { code?: number }).code !== DUPLICATE_KEY) throw inner;
        duplicates += 1;
      }
    }
    return { created, duplicates };
  }
}

function hasOnlyDuplicates(error: unknown): boolean {
  const list = (error as { writeErrors?: { code?: number }[] }).writeErrors;
  return Array.isArray(list) && list.length > 0 && list.every((w) => w.code === DUPLICATE_KEY);
}

import { InboxEventModel } from '../../db/models/inbox-event.js';
import type { SplitEvent } from '../webhook/events.js';
import { BatchedWrites } from './batched-writes.js';

export interface AcceptResult {
  readonly accepted: number;
  readonly duplicates: number;
}

const inboxWrites = new BatchedWrites(() => InboxEventModel.collection);

/**
 * Writes events durably under their dedupe keys. A redelivered event hits the unique index and is
 * counted as a duplicate; any other failure throws, so the webhook answers 5xx and Meta retries.
 */
export async function acceptEvents(events: readonly SplitEvent[], now: Date): Promise<AcceptResult> {
  if (events.length === 0) return { accepted: 0, duplicates: 0 };
  const docs = events.map((e) => ({
    pageId: e.pageId,
    dedupeKey: e.dedupeKey,
    kind: e.kind,
    queueKey: e.queueKey,
    payload: JSON.stringify(e.payload),
    eventTime: e.eventTime,
    receivedAt: now,
    state: 'pending',
    attempts: 0,
    nextAttemptAt: now,
  }));
  // Events of concurrent webhook POSTs share one insert; a redelivered event is a duplicate key.
  const results = await Promise.all(docs.map((document) => inboxWrites.write({ insertOne: { document } })));
  const duplicates = results.filter((r) => r === 'duplicate').length;
  return { accepted: docs.length - duplicates, duplicates };
}

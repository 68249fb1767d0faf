import { InboxEventModel } from '../../db/models/inbox-event.js';
import type { SplitEvent } from '../webhook/events.js';

export interface AcceptResult {
  readonly accepted: number;
  readonly duplicates: number;
}

const DUPLICATE_KEY = 11000;

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
  try {
    const result = await InboxEventModel.collection.insertMany(docs, { ordered: false });
    return { accepted: result.insertedCount, duplicates: 0 };
  } catch (error) {
    const writeErrors = duplicateOnlyErrors(error);
    if (!writeErrors) throw error;
    return { accepted: docs.length - writeErrors, duplicates: writeErrors };
  }
}

/** The number of write errors when every one of them is a duplicate key; otherwise undefined. */
function duplicateOnlyErrors(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: number; writeErrors?: { code?: number }[] | { code?: number } };
  const list = Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : [];
  if (list.length === 0) return e.code === DUPLICATE_KEY ? 1 : undefined;
  return list.every((w) => w.code === DUPLICATE_KEY) ? list.length : undefined;
}

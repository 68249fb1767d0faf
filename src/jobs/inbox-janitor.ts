import { InboxEventModel } from '../db/models/inbox-event.js';
import type { JobDefinition } from './types.js';

/** A pending event older than this means the processors are not keeping up (or not running). */
export const INBOX_BACKLOG_WARN_MS = 5 * 60_000;

/**
 * Watches the inbox. It deletes nothing: finished events go by TTL, parked events stay for managers
 * to see, and pending events (retries included) belong to the processor. It counts the backlog and
 * warns when the oldest pending event has waited too long.
 */
export function inboxJanitorJob(): JobDefinition {
  return {
    id: 'inbox-janitor',
    schedule: '*/5 * * * *',
    description:
      'Counts the inbox backlog and parked events; warns when the oldest pending event waits > 5 min',
    async run(ctx) {
      const pageId = ctx.page.id;
      const [pending, retrying, parked, oldest] = await Promise.all([
        InboxEventModel.collection.countDocuments({ pageId, state: 'pending' }),
        InboxEventModel.collection.countDocuments({ pageId, state: 'pending', attempts: { $gt: 0 } }),
        InboxEventModel.collection.countDocuments({ pageId, state: 'parked' }),
        InboxEventModel.collection.findOne(
          { pageId, state: 'pending' },
          { sort: { receivedAt: 1 }, projection: { receivedAt: 1 } },
        ),
      ]);
      const oldestAgeMs = oldest ? Math.max(0, ctx.now.getTime() - (oldest.receivedAt as Date).getTime()) : 0;
      if (oldestAgeMs > INBOX_BACKLOG_WARN_MS) {
        ctx.log.warn(
          { alert: 'inbox_backlog', pending, retrying, parked, oldestAgeMs },
          'the inbox is falling behind: the oldest pending event has waited more than 5 minutes',
        );
      }
      return { summary: { pending, retrying, parked, oldestPendingAgeMs: oldestAgeMs } };
    },
  };
}

import { OutboxMessageModel } from '../db/models/outbox-message.js';
import type { JobDefinition } from './types.js';

/** A reply or a promotion this late is worse than none. */
export const OUTBOX_STALE_MS = 24 * 3600_000;
export const STALE_PURPOSES = ['reply', 'promotion'] as const;

/**
 * Cancels replies and promotions that have waited more than 24 h to be sent (reason `stale`). Order
 * and group-buy updates keep waiting: they are owed whatever the delay. A message the sender has
 * claimed right now is left alone (its send decides).
 */
export function outboxJanitorJob(): JobDefinition {
  return {
    id: 'outbox-janitor',
    schedule: '*/15 * * * *',
    description: 'Cancels replies and promotions still pending after 24 h (reason "stale")',
    async run(ctx) {
      const now = ctx.now;
      const cutoff = new Date(now.getTime() - OUTBOX_STALE_MS);
      const counts: Record<string, number> = {};
      for (const purpose of STALE_PURPOSES) {
        const res = await OutboxMessageModel.collection.updateMany(
          {
            pageId: ctx.page.id,
            state: 'pending',
            purpose,
            createdAt: { $lte: cutoff },
            $or: [{ leaseUntil: { $exists: false } }, { leaseUntil: null }, { leaseUntil: { $lte: now } }],
          },
          {
            $set: {
              state: 'cancelled',
              cancelledReason: 'stale',
              cancelledAt: now,
              expiresAt: new Date(now.getTime() + ctx.config.retention.outboxMs),
            },
            $unset: { leaseUntil: '' },
          },
        );
        counts[purpose] = res.modifiedCount;
      }
      const cancelled = Object.values(counts).reduce((a, b) => a + b, 0);
      const stillPending = await OutboxMessageModel.collection.countDocuments({
        pageId: ctx.page.id,
        state: 'pending',
      });
      if (cancelled > 0) ctx.log.warn({ cancelled: counts }, 'stale outbox messages cancelled');
      return {
        summary: {
          cancelled,
          cancelledReplies: counts.reply ?? 0,
          cancelledPromotions: counts.promotion ?? 0,
          pending: stillPending,
        },
      };
    },
  };
}

import mongoose from 'mongoose';
import { InboxEventModel } from './db/models/inbox-event.js';
import { OutboxMessageModel } from './db/models/outbox-message.js';
import { PageHealthModel } from './db/models/page-health.js';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  database: 'up' | 'down';
  inbox?: { pending: number; parked: number };
  outbox?: { pending: number; failed: number; paused?: string };
  /** The page token as the token-health job last found it (absent until its first run). */
  pageToken?: { status: string; checkedAt: Date; expiresAt: Date | null; problem?: string };
  role: string;
  simulator: boolean;
}

/** `/healthz`: what an operator (or a load balancer) needs to know, cheaply. */
export async function checkHealth(opts: {
  role: string;
  simulator: boolean;
  pageId?: string;
  senderPause?: () => string | undefined;
}): Promise<HealthReport> {
  const base = { role: opts.role, simulator: opts.simulator };
  try {
    const db = mongoose.connection.db;
    if (!db || mongoose.connection.readyState !== 1) throw new Error('not connected');
    await db.command({ ping: 1 });
    const [pending, parked, outPending, outFailed, pageHealth] = await Promise.all([
      InboxEventModel.collection.countDocuments({ state: 'pending' }),
      InboxEventModel.collection.countDocuments({ state: 'parked' }),
      OutboxMessageModel.collection.countDocuments({ state: 'pending' }),
      OutboxMessageModel.collection.countDocuments({ state: 'failed' }),
      opts.pageId ? PageHealthModel.collection.findOne({ pageId: opts.pageId }) : null,
    ]);
    const token = pageHealth?.token as
      { status: string; checkedAt: Date; expiresAt?: Date | null; problem?: string } | undefined;
    const pageToken = token
      ? {
          status: token.status,
          checkedAt: token.checkedAt,
          expiresAt: token.expiresAt ?? null,
          ...(token.problem ? { problem: token.problem } : {}),
        }
      : undefined;
    const paused = opts.senderPause?.();
    return {
      ...base,
      status: paused || parked > 0 || pageToken?.status === 'invalid' ? 'degraded' : 'ok',
      database: 'up',
      inbox: { pending, parked },
      outbox: { pending: outPending, failed: outFailed, ...(paused ? { paused } : {}) },
      ...(pageToken ? { pageToken } : {}),
    };
  } catch {
    return { ...base, status: 'down', database: 'down' };
  }
}

import mongoose from 'mongoose';
import { InboxEventModel } from './db/models/inbox-event.js';
import { OutboxMessageModel } from './db/models/outbox-message.js';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  database: 'up' | 'down';
  inbox?: { pending: number; parked: number };
  outbox?: { pending: number; failed: number; paused?: string };
  role: string;
  simulator: boolean;
}

/** `/healthz`: what an operator (or a load balancer) needs to know, cheaply. */
export async function checkHealth(opts: {
  role: string;
  simulator: boolean;
  senderPause?: () => string | undefined;
}): Promise<HealthReport> {
  const base = { role: opts.role, simulator: opts.simulator };
  try {
    const db = mongoose.connection.db;
    if (!db || mongoose.connection.readyState !== 1) throw new Error('not connected');
    await db.command({ ping: 1 });
    const [pending, parked, outPending, outFailed] = await Promise.all([
      InboxEventModel.collection.countDocuments({ state: 'pending' }),
      InboxEventModel.collection.countDocuments({ state: 'parked' }),
      OutboxMessageModel.collection.countDocuments({ state: 'pending' }),
      OutboxMessageModel.collection.countDocuments({ state: 'failed' }),
    ]);
    const paused = opts.senderPause?.();
    return {
      ...base,
      status: paused || parked > 0 ? 'degraded' : 'ok',
      database: 'up',
      inbox: { pending, parked },
      outbox: { pending: outPending, failed: outFailed, ...(paused ? { paused } : {}) },
    };
  } catch {
    return { ...base, status: 'down', database: 'down' };
  }
}

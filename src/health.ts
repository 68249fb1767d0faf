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

/**
 * A database that went away without closing its sockets leaves the driver waiting for server
 * selection: /healthz must still answer, and answer "down", before a load balancer's probe gives up.
 */
const HEALTH_DB_TIMEOUT_MS = 2_000;

/** `/healthz`: what an operator (or a load balancer) needs to know, cheaply. */
export async function checkHealth(opts: {
  role: string;
  simulator: boolean;
  pageId?: string;
  senderPause?: () => string | undefined;
  timeoutMs?: number;
}): Promise<HealthReport> {
  const base = { role: opts.role, simulator: opts.simulator };
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<HealthReport>((resolve) => {
    timer = setTimeout(
      () => resolve({ ...base, status: 'down', database: 'down' }),
      opts.timeoutMs ?? HEALTH_DB_TIMEOUT_MS,
    );
  });
  return Promise.race([inspect(opts, base), timedOut]).finally(() => clearTimeout(timer));
}

async function inspect(
  opts: Parameters<typeof checkHealth>[0],
  base: { role: string; simulator: boolean },
): Promise<HealthReport> {
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

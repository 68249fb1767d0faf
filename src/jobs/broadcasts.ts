import { startDueBroadcasts } from '../app/broadcasts.js';
import type { JobDefinition } from './types.js';

/**
 * Broadcast scheduling as a job: scheduled broadcasts become `sending` when due, finished ones are
 * completed (counters recounted from the outbox), and the worker is woken to (re)start queueing —
 * which also resumes a broadcast whose worker crashed mid-way. Each worker's BroadcastWorker does the
 * same every second; this job is the state-driven safety net (a missed tick changes nothing).
 */
export function broadcastsJob(): JobDefinition {
  return {
    id: 'broadcasts',
    schedule: '* * * * *',
    description: 'Starts due scheduled broadcasts, resumes interrupted queueing, completes finished ones',
    async run(ctx) {
      const r = await startDueBroadcasts(ctx.page.id, ctx.now, ctx.log);
      return { summary: { started: r.started, completed: r.completed, queueing: r.toQueue.length } };
    },
  };
}

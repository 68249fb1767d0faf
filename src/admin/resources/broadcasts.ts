import { z } from 'zod';
import {
  broadcastInputSchema,
  broadcastStats,
  cancelBroadcast,
  createBroadcast,
  getBroadcast,
  listBroadcasts,
  pauseBroadcast,
  resumeBroadcast,
  scheduleBroadcast,
  startBroadcast,
  type BroadcastFailure,
  type BroadcastView,
} from '../../app/broadcasts.js';
import { recordAudit } from '../../app/audit.js';
import { BROADCAST_STATES } from '../../domain/broadcast-state.js';
import { AdminError, notFound } from '../errors.js';
import { route, type AdminRoute } from '../http.js';
import type { AdminContext } from '../context.js';
import { DEFAULT_PAGE_SIZE, pageOf, pageQueryShape } from '../pagination.js';
import { idParams } from '../schemas.js';
import { decodeId } from './segments.js';

const TAG = 'broadcasts';
const counts = z.record(z.string(), z.number());
const counters = z.object({
  targeted: z.number(),
  queued: z.number(),
  sent: z.number(),
  failed: z.number(),
  refused: z.number(),
  cancelled: z.number(),
  delivered: z.number(),
  read: z.number(),
  clicks: z.number(),
});

const broadcastSchema = z.object({
  id: z.string(),
  name: z.string(),
  state: z.enum(BROADCAST_STATES),
  purpose: z.string(),
  contents: z.array(z.record(z.string(), z.unknown())),
  segmentId: z.string().nullable(),
  segmentDefinition: z.unknown(),
  scheduledAt: z.date().nullable(),
  frequencyCap: z.object({ max: z.number(), windowHours: z.number() }).nullable(),
  counters,
  skipped: counts,
  failedByCode: counts,
  refusedByReason: counts,
  clicksByButton: counts,
  queueingDone: z.boolean(),
  createdAt: z.date(),
  startedAt: z.date().nullable(),
  completedAt: z.date().nullable(),
  cancelledAt: z.date().nullable(),
});

const statsSchema = z.object({
  id: z.string(),
  state: z.enum(BROADCAST_STATES),
  counters,
  skipped: counts,
  failedByCode: counts,
  refusedByReason: counts,
  clicksByButton: counts,
  pending: z.number(),
  queueingDone: z.boolean(),
  done: z.boolean(),
});

function failure(f: BroadcastFailure, id?: string): AdminError {
  switch (f.code) {
    case 'broadcast_not_found':
      return notFound('broadcast', id);
    case 'segment_not_found':
      return new AdminError('validation', 'segment not found', null, f.code);
    case 'invalid_transition':
      return new AdminError('conflict', f.message, { state: f.state }, f.code);
    default:
      return new AdminError('validation', f.message, null, f.code);
  }
}

type Action = 'schedule' | 'start' | 'pause' | 'resume' | 'cancel';

async function act(
  ctx: AdminContext,
  id: string,
  action: Action,
  run: () => Promise<{ ok: true; broadcast: BroadcastView } | BroadcastFailure>,
): Promise<BroadcastView> {
  const before = await getBroadcast(ctx, id);
  const res = await run();
  if (!res.ok) throw failure(res, id);
  await recordAudit(ctx, {
    action: `broadcast.${action}`,
    target: { type: 'broadcast', id },
    before: { state: before?.state },
    after: { state: res.broadcast.state, scheduledAt: res.broadcast.scheduledAt ?? undefined },
  });
  return res.broadcast;
}

const transitionRoute = (action: Exclude<Action, 'schedule'>, summary: string, description?: string) =>
  route({
    method: 'post',
    path: `/broadcasts/:id/${action}`,
    tag: TAG,
    summary,
    ...(description ? { description } : {}),
    role: 'manager',
    params: idParams,
    response: broadcastSchema,
    handler: async (ctx, { params }) =>
      act(ctx, params.id, action, () => {
        switch (action) {
          case 'start':
            return startBroadcast(ctx, params.id);
          case 'pause':
            return pauseBroadcast(ctx, params.id);
          case 'resume':
            return resumeBroadcast(ctx, params.id);
          case 'cancel':
            return cancelBroadcast(ctx, params.id);
        }
      }),
  });

export const broadcastRoutes: AdminRoute[] = [
  route({
    method: 'post',
    path: '/broadcasts',
    tag: TAG,
    summary: 'Create a broadcast (draft; scheduled when `scheduledAt` is given)',
    description:
      'purpose "promotion": only fans inside their 24 h window, never tagged, STOP and the frequency cap ' +
      'apply. purpose "update": a plain, non-promotional account notice (text only, no offers), sent tagged ' +
      'ACCOUNT_UPDATE outside the window.',
    role: 'manager',
    body: broadcastInputSchema,
    response: broadcastSchema,
    status: 201,
    handler: async (ctx, { body }) => {
      const res = await createBroadcast(ctx, body);
      if (!res.ok) throw failure(res);
      await recordAudit(ctx, {
        action: 'broadcast.create',
        target: { type: 'broadcast', id: res.broadcast.id },
        after: { name: res.broadcast.name, purpose: res.broadcast.purpose, state: res.broadcast.state },
      });
      return res.broadcast;
    },
  }),

  route({
    method: 'get',
    path: '/broadcasts',
    tag: TAG,
    summary: 'Broadcasts, newest first',
    role: 'viewer',
    query: z.object({ state: z.enum(BROADCAST_STATES).optional(), ...pageQueryShape }),
    response: pageOf(broadcastSchema),
    handler: async (ctx, { query }) => {
      const before = query.cursor ? decodeId(query.cursor) : undefined;
      const page = await listBroadcasts(ctx, {
        limit: query.limit ?? DEFAULT_PAGE_SIZE,
        before,
        state: query.state,
      });
      return { items: page.items, nextCursor: page.next ? String(page.next) : null };
    },
  }),

  route({
    method: 'get',
    path: '/broadcasts/:id',
    tag: TAG,
    summary: 'One broadcast',
    role: 'viewer',
    params: idParams,
    response: broadcastSchema,
    handler: async (ctx, { params }) => {
      const b = await getBroadcast(ctx, params.id);
      if (!b) throw notFound('broadcast', params.id);
      return b;
    },
  }),

  route({
    method: 'get',
    path: '/broadcasts/:id/stats',
    tag: TAG,
    summary: 'Counters: targeted, queued, sent, skipped by reason, failed by code, delivered, read, clicks',
    role: 'viewer',
    params: idParams,
    response: statsSchema,
    handler: async (ctx, { params }) => {
      const s = await broadcastStats(ctx, params.id);
      if (!s) throw notFound('broadcast', params.id);
      return s;
    },
  }),

  route({
    method: 'post',
    path: '/broadcasts/:id/schedule',
    tag: TAG,
    summary: 'Schedule (or re-time) a draft or scheduled broadcast',
    role: 'manager',
    params: idParams,
    body: z.object({ at: z.coerce.date() }),
    response: broadcastSchema,
    handler: async (ctx, { params, body }) =>
      act(ctx, params.id, 'schedule', () => scheduleBroadcast(ctx, params.id, body.at)),
  }),
  transitionRoute('start', 'Send now'),
  transitionRoute('pause', 'Pause: stop queueing and hold the pending messages'),
  transitionRoute('resume', 'Resume a paused broadcast'),
  transitionRoute(
    'cancel',
    'Cancel: stop queueing and cancel the pending messages',
    'Messages already handed to the Send API (at most the sender concurrency) still complete.',
  ),
];

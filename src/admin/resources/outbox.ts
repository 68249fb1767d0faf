import type { Types } from 'mongoose';
import { z } from 'zod';
import { OUTBOX_KINDS, OUTBOX_STATES, OutboxMessageModel } from '../../db/models/outbox-message.js';
import { route, type AdminRoute } from '../http.js';
import { afterCursor, limitOf, pageFrom, pageOf, pageQueryShape, sortFor } from '../pagination.js';

/** Outbox health for managers: counts by state and recent failures with the Graph API's error codes. */

const TAG = 'outbox';

const failureSchema = z.object({
  id: z.string(),
  kind: z.enum(OUTBOX_KINDS),
  state: z.enum(['failed', 'refused']),
  purpose: z.string(),
  psid: z.string().nullable(),
  attempts: z.number(),
  error: z
    .object({
      kind: z.string().nullable(),
      code: z.number().nullable(),
      subcode: z.number().nullable(),
      message: z.string().nullable(),
      fbtraceId: z.string().nullable(),
    })
    .nullable(),
  refusedReason: z.string().nullable(),
  createdAt: z.date(),
});

type FailureLean = {
  _id: Types.ObjectId;
  kind: (typeof OUTBOX_KINDS)[number];
  state: 'failed' | 'refused';
  purpose: string;
  recipient?: { psid?: string | null } | null;
  attempts?: number | null;
  lastError?: {
    kind?: string | null;
    code?: number | null;
    subcode?: number | null;
    message?: string | null;
    fbtraceId?: string | null;
  } | null;
  refusedReason?: string | null;
  createdAt: Date;
};

const toFailure = (d: FailureLean) => {
  const e = d.lastError;
  const hasError = e && (e.kind || e.code !== undefined || e.message);
  return {
    id: String(d._id),
    kind: d.kind,
    state: d.state,
    purpose: d.purpose,
    psid: d.recipient?.psid ?? null,
    attempts: d.attempts ?? 0,
    error: hasError
      ? {
          kind: e.kind ?? null,
          code: e.code ?? null,
          subcode: e.subcode ?? null,
          message: e.message ?? null,
          fbtraceId: e.fbtraceId ?? null,
        }
      : null,
    refusedReason: d.refusedReason ?? null,
    createdAt: d.createdAt,
  };
};

export const outboxRoutes: AdminRoute[] = [
  route({
    method: 'get',
    path: '/outbox/health',
    tag: TAG,
    summary: 'Outbox counts by state, messages due now, and the oldest pending message',
    role: 'viewer',
    response: z.object({
      counts: z.record(z.enum(OUTBOX_STATES), z.number()),
      due: z.number(),
      oldestPendingAt: z.date().nullable(),
    }),
    handler: async (ctx) => {
      const pageId = ctx.pageId;
      const counts = await Promise.all(
        OUTBOX_STATES.map(
          async (state) => [state, await OutboxMessageModel.countDocuments({ pageId, state })] as const,
        ),
      );
      const due = await OutboxMessageModel.countDocuments({
        pageId,
        state: 'pending',
        nextAttemptAt: { $lte: ctx.now },
      });
      const oldest = (await OutboxMessageModel.findOne({ pageId, state: 'pending' }, { createdAt: 1 })
        .sort({ createdAt: 1 })
        .lean()) as { createdAt: Date } | null;
      return {
        counts: Object.fromEntries(counts) as Record<(typeof OUTBOX_STATES)[number], number>,
        due,
        oldestPendingAt: oldest?.createdAt ?? null,
      };
    },
  }),

  route({
    method: 'get',
    path: '/outbox/failures',
    tag: TAG,
    summary: 'Recent failed or refused messages with error codes (newest first)',
    role: 'viewer',
    query: z.object({ state: z.enum(['failed', 'refused']).optional(), ...pageQueryShape }),
    response: pageOf(failureSchema),
    handler: async (ctx, { query }) => {
      const base = { pageId: ctx.pageId, state: query.state ? query.state : { $in: ['failed', 'refused'] } };
      const docs = (await OutboxMessageModel.find(afterCursor(base, 'createdAt', query), { body: 0 })
        .sort(sortFor('createdAt'))
        .limit(limitOf(query) + 1)
        .lean()) as FailureLean[];
      return pageFrom(docs, query, (d) => d.createdAt, toFailure);
    },
  }),
];

import { Types } from 'mongoose';
import { z } from 'zod';
import { INBOX_KINDS, INBOX_STATES, InboxEventModel } from '../../db/models/inbox-event.js';
import { recordAudit } from '../audit.js';
import { AdminError, notFound } from '../errors.js';
import { route, type AdminRoute } from '../http.js';
import { afterCursor, limitOf, pageFrom, pageOf, pageQueryShape, sortFor } from '../pagination.js';
import { idParams } from '../schemas.js';

/**
 * Inbox health for managers: backlog by state, parked events (those that failed too often) with their
 * errors, and retry/discard. (Queries live here until the inbox processor grows an app service.)
 */

const TAG = 'inbox';
/** How long a discarded event is kept for inspection before the TTL index removes it. */
const DISCARDED_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

const parkedSchema = z.object({
  id: z.string(),
  kind: z.enum(INBOX_KINDS),
  queueKey: z.string(),
  dedupeKey: z.string(),
  eventTime: z.date(),
  receivedAt: z.date(),
  attempts: z.number(),
  lastError: z.string().nullable(),
});

type ParkedLean = {
  _id: Types.ObjectId;
  kind: (typeof INBOX_KINDS)[number];
  queueKey: string;
  dedupeKey: string;
  eventTime: Date;
  receivedAt: Date;
  attempts?: number | null;
  lastError?: string | null;
  payload: string;
  state: string;
};

const toParked = (d: ParkedLean) => ({
  id: String(d._id),
  kind: d.kind,
  queueKey: d.queueKey,
  dedupeKey: d.dedupeKey,
  eventTime: d.eventTime,
  receivedAt: d.receivedAt,
  attempts: d.attempts ?? 0,
  lastError: d.lastError ?? null,
});

async function findParkedOr404(pageId: string, id: string): Promise<void> {
  const existing = (await InboxEventModel.findOne(
    { _id: new Types.ObjectId(id), pageId },
    { state: 1 },
  ).lean()) as {
    state: string;
  } | null;
  if (!existing) throw notFound('inbox event', id);
  throw new AdminError(
    'conflict',
    `inbox event ${id} is ${existing.state}, not parked`,
    { id, state: existing.state },
    'not_parked',
  );
}

export const inboxRoutes: AdminRoute[] = [
  route({
    method: 'get',
    path: '/inbox/health',
    tag: TAG,
    summary: 'Inbox backlog by state, events due now, and the oldest pending event',
    role: 'viewer',
    response: z.object({
      counts: z.record(z.enum(INBOX_STATES), z.number()),
      due: z.number(),
      oldestPendingAt: z.date().nullable(),
    }),
    handler: async (ctx) => {
      const pageId = ctx.pageId;
      const counts = await Promise.all(
        INBOX_STATES.map(
          async (state) => [state, await InboxEventModel.countDocuments({ pageId, state })] as const,
        ),
      );
      const due = await InboxEventModel.countDocuments({
        pageId,
        state: 'pending',
        nextAttemptAt: { $lte: ctx.now },
      });
      const oldest = (await InboxEventModel.findOne({ pageId, state: 'pending' }, { receivedAt: 1 })
        .sort({ receivedAt: 1 })
        .lean()) as { receivedAt: Date } | null;
      return {
        counts: Object.fromEntries(counts) as Record<(typeof INBOX_STATES)[number], number>,
        due,
        oldestPendingAt: oldest?.receivedAt ?? null,
      };
    },
  }),

  route({
    method: 'get',
    path: '/inbox/parked',
    tag: TAG,
    summary: 'Parked events with their last error (newest first)',
    role: 'viewer',
    query: z.object({ kind: z.enum(INBOX_KINDS).optional(), ...pageQueryShape }),
    response: pageOf(parkedSchema),
    handler: async (ctx, { query }) => {
      const base: Record<string, unknown> = { pageId: ctx.pageId, state: 'parked' };
      if (query.kind) base.kind = query.kind;
      const docs = (await InboxEventModel.find(afterCursor(base, 'receivedAt', query), { payload: 0 })
        .sort(sortFor('receivedAt'))
        .limit(limitOf(query) + 1)
        .lean()) as unknown as ParkedLean[];
      return pageFrom(docs, query, (d) => d.receivedAt, toParked);
    },
  }),

  route({
    method: 'get',
    path: '/inbox/parked/:id',
    tag: TAG,
    summary: 'One parked event with its raw payload',
    description:
      'The payload is what Meta sent (it may contain message text), so this needs the manager role.',
    role: 'manager',
    params: idParams,
    response: parkedSchema.extend({ state: z.string(), payload: z.string() }),
    handler: async (ctx, { params }) => {
      const doc = (await InboxEventModel.findOne({
        _id: new Types.ObjectId(params.id),
        pageId: ctx.pageId,
      }).lean()) as ParkedLean | null;
      if (!doc) throw notFound('inbox event', params.id);
      return { ...toParked(doc), state: doc.state, payload: doc.payload };
    },
  }),

  route({
    method: 'post',
    path: '/inbox/parked/:id/retry',
    tag: TAG,
    summary: 'Retry a parked event now (attempts start again from zero)',
    role: 'manager',
    params: idParams,
    response: z.object({ id: z.string(), state: z.literal('pending') }),
    handler: async (ctx, { params }) => {
      const res = await InboxEventModel.updateOne(
        { _id: new Types.ObjectId(params.id), pageId: ctx.pageId, state: 'parked' },
        { $set: { state: 'pending', attempts: 0, nextAttemptAt: ctx.now } },
      );
      if (res.matchedCount !== 1) await findParkedOr404(ctx.pageId, params.id);
      await recordAudit(ctx, {
        action: 'inbox.retry',
        target: { type: 'inbox_event', id: params.id },
        before: { state: 'parked' },
        after: { state: 'pending' },
      });
      return { id: params.id, state: 'pending' as const };
    },
  }),

  route({
    method: 'post',
    path: '/inbox/parked/:id/discard',
    tag: TAG,
    summary: 'Discard a parked event (marked skipped; removed after 30 days)',
    role: 'manager',
    params: idParams,
    response: z.object({ id: z.string(), state: z.literal('skipped') }),
    handler: async (ctx, { params }) => {
      const res = await InboxEventModel.updateOne(
        { _id: new Types.ObjectId(params.id), pageId: ctx.pageId, state: 'parked' },
        {
          $set: {
            state: 'skipped',
            doneAt: ctx.now,
            expiresAt: new Date(ctx.now.getTime() + DISCARDED_RETENTION_MS),
          },
        },
      );
      if (res.matchedCount !== 1) await findParkedOr404(ctx.pageId, params.id);
      await recordAudit(ctx, {
        action: 'inbox.discard',
        target: { type: 'inbox_event', id: params.id },
        before: { state: 'parked' },
        after: { state: 'skipped' },
      });
      return { id: params.id, state: 'skipped' as const };
    },
  }),
];

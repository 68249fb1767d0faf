import { Types } from 'mongoose';
import { z } from 'zod';
import {
  getSegment,
  listSegments,
  previewDefinition,
  previewSegment,
  saveSegment,
  type SegmentFailure,
} from '../../app/segments.js';
import { BROADCAST_PURPOSES } from '../../domain/broadcast-state.js';
import { segmentDefinitionSchema } from '../../domain/segment.js';
import { recordAudit } from '../../app/audit.js';
import { AdminError, notFound } from '../errors.js';
import { route, type AdminRoute } from '../http.js';
import { DEFAULT_PAGE_SIZE, pageOf, pageQueryShape } from '../pagination.js';
import { idParams } from '../schemas.js';

const TAG = 'segments';

const segmentSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  definition: z.record(z.string(), z.unknown()),
  createdAt: z.date(),
  lastPreview: z.object({ at: z.date(), size: z.number() }).nullable(),
});

const counts = z.record(z.string(), z.number());
export const previewSchema = z.object({
  size: z.number(),
  reach: counts.describe(
    'window: inside 24 h; optin: Marketing Messages only; updatesOnly: tagged updates only; unreachable',
  ),
  forPurpose: z.object({ purpose: z.string(), wouldSend: z.number(), tagged: z.number(), skipped: counts }),
  optedOut: z.number(),
  byLocale: counts,
  missingCollections: z.array(z.string()),
  notes: z.array(z.string()),
  at: z.date(),
});

export function segmentFailure(f: SegmentFailure, id?: string): AdminError {
  if (f.code === 'segment_not_found') return notFound('segment', id);
  return new AdminError('validation', f.message, 'issues' in f ? { issues: f.issues } : null, f.code);
}

const purposeQuery = z.object({
  purpose: z
    .enum(BROADCAST_PURPOSES)
    .optional()
    .describe('What the reach is computed for (default promotion)'),
});

export const segmentRoutes: AdminRoute[] = [
  route({
    method: 'post',
    path: '/segments',
    tag: TAG,
    summary: 'Save a segment (rules are ANDed; see the schema for every rule type)',
    role: 'manager',
    body: z.object({
      name: z.string().trim().min(1).max(120),
      description: z.string().trim().max(500).optional(),
      definition: segmentDefinitionSchema,
    }),
    response: segmentSchema,
    status: 201,
    handler: async (ctx, { body }) => {
      const res = await saveSegment(ctx, body);
      if (!res.ok) throw segmentFailure(res);
      await recordAudit(ctx, {
        action: 'segment.create',
        target: { type: 'segment', id: res.segment.id },
        after: { name: res.segment.name, rules: res.segment.definition.rules.map((r) => r.type) },
      });
      return res.segment;
    },
  }),

  // Before `/segments/:id` so the literal path wins.
  route({
    method: 'post',
    path: '/segments/preview',
    tag: TAG,
    summary: 'Preview unsaved rules: size and who can be reached now, and how',
    role: 'manager',
    query: purposeQuery,
    body: z.object({ definition: segmentDefinitionSchema }),
    response: previewSchema,
    handler: async (ctx, { body, query }) => previewDefinition(ctx, body.definition, query.purpose),
  }),

  route({
    method: 'get',
    path: '/segments',
    tag: TAG,
    summary: 'Saved segments, newest first',
    role: 'viewer',
    query: z.object({ ...pageQueryShape }),
    response: pageOf(segmentSchema),
    handler: async (ctx, { query }) => {
      const before = query.cursor ? decodeId(query.cursor) : undefined;
      const page = await listSegments(ctx, { limit: query.limit ?? DEFAULT_PAGE_SIZE, before });
      return { items: page.items, nextCursor: page.next ? String(page.next) : null };
    },
  }),

  route({
    method: 'get',
    path: '/segments/:id',
    tag: TAG,
    summary: 'One segment',
    role: 'viewer',
    params: idParams,
    response: segmentSchema,
    handler: async (ctx, { params }) => {
      const s = await getSegment(ctx, params.id);
      if (!s) throw notFound('segment', params.id);
      return s;
    },
  }),

  route({
    method: 'get',
    path: '/segments/:id/reach',
    tag: TAG,
    summary: 'Size and reach now: inside the 24 h window, via an opt-in channel, updates only, unreachable',
    description:
      'Streams the matching fans and asks the messaging policy about each: the counts are what queueing a ' +
      'broadcast would decide now (before the frequency cap).',
    role: 'viewer',
    params: idParams,
    query: purposeQuery,
    response: previewSchema,
    handler: async (ctx, { params, query }) => {
      const res = await previewSegment(ctx, params.id, query.purpose);
      if (!res.ok) throw segmentFailure(res, params.id);
      return res.preview;
    },
  }),
];

/** List cursors are the last item's id (ids grow with time). */
export function decodeId(cursor: string): Types.ObjectId {
  if (!/^[0-9a-f]{24}$/.test(cursor))
    throw new AdminError('validation', 'Invalid cursor', null, 'invalid_cursor');
  return new Types.ObjectId(cursor);
}

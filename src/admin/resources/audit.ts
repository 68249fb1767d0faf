import type { Types } from 'mongoose';
import { z } from 'zod';
import { AUDIT_ACTOR_KINDS, AuditEntryModel } from '../../db/models/audit-entry.js';
import { route, type AdminRoute } from '../http.js';
import { afterCursor, limitOf, pageFrom, pageOf, pageQueryShape, sortFor } from '../pagination.js';

const TAG = 'audit';

const entrySchema = z.object({
  id: z.string(),
  at: z.date(),
  actor: z.object({ kind: z.enum(AUDIT_ACTOR_KINDS), id: z.string(), label: z.string().nullable() }),
  action: z.string(),
  target: z.object({ type: z.string(), id: z.string() }),
  before: z.record(z.string(), z.unknown()).nullable(),
  after: z.record(z.string(), z.unknown()).nullable(),
  requestId: z.string().nullable(),
});

type EntryLean = {
  _id: Types.ObjectId;
  at: Date;
  actor: { kind: (typeof AUDIT_ACTOR_KINDS)[number]; id: string; label?: string | null };
  action: string;
  target: { type: string; id: string };
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
  requestId?: string | null;
};

const word = (max: number) =>
  z
    .string()
    .regex(/^[\w:-]+$/, 'letters, digits, "_", "-" or ":"')
    .max(max);

export const auditRoutes: AdminRoute[] = [
  route({
    method: 'get',
    path: '/audit',
    tag: TAG,
    summary: 'The audit log: who changed what, when (newest first)',
    role: 'manager',
    query: z.object({
      action: z
        .string()
        .regex(/^[\w.-]{1,64}$/)
        .optional()
        .describe('e.g. fan.tag'),
      actorId: word(64).optional(),
      targetType: word(64).optional(),
      targetId: word(128).optional(),
      ...pageQueryShape,
    }),
    response: pageOf(entrySchema),
    handler: async (ctx, { query }) => {
      const base: Record<string, unknown> = { pageId: ctx.pageId };
      if (query.action) base.action = query.action;
      if (query.actorId) base['actor.id'] = query.actorId;
      if (query.targetType) base['target.type'] = query.targetType;
      if (query.targetId) base['target.id'] = query.targetId;
      const docs = (await AuditEntryModel.find(afterCursor(base, 'at', query))
        .sort(sortFor('at'))
        .limit(limitOf(query) + 1)
        .lean()) as EntryLean[];
      return pageFrom(
        docs,
        query,
        (d) => d.at,
        (d) => ({
          id: String(d._id),
          at: d.at,
          actor: { kind: d.actor.kind, id: d.actor.id, label: d.actor.label ?? null },
          action: d.action,
          target: d.target,
          before: d.before ?? null,
          after: d.after ?? null,
          requestId: d.requestId ?? null,
        }),
      );
    },
  }),
];

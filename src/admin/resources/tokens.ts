import { Types } from 'mongoose';
import { z } from 'zod';
import { ApiTokenModel } from '../../db/models/api-token.js';
import type { ManagerRole } from '../../db/models/manager.js';
import { recordAudit } from '../audit.js';
import { createApiToken } from '../auth/tokens.js';
import { notFound } from '../errors.js';
import { route, type AdminRoute } from '../http.js';
import { afterCursor, limitOf, pageFrom, pageOf, pageQueryShape, sortFor } from '../pagination.js';
import { idParams, label, queryBool, role } from '../schemas.js';

const TAG = 'tokens';
const DAY_MS = 24 * 60 * 60 * 1000;

const tokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  role,
  prefix: z.string(),
  createdBy: z.string().nullable(),
  createdAt: z.date(),
  lastUsedAt: z.date().nullable(),
  expiresAt: z.date().nullable(),
  revokedAt: z.date().nullable(),
});

type TokenLike = {
  _id: Types.ObjectId;
  name: string;
  role: ManagerRole;
  prefix: string;
  createdBy?: string | null;
  createdAt: Date;
  lastUsedAt?: Date | null;
  expiresAt?: Date | null;
  revokedAt?: Date | null;
};

const toTokenView = (t: TokenLike) => ({
  id: String(t._id),
  name: t.name,
  role: t.role,
  prefix: t.prefix,
  createdBy: t.createdBy ?? null,
  createdAt: t.createdAt,
  lastUsedAt: t.lastUsedAt ?? null,
  expiresAt: t.expiresAt ?? null,
  revokedAt: t.revokedAt ?? null,
});

export const tokenRoutes: AdminRoute[] = [
  route({
    method: 'get',
    path: '/tokens',
    tag: TAG,
    summary: 'API tokens (never the token itself; newest first)',
    role: 'owner',
    query: z.object({ includeRevoked: queryBool.optional(), ...pageQueryShape }),
    response: pageOf(tokenSchema),
    handler: async (ctx, { query }) => {
      const base: Record<string, unknown> = { pageId: ctx.pageId };
      if (query.includeRevoked === false) base.revokedAt = null;
      const docs = (await ApiTokenModel.find(afterCursor(base, 'createdAt', query), { tokenHash: 0 })
        .sort(sortFor('createdAt'))
        .limit(limitOf(query) + 1)
        .lean()) as TokenLike[];
      return pageFrom(docs, query, (d) => d.createdAt, toTokenView);
    },
  }),

  route({
    method: 'post',
    path: '/tokens',
    tag: TAG,
    summary: 'Create an API token; the response is the only time the token is shown',
    role: 'owner',
    body: z.object({
      name: label(100),
      role,
      expiresInDays: z.number().int().min(1).max(3650).optional(),
    }),
    response: tokenSchema.extend({ token: z.string() }),
    status: 201,
    handler: async (ctx, { body }) => {
      const { token, doc } = await createApiToken({
        pageId: ctx.pageId,
        name: body.name,
        role: body.role,
        createdBy: `${ctx.actor.kind}:${ctx.actor.id}`,
        now: ctx.now,
        expiresAt: body.expiresInDays ? new Date(ctx.now.getTime() + body.expiresInDays * DAY_MS) : undefined,
      });
      await recordAudit(ctx, {
        action: 'token.create',
        target: { type: 'token', id: doc.id },
        after: { role: doc.role, prefix: doc.prefix },
      });
      return { ...toTokenView(doc), token };
    },
  }),

  route({
    method: 'delete',
    path: '/tokens/:id',
    tag: TAG,
    summary: 'Revoke an API token (refused from the next request on; idempotent)',
    role: 'owner',
    params: idParams,
    response: tokenSchema,
    handler: async (ctx, { params }) => {
      const _id = new Types.ObjectId(params.id);
      const before = (await ApiTokenModel.findOne(
        { _id, pageId: ctx.pageId },
        { tokenHash: 0 },
      ).lean()) as TokenLike | null;
      if (!before) throw notFound('token', params.id);
      if (before.revokedAt) return toTokenView(before);
      // Conditional on "not yet revoked": of two concurrent revocations, one records the time and the audit.
      const res = await ApiTokenModel.updateOne(
        { _id, pageId: ctx.pageId, revokedAt: null },
        { $set: { revokedAt: ctx.now, revokedBy: `${ctx.actor.kind}:${ctx.actor.id}` } },
      );
      if (res.modifiedCount === 1) {
        await recordAudit(ctx, {
          action: 'token.revoke',
          target: { type: 'token', id: params.id },
          before: { revoked: false },
          after: { revoked: true },
        });
      }
      return toTokenView({ ...before, revokedAt: ctx.now });
    },
  }),
];

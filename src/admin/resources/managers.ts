import type { Types } from 'mongoose';
import { z } from 'zod';
import { ManagerModel, type ManagerRole } from '../../db/models/manager.js';
import { recordAudit } from '../audit.js';
import { createManager, updateManager } from '../auth/accounts.js';
import { generatePassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../auth/passwords.js';
import { route, type AdminRoute } from '../http.js';
import { afterCursor, limitOf, pageFrom, pageOf, pageQueryShape, sortFor } from '../pagination.js';
import { email, idParams, role } from '../schemas.js';

const TAG = 'managers';

const managerSchema = z.object({
  id: z.string(),
  email: z.string(),
  role,
  disabled: z.boolean(),
  disabledAt: z.date().nullable(),
  lastLoginAt: z.date().nullable(),
  createdAt: z.date(),
});

type ManagerLike = {
  _id: Types.ObjectId;
  email: string;
  role: ManagerRole;
  disabledAt?: Date | null;
  lastLoginAt?: Date | null;
  createdAt: Date;
};

export const toManagerView = (m: ManagerLike) => ({
  id: String(m._id),
  email: m.email,
  role: m.role,
  disabled: Boolean(m.disabledAt),
  disabledAt: m.disabledAt ?? null,
  lastLoginAt: m.lastLoginAt ?? null,
  createdAt: m.createdAt,
});

export const managerRoutes: AdminRoute[] = [
  route({
    method: 'get',
    path: '/managers',
    tag: TAG,
    summary: "The page's manager accounts (newest first)",
    role: 'owner',
    query: z.object(pageQueryShape),
    response: pageOf(managerSchema),
    handler: async (ctx, { query }) => {
      const docs = (await ManagerModel.find(afterCursor({ pageId: ctx.pageId }, 'createdAt', query), {
        passwordHash: 0,
      })
        .sort(sortFor('createdAt'))
        .limit(limitOf(query) + 1)
        .lean()) as ManagerLike[];
      return pageFrom(docs, query, (d) => d.createdAt, toManagerView);
    },
  }),

  route({
    method: 'post',
    path: '/managers',
    tag: TAG,
    summary: 'Create a manager account (a password is generated and shown once if none is given)',
    role: 'owner',
    body: z.object({
      email,
      role,
      password: z.string().min(MIN_PASSWORD_LENGTH).max(MAX_PASSWORD_LENGTH).optional(),
    }),
    response: z.object({ manager: managerSchema, generatedPassword: z.string().nullable() }),
    status: 201,
    handler: async (ctx, { body }) => {
      const generated = body.password === undefined ? generatePassword() : null;
      const manager = await createManager({
        pageId: ctx.pageId,
        email: body.email,
        role: body.role,
        password: body.password ?? generated!,
        createdBy: `${ctx.actor.kind}:${ctx.actor.id}`,
        now: ctx.now,
      });
      await recordAudit(ctx, {
        action: 'manager.create',
        target: { type: 'manager', id: manager.id },
        after: { role: manager.role },
      });
      return { manager: toManagerView(manager), generatedPassword: generated };
    },
  }),

  route({
    method: 'patch',
    path: '/managers/:id',
    tag: TAG,
    summary: "Change a manager's role, or disable/enable the account (disabling ends its sessions)",
    description: 'Refused with 409 `last_owner` when it would leave the page without an active owner.',
    role: 'owner',
    params: idParams,
    body: z
      .object({ role: role.optional(), disabled: z.boolean().optional() })
      .refine((b) => b.role !== undefined || b.disabled !== undefined, 'give role and/or disabled'),
    response: managerSchema,
    handler: async (ctx, { params, body }) => {
      const { before, after } = await updateManager(ctx.pageId, params.id, body, ctx.now);
      await recordAudit(ctx, {
        action: 'manager.update',
        target: { type: 'manager', id: params.id },
        before: { role: before.role, disabled: Boolean(before.disabledAt) },
        after: { role: after.role, disabled: Boolean(after.disabledAt) },
      });
      return toManagerView(after);
    },
  }),
];

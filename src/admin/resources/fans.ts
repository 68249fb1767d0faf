import type { Types } from 'mongoose';
import { z } from 'zod';
import {
  exportFansCsv,
  forgetFan,
  getFan,
  searchFans,
  tagFan,
  untagFan,
  type FanFailure,
  type FanSearch,
} from '../../app/fans.js';
import { recordAudit } from '../audit.js';
import { AdminError, notFound } from '../errors.js';
import { CsvBody, route, type AdminRoute } from '../http.js';
import { decodeCursor, DEFAULT_PAGE_SIZE, encodeCursor, pageOf, pageQueryShape } from '../pagination.js';
import { psid, queryBool, tag } from '../schemas.js';

const TAG = 'fans';

const searchShape = {
  q: z.string().trim().min(1).max(100).optional().describe('Words matched against first and last name'),
  psid: psid.optional(),
  tag: tag.optional(),
  includeForgotten: queryBool.optional().describe('Include anonymised stubs of forgotten fans'),
};

const fanSchema = z.object({
  id: z.string(),
  psid: z.string(),
  firstName: z.string().nullable(),
  lastName: z.string().nullable(),
  locale: z.string(),
  tags: z.array(z.string()),
  interests: z.array(z.string()),
  reachable: z.boolean(),
  marketingOptOut: z.boolean(),
  threadOwner: z.string(),
  firstInteractionAt: z.date(),
  lastInteractionAt: z.date(),
  arrival: z
    .object({ ref: z.string().nullable(), source: z.string().nullable(), at: z.date().nullable() })
    .nullable(),
  optIns: z.array(
    z.object({ channel: z.string(), topic: z.string().nullable(), status: z.string(), createdAt: z.date() }),
  ),
  forgottenAt: z.date().nullable(),
});

const psidParams = z.object({ psid });
const tagsResponse = z.object({ psid: z.string(), tags: z.array(z.string()) });

function failure(f: FanFailure, id: string): AdminError {
  return f.code === 'fan_not_found'
    ? notFound('fan', id)
    : new AdminError('conflict', `fan ${id} has been forgotten`, { psid: id }, f.code);
}

function searchOf(query: FanSearch): FanSearch {
  return { q: query.q, psid: query.psid, tag: query.tag, includeForgotten: query.includeForgotten };
}

export const fanRoutes: AdminRoute[] = [
  // Before `/fans/:psid` so the literal path wins.
  route({
    method: 'get',
    path: '/fans/export.csv',
    tag: TAG,
    summary: 'Export matching fans as CSV (streamed)',
    description:
      'Same filters as the list. Personal data: needs the manager role, and each export is audited.',
    role: 'manager',
    query: z.object(searchShape),
    produces: 'text/csv',
    handler: async (ctx, { query }) => {
      await recordAudit(ctx, {
        action: 'fans.export',
        target: { type: 'fans', id: '*' },
        after: { filter: { ...searchOf(query), q: query.q ? '(name search)' : undefined } },
      });
      const day = ctx.now.toISOString().slice(0, 10);
      return new CsvBody(`fans-${ctx.pageId}-${day}.csv`, exportFansCsv(ctx, searchOf(query)));
    },
  }),

  route({
    method: 'get',
    path: '/fans',
    tag: TAG,
    summary: 'Search fans by name, PSID or tag (most recently active first)',
    role: 'viewer',
    query: z.object({ ...searchShape, ...pageQueryShape }),
    response: pageOf(fanSchema),
    handler: async (ctx, { query }) => {
      let after: { key: Date; id: Types.ObjectId } | undefined;
      if (query.cursor) {
        const c = decodeCursor(query.cursor);
        if (!(c.key instanceof Date))
          throw new AdminError('validation', 'Invalid cursor', null, 'invalid_cursor');
        after = { key: c.key, id: c.id };
      }
      const page = await searchFans(ctx, searchOf(query), { limit: query.limit ?? DEFAULT_PAGE_SIZE, after });
      return { items: page.items, nextCursor: page.next ? encodeCursor(page.next.key, page.next.id) : null };
    },
  }),

  route({
    method: 'get',
    path: '/fans/:psid',
    tag: TAG,
    summary: 'One fan',
    role: 'viewer',
    params: psidParams,
    response: fanSchema,
    handler: async (ctx, { params }) => {
      const fan = await getFan(ctx, params.psid);
      if (!fan) throw notFound('fan', params.psid);
      return fan;
    },
  }),

  route({
    method: 'post',
    path: '/fans/:psid/tags',
    tag: TAG,
    summary: 'Add a tag to a fan (idempotent)',
    role: 'manager',
    params: psidParams,
    body: z.object({ tag }),
    response: tagsResponse,
    handler: async (ctx, { params, body }) => {
      const res = await tagFan(ctx, params.psid, body.tag);
      if (!res.ok) throw failure(res, params.psid);
      await recordAudit(ctx, {
        action: 'fan.tag',
        target: { type: 'fan', id: params.psid },
        before: { tags: res.before },
        after: { tags: res.after },
      });
      return { psid: params.psid, tags: res.after };
    },
  }),

  route({
    method: 'delete',
    path: '/fans/:psid/tags/:tag',
    tag: TAG,
    summary: 'Remove a tag from a fan (idempotent)',
    role: 'manager',
    params: z.object({ psid, tag }),
    response: tagsResponse,
    handler: async (ctx, { params }) => {
      const res = await untagFan(ctx, params.psid, params.tag);
      if (!res.ok) throw failure(res, params.psid);
      await recordAudit(ctx, {
        action: 'fan.untag',
        target: { type: 'fan', id: params.psid },
        before: { tags: res.before },
        after: { tags: res.after },
      });
      return { psid: params.psid, tags: res.after };
    },
  }),

  route({
    method: 'post',
    path: '/fans/:psid/forget',
    tag: TAG,
    summary: 'Forget a fan: delete personal data, keep an anonymised stub (idempotent)',
    description:
      'Deletes names, tags, interests, opt-ins and arrival data. The stub keeps the PSID, locale, ' +
      'interaction times and marketing opt-out so counts stay right and a STOP stays honoured.',
    role: 'manager',
    params: psidParams,
    response: z.object({ psid: z.string(), forgottenAt: z.date(), alreadyForgotten: z.boolean() }),
    handler: async (ctx, { params }) => {
      const res = await forgetFan(ctx, params.psid);
      if (!res.ok) throw failure(res, params.psid);
      if (!res.alreadyForgotten) {
        // No before/after: the audit log must not keep what was just deleted.
        await recordAudit(ctx, { action: 'fan.forget', target: { type: 'fan', id: params.psid } });
      }
      return { psid: params.psid, forgottenAt: res.forgottenAt, alreadyForgotten: res.alreadyForgotten };
    },
  }),
];

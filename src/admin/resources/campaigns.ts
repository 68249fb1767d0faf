import { Types } from 'mongoose';
import { z } from 'zod';
import {
  cancelCampaign,
  createCampaign,
  getCampaign,
  inspectCampaign,
  linkPost,
  openCampaign,
  toCampaignView,
  unlinkPost,
  updateCampaign,
  campaignProgress,
  type CampaignView,
  type GroupBuyContext,
  type ManagerFailure,
} from '../../app/groupbuy.js';
import { CampaignModel } from '../../db/models/campaign.js';
import { CAMPAIGN_STATES } from '../../domain/groupbuy.js';
import { recordAudit } from '../audit.js';
import type { AdminContext } from '../context.js';
import { AdminError, notFound } from '../errors.js';
import { route, type AdminRoute } from '../http.js';
import { afterCursor, limitOf, pageFrom, pageOf, pageQueryShape, sortFor } from '../pagination.js';
import { idParams, label, objectId } from '../schemas.js';

const TAG = 'campaigns';

const sku = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a SKU (letters, digits, "_", "-")');
const slug = z.string().regex(/^[A-Za-z0-9_-]{2,40}$/, 'must be 2–40 letters, digits, "_" or "-"');
const count = z.number().int().min(1).max(1_000_000);
const tier = z.object({
  fromQuantity: z.number().int().min(0).max(1_000_000),
  unitPrice: z.number().int().min(1).max(100_000_000).describe('Minor units (cents)'),
});
const texts = z.object({ title: label(80), description: z.string().max(1000).default('') });
const deadline = z.iso.datetime({ offset: true }).transform((v) => new Date(v));
const postId = z.string().regex(/^[0-9]{1,32}(_[0-9]{1,32})?$/, 'must be a Graph post id');

const createBody = z.object({
  slug,
  productSku: sku,
  variantSku: sku.nullable().default(null).describe('null: any variant of the product'),
  minQuantity: count.describe('Tipping point'),
  maxQuantity: count.nullable().default(null).describe('Batch size (cap); null = uncapped'),
  deadline,
  tiers: z.array(tier).min(1).max(10),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/)
    .optional(),
  perFanLimit: z.number().int().min(1).max(100),
  texts: z.object({ it: texts, en: texts }),
  autoNextBatch: z.boolean().default(false),
});

const updateBody = z.object({
  slug: slug.optional(),
  productSku: sku.optional(),
  variantSku: sku.nullable().optional(),
  minQuantity: count.optional(),
  maxQuantity: count.nullable().optional(),
  deadline: deadline.optional(),
  tiers: z.array(tier).min(1).max(10).optional(),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/)
    .optional(),
  perFanLimit: z.number().int().min(1).max(100).optional(),
  texts: z.object({ it: texts, en: texts }).optional(),
  autoNextBatch: z.boolean().optional(),
  version: z.number().int().min(0).optional().describe('The version you edited; a newer one answers 409'),
});

const campaignSchema = z.object({
  id: z.string(),
  slug: z.string(),
  productSku: z.string(),
  variantSku: z.string().nullable(),
  minQuantity: z.number(),
  maxQuantity: z.number().nullable(),
  deadline: z.date(),
  tiers: z.array(z.object({ fromQuantity: z.number(), unitPrice: z.number() })),
  currency: z.string(),
  perFanLimit: z.number(),
  texts: z.object({
    it: z.object({ title: z.string(), description: z.string() }),
    en: z.object({ title: z.string(), description: z.string() }),
  }),
  state: z.enum(CAMPAIGN_STATES),
  committed: z.number(),
  pledgeCount: z.number(),
  waitlistCount: z.number(),
  openedAt: z.date().nullable(),
  tippedAt: z.date().nullable(),
  closedAt: z.date().nullable(),
  cancelledAt: z.date().nullable(),
  batch: z.object({
    number: z.number(),
    nextCampaignId: z.string().nullable(),
    previousCampaignId: z.string().nullable(),
    autoNextBatch: z.boolean(),
  }),
  linkedPostIds: z.array(z.string()),
  version: z.number(),
  progress: z.object({
    committed: z.number(),
    target: z.number(),
    tipped: z.boolean(),
    toTip: z.number(),
    seatsLeft: z.number().nullable(),
    full: z.boolean(),
    percent: z.number(),
    unitPrice: z.number(),
  }),
});

const pledgeSchema = z.object({
  id: z.string(),
  psid: z.string(),
  quantity: z.number(),
  variantSku: z.string(),
  state: z.string(),
  waitlistPosition: z.number().nullable(),
  source: z.object({ type: z.string(), commentId: z.string().optional(), postId: z.string().optional() }),
  priceAtTipping: z.number().nullable(),
  orderId: z.string().nullable(),
  joinedAt: z.date(),
});

const timeLeftSchema = z.object({
  expired: z.boolean(),
  ms: z.number(),
  unit: z.string(),
  count: z.number(),
});

const inspectionSchema = z.object({
  campaign: campaignSchema,
  tier: z.object({ index: z.number(), unitPrice: z.number() }),
  nextTier: z.object({ fromQuantity: z.number(), unitPrice: z.number(), more: z.number() }).nullable(),
  timeLeft: timeLeftSchema,
  forecast: z.object({
    verdict: z.string(),
    perHour: z.number(),
    hoursElapsed: z.number(),
    hoursLeft: z.number(),
    projected: z.number(),
    needed: z.number(),
    neededPerHour: z.number().nullable(),
  }),
  counted: z.object({
    active: z.number(),
    committed: z.number(),
    waitlisted: z.number(),
    pending: z.number(),
  }),
  pledges: pageOf(pledgeSchema),
  waitlist: z.array(pledgeSchema),
});

function gb(ctx: AdminContext): GroupBuyContext {
  return { pageId: ctx.pageId, now: ctx.now, config: ctx.config };
}

function present(ctx: AdminContext, c: CampaignView) {
  return { ...c, progress: campaignProgress(ctx, c) };
}

/** Ids and small values for the audit log. */
function auditable(c: CampaignView): Record<string, unknown> {
  return {
    slug: c.slug,
    state: c.state,
    productSku: c.productSku,
    variantSku: c.variantSku,
    minQuantity: c.minQuantity,
    maxQuantity: c.maxQuantity,
    deadline: c.deadline.toISOString(),
    tiers: c.tiers,
    perFanLimit: c.perFanLimit,
    autoNextBatch: c.batch.autoNextBatch,
    version: c.version,
  };
}

function failure(f: ManagerFailure, id?: string): AdminError {
  switch (f.code) {
    case 'not_found':
      return notFound('campaign', id);
    case 'invalid':
      return new AdminError(
        'validation',
        `Invalid campaign: ${f.problem}`,
        { problem: f.problem, index: f.index ?? null },
        f.problem,
      );
    case 'slug_taken':
      return new AdminError('conflict', 'Another campaign of this page has that slug', null, 'slug_taken');
    case 'forbidden_transition':
      return new AdminError(
        'conflict',
        `Not allowed while the campaign is ${f.state}`,
        { state: f.state },
        'forbidden_transition',
      );
    case 'version_conflict':
      return new AdminError(
        'conflict',
        'The campaign changed since you read it',
        { version: f.version },
        'version_conflict',
      );
  }
}

async function mustGet(ctx: AdminContext, id: string): Promise<CampaignView> {
  const c = await getCampaign(ctx, id);
  if (!c) throw notFound('campaign', id);
  return c;
}

export const campaignRoutes: AdminRoute[] = [
  route({
    method: 'get',
    path: '/campaigns',
    tag: TAG,
    summary: 'Group buys of the page, newest first',
    role: 'viewer',
    query: z.object({ state: z.enum(CAMPAIGN_STATES).optional(), ...pageQueryShape }),
    response: pageOf(campaignSchema),
    handler: async (ctx, { query }) => {
      const base: Record<string, unknown> = { pageId: ctx.pageId };
      if (query.state) base.state = query.state;
      const docs = await CampaignModel.find(afterCursor(base, 'createdAt', query))
        .sort(sortFor('createdAt'))
        .limit(limitOf(query) + 1)
        .lean<(Parameters<typeof toCampaignView>[0] & { _id: Types.ObjectId; createdAt: Date })[]>();
      return pageFrom(
        docs,
        query,
        (d) => d.createdAt,
        (d) => present(ctx, toCampaignView(d)),
      );
    },
  }),

  route({
    method: 'post',
    path: '/campaigns',
    tag: TAG,
    summary: 'Create a group buy (as a draft)',
    role: 'manager',
    body: createBody,
    response: campaignSchema,
    status: 201,
    handler: async (ctx, { body }) => {
      const res = await createCampaign(gb(ctx), body);
      if (!res.ok) throw failure(res);
      await recordAudit(ctx, {
        action: 'campaign.create',
        target: { type: 'campaign', id: res.campaign.id },
        after: auditable(res.campaign),
      });
      return present(ctx, res.campaign);
    },
  }),

  route({
    method: 'get',
    path: '/campaigns/:id',
    tag: TAG,
    summary: 'One group buy with its progress',
    role: 'viewer',
    params: idParams,
    response: campaignSchema,
    handler: async (ctx, { params }) => present(ctx, await mustGet(ctx, params.id)),
  }),

  route({
    method: 'patch',
    path: '/campaigns/:id',
    tag: TAG,
    summary: 'Edit a draft group buy (open ones are never edited: their deadline never moves)',
    role: 'manager',
    params: idParams,
    body: updateBody,
    response: campaignSchema,
    handler: async (ctx, { params, body }) => {
      const { version, ...patch } = body;
      const res = await updateCampaign(
        gb(ctx),
        params.id,
        patch,
        version !== undefined ? { expectedVersion: version } : {},
      );
      if (!res.ok) throw failure(res, params.id);
      await recordAudit(ctx, {
        action: 'campaign.update',
        target: { type: 'campaign', id: params.id },
        before: auditable(res.before),
        after: auditable(res.campaign),
      });
      return present(ctx, res.campaign);
    },
  }),

  route({
    method: 'post',
    path: '/campaigns/:id/open',
    tag: TAG,
    summary: 'Open a draft group buy to fans',
    role: 'manager',
    params: idParams,
    response: campaignSchema,
    handler: async (ctx, { params }) => {
      const res = await openCampaign(gb(ctx), params.id);
      if (!res.ok) throw failure(res, params.id);
      await recordAudit(ctx, {
        action: 'campaign.open',
        target: { type: 'campaign', id: params.id },
        before: { state: 'draft' },
        after: { state: res.campaign.state, openedAt: res.campaign.openedAt?.toISOString() },
      });
      return present(ctx, res.campaign);
    },
  }),

  route({
    method: 'post',
    path: '/campaigns/:id/cancel',
    tag: TAG,
    summary: 'Cancel an open or tipped group buy: every participant is told once, pledges are released',
    role: 'manager',
    params: idParams,
    response: z.object({
      campaign: campaignSchema,
      released: z.number(),
      notified: z.number(),
      already: z.boolean(),
    }),
    handler: async (ctx, { params }) => {
      const before = await mustGet(ctx, params.id);
      const res = await cancelCampaign(gb(ctx), params.id);
      if (!res.ok) throw failure(res, params.id);
      if (!res.already) {
        await recordAudit(ctx, {
          action: 'campaign.cancel',
          target: { type: 'campaign', id: params.id },
          before: { state: before.state, committed: before.committed, pledgeCount: before.pledgeCount },
          after: { state: 'cancelled', released: res.released, notified: res.notified },
        });
      }
      return {
        campaign: present(ctx, res.campaign),
        released: res.released,
        notified: res.notified,
        already: res.already,
      };
    },
  }),

  route({
    method: 'get',
    path: '/campaigns/:id/inspect',
    tag: TAG,
    summary: 'Pledges (paged by cursor), waitlist, tier, time left and the pace forecast',
    role: 'viewer',
    params: idParams,
    query: z.object(pageQueryShape),
    response: inspectionSchema,
    handler: async (ctx, { params, query }) => {
      let after: string | undefined;
      if (query.cursor) {
        const decoded = Buffer.from(query.cursor, 'base64url').toString('utf8');
        if (!objectId.safeParse(decoded).success)
          throw new AdminError('validation', 'Invalid cursor', null, 'invalid_cursor');
        after = decoded;
      }
      const seen = await inspectCampaign(gb(ctx), params.id, { after, limit: limitOf(query) });
      if (!seen) throw notFound('campaign', params.id);
      const next = seen.progress.next;
      return {
        campaign: present(ctx, seen.campaign),
        tier: seen.tier,
        nextTier: next ? { ...next.tier, more: next.more } : null,
        timeLeft: seen.timeLeft,
        forecast: {
          ...seen.forecast,
          neededPerHour: Number.isFinite(seen.forecast.neededPerHour) ? seen.forecast.neededPerHour : null,
        },
        counted: seen.counted,
        pledges: {
          items: seen.pledges,
          nextCursor: seen.nextCursor ? Buffer.from(seen.nextCursor).toString('base64url') : null,
        },
        waitlist: seen.waitlist,
      };
    },
  }),

  route({
    method: 'post',
    path: '/campaigns/:id/posts',
    tag: TAG,
    summary: 'Link a Page post to the group buy (comments under it are about this campaign)',
    role: 'manager',
    params: idParams,
    body: z.object({
      postId,
      message: z.string().max(5000).optional(),
      imageUrl: z.url().max(2000).nullable().optional(),
    }),
    response: campaignSchema,
    handler: async (ctx, { params, body }) => {
      const res = await linkPost(gb(ctx), params.id, body);
      if (!res.ok) throw failure(res, params.id);
      await recordAudit(ctx, {
        action: 'campaign.link_post',
        target: { type: 'campaign', id: params.id },
        after: { postId: body.postId },
      });
      return present(ctx, res.campaign);
    },
  }),

  route({
    method: 'delete',
    path: '/campaigns/:id/posts/:postId',
    tag: TAG,
    summary: 'Unlink a Page post from the group buy',
    role: 'manager',
    params: z.object({ id: objectId, postId }),
    response: campaignSchema,
    handler: async (ctx, { params }) => {
      const res = await unlinkPost(gb(ctx), params.id, params.postId);
      if (!res.ok) throw failure(res, params.id);
      if (res.wasLinked) {
        await recordAudit(ctx, {
          action: 'campaign.unlink_post',
          target: { type: 'campaign', id: params.id },
          before: { postId: params.postId },
        });
      }
      return present(ctx, res.campaign);
    },
  }),
];

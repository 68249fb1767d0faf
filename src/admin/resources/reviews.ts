import type { Types } from 'mongoose';
import { z } from 'zod';
import { ratingSummary, buyersCount, setReviewHidden, toReviewView } from '../../app/reviews.js';
import { socialProofFor } from '../../app/social-proof.js';
import { ReviewModel, type ReviewDoc } from '../../db/models/review.js';
import { notFound } from '../errors.js';
import { route, type AdminRoute } from '../http.js';
import { afterCursor, limitOf, pageFrom, pageOf, pageQueryShape, sortFor } from '../pagination.js';
import { idParams, label, queryBool } from '../schemas.js';

const TAG = 'reviews';
const sku = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a SKU (letters, digits, "_", "-")');

const reviewSchema = z.object({
  id: z.string(),
  productSku: z.string(),
  orderId: z.string(),
  psid: z.string(),
  stars: z.number(),
  text: z.string(),
  showName: z.boolean(),
  hidden: z.boolean(),
  hiddenBy: z.string().nullable(),
  hiddenAt: z.date().nullable(),
  hiddenReason: z.string().nullable(),
  createdAt: z.date(),
});

export const reviewRoutes: AdminRoute[] = [
  route({
    method: 'get',
    path: '/reviews',
    tag: TAG,
    summary: 'Verified ratings and comments of buyers, newest first (filter by product, hidden)',
    role: 'viewer',
    query: z.object({ productSku: sku.optional(), hidden: queryBool.optional(), ...pageQueryShape }),
    response: pageOf(reviewSchema),
    handler: async (ctx, { query }) => {
      const base: Record<string, unknown> = { pageId: ctx.pageId };
      if (query.productSku) base.productSku = query.productSku;
      if (query.hidden !== undefined) base.hidden = query.hidden;
      const docs = await ReviewModel.find(afterCursor(base, 'createdAt', query))
        .sort(sortFor('createdAt'))
        .limit(limitOf(query) + 1)
        .lean<(ReviewDoc & { _id: Types.ObjectId })[]>();
      return pageFrom(docs, query, (d) => d.createdAt, toReviewView);
    },
  }),

  route({
    method: 'get',
    path: '/reviews/products/:sku',
    tag: TAG,
    summary: 'A product’s ratings: average and count of verified buyers, buyers, and the social-proof line',
    role: 'viewer',
    params: z.object({ sku }),
    response: z.object({
      productSku: z.string(),
      count: z.number(),
      average: z.number().nullable(),
      distribution: z.record(z.string(), z.number()),
      buyers: z.number(),
      proof: z.object({ it: z.string().nullable(), en: z.string().nullable() }),
    }),
    handler: async (ctx, { params }) => {
      const summary = await ratingSummary(ctx, params.sku);
      const rows = await ReviewModel.aggregate<{ _id: number; n: number }>([
        { $match: { pageId: ctx.pageId, productSku: params.sku } },
        { $group: { _id: '$stars', n: { $sum: 1 } } },
      ]);
      const distribution: Record<string, number> = { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 };
      for (const r of rows) distribution[String(r._id)] = r.n;
      return {
        productSku: params.sku,
        count: summary.count,
        average: summary.average,
        distribution,
        buyers: await buyersCount(ctx, params.sku),
        proof: {
          it: (await socialProofFor(ctx, params.sku, 'it')).text,
          en: (await socialProofFor(ctx, params.sku, 'en')).text,
        },
      };
    },
  }),

  route({
    method: 'post',
    path: '/reviews/:id/hide',
    tag: TAG,
    summary: 'Hide an abusive text (the stars still count and are never edited); audited',
    role: 'manager',
    params: idParams,
    body: z.object({ reason: label(200) }),
    response: z.object({ review: reviewSchema, changed: z.boolean() }),
    handler: async (ctx, { params, body }) => {
      const res = await setReviewHidden(ctx, params.id, true, body.reason);
      if (!res.ok) throw notFound('review', params.id);
      return { review: res.review, changed: res.changed };
    },
  }),

  route({
    method: 'post',
    path: '/reviews/:id/unhide',
    tag: TAG,
    summary: 'Show a hidden text again; audited',
    role: 'manager',
    params: idParams,
    response: z.object({ review: reviewSchema, changed: z.boolean() }),
    handler: async (ctx, { params }) => {
      const res = await setReviewHidden(ctx, params.id, false);
      if (!res.ok) throw notFound('review', params.id);
      return { review: res.review, changed: res.changed };
    },
  }),
];

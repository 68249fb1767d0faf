import { Readable } from 'node:stream';
import type { Types } from 'mongoose';
import { z } from 'zod';
import { recordAudit } from '../../app/audit.js';
import {
  getProduct,
  searchWords,
  toProductView,
  upsertProduct,
  type ProductInput,
  type ProductView,
} from '../../app/catalog.js';
import { importCatalog, skuSchema } from '../../app/catalog-import.js';
import { ProductModel } from '../../db/models/product.js';
import { isCurrency } from '../../domain/money.js';
import { AdminError, conflict, notFound } from '../errors.js';
import { route, type AdminRoute } from '../http.js';
import { afterCursor, limitOf, pageFrom, pageOf, pageQueryShape, sortFor } from '../pagination.js';
import { queryBool } from '../schemas.js';

/**
 * The catalogue for managers: list (cursor), get, create, update price / stock per variant / active,
 * and import (the CLI's importer and its per-line report). Every change is audited.
 */

const TAG = 'products';

const cents = z.number().int('must be an integer number of minor units').min(0).max(100_000_000);
const stock = z.number().int('must be a whole number').min(0).max(1_000_000);
const plainText = (max: number) =>
  z
    .string()
    .trim()
    .max(max)
    .refine(
      (v) => ![...v].some((c) => c.charCodeAt(0) < 0x20 && c !== '\n'),
      'must not contain control characters',
    );
const localizedInput = z.object({ it: plainText(200).min(1), en: plainText(200).optional() });

const productBody = z.object({
  sku: skuSchema,
  category: z.object({
    slug: z.string().regex(/^[a-z0-9-]{1,40}$/, 'must be 1–40 lower-case letters, digits or "-"'),
    name: localizedInput.strict(),
  }),
  title: localizedInput.strict(),
  description: z
    .object({ it: plainText(2000), en: plainText(2000).optional() })
    .strict()
    .optional(),
  images: z
    .array(
      z
        .string()
        .max(2000)
        .regex(/^(https?:\/\/|\/(?!\/))\S+$/, 'must be an http(s) URL or a path starting with "/"'),
    )
    .max(10)
    .optional(),
  price: z
    .object({
      amount: cents,
      currency: z.string().refine(isCurrency, 'must be an ISO 4217 currency code such as EUR'),
    })
    .strict(),
  variants: z
    .array(
      z
        .object({
          sku: skuSchema,
          size: plainText(20).optional(),
          colour: plainText(30).optional(),
          stock,
          priceOverride: cents.optional(),
        })
        .strict(),
    )
    .min(1)
    .max(100),
  active: z.boolean().optional(),
  tags: z
    .array(
      z
        .string()
        .trim()
        .regex(/^[\p{L}\p{N}][\p{L}\p{N} _-]{0,39}$/u),
    )
    .max(30)
    .optional(),
});

const updateBody = z
  .object({
    price: z.object({ amount: cents }).strict().optional().describe('New product price (same currency)'),
    active: z.boolean().optional(),
    variants: z
      .array(
        z
          .object({
            sku: skuSchema,
            stock: stock.optional().describe('Units on hand, set (not added)'),
            priceOverride: cents.nullable().optional().describe('null removes the override'),
          })
          .strict(),
      )
      .max(100)
      .optional(),
  })
  .refine(
    (b) => b.price !== undefined || b.active !== undefined || (b.variants?.length ?? 0) > 0,
    'nothing to change',
  );

const importBody = z.object({
  format: z.enum(['csv', 'json']),
  content: z
    .string()
    .min(1)
    .max(30_000)
    .describe('The file as text (≤ 30,000 characters here; use the CLI for more)'),
  dryRun: z.boolean().optional(),
});

const localizedOut = z.object({ it: z.string(), en: z.string() });
const productSchema = z.object({
  id: z.string(),
  sku: z.string(),
  category: z.object({ slug: z.string(), name: localizedOut }),
  title: localizedOut,
  description: localizedOut,
  images: z.array(z.string()),
  price: z.object({ amount: z.number(), currency: z.string() }),
  variants: z.array(
    z.object({
      sku: z.string(),
      size: z.string().nullable(),
      colour: z.string().nullable(),
      stock: z.number(),
      priceOverride: z.number().nullable(),
    }),
  ),
  active: z.boolean(),
  tags: z.array(z.string()),
  updatedAt: z.date().nullable(),
});

const reportSchema = z.object({
  dryRun: z.boolean(),
  created: z.number(),
  updated: z.number(),
  unchanged: z.number(),
  rejected: z.number(),
  issues: z.array(z.object({ line: z.number(), sku: z.string().nullable(), reasons: z.array(z.string()) })),
  issuesTruncated: z.boolean(),
});

function out(p: ProductView): z.input<typeof productSchema> {
  return {
    id: p.id,
    sku: p.sku,
    category: p.category,
    title: p.title,
    description: p.description,
    images: [...p.images],
    price: p.price,
    variants: p.variants.map((v) => ({
      sku: v.sku,
      size: v.size ?? null,
      colour: v.colour ?? null,
      stock: v.stock,
      priceOverride: v.priceOverride ?? null,
    })),
    active: p.active,
    tags: [...p.tags],
    updatedAt: p.updatedAt ?? null,
  };
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const skuParams = z.object({ sku: skuSchema });

/** What the audit log keeps of a product: prices, stock and state — small values only. */
function auditShape(p: ProductView): Record<string, unknown> {
  return {
    price: p.price.amount,
    active: p.active,
    variants: p.variants.map((v) => ({ sku: v.sku, stock: v.stock, priceOverride: v.priceOverride ?? null })),
  };
}

export const productRoutes: AdminRoute[] = [
  route({
    method: 'get',
    path: '/products',
    tag: TAG,
    summary: 'List products (newest first), by category, active flag or words',
    role: 'viewer',
    query: z.object({
      category: z
        .string()
        .regex(/^[a-z0-9-]{1,40}$/)
        .optional(),
      active: queryBool.optional(),
      q: z
        .string()
        .trim()
        .min(1)
        .max(100)
        .optional()
        .describe('Words matched against titles, category and tags'),
      ...pageQueryShape,
    }),
    response: pageOf(productSchema),
    handler: async (ctx, { query }) => {
      const filter: Record<string, unknown> = { pageId: ctx.pageId };
      if (query.category) filter['category.slug'] = query.category;
      if (query.active !== undefined) filter.active = query.active;
      const words = query.q ? searchWords(query.q) : [];
      if (words.length > 0)
        filter.$and = words.map((w) => ({ searchText: { $regex: `(^| )${escapeRegex(w)}` } }));
      const docs = await ProductModel.find(afterCursor(filter, 'createdAt', query))
        .sort(sortFor('createdAt'))
        .limit(limitOf(query) + 1)
        .lean<(Parameters<typeof toProductView>[0] & { _id: Types.ObjectId; createdAt: Date })[]>();
      return pageFrom(
        docs,
        query,
        (d) => d.createdAt,
        (d) => out(toProductView(d)),
      );
    },
  }),

  route({
    method: 'get',
    path: '/products/:sku',
    tag: TAG,
    summary: 'One product',
    role: 'viewer',
    params: skuParams,
    response: productSchema,
    handler: async (ctx, { params }) => {
      const p = await getProduct(ctx, params.sku);
      if (!p) throw notFound('product', params.sku);
      return out(p);
    },
  }),

  route({
    method: 'post',
    path: '/products',
    tag: TAG,
    summary: 'Create a product (409 if the SKU or one of its variant SKUs is taken)',
    role: 'manager',
    body: productBody,
    response: productSchema,
    status: 201,
    handler: async (ctx, { body }) => {
      const seen = new Set<string>();
      for (const v of body.variants) {
        if (seen.has(v.sku))
          throw new AdminError('validation', `variant SKU ${v.sku} appears twice`, null, 'duplicate_variant');
        seen.add(v.sku);
      }
      if (await getProduct(ctx, body.sku))
        throw conflict(`product ${body.sku} already exists`, null, 'product_exists');
      const taken = await ProductModel.findOne(
        { pageId: ctx.pageId, 'variants.sku': { $in: [...seen] } },
        { sku: 1 },
      ).lean<{ sku: string }>();
      if (taken)
        throw conflict(`a variant SKU already belongs to product ${taken.sku}`, null, 'variant_taken');
      const input: ProductInput = {
        sku: body.sku,
        category: {
          slug: body.category.slug,
          name: { it: body.category.name.it, en: body.category.name.en || body.category.name.it },
        },
        title: { it: body.title.it, en: body.title.en ?? '' },
        description: { it: body.description?.it ?? '', en: body.description?.en ?? '' },
        images: body.images ?? [],
        price: { amount: body.price.amount, currency: body.price.currency },
        variants: body.variants.map((v) => ({
          sku: v.sku,
          size: v.size || undefined,
          colour: v.colour || undefined,
          stock: v.stock,
          priceOverride: v.priceOverride,
        })),
        active: body.active ?? true,
        tags: body.tags ?? [],
      };
      await upsertProduct(ctx, input);
      const created = await getProduct(ctx, body.sku);
      if (!created) throw new AdminError('internal', 'product vanished after creation');
      await recordAudit(ctx, {
        action: 'product.create',
        target: { type: 'product', id: body.sku },
        after: auditShape(created),
      });
      return out(created);
    },
  }),

  route({
    method: 'patch',
    path: '/products/:sku',
    tag: TAG,
    summary: 'Change the price, the stock or price of variants, or the active flag',
    description:
      'Stock is set, not added: a checkout that took units a moment before is overwritten by the count you send.',
    role: 'manager',
    params: skuParams,
    body: updateBody,
    response: productSchema,
    handler: async (ctx, { params, body }) => {
      const before = await getProduct(ctx, params.sku);
      if (!before) throw notFound('product', params.sku);
      const known = new Set(before.variants.map((v) => v.sku));
      const unknown = (body.variants ?? []).filter((v) => !known.has(v.sku)).map((v) => v.sku);
      if (unknown.length > 0) {
        throw new AdminError(
          'validation',
          `unknown variant SKU(s): ${unknown.join(', ')}`,
          { unknown },
          'unknown_variant',
        );
      }
      // One atomic update for the product's own fields, then one per variant (each on its own path).
      const own: Record<string, unknown> = {};
      if (body.price) own['price.amount'] = body.price.amount;
      if (body.active !== undefined) own.active = body.active;
      const where = { pageId: ctx.pageId, sku: params.sku };
      if (Object.keys(own).length > 0)
        await ProductModel.updateOne(where, { $set: own }, { runValidators: true });
      for (const v of body.variants ?? []) {
        const arrayFilters = [{ 'v.sku': v.sku }];
        const set: Record<string, number> = {};
        if (v.stock !== undefined) set['variants.$[v].stock'] = v.stock;
        if (typeof v.priceOverride === 'number') set['variants.$[v].priceOverride'] = v.priceOverride;
        if (Object.keys(set).length > 0) await ProductModel.updateOne(where, { $set: set }, { arrayFilters });
        if (v.priceOverride === null) {
          await ProductModel.updateOne(
            where,
            { $unset: { 'variants.$[v].priceOverride': '' } },
            { arrayFilters },
          );
        }
      }
      const after = await getProduct(ctx, params.sku);
      if (!after) throw notFound('product', params.sku);
      await recordAudit(ctx, {
        action: 'product.update',
        target: { type: 'product', id: params.sku },
        before: auditShape(before),
        after: auditShape(after),
      });
      return out(after);
    },
  }),

  route({
    method: 'post',
    path: '/products/import',
    tag: TAG,
    summary: 'Import a catalogue file (CSV or JSON, as the CLI does); returns the per-line report',
    description:
      'Products are upserted by SKU (a second identical import changes nothing). A product with any bad ' +
      'line is not imported. `dryRun` reports without writing.',
    role: 'manager',
    body: importBody,
    response: reportSchema,
    handler: async (ctx, { body }) => {
      const report = await importCatalog(ctx, Readable.from([body.content]), {
        format: body.format,
        dryRun: body.dryRun ?? false,
      });
      await recordAudit(ctx, {
        action: 'products.import',
        target: { type: 'products', id: '*' },
        after: {
          format: body.format,
          dryRun: report.dryRun,
          created: report.created,
          updated: report.updated,
          unchanged: report.unchanged,
          rejected: report.rejected,
        },
      });
      return {
        ...report,
        issues: report.issues.map((i) => ({ line: i.line, sku: i.sku ?? null, reasons: [...i.reasons] })),
      };
    },
  }),
];

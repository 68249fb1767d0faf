import { ProductModel } from '../db/models/product.js';
import type { Locale } from '../config/index.js';
import { money, type Money } from '../domain/money.js';
import { normalizeText } from '../domain/text-match.js';

/**
 * The catalogue: categories, products with variants and stock, search. Stock only ever changes by a
 * conditional single-document update, so it can never go below zero at any concurrency.
 */

export interface CatalogContext {
  readonly pageId: string;
}

export interface LocalizedText {
  readonly it: string;
  readonly en: string;
}

export interface VariantView {
  readonly sku: string;
  readonly size: string | undefined;
  readonly colour: string | undefined;
  readonly stock: number;
  /** Unit price in the product's currency when it differs from the product's price. */
  readonly priceOverride: number | undefined;
}

/** What the importer and the admin API write. */
export interface ProductInput {
  readonly sku: string;
  readonly category: { readonly slug: string; readonly name: LocalizedText };
  readonly title: LocalizedText;
  readonly description: LocalizedText;
  readonly images: readonly string[];
  readonly price: Money;
  readonly variants: readonly VariantView[];
  readonly active: boolean;
  readonly tags: readonly string[];
}

export interface ProductView extends ProductInput {
  readonly id: string;
  readonly updatedAt: Date | undefined;
}

export interface CategoryView {
  readonly slug: string;
  readonly name: LocalizedText;
  readonly products: number;
}

/** The text in the fan's language, else the other one. */
export function localized(text: LocalizedText | undefined, locale: Locale): string {
  if (!text) return '';
  return (locale === 'en' ? text.en || text.it : text.it || text.en) ?? '';
}

export function productSearchText(p: Pick<ProductInput, 'sku' | 'title' | 'category' | 'tags'>): string {
  return normalizeText(
    [p.title.it, p.title.en, p.category.name.it, p.category.name.en, p.category.slug, ...p.tags, p.sku].join(
      ' ',
    ),
  );
}

export function variantPrice(
  product: Pick<ProductInput, 'price'>,
  variant: Pick<VariantView, 'priceOverride'>,
): Money {
  return money(variant.priceOverride ?? product.price.amount, product.price.currency);
}

/** "M · Blu" — size and colour, whichever the variant has. */
export function variantLabel(variant: Pick<VariantView, 'size' | 'colour' | 'sku'>): string {
  const parts = [variant.size, variant.colour].filter((x): x is string => !!x);
  return parts.length > 0 ? parts.join(' · ') : variant.sku;
}

interface ProductDoc {
  _id: unknown;
  sku: string;
  category?: { slug?: string | null; name?: { it?: string | null; en?: string | null } | null } | null;
  title?: { it?: string | null; en?: string | null } | null;
  description?: { it?: string | null; en?: string | null } | null;
  images?: string[] | null;
  price?: { amount?: number | null; currency?: string | null } | null;
  variants?:
    | {
        sku: string;
        size?: string | null;
        colour?: string | null;
        stock: number;
        priceOverride?: number | null;
      }[]
    | null;
  active?: boolean | null;
  tags?: string[] | null;
  updatedAt?: Date | null;
}

const text = (t: { it?: string | null; en?: string | null } | null | undefined): LocalizedText => ({
  it: t?.it ?? '',
  en: t?.en ?? '',
});

export function toProductView(doc: ProductDoc): ProductView {
  return {
    id: String(doc._id),
    sku: doc.sku,
    category: { slug: doc.category?.slug ?? '', name: text(doc.category?.name) },
    title: text(doc.title),
    description: text(doc.description),
    images: [...(doc.images ?? [])],
    price: money(doc.price?.amount ?? 0, doc.price?.currency ?? 'EUR'),
    variants: (doc.variants ?? []).map((v) => ({
      sku: v.sku,
      size: v.size ?? undefined,
      colour: v.colour ?? undefined,
      stock: v.stock,
      priceOverride: v.priceOverride ?? undefined,
    })),
    active: doc.active ?? true,
    tags: [...(doc.tags ?? [])],
    updatedAt: doc.updatedAt ?? undefined,
  };
}

/** Categories that have at least one active product, by slug. */
export async function listCategories(ctx: CatalogContext): Promise<CategoryView[]> {
  const rows = await ProductModel.aggregate<{
    _id: string;
    name: { it?: string; en?: string };
    products: number;
  }>([
    { $match: { pageId: String(ctx.pageId), active: true } },
    { $group: { _id: '$category.slug', name: { $first: '$category.name' }, products: { $sum: 1 } } },
    { $sort: { _id: 1 } },
  ]);
  return rows.map((r) => ({ slug: r._id, name: text(r.name), products: r.products }));
}

export interface ProductPage {
  readonly items: ProductView[];
  /** Pass as `after` for the next page; undefined on the last page. */
  readonly next: string | undefined;
}

/** Active products of a category in SKU order, `limit` at a time, continuing after the SKU `after`. */
export async function listProducts(
  ctx: CatalogContext,
  query: { readonly category: string; readonly after?: string | undefined; readonly limit: number },
): Promise<ProductPage> {
  const filter: Record<string, unknown> = {
    pageId: String(ctx.pageId),
    'category.slug': String(query.category),
    active: true,
  };
  if (query.after) filter.sku = { $gt: String(query.after) };
  const docs = await ProductModel.find(filter)
    .sort({ sku: 1 })
    .limit(query.limit + 1)
    .lean<ProductDoc[]>();
  const more = docs.length > query.limit;
  const items = docs.slice(0, query.limit).map(toProductView);
  return { items, next: more ? items[items.length - 1]?.sku : undefined };
}

export async function getProduct(ctx: CatalogContext, sku: string): Promise<ProductView | undefined> {
  const doc = await ProductModel.findOne({ pageId: String(ctx.pageId), sku: String(sku) }).lean<ProductDoc>();
  return doc ? toProductView(doc) : undefined;
}

export async function findVariant(
  ctx: CatalogContext,
  variantSku: string,
): Promise<{ product: ProductView; variant: VariantView } | undefined> {
  const doc = await ProductModel.findOne({
    pageId: String(ctx.pageId),
    'variants.sku': String(variantSku),
  }).lean<ProductDoc>();
  if (!doc) return undefined;
  const product = toProductView(doc);
  const variant = product.variants.find((v) => v.sku === variantSku);
  return variant ? { product, variant } : undefined;
}

/** Words too common to narrow a search ("cerco dei jeans" → "jeans"). */
const STOP_WORDS = new Set(
  (
    'il lo la i gli le un uno una di del della dei delle da in con per su che e o ' +
    'cerco cerca voglio vorrei mi ti avete hai ce qualcosa ' +
    'the a an of for in on with and or i want would like do you have some any search find looking'
  ).split(' '),
);

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The significant words of a query, normalised (case and accents ignored); at most 6. */
export function searchWords(query: string): string[] {
  return normalizeText(query)
    .split(' ')
    .filter((w) => w.length > 0 && !STOP_WORDS.has(w))
    .slice(0, 6);
}

/**
 * Active products whose titles, category names or tags contain every word of the query (each as the
 * start of a word: "jean" finds "jeans", "ean" does not). Case and accents are ignored.
 */
export async function searchProducts(
  ctx: CatalogContext,
  query: string,
  opts: { readonly limit: number },
): Promise<ProductView[]> {
  const words = searchWords(query);
  if (words.length === 0) return [];
  const docs = await ProductModel.find({
    pageId: String(ctx.pageId),
    active: true,
    $and: words.map((w) => ({ searchText: { $regex: `(^| )${escapeRegex(w)}` } })),
  })
    .sort({ sku: 1 })
    .limit(opts.limit)
    .lean<ProductDoc[]>();
  return docs.map(toProductView);
}

/**
 * Takes `qty` units of a variant if (and only if) that many are in stock: one conditional atomic
 * update on the product document. Returns false when there were not enough.
 */
export async function decrementStock(ctx: CatalogContext, variantSku: string, qty: number): Promise<boolean> {
  if (!Number.isSafeInteger(qty) || qty <= 0)
    throw new RangeError(`quantity must be a positive integer: ${qty}`);
  const res = await ProductModel.updateOne(
    {
      pageId: String(ctx.pageId),
      variants: { $elemMatch: { sku: String(variantSku), stock: { $gte: qty } } },
    },
    { $inc: { 'variants.$[v].stock': -qty } },
    { arrayFilters: [{ 'v.sku': String(variantSku) }] },
  );
  return res.modifiedCount === 1;
}

/** Gives units back (a compensation after a failed checkout, a cancelled order). */
export async function restoreStock(ctx: CatalogContext, variantSku: string, qty: number): Promise<boolean> {
  if (!Number.isSafeInteger(qty) || qty <= 0)
    throw new RangeError(`quantity must be a positive integer: ${qty}`);
  const res = await ProductModel.updateOne(
    { pageId: String(ctx.pageId), 'variants.sku': String(variantSku) },
    { $inc: { 'variants.$[v].stock': qty } },
    { arrayFilters: [{ 'v.sku': String(variantSku) }] },
  );
  return res.modifiedCount === 1;
}

/** The stored shape of an input, in a fixed key order (so two versions compare as JSON). */
function storedFields(input: ProductInput): Record<string, unknown> {
  return {
    category: { slug: input.category.slug, name: { it: input.category.name.it, en: input.category.name.en } },
    title: { it: input.title.it, en: input.title.en },
    description: { it: input.description.it, en: input.description.en },
    images: [...input.images],
    price: { amount: input.price.amount, currency: input.price.currency },
    variants: input.variants.map((v) => ({
      sku: v.sku,
      ...(v.size ? { size: v.size } : {}),
      ...(v.colour ? { colour: v.colour } : {}),
      stock: v.stock,
      ...(v.priceOverride !== undefined ? { priceOverride: v.priceOverride } : {}),
    })),
    active: input.active,
    tags: [...input.tags],
    searchText: productSearchText(input),
  };
}

export type UpsertOutcome = 'created' | 'updated' | 'unchanged';

/**
 * Creates or replaces a product by SKU. Writing the same input twice changes nothing the second
 * time (`unchanged`, no write). With `dryRun`, reports what would happen without writing.
 */
export async function upsertProduct(
  ctx: CatalogContext,
  input: ProductInput,
  opts: { readonly dryRun?: boolean } = {},
): Promise<UpsertOutcome> {
  const wanted = storedFields(input);
  const existing = await ProductModel.findOne({
    pageId: String(ctx.pageId),
    sku: String(input.sku),
  }).lean<ProductDoc>();
  if (existing) {
    const current = storedFields(toProductView(existing));
    if (JSON.stringify(current) === JSON.stringify(wanted)) return 'unchanged';
    if (!opts.dryRun) {
      await ProductModel.updateOne({ _id: existing._id }, { $set: wanted }, { runValidators: true });
    }
    return 'updated';
  }
  if (!opts.dryRun) {
    await ProductModel.create({ pageId: String(ctx.pageId), sku: input.sku, ...wanted });
  }
  return 'created';
}

export async function countProducts(ctx: CatalogContext): Promise<number> {
  return ProductModel.countDocuments({ pageId: String(ctx.pageId) });
}

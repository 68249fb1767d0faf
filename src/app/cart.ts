import { CartModel } from '../db/models/cart.js';
import { add, multiply, zero, type Money } from '../domain/money.js';
import {
  findVariant,
  variantPrice,
  type CatalogContext,
  type ProductView,
  type VariantView,
} from './catalog.js';

/**
 * The fan's cart: one open cart per fan per page, stored in MongoDB so it survives conversations and
 * restarts. Every change is one atomic update on the cart document. Stock is checked when a line is
 * added or changed (and again, authoritatively, at checkout); prices are always today's.
 */

export interface CartContext extends CatalogContext {
  readonly psid: string;
  readonly now: Date;
}

/** Most units of one variant in a cart. */
export const MAX_LINE_QTY = 10;

export type CartFailure =
  | { readonly ok: false; readonly code: 'not_found' }
  | { readonly ok: false; readonly code: 'out_of_stock'; readonly available: number }
  | { readonly ok: false; readonly code: 'too_many'; readonly max: number };

export type CartResult = { readonly ok: true; readonly qty: number } | CartFailure;

const DUPLICATE_KEY = 11000;

async function openCartId(ctx: CartContext): Promise<unknown> {
  const filter = { pageId: String(ctx.pageId), psid: String(ctx.psid), status: 'open' as const };
  try {
    const cart = await CartModel.findOneAndUpdate(
      filter,
      { $setOnInsert: { lines: [] } },
      { upsert: true, returnDocument: 'after', projection: { _id: 1 } },
    ).lean();
    return cart!._id;
  } catch (error) {
    // Two first adds at once: the partial unique index let one create it; use that one.
    if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
    const cart = await CartModel.findOne(filter, { _id: 1 }).lean();
    if (!cart) throw error;
    return cart._id;
  }
}

async function currentQty(ctx: CartContext, sku: string): Promise<number> {
  const cart = await CartModel.findOne(
    { pageId: String(ctx.pageId), psid: String(ctx.psid), status: 'open' },
    { lines: 1 },
  ).lean();
  return cart?.lines.find((l) => l.sku === sku)?.qty ?? 0;
}

/** Sets a line to exactly `qty` units (0 removes it), after checking the stock. */
export async function setLineQuantity(
  ctx: CartContext,
  variantSku: string,
  qty: number,
): Promise<CartResult> {
  if (!Number.isSafeInteger(qty) || qty < 0) throw new RangeError(`quantity must be a whole number: ${qty}`);
  if (qty === 0) {
    await removeLine(ctx, variantSku);
    return { ok: true, qty: 0 };
  }
  if (qty > MAX_LINE_QTY) return { ok: false, code: 'too_many', max: MAX_LINE_QTY };
  const found = await findVariant(ctx, variantSku);
  if (!found || !found.product.active) return { ok: false, code: 'not_found' };
  if (found.variant.stock < qty) return { ok: false, code: 'out_of_stock', available: found.variant.stock };
  const id = await openCartId(ctx);
  const sku = String(variantSku);
  // Replace an existing line in place, else append it: each is one atomic update.
  const updated = await CartModel.updateOne({ _id: id, 'lines.sku': sku }, { $set: { 'lines.$.qty': qty } });
  if (updated.matchedCount === 0) {
    const pushed = await CartModel.updateOne(
      { _id: id, 'lines.sku': { $ne: sku } },
      { $push: { lines: { sku, productSku: found.product.sku, qty, addedAt: ctx.now } } },
    );
    if (pushed.matchedCount === 0) {
      await CartModel.updateOne({ _id: id, 'lines.sku': sku }, { $set: { 'lines.$.qty': qty } });
    }
  }
  return { ok: true, qty };
}

/** Adds `qty` units to what is already in the cart. */
export async function addToCart(ctx: CartContext, variantSku: string, qty: number): Promise<CartResult> {
  if (!Number.isSafeInteger(qty) || qty <= 0)
    throw new RangeError(`quantity must be a positive integer: ${qty}`);
  const already = await currentQty(ctx, variantSku);
  return setLineQuantity(ctx, variantSku, already + qty);
}

export async function removeLine(ctx: CartContext, variantSku: string): Promise<void> {
  await CartModel.updateOne(
    { pageId: String(ctx.pageId), psid: String(ctx.psid), status: 'open' },
    { $pull: { lines: { sku: String(variantSku) } } },
  );
}

export async function emptyCart(ctx: CartContext): Promise<void> {
  await CartModel.updateOne(
    { pageId: String(ctx.pageId), psid: String(ctx.psid), status: 'open' },
    { $set: { lines: [] } },
  );
}

export interface CartLineView {
  readonly sku: string;
  readonly productSku: string;
  readonly qty: number;
  /** Undefined when the product or variant no longer exists (or is inactive). */
  readonly product: ProductView | undefined;
  readonly variant: VariantView | undefined;
  readonly unitPrice: Money | undefined;
  readonly lineTotal: Money | undefined;
  /** Units in stock right now (0 when gone). */
  readonly available: number;
}

export interface CartView {
  readonly id: string | undefined;
  readonly lines: CartLineView[];
  /** Of the lines that can still be bought, in integer minor units. */
  readonly total: Money;
  /** Units across purchasable lines. */
  readonly units: number;
}

export async function viewCart(ctx: CartContext, currency = 'EUR'): Promise<CartView> {
  const cart = await CartModel.findOne({
    pageId: String(ctx.pageId),
    psid: String(ctx.psid),
    status: 'open',
  }).lean();
  const lines: CartLineView[] = [];
  for (const line of cart?.lines ?? []) {
    const found = await findVariant(ctx, line.sku);
    const usable = found && found.product.active ? found : undefined;
    const unitPrice = usable ? variantPrice(usable.product, usable.variant) : undefined;
    lines.push({
      sku: line.sku,
      productSku: line.productSku,
      qty: line.qty,
      product: usable?.product,
      variant: usable?.variant,
      unitPrice,
      lineTotal: unitPrice ? multiply(unitPrice, line.qty) : undefined,
      available: usable?.variant.stock ?? 0,
    });
  }
  const priced = lines.filter((l) => l.lineTotal !== undefined);
  const cur = priced[0]?.lineTotal?.currency ?? currency;
  return {
    id: cart ? String(cart._id) : undefined,
    lines,
    total: priced.reduce((acc, l) => add(acc, l.lineTotal!), zero(cur)),
    units: priced.reduce((n, l) => n + l.qty, 0),
  };
}

import { Schema, model, type InferSchemaType } from 'mongoose';

export const CART_STATES = ['open', 'ordered', 'abandoned'] as const;
export type CartState = (typeof CART_STATES)[number];

const cartLineSchema = new Schema(
  {
    /** Variant SKU. Prices are not kept here: the cart always shows today's price. */
    sku: { type: String, required: true },
    productSku: { type: String, required: true },
    qty: { type: Number, required: true, min: 1, validate: Number.isSafeInteger },
    addedAt: { type: Date, required: true },
  },
  { _id: false },
);

const cartSchema = new Schema(
  {
    pageId: { type: String, required: true },
    psid: { type: String, required: true },
    status: { type: String, enum: CART_STATES, default: 'open' },
    lines: { type: [cartLineSchema], default: [] },
  },
  { timestamps: true, minimize: false },
);

/** One open cart per fan per page; ordered/abandoned carts stay as history. */
cartSchema.index({ pageId: 1, psid: 1 }, { unique: true, partialFilterExpression: { status: 'open' } });

export type Cart = InferSchemaType<typeof cartSchema>;
export const CartModel = model('Cart', cartSchema, 'carts');

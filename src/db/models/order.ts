import { Schema, model, type InferSchemaType } from 'mongoose';
import { ORDER_STATES } from '../../domain/order-state.js';

const integerCents = {
  validator: (v: unknown) => Number.isSafeInteger(v),
  message: 'must be an integer number of minor units',
};

const localizedSchema = new Schema(
  { it: { type: String, default: '' }, en: { type: String, default: '' } },
  { _id: false },
);

/** What was bought, frozen at checkout: later catalogue changes never rewrite an order. */
const orderLineSchema = new Schema(
  {
    /** Product SKU. */
    sku: { type: String, required: true },
    variantSku: { type: String, required: true },
    title: { type: localizedSchema, required: true },
    /** "M · Blu" at the time of the order. */
    variantLabel: { type: String, default: '' },
    unitPrice: { type: Number, required: true, min: 0, validate: integerCents },
    qty: { type: Number, required: true, min: 1, validate: Number.isSafeInteger },
    lineTotal: { type: Number, required: true, min: 0, validate: integerCents },
  },
  { _id: false },
);

const actorSchema = new Schema(
  {
    type: { type: String, enum: ['fan', 'manager', 'token', 'system'], required: true },
    id: { type: String },
    label: { type: String },
  },
  { _id: false },
);

const historySchema = new Schema(
  {
    /** null for the creation entry. */
    from: { type: String, enum: [...ORDER_STATES, null], default: null },
    to: { type: String, enum: ORDER_STATES, required: true },
    at: { type: Date, required: true },
    by: { type: actorSchema, required: true },
  },
  { _id: false },
);

/** Taken off the lines' total (today: the fan's invite credit, spent once per order at checkout). */
const discountSchema = new Schema(
  {
    amount: { type: Number, required: true, min: 0, validate: integerCents },
    currency: { type: String, required: true, match: /^[A-Z]{3}$/ },
    reason: { type: String, enum: ['referral_credit'], required: true },
  },
  { _id: false },
);

const orderSchema = new Schema(
  {
    pageId: { type: String, required: true },
    psid: { type: String, required: true },
    /** Human-friendly, unique per page: `DL-000123`. */
    number: { type: String, required: true },
    lines: { type: [orderLineSchema], required: true },
    totals: {
      units: { type: Number, required: true, min: 1 },
      /** What is due: the lines' total minus `discount` (never below 0). */
      total: { type: Number, required: true, min: 0, validate: integerCents },
      /** The lines' total before any discount (orders made before discounts existed lack it: = total). */
      subtotal: { type: Number, min: 0, validate: integerCents },
      currency: { type: String, required: true, match: /^[A-Z]{3}$/ },
    },
    /** Absent when nothing was taken off. */
    discount: { type: discountSchema, default: undefined },
    state: { type: String, enum: ORDER_STATES, required: true, default: 'pending_payment' },
    history: { type: [historySchema], default: [] },
    /** 32 random bytes, base64url: the capability behind the order page `/orders/<token>`. */
    token: { type: String, required: true },
    /** Same key, same order: a retried checkout never creates a second one. */
    idempotencyKey: { type: String, required: true },
    source: {
      type: { type: String, enum: ['cart', 'groupbuy'], required: true },
      cartId: { type: String },
      campaignId: { type: String },
    },
    payment: {
      strategy: { type: String, required: true },
      url: { type: String, required: true },
    },
    /** Units were taken from stock for this order (checkout does; a group buy may not). */
    stockReserved: { type: Boolean, default: false },
    /** Set once the reserved units went back (a cancellation before shipping). */
    stockReleasedAt: { type: Date },
  },
  { timestamps: true, minimize: false },
);

orderSchema.index({ token: 1 }, { unique: true });
orderSchema.index({ pageId: 1, idempotencyKey: 1 }, { unique: true });
orderSchema.index({ pageId: 1, number: 1 }, { unique: true });
orderSchema.index({ pageId: 1, psid: 1, createdAt: -1 });
orderSchema.index({ pageId: 1, state: 1, createdAt: -1 });
orderSchema.index({ pageId: 1, createdAt: -1 });

export type Order = InferSchemaType<typeof orderSchema>;
export const OrderModel = model('Order', orderSchema, 'orders');

/**
 * The prices a fan was shown before confirming (one per cart version). The cart itself keeps no
 * prices (it always shows today's), so this is what "the price changed since you looked" is measured
 * against. Kept for a day.
 */
const quoteLineSchema = new Schema(
  {
    variantSku: { type: String, required: true },
    qty: { type: Number, required: true },
    unitPrice: { type: Number, required: true },
  },
  { _id: false },
);

const checkoutQuoteSchema = new Schema(
  {
    pageId: { type: String, required: true },
    psid: { type: String, required: true },
    cartId: { type: String, required: true },
    version: { type: String, required: true },
    lines: { type: [quoteLineSchema], default: [] },
    total: { type: Number, required: true },
    currency: { type: String, required: true },
    createdAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
  },
  { minimize: false, versionKey: false },
);

checkoutQuoteSchema.index({ pageId: 1, psid: 1, version: 1 }, { unique: true });
checkoutQuoteSchema.index({ pageId: 1, cartId: 1, createdAt: -1 });
checkoutQuoteSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

export const CheckoutQuoteModel = model('CheckoutQuote', checkoutQuoteSchema, 'checkout_quotes');

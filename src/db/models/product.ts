import { Schema, model, type InferSchemaType } from 'mongoose';

/** Texts in both languages of the page; `en` may be missing and falls back to `it` at display time. */
const localizedSchema = new Schema(
  {
    it: { type: String, default: '' },
    en: { type: String, default: '' },
  },
  { _id: false },
);

const integerCents = {
  validator: (v: unknown) => v === undefined || v === null || Number.isSafeInteger(v),
  message: 'must be an integer number of minor units',
};

const variantSchema = new Schema(
  {
    sku: { type: String, required: true },
    size: { type: String },
    colour: { type: String },
    /** Units on hand; only ever changed by conditional atomic updates (never below zero). */
    stock: { type: Number, required: true, min: 0, validate: Number.isSafeInteger },
    /** Unit price of this variant in the product's currency, when it differs from the product's. */
    priceOverride: { type: Number, min: 0, validate: integerCents },
  },
  { _id: false },
);

const productSchema = new Schema(
  {
    pageId: { type: String, required: true },
    sku: { type: String, required: true },
    category: {
      slug: { type: String, required: true },
      name: { type: localizedSchema, required: true },
    },
    title: { type: localizedSchema, required: true },
    description: { type: localizedSchema, default: () => ({}) },
    /** Absolute URLs, or paths on this server (`/static/demo/jeans.svg`) resolved against PUBLIC_URL. */
    images: { type: [String], default: [] },
    price: {
      amount: { type: Number, required: true, min: 0, validate: integerCents },
      currency: { type: String, required: true, match: /^[A-Z]{3}$/ },
    },
    variants: { type: [variantSchema], default: [] },
    active: { type: Boolean, default: true },
    tags: { type: [String], default: [] },
    /** Titles (both languages), category names and tags, normalised (`normalizeText`): the search field. */
    searchText: { type: String, default: '' },
  },
  { timestamps: true, minimize: false },
);

productSchema.index({ pageId: 1, sku: 1 }, { unique: true });
productSchema.index({ pageId: 1, 'category.slug': 1 });
productSchema.index({ pageId: 1, 'variants.sku': 1 });

export type Product = InferSchemaType<typeof productSchema>;
export const ProductModel = model('Product', productSchema, 'products');

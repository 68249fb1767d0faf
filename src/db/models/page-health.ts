import { Schema, model, type InferSchemaType } from 'mongoose';

export const TOKEN_STATUSES = ['valid', 'expiring', 'invalid'] as const;
export type TokenStatus = (typeof TOKEN_STATUSES)[number];

/** What the token-health job last learned about a Page's access token; `/healthz` shows it. */
const pageHealthSchema = new Schema(
  {
    pageId: { type: String, required: true },
    token: {
      status: { type: String, enum: TOKEN_STATUSES, required: true },
      checkedAt: { type: Date, required: true },
      /** null: the token never expires. */
      expiresAt: { type: Date, default: null },
      scopes: { type: [String], default: [] },
      error: {
        code: { type: Number },
        subcode: { type: Number },
        message: { type: String },
      },
      /** token_refused, token_invalid, token_expiring, token_of_another_page. */
      problem: { type: String },
      /** When the current problem was first seen (kept while it lasts). */
      unhealthySince: { type: Date },
    },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, minimize: false },
);

pageHealthSchema.index({ pageId: 1 }, { unique: true });

export type PageHealth = InferSchemaType<typeof pageHealthSchema>;
export const PageHealthModel = model('PageHealth', pageHealthSchema, 'page_health');

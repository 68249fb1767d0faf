import { Schema, model, type InferSchemaType, type Types } from 'mongoose';

export const LEDGER_KINDS = ['earn', 'reverse', 'spend', 'adjust'] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

/**
 * The rewards ledger: append-only (entries are never updated or deleted; a mistake is undone by a
 * new entry). Signed integer amounts: earn > 0, spend < 0, reverse = minus what it undoes, adjust ±.
 * A balance is the sum of a fan's entries per unit. Every entry has a unique idempotency key, so a
 * retried event or a doubled request writes nothing twice.
 */
const ledgerEntrySchema = new Schema(
  {
    pageId: { type: String, required: true },
    psid: { type: String, required: true },
    kind: { type: String, enum: LEDGER_KINDS, required: true },
    amount: { type: Number, required: true, validate: Number.isSafeInteger },
    /** ISO currency code (minor units) or `points`. */
    unit: { type: String, required: true, match: /^([A-Z]{3}|points)$/ },
    orderId: { type: String, default: null },
    referralId: { type: Schema.Types.ObjectId, default: null },
    campaignId: { type: String, default: null },
    /** The entry this one undoes (reversals). */
    reverses: { type: String, default: null },
    reason: { type: String, required: true },
    /** Who wrote it: `system`, or the manager/token for adjustments. */
    by: { type: String, default: 'system' },
    idempotencyKey: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { minimize: false, versionKey: false },
);

ledgerEntrySchema.index({ idempotencyKey: 1 }, { unique: true });
ledgerEntrySchema.index({ pageId: 1, psid: 1, unit: 1 });
ledgerEntrySchema.index({ pageId: 1, orderId: 1 });
ledgerEntrySchema.index({ pageId: 1, at: -1 });

export type LedgerEntry = InferSchemaType<typeof ledgerEntrySchema>;
export type LedgerEntryDoc = LedgerEntry & { _id: Types.ObjectId };
export const LedgerEntryModel = model('LedgerEntry', ledgerEntrySchema, 'ledger');

import { Schema, model, type InferSchemaType, type Types } from 'mongoose';

/**
 * `pending`: written, seats not yet confirmed (a join in flight; see src/app/groupbuy.ts).
 * `active`: holds `quantity` seats. `waitlisted`: the campaign was full (`waitlistPosition` is the ticket).
 * `left`: the fan left. `released`: the campaign was cancelled, or the pledge moved to the next batch.
 * `converted`: became an order.
 */
export const PLEDGE_STATES = ['pending', 'active', 'waitlisted', 'left', 'released', 'converted'] as const;
export type PledgeState = (typeof PLEDGE_STATES)[number];

export const PLEDGE_SOURCES = ['menu', 'comment', 'referral', 'admin', 'batch'] as const;
export type PledgeSourceType = (typeof PLEDGE_SOURCES)[number];

const pledgeSchema = new Schema(
  {
    pageId: { type: String, required: true },
    campaignId: { type: Schema.Types.ObjectId, required: true },
    psid: { type: String, required: true },
    quantity: { type: Number, required: true, min: 1, validate: Number.isSafeInteger },
    variantSku: { type: String, required: true },
    state: { type: String, enum: PLEDGE_STATES, required: true },
    waitlistPosition: { type: Number, default: null },
    source: {
      type: { type: String, enum: PLEDGE_SOURCES, required: true },
      commentId: { type: String },
      postId: { type: String },
      ref: { type: String },
    },
    /** Unit price (minor units) the fan pays, fixed when the campaign tipped (or when they joined after). */
    priceAtTipping: { type: Number, default: null },
    orderId: { type: String, default: null },
    /** Where a waitlisted pledge went when the next batch opened. */
    movedToCampaignId: { type: Schema.Types.ObjectId, default: null },
    createdAt: { type: Date, required: true },
    /** Last time the fan (re)joined: a pending pledge older than a minute is a join that crashed. */
    joinedAt: { type: Date, required: true },
    /**
     * The inbox event whose turn made this (re)join: when a crash cuts that turn short, its re-run
     * resumes its own pending pledge at once instead of waiting for it to look stale.
     */
    joinEventKey: { type: String, default: null },
    leftAt: { type: Date, default: null },
  },
  { minimize: false, versionKey: false },
);

/** One pledge per fan per campaign: a retried or doubled join can never count twice. */
pledgeSchema.index({ campaignId: 1, psid: 1 }, { unique: true });
pledgeSchema.index({ campaignId: 1, state: 1, waitlistPosition: 1 });
pledgeSchema.index({ pageId: 1, psid: 1, state: 1 });

export type Pledge = InferSchemaType<typeof pledgeSchema>;
export type PledgeDoc = Pledge & { _id: Types.ObjectId };
export const PledgeModel = model('Pledge', pledgeSchema, 'pledges');

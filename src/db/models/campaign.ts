import { Schema, model, type InferSchemaType, type Types } from 'mongoose';
import { CAMPAIGN_STATES } from '../../domain/groupbuy.js';

const integer = { validator: (v: unknown) => v === null || v === undefined || Number.isSafeInteger(v) };

const tierSchema = new Schema(
  {
    fromQuantity: { type: Number, required: true, min: 0, validate: integer },
    /** Minor units (cents) of `currency`. */
    unitPrice: { type: Number, required: true, min: 1, validate: integer },
  },
  { _id: false },
);

const textsSchema = new Schema(
  { title: { type: String, default: '' }, description: { type: String, default: '' } },
  { _id: false },
);

/**
 * A group buy. `committed`, `pledgeCount`, `waitlistCount` and `reserving` change ONLY through
 * conditional single-document atomic updates (src/app/groupbuy.ts), each of which bumps `version`;
 * `reconcileCampaignCounts` recomputes them from the pledges under that version.
 */
const campaignSchema = new Schema(
  {
    pageId: { type: String, required: true },
    /** Short code for comments and links (`JEANS25`), unique per page. */
    slug: { type: String, required: true, match: /^[A-Za-z0-9_-]{2,40}$/ },
    productSku: { type: String, required: true },
    /** null: the fan picks any variant of the product. */
    variantSku: { type: String, default: null },
    minQuantity: { type: Number, required: true, min: 1, validate: integer },
    /** A production batch: committed never exceeds it. null = uncapped. */
    maxQuantity: { type: Number, default: null, validate: integer },
    deadline: { type: Date, required: true },
    tiers: { type: [tierSchema], default: [] },
    currency: { type: String, required: true, match: /^[A-Z]{3}$/ },
    perFanLimit: { type: Number, required: true, min: 1, validate: integer },
    texts: {
      it: { type: textsSchema, default: () => ({}) },
      en: { type: textsSchema, default: () => ({}) },
    },
    state: { type: String, enum: CAMPAIGN_STATES, default: 'draft' },
    /** Sum of the active pledges' quantities (plus seats being reserved, see `reserving`). */
    committed: { type: Number, default: 0 },
    pledgeCount: { type: Number, default: 0 },
    waitlistCount: { type: Number, default: 0 },
    /** Last waitlist ticket handed out: tickets are 1, 2, 3… in order of arrival. */
    waitlistSeq: { type: Number, default: 0 },
    /** Pledges whose seats are counted in `committed` but which are not active yet (a join in flight). */
    reserving: { type: [Schema.Types.ObjectId], default: [] },
    openedAt: { type: Date, default: null },
    tippedAt: { type: Date, default: null },
    /** `committed` as the tipping join saw it: the tier of the tipping price. */
    tippedQuantity: { type: Number, default: null },
    closedAt: { type: Date, default: null },
    cancelledAt: { type: Date, default: null },
    batch: {
      number: { type: Number, default: 1 },
      nextCampaignId: { type: Schema.Types.ObjectId, default: null },
      previousCampaignId: { type: Schema.Types.ObjectId, default: null },
      autoNextBatch: { type: Boolean, default: false },
    },
    linkedPostIds: { type: [String], default: [] },
    /** Bumped by every change of the counters and by every edit (optimistic concurrency for both). */
    version: { type: Number, default: 0 },
  },
  { timestamps: true, minimize: false, versionKey: false },
);

campaignSchema.index({ pageId: 1, slug: 1 }, { unique: true });
campaignSchema.index({ pageId: 1, state: 1, deadline: 1 });

export type Campaign = InferSchemaType<typeof campaignSchema>;
export type CampaignDoc = Campaign & { _id: Types.ObjectId; createdAt: Date; updatedAt: Date };
export const CampaignModel = model('Campaign', campaignSchema, 'campaigns');

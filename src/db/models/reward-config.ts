import { Schema, model, type InferSchemaType } from 'mongoose';

const integer = { validator: (v: unknown) => v === null || v === undefined || Number.isSafeInteger(v) };

/** `credit`: `amount` minor units; `percent`: `percent`% of the friend's order as credit; `points`. */
const rewardSchema = new Schema(
  {
    kind: { type: String, enum: ['credit', 'percent', 'points'], required: true },
    amount: { type: Number, default: null, validate: integer },
    percent: { type: Number, default: null, validate: integer },
    points: { type: Number, default: null, validate: integer },
  },
  { _id: false },
);

/**
 * How referrals are rewarded, for the whole page (`scope: 'page'`) or one campaign (its id; it wins
 * over the page's). `friend` set = two-sided (the friend gets a welcome reward too). The page's
 * record also carries the attribution policy (window, farming limits).
 */
const rewardConfigSchema = new Schema(
  {
    pageId: { type: String, required: true },
    scope: { type: String, required: true },
    active: { type: Boolean, default: true },
    referrer: { type: rewardSchema, default: null },
    friend: { type: rewardSchema, default: null },
    /** `paid`: when the friend's order is paid; `tipped`: when the campaign the friend joined tips. */
    trigger: { type: String, enum: ['paid', 'tipped'], default: 'paid' },
    /** One reward per invitee (their first paid order), not one per order. */
    firstOrderOnly: { type: Boolean, default: true },
    attributionWindowDays: { type: Number, default: 30, validate: integer },
    maxInviteesPerHour: { type: Number, default: 20, validate: integer },
    maxDormantInvitees: { type: Number, default: 10, validate: integer },
    updatedAt: { type: Date, required: true },
    updatedBy: { type: String, default: '' },
  },
  { minimize: false, versionKey: false },
);

rewardConfigSchema.index({ pageId: 1, scope: 1 }, { unique: true });

export type RewardConfig = InferSchemaType<typeof rewardConfigSchema>;
export const RewardConfigModel = model('RewardConfig', rewardConfigSchema, 'reward_configs');

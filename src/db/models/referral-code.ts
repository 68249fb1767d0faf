import { Schema, model, type InferSchemaType } from 'mongoose';

/**
 * One personal referral code per fan per page (`r_<code>` in their m.me link), and the fan's choice
 * about the leaderboard: by default only their initials are shown; `showFirstName` is an opt-in.
 */
const referralCodeSchema = new Schema(
  {
    pageId: { type: String, required: true },
    psid: { type: String, required: true },
    code: { type: String, required: true, match: /^[a-z2-9]{8}$/ },
    showFirstName: { type: Boolean, default: false },
    createdAt: { type: Date, required: true },
  },
  { minimize: false, versionKey: false },
);

/** A code names exactly one fan of a page, and a fan has one code (a retried creation finds it). */
referralCodeSchema.index({ pageId: 1, code: 1 }, { unique: true });
referralCodeSchema.index({ pageId: 1, psid: 1 }, { unique: true });

export type ReferralCode = InferSchemaType<typeof referralCodeSchema>;
export const ReferralCodeModel = model('ReferralCode', referralCodeSchema, 'referral_codes');

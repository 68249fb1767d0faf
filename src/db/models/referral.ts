import { Schema, model, type InferSchemaType, type Types } from 'mongoose';
import { REFERRAL_DECISIONS, REFERRAL_REASONS } from '../../domain/referral.js';

/** One decision about one arrival through a referral link (kept, newest last, on the record). */
const decisionSchema = new Schema(
  {
    ref: { type: String, required: true },
    referrerPsid: { type: String, default: null },
    decision: { type: String, enum: REFERRAL_DECISIONS, required: true },
    reason: { type: String, enum: REFERRAL_REASONS, required: true },
    source: { type: String, default: '' },
    at: { type: Date, required: true },
    /** The inbox event that led to it: a retried turn finds its decision instead of adding one. */
    eventKey: { type: String, default: null },
  },
  { _id: false },
);

/**
 * Who brought a fan, per scope ('page' or a campaign id): one record per (page, invitee, scope).
 * The top-level fields are the standing decision; `decisions` keeps every decision with its reason
 * (the last 50). An attribution changes only by a conditional update on `version`.
 */
const referralSchema = new Schema(
  {
    pageId: { type: String, required: true },
    inviteePsid: { type: String, required: true },
    /** null when the code matched no fan (an unknown or mistyped link). */
    referrerPsid: { type: String, default: null },
    scope: { type: String, required: true },
    /** The campaign's slug for a campaign scope (for links and reports). */
    campaignCode: { type: String, default: null },
    ref: { type: String, required: true },
    source: { type: String, default: '' },
    decision: { type: String, enum: REFERRAL_DECISIONS, required: true },
    reason: { type: String, enum: REFERRAL_REASONS, required: true },
    at: { type: Date, required: true },
    decisions: { type: [decisionSchema], default: [] },
    /** The order that earned this referral's reward (first-order-only configs); cleared on its reversal. */
    rewardedOrderId: { type: String, default: null },
    /** Telling the referrer "a friend joined": sent inside their window, or shown on their next visit. */
    notice: {
      state: { type: String, enum: ['none', 'pending', 'sent', 'shown'], default: 'none' },
      at: { type: Date, default: null },
      /** The turn that showed it (a retried turn shows it again, under the same outbox keys). */
      eventKey: { type: String, default: null },
    },
    version: { type: Number, default: 0 },
  },
  { minimize: false, versionKey: false },
);

referralSchema.index({ pageId: 1, inviteePsid: 1, scope: 1 }, { unique: true });
referralSchema.index({ pageId: 1, referrerPsid: 1, decision: 1, at: -1 });
referralSchema.index({ pageId: 1, scope: 1, decision: 1 });
referralSchema.index({ pageId: 1, referrerPsid: 1, 'notice.state': 1 });

export type Referral = InferSchemaType<typeof referralSchema>;
export type ReferralDoc = Referral & { _id: Types.ObjectId };
export const ReferralModel = model('Referral', referralSchema, 'referrals');

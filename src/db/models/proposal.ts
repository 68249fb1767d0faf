import { Schema, model, type InferSchemaType, type Types } from 'mongoose';
import { ON_DECISION, PROPOSAL_KINDS, PROPOSAL_STATES } from '../../domain/proposal.js';

const integer = { validator: (v: unknown) => v === null || v === undefined || Number.isSafeInteger(v) };

const localizedSchema = new Schema(
  { it: { type: String, default: '' }, en: { type: String, default: '' } },
  { _id: false },
);

const optionSchema = new Schema(
  {
    /** Short slug, unique within the proposal (`blu`). */
    id: { type: String, required: true },
    texts: { type: localizedSchema, default: () => ({}) },
    imageUrl: { type: String, default: null },
    productSku: { type: String, default: null },
    variantSku: { type: String, default: null },
    /** Votes for this option. Changed ONLY by atomic `$inc` (src/app/proposals.ts) or a version-checked recount. */
    tally: { type: Number, default: 0 },
  },
  { _id: false },
);

const textsSchema = new Schema(
  { title: { type: String, default: '' }, description: { type: String, default: '' } },
  { _id: false },
);

const tierSchema = new Schema(
  {
    fromQuantity: { type: Number, required: true, min: 0, validate: integer },
    unitPrice: { type: Number, required: true, min: 1, validate: integer },
  },
  { _id: false },
);

/**
 * A question to the fans ("which colour next?"). The tallies and `applying` change only through
 * single-document atomic updates: every tally change pushes the vote change it applies into
 * `applying` (conditional on it not being there), so a vote change is counted exactly once even if
 * the process dies midway; `version` is bumped by each, so a recount is written only if nothing moved.
 */
const proposalSchema = new Schema(
  {
    pageId: { type: String, required: true },
    /** Short code (`COLORE26`), unique per page: the base of the campaign slug. */
    code: { type: String, required: true },
    kind: { type: String, enum: PROPOSAL_KINDS, required: true },
    options: { type: [optionSchema], default: [] },
    texts: {
      it: { type: textsSchema, default: () => ({}) },
      en: { type: textsSchema, default: () => ({}) },
    },
    deadline: { type: Date, required: true },
    /** Votes an option needs to win at once. */
    threshold: { type: Number, required: true, min: 1, validate: integer },
    onDecision: { type: String, enum: ON_DECISION, default: 'draft_campaign' },
    campaignTemplate: {
      minQuantity: { type: Number, required: true, min: 1, validate: integer },
      maxQuantity: { type: Number, default: null, validate: integer },
      tiers: { type: [tierSchema], default: [] },
      deadlineOffsetHours: { type: Number, required: true, min: 1, validate: integer },
      perFanLimit: { type: Number, required: true, min: 1, validate: integer },
    },
    state: { type: String, enum: PROPOSAL_STATES, default: 'draft' },
    publishedAt: { type: Date, default: null },
    winnerOptionId: { type: String, default: null },
    decidedAt: { type: Date, default: null },
    decidedBy: { type: String, enum: ['threshold', 'deadline', 'manager', null], default: null },
    campaignId: { type: String, default: null },
    /** Why the campaign could not be created yet (a product missing…); the job retries. */
    campaignError: { type: String, default: null },
    /** Set once every voter of the winner was invited (the job stops looking). */
    invitedAt: { type: Date, default: null },
    /** Page posts whose comments vote on this proposal. */
    linkedPostIds: { type: [String], default: [] },
    /** Vote changes being applied (`<voteId>:<seq>`): in the tallies, not yet marked on the vote. */
    applying: { type: [String], default: [] },
    version: { type: Number, default: 0 },
  },
  { timestamps: true, minimize: false, versionKey: false },
);

proposalSchema.index({ pageId: 1, code: 1 }, { unique: true });
proposalSchema.index({ pageId: 1, state: 1, deadline: 1 });
proposalSchema.index({ pageId: 1, linkedPostIds: 1 });

export type Proposal = InferSchemaType<typeof proposalSchema>;
export type ProposalDoc = Proposal & { _id: Types.ObjectId; createdAt: Date; updatedAt: Date };
export const ProposalModel = model('Proposal', proposalSchema, 'proposals');

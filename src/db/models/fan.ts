import { Schema, model, type InferSchemaType, type HydratedDocument } from 'mongoose';

const optInSchema = new Schema(
  {
    channel: { type: String, required: true }, // 'notification_messages'
    token: { type: String, required: true },
    topic: { type: String },
    status: { type: String, enum: ['active', 'stopped'], default: 'active' },
    createdAt: { type: Date, required: true },
    lastSentAt: { type: Date },
  },
  { _id: false },
);

const fanSchema = new Schema(
  {
    pageId: { type: String, required: true },
    psid: { type: String, required: true },
    firstName: { type: String },
    lastName: { type: String },
    locale: { type: String, enum: ['it', 'en'], required: true },
    /** Where the locale came from: the profile API, the fan's own choice, or the page default. */
    localeSource: { type: String, enum: ['profile', 'fan', 'default'], default: 'default' },
    profileFetchedAt: { type: Date },
    firstInteractionAt: { type: Date, required: true },
    /** Opens Meta's 24 h window: a message, postback, quick reply or referral from the fan. */
    lastInteractionAt: { type: Date, required: true },
    tags: { type: [String], default: [] },
    interests: { type: [String], default: [] },
    reachable: { type: Boolean, default: true },
    unreachableAt: { type: Date },
    unreachableReason: { type: String },
    optIns: { type: [optInSchema], default: [] },
    /** "STOP" to offers: never again a promotion, whatever the channel. */
    marketingOptOut: { type: Boolean, default: false },
    arrival: {
      ref: { type: String },
      source: { type: String },
      at: { type: Date },
    },
    deliveredWatermark: { type: Date },
    readWatermark: { type: Date },
    /** Who owns the thread under the handover protocol. */
    threadOwner: { type: String, enum: ['bot', 'inbox'], default: 'bot' },
    forgottenAt: { type: Date },
  },
  { timestamps: true, minimize: false },
);

fanSchema.index({ pageId: 1, psid: 1 }, { unique: true });
fanSchema.index({ pageId: 1, lastInteractionAt: -1 });
fanSchema.index({ pageId: 1, tags: 1 });

export type Fan = InferSchemaType<typeof fanSchema>;
export type FanDocument = HydratedDocument<Fan>;
export const FanModel = model('Fan', fanSchema, 'fans');

import { Schema, model, type InferSchemaType } from 'mongoose';
import { BROADCAST_PURPOSES, BROADCAST_STATES } from '../../domain/broadcast-state.js';

/** What a broadcast says in one language. Buttons and quick replies lead to a URL or a bot payload. */
const targetSchema = new Schema(
  {
    url: { type: String },
    payload: { type: String },
  },
  { _id: false },
);

const contentSchema = new Schema(
  {
    locale: { type: String, enum: ['it', 'en'], required: true },
    text: { type: String, required: true },
    card: {
      type: new Schema(
        {
          title: { type: String, required: true },
          subtitle: { type: String },
          imageUrl: { type: String },
          button: {
            type: new Schema(
              { title: { type: String, required: true }, target: targetSchema },
              { _id: false },
            ),
          },
        },
        { _id: false },
      ),
    },
    quickReplies: {
      type: [new Schema({ title: { type: String, required: true }, target: targetSchema }, { _id: false })],
      default: undefined,
    },
  },
  { _id: false },
);

const broadcastSchema = new Schema(
  {
    pageId: { type: String, required: true },
    name: { type: String, required: true },
    state: { type: String, enum: BROADCAST_STATES, required: true, default: 'draft' },
    purpose: { type: String, enum: BROADCAST_PURPOSES, required: true },
    contents: { type: [contentSchema], required: true },
    /** A saved segment, or inline rules (JSON text of a `SegmentDefinition`) frozen at creation. */
    segmentId: { type: Schema.Types.ObjectId },
    segmentDefinition: { type: String, required: true },
    scheduledAt: { type: Date },
    /** At most `max` promotions per fan in `windowHours` (null: no cap). Promotions only. */
    frequencyCap: {
      type: new Schema({ max: Number, windowHours: Number }, { _id: false }),
      default: () => ({ max: 1, windowHours: 48 }),
    },
    /**
     * Resumable queueing: fans are streamed in `_id` order; `lastFanId` is the last one processed
     * (committed together with the counters of its batch), `queueingDoneAt` set when the cursor ended.
     */
    cursor: {
      lastFanId: { type: Schema.Types.ObjectId },
      queueingStartedAt: { type: Date },
      queueingDoneAt: { type: Date },
    },
    counters: {
      targeted: { type: Number, default: 0 },
      queued: { type: Number, default: 0 },
      sent: { type: Number, default: 0 },
      failed: { type: Number, default: 0 },
      /** Refused by the sender at send time (e.g. the window closed after queueing), by reason. */
      refused: { type: Number, default: 0 },
      cancelled: { type: Number, default: 0 },
      delivered: { type: Number, default: 0 },
      read: { type: Number, default: 0 },
      clicks: { type: Number, default: 0 },
    },
    /** reason → count, e.g. {outside_window: 12, opted_out: 3}. Decided when queueing. */
    skipped: { type: Schema.Types.Mixed, default: () => ({}) },
    /** Graph error code → count (plus `internal`). */
    failedByCode: { type: Schema.Types.Mixed, default: () => ({}) },
    /** Sender refusal reason → count. */
    refusedByReason: { type: Schema.Types.Mixed, default: () => ({}) },
    /** Button index → taps. */
    clicksByButton: { type: Schema.Types.Mixed, default: () => ({}) },
    createdBy: { type: String },
    startedAt: { type: Date },
    pausedAt: { type: Date },
    completedAt: { type: Date },
    cancelledAt: { type: Date },
  },
  { timestamps: true, minimize: false },
);

broadcastSchema.index({ pageId: 1, createdAt: -1 });
/** The runner's poll: scheduled/sending broadcasts (few), by state. */
broadcastSchema.index({ state: 1, scheduledAt: 1 });

export type Broadcast = InferSchemaType<typeof broadcastSchema>;
export const BroadcastModel = model('Broadcast', broadcastSchema, 'broadcasts');

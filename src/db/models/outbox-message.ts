import { Schema, model, type InferSchemaType } from 'mongoose';

export const OUTBOX_STATES = ['pending', 'sent', 'failed', 'refused', 'cancelled'] as const;
export type OutboxState = (typeof OUTBOX_STATES)[number];

export const OUTBOX_KINDS = [
  'message',
  'private_reply',
  'public_reply',
  'sender_action',
  'handover',
] as const;
export type OutboxKind = (typeof OUTBOX_KINDS)[number];

const outboxMessageSchema = new Schema(
  {
    pageId: { type: String, required: true },
    /** e.g. `reply:<inbox dedupeKey>:<n>` or `gb:<campaign>:<psid>:tipped`; a re-run never sends twice. */
    idempotencyKey: { type: String, required: true },
    kind: { type: String, enum: OUTBOX_KINDS, required: true },
    /** Messages to one recipient leave in the order they were written. */
    queueKey: { type: String, required: true },
    seq: { type: Number, required: true },
    recipient: {
      psid: { type: String },
      commentId: { type: String },
    },
    purpose: { type: String, required: true },
    /** The Send API body without recipient/messaging_type (JSON text, kept verbatim). */
    body: { type: String, required: true },
    messagingType: { type: String },
    tag: { type: String },
    state: { type: String, enum: OUTBOX_STATES, default: 'pending' },
    attempts: { type: Number, default: 0 },
    nextAttemptAt: { type: Date, required: true },
    leaseUntil: { type: Date },
    lastError: {
      kind: { type: String },
      code: { type: Number },
      subcode: { type: Number },
      message: { type: String },
      fbtraceId: { type: String },
    },
    refusedReason: { type: String },
    /** Why a pending message was withdrawn (stale reply, paused/cancelled broadcast, erased fan). */
    cancelledReason: { type: String },
    cancelledAt: { type: Date },
    /** Set when the fan's data was erased: the body no longer holds what was said. */
    erasedAt: { type: Date },
    result: {
      messageId: { type: String },
      recipientId: { type: String },
    },
    origin: {
      type: { type: String },
      id: { type: String },
    },
    createdAt: { type: Date, required: true },
    sentAt: { type: Date },
    /** From the fan's delivery and read receipts (watermarks), for per-broadcast counts. */
    deliveredAt: { type: Date },
    readAt: { type: Date },
    expiresAt: { type: Date },
  },
  { minimize: false },
);

outboxMessageSchema.index({ pageId: 1, idempotencyKey: 1 }, { unique: true });
outboxMessageSchema.index({ state: 1, nextAttemptAt: 1 });
outboxMessageSchema.index({ queueKey: 1, state: 1, seq: 1 });
outboxMessageSchema.index({ 'origin.type': 1, 'origin.id': 1, state: 1 });
outboxMessageSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

export type OutboxMessage = InferSchemaType<typeof outboxMessageSchema>;
export const OutboxMessageModel = model('OutboxMessage', outboxMessageSchema, 'outbox');

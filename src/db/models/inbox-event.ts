import { Schema, model, type InferSchemaType } from 'mongoose';

export const INBOX_KINDS = [
  'message',
  'postback',
  'referral',
  'optin',
  'delivery',
  'read',
  'echo',
  'handover',
  'standby',
  'feed',
  'unknown',
] as const;
export type InboxKind = (typeof INBOX_KINDS)[number];

export const INBOX_STATES = ['pending', 'done', 'parked', 'skipped'] as const;
export type InboxState = (typeof INBOX_STATES)[number];

const inboxEventSchema = new Schema(
  {
    pageId: { type: String, required: true },
    /** `mid`, `comment_id:verb`, or a hash of the raw event: a redelivery hits the unique index. */
    dedupeKey: { type: String, required: true },
    kind: { type: String, enum: INBOX_KINDS, required: true },
    /** Events sharing a queue key are processed one at a time, in order (one fan, one comment thread). */
    queueKey: { type: String, required: true },
    /** The raw event exactly as Meta sent it, as JSON text so no key is lost or reshaped. */
    payload: { type: String, required: true },
    eventTime: { type: Date, required: true },
    receivedAt: { type: Date, required: true },
    state: { type: String, enum: INBOX_STATES, default: 'pending' },
    attempts: { type: Number, default: 0 },
    nextAttemptAt: { type: Date, required: true },
    lastError: { type: String },
    doneAt: { type: Date },
    /** Set when the event is finished; a TTL index removes it after the retention period. */
    expiresAt: { type: Date },
  },
  { minimize: false },
);

inboxEventSchema.index({ pageId: 1, dedupeKey: 1 }, { unique: true });
inboxEventSchema.index({ state: 1, nextAttemptAt: 1 });
inboxEventSchema.index({ queueKey: 1, state: 1, eventTime: 1 });
inboxEventSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

export type InboxEvent = InferSchemaType<typeof inboxEventSchema>;
export const InboxEventModel = model('InboxEvent', inboxEventSchema, 'inbox');

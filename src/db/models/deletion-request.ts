import { Schema, model, type InferSchemaType } from 'mongoose';

export const DELETION_SOURCES = ['meta_callback', 'messenger', 'admin'] as const;
export type DeletionSource = (typeof DELETION_SOURCES)[number];

export const DELETION_STATES = ['pending', 'completed'] as const;
export type DeletionState = (typeof DELETION_STATES)[number];

/**
 * A request to delete a person's data: from Meta's data deletion callback, from the fan in Messenger,
 * or from a manager. The id it names is kept in clear only while the request is pending (it is
 * needed to do the work) and then removed; `subjectHash` (HMAC of the id) stays for deduplication.
 */
const deletionRequestSchema = new Schema(
  {
    pageId: { type: String, required: true },
    /** The confirmation code given back to Meta / shown on the status page. Unguessable. */
    code: { type: String, required: true },
    source: { type: String, enum: DELETION_SOURCES, required: true },
    /** `user_id` from Meta (an app-scoped id for Messenger-only apps) or the fan's PSID. Unset when done. */
    subjectId: { type: String },
    subjectHash: { type: String, required: true },
    state: { type: String, enum: DELETION_STATES, required: true, default: 'pending' },
    requestedAt: { type: Date, required: true },
    completedAt: { type: Date },
    attempts: { type: Number, default: 0 },
    lastError: { type: String },
    /** Outbox messages the erasure must not touch (the fan's confirmation). Unset when done. */
    keepOutboxKeys: { type: [String], default: undefined },
    /** Counts only: how many fans matched, how many records were erased or anonymised. */
    result: { type: Schema.Types.Mixed },
  },
  { versionKey: false, minimize: false },
);

deletionRequestSchema.index({ code: 1 }, { unique: true });
deletionRequestSchema.index({ state: 1, requestedAt: 1 });

export type DeletionRequest = InferSchemaType<typeof deletionRequestSchema>;
export const DeletionRequestModel = model('DeletionRequest', deletionRequestSchema, 'deletion_requests');

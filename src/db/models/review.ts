import { Schema, model, type InferSchemaType, type Types } from 'mongoose';

/**
 * A verified rating: only a buyer whose order was delivered can leave one, one per (order, product).
 * Managers may hide the text (audited) but never change the stars; hidden text is never shown, the
 * stars still count. Averages are aggregated on read, so concurrent submissions are always right.
 */
const reviewSchema = new Schema(
  {
    pageId: { type: String, required: true },
    productSku: { type: String, required: true },
    orderId: { type: String, required: true },
    psid: { type: String, required: true },
    stars: { type: Number, required: true, min: 1, max: 5, validate: Number.isSafeInteger },
    text: { type: String, default: '' },
    /** The fan agreed to show their first name next to the quote. */
    showName: { type: Boolean, default: false },
    hidden: { type: Boolean, default: false },
    hiddenBy: { type: String, default: null },
    hiddenAt: { type: Date, default: null },
    hiddenReason: { type: String, default: null },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { minimize: false, versionKey: false },
);

reviewSchema.index({ orderId: 1, productSku: 1 }, { unique: true });
reviewSchema.index({ pageId: 1, productSku: 1, createdAt: -1 });
reviewSchema.index({ pageId: 1, psid: 1 });

export type Review = InferSchemaType<typeof reviewSchema>;
export type ReviewDoc = Review & { _id: Types.ObjectId };
export const ReviewModel = model('Review', reviewSchema, 'reviews');

export const FEEDBACK_REQUEST_STATES = ['queued', 'refused', 'answered'] as const;

/**
 * One feedback request per delivered order (unique orderId): queued once when the fan is inside the
 * window, or recorded as refused (outside the window until the order was a week old).
 */
const feedbackRequestSchema = new Schema(
  {
    pageId: { type: String, required: true },
    orderId: { type: String, required: true },
    psid: { type: String, required: true },
    state: { type: String, enum: FEEDBACK_REQUEST_STATES, required: true },
    reason: { type: String, default: null },
    stars: { type: Number, default: null },
    /** The fan may add a sentence until then (their next typed message). */
    awaitingTextUntil: { type: Date, default: null },
    at: { type: Date, required: true },
  },
  { minimize: false, versionKey: false },
);

feedbackRequestSchema.index({ orderId: 1 }, { unique: true });
feedbackRequestSchema.index({ pageId: 1, psid: 1, awaitingTextUntil: -1 });

export const FeedbackRequestModel = model('FeedbackRequest', feedbackRequestSchema, 'feedback_requests');

import { Schema, model, type InferSchemaType, type Types } from 'mongoose';

/**
 * `seen`: stored, nothing to answer (no intent, or a stop). `intent`: a join/info was read and the
 * replies are queued. `private_replied` / `public_replied`: the furthest reply that reached Meta.
 * `confirmed`: the fan tapped Join in Messenger and a pledge exists. `withdrawn`: removed, hidden, or
 * a later "stop" before confirmation. `ignored`: the Page's own comment, too old, or not answerable.
 */
export const COMMENT_STATES = [
  'seen',
  'intent',
  'private_replied',
  'public_replied',
  'confirmed',
  'withdrawn',
  'ignored',
] as const;
export type CommentState = (typeof COMMENT_STATES)[number];

export const COMMENT_INTENTS = ['join', 'info', 'stop', 'none'] as const;

/** `already_replied` (10900) and `not_allowed` (10903) are final: the comment counts as handled. */
export const PRIVATE_REPLY_STATES = [
  'none',
  'queued',
  'sent',
  'already_replied',
  'not_allowed',
  'too_old',
  'failed',
  'cancelled',
] as const;
export type PrivateReplyState = (typeof PRIVATE_REPLY_STATES)[number];

export const PUBLIC_REPLY_STATES = ['none', 'queued', 'sent', 'skipped_rate', 'failed', 'cancelled'] as const;
export type PublicReplyState = (typeof PUBLIC_REPLY_STATES)[number];

/** A comment under one of the Page's posts that the bot answered, or chose not to. */
const commentSchema = new Schema(
  {
    pageId: { type: String, required: true },
    commentId: { type: String, required: true },
    postId: { type: String, required: true },
    /** The post for a top-level comment, else the comment it replies to. */
    parentId: { type: String, required: true },
    /** The commenter's app-scoped id: NOT a PSID. */
    fromId: { type: String, default: null },
    /** Personal data: erased by the privacy duties. */
    fromName: { type: String, default: null },
    message: { type: String, default: '' },
    intent: {
      type: { type: String, enum: COMMENT_INTENTS, default: 'none' },
      quantity: { type: Number, default: null },
      variant: { type: String, default: null },
    },
    locale: { type: String, default: null },
    state: { type: String, enum: COMMENT_STATES, required: true },
    privateReply: {
      state: { type: String, enum: PRIVATE_REPLY_STATES, default: 'none' },
      outboxKey: { type: String, default: null },
      at: { type: Date, default: null },
    },
    publicReply: {
      state: { type: String, enum: PUBLIC_REPLY_STATES, default: 'none' },
      outboxKey: { type: String, default: null },
      at: { type: Date, default: null },
    },
    createdTime: { type: Date, required: true },
    /** Known only when the fan taps a button of the private reply in Messenger. */
    psid: { type: String, default: null },
    /** When the fan first answered the private reply (a conversation started). */
    conversationAt: { type: Date, default: null },
    campaignId: { type: String, default: null },
    productSku: { type: String, default: null },
    pledgeId: { type: String, default: null },
    confirmedAt: { type: Date, default: null },
    withdrawnAt: { type: Date, default: null },
    editedAt: { type: Date, default: null },
  },
  { timestamps: true, minimize: false, versionKey: false },
);

commentSchema.index({ pageId: 1, commentId: 1 }, { unique: true });
commentSchema.index({ pageId: 1, postId: 1, createdTime: -1 });
commentSchema.index({ pageId: 1, postId: 1, fromId: 1 });
commentSchema.index({ pageId: 1, psid: 1 });

export type Comment = InferSchemaType<typeof commentSchema>;
export type CommentDoc = Comment & { _id: Types.ObjectId; createdAt: Date; updatedAt: Date };
export const CommentModel = model('Comment', commentSchema, 'comments');

const keywordListSchema = new Schema(
  {
    join: { type: [String], default: [] },
    info: { type: [String], default: [] },
    stop: { type: [String], default: [] },
  },
  { _id: false },
);

/**
 * Comment settings of a post or a campaign (language, extra keywords per language), and for a post
 * the time of its last public reply: the per-post rate limit is one conditional update on this
 * document, so it holds across processes.
 */
const commentScopeSchema = new Schema(
  {
    pageId: { type: String, required: true },
    scope: { type: String, enum: ['post', 'campaign'], required: true },
    /** Post id or campaign id. */
    id: { type: String, required: true },
    /** The language comments on this post/campaign are answered in (null: detect). */
    locale: { type: String, enum: ['it', 'en', null], default: null },
    keywords: {
      it: { type: keywordListSchema, default: () => ({}) },
      en: { type: keywordListSchema, default: () => ({}) },
    },
    /** Posts only: when the last public reply was queued (the rate limit's memory). */
    lastPublicReplyAt: { type: Date, default: null },
  },
  { timestamps: true, minimize: false, versionKey: false },
);

commentScopeSchema.index({ pageId: 1, scope: 1, id: 1 }, { unique: true });

export type CommentScope = InferSchemaType<typeof commentScopeSchema>;
export const CommentScopeModel = model('CommentScope', commentScopeSchema, 'comment_scopes');

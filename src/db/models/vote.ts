import { Schema, model, type InferSchemaType, type Types } from 'mongoose';

export const VOTE_SOURCES = ['messenger', 'comment'] as const;
export type VoteSource = (typeof VOTE_SOURCES)[number];

/**
 * One vote per fan per proposal (unique (proposalId, psid)). A change is two single-document steps:
 * the vote moves (`seq + 1`, `from` = the option counted until now) conditional on its current `seq`,
 * then the proposal's tallies move with the change's key in `applying`; `countedSeq = seq` closes it.
 * While `countedSeq < seq` a change is in flight: the next call finishes it before starting another.
 */
const voteSchema = new Schema(
  {
    pageId: { type: String, required: true },
    proposalId: { type: Schema.Types.ObjectId, required: true },
    psid: { type: String, required: true },
    optionId: { type: String, required: true },
    /** The option counted before the latest change (null for the first vote). */
    from: { type: String, default: null },
    seq: { type: Number, required: true },
    countedSeq: { type: Number, default: 0 },
    source: { type: String, enum: VOTE_SOURCES, required: true },
    /** "Tell me when it's made". */
    notifyWhenMade: { type: Boolean, default: false },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { minimize: false, versionKey: false },
);

voteSchema.index({ proposalId: 1, psid: 1 }, { unique: true });
voteSchema.index({ proposalId: 1, optionId: 1, _id: 1 });
voteSchema.index({ proposalId: 1, createdAt: 1 });
voteSchema.index({ pageId: 1, psid: 1 });

export type Vote = InferSchemaType<typeof voteSchema>;
export type VoteDoc = Vote & { _id: Types.ObjectId };
export const VoteModel = model('Vote', voteSchema, 'votes');

/**
 * A comment under a post linked to a proposal that names an option: a vote waiting for the fan to
 * confirm it in the private reply (comments carry no PSID). One per comment; confirmed once.
 */
const commentVoteSchema = new Schema(
  {
    pageId: { type: String, required: true },
    commentId: { type: String, required: true },
    postId: { type: String, required: true },
    proposalId: { type: Schema.Types.ObjectId, required: true },
    optionId: { type: String, required: true },
    state: { type: String, enum: ['pending', 'confirmed'], default: 'pending' },
    psid: { type: String, default: null },
    createdAt: { type: Date, required: true },
    confirmedAt: { type: Date, default: null },
  },
  { minimize: false, versionKey: false },
);

commentVoteSchema.index({ pageId: 1, commentId: 1 }, { unique: true });

export const CommentVoteModel = model('CommentVote', commentVoteSchema, 'comment_votes');

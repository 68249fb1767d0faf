import { CommentModel, type CommentDoc } from '../db/models/comment.js';

/**
 * The fan tapped a button of the private reply: their PSID is known from now on. The first tap is
 * "a conversation started". A comment is tied to the first PSID that answers it and no other.
 * Returns the comment, or undefined when it is unknown or belongs to someone else.
 */
export async function recordConversation(
  pageId: string,
  commentId: string,
  psid: string,
  now: Date,
): Promise<CommentDoc | undefined> {
  await CommentModel.updateOne({ pageId, commentId, psid: null }, { $set: { psid, conversationAt: now } });
  const doc = await CommentModel.findOne({ pageId, commentId }).lean<CommentDoc>();
  if (!doc || doc.psid !== psid) return undefined;
  return doc;
}

/** Marks the comment confirmed with its pledge, once; false when it already was. */
export async function markConfirmed(
  pageId: string,
  commentId: string,
  psid: string,
  pledgeId: string,
  now: Date,
): Promise<boolean> {
  const res = await CommentModel.updateOne(
    { pageId, commentId, psid, state: { $ne: 'confirmed' } },
    { $set: { state: 'confirmed', pledgeId, confirmedAt: now } },
  );
  return res.modifiedCount === 1;
}

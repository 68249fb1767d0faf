import type { Config, Locale } from '../config/index.js';
import { getProduct } from '../app/catalog.js';
import { getCampaign } from '../app/groupbuy.js';
import { CommentModel, CommentScopeModel, type CommentState } from '../db/models/comment.js';
import { OutboxMessageModel } from '../db/models/outbox-message.js';
import { PagePostModel } from '../db/models/page-post.js';
import { enqueueMessages } from '../messenger/outbox/enqueue.js';
import type { OutboxListener } from '../messenger/outbox/sender.js';
import { tippingPublicText } from './messages.js';

export const privateReplyKey = (commentId: string): string => `pr:${commentId}`;
export const publicReplyKey = (commentId: string): string => `pub:${commentId}`;
export const tippingKey = (campaignId: string, postId: string): string => `pubtip:${campaignId}:${postId}`;

/** States in which a comment's intent still counts (and can be withdrawn). */
const OPEN_STATES: CommentState[] = ['seen', 'intent', 'private_replied', 'public_replied'];

/** Cancels the comment's replies that have not left yet (a claimed one may already be on its way). */
async function cancelPendingReplies(
  pageId: string,
  commentIds: readonly string[],
  now: Date,
  reason: string,
) {
  if (commentIds.length === 0) return { cancelled: [] as string[] };
  const keys = commentIds.flatMap((id) => [privateReplyKey(id), publicReplyKey(id)]);
  const pending = await OutboxMessageModel.collection
    .find(
      {
        pageId,
        idempotencyKey: { $in: keys },
        state: 'pending',
        $or: [{ leaseUntil: { $exists: false } }, { leaseUntil: null }, { leaseUntil: { $lte: now } }],
      },
      { projection: { _id: 1, idempotencyKey: 1 } },
    )
    .toArray();
  const cancelled: string[] = [];
  for (const p of pending) {
    const res = await OutboxMessageModel.collection.updateOne(
      { _id: p._id, state: 'pending' },
      { $set: { state: 'cancelled', cancelledAt: now, cancelledReason: reason }, $unset: { leaseUntil: '' } },
    );
    if (res.modifiedCount === 1) cancelled.push(String(p.idempotencyKey));
  }
  return { cancelled };
}

async function markCancelled(pageId: string, cancelled: readonly string[]): Promise<void> {
  for (const key of cancelled) {
    const [prefix, ...rest] = key.split(':');
    const commentId = rest.join(':');
    const field = prefix === 'pr' ? 'privateReply' : 'publicReply';
    await CommentModel.updateOne(
      { pageId, commentId, [`${field}.state`]: 'queued' },
      { $set: { [`${field}.state`]: 'cancelled' } },
    );
  }
}

/**
 * The fan removed (or the Page hid) the comment: an unconfirmed intent is withdrawn and replies not
 * yet sent are cancelled. A confirmed pledge stays: the fan confirmed it in Messenger.
 */
export async function withdrawComment(
  pageId: string,
  commentId: string,
  now: Date,
  reason: string,
): Promise<boolean> {
  const res = await CommentModel.updateOne(
    { pageId, commentId, state: { $in: OPEN_STATES } },
    { $set: { state: 'withdrawn', withdrawnAt: now } },
  );
  if (res.modifiedCount === 0) return false;
  const { cancelled } = await cancelPendingReplies(pageId, [commentId], now, `comment_${reason}`);
  await markCancelled(pageId, cancelled);
  return true;
}

/** "stop" under a post: the same commenter's earlier unconfirmed intents on it are withdrawn. */
export async function withdrawEarlierIntents(
  pageId: string,
  postId: string,
  fromId: string,
  exceptCommentId: string,
  now: Date,
): Promise<number> {
  const earlier = await CommentModel.find(
    {
      pageId,
      postId,
      fromId,
      commentId: { $ne: exceptCommentId },
      state: { $in: ['intent', 'private_replied', 'public_replied'] as CommentState[] },
    },
    { commentId: 1 },
  ).lean();
  let n = 0;
  for (const c of earlier) if (await withdrawComment(pageId, c.commentId, now, 'stop')) n++;
  return n;
}

/**
 * How a comment's replies ended, from the outbox sender. 10900/10903 (`private_reply_done`) make the
 * comment handled: Meta will never take another private reply for it, so nothing is retried.
 */
export const commentOutcomeListener: OutboxListener = async (record, outcome) => {
  const key = record.idempotencyKey;
  const now = new Date();
  if (record.kind === 'private_reply' && key.startsWith('pr:')) {
    const commentId = key.slice(3);
    const filter = { pageId: record.pageId, commentId };
    if (outcome.state === 'sent') {
      // One write in the usual case (the comment still at intent or public_replied).
      const set = { 'privateReply.state': 'sent', 'privateReply.at': now };
      const moved = await CommentModel.updateOne(
        { ...filter, state: { $in: ['intent', 'public_replied'] as CommentState[] } },
        { $set: { ...set, state: 'private_replied' } },
      );
      if (moved.matchedCount === 0) await CommentModel.updateOne(filter, { $set: set });
    } else if (outcome.state === 'failed' && outcome.kind === 'private_reply_done') {
      const already = outcome.code === 10900;
      // 10900: someone (another tool, a person) already answered in private: handled.
      // 10903: this person cannot be reached in private: handled, nothing more to do.
      // One write when the comment is still at intent, so no reader sees the reply recorded without the
      // state that goes with it.
      const set = {
        'privateReply.state': already ? 'already_replied' : 'not_allowed',
        'privateReply.at': now,
      };
      const moved = await CommentModel.updateOne(
        { ...filter, state: 'intent' },
        { $set: { ...set, state: already ? 'private_replied' : 'ignored' } },
      );
      if (moved.matchedCount === 0) await CommentModel.updateOne(filter, { $set: set });
    } else {
      await CommentModel.updateOne(filter, {
        $set: { 'privateReply.state': 'failed', 'privateReply.at': now },
      });
    }
    return;
  }
  if (record.kind === 'public_reply' && key.startsWith('pub:')) {
    const commentId = key.slice(4);
    const filter = { pageId: record.pageId, commentId };
    const set = { 'publicReply.state': outcome.state === 'sent' ? 'sent' : 'failed', 'publicReply.at': now };
    const moved =
      outcome.state === 'sent'
        ? await CommentModel.updateOne(
            { ...filter, state: 'intent' },
            { $set: { ...set, state: 'public_replied' } },
          )
        : { matchedCount: 0 };
    if (moved.matchedCount === 0) await CommentModel.updateOne(filter, { $set: set });
  }
};

export interface TippingContext {
  readonly pageId: string;
  readonly now: Date;
  readonly config: Pick<Config, 'defaultLocale' | 'publicUrl'>;
}

/** The posts a campaign is linked to: its own list and the page-post records pointing at it. */
export async function linkedPostIds(pageId: string, campaignId: string, own: readonly string[] = []) {
  const posts = await PagePostModel.find(
    { pageId, 'link.type': 'campaign', 'link.id': campaignId },
    { postId: 1 },
  ).lean();
  return [...new Set([...own, ...posts.map((p) => p.postId)])];
}

/**
 * When a campaign tips: one public update on each linked post, as a reply to the newest comment of the
 * post (the Page's own or a fan's; a post with no comment gets a comment on the post itself).
 * Idempotent: the outbox key `pubtip:<campaignId>:<postId>` is written once whatever the callers.
 */
export async function announceTippingOnPosts(
  ctx: TippingContext,
  campaignId: string,
): Promise<{ readonly posts: number; readonly created: number }> {
  const c = await getCampaign(ctx, campaignId);
  if (!c || !['tipped', 'closed', 'fulfilled'].includes(c.state)) return { posts: 0, created: 0 };
  const postIds = await linkedPostIds(ctx.pageId, c.id, c.linkedPostIds);
  if (postIds.length === 0) return { posts: 0, created: 0 };
  const product = await getProduct(ctx, c.productSku);
  const scopes = await CommentScopeModel.find({
    pageId: ctx.pageId,
    $or: [
      { scope: 'post', id: { $in: postIds } },
      { scope: 'campaign', id: c.id },
    ],
  }).lean();
  const campaignLocale = scopes.find((s) => s.scope === 'campaign')?.locale as Locale | null | undefined;
  const items = [];
  for (const postId of postIds) {
    const newest = await CommentModel.findOne(
      { pageId: ctx.pageId, postId, state: { $ne: 'withdrawn' } },
      { commentId: 1 },
    )
      .sort({ createdTime: -1, _id: -1 })
      .lean();
    const postLocale = scopes.find((s) => s.scope === 'post' && s.id === postId)?.locale as
      Locale | null | undefined;
    const locale = postLocale ?? campaignLocale ?? ctx.config.defaultLocale;
    items.push({
      pageId: ctx.pageId,
      idempotencyKey: tippingKey(c.id, postId),
      kind: 'public_reply' as const,
      recipient: { commentId: newest?.commentId ?? postId },
      purpose: 'reply' as const,
      body: { text: tippingPublicText(locale, ctx.now, c, product) },
      origin: { type: 'campaign', id: c.id },
    });
  }
  const r = await enqueueMessages(items, ctx.now);
  return { posts: postIds.length, created: r.created };
}

/** Erases commenters' names (personal data) for one fan, once their PSID is known. */
export async function eraseCommentsOf(pageId: string, psid: string): Promise<number> {
  const res = await CommentModel.updateMany(
    { pageId, psid },
    { $set: { fromName: null, message: '', fromId: null } },
  );
  return res.modifiedCount;
}

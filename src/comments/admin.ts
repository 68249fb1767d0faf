import { Types } from 'mongoose';
import type { Locale } from '../config/index.js';
import { getProduct } from '../app/catalog.js';
import { CampaignModel } from '../db/models/campaign.js';
import { CommentModel, CommentScopeModel } from '../db/models/comment.js';
import { PagePostModel } from '../db/models/page-post.js';
import { PledgeModel } from '../db/models/pledge.js';

/**
 * The managers' side of comments: link a post to a product (campaign links are the group-buy
 * service's `linkPost`/`unlinkPost`), comment settings per post or campaign, and per-post figures.
 */

export interface PostStats {
  readonly postId: string;
  readonly link: { readonly type: string; readonly id: string } | null;
  readonly comments: number;
  readonly intents: { readonly join: number; readonly info: number; readonly stop: number };
  readonly privateReplies: {
    readonly sent: number;
    readonly handledElsewhere: number;
    readonly failed: number;
  };
  readonly publicReplies: { readonly sent: number; readonly skippedRate: number };
  /** Commenters who tapped a button of their private reply (their PSID is known). */
  readonly conversations: number;
  readonly confirmed: number;
  readonly withdrawn: number;
  /** Pledges whose source is a comment of this post (active, waitlisted or converted). */
  readonly pledges: number;
}

type Counted = { _id: unknown; n: number };
const countOf = (rows: Counted[], key: unknown): number => rows.find((r) => r._id === key)?.n ?? 0;

export async function postStats(pageId: string, postId: string): Promise<PostStats> {
  const match = { pageId, postId, fromId: { $ne: pageId } };
  const [post, total, intents, priv, pub, states, conversations, pledges] = await Promise.all([
    PagePostModel.findOne({ pageId, postId }).lean(),
    CommentModel.countDocuments(match),
    CommentModel.aggregate<Counted>([{ $match: match }, { $group: { _id: '$intent.type', n: { $sum: 1 } } }]),
    CommentModel.aggregate<Counted>([
      { $match: match },
      { $group: { _id: '$privateReply.state', n: { $sum: 1 } } },
    ]),
    CommentModel.aggregate<Counted>([
      { $match: match },
      { $group: { _id: '$publicReply.state', n: { $sum: 1 } } },
    ]),
    CommentModel.aggregate<Counted>([{ $match: match }, { $group: { _id: '$state', n: { $sum: 1 } } }]),
    CommentModel.countDocuments({ ...match, psid: { $ne: null } }),
    PledgeModel.countDocuments({
      pageId,
      'source.type': 'comment',
      'source.postId': postId,
      state: { $in: ['active', 'waitlisted', 'converted'] },
    }),
  ]);
  return {
    postId,
    link: post?.link ? { type: post.link.type, id: post.link.id } : null,
    comments: total,
    intents: {
      join: countOf(intents, 'join'),
      info: countOf(intents, 'info'),
      stop: countOf(intents, 'stop'),
    },
    privateReplies: {
      sent: countOf(priv, 'sent'),
      handledElsewhere: countOf(priv, 'already_replied') + countOf(priv, 'not_allowed'),
      failed: countOf(priv, 'failed'),
    },
    publicReplies: { sent: countOf(pub, 'sent'), skippedRate: countOf(pub, 'skipped_rate') },
    conversations,
    confirmed: countOf(states, 'confirmed'),
    withdrawn: countOf(states, 'withdrawn'),
    pledges,
  };
}

/** Posts the bot knows about (linked ones and those with comments), newest first, with figures. */
export async function listPostStats(pageId: string, limit = 50): Promise<PostStats[]> {
  const posts = await PagePostModel.find({ pageId }, { postId: 1 })
    .sort({ createdTime: -1 })
    .limit(limit)
    .lean();
  const withComments = (await CommentModel.distinct('postId', { pageId })) as string[];
  const ids = [...new Set([...posts.map((p) => p.postId), ...withComments])].slice(0, limit);
  return Promise.all(ids.map((id) => postStats(pageId, id)));
}

export type LinkProductResult = { ok: true } | { ok: false; code: 'product_not_found' };

/** Links a post to a product of the shop (comments under it get the product card). */
export async function linkPostToProduct(
  ctx: { readonly pageId: string; readonly now: Date },
  postId: string,
  input: {
    readonly sku: string;
    readonly message?: string | undefined;
    readonly imageUrl?: string | null | undefined;
  },
): Promise<LinkProductResult> {
  const product = await getProduct(ctx, input.sku);
  if (!product) return { ok: false, code: 'product_not_found' };
  await PagePostModel.updateOne(
    { pageId: ctx.pageId, postId },
    {
      $set: {
        link: { type: 'product', id: product.sku },
        ...(input.message !== undefined ? { message: input.message } : {}),
        ...(input.imageUrl !== undefined ? { imageUrl: input.imageUrl } : {}),
      },
      $setOnInsert: { createdTime: ctx.now, keywords: [] },
    },
    { upsert: true },
  );
  return { ok: true };
}

/**
 * Forgets a post's link: its comments are no longer answered. A campaign link is removed from the
 * campaign too (use the campaigns resource to move it back to the campaign's product instead).
 */
export async function unlinkPostEntirely(
  pageId: string,
  postId: string,
): Promise<{ readonly wasLinked: { type: string; id: string } | null }> {
  const post = await PagePostModel.findOneAndDelete({ pageId, postId }).lean();
  if (post?.link?.type === 'campaign' && /^[a-f0-9]{24}$/i.test(post.link.id)) {
    await CampaignModel.updateOne(
      { _id: new Types.ObjectId(post.link.id), pageId },
      { $pull: { linkedPostIds: postId }, $inc: { version: 1 } },
    );
  }
  return { wasLinked: post?.link ? { type: post.link.type, id: post.link.id } : null };
}

export interface KeywordLists {
  readonly join?: readonly string[] | undefined;
  readonly info?: readonly string[] | undefined;
  readonly stop?: readonly string[] | undefined;
}

export interface ScopeView {
  readonly scope: 'post' | 'campaign';
  readonly id: string;
  readonly locale: Locale | null;
  readonly keywords: Record<'it' | 'en', { join: string[]; info: string[]; stop: string[] }>;
}

type StoredKeywords = Partial<
  Record<'it' | 'en', Partial<Record<'join' | 'info' | 'stop', string[]>> | null>
>;

function viewOf(
  scope: 'post' | 'campaign',
  id: string,
  doc?: { locale?: string | null; keywords?: unknown } | null,
): ScopeView {
  const k = (doc?.keywords ?? {}) as StoredKeywords;
  const lists = (l: 'it' | 'en') => ({
    join: [...(k[l]?.join ?? [])],
    info: [...(k[l]?.info ?? [])],
    stop: [...(k[l]?.stop ?? [])],
  });
  return {
    scope,
    id,
    locale: (doc?.locale ?? null) as Locale | null,
    keywords: { it: lists('it'), en: lists('en') },
  };
}

export async function getScope(pageId: string, scope: 'post' | 'campaign', id: string): Promise<ScopeView> {
  return viewOf(scope, id, await CommentScopeModel.findOne({ pageId, scope, id }).lean());
}

/** Sets a post's or campaign's comment language and/or extra keywords (lists given replace the old). */
export async function setScope(
  pageId: string,
  scope: 'post' | 'campaign',
  id: string,
  input: {
    readonly locale?: Locale | null | undefined;
    readonly keywords?: Partial<Record<'it' | 'en', KeywordLists>> | undefined;
  },
  now: Date,
): Promise<{ before: ScopeView; after: ScopeView }> {
  const before = await getScope(pageId, scope, id);
  const set: Record<string, unknown> = { updatedAt: now };
  if (input.locale !== undefined) set.locale = input.locale;
  for (const l of ['it', 'en'] as const) {
    for (const list of ['join', 'info', 'stop'] as const) {
      const words = input.keywords?.[l]?.[list];
      if (words !== undefined)
        set[`keywords.${l}.${list}`] = [...new Set(words.map((w) => w.trim()).filter(Boolean))];
    }
  }
  await CommentScopeModel.collection.updateOne(
    { pageId, scope, id },
    {
      $set: set,
      $setOnInsert: {
        createdAt: now,
        lastPublicReplyAt: null,
        ...(input.locale === undefined ? { locale: null } : {}),
      },
    },
    { upsert: true },
  );
  return { before, after: await getScope(pageId, scope, id) };
}

export interface CommentView {
  readonly commentId: string;
  readonly postId: string;
  readonly parentId: string;
  readonly fromName: string | null;
  readonly message: string;
  readonly intent: {
    readonly type: string;
    readonly quantity: number | null;
    readonly variant: string | null;
  };
  readonly state: string;
  readonly privateReply: string;
  readonly publicReply: string;
  readonly locale: string | null;
  readonly createdTime: Date;
  readonly conversation: boolean;
  readonly pledgeId: string | null;
}

/** Comments of a post, newest first (the commenter's name is personal data: managers only). */
export async function listComments(
  pageId: string,
  filter: { readonly postId?: string | undefined; readonly state?: string | undefined },
  limit: number,
): Promise<CommentView[]> {
  const docs = await CommentModel.find({
    pageId,
    fromId: { $ne: pageId },
    ...(filter.postId ? { postId: filter.postId } : {}),
    ...(filter.state ? { state: filter.state as never } : {}),
  })
    .sort({ createdTime: -1, _id: -1 })
    .limit(limit)
    .lean();
  return docs.map((d) => ({
    commentId: d.commentId,
    postId: d.postId,
    parentId: d.parentId,
    fromName: d.fromName ?? null,
    message: d.message ?? '',
    intent: {
      type: d.intent?.type ?? 'none',
      quantity: d.intent?.quantity ?? null,
      variant: d.intent?.variant ?? null,
    },
    state: d.state,
    privateReply: d.privateReply?.state ?? 'none',
    publicReply: d.publicReply?.state ?? 'none',
    locale: d.locale ?? null,
    createdTime: d.createdTime,
    conversation: d.psid !== null && d.psid !== undefined,
    pledgeId: d.pledgeId ?? null,
  }));
}

import type { Locale } from '../config/index.js';
import { CampaignModel } from '../db/models/campaign.js';
import { CommentScopeModel } from '../db/models/comment.js';
import { PagePostModel } from '../db/models/page-post.js';
import { findLinkCodes, type KeywordOverrides } from '../domain/comment-intent.js';

/** What a post is about: a group buy or a product of the shop. */
export type PostLink =
  | { readonly type: 'campaign'; readonly id: string; readonly via: 'page_post' | 'code' }
  | { readonly type: 'product'; readonly id: string; readonly via: 'page_post' };

export interface ScopeSettings {
  readonly locale: Locale | null;
  readonly keywords: KeywordOverrides;
}

/**
 * The post's link: a page-post record (linked by a manager) first; else a campaign code found in the
 * post's text (`#DL-GB1`, or the campaign's slug as a word), from the change's `post.message` or the
 * stored post record. Undefined: the post is about nothing the bot sells, so its comments are ignored.
 */
export async function resolvePostLink(
  pageId: string,
  postId: string,
  postMessage: string | undefined,
): Promise<{ link: PostLink; keywords: readonly string[] } | undefined> {
  const post = await PagePostModel.findOne({ pageId, postId }).lean();
  if (post?.link?.type === 'campaign' || post?.link?.type === 'product') {
    return {
      link: { type: post.link.type, id: post.link.id, via: 'page_post' } as PostLink,
      keywords: post.keywords ?? [],
    };
  }
  const text = [postMessage, post?.message].filter((s): s is string => typeof s === 'string').join('\n');
  if (text.trim().length === 0) return undefined;
  const tags = findLinkCodes(text);
  // Slugs are short codes ("JEANS25"): any word of the post may be one.
  const words = text
    .toUpperCase()
    .split(/[^\p{L}\p{N}_-]+/u)
    .filter((w) => /^[A-Z0-9_-]{2,40}$/.test(w));
  const candidates = [...new Set([...tags, ...words])].slice(0, 200);
  if (candidates.length === 0) return undefined;
  const campaigns = await CampaignModel.find(
    { pageId, state: { $nin: ['draft'] } },
    { _id: 1, slug: 1, state: 1, createdAt: 1 },
  )
    .sort({ createdAt: -1 })
    .limit(500)
    .lean();
  // A hashtag wins over a bare word; a live campaign over an ended one.
  const bySlug = new Map<string, { id: string; live: boolean }>();
  for (const c of campaigns) {
    const slug = String(c.slug).toUpperCase();
    if (!bySlug.has(slug))
      bySlug.set(slug, { id: String(c._id), live: ['open', 'tipped'].includes(c.state) });
  }
  const found = [...tags, ...words].map((w) => bySlug.get(w)).filter((x) => x !== undefined);
  const best = found.find((f) => f.live) ?? found[0];
  return best
    ? { link: { type: 'campaign', id: best.id, via: 'code' }, keywords: post?.keywords ?? [] }
    : undefined;
}

/** Settings of the post, then of its campaign; the post's locale wins, the keywords add up. */
export async function scopeSettings(
  pageId: string,
  postId: string,
  campaignId?: string,
): Promise<ScopeSettings> {
  const ids: { scope: 'post' | 'campaign'; id: string }[] = [
    { scope: 'post', id: postId },
    ...(campaignId ? [{ scope: 'campaign' as const, id: campaignId }] : []),
  ];
  const docs = await CommentScopeModel.find({ pageId, $or: ids }).lean();
  const post = docs.find((d) => d.scope === 'post');
  const campaign = docs.find((d) => d.scope === 'campaign');
  const locale = (post?.locale ?? campaign?.locale ?? null) as Locale | null;
  const keywords: Record<'it' | 'en', { join: string[]; info: string[]; stop: string[] }> = {
    it: { join: [], info: [], stop: [] },
    en: { join: [], info: [], stop: [] },
  };
  for (const d of [post, campaign]) {
    if (!d) continue;
    for (const l of ['it', 'en'] as const) {
      const k = d.keywords?.[l];
      if (!k) continue;
      keywords[l].join.push(...(k.join ?? []));
      keywords[l].info.push(...(k.info ?? []));
      keywords[l].stop.push(...(k.stop ?? []));
    }
  }
  return { locale, keywords };
}

/**
 * Takes the post's public-reply slot if the last one is older than `intervalMs`: one conditional
 * update (or the insert of the post's scope document), so two processes never both get it.
 */
export async function takePublicReplySlot(
  pageId: string,
  postId: string,
  now: Date,
  intervalMs: number,
): Promise<boolean> {
  const before = new Date(now.getTime() - intervalMs);
  try {
    const res = await CommentScopeModel.collection.updateOne(
      {
        pageId,
        scope: 'post',
        id: postId,
        $or: [{ lastPublicReplyAt: null }, { lastPublicReplyAt: { $lte: before } }],
      },
      {
        $set: { lastPublicReplyAt: now, updatedAt: now },
        $setOnInsert: {
          locale: null,
          keywords: { it: { join: [], info: [], stop: [] }, en: { join: [], info: [], stop: [] } },
          createdAt: now,
        },
      },
      { upsert: true },
    );
    return res.modifiedCount === 1 || res.upsertedCount === 1;
  } catch (error) {
    // The document exists with a recent reply: the upsert collided with the unique index.
    if ((error as { code?: number }).code === 11000) return false;
    throw error;
  }
}

import { handleVoteComment } from '../app/proposals.js';
import type { Config, Locale } from '../config/index.js';
import { getProduct, type ProductView } from '../app/catalog.js';
import { getCampaign, type CampaignView } from '../app/groupbuy.js';
import { CommentModel, type CommentDoc, type CommentState } from '../db/models/comment.js';
import { detectIntent, detectLocale, type CommentIntent } from '../domain/comment-intent.js';
import type { Logger } from '../log.js';
import type { FeedHandler } from '../messenger/event-handler.js';
import type { InboxItem, InboxOutcome } from '../messenger/inbox/processor.js';
import type { OutgoingMessage } from '../messenger/builders.js';
import { enqueueMessages, type OutgoingItem } from '../messenger/outbox/enqueue.js';
import {
  resolvePostLink,
  scopeSettings,
  takePublicReplySlot,
  type PostLink,
  type ScopeSettings,
} from './links.js';
import {
  campaignClosedMessage,
  campaignInfoMessage,
  campaignOfferCard,
  isLive,
  productCard,
  productInfoMessage,
  publicReplyText,
} from './messages.js';
import { privateReplyKey, publicReplyKey, withdrawComment, withdrawEarlierIntents } from './service.js';

/** Meta allows a private reply within 7 days of the comment (reference §3). */
export const PRIVATE_REPLY_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;

export interface FeedHandlerDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly now: () => Date;
  /** Wakes the local outbox sender once replies are stored. */
  readonly onQueued?: () => void;
  /**
   * Minimum time between two public replies on one post (default: the configuration's
   * `COMMENTS_PUBLIC_REPLY_INTERVAL_S`). Comments beyond it get only the private reply.
   */
  readonly publicReplyIntervalMs?: number;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' ? String(v) : undefined;

/** A comment change as Meta sends it, read from both shapes (`from` and the older `sender_*`). */
export interface CommentChange {
  readonly verb: string;
  readonly commentId: string;
  readonly postId: string;
  readonly parentId: string;
  readonly fromId: string | undefined;
  readonly fromName: string | undefined;
  readonly message: string;
  readonly createdTime: Date;
  readonly postMessage: string | undefined;
}

export function readCommentChange(change: Json, fallbackTime: Date): CommentChange | undefined {
  if (change.field !== 'feed' || !isObject(change.value)) return undefined;
  const v = change.value;
  if (v.item !== 'comment') return undefined;
  const commentId = str(v.comment_id);
  const postId = str(v.post_id) ?? (isObject(v.post) ? str(v.post.id) : undefined);
  if (!commentId || !postId) return undefined;
  const from = isObject(v.from) ? v.from : undefined;
  const created = v.created_time;
  let createdTime = fallbackTime;
  if (typeof created === 'number' && Number.isFinite(created) && created > 0) {
    createdTime = new Date(created < 1e12 ? created * 1000 : created);
  } else if (typeof created === 'string') {
    const n = Number(created);
    const d = Number.isFinite(n) ? new Date(n < 1e12 ? n * 1000 : n) : new Date(created);
    if (!Number.isNaN(d.getTime())) createdTime = d;
  }
  return {
    verb: str(v.verb) ?? 'unknown',
    commentId,
    postId,
    parentId: str(v.parent_id) ?? postId,
    fromId: (from ? str(from.id) : undefined) ?? str(v.sender_id),
    fromName: (from && typeof from.name === 'string' ? from.name : undefined) ?? str(v.sender_name),
    message: typeof v.message === 'string' ? v.message : '',
    createdTime,
    postMessage: isObject(v.post) && typeof v.post.message === 'string' ? v.post.message : undefined,
  };
}

/** How long a post's link, campaign and settings are reused between its comments (a burst). */
const POST_CACHE_MS = 1000;

interface PostContext {
  readonly resolved: { readonly link: PostLink; readonly keywords: readonly string[] };
  readonly target: Target;
  readonly campaignId: string | undefined;
  readonly settings: ScopeSettings;
}

interface Target {
  readonly link: PostLink;
  readonly campaign: CampaignView | undefined;
  readonly product: ProductView | undefined;
}

/**
 * The comments entry point (`onFeed`): reads a `feed` change, stores the comment once, reads its
 * intent, and queues one private reply (`pr:<commentId>`) and, within the post's rate, one public reply
 * (`pub:<commentId>`). An edit never answers again; a removal or hide withdraws an unconfirmed intent.
 * Idempotent: a redelivered or retried event finds the stored comment and queues nothing new.
 */
export function createFeedHandler(deps: FeedHandlerDeps): FeedHandler {
  const log = deps.log.child({ module: 'comments' });
  const intervalMs = deps.publicReplyIntervalMs ?? deps.config.commentsPublicReplyIntervalMs;

  async function loadTarget(pageId: string, link: PostLink): Promise<Target> {
    if (link.type === 'campaign') {
      const campaign = await getCampaign({ pageId }, link.id);
      const product = campaign ? await getProduct({ pageId }, campaign.productSku) : undefined;
      return { link, campaign, product };
    }
    return { link, campaign: undefined, product: await getProduct({ pageId }, link.id) };
  }

  function privateMessage(
    doc: CommentDoc,
    target: Target,
    locale: Locale,
    now: Date,
  ): OutgoingMessage | undefined {
    const { campaign, product } = target;
    const intent = doc.intent?.type;
    if (campaign) {
      if (!isLive(campaign, now)) return campaignClosedMessage(locale, campaign, product);
      return intent === 'info'
        ? campaignInfoMessage(locale, now, campaign, product, doc.commentId)
        : campaignOfferCard(deps.config, locale, now, campaign, product, doc.commentId);
    }
    if (!product || !product.active) return undefined;
    return intent === 'info'
      ? productInfoMessage(locale, product)
      : productCard(deps.config, locale, product, doc.commentId);
  }

  /**
   * Queues what the comment still needs: the private reply, and the public one if the post's rate
   * allows. One update records both decisions, one insert queues both messages (private first: same
   * outbox queue, so it leaves first). Safe to run again: every step is conditional or keyed.
   */
  async function answer(doc: CommentDoc, target: Target): Promise<void> {
    if (doc.state !== 'intent') return;
    const now = deps.now();
    const pageId = doc.pageId;
    const locale = (doc.locale ?? deps.config.defaultLocale) as Locale;
    const privateState = doc.privateReply?.state ?? 'none';
    let publicState = doc.publicReply?.state ?? 'none';
    const set: Record<string, unknown> = {};
    const items: OutgoingItem[] = [];

    if (privateState === 'none' || privateState === 'queued') {
      if (now.getTime() - doc.createdTime.getTime() > PRIVATE_REPLY_MAX_AGE_MS) {
        await CommentModel.updateOne(
          { _id: doc._id, 'privateReply.state': privateState },
          { $set: { state: 'ignored', 'privateReply.state': 'too_old', 'privateReply.at': now } },
        );
        return;
      }
      const message = privateMessage(doc, target, locale, now);
      if (!message) {
        await CommentModel.updateOne({ _id: doc._id, state: 'intent' }, { $set: { state: 'ignored' } });
        return;
      }
      const key = privateReplyKey(doc.commentId);
      if (privateState === 'none') {
        Object.assign(set, {
          'privateReply.state': 'queued',
          'privateReply.outboxKey': key,
          'privateReply.at': now,
        });
      }
      items.push({
        pageId,
        idempotencyKey: key,
        kind: 'private_reply',
        recipient: { commentId: doc.commentId },
        purpose: 'reply',
        body: message as unknown as Record<string, unknown>,
        origin: { type: 'comment', id: doc.commentId },
      });
    }

    // A public reply only where there is something to show: a live campaign, or an active product.
    const worthPublic = target.campaign ? isLive(target.campaign, now) : target.product?.active === true;
    if (publicState === 'none' && worthPublic) {
      // A public reply was given on this post moments ago (this process saw it): no need to ask.
      const postKey = `${pageId}\u0000${doc.postId}`;
      const last = lastPublicReply.get(postKey) ?? -Infinity;
      const slot =
        now.getTime() - last >= intervalMs &&
        (await takePublicReplySlot(pageId, doc.postId, now, intervalMs));
      if (slot) lastPublicReply.set(postKey, now.getTime());
      if (lastPublicReply.size > 10_000) lastPublicReply.clear();
      publicState = slot ? 'queued' : 'skipped_rate';
      Object.assign(set, {
        'publicReply.state': publicState,
        'publicReply.at': now,
        ...(slot ? { 'publicReply.outboxKey': publicReplyKey(doc.commentId) } : {}),
      });
    }
    if (publicState === 'queued') {
      const kind = doc.intent?.type === 'info' ? 'info' : 'join';
      items.push({
        pageId,
        idempotencyKey: publicReplyKey(doc.commentId),
        kind: 'public_reply',
        recipient: { commentId: doc.commentId },
        purpose: 'reply',
        body: { text: publicReplyText(locale, now, kind, doc.commentId, target.campaign) },
        origin: { type: 'comment', id: doc.commentId },
      });
    }
    if (Object.keys(set).length > 0) {
      // Conditional on what was read: a listener that recorded a result meanwhile is never undone.
      await CommentModel.updateOne(
        {
          _id: doc._id,
          'privateReply.state': privateState,
          'publicReply.state': doc.publicReply?.state ?? 'none',
        },
        { $set: set },
      );
    }
    const r = await enqueueMessages(items, now);
    if (r.created > 0) deps.onQueued?.();
  }

  /** Only a hint to skip a database call: the slot itself is granted by the database alone. */
  const lastPublicReply = new Map<string, number>();

  /** What every comment of a post needs (link, campaign/product, settings), kept for a second. */
  const postCache = new Map<string, { at: number; value: PostContext | undefined }>();
  async function postContext(pageId: string, postId: string, postMessage: string | undefined) {
    const key = `${pageId}\u0000${postId}\u0000${postMessage ?? ''}`;
    const nowMs = Date.now();
    const hit = postCache.get(key);
    if (hit && nowMs - hit.at < POST_CACHE_MS) return hit.value;
    const resolved = await resolvePostLink(pageId, postId, postMessage);
    let value: PostContext | undefined;
    if (resolved) {
      const target = await loadTarget(pageId, resolved.link);
      const campaignId = resolved.link.type === 'campaign' ? resolved.link.id : undefined;
      const settings = await scopeSettings(pageId, postId, campaignId);
      value = { resolved, target, campaignId, settings };
    }
    if (postCache.size > 1000) postCache.clear();
    postCache.set(key, { at: nowMs, value });
    return value;
  }

  async function resume(existing: CommentDoc): Promise<void> {
    // A retried event after a crash midway: finish what is missing (all of it is keyed).
    if (existing.state !== 'intent' || !(existing.campaignId || existing.productSku)) return;
    const link: PostLink = existing.campaignId
      ? { type: 'campaign', id: existing.campaignId, via: 'page_post' }
      : { type: 'product', id: existing.productSku!, via: 'page_post' };
    await answer(existing, await loadTarget(existing.pageId, link));
  }

  async function onAdd(pageId: string, c: CommentChange, item: InboxItem): Promise<InboxOutcome> {
    if (c.verb === 'edited') {
      const existing = await CommentModel.findOne({ pageId, commentId: c.commentId }).lean<CommentDoc>();
      if (existing) {
        // An edit never answers again: keep the newest text, nothing else.
        await CommentModel.updateOne(
          { _id: existing._id },
          { $set: { message: c.message, editedAt: item.eventTime } },
        );
        return 'done';
      }
      // An edit of a comment never seen (made before the bot was installed): its first answer.
    }
    const context = await postContext(pageId, c.postId, c.postMessage);
    if (!context) {
      // Not a shop or campaign post: it may be a co-design proposal, where a comment naming an option
      // is a vote (confirmed by the fan in the private reply, keyed like every private reply).
      const vote = await handleVoteComment(
        { pageId, now: deps.now(), config: deps.config, log },
        { commentId: c.commentId, postId: c.postId, message: c.message, fromId: c.fromId },
      );
      if (vote === 'queued') {
        deps.onQueued?.();
        return 'done';
      }
      return 'skipped'; // a post about nothing the bot sells: nothing stored (personal data)
    }
    const { resolved, target, campaignId, settings } = context;
    const extraJoin = resolved.keywords.length > 0 ? { join: [...resolved.keywords] } : {};
    const keywords = {
      it: {
        ...settings.keywords.it,
        join: [...(settings.keywords.it?.join ?? []), ...(extraJoin.join ?? [])],
      },
      en: {
        ...settings.keywords.en,
        join: [...(settings.keywords.en?.join ?? []), ...(extraJoin.join ?? [])],
      },
    };
    const variants = (target.product?.variants ?? []).flatMap((v) =>
      [v.size, v.colour].filter((x): x is string => !!x),
    );
    const intent: CommentIntent = detectIntent(c.message, { keywords, variants });
    const locale: Locale = settings.locale ?? detectLocale(c.message) ?? deps.config.defaultLocale;
    const answerable = intent.type === 'join' || intent.type === 'info';
    const doc = {
      pageId,
      commentId: c.commentId,
      postId: c.postId,
      parentId: c.parentId,
      fromId: c.fromId ?? null,
      fromName: c.fromName ?? null,
      message: c.message,
      intent: {
        type: intent.type,
        quantity: intent.type === 'join' ? (intent.quantity ?? null) : null,
        variant: intent.type === 'join' ? (intent.variant ?? null) : null,
      },
      locale,
      state: (answerable ? 'intent' : 'seen') as CommentState,
      privateReply: { state: 'none' as const, outboxKey: null, at: null },
      publicReply: { state: 'none' as const, outboxKey: null, at: null },
      createdTime: c.createdTime,
      psid: null,
      conversationAt: null,
      campaignId: campaignId ?? null,
      productSku: resolved.link.type === 'product' ? resolved.link.id : (target.campaign?.productSku ?? null),
      pledgeId: null,
      confirmedAt: null,
      withdrawnAt: null,
      editedAt: c.verb === 'edited' ? item.eventTime : null,
    };
    let stored: CommentDoc;
    try {
      const created = await CommentModel.create(doc);
      stored = created.toObject() as unknown as CommentDoc;
    } catch (error) {
      if ((error as { code?: number }).code !== 11000) throw error;
      // Stored before (a redelivery, or a retry after a crash midway): finish what is missing.
      const existing = await CommentModel.findOne({ pageId, commentId: c.commentId }).lean<CommentDoc>();
      if (existing) await resume(existing);
      return 'done';
    }
    if (intent.type === 'stop' && c.fromId) {
      await withdrawEarlierIntents(pageId, c.postId, c.fromId, c.commentId, deps.now());
    }
    log.debug({ commentId: c.commentId, intent: intent.type }, 'comment stored');
    if (answerable) await answer(stored, target);
    return 'done';
  }

  return async (item) => {
    const c = readCommentChange(item.payload, item.eventTime);
    if (!c) return 'skipped';
    const pageId = item.pageId;
    if (c.fromId === pageId) {
      // The Page's own comment: never answered. Remembered (no name) as the newest comment of the
      // post, where a tipping announcement can be posted as a reply.
      if (c.verb === 'add') {
        await CommentModel.updateOne(
          { pageId, commentId: c.commentId },
          {
            $setOnInsert: {
              pageId,
              commentId: c.commentId,
              postId: c.postId,
              parentId: c.parentId,
              fromId: pageId,
              fromName: null,
              message: c.message,
              intent: { type: 'none', quantity: null, variant: null },
              state: 'ignored',
              privateReply: { state: 'none', outboxKey: null, at: null },
              publicReply: { state: 'none', outboxKey: null, at: null },
              createdTime: c.createdTime,
            },
          },
          { upsert: true },
        );
      }
      return 'done';
    }
    switch (c.verb) {
      case 'add':
      case 'edited':
        return onAdd(pageId, c, item);
      case 'remove':
      case 'hide':
        await withdrawComment(pageId, c.commentId, deps.now(), c.verb);
        return 'done';
      default:
        return 'skipped';
    }
  };
}

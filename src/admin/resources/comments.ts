import { z } from 'zod';
import {
  getScope,
  linkPostToProduct,
  listComments,
  listPostStats,
  postStats,
  setScope,
  unlinkPostEntirely,
} from '../../comments/admin.js';
import { announceTippingOnPosts } from '../../comments/service.js';
import { COMMENT_STATES } from '../../db/models/comment.js';
import { recordAudit } from '../audit.js';
import { notFound } from '../errors.js';
import { route, type AdminRoute } from '../http.js';
import { objectId } from '../schemas.js';

const TAG = 'comments';

const postId = z.string().regex(/^[0-9]{1,32}(_[0-9]{1,32})?$/, 'must be a Graph post id');
const sku = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be a SKU');
const keyword = z.string().trim().min(1).max(60);
const keywordLists = z
  .object({
    join: z.array(keyword).max(50).optional(),
    info: z.array(keyword).max(50).optional(),
    stop: z.array(keyword).max(50).optional(),
  })
  .strict();
const locale = z.enum(['it', 'en']);
const scopeParams = z.object({
  scope: z.enum(['post', 'campaign']),
  id: z.string().regex(/^[0-9a-f_]{1,64}$/i),
});

const listsSchema = z.object({
  join: z.array(z.string()),
  info: z.array(z.string()),
  stop: z.array(z.string()),
});
const scopeSchema = z.object({
  scope: z.enum(['post', 'campaign']),
  id: z.string(),
  locale: z.string().nullable(),
  keywords: z.object({ it: listsSchema, en: listsSchema }),
});

const statsSchema = z.object({
  postId: z.string(),
  link: z.object({ type: z.string(), id: z.string() }).nullable(),
  comments: z.number(),
  intents: z.object({ join: z.number(), info: z.number(), stop: z.number() }),
  privateReplies: z.object({ sent: z.number(), handledElsewhere: z.number(), failed: z.number() }),
  publicReplies: z.object({ sent: z.number(), skippedRate: z.number() }),
  conversations: z.number().describe('Commenters who tapped a button of their private reply'),
  confirmed: z.number(),
  withdrawn: z.number(),
  pledges: z
    .number()
    .describe('Active, waitlisted or converted pledges whose source is a comment of the post'),
});

const commentSchema = z.object({
  commentId: z.string(),
  postId: z.string(),
  parentId: z.string(),
  fromName: z.string().nullable(),
  message: z.string(),
  intent: z.object({ type: z.string(), quantity: z.number().nullable(), variant: z.string().nullable() }),
  state: z.string(),
  privateReply: z.string(),
  publicReply: z.string(),
  locale: z.string().nullable(),
  createdTime: z.date(),
  conversation: z.boolean(),
  pledgeId: z.string().nullable(),
});

/**
 * Comments under the Page's posts. Linking a post to a campaign is the campaigns resource's
 * (`POST /campaigns/:id/posts`); this one adds product links, full unlinking, per-post/campaign
 * language and keywords, the figures per post, and the comments themselves.
 */
export const commentRoutes: AdminRoute[] = [
  route({
    method: 'get',
    path: '/comments/posts',
    tag: TAG,
    summary: 'Known posts (linked or commented), newest first, each with its comment figures',
    role: 'viewer',
    query: z.object({ limit: z.coerce.number().int().min(1).max(100).optional() }),
    response: z.object({ items: z.array(statsSchema) }),
    handler: async (ctx, { query }) => ({ items: await listPostStats(ctx.pageId, query.limit ?? 50) }),
  }),

  route({
    method: 'get',
    path: '/comments/posts/:postId/stats',
    tag: TAG,
    summary: 'Comments seen, intents, private and public replies, conversations started, pledges',
    role: 'viewer',
    params: z.object({ postId }),
    response: statsSchema,
    handler: async (ctx, { params }) => postStats(ctx.pageId, params.postId),
  }),

  route({
    method: 'put',
    path: '/comments/posts/:postId/product',
    tag: TAG,
    summary: 'Link a post to a product: comments under it get the product card',
    role: 'manager',
    params: z.object({ postId }),
    body: z.object({
      sku,
      message: z.string().max(5000).optional(),
      imageUrl: z.url().max(2000).nullable().optional(),
    }),
    response: statsSchema,
    handler: async (ctx, { params, body }) => {
      const res = await linkPostToProduct(ctx, params.postId, body);
      if (!res.ok) throw notFound('product', body.sku);
      await recordAudit(ctx, {
        action: 'post.link_product',
        target: { type: 'post', id: params.postId },
        after: { sku: body.sku },
      });
      return postStats(ctx.pageId, params.postId);
    },
  }),

  route({
    method: 'delete',
    path: '/comments/posts/:postId/link',
    tag: TAG,
    summary: 'Unlink a post entirely (campaign or product): its comments are no longer answered',
    role: 'manager',
    params: z.object({ postId }),
    response: z.object({
      postId: z.string(),
      wasLinked: z.object({ type: z.string(), id: z.string() }).nullable(),
    }),
    handler: async (ctx, { params }) => {
      const res = await unlinkPostEntirely(ctx.pageId, params.postId);
      if (res.wasLinked) {
        await recordAudit(ctx, {
          action: 'post.unlink',
          target: { type: 'post', id: params.postId },
          before: res.wasLinked,
        });
      }
      return { postId: params.postId, wasLinked: res.wasLinked };
    },
  }),

  route({
    method: 'get',
    path: '/comments/settings/:scope/:id',
    tag: TAG,
    summary: 'Comment language and extra keywords of a post or a campaign',
    role: 'viewer',
    params: scopeParams,
    response: scopeSchema,
    handler: async (ctx, { params }) => getScope(ctx.pageId, params.scope, params.id),
  }),

  route({
    method: 'put',
    path: '/comments/settings/:scope/:id',
    tag: TAG,
    summary: 'Set the language comments are answered in and extra keywords per language',
    description:
      'Keywords are added to the built-in it/en lists (join, info, stop). A list given replaces the ' +
      'stored one; `locale: null` goes back to detecting the language of each comment.',
    role: 'manager',
    params: scopeParams,
    body: z
      .object({
        locale: locale.nullable().optional(),
        keywords: z.object({ it: keywordLists.optional(), en: keywordLists.optional() }).strict().optional(),
      })
      .strict(),
    response: scopeSchema,
    handler: async (ctx, { params, body }) => {
      const { before, after } = await setScope(ctx.pageId, params.scope, params.id, body, ctx.now);
      await recordAudit(ctx, {
        action: 'comments.settings',
        target: { type: params.scope, id: params.id },
        before: { locale: before.locale, keywords: before.keywords },
        after: { locale: after.locale, keywords: after.keywords },
      });
      return after;
    },
  }),

  route({
    method: 'get',
    path: '/comments',
    tag: TAG,
    summary: 'Comments the bot read, newest first (names are personal data)',
    role: 'manager',
    query: z.object({
      postId: postId.optional(),
      state: z.enum(COMMENT_STATES).optional(),
      limit: z.coerce.number().int().min(1).max(200).optional(),
    }),
    response: z.object({ items: z.array(commentSchema) }),
    handler: async (ctx, { query }) => ({
      items: await listComments(ctx.pageId, { postId: query.postId, state: query.state }, query.limit ?? 50),
    }),
  }),

  route({
    method: 'post',
    path: '/comments/campaigns/:id/announce-tipping',
    tag: TAG,
    summary: 'Post the "we made it" reply on each post linked to a tipped group buy (idempotent)',
    role: 'manager',
    params: z.object({ id: objectId }),
    response: z.object({ posts: z.number(), created: z.number() }),
    handler: async (ctx, { params }) => {
      const res = await announceTippingOnPosts(ctx, params.id);
      if (res.created > 0) {
        await recordAudit(ctx, {
          action: 'comments.announce_tipping',
          target: { type: 'campaign', id: params.id },
          after: res,
        });
      }
      return res;
    },
  }),
];

import type { Types } from 'mongoose';
import { z } from 'zod';
import {
  closeProposal,
  createProposal,
  getProposal,
  linkProposalPost,
  publishProposal,
  reconcileTallies,
  toProposalView,
  unlinkProposalPost,
  updateProposal,
  voteSegments,
  voteTimeline,
  type ProposalContext,
  type ProposalFailure,
  type ProposalView,
} from '../../app/proposals.js';
import { ProposalModel } from '../../db/models/proposal.js';
import { ON_DECISION, PROPOSAL_KINDS, PROPOSAL_STATES, standingLines } from '../../domain/proposal.js';
import { recordAudit } from '../audit.js';
import type { AdminContext } from '../context.js';
import { AdminError, notFound } from '../errors.js';
import { route, type AdminRoute } from '../http.js';
import { afterCursor, limitOf, pageFrom, pageOf, pageQueryShape, sortFor } from '../pagination.js';
import { idParams, label, objectId } from '../schemas.js';

const TAG = 'proposals';

const sku = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a SKU (letters, digits, "_", "-")');
const code = z.string().regex(/^[A-Za-z0-9_-]{2,30}$/, 'must be 2–30 letters, digits, "_" or "-"');
const texts = z.object({ title: label(80), description: z.string().max(1000).default('') });
const deadline = z.iso.datetime({ offset: true }).transform((v) => new Date(v));
const postId = z.string().regex(/^[0-9]{1,32}(_[0-9]{1,32})?$/, 'must be a Graph post id');
const option = z.object({
  id: z.string().regex(/^[a-z0-9_-]{1,20}$/, 'must be 1–20 lowercase letters, digits, "_" or "-"'),
  texts: z.object({ it: label(80), en: label(80) }),
  imageUrl: z.url().max(2000).nullable().default(null),
  productSku: sku.nullable().default(null),
  variantSku: sku.nullable().default(null),
});
const template = z.object({
  minQuantity: z.number().int().min(1).max(1_000_000),
  maxQuantity: z.number().int().min(1).max(1_000_000).nullable().default(null),
  tiers: z
    .array(z.object({ fromQuantity: z.number().int().min(0), unitPrice: z.number().int().min(1) }))
    .min(1)
    .max(10),
  deadlineOffsetHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 90),
  perFanLimit: z.number().int().min(1).max(100),
});

const createBody = z.object({
  code,
  kind: z.enum(PROPOSAL_KINDS),
  options: z.array(option).min(1).max(10),
  texts: z.object({ it: texts, en: texts }),
  deadline,
  threshold: z.number().int().min(1).max(1_000_000).describe('Votes an option needs to win at once'),
  onDecision: z.enum(ON_DECISION).default('draft_campaign'),
  campaignTemplate: template,
});

const proposalSchema = z.object({
  id: z.string(),
  code: z.string(),
  kind: z.enum(PROPOSAL_KINDS),
  options: z.array(
    z.object({
      id: z.string(),
      texts: z.object({ it: z.string(), en: z.string() }),
      imageUrl: z.string().nullable(),
      productSku: z.string().nullable(),
      variantSku: z.string().nullable(),
      tally: z.number(),
    }),
  ),
  texts: z.object({
    it: z.object({ title: z.string(), description: z.string() }),
    en: z.object({ title: z.string(), description: z.string() }),
  }),
  deadline: z.date(),
  threshold: z.number(),
  onDecision: z.enum(ON_DECISION),
  state: z.enum(PROPOSAL_STATES),
  winnerOptionId: z.string().nullable(),
  decidedAt: z.date().nullable(),
  decidedBy: z.string().nullable(),
  campaignId: z.string().nullable(),
  campaignError: z.string().nullable(),
  invitedAt: z.date().nullable(),
  linkedPostIds: z.array(z.string()),
  version: z.number(),
  standings: z.array(z.object({ id: z.string(), tally: z.number(), percent: z.number() })),
  totalVotes: z.number(),
});

function pctx(ctx: AdminContext): ProposalContext {
  return { pageId: ctx.pageId, now: ctx.now, config: ctx.config, log: ctx.log };
}

function present(p: ProposalView) {
  return {
    ...p,
    standings: standingLines(p.options),
    totalVotes: p.options.reduce((s, o) => s + o.tally, 0),
  };
}

function failure(f: ProposalFailure, id?: string): AdminError {
  switch (f.code) {
    case 'not_found':
      return notFound('proposal', id);
    case 'invalid':
      return new AdminError(
        'validation',
        `Invalid proposal: ${f.problem}`,
        { problem: f.problem, index: f.index ?? null },
        f.problem,
      );
    case 'code_taken':
      return new AdminError('conflict', 'Another proposal of this page has that code', null, 'code_taken');
    case 'forbidden_transition':
      return new AdminError(
        'conflict',
        `Not allowed while the proposal is ${f.state}`,
        { state: f.state },
        'forbidden_transition',
      );
  }
}

const auditable = (p: ProposalView) => ({
  code: p.code,
  state: p.state,
  threshold: p.threshold,
  deadline: p.deadline.toISOString(),
  options: p.options.map((o) => o.id),
  onDecision: p.onDecision,
});

export const proposalRoutes: AdminRoute[] = [
  route({
    method: 'get',
    path: '/proposals',
    tag: TAG,
    summary: 'Proposals (fans vote on what gets made), newest first',
    role: 'viewer',
    query: z.object({ state: z.enum(PROPOSAL_STATES).optional(), ...pageQueryShape }),
    response: pageOf(proposalSchema),
    handler: async (ctx, { query }) => {
      const base: Record<string, unknown> = { pageId: ctx.pageId };
      if (query.state) base.state = query.state;
      const docs = await ProposalModel.find(afterCursor(base, 'createdAt', query))
        .sort(sortFor('createdAt'))
        .limit(limitOf(query) + 1)
        .lean<(Parameters<typeof toProposalView>[0] & { _id: Types.ObjectId; createdAt: Date })[]>();
      return pageFrom(
        docs,
        query,
        (d) => d.createdAt,
        (d) => present(toProposalView(d)),
      );
    },
  }),

  route({
    method: 'post',
    path: '/proposals',
    tag: TAG,
    summary: 'Create a proposal (as a draft)',
    role: 'manager',
    body: createBody,
    response: proposalSchema,
    status: 201,
    handler: async (ctx, { body }) => {
      const res = await createProposal(pctx(ctx), body);
      if (!res.ok) throw failure(res);
      await recordAudit(ctx, {
        action: 'proposal.create',
        target: { type: 'proposal', id: res.proposal.id },
        after: auditable(res.proposal),
      });
      return present(res.proposal);
    },
  }),

  route({
    method: 'get',
    path: '/proposals/:id',
    tag: TAG,
    summary: 'One proposal with its standings',
    role: 'viewer',
    params: idParams,
    response: proposalSchema,
    handler: async (ctx, { params }) => {
      const p = await getProposal(ctx, params.id);
      if (!p) throw notFound('proposal', params.id);
      return present(p);
    },
  }),

  route({
    method: 'patch',
    path: '/proposals/:id',
    tag: TAG,
    summary: 'Edit a draft proposal (published ones are never edited)',
    role: 'manager',
    params: idParams,
    body: createBody.partial(),
    response: proposalSchema,
    handler: async (ctx, { params, body }) => {
      const patch = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
      const res = await updateProposal(pctx(ctx), params.id, patch);
      if (!res.ok) throw failure(res, params.id);
      await recordAudit(ctx, {
        action: 'proposal.update',
        target: { type: 'proposal', id: params.id },
        before: auditable(res.before),
        after: auditable(res.proposal),
      });
      return present(res.proposal);
    },
  }),

  route({
    method: 'post',
    path: '/proposals/:id/publish',
    tag: TAG,
    summary: 'Open a draft proposal to votes',
    role: 'manager',
    params: idParams,
    response: proposalSchema,
    handler: async (ctx, { params }) => {
      const res = await publishProposal(pctx(ctx), params.id);
      if (!res.ok) throw failure(res, params.id);
      await recordAudit(ctx, {
        action: 'proposal.publish',
        target: { type: 'proposal', id: params.id },
        before: { state: 'draft' },
        after: { state: res.proposal.state },
      });
      return present(res.proposal);
    },
  }),

  route({
    method: 'post',
    path: '/proposals/:id/close',
    tag: TAG,
    summary: 'End the vote now: the leader wins (its campaign opens) or, with no vote, it expires',
    role: 'manager',
    params: idParams,
    response: proposalSchema,
    handler: async (ctx, { params }) => {
      const res = await closeProposal(pctx(ctx), params.id);
      if (!res.ok) throw failure(res, params.id);
      await recordAudit(ctx, {
        action: 'proposal.close',
        target: { type: 'proposal', id: params.id },
        before: { state: 'voting' },
        after: {
          state: res.proposal.state,
          winnerOptionId: res.proposal.winnerOptionId,
          campaignId: res.proposal.campaignId,
        },
      });
      return present(res.proposal);
    },
  }),

  route({
    method: 'post',
    path: '/proposals/:id/reconcile',
    tag: TAG,
    summary: 'Recount the tallies from the votes (written only if nothing moved meanwhile)',
    role: 'manager',
    params: idParams,
    response: z.object({
      finished: z.number(),
      before: z.record(z.string(), z.number()),
      after: z.record(z.string(), z.number()),
      written: z.boolean(),
    }),
    handler: async (ctx, { params }) => {
      const r = await reconcileTallies(pctx(ctx), params.id);
      if (!r) throw notFound('proposal', params.id);
      if (r.written)
        await recordAudit(ctx, {
          action: 'proposal.reconcile',
          target: { type: 'proposal', id: params.id },
          before: r.before,
          after: r.after,
        });
      return r;
    },
  }),

  route({
    method: 'get',
    path: '/proposals/:id/votes/timeline',
    tag: TAG,
    summary: 'Votes over time (by hour or day), per option',
    role: 'viewer',
    params: idParams,
    query: z.object({ bucket: z.enum(['hour', 'day']).default('hour') }),
    response: z.object({
      bucket: z.enum(['hour', 'day']),
      items: z.array(
        z.object({ at: z.date(), votes: z.number(), byOption: z.record(z.string(), z.number()) }),
      ),
    }),
    handler: async (ctx, { params, query }) => {
      const items = await voteTimeline(ctx, params.id, query.bucket);
      if (!items) throw notFound('proposal', params.id);
      return { bucket: query.bucket, items };
    },
  }),

  route({
    method: 'get',
    path: '/proposals/:id/votes/segments',
    tag: TAG,
    summary: "Votes per option by the voters' locale, tags and source (Messenger or comment)",
    role: 'viewer',
    params: idParams,
    response: z.object({
      byLocale: z.record(z.string(), z.record(z.string(), z.number())),
      byTag: z.record(z.string(), z.record(z.string(), z.number())),
      bySource: z.record(z.string(), z.record(z.string(), z.number())),
    }),
    handler: async (ctx, { params }) => {
      const s = await voteSegments(ctx, params.id);
      if (!s) throw notFound('proposal', params.id);
      return s;
    },
  }),

  route({
    method: 'post',
    path: '/proposals/:id/posts',
    tag: TAG,
    summary: 'Link a Page post: a comment naming an option votes once the fan confirms in Messenger',
    role: 'manager',
    params: idParams,
    body: z.object({ postId }),
    response: proposalSchema,
    handler: async (ctx, { params, body }) => {
      const res = await linkProposalPost(pctx(ctx), params.id, body.postId);
      if (!res.ok) throw failure(res, params.id);
      await recordAudit(ctx, {
        action: 'proposal.link_post',
        target: { type: 'proposal', id: params.id },
        after: { postId: body.postId },
      });
      return present(res.proposal);
    },
  }),

  route({
    method: 'delete',
    path: '/proposals/:id/posts/:postId',
    tag: TAG,
    summary: 'Unlink a Page post from the proposal',
    role: 'manager',
    params: z.object({ id: objectId, postId }),
    response: proposalSchema,
    handler: async (ctx, { params }) => {
      const res = await unlinkProposalPost(pctx(ctx), params.id, params.postId);
      if (!res.ok) throw failure(res, params.id);
      await recordAudit(ctx, {
        action: 'proposal.unlink_post',
        target: { type: 'proposal', id: params.id },
        before: { postId: params.postId },
      });
      return present(res.proposal);
    },
  }),
];

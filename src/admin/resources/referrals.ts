import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { recordAudit } from '../../app/audit.js';
import { appendEntry, ledgerSummary, listLedger, type LedgerEntryView } from '../../app/ledger.js';
import {
  campaignById,
  campaignLeaders,
  campaignReach,
  listRewardConfigs,
  referralsOf,
  setRewardConfig,
  settleRewards,
  type RewardConfigView,
} from '../../app/referrals.js';
import type { ReferralDoc } from '../../db/models/referral.js';
import { PAGE_SCOPE } from '../../domain/referral.js';
import { AdminError, notFound } from '../errors.js';
import { route, type AdminRoute } from '../http.js';
import { decodeCursor, DEFAULT_PAGE_SIZE, encodeCursor, pageOf, pageQueryShape } from '../pagination.js';
import { label, objectId, psid } from '../schemas.js';

/**
 * Referrals for managers: rewards per page or campaign, the ledger (read, and adjusted with an
 * audited reason), leaders and the invite graph's reach per campaign, a fan's attribution history,
 * and the rewards safety net (settle).
 */

const TAG = 'referrals';

const rewardSpec = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('credit'), amount: z.number().int().min(1).max(1_000_000) }).strict(),
  z.object({ kind: z.literal('percent'), percent: z.number().int().min(1).max(100) }).strict(),
  z.object({ kind: z.literal('points'), points: z.number().int().min(1).max(1_000_000) }).strict(),
]);

const scope = z
  .union([z.literal(PAGE_SCOPE), objectId])
  .describe('`page` for the whole page, or a campaign id');

const configSchema = z.object({
  scope: z.string(),
  active: z.boolean(),
  referrer: rewardSpec.nullable(),
  friend: rewardSpec.nullable(),
  trigger: z.enum(['paid', 'tipped']),
  firstOrderOnly: z.boolean(),
  attributionWindowDays: z.number(),
  maxInviteesPerHour: z.number(),
  maxDormantInvitees: z.number(),
  updatedAt: z.date(),
  updatedBy: z.string(),
});

const entrySchema = z.object({
  id: z.string(),
  psid: z.string(),
  kind: z.string(),
  amount: z.number(),
  unit: z.string(),
  orderId: z.string().nullable(),
  referralId: z.string().nullable(),
  campaignId: z.string().nullable(),
  reverses: z.string().nullable(),
  reason: z.string(),
  by: z.string(),
  idempotencyKey: z.string(),
  at: z.date(),
});

const decisionSchema = z.object({
  ref: z.string(),
  referrerPsid: z.string().nullable(),
  decision: z.string(),
  reason: z.string(),
  source: z.string(),
  at: z.date(),
});

const referralSchema = z.object({
  id: z.string(),
  inviteePsid: z.string(),
  referrerPsid: z.string().nullable(),
  scope: z.string(),
  ref: z.string(),
  decision: z.string(),
  reason: z.string(),
  at: z.date(),
  rewardedOrderId: z.string().nullable(),
  decisions: z.array(decisionSchema),
});

function configOut(c: RewardConfigView): z.input<typeof configSchema> {
  return { ...c };
}

function entryOut(e: LedgerEntryView): z.input<typeof entrySchema> {
  return { ...e };
}

function referralOut(r: ReferralDoc): z.input<typeof referralSchema> {
  return {
    id: String(r._id),
    inviteePsid: r.inviteePsid,
    referrerPsid: r.referrerPsid ?? null,
    scope: r.scope,
    ref: r.ref,
    decision: r.decision,
    reason: r.reason,
    at: r.at,
    rewardedOrderId: r.rewardedOrderId ?? null,
    decisions: r.decisions.map((d) => ({
      ref: d.ref,
      referrerPsid: d.referrerPsid ?? null,
      decision: d.decision,
      reason: d.reason,
      source: d.source ?? '',
      at: d.at,
    })),
  };
}

async function requireCampaign(pageId: string, id: string): Promise<void> {
  if (!(await campaignById(pageId, id))) throw notFound('campaign', id);
}

export const referralRoutes: AdminRoute[] = [
  route({
    method: 'get',
    path: '/referrals/rewards',
    tag: TAG,
    summary: 'Reward settings of the page and of its campaigns',
    role: 'viewer',
    response: z.object({ items: z.array(configSchema) }),
    handler: async (ctx) => ({ items: (await listRewardConfigs(ctx.pageId)).map(configOut) }),
  }),

  route({
    method: 'put',
    path: '/referrals/rewards/:scope',
    tag: TAG,
    summary: 'Set the reward for the page (`page`) or one campaign (its id)',
    description:
      'referrer: what the inviter earns; friend: the welcome reward (two-sided when set). A credit is ' +
      'in minor units of the order currency; percent is a share of the friend’s order, as credit. ' +
      'trigger `paid` (the friend’s order is paid) or `tipped` (the campaign tips). The page’s ' +
      'settings also hold the attribution window and the farming limits.',
    role: 'manager',
    params: z.object({ scope }),
    body: z.object({
      active: z.boolean().optional(),
      referrer: rewardSpec.nullable(),
      friend: rewardSpec.nullable().optional(),
      trigger: z.enum(['paid', 'tipped']).optional(),
      firstOrderOnly: z.boolean().optional(),
      attributionWindowDays: z.number().int().min(1).max(365).optional(),
      maxInviteesPerHour: z.number().int().min(1).max(10_000).optional(),
      maxDormantInvitees: z.number().int().min(1).max(10_000).optional(),
    }),
    response: configSchema,
    handler: async (ctx, { params, body }) => {
      const res = await setRewardConfig(ctx, params.scope, body, ctx.actor.label ?? ctx.actor.id);
      if (!res.ok) {
        if (res.code === 'unknown_campaign') throw notFound('campaign', params.scope);
        throw new AdminError('validation', 'Invalid reward', null, res.code);
      }
      await recordAudit(ctx, {
        action: 'referral.rewards.set',
        target: { type: 'reward_config', id: params.scope },
        before: res.before ? { ...res.before } : undefined,
        after: { ...res.config },
      });
      return configOut(res.config);
    },
  }),

  route({
    method: 'get',
    path: '/referrals/ledger',
    tag: TAG,
    summary: 'Ledger entries (newest first), optionally for one fan',
    role: 'viewer',
    query: z.object({ psid: psid.optional(), ...pageQueryShape }),
    response: pageOf(entrySchema),
    handler: async (ctx, { query }) => {
      const limit = query.limit ?? DEFAULT_PAGE_SIZE;
      const before = query.cursor ? decodeCursor(query.cursor).id : undefined;
      const items = await listLedger(ctx, { psid: query.psid, limit: limit + 1, before });
      const page = items.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map(entryOut),
        nextCursor: items.length > limit && last ? encodeCursor(last.at, last.id) : null,
      };
    },
  }),

  route({
    method: 'get',
    path: '/referrals/fans/:psid',
    tag: TAG,
    summary: "A fan's balances, and every attribution decision about them and by their links",
    role: 'viewer',
    params: z.object({ psid }),
    response: z.object({
      psid: z.string(),
      balances: z.array(
        z.object({
          unit: z.string(),
          earned: z.number(),
          spent: z.number(),
          adjusted: z.number(),
          balance: z.number(),
        }),
      ),
      asInvitee: z.array(referralSchema),
      asReferrer: z.array(referralSchema),
    }),
    handler: async (ctx, { params }) => {
      const { asInvitee, asReferrer } = await referralsOf(ctx, params.psid);
      return {
        psid: params.psid,
        balances: await ledgerSummary(ctx, params.psid),
        asInvitee: asInvitee.map(referralOut),
        asReferrer: asReferrer.map(referralOut),
      };
    },
  }),

  route({
    method: 'post',
    path: '/referrals/ledger/adjustments',
    tag: TAG,
    summary: "Adjust a fan's balance (±), with a reason (audited)",
    description:
      'Appends an `adjust` entry; the ledger is never edited. Send the same `idempotencyKey` again ' +
      'and nothing more is written (`created: false`).',
    role: 'manager',
    status: 201,
    body: z.object({
      psid,
      amount: z
        .number()
        .int()
        .min(-1_000_000)
        .max(1_000_000)
        .refine((n) => n !== 0, 'must not be 0'),
      unit: z.string().regex(/^([A-Z]{3}|points)$/, 'an ISO currency code or `points`'),
      reason: label(300),
      idempotencyKey: z
        .string()
        .regex(/^[A-Za-z0-9_:-]{8,100}$/)
        .optional(),
    }),
    response: z.object({ created: z.boolean(), entry: entrySchema }),
    handler: async (ctx, { body }) => {
      const key = `adjust:${ctx.pageId}:${body.idempotencyKey ?? randomUUID()}`;
      const res = await appendEntry(ctx, {
        psid: body.psid,
        kind: 'adjust',
        amount: body.amount,
        unit: body.unit,
        idempotencyKey: key,
        reason: body.reason,
        by: `${ctx.actor.kind}:${ctx.actor.id}`,
      });
      if (res.created) {
        await recordAudit(ctx, {
          action: 'referral.ledger.adjust',
          target: { type: 'fan', id: body.psid },
          after: { entryId: res.entry.id, amount: body.amount, unit: body.unit, reason: body.reason },
        });
      }
      return { created: res.created, entry: entryOut(res.entry) };
    },
  }),

  route({
    method: 'get',
    path: '/referrals/campaigns/:id/leaders',
    tag: TAG,
    summary: "A campaign's top inviters (initials unless the fan opted in to show their first name)",
    role: 'viewer',
    params: z.object({ id: objectId }),
    query: z.object({
      limit: z
        .string()
        .regex(/^\d{1,2}$/)
        .transform(Number)
        .pipe(z.number().int().min(1).max(50))
        .optional(),
    }),
    response: z.object({
      items: z.array(
        z.object({
          rank: z.number(),
          psid: z.string(),
          name: z.string(),
          invitees: z.number(),
          conversions: z.number(),
        }),
      ),
    }),
    handler: async (ctx, { params, query }) => {
      await requireCampaign(ctx.pageId, params.id);
      const leaders = await campaignLeaders(ctx, params.id, query.limit ?? 10);
      return {
        items: leaders.map((l) => ({
          rank: l.rank,
          psid: l.referrerPsid,
          name: l.name,
          invitees: l.invitees,
          conversions: l.conversions,
        })),
      };
    },
  }),

  route({
    method: 'get',
    path: '/referrals/campaigns/:id/reach',
    tag: TAG,
    summary: "How far a campaign's invite graph reached: invitees, second-level invitees, conversions",
    role: 'viewer',
    params: z.object({ id: objectId }),
    response: z.object({
      campaignId: z.string(),
      invitees: z.number(),
      secondLevel: z.number(),
      arrivedThroughCampaignLinks: z.number(),
      conversions: z.number(),
      referrers: z.number(),
    }),
    handler: async (ctx, { params }) => {
      await requireCampaign(ctx.pageId, params.id);
      return campaignReach(ctx, params.id);
    },
  }),

  route({
    method: 'post',
    path: '/referrals/settle',
    tag: TAG,
    summary: 'Re-apply rewards to orders changed (and campaigns tipped) in the last hours (idempotent)',
    role: 'manager',
    body: z.object({
      sinceHours: z
        .number()
        .int()
        .min(1)
        .max(24 * 90),
    }),
    response: z.object({
      orders: z.number(),
      earned: z.number(),
      reversed: z.number(),
      campaigns: z.number(),
    }),
    handler: async (ctx, { body }) => {
      const res = await settleRewards(
        { pageId: ctx.pageId, now: ctx.now, log: ctx.log },
        new Date(ctx.now.getTime() - body.sinceHours * 60 * 60 * 1000),
      );
      await recordAudit(ctx, {
        action: 'referral.settle',
        target: { type: 'referrals', id: '*' },
        after: { sinceHours: body.sinceHours, ...res },
      });
      return res;
    },
  }),
];

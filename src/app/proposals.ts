import { Types } from 'mongoose';
import type { Config, Locale } from '../config/index.js';
import { FanModel } from '../db/models/fan.js';
import { ProposalModel, type ProposalDoc } from '../db/models/proposal.js';
import { CommentVoteModel, VoteModel, type VoteDoc, type VoteSource } from '../db/models/vote.js';
import { detectLocale } from '../domain/comment-intent.js';
import {
  acceptsVotes,
  campaignDeadline,
  campaignSlugFor,
  canApply,
  decide,
  optionNamedIn,
  standingLines,
  validateProposal,
  type Decision,
  type OnDecision,
  type ProposalKind,
  type ProposalProblem,
  type ProposalState,
  type StandingLine,
} from '../domain/proposal.js';
import type { Tier } from '../domain/groupbuy.js';
import { buildPayload, normalizeText } from '../domain/text-match.js';
import { t } from '../i18n/index.js';
import type { Logger } from '../log.js';
import { buttonTemplate, postback, truncate, type OutgoingMessage } from '../messenger/builders.js';
import { enqueueMessages, type OutgoingItem } from '../messenger/outbox/enqueue.js';
import {
  campaignProgress,
  createCampaign,
  getCampaign,
  getCampaignBySlug,
  openCampaign,
  type CampaignView,
  type GroupBuyContext,
} from './groupbuy.js';

/**
 * Fans as co-designers: proposals, votes and the campaign a decision opens.
 *
 * Counting is exact at any concurrency without transactions. A vote change is three single-document
 * steps, ordered so that nothing is counted twice or lost:
 *
 *   1. the vote moves: `{_id, seq: s, countedSeq: s}` → `{optionId: new, from: old, seq: s+1}` (only a
 *      vote with no change in flight can move; a new vote is inserted with `seq: 1, countedSeq: 0`);
 *   2. the proposal's tallies move (`$inc` +1 new, −1 old) in ONE update that also pushes the change's
 *      key `<voteId>:<seq>` into `applying`, conditional on the key not being there — so at most once;
 *   3. the vote is marked counted (`countedSeq = seq`), then the key is pulled.
 *
 * A change left in flight by a crash (`countedSeq < seq` for over a minute) is finished by the job,
 * which then recounts the tallies from the votes under the proposal's `version` (bumped by every tally
 * change): the recount is written only if nothing moved meanwhile, and it counts an in-flight change
 * at its old option unless its key is already in `applying` — exactly what the tallies hold.
 *
 * The decision is one conditional transition `voting → decided` (`findOneAndUpdate`): exactly one
 * caller wins it and opens the campaign, whose slug is derived from the proposal (a retry finds it).
 * Voters of the winner are invited under `prop:<proposalId>:<psid>:invite` (purpose `promotion`: the
 * policy refuses it outside the 24 h window and never tags it).
 */

export interface ProposalContext {
  readonly pageId: string;
  readonly now: Date;
  readonly config: Pick<Config, 'publicUrl' | 'paymentUrlTemplate' | 'defaultLocale'>;
  readonly log?: Logger | undefined;
}

/** A change in flight for longer than this was left by a crash: the job finishes it. */
export const VOTE_STALE_MS = 60_000;
/** Invitations are re-run (keyed: nobody twice) for this long after a decision, for late-landing votes. */
export const INVITE_RERUN_MS = 60 * 60 * 1000;
const PAGE = 500;
const MAX_ATTEMPTS = 200;

// ---------------------------------------------------------------------------------------------
// Views

export interface LocalizedPair {
  readonly it: string;
  readonly en: string;
}

export interface OptionView {
  readonly id: string;
  readonly texts: LocalizedPair;
  readonly imageUrl: string | null;
  readonly productSku: string | null;
  readonly variantSku: string | null;
  readonly tally: number;
}

export interface CampaignTemplate {
  readonly minQuantity: number;
  readonly maxQuantity: number | null;
  readonly tiers: readonly Tier[];
  readonly deadlineOffsetHours: number;
  readonly perFanLimit: number;
}

export interface ProposalView {
  readonly id: string;
  readonly code: string;
  readonly kind: ProposalKind;
  readonly options: OptionView[];
  readonly texts: {
    readonly it: { readonly title: string; readonly description: string };
    readonly en: { readonly title: string; readonly description: string };
  };
  readonly deadline: Date;
  readonly threshold: number;
  readonly onDecision: OnDecision;
  readonly campaignTemplate: CampaignTemplate;
  readonly state: ProposalState;
  readonly publishedAt: Date | null;
  readonly winnerOptionId: string | null;
  readonly decidedAt: Date | null;
  readonly decidedBy: string | null;
  readonly campaignId: string | null;
  readonly campaignError: string | null;
  readonly invitedAt: Date | null;
  readonly linkedPostIds: string[];
  readonly version: number;
  readonly createdAt: Date | null;
}

type LeanProposal = Partial<ProposalDoc> & { _id: Types.ObjectId };

export function toProposalView(doc: LeanProposal): ProposalView {
  const tx = (x: { title?: string | null; description?: string | null } | null | undefined) => ({
    title: x?.title ?? '',
    description: x?.description ?? '',
  });
  const tpl = doc.campaignTemplate;
  return {
    id: String(doc._id),
    code: doc.code ?? '',
    kind: (doc.kind ?? 'choice') as ProposalKind,
    options: (doc.options ?? []).map((o) => ({
      id: o.id,
      texts: { it: o.texts?.it ?? '', en: o.texts?.en ?? '' },
      imageUrl: o.imageUrl ?? null,
      productSku: o.productSku ?? null,
      variantSku: o.variantSku ?? null,
      tally: o.tally ?? 0,
    })),
    texts: { it: tx(doc.texts?.it), en: tx(doc.texts?.en) },
    deadline: doc.deadline ?? new Date(0),
    threshold: doc.threshold ?? 1,
    onDecision: (doc.onDecision ?? 'draft_campaign') as OnDecision,
    campaignTemplate: {
      minQuantity: tpl?.minQuantity ?? 1,
      maxQuantity: tpl?.maxQuantity ?? null,
      tiers: (tpl?.tiers ?? []).map((x) => ({ fromQuantity: x.fromQuantity, unitPrice: x.unitPrice })),
      deadlineOffsetHours: tpl?.deadlineOffsetHours ?? 72,
      perFanLimit: tpl?.perFanLimit ?? 1,
    },
    state: (doc.state ?? 'draft') as ProposalState,
    publishedAt: doc.publishedAt ?? null,
    winnerOptionId: doc.winnerOptionId ?? null,
    decidedAt: doc.decidedAt ?? null,
    decidedBy: doc.decidedBy ?? null,
    campaignId: doc.campaignId ?? null,
    campaignError: doc.campaignError ?? null,
    invitedAt: doc.invitedAt ?? null,
    linkedPostIds: [...(doc.linkedPostIds ?? [])],
    version: doc.version ?? 0,
    createdAt: doc.createdAt ?? null,
  };
}

export function proposalTitle(p: ProposalView, locale: Locale): string {
  return locale === 'en' ? p.texts.en.title || p.texts.it.title : p.texts.it.title || p.texts.en.title;
}

export function optionName(o: Pick<OptionView, 'texts' | 'id'>, locale: Locale): string {
  return (locale === 'en' ? o.texts.en || o.texts.it : o.texts.it || o.texts.en) || o.id;
}

/** "Blu 42 · Nero 31 · Verde 12" — the tallies as stored, best first (ties: the manager's order). */
export function standingsText(p: ProposalView, locale: Locale): string {
  const byId = new Map(p.options.map((o) => [o.id, o]));
  return standingLines(p.options)
    .map((l) => `${optionName(byId.get(l.id)!, locale)} ${l.tally}`)
    .join(' · ');
}

function objectId(id: string): Types.ObjectId | undefined {
  return /^[a-f0-9]{24}$/i.test(id) ? new Types.ObjectId(id) : undefined;
}

async function load(ctx: Pick<ProposalContext, 'pageId'>, id: string): Promise<ProposalView | undefined> {
  const _id = objectId(id);
  if (!_id) return undefined;
  const doc = await ProposalModel.findOne({ _id, pageId: String(ctx.pageId) }).lean<LeanProposal>();
  return doc ? toProposalView(doc) : undefined;
}

export const getProposal = load;

/** Proposals fans can vote on now, soonest deadline first. */
export async function listVotingProposals(
  ctx: Pick<ProposalContext, 'pageId' | 'now'>,
  opts: { readonly limit?: number } = {},
): Promise<ProposalView[]> {
  const docs = await ProposalModel.find({
    pageId: String(ctx.pageId),
    state: 'voting',
    deadline: { $gt: ctx.now },
  })
    .sort({ deadline: 1, _id: 1 })
    .limit(opts.limit ?? 10)
    .lean<LeanProposal[]>();
  return docs.map(toProposalView);
}

// ---------------------------------------------------------------------------------------------
// Managers: create, edit, publish, close, link posts

export interface ProposalInput {
  readonly code: string;
  readonly kind: ProposalKind;
  readonly options: readonly {
    readonly id: string;
    readonly texts: LocalizedPair;
    readonly imageUrl?: string | null;
    readonly productSku?: string | null;
    readonly variantSku?: string | null;
  }[];
  readonly texts: {
    readonly it: { readonly title: string; readonly description: string };
    readonly en: { readonly title: string; readonly description: string };
  };
  readonly deadline: Date;
  readonly threshold: number;
  readonly onDecision: OnDecision;
  readonly campaignTemplate: CampaignTemplate;
}

export type ProposalFailure =
  | { readonly ok: false; readonly code: 'not_found' }
  | {
      readonly ok: false;
      readonly code: 'invalid';
      readonly problem: ProposalProblem;
      readonly index?: number;
    }
  | { readonly ok: false; readonly code: 'code_taken' }
  | { readonly ok: false; readonly code: 'forbidden_transition'; readonly state: ProposalState };

export type ProposalResult<T> = ({ readonly ok: true } & T) | ProposalFailure;

function stored(input: ProposalInput) {
  return {
    code: input.code,
    kind: input.kind,
    options: input.options.map((o) => ({
      id: o.id,
      texts: { it: o.texts.it, en: o.texts.en },
      imageUrl: o.imageUrl ?? null,
      productSku: o.productSku ?? null,
      variantSku: o.variantSku ?? null,
      tally: 0,
    })),
    texts: { it: { ...input.texts.it }, en: { ...input.texts.en } },
    deadline: input.deadline,
    threshold: input.threshold,
    onDecision: input.onDecision,
    campaignTemplate: {
      minQuantity: input.campaignTemplate.minQuantity,
      maxQuantity: input.campaignTemplate.maxQuantity,
      tiers: input.campaignTemplate.tiers.map((x) => ({
        fromQuantity: x.fromQuantity,
        unitPrice: x.unitPrice,
      })),
      deadlineOffsetHours: input.campaignTemplate.deadlineOffsetHours,
      perFanLimit: input.campaignTemplate.perFanLimit,
    },
  };
}

function invalid(v: ReturnType<typeof validateProposal>): ProposalFailure | undefined {
  return v.ok
    ? undefined
    : { ok: false, code: 'invalid', problem: v.code, ...(v.index !== undefined ? { index: v.index } : {}) };
}

/** A new proposal, in `draft`. */
export async function createProposal(
  ctx: ProposalContext,
  input: ProposalInput,
): Promise<ProposalResult<{ proposal: ProposalView }>> {
  const bad = invalid(validateProposal(input, ctx.now));
  if (bad) return bad;
  try {
    const doc = await ProposalModel.create({ pageId: String(ctx.pageId), ...stored(input), state: 'draft' });
    return { ok: true, proposal: toProposalView(doc.toObject() as LeanProposal) };
  } catch (error) {
    if ((error as { code?: number }).code === 11000) return { ok: false, code: 'code_taken' };
    throw error;
  }
}

/** Edits a draft (drafts have no votes). */
export async function updateProposal(
  ctx: ProposalContext,
  id: string,
  patch: Partial<ProposalInput>,
): Promise<ProposalResult<{ proposal: ProposalView; before: ProposalView }>> {
  const before = await load(ctx, id);
  if (!before) return { ok: false, code: 'not_found' };
  if (before.state !== 'draft') return { ok: false, code: 'forbidden_transition', state: before.state };
  const merged: ProposalInput = {
    code: patch.code ?? before.code,
    kind: patch.kind ?? before.kind,
    options: patch.options ?? before.options,
    texts: patch.texts ?? before.texts,
    deadline: patch.deadline ?? before.deadline,
    threshold: patch.threshold ?? before.threshold,
    onDecision: patch.onDecision ?? before.onDecision,
    campaignTemplate: patch.campaignTemplate ?? before.campaignTemplate,
  };
  const bad = invalid(validateProposal(merged, ctx.now));
  if (bad) return bad;
  try {
    const doc = await ProposalModel.findOneAndUpdate(
      { _id: new Types.ObjectId(before.id), state: 'draft' },
      { $set: stored(merged), $inc: { version: 1 } },
      { returnDocument: 'after' },
    ).lean<LeanProposal>();
    if (!doc)
      return { ok: false, code: 'forbidden_transition', state: (await load(ctx, id))?.state ?? 'voting' };
    return { ok: true, proposal: toProposalView(doc), before };
  } catch (error) {
    if ((error as { code?: number }).code === 11000) return { ok: false, code: 'code_taken' };
    throw error;
  }
}

/** draft → voting. */
export async function publishProposal(
  ctx: ProposalContext,
  id: string,
): Promise<ProposalResult<{ proposal: ProposalView }>> {
  const p = await load(ctx, id);
  if (!p) return { ok: false, code: 'not_found' };
  if (!canApply(p.state, 'publish')) return { ok: false, code: 'forbidden_transition', state: p.state };
  const bad = invalid(validateProposal(p, ctx.now));
  if (bad) return bad;
  const doc = await ProposalModel.findOneAndUpdate(
    { _id: new Types.ObjectId(p.id), state: 'draft' },
    { $set: { state: 'voting', publishedAt: ctx.now }, $inc: { version: 1 } },
    { returnDocument: 'after' },
  ).lean<LeanProposal>();
  if (!doc)
    return { ok: false, code: 'forbidden_transition', state: (await load(ctx, id))?.state ?? p.state };
  return { ok: true, proposal: toProposalView(doc) };
}

/** A manager ends the vote now: the leader wins (a campaign opens), or with no vote it expires. */
export async function closeProposal(
  ctx: ProposalContext,
  id: string,
): Promise<ProposalResult<{ proposal: ProposalView }>> {
  const p = await load(ctx, id);
  if (!p) return { ok: false, code: 'not_found' };
  if (p.state !== 'voting') return { ok: false, code: 'forbidden_transition', state: p.state };
  await applyDecision(ctx, p, decide(p, ctx.now, { closing: true }));
  const after = await load(ctx, id);
  return { ok: true, proposal: after! };
}

/** Comments under this post vote on the proposal (once the fan confirms in the private reply). */
export async function linkProposalPost(
  ctx: ProposalContext,
  id: string,
  postId: string,
): Promise<ProposalResult<{ proposal: ProposalView }>> {
  const doc = await ProposalModel.findOneAndUpdate(
    { _id: objectId(id), pageId: String(ctx.pageId) },
    { $addToSet: { linkedPostIds: String(postId) } },
    { returnDocument: 'after' },
  ).lean<LeanProposal>();
  return doc ? { ok: true, proposal: toProposalView(doc) } : { ok: false, code: 'not_found' };
}

export async function unlinkProposalPost(
  ctx: ProposalContext,
  id: string,
  postId: string,
): Promise<ProposalResult<{ proposal: ProposalView }>> {
  const doc = await ProposalModel.findOneAndUpdate(
    { _id: objectId(id), pageId: String(ctx.pageId) },
    { $pull: { linkedPostIds: String(postId) } },
    { returnDocument: 'after' },
  ).lean<LeanProposal>();
  return doc ? { ok: true, proposal: toProposalView(doc) } : { ok: false, code: 'not_found' };
}

// ---------------------------------------------------------------------------------------------
// Voting

export interface VoteInput {
  readonly proposalId: string;
  readonly psid: string;
  readonly optionId: string;
  readonly source: VoteSource;
}

export type VoteResult =
  | {
      readonly ok: true;
      /** `voted`: a first vote; `changed`: moved from `previous`; `unchanged`: the same option again. */
      readonly code: 'voted' | 'changed' | 'unchanged';
      readonly previous: string | null;
      readonly proposal: ProposalView;
      /** This vote made the proposal decided (exactly one vote per proposal sees true). */
      readonly decidedNow: boolean;
    }
  | { readonly ok: false; readonly code: 'not_found' | 'closed' | 'unknown_option' | 'busy' };

const changeKey = (voteId: Types.ObjectId | string, seq: number) => `${String(voteId)}:${seq}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Steps 2 and 3 for the vote's latest change. Returns the proposal after step 2 (undefined if applied before). */
async function applyChange(
  v: Pick<VoteDoc, '_id' | 'proposalId' | 'optionId' | 'from' | 'seq'>,
  optionIds: readonly string[],
) {
  const key = changeKey(v._id, v.seq);
  // Options never move once published (only drafts are edited): the positions are stable; the filter checks them.
  const to = optionIds.indexOf(v.optionId);
  const from = v.from && v.from !== v.optionId ? optionIds.indexOf(v.from) : -1;
  const inc: Record<string, number> = { [`options.${to}.tally`]: 1, version: 1 };
  const guard: Record<string, unknown> = { [`options.${to}.id`]: v.optionId };
  if (from >= 0) {
    inc[`options.${from}.tally`] = -1;
    guard[`options.${from}.id`] = v.from;
  }
  const after = await ProposalModel.findOneAndUpdate(
    { _id: v.proposalId, applying: { $ne: key }, ...guard },
    { $inc: inc, $push: { applying: key } },
    { returnDocument: 'after' },
  ).lean<LeanProposal>();
  await VoteModel.updateOne(
    { _id: v._id, seq: v.seq, countedSeq: { $lt: v.seq } },
    { $set: { countedSeq: v.seq } },
  );
  await ProposalModel.updateOne({ _id: v.proposalId }, { $pull: { applying: key } });
  return after ? toProposalView(after) : undefined;
}

/**
 * One vote per fan per proposal, changeable until the deadline. A change moves the vote exactly: +1 on
 * the new option, −1 on the old one. When the option reaches the threshold, the proposal is decided
 * (once) and the campaign opens from it.
 */
export async function castVote(ctx: ProposalContext, input: VoteInput): Promise<VoteResult> {
  const p = await load(ctx, input.proposalId);
  if (!p) return { ok: false, code: 'not_found' };
  if (!p.options.some((o) => o.id === input.optionId)) return { ok: false, code: 'unknown_option' };
  if (!acceptsVotes(p.state, p.deadline, ctx.now)) return { ok: false, code: 'closed' };
  const proposalId = new Types.ObjectId(p.id);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const v = await VoteModel.findOne({ proposalId, psid: String(input.psid) }).lean<VoteDoc>();
    let moved: VoteDoc | null = null;
    let previous: string | null = null;
    if (!v) {
      try {
        const created = await VoteModel.create({
          pageId: String(ctx.pageId),
          proposalId,
          psid: String(input.psid),
          optionId: input.optionId,
          from: null,
          seq: 1,
          countedSeq: 0,
          source: input.source,
          createdAt: ctx.now,
          updatedAt: ctx.now,
        });
        moved = created.toObject() as VoteDoc;
      } catch (error) {
        if ((error as { code?: number }).code !== 11000) throw error;
        continue; // the same fan voted at the same moment: read theirs and go on from it
      }
    } else {
      if (v.countedSeq < v.seq) {
        // A change of this fan's vote is in flight (a double tap): let it finish; the job finishes crashed ones.
        await sleep(2 + Math.floor(Math.random() * 8));
        continue;
      }
      if (v.optionId === input.optionId) {
        return { ok: true, code: 'unchanged', previous: v.optionId, proposal: p, decidedNow: false };
      }
      previous = v.optionId;
      moved = await VoteModel.findOneAndUpdate(
        { _id: v._id, seq: v.seq, countedSeq: v.seq },
        {
          $set: {
            optionId: input.optionId,
            from: v.optionId,
            seq: v.seq + 1,
            source: input.source,
            updatedAt: ctx.now,
          },
        },
        { returnDocument: 'after' },
      ).lean<VoteDoc>();
      if (!moved) continue;
    }
    const after =
      (await applyChange(
        moved,
        p.options.map((o) => o.id),
      )) ?? (await load(ctx, p.id))!;
    const decidedNow = await decideIfDue(ctx, after);
    return {
      ok: true,
      code: previous === null ? 'voted' : 'changed',
      previous,
      proposal: decidedNow ? ((await load(ctx, p.id)) ?? after) : after,
      decidedNow,
    };
  }
  return { ok: false, code: 'busy' };
}

/** "Tell me when it's made": remembered on the vote (and on the fan, once the campaign exists). */
export async function setNotifyWhenMade(
  ctx: ProposalContext,
  proposalId: string,
  psid: string,
): Promise<{ ok: boolean; campaignSlug?: string }> {
  const _id = objectId(proposalId);
  if (!_id) return { ok: false };
  const vote = await VoteModel.findOneAndUpdate(
    { proposalId: _id, psid: String(psid), pageId: String(ctx.pageId) },
    { $set: { notifyWhenMade: true } },
    { returnDocument: 'after' },
  ).lean<VoteDoc>();
  if (!vote) return { ok: false };
  const p = await load(ctx, proposalId);
  if (p?.state === 'decided' && p.campaignId && p.winnerOptionId === vote.optionId) {
    const c = await getCampaign(ctx, p.campaignId);
    if (c) {
      await FanModel.updateOne(
        { pageId: String(ctx.pageId), psid: String(psid) },
        { $addToSet: { interests: c.slug } },
      );
      return { ok: true, campaignSlug: c.slug };
    }
  }
  return { ok: true };
}

export async function myVote(
  ctx: Pick<ProposalContext, 'pageId'>,
  proposalId: string,
  psid: string,
): Promise<{ optionId: string; notifyWhenMade: boolean } | undefined> {
  const _id = objectId(proposalId);
  if (!_id) return undefined;
  const v = await VoteModel.findOne({
    proposalId: _id,
    psid: String(psid),
    pageId: String(ctx.pageId),
  }).lean<VoteDoc>();
  return v ? { optionId: v.optionId, notifyWhenMade: v.notifyWhenMade === true } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Decision

async function decideIfDue(ctx: ProposalContext, p: ProposalView): Promise<boolean> {
  const d = decide(p, ctx.now);
  if (!d.decide) return false;
  return applyDecision(ctx, p, d);
}

/** The one conditional transition out of `voting`; the winner of it does what the decision implies. */
async function applyDecision(ctx: ProposalContext, p: ProposalView, d: Decision): Promise<boolean> {
  if (!d.decide) return false;
  const set =
    d.outcome === 'decided'
      ? { state: 'decided', winnerOptionId: d.winnerOptionId, decidedAt: ctx.now, decidedBy: d.by }
      : { state: 'expired', decidedAt: ctx.now, decidedBy: d.by };
  const won = await ProposalModel.findOneAndUpdate(
    { _id: new Types.ObjectId(p.id), state: 'voting' },
    { $set: set, $inc: { version: 1 } },
    { returnDocument: 'after' },
  ).lean<LeanProposal>();
  if (!won) return false;
  ctx.log?.info({ proposal: p.code, outcome: d.outcome, by: d.by }, 'proposal decided');
  if (d.outcome === 'decided') await afterDecision(ctx, p.id);
  return true;
}

export interface AfterDecisionResult {
  readonly campaignId: string | null;
  readonly campaignError: string | null;
  readonly invited: number;
  readonly interested: number;
}

/**
 * Everything a decision implies, each step idempotent (safe to call again, the job does): the campaign
 * (created from the template under the proposal's slug; opened if configured), the interested voters
 * remembered on their fan record, and the invitations once the campaign is open.
 */
export async function afterDecision(ctx: ProposalContext, id: string): Promise<AfterDecisionResult> {
  let p = await load(ctx, id);
  if (!p || p.state !== 'decided' || !p.winnerOptionId)
    return { campaignId: null, campaignError: null, invited: 0, interested: 0 };
  let campaign: CampaignView | undefined = p.campaignId ? await getCampaign(ctx, p.campaignId) : undefined;
  if (!campaign) {
    const made = await ensureCampaign(ctx, p);
    if (!made.ok) {
      await ProposalModel.updateOne(
        { _id: new Types.ObjectId(p.id) },
        { $set: { campaignError: made.error } },
      );
      return { campaignId: null, campaignError: made.error, invited: 0, interested: 0 };
    }
    campaign = made.campaign;
    await ProposalModel.updateOne(
      { _id: new Types.ObjectId(p.id), campaignId: null },
      { $set: { campaignId: campaign.id, campaignError: null } },
    );
    p = (await load(ctx, id))!;
  }
  if (p.onDecision === 'open_campaign' && campaign.state === 'draft') {
    const opened = await openCampaign(ctx as GroupBuyContext, campaign.id);
    if (opened.ok) campaign = opened.campaign;
    else {
      const problem = opened.code === 'invalid' ? opened.problem : opened.code;
      await ProposalModel.updateOne({ _id: new Types.ObjectId(p.id) }, { $set: { campaignError: problem } });
    }
  }
  const interested = await rememberInterested(ctx, p, campaign);
  let invited = 0;
  if (['open', 'tipped'].includes(campaign.state) && campaign.deadline.getTime() > ctx.now.getTime()) {
    invited = await inviteVoters(ctx, p, campaign);
    if (!p.invitedAt)
      await ProposalModel.updateOne(
        { _id: new Types.ObjectId(p.id), invitedAt: null },
        { $set: { invitedAt: ctx.now } },
      );
  }
  return { campaignId: campaign.id, campaignError: null, invited, interested };
}

async function ensureCampaign(
  ctx: ProposalContext,
  p: ProposalView,
): Promise<{ ok: true; campaign: CampaignView } | { ok: false; error: string }> {
  const option = p.options.find((o) => o.id === p.winnerOptionId);
  if (!option) return { ok: false, error: 'winner_missing' };
  const slug = campaignSlugFor(p.code, option.id);
  const existing = await getCampaignBySlug(ctx, slug);
  if (existing) return { ok: true, campaign: existing };
  if (!option.productSku) return { ok: false, error: 'option_without_product' };
  const tpl = p.campaignTemplate;
  const title = (locale: Locale) =>
    truncate(`${proposalTitle(p, locale)}: ${optionName(option, locale)}`, 80);
  const res = await createCampaign(ctx as GroupBuyContext, {
    slug,
    productSku: option.productSku,
    variantSku: option.variantSku,
    minQuantity: tpl.minQuantity,
    maxQuantity: tpl.maxQuantity,
    deadline: campaignDeadline(p.decidedAt ?? ctx.now, tpl.deadlineOffsetHours),
    tiers: tpl.tiers,
    perFanLimit: tpl.perFanLimit,
    texts: {
      it: { title: title('it'), description: p.texts.it.description },
      en: { title: title('en'), description: p.texts.en.description },
    },
  });
  if (res.ok) return { ok: true, campaign: res.campaign };
  if (res.code === 'slug_taken') {
    const found = await getCampaignBySlug(ctx, slug);
    if (found) return { ok: true, campaign: found };
  }
  return { ok: false, error: res.code === 'invalid' ? res.problem : res.code };
}

/** Pages through the winner's votes by id (a cursor, never all at once). */
async function forEachWinnerVote(
  p: ProposalView,
  filter: Record<string, unknown>,
  each: (page: VoteDoc[]) => Promise<void>,
): Promise<void> {
  let after: Types.ObjectId | undefined;
  for (;;) {
    const page = await VoteModel.find({
      proposalId: new Types.ObjectId(p.id),
      optionId: p.winnerOptionId,
      ...filter,
      ...(after ? { _id: { $gt: after } } : {}),
    })
      .sort({ _id: 1 })
      .limit(PAGE)
      .lean<VoteDoc[]>();
    if (page.length === 0) return;
    after = page[page.length - 1]!._id;
    await each(page);
    if (page.length < PAGE) return;
  }
}

async function rememberInterested(ctx: ProposalContext, p: ProposalView, c: CampaignView): Promise<number> {
  let n = 0;
  await forEachWinnerVote(p, { notifyWhenMade: true }, async (page) => {
    await FanModel.updateMany(
      { pageId: String(ctx.pageId), psid: { $in: page.map((v) => v.psid) } },
      { $addToSet: { interests: c.slug } },
    );
    n += page.length;
  });
  return n;
}

export const inviteKey = (proposalId: string, psid: string) => `prop:${proposalId}:${psid}:invite`;

function inviteMessage(p: ProposalView, c: CampaignView, locale: Locale, now: Date): OutgoingMessage {
  const option = p.options.find((o) => o.id === p.winnerOptionId)!;
  const progress = campaignProgress({ now }, c);
  const body = t(locale, 'codesign.invite', {
    title: proposalTitle(p, locale),
    option: optionName(option, locale),
    committed: progress.committed,
    target: progress.target,
  });
  return buttonTemplate(truncate(body, 640), [
    postback(t(locale, 'groupbuy.join'), buildPayload('gb.join', [c.id])),
    postback(t(locale, 'groupbuy.details_button'), buildPayload('gb.details', [c.id])),
  ]);
}

/** Each voter of the winner, once (`prop:<id>:<psid>:invite`), as a promotion: window or opt-in only. */
async function inviteVoters(ctx: ProposalContext, p: ProposalView, c: CampaignView): Promise<number> {
  let created = 0;
  await forEachWinnerVote(p, {}, async (page) => {
    const fans = await FanModel.find(
      { pageId: String(ctx.pageId), psid: { $in: page.map((v) => v.psid) } },
      { psid: 1, locale: 1 },
    ).lean();
    const locales = new Map(fans.map((f) => [f.psid, f.locale as Locale]));
    const items: OutgoingItem[] = page.map((v) => ({
      pageId: String(ctx.pageId),
      idempotencyKey: inviteKey(p.id, v.psid),
      kind: 'message',
      recipient: { psid: v.psid },
      purpose: 'promotion',
      body: inviteMessage(
        p,
        c,
        locales.get(v.psid) ?? ctx.config.defaultLocale,
        ctx.now,
      ) as unknown as Record<string, unknown>,
      origin: { type: 'proposal', id: p.id },
    }));
    created += (await enqueueMessages(items, ctx.now)).created;
  });
  return created;
}

// ---------------------------------------------------------------------------------------------
// Janitor: crashed changes, recount, deadlines, unfinished decisions

export interface ReconcileResult {
  readonly finished: number;
  readonly before: Record<string, number>;
  readonly after: Record<string, number>;
  readonly written: boolean;
}

/**
 * Finishes changes left in flight by a crash (older than {@link VOTE_STALE_MS}), then recounts the
 * tallies from the votes and writes them if they differ — only if the proposal's `version` did not
 * move meanwhile. An in-flight change counts at its old option unless its key is already applied.
 */
export async function reconcileTallies(
  ctx: ProposalContext,
  id: string,
): Promise<ReconcileResult | undefined> {
  const p0 = await load(ctx, id);
  if (!p0) return undefined;
  const proposalId = new Types.ObjectId(p0.id);
  const stale = await VoteModel.find({
    proposalId,
    $expr: { $lt: ['$countedSeq', '$seq'] },
    updatedAt: { $lt: new Date(ctx.now.getTime() - VOTE_STALE_MS) },
  }).lean<VoteDoc[]>();
  for (const v of stale)
    await applyChange(
      v,
      p0.options.map((o) => o.id),
    );
  for (let attempt = 0; attempt < 5; attempt++) {
    const doc = await ProposalModel.findById(proposalId).lean<LeanProposal>();
    if (!doc) return undefined;
    const p = toProposalView(doc);
    const applying = new Set(doc.applying ?? []);
    const counts = new Map(p.options.map((o) => [o.id, 0]));
    const cursor = VoteModel.find({ proposalId }, { optionId: 1, from: 1, seq: 1, countedSeq: 1 })
      .lean<VoteDoc[]>()
      .cursor();
    for await (const v of cursor) {
      const counted = v.countedSeq >= v.seq || applying.has(changeKey(v._id, v.seq)) ? v.optionId : v.from;
      if (counted !== null && counted !== undefined && counts.has(counted))
        counts.set(counted, counts.get(counted)! + 1);
    }
    const before = Object.fromEntries(p.options.map((o) => [o.id, o.tally]));
    const after = Object.fromEntries(counts);
    if (p.options.every((o) => o.tally === counts.get(o.id)))
      return { finished: stale.length, before, after, written: false };
    const set: Record<string, number> = {};
    p.options.forEach((o, i) => (set[`options.${i}.tally`] = counts.get(o.id)!));
    const res = await ProposalModel.updateOne(
      { _id: proposalId, version: p.version },
      { $set: set, $inc: { version: 1 } },
    );
    if (res.modifiedCount === 1) {
      ctx.log?.warn({ proposal: p.code, before, after }, 'proposal tallies recounted');
      return { finished: stale.length, before, after, written: true };
    }
  }
  return { finished: stale.length, before: {}, after: {}, written: false };
}

export interface CodesignRunResult {
  readonly decided: number;
  readonly expired: number;
  readonly followedUp: number;
  readonly reconciled: number;
}

/** The job: deadlines, decisions whose campaign or invitations are unfinished, and the tally janitor. */
export async function runProposalJanitor(ctx: ProposalContext): Promise<CodesignRunResult> {
  let decided = 0;
  let expired = 0;
  let followedUp = 0;
  let reconciled = 0;
  const pageId = String(ctx.pageId);
  const voting = await ProposalModel.find({ pageId, state: 'voting' }).limit(200).lean<LeanProposal[]>();
  for (const doc of voting) {
    const r = await reconcileTallies(ctx, String(doc._id));
    if (r?.written) reconciled += 1;
    const p = (await load(ctx, String(doc._id)))!;
    const d = decide(p, ctx.now);
    if (d.decide && (await applyDecision(ctx, p, d))) {
      if (d.outcome === 'decided') decided += 1;
      else expired += 1;
    }
  }
  const unfinished = await ProposalModel.find({
    pageId,
    state: 'decided',
    $or: [
      { campaignId: null },
      { invitedAt: null },
      { decidedAt: { $gt: new Date(ctx.now.getTime() - INVITE_RERUN_MS) } },
    ],
  })
    .limit(100)
    .lean<LeanProposal[]>();
  for (const doc of unfinished) {
    await afterDecision(ctx, String(doc._id));
    followedUp += 1;
  }
  return { decided, expired, followedUp, reconciled };
}

// ---------------------------------------------------------------------------------------------
// Comment votes

export interface VoteComment {
  readonly commentId: string;
  readonly postId: string;
  readonly message: string;
  readonly fromId?: string | undefined;
}

export type VoteCommentResult = 'not_linked' | 'closed' | 'no_option' | 'duplicate' | 'queued';

export const commentVotePayload = (commentId: string) => buildPayload('cd.cvote', [commentId]);

/**
 * A comment under a post linked to a voting proposal that names exactly one option: stored as a
 * pending vote and answered with ONE private reply (`pr:<commentId>`, the comments module's key, so
 * never two) asking the fan to confirm. The vote counts only when they tap Confirm (a PSID at last).
 * Hook for the comments module's feed handler: call it for comments on posts it does not know.
 */
export async function handleVoteComment(ctx: ProposalContext, c: VoteComment): Promise<VoteCommentResult> {
  if (c.fromId === String(ctx.pageId)) return 'not_linked';
  const doc = await ProposalModel.findOne({ pageId: String(ctx.pageId), linkedPostIds: String(c.postId) })
    .sort({ createdAt: -1 })
    .lean<LeanProposal>();
  if (!doc) return 'not_linked';
  const p = toProposalView(doc);
  if (!acceptsVotes(p.state, p.deadline, ctx.now)) return 'closed';
  const optionId = optionNamedIn(
    normalizeText(c.message),
    p.options.map((o) => ({
      id: o.id,
      names: [...new Set([o.texts.it, o.texts.en, o.id].map(normalizeText).filter(Boolean))],
    })),
  );
  if (!optionId) return 'no_option';
  try {
    await CommentVoteModel.create({
      pageId: String(ctx.pageId),
      commentId: String(c.commentId),
      postId: String(c.postId),
      proposalId: new Types.ObjectId(p.id),
      optionId,
      createdAt: ctx.now,
    });
  } catch (error) {
    if ((error as { code?: number }).code === 11000) return 'duplicate';
    throw error;
  }
  const locale: Locale = detectLocale(c.message) ?? ctx.config.defaultLocale;
  const option = p.options.find((o) => o.id === optionId)!;
  const body = buttonTemplate(
    truncate(
      t(locale, 'codesign.comment_confirm', {
        title: proposalTitle(p, locale),
        option: optionName(option, locale),
      }),
      640,
    ),
    [postback(truncate(t(locale, 'codesign.confirm_vote'), 20), commentVotePayload(c.commentId))],
  );
  await enqueueMessages(
    [
      {
        pageId: String(ctx.pageId),
        idempotencyKey: `pr:${c.commentId}`,
        kind: 'private_reply',
        recipient: { commentId: String(c.commentId) },
        purpose: 'reply',
        body: body as unknown as Record<string, unknown>,
        origin: { type: 'comment', id: String(c.commentId) },
      },
    ],
    ctx.now,
  );
  return 'queued';
}

export type ConfirmCommentVoteResult =
  | { readonly ok: true; readonly already: boolean; readonly vote: VoteResult }
  | { readonly ok: false; readonly code: 'not_found' | 'other_fan' };

/** The Confirm tap: the pending comment vote becomes the fan's vote, once (a second tap changes nothing). */
export async function confirmCommentVote(
  ctx: ProposalContext,
  commentId: string,
  psid: string,
): Promise<ConfirmCommentVoteResult> {
  const pageId = String(ctx.pageId);
  let cv = await CommentVoteModel.findOneAndUpdate(
    { pageId, commentId: String(commentId), state: 'pending' },
    { $set: { state: 'confirmed', psid: String(psid), confirmedAt: ctx.now } },
    { returnDocument: 'after' },
  ).lean();
  let already = false;
  if (!cv) {
    cv = await CommentVoteModel.findOne({ pageId, commentId: String(commentId) }).lean();
    if (!cv) return { ok: false, code: 'not_found' };
    if (cv.psid !== String(psid)) return { ok: false, code: 'other_fan' };
    already = true;
  }
  if (already) {
    const p = await load(ctx, String(cv.proposalId));
    if (!p) return { ok: false, code: 'not_found' };
    return {
      ok: true,
      already,
      vote: { ok: true, code: 'unchanged', previous: cv.optionId, proposal: p, decidedNow: false },
    };
  }
  const vote = await castVote(ctx, {
    proposalId: String(cv.proposalId),
    psid: String(psid),
    optionId: cv.optionId,
    source: 'comment',
  });
  return { ok: true, already, vote };
}

// ---------------------------------------------------------------------------------------------
// Figures for managers

export interface TimelineBucket {
  readonly at: Date;
  readonly votes: number;
  readonly byOption: Record<string, number>;
}

/** Votes over time (by the time of each fan's first vote, at its current option), per hour or day. */
export async function voteTimeline(
  ctx: Pick<ProposalContext, 'pageId'>,
  id: string,
  bucket: 'hour' | 'day',
): Promise<TimelineBucket[] | undefined> {
  const p = await load(ctx, id);
  if (!p) return undefined;
  const size = bucket === 'hour' ? 3_600_000 : 86_400_000;
  const buckets = new Map<number, { votes: number; byOption: Record<string, number> }>();
  const cursor = VoteModel.find({ proposalId: new Types.ObjectId(p.id) }, { createdAt: 1, optionId: 1 })
    .lean<VoteDoc[]>()
    .cursor();
  for await (const v of cursor) {
    const at = Math.floor(v.createdAt.getTime() / size) * size;
    const b = buckets.get(at) ?? { votes: 0, byOption: {} };
    b.votes += 1;
    b.byOption[v.optionId] = (b.byOption[v.optionId] ?? 0) + 1;
    buckets.set(at, b);
  }
  return [...buckets.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([at, b]) => ({ at: new Date(at), votes: b.votes, byOption: b.byOption }));
}

export interface SegmentFigures {
  readonly byLocale: Record<string, Record<string, number>>;
  readonly byTag: Record<string, Record<string, number>>;
  readonly bySource: Record<string, Record<string, number>>;
}

/** Votes per option by the voters' locale, tags and vote source. */
export async function voteSegments(
  ctx: Pick<ProposalContext, 'pageId'>,
  id: string,
): Promise<SegmentFigures | undefined> {
  const p = await load(ctx, id);
  if (!p) return undefined;
  const byLocale: Record<string, Record<string, number>> = {};
  const byTag: Record<string, Record<string, number>> = {};
  const bySource: Record<string, Record<string, number>> = {};
  const add = (m: Record<string, Record<string, number>>, seg: string, option: string) => {
    const row = (m[seg] ??= {});
    row[option] = (row[option] ?? 0) + 1;
  };
  let after: Types.ObjectId | undefined;
  for (;;) {
    const page = await VoteModel.find({
      proposalId: new Types.ObjectId(p.id),
      ...(after ? { _id: { $gt: after } } : {}),
    })
      .sort({ _id: 1 })
      .limit(PAGE)
      .lean<VoteDoc[]>();
    if (page.length === 0) break;
    after = page[page.length - 1]!._id;
    const fans = await FanModel.find(
      { pageId: String(ctx.pageId), psid: { $in: page.map((v) => v.psid) } },
      { psid: 1, locale: 1, tags: 1 },
    ).lean();
    const byPsid = new Map(fans.map((f) => [f.psid, f]));
    for (const v of page) {
      const fan = byPsid.get(v.psid);
      add(byLocale, fan?.locale ?? 'unknown', v.optionId);
      for (const tag of fan?.tags ?? []) add(byTag, tag, v.optionId);
      add(bySource, v.source, v.optionId);
    }
    if (page.length < PAGE) break;
  }
  return { byLocale, byTag, bySource };
}

export type { StandingLine };

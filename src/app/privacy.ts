import { createHmac, randomBytes } from 'node:crypto';
import mongoose from 'mongoose';
import { BotStateModel } from '../db/models/bot-state.js';
import { CartModel } from '../db/models/cart.js';
import { DeletionRequestModel, type DeletionSource } from '../db/models/deletion-request.js';
import { FanModel } from '../db/models/fan.js';
import { InboxEventModel } from '../db/models/inbox-event.js';
import { OutboxMessageModel } from '../db/models/outbox-message.js';
import type { Logger } from '../log.js';
import { recordAudit } from './audit.js';
import { eraseCommentsOf } from '../comments/service.js';
import { escapeRegex, forgetFan } from './fans.js';
import type { SubjectResolver } from '../privacy/subject-resolver.js';

/**
 * The right to erasure (issue #11): erase one fan everywhere we keep them, and the deletion requests
 * (Meta's data deletion callback, "delete my data" in Messenger) that lead to it.
 */

export interface PrivacyContext {
  readonly pageId: string;
  readonly now: Date;
  /** Keys the one-way hashes (`erased:<hash>`, subject hashes): the app secret. */
  readonly secret: string;
  /** How long cancelled outbox messages are kept (the outbox retention). */
  readonly outboxRetentionMs: number;
  readonly log?: Logger | undefined;
  /**
   * Maps the app-scoped id of Meta's deletion callback to this page's PSIDs (the ID Matching API).
   * Absent without an app id: only fans whose PSID or recorded `asid` equals the subject are found.
   */
  readonly resolveSubject?: SubjectResolver | undefined;
}

export type ErasureReason = 'fan_request' | 'meta_deletion_callback' | 'admin';

export interface EraseOptions {
  /** Outbox messages left untouched (the confirmation that the data is gone, enqueued before). */
  readonly keepOutboxKeys?: readonly string[] | undefined;
}

export interface ErasureReport {
  readonly fanFound: boolean;
  readonly alreadyForgotten: boolean;
  readonly inboxEvents: number;
  readonly outboxErased: number;
  readonly outboxCancelled: number;
  readonly carts: number;
  readonly checkoutQuotes: number;
  readonly dialogState: number;
  readonly orders: number;
  readonly pledges: number;
  /** Comments the fan wrote (known once they tapped a private reply): text and author removed. */
  readonly comments: number;
}

/** What an erased inbox event holds instead of the raw webhook event (valid JSON: a retry skips it). */
export const ERASED_INBOX_PAYLOAD = JSON.stringify({ erased: true });
/** What an erased outbox message holds instead of its Send API body. */
export const ERASED_OUTBOX_BODY = JSON.stringify({ text: '[erased]' });

/** The opaque id that replaces a PSID where counts must survive (orders, pledges). Stable per fan. */
export function anonymousId(secret: string, pageId: string, psid: string): string {
  return `erased:${createHmac('sha256', secret).update(`${pageId}:${psid}`).digest('hex').slice(0, 24)}`;
}

export function subjectHash(secret: string, pageId: string, id: string): string {
  return createHmac('sha256', secret).update(`subject:${pageId}:${id}`).digest('hex');
}

/** Collections owned by other features; erased through the driver so this file does not import them. */
async function anonymiseIn(
  collection: string,
  pageId: string,
  psid: string,
  anon: string,
  now: Date,
  field = 'psid',
  alsoSet: Record<string, unknown> = {},
) {
  const db = mongoose.connection.db;
  if (!db) throw new Error('database not connected');
  const res = await db
    .collection(collection)
    .updateMany({ pageId, [field]: psid }, { $set: { [field]: anon, erasedAt: now, ...alsoSet } });
  return res.modifiedCount;
}

/**
 * Erases a fan: the fan record is anonymised (`forgetFan`: names, tags, opt-ins, arrival go; the
 * stub keeps counts and a "STOP" right), inbox payloads and outbox bodies are replaced, unsent
 * messages are cancelled, carts, checkout quotes and dialog state are deleted, and orders/pledges keep
 * their numbers but carry `erased:<hash>` instead of the PSID. Idempotent: running it twice is safe.
 * The inbox is erased last, so a failure part-way leaves the triggering event intact for its retry.
 */
export async function eraseFan(
  ctx: PrivacyContext,
  psid: string,
  reason: ErasureReason,
  opts: EraseOptions = {},
): Promise<ErasureReport> {
  const pageId = ctx.pageId;
  psid = String(psid);
  const forgot = await forgetFan({ pageId, now: ctx.now }, psid);

  const keep = [...(opts.keepOutboxKeys ?? [])];
  const mine = { pageId, 'recipient.psid': psid, idempotencyKey: { $nin: keep } };
  const cancelled = await OutboxMessageModel.collection.updateMany(
    { ...mine, state: 'pending' },
    {
      $set: {
        state: 'cancelled',
        cancelledReason: 'erased',
        cancelledAt: ctx.now,
        body: ERASED_OUTBOX_BODY,
        expiresAt: new Date(ctx.now.getTime() + ctx.outboxRetentionMs),
      },
      $unset: { leaseUntil: '' },
    },
  );
  const erased = await OutboxMessageModel.collection.updateMany(
    { ...mine, state: { $ne: 'pending' }, body: { $ne: ERASED_OUTBOX_BODY } },
    { $set: { body: ERASED_OUTBOX_BODY, erasedAt: ctx.now } },
  );

  const carts = await CartModel.collection.deleteMany({ pageId, psid });
  const quotes = mongoose.connection.db
    ? await mongoose.connection.db.collection('checkout_quotes').deleteMany({ pageId, psid })
    : { deletedCount: 0 };
  // Botkit keys embed the PSID (`facebook/conversations/<psid>-<psid>/…`, `.../users/<psid>`). Anchored
  // to the key's segments: a bare substring match also erased every fan whose longer PSID contains it.
  const id = escapeRegex(psid);
  const dialog = await BotStateModel.collection.deleteMany({
    _id: { $regex: `/(${id}-|users/${id}$)` } as never,
  });

  const anon = anonymousId(ctx.secret, pageId, psid);
  const orders = await anonymiseIn('orders', pageId, psid, anon, ctx.now);
  const pledges = await anonymiseIn('pledges', pageId, psid, anon, ctx.now);
  const comments = await eraseCommentsOf(pageId, psid);
  await anonymiseIn('comments', pageId, psid, anon, ctx.now);
  // Votes, ratings and referrals keep counting (tallies, averages, leaders) under an opaque id; the
  // words a fan wrote in a review go with them.
  await anonymiseIn('votes', pageId, psid, anon, ctx.now);
  await anonymiseIn('comment_votes', pageId, psid, anon, ctx.now);
  await anonymiseIn('reviews', pageId, psid, anon, ctx.now, 'psid', { text: '', showName: false });
  await anonymiseIn('feedback_requests', pageId, psid, anon, ctx.now);
  await anonymiseIn('referrals', pageId, psid, anon, ctx.now, 'inviteePsid');
  await anonymiseIn('referrals', pageId, psid, anon, ctx.now, 'referrerPsid');
  await anonymiseIn('referral_codes', pageId, psid, anon, ctx.now);
  await anonymiseIn('ledger', pageId, psid, anon, ctx.now);

  const inbox = await InboxEventModel.collection.updateMany(
    { pageId, queueKey: `fan:${psid}`, payload: { $ne: ERASED_INBOX_PAYLOAD } },
    { $set: { payload: ERASED_INBOX_PAYLOAD, erasedAt: ctx.now }, $unset: { lastError: '' } },
  );

  const report: ErasureReport = {
    fanFound: forgot.ok,
    alreadyForgotten: forgot.ok && forgot.alreadyForgotten,
    inboxEvents: inbox.modifiedCount,
    outboxErased: erased.modifiedCount,
    outboxCancelled: cancelled.modifiedCount,
    carts: carts.deletedCount,
    checkoutQuotes: quotes.deletedCount,
    dialogState: dialog.deletedCount,
    orders,
    pledges,
    comments,
  };
  await recordAudit(
    { pageId, now: ctx.now, actor: { kind: 'system', id: `privacy:${reason}` } },
    { action: 'fan.erase', target: { type: 'fan', id: psid }, after: { reason, ...report } },
  );
  ctx.log?.info({ reason, ...report }, 'fan erased');
  return report;
}

// -------------------------------------------------------------------------------------------------
// Deletion requests

/** 22 url-safe characters (128 bits): the code Meta shows the person, and the status page's key. */
export function newConfirmationCode(): string {
  return randomBytes(16).toString('base64url');
}

export const CONFIRMATION_CODE = /^[A-Za-z0-9_-]{16,64}$/;

export interface DeletionRequestInput {
  readonly source: DeletionSource;
  /** Meta's `user_id` (an app-scoped id for Messenger-only apps) or a PSID. */
  readonly subjectId: string;
  /** Given for idempotent callers (a retried turn); random otherwise. */
  readonly code?: string;
  readonly keepOutboxKeys?: readonly string[];
}

export interface DeletionStatus {
  readonly code: string;
  readonly state: 'pending' | 'completed';
  readonly requestedAt: Date;
  readonly completedAt: Date | null;
  readonly fansErased: number | null;
}

/** Records a request before anything is erased, so a crash part-way is finished later by the job. */
export async function recordDeletionRequest(
  ctx: PrivacyContext,
  input: DeletionRequestInput,
): Promise<{ code: string; created: boolean }> {
  const code = input.code ?? newConfirmationCode();
  const res = await DeletionRequestModel.collection.updateOne(
    { code },
    {
      $setOnInsert: {
        pageId: ctx.pageId,
        code,
        source: input.source,
        subjectId: String(input.subjectId),
        subjectHash: subjectHash(ctx.secret, ctx.pageId, String(input.subjectId)),
        state: 'pending',
        requestedAt: ctx.now,
        attempts: 0,
        keepOutboxKeys: [...(input.keepOutboxKeys ?? [])],
      },
    },
    { upsert: true },
  );
  return { code, created: res.upsertedCount === 1 };
}

const REASON_BY_SOURCE: Record<DeletionSource, ErasureReason> = {
  meta_callback: 'meta_deletion_callback',
  messenger: 'fan_request',
  admin: 'admin',
};

/**
 * Does the erasure a request asks for: every fan of the page whose PSID — or app-scoped id (`asid`),
 * when we have learned it — equals the subject. Then the subject id itself is forgotten.
 */
export async function processDeletionRequest(
  ctx: PrivacyContext,
  code: string,
): Promise<DeletionStatus | undefined> {
  const request = await DeletionRequestModel.collection.findOneAndUpdate(
    { code, state: 'pending' },
    { $inc: { attempts: 1 } },
    { returnDocument: 'after' },
  );
  if (!request) return getDeletionStatus(code);
  const subjectId = String(request.subjectId ?? '');
  const pageId = String(request.pageId);
  const source = request.source as DeletionSource;
  try {
    const fans = await FanModel.collection
      .find({ pageId, $or: [{ psid: subjectId }, { asid: subjectId }] }, { projection: { psid: 1 } })
      .toArray();
    const psids = new Set(fans.map((f) => String(f.psid)));
    // A Messenger request names a PSID we know even if the fan record is gone: erase the rest anyway.
    if (source === 'messenger' || source === 'admin') psids.add(subjectId);
    const totals: Record<string, number> = { fans: 0 };
    if (source === 'meta_callback' && ctx.resolveSubject) {
      // Meta names the person by their app-scoped id; a Messenger-only bot knows them by PSID.
      const matched = await ctx.resolveSubject(subjectId);
      for (const psid of matched) psids.add(psid);
      totals.idMatches = matched.length;
    }
    for (const psid of psids) {
      const report = await eraseFan({ ...ctx, pageId }, psid, REASON_BY_SOURCE[source], {
        keepOutboxKeys: (request.keepOutboxKeys as string[] | undefined) ?? [],
      });
      if (report.fanFound) totals.fans! += 1;
      for (const [k, v] of Object.entries(report))
        if (typeof v === 'number') totals[k] = (totals[k] ?? 0) + v;
    }
    await DeletionRequestModel.collection.updateOne(
      { _id: request._id },
      {
        $set: { state: 'completed', completedAt: ctx.now, result: totals },
        $unset: { subjectId: '', lastError: '', keepOutboxKeys: '' },
      },
    );
    ctx.log?.info({ code, source, ...totals }, 'deletion request completed');
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    await DeletionRequestModel.collection.updateOne(
      { _id: request._id },
      { $set: { lastError: message.slice(0, 1000) } },
    );
    throw error;
  }
  return getDeletionStatus(code);
}

/** Requests still pending (a crash, an outage): the `privacy-deletions` job finishes them. */
export async function processPendingDeletions(
  ctx: PrivacyContext,
  opts: { olderThanMs: number; limit: number },
): Promise<{ completed: number; failed: number }> {
  const pending = await DeletionRequestModel.collection
    .find(
      { state: 'pending', requestedAt: { $lte: new Date(ctx.now.getTime() - opts.olderThanMs) } },
      { projection: { code: 1 }, sort: { requestedAt: 1 }, limit: opts.limit },
    )
    .toArray();
  let completed = 0;
  let failed = 0;
  for (const r of pending) {
    try {
      await processDeletionRequest(ctx, String(r.code));
      completed += 1;
    } catch (error) {
      failed += 1;
      ctx.log?.error({ err: error, code: r.code }, 'deletion request failed; will retry');
    }
  }
  return { completed, failed };
}

export async function getDeletionStatus(code: string): Promise<DeletionStatus | undefined> {
  if (!CONFIRMATION_CODE.test(code)) return undefined;
  const doc = await DeletionRequestModel.collection.findOne({ code: String(code) });
  if (!doc) return undefined;
  const result = doc.result as { fans?: number } | undefined;
  return {
    code: String(doc.code),
    state: doc.state === 'completed' ? 'completed' : 'pending',
    requestedAt: doc.requestedAt as Date,
    completedAt: (doc.completedAt as Date | undefined) ?? null,
    fansErased: typeof result?.fans === 'number' ? result.fans : null,
  };
}

import { randomUUID } from 'node:crypto';
import { FanModel } from '../../db/models/fan.js';
import { OutboxMessageModel } from '../../db/models/outbox-message.js';
import { PageHealthModel } from '../../db/models/page-health.js';
import { releaseLease, renewLease, tryAcquireLease } from '../../db/leases.js';
import { decideMessaging, type MessagingPurpose } from '../../domain/messaging-policy.js';
import type { Logger } from '../../log.js';
import { backoffDelay } from '../../shared/backoff.js';
import { PAGE_INBOX_APP_ID, type GraphClient, type SendMessageBody } from '../graph/client.js';
import { GraphApiError, GraphNetworkError, isGraphError, type GraphErrorKind } from '../graph/errors.js';
import { RateLimiter } from './rate-limiter.js';
import { KeyedWorkers } from '../../shared/keyed-workers.js';
import { WakeableLoop } from '../../shared/wakeable-loop.js';
import { BatchedWrites } from '../inbox/batched-writes.js';

export interface OutboxRecord {
  _id: unknown;
  pageId: string;
  idempotencyKey: string;
  kind: string;
  queueKey: string;
  seq: number;
  recipient: { psid?: string; commentId?: string };
  purpose: MessagingPurpose;
  body: string;
  attempts: number;
  origin?: { type?: string; id?: string };
  /** The fan's policy fields when the message was written (turn replies); see `decide`. */
  policy?: { lastInteractionAt: Date | null; reachable: boolean };
}

type PendingRecord = OutboxRecord & { nextAttemptAt: Date; leaseUntil?: Date | null; inDoubtAt?: Date };

export type SendOutcome =
  | { state: 'sent'; messageId: string; recipientId: string | null }
  | { state: 'refused'; reason: string }
  | { state: 'failed'; kind: GraphErrorKind | 'internal'; code?: number | undefined };

/** Features that need to know how a send ended (comments, broadcasts) listen here. */
export type OutboxListener = (record: OutboxRecord, outcome: SendOutcome) => Promise<void> | void;

export interface OutboxSenderOptions {
  readonly graph: GraphClient;
  readonly page: { readonly id: string; readonly accessToken: string };
  readonly log: Logger;
  readonly now: () => Date;
  readonly ratePerSecond: number;
  readonly maxAttempts: number;
  readonly concurrency?: number;
  readonly pollMs?: number;
  /** How long a claimed message stays claimed; a crash mid-send makes it due again after this. */
  readonly claimMs?: number;
  readonly listeners?: OutboxListener[];
  /**
   * A record whose claim expired without a result (the sender died mid-send) waits this long for the
   * echo that would prove Meta got it, before it is sent again (default 15 s; 0 = resend at once).
   */
  readonly echoGraceMs?: number;
  /** How long a finished message is kept before TTL removal (default 30 days). */
  readonly retentionMs?: number;
}

const PAGE_LEASE_MS = 15_000;
/** Results of concurrent sends share round trips. */
const outboxWrites = new BatchedWrites(() => OutboxMessageModel.collection);
/** Consecutive temporary failures (5xx, network) after which the API itself is taken to be down. */
const OUTAGE_AFTER_FAILURES = 3;
const OUTAGE_REASON = 'Graph API unavailable (5xx or network errors); sending paused, probing';
const TOKEN_REASON = 'page access token invalid (190)';
/** Sends Meta echoes back with their metadata (sender actions, handovers and public replies have none). */
const ECHOED_KINDS = new Set(['message', 'private_reply']);

/**
 * The only code that talks to the Send API. One sender per page holds a lease (so the page rate limit
 * is real across processes); within it, each recipient's messages leave in order, many recipients
 * at once, through a token bucket.
 */
export class OutboxSender {
  private readonly holder = `outbox-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly limiter: RateLimiter;
  private readonly workers: KeyedWorkers;
  private readonly log: Logger;
  private readonly listeners: OutboxListener[];
  private readonly loop: WakeableLoop;
  private hasPageLease = false;
  private pageLeaseRenewedAt = 0;
  /** Fans this sender found unreachable (551), and when: newer than a reply's policy snapshot. */
  private readonly unreachableAt = new Map<string, number>();
  /**
   * Writes that could not be made because the database was away, by record id: a send Meta accepted
   * (record it as sent, never send it again) or a claim whose send never started (give it back).
   * Retried before each dispatch, so the fan's queue resumes as soon as the database answers.
   */
  private readonly unrecorded = new Map<string, () => Promise<void>>();
  /** Temporary failures in a row, whatever the message: the API's health, not one message's. */
  private graphFailures = 0;
  /** How many probe windows the current outage has lasted (0: no outage). */
  private outageLevel = 0;
  /** False until a send succeeds in this process, and again after a 190. */
  private tokenWorks = false;
  /** The one send that tests the API during an outage; others wait for its answer. */
  private probe: Promise<void> | undefined;
  /** Set on error 190: nothing more is sent for the page until the token works again. */
  private pausedUntil = 0;
  pauseReason: string | undefined;

  constructor(private readonly opts: OutboxSenderOptions) {
    this.limiter = new RateLimiter(opts.ratePerSecond);
    this.listeners = [...(opts.listeners ?? [])];
    this.log = opts.log.child({ module: 'outbox', pageId: opts.page.id });
    this.workers = new KeyedWorkers(
      opts.concurrency ?? 128,
      (error, queueKey) => this.log.error({ err: error, queueKey }, 'outbox queue failed'),
      () => this.wake(),
    );
    this.loop = new WakeableLoop(
      async () => {
        await this.recordUnrecorded();
        if (await this.holdPageLease()) await this.dispatch();
      },
      opts.pollMs ?? 200,
      (error) => this.log.error({ err: error }, 'outbox poll failed; retrying'),
    );
  }

  get sendingRate(): number {
    return this.limiter.currentRate;
  }

  addListener(listener: OutboxListener): void {
    this.listeners.push(listener);
  }

  start(): void {
    this.loop.start();
  }

  wake(): void {
    this.loop.wake();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    await this.workers.settled();
    if (this.hasPageLease) await releaseLease(this.pageLease, this.holder).catch(() => undefined);
    this.hasPageLease = false;
  }

  private get pageLease(): string {
    return `outbox-sender:${this.opts.page.id}`;
  }

  private async holdPageLease(): Promise<boolean> {
    const now = this.opts.now();
    if (this.hasPageLease && now.getTime() - this.pageLeaseRenewedAt < PAGE_LEASE_MS / 3) return true;
    this.hasPageLease = this.hasPageLease
      ? await renewLease(this.pageLease, this.holder, PAGE_LEASE_MS, now)
      : await tryAcquireLease(this.pageLease, this.holder, PAGE_LEASE_MS, now);
    if (this.hasPageLease) this.pageLeaseRenewedAt = now.getTime();
    return this.hasPageLease;
  }

  private async dispatch(): Promise<void> {
    const now = this.opts.now();
    if (now.getTime() < this.pausedUntil) return;
    const free = this.workers.free;
    if (free <= 0) return;
    const due = await OutboxMessageModel.collection
      .find(
        {
          state: 'pending',
          pageId: this.opts.page.id,
          nextAttemptAt: { $lte: now },
          $or: [{ leaseUntil: { $exists: false } }, { leaseUntil: null }, { leaseUntil: { $lte: now } }],
        },
        { projection: { queueKey: 1 } },
      )
      .limit(free * 2 + this.workers.size)
      .toArray();
    const seen = new Map<string, number>();
    for (const d of due) seen.set(String(d.queueKey), (seen.get(String(d.queueKey)) ?? 0) + 1);
    this.workers.startAll([...seen.keys()], (queueKey) => this.drainQueue(queueKey, seen.get(queueKey) ?? 1));
  }

  /**
   * Sends a recipient's due messages in `seq` order. `expected` is how many the dispatch poll saw:
   * after that many the worker stops instead of paying a query to find the queue empty; the poll that
   * follows every finished worker picks up anything written since.
   */
  private async drainQueue(queueKey: string, expected: number): Promise<void> {
    let handled = 0;
    while (this.loop.isRunning && this.opts.now().getTime() >= this.pausedUntil && handled < expected) {
      const now = this.opts.now();
      const next = (await OutboxMessageModel.collection.findOne(
        { queueKey, state: 'pending' },
        { sort: { seq: 1 } },
      )) as PendingRecord | null;
      // The earliest message of the recipient waits for its retry: later ones wait behind it.
      if (!next || next.nextAttemptAt > now || (next.leaseUntil && next.leaseUntil > now)) return;
      handled += 1;
      // In doubt: claimed, and the claim expired with no result recorded — the process died between
      // the Send API call and recording its answer, so Meta may already have the message. If it does,
      // its echo (`metadata: ob:<id>`) marks the record sent (confirmEcho, event-handler.ts). Give that
      // echo a grace period before resending: extend the claim once, then send if still pending.
      const graceMs = this.opts.echoGraceMs ?? 15_000;
      if (next.leaseUntil && !next.inDoubtAt && graceMs > 0 && ECHOED_KINDS.has(next.kind)) {
        await OutboxMessageModel.collection.updateOne(
          { _id: next._id as never, state: 'pending', attempts: next.attempts },
          { $set: { leaseUntil: new Date(now.getTime() + graceMs), inDoubtAt: now } },
        );
        this.log.warn({ key: next.idempotencyKey }, 'send in doubt after a crash; waiting for its echo');
        return;
      }
      const claimed = await OutboxMessageModel.collection.updateOne(
        { _id: next._id as never, state: 'pending', attempts: next.attempts },
        {
          $set: { leaseUntil: new Date(now.getTime() + (this.opts.claimMs ?? 60_000)) },
          $unset: { inDoubtAt: '' },
          $inc: { attempts: 1 },
        },
      );
      if (claimed.modifiedCount !== 1) return;
      if ((await this.sendOne({ ...next, attempts: next.attempts + 1 })) === 'retry-later') return;
    }
  }

  /** Sends one claimed record and records the result. 'retry-later' stops its queue for now. */
  private async sendOne(record: OutboxRecord): Promise<'next' | 'retry-later'> {
    let decision: Awaited<ReturnType<OutboxSender['decide']>>;
    try {
      decision = await this.decide(record);
    } catch (error) {
      // Nothing reached Meta: the claim is given back once the database answers, not left in doubt.
      this.unrecorded.set(String(record._id), () => this.releaseClaim(record));
      throw error;
    }
    if (!decision.ok) {
      await this.finish(record, { state: 'refused', reason: decision.reason });
      return 'next';
    }
    await this.limiter.acquire();
    while (this.probe) await this.probe;
    if (this.opts.now().getTime() < this.pausedUntil) {
      // A 190 or an outage arrived while this send waited for its turn: it would fail the same way.
      await this.releaseClaim(record);
      return 'retry-later';
    }
    // During an outage one send at a time finds out whether the API is back.
    let endProbe = (): void => undefined;
    if (this.outageLevel > 0) {
      this.probe = new Promise<void>((resolve) => {
        endProbe = () => {
          this.probe = undefined;
          resolve();
        };
      });
    }
    let sent: SendOutcome;
    try {
      const result = await this.call(record, decision.body);
      sent = { state: 'sent', messageId: result.messageId, recipientId: result.recipientId };
      this.graphAnswered();
      if (!this.tokenWorks) await this.noteTokenWorks();
    } catch (error) {
      return await this.handleError(record, error);
    } finally {
      endProbe();
    }
    try {
      await this.finish(record, sent);
    } catch (error) {
      // Meta has the message: if the database is away, record it as sent later, never send it again.
      this.unrecorded.set(String(record._id), () => this.finish(record, sent));
      throw error;
    }
    return 'next';
  }

  /**
   * A send went through with the token: a refusal recorded in page health (a 190 here, or the token
   * check's, before a restart with a new token) is no longer true. Once per process and after each 190.
   */
  private async noteTokenWorks(): Promise<void> {
    this.tokenWorks = true;
    const now = this.opts.now();
    await PageHealthModel.collection.updateOne(
      {
        pageId: this.opts.page.id,
        'token.status': 'invalid',
        'token.problem': { $in: ['token_refused', 'token_invalid'] },
      },
      {
        $set: { 'token.status': 'valid', 'token.checkedAt': now, updatedAt: now },
        $unset: { 'token.problem': '', 'token.error': '', 'token.unhealthySince': '' },
      },
    );
  }

  private graphAnswered(): void {
    this.graphFailures = 0;
    if (this.outageLevel === 0) return;
    this.log.warn({ probes: this.outageLevel }, 'Graph API answers again; sending resumes');
    this.outageLevel = 0;
    if (this.pauseReason === OUTAGE_REASON) {
      this.pausedUntil = 0;
      this.pauseReason = undefined;
    }
  }

  /**
   * True when the API, not this message, is failing: the page pauses and probes with growing gaps,
   * and the message keeps its place and its retries (an outage of minutes must not use them up).
   */
  private async pauseForOutage(record: OutboxRecord, lastError: object, error: unknown): Promise<boolean> {
    this.graphFailures += 1;
    if (this.graphFailures < OUTAGE_AFTER_FAILURES) return false;
    const now = this.opts.now().getTime();
    if (now >= this.pausedUntil && (!this.pauseReason || this.pauseReason === OUTAGE_REASON)) {
      this.outageLevel += 1;
      this.pausedUntil = now + backoffDelay(this.outageLevel, 1000, 15_000);
      this.pauseReason = OUTAGE_REASON;
      this.log.error(
        { failures: this.graphFailures, probe: this.outageLevel, resumeAt: new Date(this.pausedUntil) },
        'Graph API unavailable; sending paused for the page',
      );
    }
    const held = this.heldForEcho(record, error);
    await OutboxMessageModel.collection.updateOne(
      { _id: record._id as never, state: 'pending', attempts: record.attempts },
      held
        ? { $set: { lastError, ...held }, $inc: { attempts: -1 } }
        : { $set: { lastError }, $unset: { leaseUntil: '' }, $inc: { attempts: -1 } },
    );
    return true;
  }

  /**
   * A call that timed out (or was cut) after the request left may have reached Meta: like a send cut
   * short by a crash, it is in doubt and waits for its echo before it may go again.
   */
  private heldForEcho(
    record: OutboxRecord,
    error: unknown,
  ): { leaseUntil: Date; inDoubtAt: Date } | undefined {
    const graceMs = this.opts.echoGraceMs ?? 15_000;
    if (!(error instanceof GraphNetworkError) || !error.maybeDelivered) return undefined;
    if (graceMs <= 0 || !ECHOED_KINDS.has(record.kind)) return undefined;
    const now = this.opts.now();
    return { leaseUntil: new Date(now.getTime() + graceMs), inDoubtAt: now };
  }

  /** Gives back a claim whose send never started: the attempt does not count. */
  private async releaseClaim(record: OutboxRecord): Promise<void> {
    await OutboxMessageModel.collection.updateOne(
      { _id: record._id as never, state: 'pending', attempts: record.attempts },
      { $unset: { leaseUntil: '' }, $inc: { attempts: -1 } },
    );
  }

  private async recordUnrecorded(): Promise<void> {
    for (const [id, write] of this.unrecorded) {
      await write();
      this.unrecorded.delete(id);
    }
  }

  private async decide(
    record: OutboxRecord,
  ): Promise<{ ok: true; body: Record<string, unknown> } | { ok: false; reason: string }> {
    const message = JSON.parse(record.body) as Record<string, unknown>;
    const metadata = `ob:${String(record._id)}`;
    if (record.kind === 'public_reply') return { ok: true, body: message };
    if (record.kind === 'private_reply') {
      // Meta allows one private reply per comment within 7 days; the comment itself opens nothing.
      return { ok: true, body: { messaging_type: 'RESPONSE', message, metadata } };
    }
    const psid = record.recipient.psid;
    if (!psid) return { ok: false, reason: 'no_recipient' };
    // A turn's reply carries the fan's policy fields as the turn read them, seconds ago: no lookup.
    // A later interaction only widens the window, so the snapshot can refuse too early, never send
    // outside it. Promotions always look the fan up: a STOP must hold from the moment it is recorded.
    const snapshot = record.policy;
    if (snapshot && record.purpose !== 'promotion' && record.kind === 'message') {
      // A 551 seen by this sender after the snapshot was taken (e.g. on the turn's first message).
      const blockedAt = this.unreachableAt.get(psid);
      const lastInteraction = snapshot.lastInteractionAt?.getTime() ?? 0;
      const reachable = snapshot.reachable && !(blockedAt !== undefined && blockedAt >= lastInteraction);
      return this.decideWith(record, message, metadata, snapshot.lastInteractionAt, reachable);
    }
    const fan = await FanModel.collection.findOne(
      { pageId: record.pageId, psid },
      { projection: { lastInteractionAt: 1, reachable: 1, marketingOptOut: 1, optIns: 1, threadOwner: 1 } },
    );
    if (!fan) return { ok: false, reason: 'unknown_fan' };
    if (record.kind === 'sender_action' || record.kind === 'handover') return { ok: true, body: message };
    if (record.purpose === 'promotion' && fan.marketingOptOut === true)
      return { ok: false, reason: 'opted_out' };
    return this.decideWith(
      record,
      message,
      metadata,
      (fan.lastInteractionAt as Date | undefined) ?? null,
      fan.reachable !== false,
    );
  }

  private decideWith(
    record: OutboxRecord,
    message: Record<string, unknown>,
    metadata: string,
    lastInteractionAt: Date | null,
    reachable: boolean,
  ): { ok: true; body: Record<string, unknown> } | { ok: false; reason: string } {
    const decision = decideMessaging({
      purpose: record.purpose,
      lastInteractionAt,
      now: this.opts.now(),
      reachable,
    });
    if (!decision.ok) return { ok: false, reason: decision.reason };
    if (decision.channel !== 'standard') return { ok: false, reason: 'optin_channel_not_supported' };
    const body: Record<string, unknown> = { messaging_type: decision.messagingType, message, metadata };
    if (decision.messagingType === 'MESSAGE_TAG') body.tag = decision.tag;
    return { ok: true, body };
  }

  private async call(
    record: OutboxRecord,
    body: Record<string, unknown>,
  ): Promise<{ messageId: string; recipientId: string | null }> {
    const { graph, page } = this.opts;
    switch (record.kind) {
      case 'public_reply': {
        const result = await graph.publicReply(
          page.accessToken,
          record.recipient.commentId ?? '',
          String(body.text),
        );
        return { messageId: result.id, recipientId: null };
      }
      case 'private_reply':
        return graph.sendMessage(page.accessToken, page.id, {
          ...body,
          recipient: { comment_id: record.recipient.commentId ?? '' },
        } as unknown as SendMessageBody);
      case 'handover':
        await graph.passThreadControl(
          page.accessToken,
          page.id,
          record.recipient.psid ?? '',
          PAGE_INBOX_APP_ID,
          typeof body.metadata === 'string' ? body.metadata : undefined,
        );
        return { messageId: '', recipientId: record.recipient.psid ?? null };
      case 'sender_action':
        await graph.sendSenderAction(
          page.accessToken,
          page.id,
          record.recipient.psid ?? '',
          body.sender_action as 'typing_on',
        );
        return { messageId: '', recipientId: record.recipient.psid ?? null };
      default:
        return graph.sendMessage(page.accessToken, page.id, {
          ...body,
          recipient: { id: record.recipient.psid ?? '' },
        } as unknown as SendMessageBody);
    }
  }

  private async handleError(record: OutboxRecord, error: unknown): Promise<'next' | 'retry-later'> {
    if (!isGraphError(error)) {
      this.log.error({ err: error, key: record.idempotencyKey }, 'unexpected error while sending');
      await this.finish(record, { state: 'failed', kind: 'internal' });
      return 'next';
    }
    const code = error instanceof GraphApiError ? error.code : undefined;
    const details = error instanceof GraphApiError ? error.toJSON() : { kind: error.kind, code: error.code };
    const lastError = {
      kind: error.kind,
      code,
      subcode: error instanceof GraphApiError ? error.subcode : undefined,
      message: error.message.slice(0, 500),
      fbtraceId: error instanceof GraphApiError ? error.fbtraceId : undefined,
    };
    switch (error.kind) {
      case 'temporary':
      case 'throttled': {
        if (error.kind === 'temporary' && (await this.pauseForOutage(record, lastError, error)))
          return 'retry-later';
        if (error.kind === 'throttled') this.limiter.slowDown();
        if (record.attempts >= this.opts.maxAttempts) {
          this.log.error({ err: details, key: record.idempotencyKey }, 'send failed after all retries');
          await this.finish(record, { state: 'failed', kind: error.kind, code }, lastError);
          return 'next';
        }
        const retryAt = new Date(this.opts.now().getTime() + backoffDelay(record.attempts, 500, 60_000));
        this.log.warn({ err: details, key: record.idempotencyKey, retryAt }, 'send failed; will retry');
        const held = this.heldForEcho(record, error);
        await OutboxMessageModel.collection.updateOne(
          { _id: record._id as never },
          held
            ? { $set: { nextAttemptAt: retryAt, lastError, ...held } }
            : { $set: { nextAttemptAt: retryAt, lastError }, $unset: { leaseUntil: '' } },
        );
        return 'retry-later';
      }
      case 'token': {
        // Every further call would fail the same way and Meta counts them: stop, alert, keep the message.
        const now = this.opts.now();
        // The sends already in flight get their 190 too: one alert per stop, not one per send.
        const alreadyStopped = this.pauseReason === TOKEN_REASON && now.getTime() < this.pausedUntil;
        this.pausedUntil = now.getTime() + 5 * 60_000;
        this.pauseReason = TOKEN_REASON;
        this.tokenWorks = false;
        if (alreadyStopped) {
          this.log.warn({ err: details, key: record.idempotencyKey }, 'send refused (190) while stopped');
        } else {
          this.log.fatal(
            { alert: 'page_token_invalid', err: details },
            'ALERT: the page access token was refused (190); sending for this page is stopped. Renew FACEBOOK_ACCESS_TOKEN.',
          );
          // The dashboard and /healthz show the token's health: managers see it now, not at the daily check.
          await PageHealthModel.collection.updateOne(
            { pageId: this.opts.page.id },
            {
              $set: {
                pageId: this.opts.page.id,
                'token.status': 'invalid',
                'token.checkedAt': now,
                'token.problem': 'token_refused',
                updatedAt: now,
              },
            },
            { upsert: true },
          );
        }
        await OutboxMessageModel.collection.updateOne(
          { _id: record._id as never },
          { $set: { lastError }, $unset: { leaseUntil: '' }, $inc: { attempts: -1 } },
        );
        return 'retry-later';
      }
      case 'unreachable':
        if (record.recipient.psid) {
          if (this.unreachableAt.size >= 10_000) this.unreachableAt.clear();
          this.unreachableAt.set(record.recipient.psid, this.opts.now().getTime());
          await FanModel.collection.updateOne(
            { pageId: record.pageId, psid: record.recipient.psid },
            {
              $set: {
                reachable: false,
                unreachableAt: this.opts.now(),
                unreachableReason: `graph_${code ?? 551}`,
              },
            },
          );
        }
        break;
      case 'permission':
      case 'abusive':
        this.log.fatal(
          { alert: `page_${error.kind}`, err: details },
          `ALERT: Meta refused a send (${error.kind})`,
        );
        break;
      default:
        this.log.warn({ err: details, key: record.idempotencyKey }, 'send refused by the Graph API');
    }
    await this.finish(record, { state: 'failed', kind: error.kind, code }, lastError);
    return 'next';
  }

  private async finish(record: OutboxRecord, outcome: SendOutcome, lastError?: object): Promise<void> {
    const now = this.opts.now();
    const set: Record<string, unknown> = {
      state: outcome.state,
      expiresAt: new Date(now.getTime() + (this.opts.retentionMs ?? 30 * 86_400_000)),
    };
    if (outcome.state === 'sent') {
      set.sentAt = now;
      set.result = { messageId: outcome.messageId, recipientId: outcome.recipientId };
    }
    if (outcome.state === 'refused') set.refusedReason = outcome.reason;
    if (lastError) set.lastError = lastError;
    await outboxWrites.write({
      updateOne: { filter: { _id: record._id as never }, update: { $set: set, $unset: { leaseUntil: '' } } },
    });
    for (const listener of this.listeners) {
      try {
        await listener(record, outcome);
      } catch (error) {
        this.log.error({ err: error, key: record.idempotencyKey }, 'outbox listener failed');
      }
    }
  }

  /** After a 190, a cheap probe tells whether the token works again, so sending can resume early. */
  async probeToken(): Promise<boolean> {
    try {
      await this.opts.graph.getMe(this.opts.page.accessToken);
      this.pausedUntil = 0;
      this.pauseReason = undefined;
      this.wake();
      return true;
    } catch {
      return false;
    }
  }
}

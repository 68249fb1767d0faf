import { randomUUID } from 'node:crypto';
import { InboxEventModel, type InboxKind } from '../../db/models/inbox-event.js';
import { renewLease } from '../../db/leases.js';
import { LeaseModel } from '../../db/models/lease.js';
import type { Logger } from '../../log.js';
import { backoffDelay } from '../../shared/backoff.js';
import { KeyedWorkers } from '../../shared/keyed-workers.js';
import { WakeableLoop } from '../../shared/wakeable-loop.js';
import { BatchedWrites } from './batched-writes.js';

/** Events of one queue fetched per query. */
const DRAIN_BATCH = 16;
const DUPLICATE_KEY = 11000;

// Finished events and released leases of all the queues being drained share round trips.
const inboxWrites = new BatchedWrites(() => InboxEventModel.collection);
const leaseWrites = new BatchedWrites(() => LeaseModel.collection);

export interface InboxItem {
  readonly id: string;
  readonly pageId: string;
  readonly kind: InboxKind;
  readonly dedupeKey: string;
  readonly queueKey: string;
  readonly eventTime: Date;
  readonly attempts: number;
  readonly payload: Record<string, unknown>;
}

/** What a handler did with an event: `skipped` events are kept for the record, not retried. */
export type InboxOutcome = 'done' | 'skipped';
export type InboxHandler = (item: InboxItem) => Promise<InboxOutcome>;

export interface InboxProcessorOptions {
  readonly handle: InboxHandler;
  readonly log: Logger;
  readonly now: () => Date;
  readonly maxAttempts: number;
  readonly concurrency?: number;
  readonly pollMs?: number;
  readonly leaseMs?: number;
  /** How long finished events stay (for audits and dedupe of late redeliveries) before TTL removal. */
  readonly retentionMs?: number;
}

interface StoredEvent {
  _id: unknown;
  pageId: string;
  kind: InboxKind;
  dedupeKey: string;
  queueKey: string;
  eventTime: Date;
  attempts: number;
  nextAttemptAt: Date;
  payload: string;
}

/**
 * Drains the inbox: one fan (or comment thread) at a time per lease, events in order, at least once.
 * Any number of processes may run one; the lease on the queue key keeps them from interleaving.
 */
export class InboxProcessor {
  private readonly holder = `inbox-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly workers: KeyedWorkers;
  private readonly loop: WakeableLoop;
  private readonly log: Logger;

  constructor(private readonly opts: InboxProcessorOptions) {
    this.log = opts.log.child({ module: 'inbox' });
    this.workers = new KeyedWorkers(
      opts.concurrency ?? 32,
      (error, queueKey) => this.log.error({ err: error, queueKey }, 'inbox queue failed'),
      () => this.wake(),
    );
    this.loop = new WakeableLoop(
      () => this.dispatchDueQueues(),
      opts.pollMs ?? 200,
      (error) => this.log.error({ err: error }, 'inbox poll failed; retrying'),
    );
  }

  start(): void {
    this.loop.start();
  }

  /** Called when new events were stored in this process: no need to wait for the next poll. */
  wake(): void {
    this.loop.wake();
  }

  /** Stops polling, lets the events in hand finish, and releases their leases. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await this.workers.settled();
  }

  private async dispatchDueQueues(): Promise<void> {
    const free = this.workers.free;
    if (free <= 0) return;
    const due = await InboxEventModel.collection
      .find({ state: 'pending', nextAttemptAt: { $lte: this.opts.now() } }, { projection: { queueKey: 1 } })
      .sort({ nextAttemptAt: 1 })
      .limit(free * 4)
      .toArray();
    this.workers.startAll(
      due.map((d) => String(d.queueKey)),
      (queueKey) => this.drainQueue(queueKey),
    );
  }

  private async drainQueue(queueKey: string): Promise<void> {
    const leaseMs = this.opts.leaseMs ?? 30_000;
    const lease = `inbox:${queueKey}`;
    const taken = await this.acquireQueueLease(lease, leaseMs, this.opts.now());
    if (taken === 'no') return;
    let leaseRenewedAt = this.opts.now().getTime();
    let crashToCount = taken === 'taken-over';
    try {
      while (this.loop.isRunning) {
        // A few at a time: a fan's burst costs one query, and a lone event needs no second look.
        const batch = (await InboxEventModel.collection
          .find({ queueKey, state: 'pending' }, { sort: { eventTime: 1, _id: 1 }, limit: DRAIN_BATCH })
          .toArray()) as unknown as StoredEvent[];
        const head = batch[0];
        if (crashToCount && head) {
          // The previous holder died holding this queue: the event at its head is the likeliest
          // culprit, and counting it is what eventually parks an event that kills the process.
          await InboxEventModel.collection.updateOne({ _id: head._id as never }, { $inc: { attempts: 1 } });
          head.attempts += 1;
        }
        crashToCount = false;
        let allProcessed = true;
        for (const next of batch) {
          const now = this.opts.now();
          // An event waiting for its retry blocks the later events of the same fan: order matters more.
          if (next.nextAttemptAt > now || !this.loop.isRunning) return;
          if (now.getTime() - leaseRenewedAt > leaseMs / 3) {
            if (!(await renewLease(lease, this.holder, leaseMs, now))) return;
            leaseRenewedAt = now.getTime();
          }
          // A failure reschedules (or parks) this event; look again before touching the next one.
          if (!(await this.processOne(next))) {
            allProcessed = false;
            break;
          }
        }
        if (allProcessed && batch.length < DRAIN_BATCH) return;
      }
    } finally {
      await leaseWrites
        .write({ deleteOne: { filter: { _id: lease as never, holder: this.holder } } })
        .catch(() => undefined);
    }
  }

  /**
   * Takes a queue's lease, and tells whether it was taken over from another holder whose lease ran
   * out unreleased: that holder died (or stalled) while draining the queue. Counting such takeovers,
   * rather than writing a counter before every try, is how a crash counts as an attempt.
   */
  private async acquireQueueLease(
    lease: string,
    leaseMs: number,
    now: Date,
  ): Promise<'no' | 'clean' | 'taken-over'> {
    try {
      const before = await LeaseModel.collection.findOneAndUpdate(
        { _id: lease as never, $or: [{ until: { $lte: now } }, { holder: this.holder }] },
        { $set: { holder: this.holder, until: new Date(now.getTime() + leaseMs) } },
        { upsert: true, returnDocument: 'before' },
      );
      return before && before.holder !== this.holder ? 'taken-over' : 'clean';
    } catch (error) {
      // A live lease held by someone else makes the upsert collide on `_id`: not ours.
      if ((error as { code?: number }).code === DUPLICATE_KEY) return 'no';
      throw error;
    }
  }

  /** True when the event is finished (done or skipped); false when it failed and was rescheduled or parked. */
  private async processOne(stored: StoredEvent): Promise<boolean> {
    const attempts = stored.attempts + 1;
    if (attempts > this.opts.maxAttempts) {
      // Crashes count too (see acquireQueueLease): an event that kills the process ends up parked.
      await this.recordFailure(stored, attempts - 1, new Error('the process died while handling this event'));
      return false;
    }
    let outcome: InboxOutcome;
    try {
      const item: InboxItem = {
        id: String(stored._id),
        pageId: stored.pageId,
        kind: stored.kind,
        dedupeKey: stored.dedupeKey,
        queueKey: stored.queueKey,
        eventTime: stored.eventTime,
        attempts,
        payload: JSON.parse(stored.payload) as Record<string, unknown>,
      };
      outcome = await this.opts.handle(item);
    } catch (error) {
      await this.recordFailure(stored, attempts, error);
      return false;
    }
    const now = this.opts.now();
    await inboxWrites.write({
      updateOne: {
        filter: { _id: stored._id as never },
        update: {
          $set: {
            state: outcome,
            attempts,
            doneAt: now,
            expiresAt: new Date(now.getTime() + (this.opts.retentionMs ?? 7 * 24 * 3600_000)),
          },
          $unset: { lastError: '' },
        },
      },
    });
    return true;
  }

  private async recordFailure(stored: StoredEvent, attempts: number, error: unknown): Promise<void> {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const parked = attempts >= this.opts.maxAttempts;
    const now = this.opts.now();
    this.log[parked ? 'error' : 'warn'](
      { err: error, dedupeKey: stored.dedupeKey, kind: stored.kind, attempts },
      parked ? 'inbox event parked after repeated failures' : 'inbox event failed; will retry',
    );
    await InboxEventModel.collection.updateOne(
      { _id: stored._id as never },
      {
        $set: {
          state: parked ? 'parked' : 'pending',
          attempts,
          lastError: message.slice(0, 2000),
          nextAttemptAt: new Date(now.getTime() + backoffDelay(attempts)),
        },
      },
    );
  }
}

import { randomUUID } from 'node:crypto';
import cron, { type ScheduledTask } from 'node-cron';
import type { Config } from '../config/index.js';
import { releaseLease, renewLease, tryAcquireLease } from '../db/leases.js';
import { JobRunModel, type JobRunReason } from '../db/models/job-run.js';
import type { Logger } from '../log.js';
import type { GraphClient } from '../messenger/graph/client.js';
import type { JobDefinition, JobSummary } from './types.js';

const DUPLICATE_KEY = 11000;
const DAY_MS = 86_400_000;

export interface JobRunnerOptions {
  readonly jobs: readonly JobDefinition[];
  readonly config: Config;
  readonly graph: GraphClient;
  readonly log: Logger;
  readonly now?: () => Date;
  /** TTL of a job's lease (default 10 min), renewed every third of it while the job runs. */
  readonly leaseMs?: number;
  /** Run, once at start, every job whose last success is older than its period (default true). */
  readonly catchUp?: boolean;
  /** Schedule the cron ticks (default true). Tests may drive ticks themselves with `tick()`. */
  readonly schedule?: boolean;
  /** Time zone the cron expressions are read in (default UTC). */
  readonly timezone?: string;
  /** Names this instance in leases and runs (default: pid + random). */
  readonly holder?: string;
}

export type RunReport =
  | {
      readonly status: 'ran';
      readonly jobId: string;
      readonly runId: string;
      readonly outcome: 'ok' | 'failed' | 'aborted';
      readonly summary?: JobSummary;
      readonly error?: string;
    }
  | {
      readonly status: 'skipped';
      readonly jobId: string;
      /** busy: another run holds the lease; already-run: this slot was run; not-due: no catch-up needed. */
      readonly reason: 'busy' | 'already-run' | 'not-due' | 'stopped';
    };

/** The longest gap between consecutive runs of a cron expression (looked at over its next runs). */
export function cronPeriodMs(expression: string, timezone = 'Etc/UTC'): number {
  const task = cron.createTask(expression, () => undefined, { timezone });
  try {
    const runs = task.getNextRuns(16);
    let period = 0;
    for (let i = 1; i < runs.length; i += 1) {
      period = Math.max(period, runs[i]!.getTime() - runs[i - 1]!.getTime());
    }
    return period || DAY_MS;
  } finally {
    void task.destroy();
  }
}

/**
 * Runs the registered jobs on their cron schedules in the worker role. A tick becomes a run only for
 * the instance that takes the job's lease (`job:<id>`) and records the tick's slot first in
 * `job_runs` (unique per job and slot): exactly one run per tick across any number of instances.
 * At start, a job whose last success is older than its period runs once (catch-up after downtime).
 */
export class JobRunner {
  readonly holder: string;
  private readonly jobs = new Map<string, JobDefinition>();
  private readonly periods = new Map<string, number>();
  private readonly tasks: ScheduledTask[] = [];
  private readonly running = new Map<string, { promise: Promise<RunReport>; abort: AbortController }>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly now: () => Date;
  private readonly leaseMs: number;
  private readonly timezone: string;
  private readonly log: Logger;
  private started = false;
  private stopping = false;

  constructor(private readonly opts: JobRunnerOptions) {
    this.now = opts.now ?? (() => new Date());
    this.leaseMs = opts.leaseMs ?? 10 * 60_000;
    this.timezone = opts.timezone ?? 'Etc/UTC';
    this.holder = opts.holder ?? `jobs-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.log = opts.log.child({ module: 'jobs' });
    for (const job of opts.jobs) {
      if (!/^[a-z0-9][a-z0-9-]*$/.test(job.id)) throw new Error(`job id "${job.id}" must be kebab-case`);
      if (this.jobs.has(job.id)) throw new Error(`job "${job.id}" is registered twice`);
      if (!cron.validate(job.schedule))
        throw new Error(`job "${job.id}": "${job.schedule}" is not a valid cron expression`);
      this.jobs.set(job.id, job);
      this.periods.set(job.id, cronPeriodMs(job.schedule, this.timezone));
    }
  }

  get jobIds(): string[] {
    return [...this.jobs.keys()];
  }

  /** Schedules every job and, in the background, runs the catch-ups that are due. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.opts.schedule ?? true) {
      for (const job of this.jobs.values()) {
        const task = cron.createTask(
          job.schedule,
          (ctx) => {
            this.track(this.tick(job.id, ctx.date));
          },
          { name: `job:${job.id}`, timezone: this.timezone, suppressMissedWarning: true },
        );
        this.tasks.push(task);
        void task.start();
      }
    }
    if (this.opts.catchUp ?? true) this.track(this.catchUp());
    this.log.info({ jobs: this.jobIds, holder: this.holder }, 'job runner started');
  }

  /** One cron tick of a job: runs it unless another instance holds it or already ran this slot. */
  tick(jobId: string, slot: Date): Promise<RunReport> {
    const at = new Date(Math.floor(slot.getTime() / 1000) * 1000);
    return this.execute(this.job(jobId), 'scheduled', `tick:${at.toISOString()}`);
  }

  /** Runs a job now (admin, tests), unless it is running somewhere already. */
  runNow(jobId: string): Promise<RunReport> {
    return this.execute(this.job(jobId), 'manual', `manual:${randomUUID()}`);
  }

  /** Runs, once, every job whose last success is older than its period (or that never succeeded). */
  async catchUp(): Promise<RunReport[]> {
    const reports: RunReport[] = [];
    for (const job of this.jobs.values()) {
      if (this.stopping) break;
      if (!(await this.isCatchUpDue(job.id, this.now()))) continue;
      reports.push(await this.execute(job, 'catch-up', `catch-up:${this.now().toISOString()}`));
    }
    return reports;
  }

  /** The start of the last successful run of a job, if any. */
  async lastSuccess(jobId: string): Promise<Date | undefined> {
    const last = await JobRunModel.collection.findOne(
      { jobId, outcome: 'ok' },
      { sort: { startedAt: -1 }, projection: { startedAt: 1 } },
    );
    return (last?.startedAt as Date | undefined) ?? undefined;
  }

  /** Resolves when no run started by this runner is in progress. */
  async idle(): Promise<void> {
    while (this.background.size > 0 || this.running.size > 0) {
      await Promise.allSettled([...this.background, ...[...this.running.values()].map((r) => r.promise)]);
    }
  }

  /** Stops the ticks, asks running jobs to stop (their signal), waits for them and releases the leases. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const task of this.tasks) {
      await task.stop();
      await task.destroy();
    }
    this.tasks.length = 0;
    for (const run of this.running.values()) run.abort.abort(new Error('the job runner is stopping'));
    await this.idle();
  }

  private job(jobId: string): JobDefinition {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`no job "${jobId}" (known: ${this.jobIds.join(', ')})`);
    return job;
  }

  private track(work: Promise<unknown>): void {
    const guarded = work.catch((error: unknown) => this.log.error({ err: error }, 'job runner failed'));
    this.background.add(guarded);
    void guarded.finally(() => this.background.delete(guarded));
  }

  private async isCatchUpDue(jobId: string, now: Date): Promise<boolean> {
    const last = await this.lastSuccess(jobId);
    return !last || now.getTime() - last.getTime() > this.periods.get(jobId)!;
  }

  private execute(job: JobDefinition, reason: JobRunReason, slot: string): Promise<RunReport> {
    if (this.stopping) return Promise.resolve({ status: 'skipped', jobId: job.id, reason: 'stopped' });
    if (this.running.has(job.id))
      return Promise.resolve({ status: 'skipped', jobId: job.id, reason: 'busy' });
    const abort = new AbortController();
    const promise = this.leaseAndRun(job, reason, slot, abort).finally(() => this.running.delete(job.id));
    this.running.set(job.id, { promise, abort });
    return promise;
  }

  private async leaseAndRun(
    job: JobDefinition,
    reason: JobRunReason,
    slot: string,
    abort: AbortController,
  ): Promise<RunReport> {
    const lease = `job:${job.id}`;
    if (!(await tryAcquireLease(lease, this.holder, this.leaseMs, this.now()))) {
      return { status: 'skipped', jobId: job.id, reason: 'busy' };
    }
    let renewal: NodeJS.Timeout | undefined;
    try {
      // Decided under the lease, so two instances starting together cannot both catch up.
      if (reason === 'catch-up' && !(await this.isCatchUpDue(job.id, this.now()))) {
        return { status: 'skipped', jobId: job.id, reason: 'not-due' };
      }
      const startedAt = this.now();
      // Whoever held the lease before us is gone (or lost it): its unfinished runs never will finish.
      await JobRunModel.collection.updateMany(
        { jobId: job.id, outcome: 'running', holder: { $ne: this.holder } },
        {
          $set: {
            outcome: 'abandoned',
            finishedAt: startedAt,
            error: 'the instance running it stopped or lost its lease',
          },
        },
      );
      const runId = await this.recordStart(job, reason, slot, startedAt);
      if (!runId) return { status: 'skipped', jobId: job.id, reason: 'already-run' };

      renewal = setInterval(
        () => {
          renewLease(lease, this.holder, this.leaseMs, this.now())
            .then((held) => {
              if (!held && !abort.signal.aborted) {
                this.log.error({ job: job.id }, 'job lease lost while running; asking the job to stop');
                abort.abort(new Error('the job lease was lost'));
              }
            })
            .catch((error: unknown) =>
              this.log.warn({ err: error, job: job.id }, 'job lease renewal failed'),
            );
        },
        Math.max(50, Math.floor(this.leaseMs / 3)),
      );
      renewal.unref();

      const log = this.log.child({ job: job.id, run: runId });
      let outcome: 'ok' | 'failed' | 'aborted' = 'ok';
      let summary: JobSummary | undefined;
      let error: string | undefined;
      try {
        const result = await job.run({
          now: startedAt,
          log,
          config: this.opts.config,
          graph: this.opts.graph,
          page: this.opts.config.facebook.page,
          signal: abort.signal,
        });
        summary = result.summary;
      } catch (err) {
        outcome = abort.signal.aborted ? 'aborted' : 'failed';
        error = (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).slice(0, 2000);
        log.error({ err, reason }, `job ${outcome}`);
      }
      const finishedAt = this.now();
      await JobRunModel.collection.updateOne(
        { _id: runId as never },
        {
          $set: {
            outcome,
            finishedAt,
            ...(summary ? { summary } : {}),
            ...(error ? { error } : {}),
          },
        },
      );
      if (outcome === 'ok')
        log.info({ reason, ms: finishedAt.getTime() - startedAt.getTime(), summary }, 'job done');
      return {
        status: 'ran',
        jobId: job.id,
        runId: String(runId),
        outcome,
        ...(summary ? { summary } : {}),
        ...(error ? { error } : {}),
      };
    } finally {
      if (renewal) clearInterval(renewal);
      await releaseLease(lease, this.holder).catch(() => undefined);
    }
  }

  /** Inserts the run; undefined when this slot was already run (by any instance). */
  private async recordStart(
    job: JobDefinition,
    reason: JobRunReason,
    slot: string,
    startedAt: Date,
  ): Promise<unknown> {
    // Kept long enough that the last success of even a rarely-run job is still known.
    const keepMs = Math.max(30 * DAY_MS, 3 * this.periods.get(job.id)!);
    try {
      const res = await JobRunModel.collection.insertOne({
        jobId: job.id,
        slot,
        reason,
        holder: this.holder,
        startedAt,
        outcome: 'running',
        expiresAt: new Date(startedAt.getTime() + keepMs),
      } as never);
      return res.insertedId;
    } catch (error) {
      if ((error as { code?: number }).code === DUPLICATE_KEY) return undefined;
      throw error;
    }
  }
}
